"""kill -9 in the middle of a run, in the fast suite: the rerun of the same sheet finishes the
job, and no segment is written twice across the two runs.

(``test_reliability.py`` has the longer version with rollback of both runs, marked slow; this
one keeps the promise "a crash loses nothing, the rerun finishes" in every CI run.)
"""

from __future__ import annotations

import json
import signal
from pathlib import Path

from segsync.sandbox import Sandbox
from tests.helpers import (
    editable,
    read_results,
    run_cli,
    start_cli,
    wait_for_puts,
    write_config,
    write_csv,
)

ROWS = 40


def test_kill_9_mid_run_then_the_rerun_finishes_without_writing_twice(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    seed = {s["id"]: editable(s) for s in sandbox.segments()}
    ids = sorted(seed)[:ROWS]
    sheet = write_csv(tmp_path / "edits.csv", ["id", "name"], [[i, f"Killed {i}"] for i in ids])
    slow = write_config(sandbox, tmp_path, rate_limit={"requests_per_second": 40})

    victim = start_cli("sync", str(sheet), "--config", str(slow), cwd=tmp_path)
    wait_for_puts(sandbox, victim, 8)
    victim.send_signal(signal.SIGKILL)
    victim.wait(timeout=10)
    written = sandbox.counters.snapshot().writes_by_id
    assert 8 <= len(written) < ROWS  # killed part way
    (journal,) = (tmp_path / "runs").glob("*/journal.jsonl")
    records = [json.loads(line) for line in journal.read_text(encoding="utf-8").splitlines()]
    assert sum(r["type"] == "planned" for r in records) == ROWS  # all planned before the first PUT
    assert records[-1]["type"] != "footer"  # it really died

    fast = write_config(sandbox, tmp_path, rate_limit={"requests_per_second": 500})
    rerun = run_cli("sync", str(sheet), "--config", str(fast), "--out", str(tmp_path / "r.xlsx"))

    assert rerun.returncode == 0, rerun.stderr
    assert {i: sandbox.segment(i)["name"] for i in ids} == {i: f"Killed {i}" for i in ids}  # type: ignore[index]
    untouched = {i: editable(sandbox.segment(i)) for i in seed if i not in ids}
    assert untouched == {i: seed[i] for i in untouched}
    # every segment written exactly once over both runs: the rerun skips what the first wrote
    assert sandbox.counters.snapshot().writes_by_id == dict.fromkeys(ids, 1)
    outcomes = {int(r["id"]): r["outcome"] for r in read_results(tmp_path / "r.xlsx")}
    assert {i for i, o in outcomes.items() if o == "unchanged"} == set(written)
    assert {i for i, o in outcomes.items() if o == "updated"} == set(ids) - set(written)
