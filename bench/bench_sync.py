"""End-to-end sync against a sandbox that enforces its rate: requests, 429s, rate, wall ÷ bound.

The sandbox holds ``--rows`` segments and throttles with a token bucket (``--server-burst``,
default 5) at each rate R of ``--rates``; the client is configured for the same R with burst 1
and ``--concurrency`` 8. A sheet of every segment, ``--changes`` of them renamed, is synced
through the library API (``segsync.pipeline.sync``). Per run the table shows the requests sent
against the minimum (``⌈N/Take⌉`` list pages + one PUT per change), the 429s, the achieved
request rate, and the network phase and the wall time of the whole sync, each ÷ the lower bound
``(⌈N/Take⌉ + k) / R``. Every changed row must end ``updated`` and every other ``unchanged``.

By default the sandbox runs as a separate process (``python -m segsync sandbox``), as a real
server would; ``--server thread`` embeds it in this process (it then shares the GIL with the
client, which distorts high rates).

    python bench/bench_sync.py [--rates 20,100] [--runs 3] [--rows 5000] [--changes 1000]
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

from segsync import pipeline
from segsync.config import Settings
from segsync.sandbox import RateLimitOptions, SandboxOptions, run_sandbox
from segsync.sandbox.seeding import CSV_COLUMNS


@dataclass(frozen=True)
class RunRow:
    rate: float
    run: int
    requests: int
    minimum: int
    throttled: int
    achieved: float
    network_s: float
    wall_s: float
    bound_s: float
    lowest_rate: float | None
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
def sandbox_process(seed: Path, rate: float, burst: int) -> Iterator[tuple[str, str]]:
    """``segsync sandbox`` in a child process; yields (base URL, token)."""
    command = [
        sys.executable, "-m", "segsync", "sandbox", "--port", "0", "--seed-csv", str(seed),
        "--rps", str(rate), "--burst", str(burst), "--no-access-log",
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
def sandbox_thread(seed: Path, rate: float, burst: int) -> Iterator[tuple[str, str]]:
    options = SandboxOptions(seed_csv=seed, rate_limit=RateLimitOptions(rps=rate, burst=burst))
    with run_sandbox(options) as sb:
        yield sb.base_url, sb.token or ""


def run_once(args: argparse.Namespace, rate: float, run: int) -> RunRow:
    server = sandbox_process if args.server == "process" else sandbox_thread
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        seed, sheet = write_inputs(folder, args.rows, args.changes)
        with server(seed, rate, args.server_burst) as (url, token):
            (folder / "token").write_text(token, encoding="utf-8")
            settings = Settings().with_overrides(
                {
                    "api.base_url": url,
                    "api.token_file": str(folder / "token"),
                    "rate_limit.requests_per_second": rate,
                    "rate_limit.burst": 1,
                    "rate_limit.max_concurrency": args.concurrency,
                    "journal.dir": str(folder / "runs"),
                    "output.dir": str(folder),
                }
            )
            take = settings.api.list_page_size
            started = time.perf_counter()
            result = pipeline.sync(sheet, settings)
            wall = time.perf_counter() - started
    minimum = math.ceil(args.rows / take) + args.changes
    counts = result.counts()
    expected = {"updated": args.changes, "unchanged": args.rows - args.changes}
    problems = "" if counts == {k: v for k, v in expected.items() if v} else json.dumps(counts)
    return RunRow(
        rate=rate,
        run=run,
        requests=result.total_requests,
        minimum=minimum,
        throttled=result.throttled,
        achieved=result.achieved_rate,
        network_s=result.network_seconds,
        wall_s=wall,
        bound_s=minimum / rate,
        lowest_rate=result.lowest_rate,
        problems=problems,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rates", default="20,100", help="comma-separated requests/s")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--rows", type=int, default=5000, help="segments on the server and sheet")
    parser.add_argument("--changes", type=int, default=1000, help="rows that differ")
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--server-burst", type=int, default=5)
    parser.add_argument("--server", choices=("process", "thread"), default="process")
    parser.add_argument("--json", action="store_true", help="one JSON object per run instead")
    args = parser.parse_args()
    if not 0 <= args.changes <= args.rows:
        parser.error("--changes must be between 0 and --rows")
    rates = [float(r) for r in args.rates.split(",") if r.strip()]
    if not args.json:
        print(
            f"{args.rows} rows, {args.changes} changes; server token bucket burst "
            f"{args.server_burst} ({args.server}); client burst 1, concurrency {args.concurrency}"
        )
        print(
            f"{'req/s':>5} {'run':>3} {'requests':>8} {'min':>5} {'429s':>4} {'lowest':>6} "
            f"{'achieved':>8} {'net s':>6} {'wall s':>6} {'bound s':>7} {'net/bound':>9} "
            f"{'wall/bound':>10}"
        )
    warm_up = argparse.Namespace(**vars(args) | {"rows": 20, "changes": 5})
    run_once(warm_up, 1000.0, 0)  # one-off imports and caches are not the first run's cost
    rows: list[RunRow] = []
    for rate in rates:
        for run in range(1, args.runs + 1):
            r = run_once(args, rate, run)
            rows.append(r)
            if args.json:
                extra = {"ratio": r.ratio, "network_ratio": r.network_ratio}
                print(json.dumps(asdict(r) | extra), flush=True)
                continue
            lowest = f"{r.lowest_rate:6.1f}" if r.lowest_rate is not None else f"{'-':>6}"
            print(
                f"{r.rate:>5g} {r.run:>3} {r.requests:>8} {r.minimum:>5} {r.throttled:>4} "
                f"{lowest} {r.achieved:>8.1f} {r.network_s:>6.1f} {r.wall_s:>6.1f} "
                f"{r.bound_s:>7.1f} {r.network_ratio:>9.3f} {r.ratio:>10.3f}"
                + (f"  ! {r.problems}" if r.problems else ""),
                flush=True,
            )
    if not args.json:
        for rate in rates:
            runs = [r for r in rows if r.rate == rate]
            print(
                f"{rate:g}/s: {sum(r.throttled for r in runs)} x 429 in {len(runs)} run(s), "
                f"{sum(r.requests > r.minimum for r in runs)} run(s) above the minimum, "
                f"net/bound at most {max(r.network_ratio for r in runs):.3f}, "
                f"wall/bound at most {max(r.ratio for r in runs):.3f}"
            )
    if any(r.problems for r in rows):
        sys.exit(1)


if __name__ == "__main__":
    main()
