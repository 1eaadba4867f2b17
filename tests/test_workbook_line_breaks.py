"""A value written on two lines shows both in the Results sheet: the segment's current
description (or your own column) holding a line break is wrapped, its row tall enough."""

from __future__ import annotations

from pathlib import Path

import openpyxl

from segsync.outcomes import Outcome, RowResult
from segsync.output.results import write_results
from tests.test_report import run_result, segment


def test_a_value_with_a_line_break_is_wrapped_in_the_results_sheet(tmp_path: Path) -> None:
    two_lines = "Suppress anyone who gave\nin the last 60 days."
    rows = [
        RowResult(0, 2, 5, Outcome.UNCHANGED, segment=segment(5, description=two_lines)),
        RowResult(1, 3, 6, Outcome.UNCHANGED, segment=segment(6), extras={"Note": "first\nsecond"}),
        RowResult(2, 4, 7, Outcome.UNCHANGED, segment=segment(7, description="one line")),
    ]
    results = openpyxl.load_workbook(write_results(run_result(rows), tmp_path / "r.xlsx"))[
        "Results"
    ]
    header = [c.value for c in results[1]]
    described = results.cell(row=2, column=header.index("current description") + 1)
    assert described.value == two_lines
    assert described.alignment.wrap_text
    assert results.row_dimensions[2].height >= 15 * 2
    note = results.cell(row=3, column=header.index("Note") + 1)
    assert note.value == "first\nsecond" and note.alignment.wrap_text
    assert results.row_dimensions[3].height >= 15 * 2
    plain = results.cell(row=4, column=header.index("current description") + 1)
    assert not plain.alignment.wrap_text  # one-line values keep one-line rows
    assert results.row_dimensions[4].height is None
