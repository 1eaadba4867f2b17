"""Shared xlsx plumbing: a streaming workbook, writing one cell, sizing columns.

Every workbook is xlsxwriter in ``constant_memory`` mode: rows are written strictly top to
bottom, left to right (that mode drops anything written out of order), so memory stays flat
however many rows a file has. Text is never reinterpreted as a formula, URL or number.
"""

from __future__ import annotations

import contextlib
import tempfile
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import IO, Any

import xlsxwriter
from xlsxwriter.format import Format
from xlsxwriter.worksheet import Worksheet

from segsync.output.xlsx_safety import write_storable_text

#: Options every workbook is created with: stream rows, and never reinterpret text.
XLSX_OPTIONS: dict[str, Any] = {
    "constant_memory": True,
    "strings_to_formulas": False,
    "strings_to_urls": False,
    "strings_to_numbers": False,
}

#: Excel's sheet height; a longer sheet would silently lose rows.
XLSX_MAX_ROWS = 1_048_576

#: Rows looked at to size columns (the rest are streamed unseen).
WIDTH_SAMPLE_ROWS = 200
MIN_WIDTH, MAX_WIDTH = 6, 60


@contextmanager
def streaming_workbook(fh: IO[bytes]) -> Iterator[xlsxwriter.Workbook]:
    """A constant_memory workbook writing into ``fh``, with its scratch files in a private
    temp folder that is removed whatever happens (xlsxwriter leaves them on an exception)."""
    with tempfile.TemporaryDirectory(prefix="segsync-xlsx-", ignore_cleanup_errors=True) as tmp:
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
    sheet: Worksheet, row: int, col: int, cell: str | int | float, fmt: Format | None = None
) -> None:
    """Write a cell value (from ``segsync.output.xlsx_safety``'s cell rules): text as an inert
    text cell, a number as a number cell."""
    if type(cell) is str:
        write_storable_text(sheet, row, col, cell, fmt)
    else:
        sheet.write_number(row, col, cell, fmt)


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
