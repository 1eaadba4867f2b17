"""Counts beside nouns, and a rollback's own words, in every output a person reads.

The terminal, the results workbook's Summary and the HTML report say "1 row" (never "1 rows"),
and a rollback speaks of restoring segments to what they were before the run it undoes, not of
"updating" them. End to end against the sandbox: the server is checked to hold what it held.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from segsync.output.plural import counted
from tests.helpers import editable, read_summary, run_cli, write_config, write_csv


def test_counted_puts_the_noun_in_the_right_number() -> None:
    assert counted(1, "row") == "1 row"
    assert counted(0, "row") == "0 rows"
    assert counted(1_234_567, "segment") == "1,234,567 segments"
    assert counted(2, "field change") == "2 field changes"
    assert counted(3, "was", "were") == "3 were"


def test_validate_of_one_row_says_1_row(tmp_path: Path) -> None:
    sheet = write_csv(tmp_path / "one.csv", ["id", "name"], [[100001, "Renamed"]])
    done = run_cli("validate", str(sheet))
    assert done.returncode == 0, done.stderr
    assert ": 1 row, 1 valid, 0 invalid." in done.stdout
    assert "1 rows" not in done.stdout


def _report_text(path: Path) -> str:
    """The report's text without tags (enough to read its sentences)."""
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", path.read_text(encoding="utf-8")))


def test_a_one_row_sync_and_its_rollback_preview_say_so_in_every_output(
    sandbox: Any, tmp_path: Path
) -> None:
    config = write_config(sandbox, tmp_path)
    target = sandbox.segments()[0]
    before = editable(target)
    sheet = write_csv(tmp_path / "one.csv", ["id", "name"], [[target["id"], "Renamed once"]])

    synced = run_cli(
        "sync", str(sheet), "--config", str(config), "--report", str(tmp_path / "s.html")
    )
    assert synced.returncode == 0, synced.stderr
    assert f"Sync of {sheet}: 1 row\n" in synced.stdout
    assert "All done: 1 row updated, nothing needs fixing." in _report_text(tmp_path / "s.html")
    run_id = re.search(r"run id: (\S+)", synced.stdout)
    assert run_id is not None
    run = run_id.group(1)

    preview, report = tmp_path / "rb.xlsx", tmp_path / "rb.html"
    rolled = run_cli(
        "rollback", run, "--dry-run", "--config", str(config), "--out", str(preview),
        "--report", str(report), "--json",
    )  # fmt: skip
    assert rolled.returncode == 0, rolled.stderr
    said = f"Preview: 1 row would be restored to what it was before run {run}; nothing was changed."
    # the terminal: its title names the run once, then the same sentence as the files
    assert f"Rollback preview (nothing was sent) of run {run} ({sheet}): 1 row" in rolled.stderr
    assert "rollback of run" not in rolled.stderr
    assert said in rolled.stderr
    assert json.loads(rolled.stdout)["counts"] == {"would_update": 1}  # machine keys unchanged
    # the workbook's Summary: headline, the count's label, what to do next
    summary = [str(c) for row in read_summary(preview) for c in row if c not in (None, "")]
    assert summary[0] == "Rollback preview"
    assert said in summary
    assert "would be restored" in summary and "would update" not in summary
    assert any(
        t.startswith("Nothing was changed: this is a preview. To roll back") for t in summary
    )
    assert not any("would be updated" in t for t in summary)
    # the HTML report says the same
    text = _report_text(report)
    assert said in text and "would be updated" not in text
    assert "would be restored" in text and "would update" not in text
    assert "1 rows" not in text
    assert editable(sandbox.segment(target["id"]))["name"] == "Renamed once"  # nothing sent

    undone = run_cli("rollback", run, "--config", str(config), "--report", str(tmp_path / "u.html"))
    assert undone.returncode == 0, undone.stderr
    assert editable(sandbox.segment(target["id"])) == before
    done = f"All done: 1 row restored to what it was before run {run}, nothing needs fixing."
    assert done in undone.stdout
    assert done in _report_text(tmp_path / "u.html")
