"""The Results sheet: one row per input row, in input order, streamed.

The columns and the cell values come from ``segsync.output.rows`` (the one renderer, shared
with ``RunResult.to_dataframe()``); this module adds what only a sheet has: column widths,
wrapped text with row heights that fit it, number formats for the stats (chosen by
``segsync.output.stats``), the outcome colours, highlighted cells for changed and differing
fields, a frozen header, a filter, and a landscape print layout one page wide with the header
row repeated on every page.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from itertools import islice

import xlsxwriter
from xlsxwriter.format import Format

from segsync.outcomes import RowResult
from segsync.output.rows import FIXED_HEADERS, RESULTS_SHEET, ResultsLayout
from segsync.output.stats import is_time_field
from segsync.output.styles import Styles, styles
from segsync.output.workbook import (
    INDENT_WIDTH,
    WIDTH_SAMPLE_ROWS,
    RowHeights,
    cell_writers,
    set_print_layout,
    text_lines,
)
from segsync.output.xlsx_safety import write_storable_text, write_text

#: Excel's day 0 for dates from 1 March 1900 on (before it, Excel counts a 29 February 1900).
EXCEL_EPOCH, EXCEL_EPOCH_LIMIT = datetime(1899, 12, 30), datetime(1900, 3, 1)
ONE_DAY = timedelta(days=1)

#: Widest a column gets, by header (text wraps beyond it); others get ``DEFAULT_MAX``. Narrow
#: enough that the sheet prints one page wide at a scale a person can still read.
MAX_WIDTHS: dict[str, int] = {
    "outcome": 14,
    "changed fields": 16,
    "before": 28,
    "after": 28,
    "error": 30,
    "differences": 14,
    "campaignName": 18,
    "current name": 24,
    "current code": 12,
    "current description": 26,
    "current externalIdentifier": 20,
}
DEFAULT_MAX, STAT_MAX, MIN_WIDTH = 16, 20, 7
#: A stat's value as the API sends it is about as wide as the number shown; a time is not.
TIME_WIDTH = 19
#: Columns that hold short values, whole numbers right-aligned with a little space after
#: them.
NARROW: frozenset[str] = frozenset(
    {"source row", "id", "outcome", "HTTP status", "attempts", "current campaignId"}
)
#: Columns that hold several lines (one per changed field) or a long message: wrapped, and
#: their row as tall as their lines. Other text (names, descriptions, your columns) stays on
#: one line, cut at the column's edge as a spreadsheet does, so that every row of a long
#: sheet keeps the same height; the Changes sheet shows whole values.
WRAPPED: tuple[str, ...] = ("changed fields", "before", "after", "error", "differences")
#: Text right of a column of numbers: indented, so that it does not touch them.
INDENTED: frozenset[str] = frozenset({"current description"})


def write_results_sheet(
    workbook: xlsxwriter.Workbook,
    layout: ResultsLayout,
    rows: Sequence[RowResult],
    *,
    title: str,
) -> None:
    """Header, then one row per result, strictly in order (constant_memory needs that)."""
    look = styles(workbook)
    sheet = workbook.add_worksheet(RESULTS_SHEET)
    headers = layout.headers
    widths = _widths(layout, rows)
    wrapped = [headers.index(h) for h in WRAPPED]
    for col, width in enumerate(widths):
        sheet.set_column(col, col, width, _column_format(look, headers[col], col in wrapped))
    set_print_layout(sheet, title=title, landscape=True, repeat_header=True)
    sheet.freeze_panes(1, 3)
    header_lines = max(text_lines(h, w) for h, w in zip(headers, widths, strict=True))
    if header_lines > 1:
        sheet.set_row(0, 15.0 * header_lines)
    for col, header in enumerate(headers):
        write_text(sheet, 0, col, header, look.table_header)
    last = _write_rows(sheet, look, layout, rows, widths, wrapped)
    sheet.autofilter(0, 0, max(last, 1), len(headers) - 1)


def _write_rows(
    sheet: xlsxwriter.worksheet.Worksheet,
    look: Styles,
    layout: ResultsLayout,
    rows: Sequence[RowResult],
    widths: list[int],
    wrapped: list[int],
) -> int:
    """The rows; the hot loop of a big report, so it avoids work per cell where it can.

    Cells carry a format only where they need one (a colour, a number format, wrapping):
    every format is XML in every cell of a 100,000-row file. Every cell is top-aligned by the
    workbook's default format (``workbook.XLSX_OPTIONS``), so a tall row reads from its top.
    """
    outcome_col = FIXED_HEADERS.index("outcome")
    current = layout.current_column
    outcome_formats = look.outcome
    changed, different, number = look.changed, look.different, look.number
    fits = [(c, max(widths[c] // 2, 1)) for c in wrapped]  # wide characters count twice
    # an indent takes about two characters of the column's width
    text_widths = [w - INDENT_WIDTH if c in wrapped else w for c, w in enumerate(widths)]
    heights = RowHeights(sheet, text_widths)
    headers = layout.headers
    plain = [_column_format(look, h, c in wrapped) for c, h in enumerate(headers)]
    write_string, write_number = cell_writers(sheet)
    write_blank, write_datetime = sheet.write_blank, sheet.write_datetime
    number_formats: dict[int, str] = {}
    known: dict[str, Format] = {}
    r = 0
    for r, row in enumerate(rows, start=1):
        number_formats.clear()
        cells = layout.cells(row, number_formats)
        formats = plain.copy()
        formats[outcome_col] = outcome_formats[row.outcome]
        for col, num_format in number_formats.items():
            found = known.get(num_format)
            if found is None:
                found = known[num_format] = number(num_format)
            formats[col] = found
        if row.changes:
            for change in row.changes:
                if change.field in current:
                    formats[current[change.field]] = changed
            for name in row.differences:
                if name in current:
                    formats[current[name]] = different
        if row.changes or row.error or row.differences:  # else the wrapped cells are blank
            tall = [
                (c, text)
                for c, fit in fits
                if type(text := cells[c]) is str and (len(text) > fit or "\n" in text)
            ]
            heights.fit(r, tall)
        else:
            heights.fit(r, ())
        for c, (cell, fmt) in enumerate(zip(cells, formats, strict=True)):
            if cell is None:
                if fmt is not None and fmt is not plain[c]:
                    write_blank(r, c, None, fmt)  # a cleared field is still a changed cell
            elif type(cell) is str:
                if cell.startswith("<r>"):  # see xlsx_safety: "<r>…</r>" needs escaping
                    write_storable_text(sheet, r, c, cell, fmt)
                else:
                    write_string(r, c, cell, fmt)
            elif type(cell) is not datetime:
                write_number(r, c, cell, fmt)
            elif cell >= EXCEL_EPOCH_LIMIT:
                # A date is a number of days since Excel's epoch (xlsxwriter's conversion is
                # slower, and the same for every date after February 1900).
                write_number(r, c, (cell - EXCEL_EPOCH) / ONE_DAY, fmt)
            else:
                write_datetime(r, c, cell, fmt)
    return r


def _column_format(look: Styles, header: str, wrapped: bool) -> Format | None:
    """Wrapped text a little away from its left neighbour; a text after a number column
    indented too; the rest needs no format (every format is XML in every cell)."""
    if wrapped:
        return look.wrap_indent
    return look.indent if header in INDENTED else None


def _widths(layout: ResultsLayout, rows: Sequence[RowResult]) -> list[int]:
    """From the header's longest word and a sample of values, within each column's limits."""
    headers = layout.headers
    widths = [max(map(len, h.split())) for h in headers]
    for row in islice(rows, WIDTH_SAMPLE_ROWS):
        for col, value in enumerate(layout.values(row)):
            if value is None:
                continue
            text = value if type(value) is str else str(value)
            longest = max(map(len, text.split("\n"))) if "\n" in text else len(text)
            if longest > widths[col]:
                widths[col] = longest
    limits = [MAX_WIDTHS.get(h, DEFAULT_MAX) for h in headers]
    for col, field in layout.stat_columns:
        limits[col] = STAT_MAX  # the API's names are single words: they cannot wrap
        if is_time_field(field):
            widths[col] = TIME_WIDTH
    return [min(max(w + 2, MIN_WIDTH), limit) for w, limit in zip(widths, limits, strict=True)]
