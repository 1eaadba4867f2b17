"""Shared xlsx plumbing: a streaming workbook, writing one cell, sizing columns and rows.

Every workbook is xlsxwriter in ``constant_memory`` mode: rows are written strictly top to
bottom, left to right (that mode drops anything written out of order), so memory stays flat
however many rows a file has. Text is never reinterpreted as a formula, URL or number.
Several sheets can be written this way, each in its own row order; a chart may refer to any
sheet's cells. ``RowHeights`` gives a row with wrapped text the height its lines need (a
streamed sheet cannot be measured afterwards, and LibreOffice does not fit rows on load).
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from typing import IO, Any

import xlsxwriter
from xlsxwriter.format import Format
from xlsxwriter.worksheet import Worksheet

from segsync.output.scratch import scratch_folder
from segsync.output.xlsx_safety import write_storable_text

#: Options every workbook is created with: stream rows, never reinterpret text, and align
#: every cell to the top (the default format, so a cell needs no format of its own for it: in
#: a row made tall by a wrapped cell, the other cells read from the top too).
XLSX_OPTIONS: dict[str, Any] = {
    "constant_memory": True,
    "strings_to_formulas": False,
    "strings_to_urls": False,
    "strings_to_numbers": False,
    "default_format_properties": {"font_name": "Calibri", "font_size": 11, "valign": "top"},
}

#: Excel's sheet height; a longer sheet would silently lose rows.
XLSX_MAX_ROWS = 1_048_576

#: Rows looked at to size columns (the rest are streamed unseen).
WIDTH_SAMPLE_ROWS = 200
MIN_WIDTH, MAX_WIDTH = 6, 60


@contextmanager
def streaming_workbook(fh: IO[bytes] | None) -> Iterator[xlsxwriter.Workbook]:
    """A constant_memory workbook writing into ``fh`` when the block ends, with its scratch
    files in a private temp folder (``scratch``) that is removed whatever happens (xlsxwriter
    leaves them on an exception).

    ``fh`` None: the caller sets ``workbook.filename`` to the file before the block ends, for
    a workbook written over a long time whose file should exist only at the end (xlsxwriter
    writes nothing there before it is closed).
    """
    with scratch_folder() as tmp:
        workbook = xlsxwriter.Workbook(fh, {**XLSX_OPTIONS, "tmpdir": tmp})
        try:
            yield workbook
        except BaseException:
            _discard(workbook)
            raise
        workbook.close()


def _discard(workbook: xlsxwriter.Workbook) -> None:
    """Close a failed workbook's row-data scratch files without assembling a file."""
    for sheet in workbook.worksheets():
        handle = getattr(sheet, "row_data_fh", None)
        if handle is not None:
            with contextlib.suppress(Exception):
                handle.close()


def write_cell(
    sheet: Worksheet,
    row: int,
    col: int,
    cell: str | int | float | datetime,
    fmt: Format | None = None,
) -> None:
    """Write a cell value (from ``segsync.output.xlsx_safety``'s cell rules or
    ``segsync.output.stats``): text as an inert text cell, a number as a number cell, a
    datetime as a date cell (``fmt`` must carry a date format)."""
    if type(cell) is str:
        write_storable_text(sheet, row, col, cell, fmt)
    elif type(cell) is datetime:
        sheet.write_datetime(row, col, cell, fmt)
    else:
        sheet.write_number(row, col, cell, fmt)


def cell_writers(
    sheet: Worksheet,
) -> tuple[Callable[[int, int, str, Format | None], int], Callable[[int, int, Any, Any], int]]:
    """``sheet``'s ``write_string`` and ``write_number`` for a hot loop of row/column cells.

    xlsxwriter wraps both in a decorator that first checks for ``"A1"`` notation; its
    undecorated ``_write_string``/``_write_number`` (same arguments, same checks) save that
    step on every one of a big report's millions of cells. The public methods where an
    xlsxwriter lacks them. Text must already be safe for ``write_string`` (see
    ``xlsx_safety.write_storable_text``).
    """
    return (
        getattr(sheet, "_write_string", sheet.write_string),
        getattr(sheet, "_write_number", sheet.write_number),
    )


def column_widths(headers: Sequence[str], rows: Iterable[Sequence[Any]]) -> list[int]:
    """Widths from the header and a sample of rows (longest line), clamped to a sane range."""
    widths = [len(h) for h in headers]
    for values in rows:
        for col, value in enumerate(values):
            if value is None:
                continue
            text = value if type(value) is str else str(value)
            longest = max(map(len, text.split("\n"))) if "\n" in text else len(text)
            if longest > widths[col]:
                widths[col] = longest
    return [min(max(w + 2, MIN_WIDTH), MAX_WIDTH) for w in widths]


#: Characters of a column's width that an indent of one level takes.
INDENT_WIDTH = 2

#: Points per line of 11-point text (Excel's default row height), and Excel's tallest row.
LINE_HEIGHT, MAX_ROW_HEIGHT = 15.0, 409.0


def text_lines(text: str, width: float) -> int:
    """Lines ``text`` takes when wrapped at spaces in a column ``width`` characters wide.

    A column ``width`` wide holds ``width`` digits of the default font and about a tenth more
    letters of ordinary text (LibreOffice and Excel alike); words are wrapped as a spreadsheet
    wraps them (a word longer than a line is cut), and East Asian wide characters count twice.
    """
    capacity = max(int(width * 1.1), 1)
    if text.isascii() and "\n" not in text and len(text) <= capacity:
        return 1
    return sum(_line_count(line, capacity) for line in text.split("\n"))


def _line_count(line: str, capacity: int) -> int:
    wide = not line.isascii() and _WIDE.search(line) is not None
    size = _display_len(line) if wide else len(line)
    if size <= capacity:
        return 1
    lines, used = 1, 0
    for word in line.split(" "):
        n = _display_len(word) if wide else len(word)
        if used and used + 1 + n <= capacity:
            used += 1 + n
            continue
        if used:
            lines += 1
        # a word longer than a line fills whole lines, and its rest starts the next
        full, used = divmod(n, capacity)
        if full and not used:
            full, used = full - 1, capacity
        lines += full
    return lines


#: East Asian wide and fullwidth characters (the main blocks): two columns each.
_WIDE = re.compile(
    "[\u1100-\u115f\u2e80-\u303e\u3041-\u33ff\u3400-\u4dbf\u4e00-\u9fff\ua000-\ua4cf"
    "\uac00-\ud7a3\uf900-\ufaff\ufe30-\ufe4f\uff00-\uff60\uffe0-\uffe6"
    "\U0001f300-\U0001f64f\U0001f900-\U0001f9ff\U00020000-\U0003fffd]"
)


def _display_len(text: str) -> int:
    return len(text) + len(_WIDE.findall(text))


class RowHeights:
    """Heights for the rows of a streamed sheet whose wrapped cells take several lines.

    ``fit(row, …)`` must come before the row's cells are written. xlsxwriter keeps the height
    of every row it was given until the file is closed; rows already written out are
    forgotten here, so memory stays flat however many rows are tall.
    """

    def __init__(self, sheet: Worksheet, widths: Sequence[float]) -> None:
        self._sheet = sheet
        self._widths = widths
        self._set: list[int] = []

    def fit(self, row: int, cells: Sequence[tuple[int, str]]) -> None:
        """Size ``row`` for its wrapped ``(column, text)`` cells; one line needs nothing."""
        if self._set and self._set[0] < row - 1:
            self._forget(row)
        if not cells:
            return
        widths = self._widths
        lines = max(text_lines(text, widths[col]) for col, text in cells)
        if lines > 1:
            height = min(LINE_HEIGHT * lines, MAX_ROW_HEIGHT)
            self._sheet.set_row(row, height)
            self._set.append(row)

    def _forget(self, row: int) -> None:
        # A row is written out once a cell of a later row is written: rows before the
        # previous one are on disk, and their heights with them.
        info = getattr(self._sheet, "row_info", {})
        sizes = getattr(self._sheet, "row_sizes", {})
        while self._set and self._set[0] < row - 1:
            done = self._set.pop(0)
            info.pop(done, None)
            sizes.pop(done, None)


def set_print_layout(
    sheet: Worksheet, *, title: str, landscape: bool, repeat_header: bool = False
) -> None:
    """Print one page wide (as many pages tall as needed), with the title and page numbers."""
    if landscape:
        sheet.set_landscape()
    sheet.fit_to_pages(1, 0)
    sheet.set_margins(left=0.4, right=0.4, top=0.6, bottom=0.6)
    if repeat_header:
        sheet.repeat_rows(0)
    # "&" starts a header code; a title is segsync's own words, but stay safe.
    safe = title.replace("&", "&&")
    sheet.set_header(f"&L&B{safe}&R&A", {"margin": 0.25})
    sheet.set_footer("&RPage &P of &N", {"margin": 0.25})
