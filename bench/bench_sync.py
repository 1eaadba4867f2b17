"""End-to-end sync against a sandbox that enforces its rate: requests, 429s, rate, wall ÷ bound.

The sandbox holds ``--rows`` segments and throttles with a token bucket at each rate R of
``--rates`` and each burst of ``--server-burst`` (default ``1,5``); the client is configured for
the same R with burst ``--client-burst`` (1), ``--headroom`` (the configured default unless
given) and ``--concurrency`` 8. ``--late-every N --late-ms MS`` makes the server busy now and
then: every Nth request reaches its throttle MS late (a repeatable stand-in for the stalls a
real server has). A sheet of every segment, ``--changes`` of them renamed, is synced through
the library API (``segsync.engine.pipeline.sync``); rates below ``--short-below`` (5/s) use a
short run (``--short-rows`` rows, ``--short-changes`` changes). Per run the table shows
the requests sent against the minimum (``⌈N/Take⌉`` list pages + one PUT per change), the 429s,
the smallest gap between two sends and the most sends in any ``burst / R`` window (both as the
client's limiter recorded them, at the moment of the write: more than ``burst`` in a window is
a broken promise), the achieved request rate, and the network phase and the wall time of the
whole sync, each ÷ the lower bound ``(⌈N/Take⌉ + k) / R``. Every changed row must end
``updated`` and every other ``unchanged``.

By default the sandbox runs as a separate process (``python -m segsync sandbox``), as a real
server would; ``--server thread`` embeds it in this process (it then shares the GIL with the
client, which distorts high rates).

    python bench/bench_sync.py [--rates 1,20,100] [--server-burst 1,5] [--runs 3]
                               [--rows 5000] [--changes 1000] [--headroom 0.02]
                               [--late-every 50 --late-ms 5]
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import json
import math
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

import xlsxwriter

from segsync.api.session import normalise_base_url
from segsync.api.shared_limiter import known_limiter
from segsync.config import Settings
from segsync.engine import pipeline
from segsync.sandbox import RateLimitOptions, SandboxOptions, run_sandbox
from segsync.sandbox.seeding import CSV_COLUMNS


@dataclass(frozen=True)
class RunRow:
    rate: float
    server_burst: int
    run: int
    requests: int
    minimum: int
    throttled: int
    achieved: float
    network_s: float
    wall_s: float
    bound_s: float
    lowest_rate: float | None
    min_gap_s: float | None
    max_in_window: int
    problems: str

    @property
    def ratio(self) -> float:
        return self.wall_s / self.bound_s

    @property
    def network_ratio(self) -> float:
        return self.network_s / self.bound_s


def write_inputs(folder: Path, rows: int, changes: int) -> tuple[Path, Path]:
    """A seed CSV for the server and the edit sheet: every segment, ``changes`` renamed."""
    seed = folder / "seed.csv"
    names = [f"Segment {i:05d}" for i in range(rows)]
    with open(seed, "w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(CSV_COLUMNS)
        for i, name in enumerate(names):
            campaign = 5001 + i % 20
            writer.writerow(
                [100001 + i, campaign, f"Campaign {campaign}", name, f"C{i:05d}", "", ""]
            )
    step = rows / changes if changes else 0
    changed = {int(j * step) for j in range(changes)}
    sheet = folder / "edits.xlsx"
    book = xlsxwriter.Workbook(str(sheet))
    ws = book.add_worksheet("Edits")
    ws.write_row(0, 0, ["id", "name"])
    for i, name in enumerate(names):
        ws.write_number(i + 1, 0, 100001 + i)
        ws.write_string(i + 1, 1, f"{name} (renamed)" if i in changed else name)
    book.close()
    return seed, sheet


@contextlib.contextmanager
def sandbox_process(
    seed: Path, rate: float, burst: int, late: tuple[int, float] = (0, 0.0)
) -> Iterator[tuple[str, str]]:
    """``segsync sandbox`` in a child process; yields (base URL, token)."""
    command = [
        sys.executable, "-m", "segsync", "sandbox", "--port", "0", "--seed-csv", str(seed),
        "--rps", str(rate), "--burst", str(burst), "--no-access-log",
        "--late-every", str(late[0]), "--late-ms", str(late[1]),
    ]  # fmt: skip
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        url = proc.stdout.readline().strip().rsplit(" ", 1)[-1]
        token = proc.stdout.readline().strip().removeprefix("Token: ")
        if not url.startswith("http"):
            raise RuntimeError(f"the sandbox did not start (exit {proc.wait()})")
        yield url, token
    finally:
        proc.terminate()
        proc.wait(10)


@contextlib.contextmanager
def sandbox_thread(
    seed: Path, rate: float, burst: int, late: tuple[int, float] = (0, 0.0)
) -> Iterator[tuple[str, str]]:
    limit = RateLimitOptions(rate, burst, late_every=late[0], late_ms=late[1])
    options = SandboxOptions(seed_csv=seed, rate_limit=limit)
    with run_sandbox(options) as sb:
        yield sb.base_url, sb.token or ""


def run_once(args: argparse.Namespace, rate: float, server_burst: int, run: int) -> RunRow:
    server = sandbox_process if args.server == "process" else sandbox_thread
    rows, changes = args.rows, args.changes
    if rate < args.short_below:
        rows, changes = min(rows, args.short_rows), min(changes, args.short_changes)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        seed, sheet = write_inputs(folder, rows, changes)
        with server(seed, rate, server_burst, (args.late_every, args.late_ms)) as (url, token):
            (folder / "token").write_text(token, encoding="utf-8")
            overrides: dict[str, object] = {
                "api.base_url": url,
                "api.token_file": str(folder / "token"),
                "rate_limit.requests_per_second": rate,
                "rate_limit.burst": args.client_burst,
                "rate_limit.max_concurrency": args.concurrency,
                "journal.dir": str(folder / "runs"),
                "output.dir": str(folder),
            }
            if args.headroom is not None:
                overrides["rate_limit.headroom"] = args.headroom
            settings = Settings().with_overrides(overrides)
            take = settings.api.list_page_size
            started = time.perf_counter()
            result = pipeline.sync(sheet, settings)
            wall = time.perf_counter() - started
            limiter = known_limiter(normalise_base_url(url))
    stats = limiter.stats if limiter is not None else None
    minimum = math.ceil(rows / take) + changes
    counts = result.counts()
    expected = {"updated": changes, "unchanged": rows - changes}
    problems = "" if counts == {k: v for k, v in expected.items() if v} else json.dumps(counts)
    return RunRow(
        rate=rate,
        server_burst=server_burst,
        run=run,
        requests=result.total_requests,
        minimum=minimum,
        throttled=result.throttled,
        achieved=result.achieved_rate,
        network_s=result.network_seconds,
        wall_s=wall,
        bound_s=minimum / rate,
        lowest_rate=result.lowest_rate,
        min_gap_s=stats.min_gap_s if stats else None,
        max_in_window=stats.max_in_window if stats else 0,
        problems=problems,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rates", default="1,20,100", help="comma-separated requests/s")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--rows", type=int, default=5000, help="segments on the server and sheet")
    parser.add_argument("--changes", type=int, default=1000, help="rows that differ")
    parser.add_argument("--short-below", type=float, default=5, help="rates with a short run")
    parser.add_argument("--short-rows", type=int, default=500)
    parser.add_argument("--short-changes", type=int, default=10)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--server-burst", default="1,5", help="comma-separated server bursts")
    parser.add_argument("--client-burst", type=int, default=1)
    parser.add_argument("--headroom", type=float, default=None, help="rate_limit.headroom")
    parser.add_argument("--server", choices=("process", "thread"), default="process")
    parser.add_argument(
        "--late-every", type=int, default=0, help="the server sees every Nth request late"
    )
    parser.add_argument("--late-ms", type=float, default=0.0, help="by this many ms")
    parser.add_argument("--json", action="store_true", help="one JSON object per run instead")
    args = parser.parse_args()
    if not 0 <= args.changes <= args.rows:
        parser.error("--changes must be between 0 and --rows")
    rates = [float(r) for r in args.rates.split(",") if r.strip()]
    bursts = [int(b) for b in args.server_burst.split(",") if b.strip()]
    if not args.json:
        headroom = "default" if args.headroom is None else f"{args.headroom:g}"
        print(
            f"{args.rows} rows, {args.changes} changes (below {args.short_below:g}/s: "
            f"{args.short_rows} rows, {args.short_changes} changes); server token bucket "
            f"({args.server}); client burst {args.client_burst}, concurrency "
            f"{args.concurrency}, headroom {headroom}"
            + (
                f"; the server sees every {args.late_every}th request {args.late_ms:g} ms late"
                if args.late_every
                else ""
            )
        )
        print(
            f"{'req/s':>5} {'sb':>2} {'run':>3} {'requests':>8} {'min':>5} {'429s':>4} "
            f"{'gap ms':>6} {'win':>3} {'lowest':>6} {'achieved':>8} {'net s':>6} "
            f"{'wall s':>6} {'bound s':>7} {'net/bound':>9} {'wall/bound':>10}"
        )
    warm_up = argparse.Namespace(**vars(args) | {"rows": 20, "changes": 5})
    run_once(warm_up, 1000.0, 5, 0)  # one-off imports and caches are not the first run's cost
    rows: list[RunRow] = []
    for burst in bursts:
        for rate in rates:
            for run in range(1, args.runs + 1):
                r = run_once(args, rate, burst, run)
                rows.append(r)
                if args.json:
                    extra = {"ratio": r.ratio, "network_ratio": r.network_ratio}
                    print(json.dumps(asdict(r) | extra), flush=True)
                    continue
                lowest = f"{r.lowest_rate:6.1f}" if r.lowest_rate is not None else f"{'-':>6}"
                gap = f"{r.min_gap_s * 1000:6.1f}" if r.min_gap_s is not None else f"{'-':>6}"
                print(
                    f"{r.rate:>5g} {r.server_burst:>2} {r.run:>3} {r.requests:>8} "
                    f"{r.minimum:>5} {r.throttled:>4} {gap} {r.max_in_window:>3} {lowest} "
                    f"{r.achieved:>8.1f} {r.network_s:>6.1f} {r.wall_s:>6.1f} {r.bound_s:>7.1f} "
                    f"{r.network_ratio:>9.3f} {r.ratio:>10.3f}"
                    + (f"  ! {r.problems}" if r.problems else ""),
                    flush=True,
                )
    if not args.json:
        for burst in bursts:
            for rate in rates:
                runs = [r for r in rows if r.rate == rate and r.server_burst == burst]
                gaps = [r.min_gap_s for r in runs if r.min_gap_s is not None]
                print(
                    f"{rate:g}/s, server burst {burst}: {sum(r.throttled for r in runs)} x 429 "
                    f"in {len(runs)} run(s), smallest send gap "
                    f"{min(gaps) * 1000 if gaps else float('nan'):.1f} ms "
                    f"(interval {1000 / rate:.1f} ms), at most "
                    f"{max(r.max_in_window for r in runs)} send(s) per {args.client_burst}/R "
                    f"window, wall/bound at most {max(r.ratio for r in runs):.3f}"
                )
    if any(r.problems for r in rows):
        sys.exit(1)


if __name__ == "__main__":
    main()
