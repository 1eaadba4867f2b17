"""Round-trip trust: an export fed back changes nothing, whatever the server holds.

The sandbox is seeded with the values spreadsheets mangle (surrounding spaces, CRLF, tabs, a
5,000-character description, decomposed accents, emoji, codes with leading zeros). An export of
them, fed back as it is, re-saved by another program, or damaged by a spreadsheet that turned
codes into numbers, must send nothing; a real edit must send exactly one PUT that keeps every
untouched field byte for byte.
"""

from __future__ import annotations

import csv
import json
import re
from pathlib import Path
from typing import Any

import openpyxl
import pytest

from segsync.engine import pipeline
from segsync.sandbox import SandboxOptions, run_sandbox
from tests.helpers import editable, settings_for, write_seed

LONG = "Long description. " * 278 + "end"  # just over 5,000 characters
HOSTILE: list[list[Any]] = [
    [300001, 7001, "Spring", "  Leading spaces", "00760", "line one\r\nline two", "EXT-1"],
    [300002, 7001, "Spring", "Trailing space ", "01234", "", ""],
    [300003, 7001, "Spring", "Tab\tinside", "00042", LONG, ""],
    [300004, 7001, "Spring", "Cafe\u0301 Zu\u0308rich (NFD)", "0099", "Mu\u0308nchen", "e\u0301"],
    [300005, 7002, "Summer", "Party \U0001f389 donors", "007", "Thumbs \U0001f44d\U0001f3fd", ""],
    [300006, 7002, "Summer", "Plain", "ABC-1", "CR only\rhere", ""],
    [300007, 7002, "Summer", "Zeros", "000", "", "  padded ext  "],
    [300008, 7002, "Summer", "Ordinary", "12345", "Nothing odd", "X"],
]


@pytest.fixture
def hostile(tmp_path: Path) -> Any:
    seed = write_seed(tmp_path / "seed.csv", HOSTILE)
    with run_sandbox(SandboxOptions(seed_csv=seed)) as sb:
        assert len(LONG) >= 5000
        assert sb.segment(300001)["description"] == "line one\r\nline two"
        assert sb.segment(300003)["name"] == "Tab\tinside"
        yield sb


def stored(sb: Any) -> dict[int, dict[str, Any]]:
    return {s["id"]: editable(s) for s in sb.segments()}


def puts(sb: Any) -> int:
    return sb.counters.snapshot().count("PUT")


def assert_noop(sb: Any, result: Any, before: dict[int, dict[str, Any]]) -> None:
    outcomes = {r.segment_id: r.outcome.value for r in result.rows}
    assert set(outcomes.values()) == {"unchanged"}, {
        r.segment_id: (r.outcome.value, r.error, [(c.field, c.before, c.after) for c in r.changes])
        for r in result.rows
        if r.outcome.value != "unchanged"
    }
    assert len(outcomes) == len(HOSTILE)
    assert puts(sb) == 0
    assert stored(sb) == before


def test_export_fed_back_changes_nothing(hostile: Any, tmp_path: Path) -> None:
    settings = settings_for(hostile, tmp_path)
    before = stored(hostile)
    export = pipeline.export(settings, out=tmp_path / "segments.xlsx")
    preview = pipeline.sync(export, settings, dry_run=True)
    assert_noop(hostile, preview, before)
    result = pipeline.sync(export, settings)
    assert_noop(hostile, result, before)
    assert result.exit_code == 0


def test_export_resaved_by_openpyxl_changes_nothing(hostile: Any, tmp_path: Path) -> None:
    settings = settings_for(hostile, tmp_path)
    before = stored(hostile)
    export = pipeline.export(settings, out=tmp_path / "segments.xlsx")
    book = openpyxl.load_workbook(export)
    resaved = tmp_path / "resaved.xlsx"
    book.save(resaved)
    result = pipeline.sync(resaved, settings)
    assert_noop(hostile, result, before)


def test_csv_export_with_codes_turned_into_numbers(
    hostile: Any, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """What LibreOffice does with default import settings: digits become numbers."""
    settings = settings_for(hostile, tmp_path)
    before = stored(hostile)
    with caplog.at_level("WARNING"):
        export = pipeline.export(settings, out=tmp_path / "segments.csv")
    assert any(
        "leading zeros" in r.getMessage() and ".xlsx" in r.getMessage() for r in caplog.records
    )
    with open(export, encoding="utf-8-sig", newline="") as handle:
        table = list(csv.reader(handle))
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.title = "segments"
    for row in table:
        sheet.append([int(v) if re.fullmatch(r"\d+", v) else v for v in row])
    damaged = tmp_path / "damaged.xlsx"
    book.save(damaged)
    code_col = "ABCDEFGHIJ"[table[0].index("code")]
    zero_rows = [n for n, row in enumerate(table[1:], start=2) if row[3].startswith("0")]
    assert len(zero_rows) == 6

    result = pipeline.sync(damaged, settings)
    assert_noop(hostile, result, before)
    warning = next(w for w in result.warnings if "leading zeros" in w)
    for n in zero_rows:
        assert f"segments!{code_col}{n}" in warning
    assert warning.startswith("6 code cells hold")


def test_csv_export_fed_back_as_csv_changes_nothing(hostile: Any, tmp_path: Path) -> None:
    settings = settings_for(hostile, tmp_path)
    before = stored(hostile)
    export = pipeline.export(settings, out=tmp_path / "segments.csv")
    result = pipeline.sync(export, settings)
    assert_noop(hostile, result, before)


def test_a_rename_sends_one_put_that_keeps_every_other_field_exactly(
    hostile: Any, tmp_path: Path
) -> None:
    settings = settings_for(hostile, tmp_path)
    before = stored(hostile)
    export = pipeline.export(settings, out=tmp_path / "segments.xlsx")
    book = openpyxl.load_workbook(export)
    sheet = book["Segments"]
    header = [c.value for c in sheet[1]]
    for row in sheet.iter_rows(min_row=2):
        if row[header.index("id")].value in (300001, "300001"):
            row[header.index("name")].value = "Renamed by a person"
    edited = tmp_path / "edited.xlsx"
    book.save(edited)

    result = pipeline.sync(edited, settings)
    assert puts(hostile) == 1
    changed = [r for r in result.rows if r.outcome.value == "updated"]
    assert [r.segment_id for r in changed] == [300001]
    assert [(c.field, c.after) for c in changed[0].changes] == [("name", "Renamed by a person")]
    after = stored(hostile)
    assert after[300001] == {**before[300001], "name": "Renamed by a person"}
    assert after[300001]["description"] == "line one\r\nline two"  # not folded to \n
    assert {k: v for k, v in after.items() if k != 300001} == {
        k: v for k, v in before.items() if k != 300001
    }
    # the journal's planned body is the server's state with only the name changed
    journal = Path(result.journal_path or "")
    planned = [json.loads(line) for line in journal.read_text().splitlines()]
    bodies = [r["body"] for r in planned if r.get("type") == "planned"]
    assert bodies == [{**before[300001], "name": "Renamed by a person"}]


def test_a_changed_value_is_checked_by_the_content_rules(hostile: Any, tmp_path: Path) -> None:
    """A tab the server holds is fine; a tab the user types is refused, naming the cell."""
    settings = settings_for(hostile, tmp_path)
    sheet = tmp_path / "edits.csv"
    sheet.write_text(
        'id,name\n300003,"Tab\tinside"\n300008,"New\ttab"\n', encoding="utf-8", newline=""
    )
    result = pipeline.sync(sheet, settings)
    by_id = {r.segment_id: r for r in result.rows}
    assert by_id[300003].outcome.value == "unchanged"
    assert by_id[300008].outcome.value == "invalid"
    assert "edits!B3 (name): contains a tab character" in (by_id[300008].error or "")
    assert puts(hostile) == 0


def test_strict_waits_for_the_server_before_refusing_content_rules(
    hostile: Any, tmp_path: Path
) -> None:
    settings = settings_for(hostile, tmp_path)
    sheet = tmp_path / "edits.csv"
    sheet.write_text('id,name\n300003,"Tab\tinside"\n300008,Renamed\n', encoding="utf-8")
    result = pipeline.sync(sheet, settings, strict=True)
    assert [r.outcome.value for r in result.rows] == ["unchanged", "updated"]
    sheet.write_text('id,name\n300003,"New\ttab"\n300008,Renamed again\n', encoding="utf-8")
    with pytest.raises(Exception, match="--strict refuses the whole sheet"):
        pipeline.sync(sheet, settings, strict=True)
    assert hostile.segment(300008)["name"] == "Renamed"
