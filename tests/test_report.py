"""The results/preview/export files: layout, values, formula safety, atomicity.

The builders here (``segment``, ``every_outcome_rows``, ``run_result``, ``sheet_rows``) are
shared by the ``test_output_*`` modules.

All offline: RunResults are built by hand and the files are read back with openpyxl (which
tells a text cell from a formula) and python-calamine (what the loader reads with).
"""

from __future__ import annotations

import csv
import logging
import os
import tempfile
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import openpyxl
import pytest
from python_calamine import CalamineWorkbook

from segsync.model import STAT_FIELDS, Segment
from segsync.outcomes import FieldChange, Outcome, RowResult, RunResult
from segsync.output.export import EXPORT_HEADERS, write_export
from segsync.output.results import default_results_path, write_results
from segsync.output.rows import CURRENT_HEADERS, FIXED_HEADERS, STAT_HEADERS
from segsync.output.summary import DRY_RUN_BANNER
from segsync.output.views import build_view
from segsync.output.xlsx_safety import EXCEL_MAX_TEXT

FORMULA_PAYLOADS = ['=HYPERLINK("http://x","y")', "+1", "-2", "@SUM(A1)", "=1+1", "\t=1", "\r=1"]
#: In constant_memory mode xlsxwriter copies "<r>…</r>" strings into the XML unescaped.
XML_INJECTION = '<r><t>x</t></r></is></c><c r="Z1"><f>1+1</f></c><c r="Z2" t="inlineStr"><is><r>'
XML_INJECTION += "<t>y</t></r>"
STARTED = datetime(2024, 5, 1, 10, 0, 0, tzinfo=UTC)


def segment(seg_id: int = 101, **overrides: Any) -> Segment:
    values: dict[str, Any] = {
        "id": seg_id,
        "campaignId": 7,
        "name": f"Segment {seg_id}",
        "code": "00123",
        "description": "Major donors",
        "externalIdentifier": "EXT-1",
        "campaignName": "Spring appeal",
        "totalDonors": 12,
        "totalGifts": 30,
        "totalGiftAmount": "1234.50",
        "averageGiftAmount": "41.15",
        "medianGiftAmount": "25.00",
        "highestGiftAmount": "500.00",
        "totalVisitors": 400,
        "conversionRate": "0.03",
        "modifiedDateTime": "2024-04-30T09:15:00.123Z",
    }
    values.update(overrides)
    return Segment(**values)


def every_outcome_rows() -> list[RowResult]:
    """One row per outcome, in the order of the enum, with realistic details."""
    rows = []
    for i, outcome in enumerate(Outcome):
        has_segment = outcome not in (Outcome.INVALID, Outcome.NOT_FOUND)
        changes = (
            [
                FieldChange("name", "Old name", f"Segment {200 + i}"),
                FieldChange("code", "9", "00123"),
            ]
            if outcome in (Outcome.UPDATED, Outcome.WOULD_UPDATE, Outcome.UPDATED_WITH_DIFFERENCES)
            else []
        )
        rows.append(
            RowResult(
                index=i,
                source_row=i + 2,
                segment_id=None if outcome is Outcome.INVALID else 200 + i,
                outcome=outcome,
                changes=changes,
                http_status={Outcome.FAILED: 500, Outcome.NOT_FOUND: 404}.get(outcome, 200),
                attempts=3 if outcome is Outcome.FAILED else 1,
                error="Sheet1!C4 (code): required" if outcome is Outcome.INVALID else None,
                segment=segment(200 + i) if has_segment else None,
                differences=["name"] if outcome is Outcome.UPDATED_WITH_DIFFERENCES else [],
                extras={"owner": f"owner{i}"} if i % 2 else {"region": "north"},
            )
        )
    return rows


def run_result(rows: list[RowResult] | None = None, **overrides: Any) -> RunResult:
    values: dict[str, Any] = {
        "run_id": "20240501-100000-abcd",
        "command": "sync",
        "dry_run": False,
        "source": "/data/edits.xlsx",
        "sheet": "Sheet1",
        "sha256": "ab" * 32,
        "started_at": STARTED,
        "finished_at": datetime(2024, 5, 1, 10, 0, 12, tzinfo=UTC),
        "rows": every_outcome_rows() if rows is None else rows,
        "requests": Counter({"GET list": 2, "PUT": 3}),
        "statuses": Counter({200: 4, 429: 1}),
        "network_seconds": 2.0,
        "fetch_strategy": "list",
        "config_summary": {"rate": {"requests_per_second": 5}, "strict": False},
        "warnings": ["column 'Notes' ignored"],
        "journal_path": "/data/.segsync/run.jsonl",
    }
    values.update(overrides)
    return RunResult(**values)


def sheet_rows(path: Path, sheet: str) -> list[tuple[Any, ...]]:
    workbook = openpyxl.load_workbook(path)
    return [tuple(r) for r in workbook[sheet].iter_rows(values_only=True)]


def as_dicts(path: Path) -> list[dict[str, Any]]:
    header, *rows = sheet_rows(path, "Results")
    return [dict(zip(header, row, strict=True)) for row in rows]


def summary(path: Path) -> dict[str, Any]:
    """The Run details sheet as ``key: value`` (the facts of ``summary_items``)."""
    return {row[0]: row[1] for row in sheet_rows(path, "Run details") if row[0] is not None}


def local(moment: datetime) -> datetime:
    """``moment`` as the workbook shows it: this computer's local time, naive, to the ms."""
    shown = moment.astimezone().replace(tzinfo=None)
    return shown.replace(microsecond=shown.microsecond // 1000 * 1000)


class Unprintable:
    """A value whose rendering fails, to break a write half way through."""

    def __str__(self) -> str:
        raise RuntimeError("cannot render")


# --- results workbook: layout and values -----------------------------------------------------


def test_one_row_per_input_row_in_order_with_headers(tmp_path: Path) -> None:
    result = run_result()
    path = write_results(result, tmp_path / "results.xlsx")

    header, *rows = sheet_rows(path, "Results")
    extras = ["region", "owner"]  # first-seen order
    assert list(header) == [*FIXED_HEADERS, *STAT_HEADERS, *CURRENT_HEADERS, *extras]
    assert STAT_HEADERS[STAT_FIELDS.index("modifiedDateTime")] == "modifiedDateTime (local time)"
    assert len(rows) == len(result.rows)
    assert [r[0] for r in rows] == [r.source_row for r in result.rows]
    assert [r[2] for r in rows] == [o.value for o in Outcome]


def test_values_stats_and_current_state(tmp_path: Path) -> None:
    path = write_results(run_result(), tmp_path / "results.xlsx")
    by_outcome = {r["outcome"]: r for r in as_dicts(path)}

    updated = by_outcome["updated"]
    assert updated["id"] == 200
    assert updated["changed fields"] == "name, code"
    assert updated["before"] == "name: Old name\ncode: 9"
    assert updated["after"] == "name: Segment 200\ncode: 00123"
    assert updated["HTTP status"] == 200
    assert updated["attempts"] == 1
    assert updated["totalDonors"] == 12
    assert updated["totalGiftAmount"] == 1234.5  # decimal text from the API → a number
    assert updated["conversionRate"] == 0.03  # no "%": the number as the API sent it
    modified = datetime(2024, 4, 30, 9, 15, 0, 123000, tzinfo=UTC)
    assert updated["modifiedDateTime (local time)"] == local(modified)
    assert updated["current code"] == "00123"  # leading zeros kept
    assert updated["current campaignId"] == 7
    assert updated["region"] == "north"

    invalid = by_outcome["invalid"]
    assert invalid["id"] is None
    assert invalid["error"] == "Sheet1!C4 (code): required"
    assert all(invalid[f] is None for f in STAT_HEADERS)
    assert by_outcome["failed"]["attempts"] == 3
    assert by_outcome["updated_with_differences"]["differences"] == "name"


def test_cleared_value_and_empty_run(tmp_path: Path) -> None:
    row = RowResult(0, 2, 5, Outcome.UPDATED, [FieldChange("description", "x", None)])
    path = write_results(run_result([row]), tmp_path / "one.xlsx")
    assert as_dicts(path)[0]["after"] == "description: (empty)"

    empty = write_results(run_result([]), tmp_path / "empty.xlsx")
    assert len(sheet_rows(empty, "Results")) == 1
    assert summary(empty)["total rows"] == 0


def test_extras_named_like_our_columns_are_renamed(tmp_path: Path) -> None:
    row = RowResult(0, 2, 5, Outcome.UNCHANGED, extras={"outcome": "mine", "": "blank"})
    header = sheet_rows(write_results(run_result([row]), tmp_path / "r.xlsx"), "Results")[0]
    assert header[-2:] == ("outcome (input)", "(unnamed)")


def test_many_rows_stay_in_order(tmp_path: Path) -> None:
    rows = [RowResult(i, i + 2, i, Outcome.UNCHANGED, segment=segment(i)) for i in range(3000)]
    path = write_results(run_result(rows), tmp_path / "big.xlsx")
    ids = [r[1] for r in sheet_rows(path, "Results")[1:]]
    assert ids == list(range(3000))


def test_big_ids_are_text_so_they_are_not_rounded(tmp_path: Path) -> None:
    big = 2**63 - 1
    row = RowResult(0, 2, big, Outcome.UNCHANGED, segment=segment(big))
    assert as_dicts(write_results(run_result([row]), tmp_path / "r.xlsx"))[0]["id"] == str(big)


# --- formula safety ----------------------------------------------------------------------------


def hostile_row(payload: str) -> RowResult:
    return RowResult(
        0,
        2,
        5,
        Outcome.FAILED,
        changes=[FieldChange("name", payload, payload)],
        error=payload,
        segment=segment(5, name=payload, code=payload, campaignName=payload),
        extras={"note": payload},
    )


def assert_no_formulas(path: Path) -> None:
    workbook = openpyxl.load_workbook(path)
    for sheet in workbook:
        for row in sheet.iter_rows():
            for cell in row:
                assert cell.data_type != "f", f"{sheet.title}!{cell.coordinate} is a formula"


@pytest.mark.parametrize("payload", [*FORMULA_PAYLOADS, XML_INJECTION])
def test_formula_like_text_is_stored_as_inert_text(tmp_path: Path, payload: str) -> None:
    result = run_result([hostile_row(payload)], warnings=[payload])
    path = write_results(result, tmp_path / "results.xlsx")

    assert_no_formulas(path)
    workbook = openpyxl.load_workbook(path)
    sheet = workbook["Results"]
    header = [c.value for c in sheet[1]]
    columns = ("error", "campaignName", "current name", "current code", "note")
    for column in columns:
        assert sheet.cell(row=2, column=header.index(column) + 1).data_type == "s"
    assert sheet.max_column == len(header)  # nothing injected beside the row
    # Exact values via calamine: openpyxl does not decode the _x000D_ escapes of inline strings.
    calamine = CalamineWorkbook.from_path(str(path))
    values = dict(zip(header, calamine.get_sheet_by_name("Results").to_python()[1], strict=True))
    for column in columns:
        assert values[column] == payload
    assert values["before"] == f"name: {payload}"
    assert payload in [r[1] for r in calamine.get_sheet_by_name("Run details").to_python()]
    for name in ("Problems", "Changes"):
        found = [c for r in calamine.get_sheet_by_name(name).to_python() for c in r]
        assert payload in found, name  # a value is shown as it is, never run


def test_csv_results_guard_formulas_and_keep_numbers(tmp_path: Path) -> None:
    rows = [hostile_row('=HYPERLINK("http://x","y")'), hostile_row("@SUM(A1)"), hostile_row("-2")]
    path = write_results(run_result(rows), tmp_path / "results.csv")

    raw = path.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")  # BOM: Excel reads UTF-8
    with path.open(encoding="utf-8-sig", newline="") as fh:
        header, *records = list(csv.reader(fh))
    xlsx_header = sheet_rows(write_results(run_result(rows), tmp_path / "r.xlsx"), "Results")[0]
    # The CSV keeps the API's names (machines read it); the sheet says its times are local.
    assert header == [*FIXED_HEADERS, *STAT_FIELDS, *CURRENT_HEADERS, "note"]
    assert [h for h in header if h != "modifiedDateTime"] == [
        h for h in xlsx_header if h != "modifiedDateTime (local time)"
    ]
    assert records[0][header.index("modifiedDateTime")] == "2024-04-30T09:15:00.123Z"
    column = header.index("current name")
    assert records[0][column] == '\'=HYPERLINK("http://x","y")'
    assert records[1][column] == "'@SUM(A1)"
    assert records[2][column] == "-2"  # a plain number cannot run; left for machines
    assert records[0][header.index("totalGiftAmount")] == "1234.50"

    summary_csv = tmp_path / "results.summary.csv"
    with summary_csv.open(encoding="utf-8-sig", newline="") as fh:
        facts = {(s, k): v for s, k, v in list(csv.reader(fh))[1:]}
    assert facts[("outcomes", "failed")] == "3"
    assert facts[("outcomes", "total rows")] == "3"


# --- atomicity ---------------------------------------------------------------------------------


@pytest.mark.parametrize("suffix", [".xlsx", ".csv"])
def test_failed_write_keeps_the_old_file_and_leaves_no_temp(tmp_path: Path, suffix: str) -> None:
    target = tmp_path / f"results{suffix}"
    target.write_bytes(b"previous results")
    rows = [RowResult(i, i + 2, i, Outcome.UNCHANGED, segment=segment(i)) for i in range(1000)]
    rows[600].changes = [FieldChange("name", Unprintable(), "x")]  # type: ignore[arg-type]

    with pytest.raises(RuntimeError, match="cannot render"):
        write_results(run_result(rows), target)

    assert target.read_bytes() == b"previous results"
    assert sorted(p.name for p in tmp_path.iterdir()) == [target.name]


def test_failed_write_leaves_no_file_and_no_scratch(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))
    out = tmp_path / "out"
    rows = [RowResult(0, 2, 1, Outcome.UNCHANGED, error=Unprintable())]  # type: ignore[arg-type]

    with pytest.raises(RuntimeError):
        write_results(run_result(rows), out / "results.xlsx")

    assert not out.exists()  # the file (and its folder) would be made only at the end
    assert list(scratch.iterdir()) == []


def test_success_replaces_and_keeps_mode(tmp_path: Path) -> None:
    target = tmp_path / "results.xlsx"
    target.write_bytes(b"old")
    os.chmod(target, 0o640)
    write_results(run_result(), target)
    assert target.read_bytes()[:2] == b"PK"
    assert target.stat().st_mode & 0o777 == 0o640
    assert sorted(p.name for p in tmp_path.iterdir()) == ["results.xlsx"]


# --- summary -----------------------------------------------------------------------------------


def test_summary_counts_requests_and_run_facts(tmp_path: Path) -> None:
    facts = summary(write_results(run_result(), tmp_path / "results.xlsx"))
    for outcome in Outcome:
        assert facts[outcome.value] == 1
    assert facts["total rows"] == len(Outcome)
    assert facts["PUT"] == 3
    assert facts["GET list"] == 2
    assert facts["total requests"] == 5
    assert facts["429"] == 1
    assert facts["throttled (429)"] == 1
    assert facts["achieved rate (requests/s)"] == 2.0
    assert facts["duration (s)"] == 12.0
    assert facts["fetch strategy"] == "list"
    assert facts["run id"] == "20240501-100000-abcd"
    assert facts["dry run"] == "no"
    assert facts["input sha256"] == "ab" * 32
    assert facts["journal"] == "/data/.segsync/run.jsonl"
    assert facts["rate.requests_per_second"] == 5
    assert facts["strict"] == "false"
    assert DRY_RUN_BANNER not in facts


def summary_sheet(path: Path) -> list[tuple[Any, ...]]:
    return sheet_rows(path, "Summary")


def summary_text(path: Path) -> list[str]:
    return [str(c) for row in summary_sheet(path) for c in row if c is not None]


def test_summary_of_dry_run_rollback_and_abort(tmp_path: Path) -> None:
    path = write_results(run_result(dry_run=True), tmp_path / "p.xlsx")
    preview = summary(path)
    assert DRY_RUN_BANNER in preview
    assert preview["dry run"] == "yes"
    assert preview["Sync preview: run details"] is None  # the title
    shown = summary_sheet(path)
    view = build_view(run_result(dry_run=True))  # the HTML report's words
    assert shown[0][0] == view.title == "Sync preview"
    assert shown[1][:2] == (view.status_label, view.headline)
    assert "nothing was changed" in view.headline
    assert "Nothing was changed: this is a preview. To send it:" in summary_text(path)

    path = write_results(run_result(command="rollback"), tmp_path / "r.xlsx")
    assert summary_sheet(path)[0][0] == "Rollback results"
    assert "Rollback results: run details" in summary(path)

    path = write_results(run_result(aborted="401 Unauthorized"), tmp_path / "a.xlsx")
    aborted = summary(path)
    assert "Run aborted: 401 Unauthorized" in aborted
    assert aborted["exit code"] == 3
    assert summary_sheet(path)[1][0] == "Stopped early"
    assert "The run stopped early: 401 Unauthorized" in summary_text(path)


# --- export ------------------------------------------------------------------------------------


def export_segments() -> Iterator[Segment]:
    """A generator, as the client would stream it."""
    yield segment(1, code="00123", name="=1+1", description=None)
    yield segment(2, code="007", externalIdentifier="-5", name=XML_INJECTION)
    yield segment(2**62, campaignId=2**62, code="0", modifiedDateTime=None)


def test_export_round_trips_through_calamine(tmp_path: Path) -> None:
    path = write_export(export_segments(), tmp_path / "export.xlsx")

    workbook = CalamineWorkbook.from_path(str(path))
    assert workbook.sheet_names == ["Segments", "About"]
    header, *rows = workbook.get_sheet_by_name("Segments").to_python()
    assert header == list(EXPORT_HEADERS)
    assert header[:6] == ["id", "campaignId", "name", "code", "description", "externalIdentifier"]
    records = [dict(zip(header, row, strict=True)) for row in rows]
    assert [r["code"] for r in records] == ["00123", "007", "0"]
    assert records[0]["name"] == "=1+1"
    assert records[0]["description"] == ""  # None → blank (= keep on the way back)
    assert records[0]["modifiedDateTime"] == "2024-04-30T09:15:00.123Z"
    assert records[1]["externalIdentifier"] == "-5"
    assert records[1]["name"] == XML_INJECTION
    assert records[2]["id"] == str(2**62)  # beyond Excel's 15 digits: text, exact
    assert records[2]["campaignId"] == str(2**62)
    assert_no_formulas(path)
    about = " ".join(str(r[0]) for r in workbook.get_sheet_by_name("About").to_python())
    assert "#CLEAR" in about
    assert "modifiedDateTime" in about


def test_export_leaves_unstorable_values_blank(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    long_text = "x" * (EXCEL_MAX_TEXT + 1)
    with caplog.at_level(logging.WARNING, logger="segsync.output.export"):
        path = write_export([segment(9, description=long_text)], tmp_path / "e.xlsx")
    header, row = CalamineWorkbook.from_path(str(path)).get_sheet_by_name("Segments").to_python()
    assert row[header.index("description")] == ""
    assert "segment 9: description left blank" in caplog.text


def test_export_csv_is_faithful_and_warns(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="segsync.output.export"):
        path = write_export(export_segments(), tmp_path / "export.csv")
    with path.open(encoding="utf-8-sig", newline="") as fh:
        header, *rows = list(csv.reader(fh))
    assert header == list(EXPORT_HEADERS)
    assert rows[0][header.index("name")] == "=1+1"  # no ' prefix: it would be read back
    assert rows[0][header.index("code")] == "00123"
    assert "formula" in caplog.text


def test_empty_export_has_headers(tmp_path: Path) -> None:
    path = write_export([], tmp_path / "e.xlsx")
    sheet = CalamineWorkbook.from_path(str(path)).get_sheet_by_name("Segments").to_python()
    assert sheet == [list(EXPORT_HEADERS)]


# --- default path ------------------------------------------------------------------------------


def test_default_results_path(tmp_path: Path) -> None:
    now = datetime(2024, 5, 1, 9, 8, 7)
    edits = tmp_path / "edits.xlsx"
    first = default_results_path(edits, out_dir=None, kind="results", now=now)
    assert first == tmp_path / "edits_results_20240501-090807.xlsx"
    first.touch()
    again = default_results_path(edits, out_dir=None, kind="results", now=now)
    assert again.name == "edits_results_20240501-090807-2.xlsx"

    out = tmp_path / "reports"
    csv_path = default_results_path(edits, out_dir=out, kind="preview", fmt="csv", now=now)
    assert csv_path == out / "edits_preview_20240501-090807.csv"
    nameless = default_results_path(None, out_dir=out, kind="rollback", now=now)
    assert nameless.name == "segsync_rollback_20240501-090807.xlsx"
    with pytest.raises(ValueError):
        default_results_path(edits, out_dir=None, kind="bogus")


# --- text a cell cannot hold -------------------------------------------------------------------


def test_broken_unicode_does_not_break_the_report(tmp_path: Path) -> None:
    row = RowResult(0, 2, 1, Outcome.FAILED, error="server said \udcff")
    path = write_results(run_result([row]), tmp_path / "r.xlsx")
    assert as_dicts(path)[0]["error"] == "server said \ufffd"
    csv_path = write_results(run_result([row]), tmp_path / "r.csv")
    with csv_path.open(encoding="utf-8-sig", newline="") as fh:
        header, record = list(csv.reader(fh))
    assert record[header.index("error")] == "server said ?"  # unencodable → "?", not a crash
