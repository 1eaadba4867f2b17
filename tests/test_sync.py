"""End to end: a sheet with every kind of row, synced over TCP against the sandbox.

Assertions are on what the server ends up holding (its store) and on what the results
workbook says, never on internal calls.
"""

from __future__ import annotations

import copy
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from segsync.engine import pipeline
from segsync.errors import StrictModeError
from segsync.model import EDITABLE_FIELDS, STAT_FIELDS
from segsync.output.stats import parse_stat
from tests.helpers import editable, read_results, settings_for, write_csv, write_xlsx

HEADER = ["Segment ID", "Campaign ID", "Name", "Code", "Description", "External ID"]


def cell_text(value: Any) -> str | None:
    """A workbook cell as text: numbers read back as floats, blanks as empty strings."""
    if value is None or value == "":
        return None
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def every_kind_of_row(sandbox: Any) -> tuple[list[list[Any]], dict[int, dict[str, Any]], list[str]]:
    """The rows, the state the server must end with for touched ids, and each row's outcome."""
    s6 = sandbox.segment(100006)
    rows: list[list[Any]] = [
        [100001, None, "Renamed once", None, None, None],  # one field
        [100004, None, "Zone 3 – 2nd drop", "081-EM2", "New text", "EXT-4"],  # several
        [100006, s6["campaignId"], s6["name"], s6["code"], s6["description"], None],  # unchanged
        [100013, None, "Kept code", "", None, None],  # blank code cell keeps the code
        [100009, None, None, None, "#CLEAR", None],  # cleared description
        [999999, None, "Nobody", "X1", None, None],  # unknown id
        [100020, None, "#CLEAR", None, None, None],  # clear marker on a required field
        [100021, None, "First", None, None, None],  # conflicting duplicates
        [100021, None, "Second", None, None, None],
        [100030.0, None, None, None, "Excel float id", None],  # 100030.0 is 100030
        [100002, None, None, "00999", None, None],  # leading zeros
        [100040, None, "Said twice", None, None, None],  # identical duplicates: sent once
        [100040, None, "Said twice", None, None, None],
    ]
    expect: dict[int, dict[str, Any]] = {}

    def want(i: int, **changes: Any) -> None:
        expect[i] = {**editable(sandbox.segment(i)), **changes}

    want(100001, name="Renamed once")
    want(100004, name="Zone 3 – 2nd drop", code="081-EM2", description="New text")
    expect[100004]["externalIdentifier"] = "EXT-4"
    want(100006)
    want(100013, name="Kept code")
    want(100009, description=None)
    want(100020)
    want(100021)
    want(100030, description="Excel float id")
    want(100002, code="00999")
    want(100040, name="Said twice")
    outcomes = [
        "updated",
        "updated",
        "unchanged",
        "updated",
        "updated",
        "not_found",
        "invalid",
        "invalid",
        "invalid",
        "updated",
        "updated",
        "updated",
        "duplicate",
    ]
    return rows, expect, outcomes


def test_sync_every_kind_of_row(sandbox: Any, tmp_path: Path) -> None:
    rows, expect, outcomes = every_kind_of_row(sandbox)
    untouched_before = {s["id"]: s for s in sandbox.segments() if s["id"] not in expect}
    editable_before = {s["id"]: editable(s) for s in sandbox.segments()}
    sheet = write_xlsx(tmp_path / "edits.xlsx", HEADER, rows)
    out = tmp_path / "results.xlsx"

    result = pipeline.sync(sheet, settings_for(sandbox, tmp_path), out=out)

    # the server holds exactly the intended state; untouched rows untouched (all fields)
    for sid, want in expect.items():
        assert editable(sandbox.segment(sid)) == want, sid
    for sid, before in untouched_before.items():
        assert sandbox.segment(sid) == before
    assert sandbox.segment(999999) is None
    assert result.exit_code == 1  # invalid and not_found rows need a human
    # exactly one PUT for each id that changes, and none for any other
    changed = {sid for sid, want in expect.items() if want != editable_before[sid]}
    assert sandbox.counters.snapshot().puts_by_id == dict.fromkeys(changed, 1)

    # the results workbook: one row per input row, in order, outcomes and stats as the API said
    table = read_results(out)
    assert len(table) == len(rows)
    assert [r["outcome"] for r in table] == outcomes
    assert [int(r["source row"]) for r in table] == list(range(2, 2 + len(rows)))
    by_row = {int(r["source row"]): r for r in table}
    assert by_row[2]["changed fields"] == "name"
    assert set(by_row[3]["changed fields"].split(", ")) == {
        "name",
        "code",
        "description",
        "externalIdentifier",
    }
    assert "Renamed once" in by_row[2]["after"]
    assert by_row[6]["changed fields"] == "description"
    assert "required" in by_row[8]["error"] and "C8" in by_row[8]["error"]
    assert "100021" in by_row[9]["error"] and "100021" in by_row[10]["error"]
    assert "999999" in by_row[7]["error"]
    assert by_row[14]["error"] == "same edit as row 13; sent once"
    for r in table:
        if r["outcome"] == "updated":
            server = sandbox.segment(int(r["id"]))
            assert int(r["HTTP status"]) == 200
            assert int(r["attempts"]) == 1
            for stat in STAT_FIELDS:
                assert_stat_cell(stat, r, server[stat])


def assert_stat_cell(stat: str, row: dict[str, Any], server_value: Any) -> None:
    """A stats cell holds the API's value: as a number or local time where it parses."""
    header = next(h for h in row if h == stat or h.startswith(f"{stat} ("))
    got = row[header]
    if server_value in (None, ""):
        assert got in (None, ""), stat
        return
    expected, _ = parse_stat(stat, server_value)
    if isinstance(expected, datetime):
        assert isinstance(got, datetime), stat
        assert abs((got - expected).total_seconds()) < 0.002, stat
    elif isinstance(expected, int | float) and isinstance(got, int | float):
        assert got == pytest.approx(expected), stat
    else:
        assert cell_text(got) == cell_text(expected), stat


def test_partial_column_sheet(sandbox: Any, tmp_path: Path) -> None:
    """Only id and description columns: every other field keeps its value."""
    before = editable(sandbox.segment(100003))
    sheet = write_xlsx(tmp_path / "p.xlsx", ["id", "description"], [[100003, "Only this"]])
    result = pipeline.sync(sheet, settings_for(sandbox, tmp_path))
    assert [r.outcome.value for r in result.rows] == ["updated"]
    assert editable(sandbox.segment(100003)) == {**before, "description": "Only this"}


def test_dry_run_sends_nothing_and_decides_like_the_real_run(sandbox: Any, tmp_path: Path) -> None:
    rows, _, outcomes = every_kind_of_row(sandbox)
    sheet = write_xlsx(tmp_path / "edits.xlsx", HEADER, rows)
    state_before = copy.deepcopy(sandbox.segments())
    settings = settings_for(sandbox, tmp_path)

    preview = pipeline.sync(sheet, settings, dry_run=True, out=tmp_path / "preview.xlsx")
    assert sandbox.counters.snapshot().count("PUT") == 0
    assert sandbox.segments() == state_before
    assert preview.journal_path is None

    real = pipeline.sync(sheet, settings, out=tmp_path / "real.xlsx")
    decided = [r.outcome.value.replace("would_update", "updated") for r in preview.rows]
    assert decided == [r.outcome.value for r in real.rows] == outcomes
    assert [r.changes for r in preview.rows] == [r.changes for r in real.rows]
    table = read_results(tmp_path / "preview.xlsx")
    assert table[0]["outcome"] == "would_update"


def test_rerun_after_success_sends_nothing(sandbox: Any, tmp_path: Path) -> None:
    rows = [
        [100001, None, "Renamed", None, None, None],
        [100002, None, None, "00777", "d", "e"],
        [100003, 5002, None, None, None, None],  # move to another campaign
    ]
    sheet = write_xlsx(tmp_path / "edits.xlsx", HEADER, rows)
    settings = settings_for(sandbox, tmp_path)
    first = pipeline.sync(sheet, settings)
    assert first.exit_code == 0
    assert [r.outcome.value for r in first.rows] == ["updated"] * 3
    assert sandbox.segment(100003)["campaignId"] == 5002
    sandbox.counters.reset()

    second = pipeline.sync(sheet, settings)
    assert sandbox.counters.snapshot().count("PUT") == 0
    assert [r.outcome.value for r in second.rows] == ["unchanged"] * 3
    assert second.exit_code == 0


def test_xlsx_and_csv_give_identical_results(sandbox: Any, tmp_path: Path) -> None:
    rows, _, _ = every_kind_of_row(sandbox)
    csv_rows = [[("100030.0" if v == 100030.0 else v) for v in row] for row in rows]
    xlsx = write_xlsx(tmp_path / "e.xlsx", HEADER, rows)
    csv_path = write_csv(tmp_path / "e.csv", HEADER, csv_rows)
    settings = settings_for(sandbox, tmp_path)
    a = pipeline.sync(xlsx, settings, dry_run=True)
    b = pipeline.sync(csv_path, settings, dry_run=True)

    def essence(result: Any) -> list[tuple]:
        return [
            (r.source_row, r.segment_id, r.outcome, r.changes, (r.error or "").split(":", 1)[-1])
            for r in result.rows
        ]

    assert essence(a) == essence(b)


def test_strict_refuses_whole_sheet_and_sends_nothing(sandbox: Any, tmp_path: Path) -> None:
    rows = [[100001, None, "ok", None, None, None], [100020, None, "#CLEAR", None, None, None]]
    sheet = write_xlsx(tmp_path / "edits.xlsx", HEADER, rows)
    with pytest.raises(StrictModeError, match="nothing was sent"):
        pipeline.sync(sheet, settings_for(sandbox, tmp_path), strict=True)
    assert sandbox.counters.snapshot().total == 0


def test_conflict_with_export_modified_time(sandbox: Any, tmp_path: Path) -> None:
    """A sheet carrying modifiedDateTime (an export) does not overwrite a newer change."""
    s1, s2 = sandbox.segment(100001), sandbox.segment(100002)
    sandbox.modify(100002, name="Changed by a colleague")
    header = ["id", "name", "modifiedDateTime"]
    rows = [
        [100001, "Mine 1", s1["modifiedDateTime"]],
        [100002, "Mine 2", s2["modifiedDateTime"]],
    ]
    sheet = write_xlsx(tmp_path / "export.xlsx", header, rows)
    result = pipeline.sync(sheet, settings_for(sandbox, tmp_path))
    assert [r.outcome.value for r in result.rows] == ["updated", "conflict"]
    assert sandbox.segment(100002)["name"] == "Changed by a colleague"
    assert result.exit_code == 1
    forced = pipeline.sync(sheet, settings_for(sandbox, tmp_path), force=True)
    assert [r.outcome.value for r in forced.rows] == ["unchanged", "updated"]
    assert sandbox.segment(100002)["name"] == "Mine 2"


def test_dataframe_input_and_dataframe_output(sandbox: Any, tmp_path: Path) -> None:
    pd = pytest.importorskip("pandas")
    df = pd.DataFrame({"id": [100001, 100005], "code": ["00042", None], "name": ["A", "B"]})
    result = pipeline.sync(df, settings_for(sandbox, tmp_path))
    assert sandbox.segment(100001)["code"] == "00042"
    assert sandbox.segment(100005)["name"] == "B"
    frame = result.to_dataframe()
    assert list(frame["outcome"]) == ["updated", "updated"]
    assert list(frame["id"]) == [100001, 100005]


def test_results_stats_match_put_response(sandbox: Any, tmp_path: Path) -> None:
    sheet = write_xlsx(tmp_path / "e.xlsx", ["id", "name"], [[100011, "Stats check"]])
    result = pipeline.sync(sheet, settings_for(sandbox, tmp_path))
    row = result.rows[0]
    assert row.segment is not None
    server = sandbox.segment(100011)
    assert {f: getattr(row.segment, f) for f in STAT_FIELDS} == {f: server[f] for f in STAT_FIELDS}
    assert {f: getattr(row.segment, f) for f in EDITABLE_FIELDS} == editable(server)
