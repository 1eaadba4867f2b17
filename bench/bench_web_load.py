"""Is ``segsync web`` still a page while it previews a huge sheet, and how much memory does it take?

Why: the review found a 100,000-row preview rendered on the event loop (``GET /`` stalled 15.5 s)
and a 700,000-row workbook taking the server to 2.65 GB. The page now builds a preview's view in
the preview's own thread, lists at most 500 problems, changes and unchanged rows, and drops the
rows of a finished job. This bench checks both, against baselines measured in the same run:

1. **Latency**: ``segsync web`` in its own process, against ``segsync sandbox`` in another
   (seeded with the sheet's segments, pages of 10,000). One client signs in with the printed
   URL and uploads an edits workbook of ``--rows`` rows (30 % renamed), waits for the preview,
   opens the preview page and downloads its workbook; meanwhile a second client, signed in
   separately, polls ``GET /`` every 50 ms. Reported: the poll's worst and median latency
   under load, and the same for 2 s of polling with the server idle (the baseline), and their
   ratio. Target: worst under load <= 1 s.
2. **Memory**: the server's peak RSS (``VmHWM``) after that preview, and (with the RSS still
   held once the preview is shown) for a sheet of Excel's
   maximum size (``--max-rows``, default 1,048,576 rows: a header and 1,048,575 segments), each
   in a fresh server; baselines: the idle server's peak, and ``segsync validate`` (the loader
   alone) and ``segsync plan`` (the same work from the command line) of the same sheet, each in
   its own process, so the ratios say what the page adds.

Run (Linux: it reads ``/proc/<pid>/status``)::

    python bench/bench_web_load.py                   # 100,000 rows, then 1,048,576
    python bench/bench_web_load.py --rows 20000 --max-rows 0   # quick: no maximum-size sheet
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import json
import re
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import xlsxwriter

from segsync.sandbox.seeding import CSV_COLUMNS

TOKEN = "bench-web-load-token"
CHANGED = 0.3


def write_inputs(folder: Path, rows: int) -> tuple[Path, Path]:
    """The sandbox seed CSV and the edits workbook (``rows`` data rows, 30 % renamed)."""
    seed = folder / f"seed-{rows}.csv"
    with seed.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(CSV_COLUMNS)
        for i in range(rows):
            campaign = 5001 + i % 20
            name = f"Seg {i}"
            writer.writerow([100001 + i, campaign, f"Campaign {campaign}", name, f"C{i}", "", ""])
    sheet = folder / f"edits-{rows}.xlsx"
    book = xlsxwriter.Workbook(str(sheet), {"constant_memory": True})
    ws = book.add_worksheet("Edits")
    ws.write_row(0, 0, ["id", "name"])
    every = round(1 / CHANGED)
    for i in range(rows):
        ws.write_number(i + 1, 0, 100001 + i)
        ws.write_string(i + 1, 1, f"Seg {i} (renamed)" if i % every == 0 else f"Seg {i}")
    book.close()
    return seed, sheet


def peak_rss_mb(pid: int, what: str = "VmHWM") -> float:
    """The process's peak RSS (``VmHWM``), or its RSS now (``VmRSS``), in MB."""
    text = Path(f"/proc/{pid}/status").read_text(encoding="ascii")
    found = re.search(rf"^{what}:\s+(\d+) kB", text, re.MULTILINE)
    return int(found.group(1)) / 1024 if found else float("nan")


@contextlib.contextmanager
def process(command: list[str], cwd: Path) -> Iterator[tuple[subprocess.Popen[str], str]]:
    """A server in a child process; yields it and its first stdout line."""
    proc = subprocess.Popen(command, cwd=cwd, stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        yield proc, proc.stdout.readline().strip()
    finally:
        proc.terminate()
        proc.wait(60)


@contextlib.contextmanager
def servers(folder: Path, rows: int, seed: Path) -> Iterator[tuple[subprocess.Popen[str], str]]:
    """``segsync sandbox`` seeded with ``rows`` segments and ``segsync web`` in front of it;
    yields the web server's process and the URL it printed (token included)."""
    sandbox = [
        sys.executable, "-m", "segsync", "sandbox", "--port", "0", "--seed-csv", str(seed),
        "--token", TOKEN, "--max-take", "10000", "--no-access-log",
    ]  # fmt: skip
    with process(sandbox, folder) as (_sb, line):
        base = line.rsplit(" ", 1)[-1]
        if not base.startswith("http"):
            raise RuntimeError(f"the sandbox did not start: {line!r}")
        (folder / "token").write_text(TOKEN, encoding="utf-8")
        config = folder / "config.yaml"
        api = {"base_url": base, "token_file": str(folder / "token"), "list_page_size": 10000}
        settings = {
            "api": {**api, "timeout_s": 300},
            "rate_limit": {"requests_per_second": 1000, "burst": 10},
            "input": {"max_rows": 1_100_000, "max_file_mb": 500},
            "journal": {"dir": str(folder / "runs")},
            "output": {"dir": str(folder / "out")},
        }
        config.write_text(json.dumps(settings), encoding="utf-8")
        web = [sys.executable, "-m", "segsync", "web", "--port", "0", "--config", str(config)]
        with process(web, folder) as (server, line):
            found = re.search(r"open (\S+)", line)
            if not found:
                raise RuntimeError(f"segsync web did not start: {line!r}")
            yield server, found.group(1)


@contextlib.contextmanager
def signed_in(url: str) -> Iterator[httpx.Client]:
    """A client that opened the printed URL (its token became the session cookie)."""
    base = url.split("?", 1)[0].rstrip("/")
    with httpx.Client(base_url=base, trust_env=False, timeout=600) as client:
        assert client.get(url.removeprefix(base)).status_code == 303
        yield client


@dataclass
class Poller:
    """Polls ``GET /`` every 50 ms in a thread; keeps each latency."""

    client: httpx.Client
    latencies: list[float] = field(default_factory=list)
    stop: threading.Event = field(default_factory=threading.Event)

    def run(self) -> None:
        while not self.stop.is_set():
            started = time.perf_counter()
            response = self.client.get("/")
            self.latencies.append(time.perf_counter() - started)
            assert response.status_code == 200, response.status_code
            self.stop.wait(0.05)

    @contextlib.contextmanager
    def polling(self) -> Iterator[None]:
        thread = threading.Thread(target=self.run, daemon=True)
        thread.start()
        try:
            yield
        finally:
            self.stop.set()
            thread.join()


def preview(client: httpx.Client, sheet: Path) -> dict[str, object]:
    """Upload, wait for the preview, open its page, download its workbook."""
    home = client.get("/").text
    token = re.search(r'name="csrf_token" value="([^"]*)"', home).group(1)  # type: ignore[union-attr]
    started = time.perf_counter()
    with sheet.open("rb") as handle:
        upload = client.post(
            "/upload", data={"csrf_token": token}, files={"edits": (sheet.name, handle)}
        )
    assert upload.status_code == 303, upload.text[:500]
    where = upload.headers["location"]
    while (state := client.get(f"{where}/status").json()["state"]) == "running":
        time.sleep(0.2)  # the poll's interval, not a synchronisation
    ready = time.perf_counter() - started
    page = client.get(where)
    assert page.status_code == 200 and state == "finished", (state, page.text[:300])
    workbook = client.get(f"{where}/workbook")
    capped = re.search(r"Showing the first [\d,]+ of [\d,]+ changes", page.text)
    return {
        "preview_s": round(ready, 1),
        "page_kb": round(len(page.content) / 1024),
        "workbook_mb": round(len(workbook.content) / 1024 / 1024, 1),
        "capped": capped.group(0) if capped else None,
    }


def latency_run(folder: Path, rows: int) -> dict[str, object]:
    seed, sheet = write_inputs(folder, rows)
    with servers(folder, rows, seed) as (server, url):
        idle_rss = peak_rss_mb(server.pid)
        with signed_in(url) as watcher, signed_in(url) as uploader:
            idle = Poller(watcher)
            with idle.polling():
                time.sleep(2)  # the baseline: two seconds of polling an idle page
            loaded = Poller(watcher)
            with loaded.polling():
                facts = preview(uploader, sheet)
        peak = peak_rss_mb(server.pid)
    worst_idle, worst = max(idle.latencies), max(loaded.latencies)
    return {
        "rows": rows,
        **facts,
        "polls": len(loaded.latencies),
        "worst_ms": round(worst * 1000),
        "median_ms": round(statistics.median(loaded.latencies) * 1000, 1),
        "idle_worst_ms": round(worst_idle * 1000),
        "idle_median_ms": round(statistics.median(idle.latencies) * 1000, 1),
        "worst_ratio": round(worst / worst_idle, 1),
        "idle_rss_mb": round(idle_rss),
        "peak_rss_mb": round(peak),
    }


def cli_rss(folder: Path, *args: str) -> float:
    """Peak RSS of ``segsync ARGS --config config.yaml`` in its own process."""
    code = (
        "import resource, subprocess, sys;"
        "subprocess.run([sys.executable, '-m', 'segsync', *sys.argv[1:]],"
        " stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL);"
        "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code, *args, "--config", str(folder / "config.yaml")],
        capture_output=True,
        text=True,
        check=True,
    )
    return int(out.stdout.strip()) / 1024


def memory_run(folder: Path, rows: int) -> dict[str, object]:
    seed, sheet = write_inputs(folder, rows)
    with servers(folder, rows, seed) as (server, url):
        idle_rss = peak_rss_mb(server.pid)
        with signed_in(url) as client:
            facts = preview(client, sheet)
        peak = peak_rss_mb(server.pid)
        after = peak_rss_mb(server.pid, "VmRSS")
        loader = cli_rss(folder, "validate", str(sheet))
        plan = cli_rss(folder, "plan", str(sheet), "--out", str(folder / "cli-plan.json"))
    return {
        "rows": rows,
        **facts,
        "idle_rss_mb": round(idle_rss),
        "peak_rss_mb": round(peak),
        "rss_after_mb": round(after),
        "validate_rss_mb": round(loader),
        "cli_plan_rss_mb": round(plan),
        "peak_over_validate": round(peak / loader, 2),
        "peak_over_cli_plan": round(peak / plan, 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--max-rows", type=int, default=1_048_575, help="0: skip")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    report: dict[str, object] = {}
    with tempfile.TemporaryDirectory(prefix="segsync-bench-web-") as tmp:
        folder = Path(tmp) / "latency"
        folder.mkdir()
        report["latency"] = latency_run(folder, args.rows)
        if args.max_rows:
            folder = Path(tmp) / "memory"
            folder.mkdir()
            report["memory"] = memory_run(folder, args.max_rows)
    if args.json:
        print(json.dumps(report, indent=1))
        return
    lat = report["latency"]
    assert isinstance(lat, dict)
    print(f"{lat['rows']:,}-row preview (ready in {lat['preview_s']} s; page {lat['page_kb']} KB;"
          f" workbook {lat['workbook_mb']} MB; {lat['capped']}):")  # fmt: skip
    print(f"  GET / while previewing: worst {lat['worst_ms']} ms, median {lat['median_ms']} ms"
          f" over {lat['polls']} polls")  # fmt: skip
    print(f"  GET / idle (baseline):  worst {lat['idle_worst_ms']} ms, median"
          f" {lat['idle_median_ms']} ms  -> worst ratio {lat['worst_ratio']}x")  # fmt: skip
    print(f"  server RSS: {lat['idle_rss_mb']} MB idle, {lat['peak_rss_mb']} MB peak")
    mem = report.get("memory")
    if isinstance(mem, dict):
        print(f"{mem['rows']:,}-row sheet (Excel's maximum with its header; ready in"
              f" {mem['preview_s']} s; page {mem['page_kb']} KB):")  # fmt: skip
        print(f"  server peak RSS {mem['peak_rss_mb']} MB (idle {mem['idle_rss_mb']} MB, after the"
              f" preview {mem['rss_after_mb']} MB)")  # fmt: skip
        print(f"  segsync validate alone {mem['validate_rss_mb']} MB"
              f" -> {mem['peak_over_validate']}x; segsync plan alone {mem['cli_plan_rss_mb']} MB"
              f" -> {mem['peak_over_cli_plan']}x")  # fmt: skip


if __name__ == "__main__":
    main()
