"""The Problems and Changes sheets: the rows a person must look at, as tables that filter and sort.

Both are streamed like the Results sheet: the run's rows are read once per sheet and each line
is written as it comes, so memory stays flat. Their words come from ``wording.problem_view``
and ``sheet_views.change_views``, exactly as the HTML report and the web page show them.
Every text goes through ``xlsx_safety``: a value that looks like a formula stays text.

* **Problems**: one line per row that is ``invalid``, ``failed``, ``conflict``,
  ``not_found``, ``updated_with_differences`` or ``not_attempted`` (``PROBLEM_OUTCOMES``), in
  input order: ``source row | id | segment | cell | problem | HTTP status | reason | what to do``.
* **Changes**: one line per changed field, in input order: ``source row | id | segment | field
  | before | after | outcome``, plus ``stored by Raise`` when the API stored a value other
  than the one sent.

The segment's name is under ``segment``, not ``segment name``: the loader reads that header as
the ``name`` field, and a results file must never be able to send anything.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import xlsxwriter
from xlsxwriter.format import Format
from xlsxwriter.worksheet import Worksheet

from segsync.outcomes import PROBLEM_OUTCOMES, Outcome, RunResult
from segsync.output.styles import styles
from segsync.output.views import change_views
from segsync.output.wording import problem_view
from segsync.output.workbook import (
    INDENT_WIDTH,
    RowHeights,
    cell_writers,
    set_print_layout,
    text_lines,
)
from segsync.output.xlsx_safety import auto_cell, text_cell, write_storable_text, write_text

PROBLEMS_SHEET = "Problems"
CHANGES_SHEET = "Changes"


@dataclass(frozen=True, slots=True)
class Column:
    header: str
    width: int
    #: long text: wrapped, and the row made as tall as its lines
    wrap: bool = False


PROBLEM_COLUMNS: tuple[Column, ...] = (
    Column("source row", 8),
    Column("id", 11),
    Column("segment", 26, wrap=True),
    Column("cell", 11),
    Column("problem", 20, wrap=True),
    Column("HTTP status", 8),
    Column("reason", 46, wrap=True),
    Column("what to do", 50, wrap=True),
)
CHANGE_COLUMNS: tuple[Column, ...] = (
    Column("source row", 8),
    Column("id", 11),
    Column("segment", 30, wrap=True),
    Column("field", 17),
    Column("before", 36, wrap=True),
    Column("after", 36, wrap=True),
    Column("outcome", 18, wrap=True),
)
STORED_COLUMN = Column("stored by Raise", 24, wrap=True)

NO_PROBLEMS = "No problems: no row needs fixing."


class Table:
    """One streamed table sheet: header row, frozen, filtered, printed landscape one page wide
    with the header repeated on every page; ``add`` writes the next line."""

    def __init__(
        self,
        workbook: xlsxwriter.Workbook,
        sheet: Worksheet,
        columns: Sequence[Column],
        *,
        title: str,
    ) -> None:
        look = styles(workbook)
        self.look = look
        self.sheet = sheet
        self.columns = columns
        widths = [c.width - INDENT_WIDTH if c.wrap else c.width for c in columns]
        self._wrapped = [(i, max(c.width // 2, 1)) for i, c in enumerate(columns) if c.wrap]
        #: each column's format: wrapped cells carry theirs, the others need none
        self.plain: list[Format | None] = [look.wrap_indent if c.wrap else None for c in columns]
        for i, column in enumerate(columns):
            sheet.set_column(i, i, column.width, self.plain[i])
        set_print_layout(sheet, title=title, landscape=True, repeat_header=True)
        sheet.freeze_panes(1, 2)
        lines = max(text_lines(c.header, c.width) for c in columns)
        if lines > 1:
            sheet.set_row(0, 15.0 * lines)
        for i, column in enumerate(columns):
            write_text(sheet, 0, i, column.header, look.table_header)
        self._heights = RowHeights(sheet, widths)
        self._writers = cell_writers(sheet)
        self.row = 0

    def add(self, cells: Sequence[Any], formats: Sequence[Format | None] | None = None) -> None:
        """The next line; None is a blank cell, text is written as inert text, numbers as
        numbers (no datetimes here); ``formats``
        (one per column, e.g. ``with_formats(…)``) replace the columns' own."""
        self.row += 1
        row, sheet = self.row, self.sheet
        tall = [
            (i, text)
            for i, fits in self._wrapped
            if type(text := cells[i]) is str and (len(text) > fits or "\n" in text)
        ]
        self._heights.fit(row, tall)
        write_string, write_number = self._writers
        for i, (cell, fmt) in enumerate(zip(cells, formats or self.plain, strict=True)):
            if cell is None:
                continue
            if type(cell) is not str:
                write_number(row, i, cell, fmt)
            elif cell.startswith("<r>"):  # see xlsx_safety: "<r>…</r>" needs escaping
                write_storable_text(sheet, row, i, cell, fmt)
            else:
                write_string(row, i, cell, fmt)

    def with_formats(self, formats: dict[int, Format]) -> list[Format | None]:
        """The columns' formats, with ``formats`` (column → format) instead of some."""
        merged = self.plain.copy()
        for i, fmt in formats.items():
            merged[i] = fmt
        return merged

    def note(self, text: str) -> None:
        """A line of text under the header where the table has no lines."""
        write_text(self.sheet, 1, 0, text, self.look.note)

    def close(self) -> None:
        self.sheet.autofilter(0, 0, max(self.row, 1), len(self.columns) - 1)


def write_problems_sheet(
    workbook: xlsxwriter.Workbook, sheet: Worksheet, result: RunResult, *, title: str
) -> int:
    """Every problem row, in input order; returns how many."""
    table = Table(workbook, sheet, PROBLEM_COLUMNS, title=title)
    colours = table.look.outcome_wrap
    label_col = 4
    for row in result.rows:
        if row.outcome not in PROBLEM_OUTCOMES:
            continue
        view = problem_view(row, result.sheet)
        status = view.http_status if view.http_status and view.http_status >= 300 else None
        table.add(
            [
                view.source_row,
                _ident(view.segment_id),
                text_cell(view.segment_name) if view.segment_name else None,
                text_cell(view.cell) if view.cell else None,
                text_cell(view.label),
                status,
                text_cell(view.reason),
                text_cell(view.advice),
            ],
            table.with_formats({label_col: colours[Outcome(view.outcome)]}),
        )
    if not table.row:
        table.note(NO_PROBLEMS)
    table.close()
    return table.row


def write_changes_sheet(
    workbook: xlsxwriter.Workbook, sheet: Worksheet, result: RunResult, *, title: str
) -> int:
    """One line per changed field, in input order; returns how many."""
    stored = any(r.differences for r in result.rows)
    columns = (*CHANGE_COLUMNS, STORED_COLUMN) if stored else CHANGE_COLUMNS
    table = Table(workbook, sheet, columns, title=title)
    look = table.look
    colours, muted = look.outcome_wrap, look.empty_value
    for row in result.rows:
        if not row.changes:
            continue
        line = table.with_formats({6: colours[row.outcome]})
        ident = _ident(row.segment_id)
        name = label = None
        views = change_views(
            row, parts=False, campaigns=result.campaign_names, command=result.command
        )
        for view in views:
            if label is None:  # the same for every field of the row
                name = text_cell(view.segment_name) if view.segment_name else None
                label = text_cell(view.label)
            formats = line
            if view.before_empty or view.after_empty:
                formats = line.copy()
                if view.before_empty:
                    formats[4] = muted
                if view.after_empty:
                    formats[5] = muted
            cells: list[Any] = [
                view.source_row,
                ident,
                name,
                view.field,
                text_cell(view.before),
                text_cell(view.after),
                label,
            ]
            if stored:
                cells.append(text_cell(view.stored) if view.stored is not None else None)
            table.add(cells, formats)
    if not table.row:
        table.note("No changes would be sent." if result.dry_run else "No changes.")
    table.close()
    return table.row


def _ident(segment_id: int | None) -> str | int | float | None:
    """An id as a number when Excel holds it exactly, else as text (never rounded)."""
    return None if segment_id is None else auto_cell(segment_id)
