"""Adaptive versus fixed rate against a throttling server.

The sandbox enforces ``--server-rps`` (token bucket, burst 2) while the client is configured
for ``--client-rps``: the situation of a config written for a bigger plan, or a shared
organisation limit. The same sheet is synced twice, once with the adaptive limiter (a 429 cuts
the rate, 429-free seconds win it back) and once at a fixed rate, and the share of 429s, the
lowest rate the limiter went down to, the achieved rate and the duration of each are printed.
Every row must end ``updated`` in both runs.

    python bench/bench_throttle.py [--rows 80] [--server-rps 10] [--client-rps 40]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import xlsxwriter

from segsync.config import Settings
from segsync.engine import pipeline
from segsync.sandbox import RateLimitOptions, SandboxOptions, run_sandbox


def run_once(rows: int, server_rps: float, client_rps: float, adaptive: bool) -> dict:
    with (
        tempfile.TemporaryDirectory() as tmp,
        run_sandbox(
            SandboxOptions(seed_rows=max(rows, 200), rate_limit=RateLimitOptions(server_rps, 2))
        ) as sb,
    ):
        folder = Path(tmp)
        sheet = folder / "edits.xlsx"
        book = xlsxwriter.Workbook(str(sheet))
        ws = book.add_worksheet("Edits")
        ws.write_row(0, 0, ["id", "name"])
        for r, seg in enumerate(sb.segments()[:rows], start=1):
            ws.write_number(r, 0, seg["id"])
            ws.write_string(r, 1, f"{seg['name']} (renamed)")
        book.close()
        (folder / "token").write_text(sb.token or "")
        settings = Settings().with_overrides(
            {
                "api.base_url": sb.base_url,
                "api.token_file": str(folder / "token"),
                "rate_limit.requests_per_second": client_rps,
                "rate_limit.adaptive": adaptive,
                "rate_limit.max_concurrency": 4,
                "retries.max_attempts": 10,
                "retries.max_total_s": 120,
                "journal.dir": str(folder / "runs"),
                "output.dir": str(folder),
            }
        )
        started = time.monotonic()
        result = pipeline.sync(sheet, settings)
        elapsed = time.monotonic() - started
        snap = sb.counters.snapshot()
    throttled = snap.count(status=429)
    return {
        "mode": "adaptive" if adaptive else "fixed",
        "updated": result.counts().get("updated", 0),
        "requests": snap.total,
        "429s": throttled,
        "share": throttled / snap.total,
        "lowest": result.lowest_rate,
        "rate": result.achieved_rate,
        "seconds": elapsed,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=80)
    parser.add_argument("--server-rps", type=float, default=10)
    parser.add_argument("--client-rps", type=float, default=40)
    args = parser.parse_args()
    print(
        f"{args.rows} changed rows; server allows {args.server_rps:g}/s, "
        f"client configured for {args.client_rps:g}/s"
    )
    print(
        f"{'mode':9} {'updated':>7} {'requests':>8} {'429s':>5} {'share':>6} {'lowest':>6} "
        f"{'req/s':>6} {'s':>6}"
    )
    for adaptive in (True, False):
        r = run_once(args.rows, args.server_rps, args.client_rps, adaptive)
        lowest = f"{r['lowest']:>6.1f}" if r["lowest"] is not None else f"{'-':>6}"
        print(
            f"{r['mode']:9} {r['updated']:>7} {r['requests']:>8} {r['429s']:>5} "
            f"{r['share']:>6.1%} {lowest} {r['rate']:>6.1f} {r['seconds']:>6.1f}",
            flush=True,
        )


if __name__ == "__main__":
    main()
