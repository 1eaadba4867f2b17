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

import xlsxwriter
from xlsxwriter.format import Format
from xlsxwriter.worksheet import Worksheet

from segsync.outcomes import RowResult
from segsync.output.rows import FIXED_HEADERS, ResultsLayout
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
#: sheet keeps the same height (the Changes sheet shows whole values), unless the value holds
#: a line break: then it is wrapped, or its second line would be hidden.
WRAPPED: tuple[str, ...] = ("changed fields", "before", "after", "error", "differences")
OUTCOME_COLUMN = FIXED_HEADERS.index("outcome")
#: The segment's text fields: one line in the Results sheet unless a value holds a line break.
MULTILINE_FIELDS: tuple[str, ...] = ("name", "code", "description", "externalIdentifier")
#: Text right of a column of numbers: indented, so that it does not touch them.
INDENTED: frozenset[str] = frozenset({"current description"})


class ResultsSheet:
    """The Results sheet, fed one row at a time in input order (constant_memory needs that).

    A run feeds it while it sends, so that little is left to write after the last answer.
    Column widths come from the first ``WIDTH_SAMPLE_ROWS`` rows, and a row's height from
    those widths, so those rows are held until they are all in (or ``finish`` is called).
    """

    def __init__(
        self, workbook: xlsxwriter.Workbook, sheet: Worksheet, layout: ResultsLayout
    ) -> None:
        self.look = look = styles(workbook)
        self.sheet = sheet
        self.layout = layout
        headers = layout.headers
        self._wrapped = [headers.index(h) for h in WRAPPED]
        #: one-line text columns (the segment's text fields, your columns): a value in them
        #: with a line break is wrapped, its row as tall as its lines
        self._one_line = [
            *(layout.current_column[f] for f in MULTILINE_FIELDS if f in layout.current_column),
            *range(len(headers) - len(layout.extra_keys), len(headers)),
        ]
        self._plain = [_column_format(look, h, c in self._wrapped) for c, h in enumerate(headers)]
        self._held: list[RowResult] | None = []
        self.row = 0
        #: set from the held rows' widths by ``_start``
        self._fits: list[tuple[int, int]] = []
        self._heights: RowHeights | None = None
        self._number_formats: dict[int, str] = {}
        self._known: dict[str, Format] = {}
        self._writers = cell_writers(sheet)

    def add(self, row: RowResult) -> None:
        """Write the next row (or hold it while the widths are still being sampled)."""
        held = self._held
        if held is None:
            self._write(row)
            return
        held.append(row)
        if len(held) >= WIDTH_SAMPLE_ROWS:
            self._start()

    def finish(self, *, title: str) -> None:
        """The rows still held, then the print layout (its header names the run) and filter."""
        if self._held is not None:
            self._start()
        set_print_layout(self.sheet, title=title, landscape=True, repeat_header=True)
        self.sheet.autofilter(0, 0, max(self.row, 1), len(self.layout.headers) - 1)

    def _start(self) -> None:
        """Widths from the held rows, the header, then the held rows themselves."""
        held, self._held = self._held or [], None
        sheet, look, headers = self.sheet, self.look, self.layout.headers
        widths = _widths(self.layout, held)
        for col, width in enumerate(widths):
            sheet.set_column(col, col, width, self._plain[col])
        sheet.freeze_panes(1, 3)
        header_lines = max(text_lines(h, w) for h, w in zip(headers, widths, strict=True))
        if header_lines > 1:
            sheet.set_row(0, 15.0 * header_lines)
        for col, header in enumerate(headers):
            write_text(sheet, 0, col, header, look.table_header)
        self._fits = [(c, max(widths[c] // 2, 1)) for c in self._wrapped]  # wide chars count 2
        # an indent takes about two characters of the column's width
        text_widths = [w - INDENT_WIDTH if c in self._wrapped else w for c, w in enumerate(widths)]
        self._heights = RowHeights(sheet, text_widths)
        for row in held:
            self._write(row)

    def _write(self, row: RowResult) -> None:
        """One row; the hot loop of a big report, so it avoids work per cell where it can.

        Cells carry a format only where they need one (a colour, a number format, wrapping):
        every format is XML in every cell of a 100,000-row file. Every cell is top-aligned by
        the workbook's default format (``workbook.XLSX_OPTIONS``), so a tall row reads from
        its top.
        """
        assert self._heights is not None
        self.row = r = self.row + 1
        look, plain, sheet = self.look, self._plain, self.sheet
        current = self.layout.current_column
        number_formats = self._number_formats
        number_formats.clear()
        cells = self.layout.cells(row, number_formats)
        formats = plain.copy()
        formats[OUTCOME_COLUMN] = look.outcome[row.outcome]
        for col, num_format in number_formats.items():
            found = self._known.get(num_format)
            if found is None:
                found = self._known[num_format] = look.number(num_format)
            formats[col] = found
        if row.changes:
            for change in row.changes:
                if change.field in current:
                    formats[current[change.field]] = look.changed
            for name in row.differences:
                if name in current:
                    formats[current[name]] = look.different
        tall: list[tuple[int, str]] = []
        if row.changes or row.error or row.differences:  # else the wrapped cells are blank
            tall = [
                (c, text)
                for c, fit in self._fits
                if type(text := cells[c]) is str and (len(text) > fit or "\n" in text)
            ]
        for c in self._one_line:
            if type(text := cells[c]) is str and "\n" in text:
                formats[c] = look.wrapped_variant.get(formats[c], look.wrap)
                tall.append((c, text))
        self._heights.fit(r, tall)
        write_string, write_number = self._writers
        for c, (cell, fmt) in enumerate(zip(cells, formats, strict=True)):
            if cell is None:
                if fmt is not None and fmt is not plain[c]:
                    sheet.write_blank(r, c, None, fmt)  # a cleared field is still a changed cell
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
                sheet.write_datetime(r, c, cell, fmt)


def _column_format(look: Styles, header: str, wrapped: bool) -> Format | None:
    """Wrapped text a little away from its left neighbour; a text after a number column
    indented too; the rest needs no format (every format is XML in every cell)."""
    if wrapped:
        return look.wrap_indent
    return look.indent if header in INDENTED else None


def _widths(layout: ResultsLayout, rows: Sequence[RowResult]) -> list[int]:
    """From the header's longest word and the sampled rows' values, within each column's
    limits."""
    headers = layout.headers
    widths = [max(map(len, h.split())) for h in headers]
    for row in rows:
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
