"""The results workbook as people read it: Summary, Problems, Changes, Results, Run details.

Re-read with openpyxl (cell types, number formats, alignment, print setup) and by its XML
(the chart). The words are the views' words (``segsync.output.views`` and ``wording``), the
same the HTML report shows.
"""

from __future__ import annotations

import zipfile
from datetime import datetime
from pathlib import Path
from typing import Any

import openpyxl
import pytest

from segsync.outcomes import PROBLEM_OUTCOMES, FieldChange, Outcome, RowResult
from segsync.output.read_back import read_outcomes
from segsync.output.results import write_results
from segsync.output.tables import CHANGE_COLUMNS, NO_PROBLEMS, PROBLEM_COLUMNS, write_changes_sheet
from segsync.output.views import build_view
from segsync.output.wording import OUTCOME_LABELS, problem_view
from segsync.output.workbook import streaming_workbook
from tests.test_report import (
    FORMULA_PAYLOADS,
    XML_INJECTION,
    assert_no_formulas,
    every_outcome_rows,
    hostile_row,
    run_result,
    segment,
)

SHEETS = ["Summary", "Problems", "Changes", "Results", "Run details"]
TABLES = ["Problems", "Changes", "Results"]


def book(path: Path) -> openpyxl.Workbook:
    return openpyxl.load_workbook(path)


def table(path: Path, name: str) -> list[dict[str, Any]]:
    rows = [tuple(r) for r in book(path)[name].iter_rows(values_only=True)]
    header, *lines = rows
    return [dict(zip(header, line, strict=True)) for line in lines]


def sandbox_segment(seg_id: int, **overrides: Any) -> Any:
    """Stats as the sandbox (and Raise) send them: display text."""
    values: dict[str, Any] = {
        "totalGiftAmount": "$19,478.17",
        "averageGiftAmount": "€1,200.50",
        "medianGiftAmount": "n/a",
        "highestGiftAmount": "£3.00",
        "totalDonors": 12,
        "totalGifts": "1,234",
        "totalVisitors": 400,
        "conversionRate": "16.36%",
        "modifiedDateTime": "2024-07-01T12:00:00.123456+00:00",
    }
    values.update(overrides)
    return segment(seg_id, **values)


# --- sheets ----------------------------------------------------------------------------------


def test_sheet_order(tmp_path: Path) -> None:
    path = write_results(run_result(), tmp_path / "r.xlsx")
    assert book(path).sheetnames == SHEETS
    assert book(write_results(run_result([]), tmp_path / "e.xlsx")).sheetnames == SHEETS


def test_problems_lists_exactly_the_problem_rows(tmp_path: Path) -> None:
    rows = every_outcome_rows()
    rows[3].cell = "Sheet1!D5"
    result = run_result(rows)
    lines = table(write_results(result, tmp_path / "r.xlsx"), "Problems")

    problems = [r for r in rows if r.outcome in PROBLEM_OUTCOMES]
    assert len(problems) == len(PROBLEM_OUTCOMES)
    assert list(lines[0]) == [c.header for c in PROBLEM_COLUMNS]
    assert [(x["source row"], x["id"]) for x in lines] == [
        (r.source_row, r.segment_id) for r in problems
    ]
    for line, row in zip(lines, problems, strict=True):
        view = problem_view(row, result.sheet)  # the HTML report's words
        assert line["cell"] == view.cell
        assert line["problem"] == view.label
        assert line["reason"] == view.reason
        assert line["what to do"] == view.advice
        assert line["segment"] == (view.segment_name or None)
        status = row.http_status if row.http_status and row.http_status >= 300 else None
        assert line["HTTP status"] == status
    invalid = next(x for x in lines if x["problem"] == OUTCOME_LABELS[Outcome.INVALID][0])
    assert (invalid["cell"], invalid["reason"]) == ("Sheet1!C4", "code: required")


def test_no_problems_says_so(tmp_path: Path) -> None:
    rows = [
        RowResult(0, 2, 5, Outcome.UPDATED, [FieldChange("name", "a", "b")], segment=segment(5))
    ]
    sheet = book(write_results(run_result(rows), tmp_path / "r.xlsx"))["Problems"]
    values = [tuple(r) for r in sheet.iter_rows(values_only=True)]
    assert values[1][0] == NO_PROBLEMS
    assert len(values) == 2


def test_changes_has_one_line_per_changed_field(tmp_path: Path) -> None:
    rows = [
        RowResult(
            0,
            2,
            5,
            Outcome.UPDATED,
            [FieldChange("name", "Old", "New"), FieldChange("description", "x\ny", None)],
            segment=segment(5, name="New"),
        ),
        RowResult(1, 3, 6, Outcome.UNCHANGED, segment=segment(6)),
        RowResult(
            2,
            4,
            7,
            Outcome.UPDATED_WITH_DIFFERENCES,
            [FieldChange("code", "1", "001")],
            segment=segment(7, code="1"),
            differences=["code"],
        ),
        RowResult(3, 5, 8, Outcome.FAILED, [FieldChange("campaignId", 7, 9)], segment=segment(8)),
    ]
    lines = table(write_results(run_result(rows), tmp_path / "r.xlsx"), "Changes")

    assert list(lines[0]) == [*(c.header for c in CHANGE_COLUMNS), "stored by Raise"]
    assert [tuple(x.values()) for x in lines] == [
        (2, 5, "New", "name", "Old", "New", "updated", None),
        (2, 5, "New", "description", "x\ny", "(empty)", "updated", None),
        (4, 7, "Segment 7", "code", "1", "001", OUTCOME_LABELS[rows[2].outcome][0], "1"),
        (5, 8, "Segment 8", "campaignId (move)", "7", "9", "failed", None),
    ]
    assert sum(len(r.changes) for r in rows) == len(lines)
    # the same lines as the HTML report's changes table
    view = build_view(run_result(rows))
    assert [(c.source_row, c.field, c.before, c.after, c.label) for c in view.changes] == [
        (x["source row"], x["field"], x["before"], x["after"], x["outcome"]) for x in lines
    ]


def test_no_changes_says_so(tmp_path: Path) -> None:
    rows = [RowResult(0, 2, 5, Outcome.UNCHANGED, segment=segment(5))]
    sheet = book(write_results(run_result(rows, dry_run=True), tmp_path / "r.xlsx"))["Changes"]
    assert [tuple(r) for r in sheet.iter_rows(values_only=True)][1][0] == (
        "No changes would be sent."
    )


# --- stats -----------------------------------------------------------------------------------


@pytest.mark.usefixtures("new_york")
def test_stats_are_numbers_with_number_formats(tmp_path: Path) -> None:
    rows = [RowResult(0, 2, 5, Outcome.UNCHANGED, segment=sandbox_segment(5))]
    result = run_result(rows)
    path = write_results(result, tmp_path / "r.xlsx")
    sheet = book(path)["Results"]
    header = [c.value for c in sheet[1]]

    def cell(name: str) -> Any:
        return sheet.cell(row=2, column=header.index(name) + 1)

    expected = {
        "totalGiftAmount": (19478.17, '"$"#,##0.00'),
        "averageGiftAmount": (1200.5, '"€"#,##0.00'),
        "highestGiftAmount": (3.0, '"£"#,##0.00'),
        "totalDonors": (12, "#,##0"),
        "totalGifts": (1234, "#,##0"),
        "totalVisitors": (400, "#,##0"),
        "conversionRate": (0.1636, "0.00%"),
    }
    for name, (value, number_format) in expected.items():
        assert cell(name).data_type == "n", name
        assert cell(name).value == value, name
        assert cell(name).number_format.startswith(number_format), name
    modified = cell("modifiedDateTime (local time)")
    assert modified.value == datetime(2024, 7, 1, 8, 0, 0, 123000)  # New York, summer
    assert modified.number_format == "yyyy-mm-dd hh:mm:ss"
    assert cell("medianGiftAmount").data_type == "s"  # the API's text, kept
    assert cell("medianGiftAmount").value == "n/a"
    assert cell("campaignName").value == "Spring appeal"

    # to_dataframe() holds what the cells hold
    frame_row = result.to_dataframe().iloc[0]
    for name in [*expected, "medianGiftAmount", "modifiedDateTime (local time)"]:
        assert frame_row[name] == cell(name).value, name
    # the zone is named
    details = {r[0]: r[1] for r in book(path)["Run details"].iter_rows(values_only=True)}
    assert details["local times in this workbook"] in ("EDT (UTC-04:00)", "EST (UTC-05:00)")


# --- how it reads and prints -----------------------------------------------------------------


def test_multi_line_cells_wrap_and_their_rows_are_tall(tmp_path: Path) -> None:
    changes = [
        FieldChange("name", "Old", "New"),
        FieldChange("code", "1", "2"),
        FieldChange("description", "a " * 60, "b"),
    ]
    rows = [
        RowResult(0, 2, 5, Outcome.UPDATED, changes, segment=segment(5)),
        RowResult(1, 3, 6, Outcome.UNCHANGED, segment=segment(6)),
    ]
    workbook = book(write_results(run_result(rows), tmp_path / "r.xlsx"))
    results = workbook["Results"]
    header = [c.value for c in results[1]]
    for name in ("before", "after", "changed fields"):
        assert results.cell(row=2, column=header.index(name) + 1).alignment.wrap_text, name
    before = results.cell(row=2, column=header.index("before") + 1)
    assert before.value.count("\n") == 2
    assert results.row_dimensions[2].height >= 15 * 4  # three fields, one of them long
    assert results.row_dimensions[3].height is None  # a one-line row keeps the default

    changes_sheet = workbook["Changes"]
    assert changes_sheet["D4"].value == "description"
    assert changes_sheet["E4"].value == "a " * 60
    assert changes_sheet["E4"].alignment.wrap_text
    assert changes_sheet.row_dimensions[4].height >= 15 * 3


def test_print_setup(tmp_path: Path) -> None:
    workbook = book(write_results(run_result(), tmp_path / "r.xlsx"))
    for sheet in workbook:
        setup = sheet.page_setup
        assert sheet.sheet_properties.pageSetUpPr.fitToPage, sheet.title
        assert (setup.fitToWidth or 1) == 1, sheet.title  # 1 is the default, left out
        assert setup.fitToHeight == 0, sheet.title  # as many pages tall as it takes
        assert "Sync results" in sheet.oddHeader.left.text
        assert "&P" in sheet.oddFooter.right.text
    for name in TABLES:
        sheet = workbook[name]
        assert sheet.page_setup.orientation == "landscape", name
        assert sheet.print_title_rows == "$1:$1", name
        assert sheet.freeze_panes is not None, name
        assert sheet.auto_filter.ref is not None and sheet.auto_filter.ref.startswith("A1:")
    for name in ("Summary", "Run details"):
        assert workbook[name].page_setup.orientation == "portrait"


def test_summary_counts_chart_and_next_steps(tmp_path: Path) -> None:
    result = run_result()
    path = write_results(result, tmp_path / "r.xlsx")
    view = build_view(result)
    rows = [tuple(r) for r in book(path)["Summary"].iter_rows(values_only=True)]
    texts = [str(c) for r in rows for c in r if c is not None]

    assert rows[0][0] == view.title
    assert rows[1][:2] == (view.status_label, view.headline)
    for step in view.next_steps:
        assert step.text in texts
        if step.command:
            assert f"    {step.command}" in texts
    start = next(
        i for i, r in enumerate(rows) if r[:3] == ("Outcome", "Rows", "outcome in Results")
    )
    counted = rows[start + 1 : start + 1 + len(view.counts)]
    assert [r[:3] for r in counted] == [(c.label, c.count, c.outcome) for c in view.counts]
    assert rows[start + 1 + len(view.counts)][:2] == ("All rows", len(result.rows))
    for fact in view.facts:
        assert (fact.label, fact.value) in [r[:2] for r in rows], fact.label
    assert "rate.requests_per_second" not in texts  # the configuration is on Run details

    with zipfile.ZipFile(path) as archive:
        charts = [n for n in archive.namelist() if n.startswith("xl/charts/chart")]
        assert len(charts) == 1
        xml = archive.read(charts[0]).decode()
    first, last = start + 2, start + 1 + len(view.counts)  # 1-based rows of the counts
    assert f"<c:f>Summary!$A${first}:$A${last}</c:f>" in xml
    assert f"<c:f>Summary!$B${first}:$B${last}</c:f>" in xml
    assert '<c:barDir val="bar"/>' in xml


def test_empty_run_has_no_chart(tmp_path: Path) -> None:
    path = write_results(run_result([]), tmp_path / "r.xlsx")
    with zipfile.ZipFile(path) as archive:
        assert not [n for n in archive.namelist() if n.startswith("xl/charts/")]
    texts = [c for r in book(path)["Summary"].iter_rows(values_only=True) for c in r]
    assert "The sheet had no rows." in texts


@pytest.mark.parametrize("payload", [*FORMULA_PAYLOADS, XML_INJECTION])
def test_no_formula_anywhere(tmp_path: Path, payload: str) -> None:
    row = hostile_row(payload)
    row.cell = payload
    other = RowResult(1, 3, 6, Outcome.UPDATED, [FieldChange("description", payload, payload)])
    other.segment = sandbox_segment(6, medianGiftAmount=payload, modifiedDateTime=payload)
    path = write_results(
        run_result([row, other], warnings=[payload], aborted=payload), tmp_path / "r.xlsx"
    )
    assert_no_formulas(path)
    for sheet in book(path):
        for line in sheet.iter_rows():
            for cell in line:
                if isinstance(cell.value, str) and cell.value.startswith(("=", "+", "@")):
                    assert cell.data_type == "s", f"{sheet.title}!{cell.coordinate}"


def test_read_back_reads_the_new_workbook(tmp_path: Path) -> None:
    rows = every_outcome_rows()
    path = write_results(run_result(rows), tmp_path / "r.xlsx")
    assert read_outcomes(path) == [(r.source_row, r.outcome.value) for r in rows]


def test_row_heights_are_forgotten_once_written(tmp_path: Path) -> None:
    """Streaming: a tall row's height is not kept once the row is on disk."""
    rows = [
        RowResult(i, i + 2, i, Outcome.UPDATED, [FieldChange("description", "x " * 80, "y")])
        for i in range(2000)
    ]
    with (tmp_path / "t.xlsx").open("wb") as fh, streaming_workbook(fh) as workbook:
        sheet = workbook.add_worksheet("Changes")
        write_changes_sheet(workbook, sheet, run_result(rows), title="t")
        assert len(sheet.row_info) <= 3
        assert len(sheet.row_sizes) <= 3
    heights = book(tmp_path / "t.xlsx")["Changes"].row_dimensions
    assert all(heights[r].height and heights[r].height >= 45 for r in range(2, 2002))


@pytest.mark.usefixtures("new_york")
def test_the_run_times_are_local_like_every_other_time() -> None:
    """Started and Finished read in this computer's time (as the stats do), with the offset."""
    facts = {f.label: f.value for f in build_view(run_result([])).facts}
    assert facts["Started"] == "2024-05-01 06:00:00 -0400"  # 10:00 UTC in New York, summer
    assert facts["Finished"] == "2024-05-01 06:00:12 -0400"
