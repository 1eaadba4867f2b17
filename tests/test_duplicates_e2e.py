"""Identical repeated rows, end to end: the first is sent, each repeat ends ``duplicate`` naming
the row it repeats, and the server sees exactly one PUT for the id.

A sheet pasted together from two exports often lists a segment twice with the same values;
writing it twice would cost a request and, with a retry in between, could interleave with a
colleague's change. (Repeats with *different* values are ``invalid``: see test_sync.py.)
"""

from __future__ import annotations

import json
from pathlib import Path

from segsync.engine import pipeline
from segsync.sandbox import Sandbox
from tests.helpers import read_results, run_cli, settings_for, write_config, write_csv


def test_identical_rows_are_sent_once_and_the_repeats_end_duplicate(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    rows = [
        [100011, "Once, said three times"],
        [100012, "Only once"],
        [100011, "Once, said three times"],
        [100013, "Twice the same"],
        [100011, "Once, said three times"],
        [100013, "Twice the same"],
    ]
    sheet = write_csv(tmp_path / "edits.csv", ["id", "name"], rows)
    config = write_config(sandbox, tmp_path)
    out = tmp_path / "results.xlsx"

    done = run_cli("sync", str(sheet), "--config", str(config), "--out", str(out))

    assert done.returncode == 0, done.stderr  # a duplicate needs nobody's attention
    snap = sandbox.counters.snapshot()
    assert snap.puts_by_id == {100011: 1, 100012: 1, 100013: 1}
    assert sandbox.segment(100011)["name"] == "Once, said three times"  # type: ignore[index]
    assert sandbox.segment(100013)["name"] == "Twice the same"  # type: ignore[index]
    table = read_results(out)
    assert [(int(r["source row"]), r["outcome"]) for r in table] == [
        (2, "updated"),
        (3, "updated"),
        (4, "duplicate"),
        (5, "updated"),
        (6, "duplicate"),
        (7, "duplicate"),
    ]
    errors = {int(r["source row"]): r["error"] for r in table if r["outcome"] == "duplicate"}
    assert errors == {
        4: "same edit as row 2; sent once",
        6: "same edit as row 2; sent once",
        7: "same edit as row 5; sent once",
    }
    # the journal plans one write per id: a rollback puts each back once
    journal = next((tmp_path / "runs").glob("*/journal.jsonl"))
    records = [json.loads(line) for line in journal.read_text(encoding="utf-8").splitlines()]
    planned = [r["id"] for r in records if r["type"] == "planned"]
    assert sorted(planned) == [100011, 100012, 100013]


def test_a_repeated_row_that_changes_nothing_sends_nothing(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    """The server already holds the repeated values: neither row is sent, a dry run agrees."""
    held = sandbox.segment(100014)
    assert held is not None
    rows = [[100014, held["name"]], [100014, held["name"]], [100015, "Changed"]]
    sheet = write_csv(tmp_path / "edits.csv", ["id", "name"], rows)
    settings = settings_for(sandbox, tmp_path)

    preview = pipeline.sync(sheet, settings, dry_run=True)
    real = pipeline.sync(sheet, settings)

    outcomes = [r.outcome.value for r in real.rows]
    assert outcomes[1] == "duplicate" and outcomes[2] == "updated"
    assert outcomes[0] == "unchanged"
    assert [r.outcome.value for r in preview.rows] == ["unchanged", "duplicate", "would_update"]
    assert sandbox.counters.snapshot().puts_by_id == {100015: 1}
