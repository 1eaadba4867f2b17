"""The results layout: its columns, and the one renderer of a results row.

Every output that shows results rows reads them from here: the Results sheet, the results CSV
and ``RunResult.to_dataframe()``. Plain Python, no xlsxwriter, so the in-memory views stay
light. One row, left to right (sheet ``Results``, one row per input row, in input order)::

    source row | id | outcome | changed fields | before | after | HTTP status | attempts | error
    | differences | campaignName … modifiedDateTime (the API's stats)
    | current name | current code | current campaignId | current description
    | current externalIdentifier | <unknown input columns, carried through>

``before``/``after`` hold one ``field: value`` line per changed field (``(empty)`` for null).
The ``current …`` columns are the values the API last showed. They are deliberately *not*
named like the API fields, so feeding a results file back into ``segsync sync`` can never send
anything (only ``id`` and the stats are recognised).

``ResultsLayout.values`` is a row as segsync holds it (what the CSV shows under
``csv_headers``, as text); ``ResultsLayout.cells`` is that row as the workbook's cells hold it
(what ``to_dataframe`` returns, under ``headers``): the stats parsed by
``segsync.output.stats`` (amounts, percentages and counts as numbers, times as local
datetimes, the API's text where they do not parse), other text made storable. The two header
lists differ in one name only: the sheet's ``modifiedDateTime (local time)`` says that its
times are converted, where the CSV keeps the API's ``modifiedDateTime`` text.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from operator import attrgetter
from typing import Any, Protocol

from segsync.model import STAT_FIELDS, FieldValue
from segsync.outcomes import RowResult
from segsync.output.field_kinds import TEXT_FIELDS
from segsync.output.stats import LOCAL_TIME_NOTE, StatParser, is_time_field, stat_parser
from segsync.output.xlsx_safety import CellRule, auto_cell, text_cell

#: A value as segsync holds it: str | int | float | None, plus whatever an extras dict carries.
CellValue = Any
#: A value as a cell holds it: text, an exact number or a local datetime; None is blank.
Cell = str | int | float | datetime | None

#: The sheet (in a workbook) that holds the results rows.
RESULTS_SHEET = "Results"

FIXED_HEADERS: tuple[str, ...] = (
    "source row",
    "id",
    "outcome",
    "changed fields",
    "before",
    "after",
    "HTTP status",
    "attempts",
    "error",
    "differences",
)
#: Editable fields in the order a person reads a segment (not the API's order).
CURRENT_FIELDS: tuple[str, ...] = (
    "name",
    "code",
    "campaignId",
    "description",
    "externalIdentifier",
)
CURRENT_HEADERS: tuple[str, ...] = tuple(f"current {f}" for f in CURRENT_FIELDS)
#: The stats' headers in the workbook: times say that they are local times.
STAT_HEADERS: tuple[str, ...] = tuple(
    f"{f} {LOCAL_TIME_NOTE}" if is_time_field(f) else f for f in STAT_FIELDS
)


class HasExtras(Protocol):
    """A row that carries the input's unknown columns: a result, or the edit it comes from."""

    @property
    def extras(self) -> dict[str, Any]: ...


class ResultsLayout:
    """Column headers and per-row values of the results rows (every output's one renderer).

    Values are produced one row at a time and never kept, which is what keeps memory flat
    however many rows a report has.
    """

    def __init__(self, rows: Iterable[HasExtras]) -> None:
        """``rows``: the results, or the edits they come from (only their extras count)."""
        self.extra_keys = extra_keys(rows)
        taken = [*FIXED_HEADERS, *STAT_FIELDS, *STAT_HEADERS, *CURRENT_HEADERS]
        extras = unique_headers(self.extra_keys, taken=taken)
        #: the workbook's (and ``to_dataframe``'s) headers
        self.headers: list[str] = [*FIXED_HEADERS, *STAT_HEADERS, *CURRENT_HEADERS, *extras]
        #: the CSV's headers: the API's names, for machines
        self.csv_headers: list[str] = [*FIXED_HEADERS, *STAT_FIELDS, *CURRENT_HEADERS, *extras]
        self.first_stat = len(FIXED_HEADERS)
        self.first_current = self.first_stat + len(STAT_FIELDS)
        #: editable field → its ``current …`` column
        self.current_column = {f: self.first_current + i for i, f in enumerate(CURRENT_FIELDS)}
        #: (column, field) of each stat
        self.stat_columns: list[tuple[int, str]] = [
            (self.first_stat + i, f) for i, f in enumerate(STAT_FIELDS)
        ]
        self._stat_parsers: list[tuple[int, StatParser]] = [
            (col, stat_parser(f)) for col, f in self.stat_columns
        ]
        #: how each column after the stats turns its value into a cell, chosen once per column
        #: (the fixed columns before them all follow ``auto_cell``; stats ``stats.parse_stat``)
        self._tail_rules: list[CellRule] = [
            *(text_cell if f in TEXT_FIELDS else auto_cell for f in CURRENT_FIELDS),
            *([auto_cell] * len(self.extra_keys)),
        ]
        self._segment_values = attrgetter(*STAT_FIELDS, *CURRENT_FIELDS)
        self._no_segment: list[None] = [None] * (len(STAT_FIELDS) + len(CURRENT_FIELDS))

    def values(self, row: RowResult) -> list[CellValue]:
        """One results row, left to right; None (or ``""``) is a blank cell."""
        changes = row.changes
        values: list[CellValue] = [
            row.source_row,
            row.segment_id,
            row.outcome.value,
            ", ".join(c.field for c in changes) if changes else None,
            "\n".join(f"{c.field}: {show(c.before)}" for c in changes) if changes else None,
            "\n".join(f"{c.field}: {show(c.after)}" for c in changes) if changes else None,
            row.http_status,
            row.attempts,
            row.error or None,
            ", ".join(row.differences) if row.differences else None,
        ]
        if row.segment is None:
            values.extend(self._no_segment)
        else:
            values.extend(self._segment_values(row.segment))
        if self.extra_keys:
            extras = row.extras
            values.extend([extras.get(k) for k in self.extra_keys])
        return values

    def cells(self, row: RowResult, number_formats: dict[int, str] | None = None) -> list[Cell]:
        """One results row as the workbook's cells hold it; None is a blank cell.

        ``number_formats``, when given, receives the number format of each stat cell that
        parsed (column → format, e.g. ``"$"#,##0.00``); the sheet writer passes one in, so a
        stat is parsed once for its value and its look.
        """
        values = self.values(row)
        first, stop = self.first_stat, self.first_current
        cells: list[Cell] = [
            None if value is None or value == "" else auto_cell(value) for value in values[:first]
        ]
        for col, parse in self._stat_parsers:
            value = values[col]
            if value is None or value == "":
                cells.append(None)
                continue
            cell, number_format = parse(value)
            cells.append(cell)
            if number_format is not None and number_formats is not None:
                number_formats[col] = number_format
        cells += [
            None if value is None or value == "" else rule(value)
            for rule, value in zip(self._tail_rules, values[stop:], strict=True)
        ]
        return cells


def show(value: FieldValue) -> str:
    """A before/after value as a person reads it."""
    return "(empty)" if value is None else str(value)


def extra_keys(rows: Iterable[HasExtras]) -> list[str]:
    """Union of the rows' unknown input columns, in first-seen order."""
    seen: dict[str, None] = {}
    for row in rows:
        if row.extras:
            seen.update(dict.fromkeys(row.extras))
    return list(seen)


def unique_headers(keys: Iterable[str], *, taken: Iterable[str]) -> list[str]:
    """Extras headers that cannot be confused with segsync's own columns."""
    used = {h.casefold() for h in taken}
    headers = []
    for key in keys:
        header = key or "(unnamed)"
        if header.casefold() in used:
            header = f"{header} (input)"
        base, n = header, 2
        while header.casefold() in used:
            header, n = f"{base} {n}", n + 1
        used.add(header.casefold())
        headers.append(header)
    return headers
