"""One stop switch for a whole run: a stop from another thread reaches fetch and the updater.

The web page stops a run from its own thread, and a second Ctrl-C must stop a run wherever it
is, reading the server included. Both go through ``RunControl``.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

from segsync.engine import pipeline
from segsync.engine.runcontrol import RunControl
from segsync.sandbox import FaultOptions, SandboxOptions, run_sandbox
from tests.helpers import settings_for, write_csv

SEED = Path(__file__).parent.parent / "samples" / "segments.csv"


def wait_for(condition: Any, what: str, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, what
        time.sleep(0.005)


def run_in_thread(fn: Any) -> tuple[threading.Thread, dict[str, Any]]:
    box: dict[str, Any] = {}
    thread = threading.Thread(target=lambda: box.setdefault("result", fn()), daemon=True)
    thread.start()
    return thread, box


def test_a_hard_stop_from_another_thread_stops_reading_the_server(tmp_path: Path) -> None:
    with run_sandbox(SandboxOptions(seed_csv=SEED, faults=FaultOptions(latency_ms=150))) as sb:
        ids = [s["id"] for s in sb.segments()]
        sheet = write_csv(tmp_path / "e.csv", ["id", "name"], [[i, f"n{i}"] for i in ids])
        settings = settings_for(
            sb, tmp_path, **{"api.list_enabled": False, "rate_limit.max_concurrency": 2}
        )
        control = RunControl()
        thread, box = run_in_thread(lambda: pipeline.sync(sheet, settings, control=control))
        wait_for(lambda: sb.counters.snapshot().count("GET") >= 2, "the run never read")
        control.stop("stopped from the page", hard=True)
        thread.join(timeout=20)
        assert not thread.is_alive(), "a hard stop did not stop the fetch"
        result = box["result"]
        gets = sb.counters.snapshot().count("GET")
    assert gets < len(ids) // 2  # it stopped reading long before the end
    assert result.aborted and "could not read" not in result.aborted
    assert result.exit_code == 3
    assert {r.outcome.value for r in result.rows} == {"not_attempted"}
    assert sb.counters.snapshot().count("PUT") == 0


def test_a_graceful_stop_lets_requests_in_flight_finish_and_sends_nothing_new(
    tmp_path: Path,
) -> None:
    with run_sandbox(SandboxOptions(seed_csv=SEED)) as sb:
        ids = [s["id"] for s in sb.segments()]
        sheet = write_csv(tmp_path / "e.csv", ["id", "name"], [[i, f"n{i}"] for i in ids])
        settings = settings_for(
            sb, tmp_path, **{"rate_limit.requests_per_second": 40, "rate_limit.max_concurrency": 2}
        )
        control = RunControl()
        thread, box = run_in_thread(lambda: pipeline.sync(sheet, settings, control=control))
        wait_for(lambda: sb.counters.snapshot().count("PUT") >= 3, "the run never wrote")
        status = control.status()
        assert status["phase"] == "sending" and status["total"] == len(ids)
        control.stop("stopped from the page")
        thread.join(timeout=20)
        result = box["result"]
    outcomes = [r.outcome.value for r in result.rows]
    updated = outcomes.count("updated")
    assert 3 <= updated < len(ids)
    assert set(outcomes) == {"updated", "not_attempted"}
    assert result.aborted == "stopped from the page"
    assert sb.counters.snapshot().count("PUT") == updated
