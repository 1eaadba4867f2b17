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

``ResultsLayout.values`` is a row as segsync holds it (what the CSV shows, as text);
``ResultsLayout.cells`` is that row as the workbook's cells hold it (what ``to_dataframe``
returns): stats that parse as exact numbers become numbers, text is made storable.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from operator import attrgetter
from typing import Any

from segsync.model import STAT_FIELDS, FieldValue
from segsync.outcomes import RowResult
from segsync.output.field_kinds import NUMERIC_STATS, TEXT_FIELDS
from segsync.output.xlsx_safety import CellRule, auto_cell, number_or_text_cell, text_cell

#: A value as segsync holds it: str | int | float | None, plus whatever an extras dict carries.
CellValue = Any
#: A value as a cell holds it: text or an exact number; None is a blank cell.
Cell = str | int | float | None

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


class ResultsLayout:
    """Column headers and per-row values of the results rows (every output's one renderer).

    Values are produced one row at a time and never kept, which is what keeps memory flat
    however many rows a report has.
    """

    def __init__(self, rows: Sequence[RowResult]) -> None:
        self.extra_keys = extra_keys(rows)
        self.headers: list[str] = [
            *FIXED_HEADERS,
            *STAT_FIELDS,
            *CURRENT_HEADERS,
            *unique_headers(
                self.extra_keys, taken=[*FIXED_HEADERS, *STAT_FIELDS, *CURRENT_HEADERS]
            ),
        ]
        self.first_stat = len(FIXED_HEADERS)
        self.first_current = self.first_stat + len(STAT_FIELDS)
        #: editable field → its ``current …`` column
        self.current_column = {f: self.first_current + i for i, f in enumerate(CURRENT_FIELDS)}
        #: how each column's value becomes its cell, chosen once per column
        self.cell_rules: list[CellRule] = [
            *([auto_cell] * len(FIXED_HEADERS)),
            *(number_or_text_cell if f in NUMERIC_STATS else auto_cell for f in STAT_FIELDS),
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

    def cells(self, row: RowResult) -> list[Cell]:
        """One results row as the workbook's cells hold it; None is a blank cell."""
        return [
            None if value is None or value == "" else rule(value)
            for rule, value in zip(self.cell_rules, self.values(row), strict=True)
        ]


def show(value: FieldValue) -> str:
    """A before/after value as a person reads it."""
    return "(empty)" if value is None else str(value)


def extra_keys(rows: Iterable[RowResult]) -> list[str]:
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
