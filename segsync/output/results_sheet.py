"""The Results sheet: one row per input row, in input order, streamed.

The columns and the cell values come from ``segsync.output.rows`` (the one renderer); this
module adds what only a sheet has: column widths and formats, the outcome colours, highlighted
cells for changed and differing fields, a frozen header and a filter.
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import islice

import xlsxwriter
from xlsxwriter.format import Format

from segsync.outcomes import RowResult
from segsync.output.field_kinds import AMOUNT_STATS, NUMERIC_STATS
from segsync.output.rows import FIXED_HEADERS, RESULTS_SHEET, ResultsLayout
from segsync.output.styles import Styles, styles
from segsync.output.workbook import WIDTH_SAMPLE_ROWS, column_widths
from segsync.output.xlsx_safety import write_storable_text, write_text


def write_results_sheet(
    workbook: xlsxwriter.Workbook, layout: ResultsLayout, rows: Sequence[RowResult]
) -> None:
    """Header, then one row per result, strictly in order (constant_memory needs that)."""
    look = styles(workbook)
    sheet = workbook.add_worksheet(RESULTS_SHEET)
    headers = layout.headers
    sample = (layout.values(r) for r in islice(rows, WIDTH_SAMPLE_ROWS))
    widths = column_widths(headers, sample)
    column_formats = _column_formats(look, headers)
    for col, width in enumerate(widths):
        sheet.set_column(col, col, width, column_formats.get(col))
    sheet.freeze_panes(1, 3)
    sheet.autofilter(0, 0, len(rows), len(headers) - 1)
    for col, header in enumerate(headers):
        write_text(sheet, 0, col, header, look.header)

    outcome_col = FIXED_HEADERS.index("outcome")
    current = layout.current_column
    outcome_formats = look.outcome
    write_number, write_blank = sheet.write_number, sheet.write_blank
    for r, row in enumerate(rows, start=1):
        formats: dict[int, Format] = {outcome_col: outcome_formats[row.outcome]}
        for change in row.changes:
            if change.field in current:
                formats[current[change.field]] = look.changed
        for name in row.differences:
            if name in current:
                formats[current[name]] = look.different
        for c, cell in enumerate(layout.cells(row)):
            fmt = formats.get(c)
            if cell is None:
                if fmt is not None:  # a cleared field is still a changed cell
                    write_blank(r, c, None, fmt)
            elif type(cell) is str:
                write_storable_text(sheet, r, c, cell, fmt)
            else:
                write_number(r, c, cell, fmt)


def _column_formats(look: Styles, headers: Sequence[str]) -> dict[int, Format]:
    """Column-wide formats: wrapped multi-line text, number formats for the stats."""
    formats: dict[int, Format] = {}
    for col, header in enumerate(headers):
        if header in ("before", "after", "error"):
            formats[col] = look.wrap
        elif header in AMOUNT_STATS:
            formats[col] = look.amount
        elif header in NUMERIC_STATS and header != "conversionRate":
            formats[col] = look.integer
    return formats
