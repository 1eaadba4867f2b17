"""Rows put together from parsed columns: the edits, and a problem row cell by cell.

``segsync.input.rows`` parses a sheet a column at a time; this module turns those columns back
into one ``RowEdit`` per row in a few passes at C speed, and puts a row with a problem cell
together on its own so that its errors read in column order. Also the per-row facts the
columns carry: the unknown columns' text and whether a code cell held a number.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from itertools import repeat
from typing import Any, Final, cast

from segsync.input.cells import KEEP, text_of
from segsync.input.columns import Parsed, column_of
from segsync.input.editset import RowEdit, RowError
from segsync.input.headers import MODIFIED, Columns
from segsync.input.table import Table

__all__ = [
    "ParsedField",
    "assemble_rows",
    "cell_at",
    "extra_cells",
    "is_numeric",
    "numeric_codes",
    "problem_row",
]


@dataclass(slots=True)
class ParsedField:
    """A plan column, parsed, and its problem cells: position → (message, field, held)."""

    j: int
    name: str
    header: str
    parsed: Parsed
    bad: dict[int, tuple[str, str | None, str | None]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for i, exc in self.parsed.errors.items():
            self.bad[i] = (exc.message, self.name, exc.held)


def assemble_rows(
    columns: list[ParsedField], numbers: Sequence[int], numeric: list[bool]
) -> list[RowEdit]:
    """Every row from its columns, as if it had no problem cell (such rows are redone)."""
    count = len(numbers)
    editable = [col for col in columns[1:] if col.name != MODIFIED]
    values = (
        _value_dicts([col.name for col in editable], [col.parsed.values for col in editable])
        if editable
        else [{} for _ in range(count)]
    )
    for col in editable:
        for i in col.parsed.keep:
            del values[i][col.name]
    modified: Iterable[object] = repeat(None)
    for col in columns:
        if col.name == MODIFIED:
            modified = times = list(col.parsed.values)
            for i in col.parsed.keep:
                times[i] = None
    return list(
        map(
            RowEdit,
            range(count),
            numbers,
            columns[0].parsed.values,
            values,
            modified,
            repeat(None),
            repeat(None),
            [{} for _ in range(count)],
            list(map(list, repeat((), count))),
            numeric,
        )
    )


def _value_dicts(keys: list[str], columns: list[list[object]]) -> list[dict[str, Any]]:
    """``{keys[0]: columns[0][i], keys[1]: columns[1][i], …}`` for each row ``i``.

    One dict display per row makes each dict whole, at its final size, in one step; inserting
    a column at a time walks every row's dict once per column, and takes twice as long (60
    against 30 ms for 100,000 rows of five fields, timed alone). A sheet has at most five
    editable fields: displays are written out for that many, and any further key is inserted
    a column at a time. ``keys`` is not empty.
    """
    match keys[:5], columns[:5]:
        case [k0], [c0]:
            values = [{k0: a} for a in c0]
        case [k0, k1], [c0, c1]:
            values = [{k0: a, k1: b} for a, b in zip(c0, c1, strict=True)]
        case [k0, k1, k2], [c0, c1, c2]:
            values = [{k0: a, k1: b, k2: c} for a, b, c in zip(c0, c1, c2, strict=True)]
        case [k0, k1, k2, k3], [c0, c1, c2, c3]:
            values = [
                {k0: a, k1: b, k2: c, k3: d} for a, b, c, d in zip(c0, c1, c2, c3, strict=True)
            ]
        case [k0, k1, k2, k3, k4], [c0, c1, c2, c3, c4]:
            values = [
                {k0: a, k1: b, k2: c, k3: d, k4: e}
                for a, b, c, d, e in zip(c0, c1, c2, c3, c4, strict=True)
            ]
        case _:
            raise ValueError("no keys")
    for key, column in zip(keys[5:], columns[5:], strict=True):
        for row, value in zip(values, column, strict=True):
            row[key] = value
    return values


def extra_cells(cols: Columns, source: Sequence[Sequence[object]]) -> list[dict[str, str]] | None:
    """Each row's cells in the columns segsync does not know, as text (None: no such column)."""
    if not cols.extras:
        return None
    keys = [key for _, key in cols.extras]
    texts = [list(map(text_of, column_of(source, j))) for j, _ in cols.extras]
    return [dict(zip(keys, row, strict=True)) for row in zip(*texts, strict=True)]


def numeric_codes(
    table: Table, columns: list[ParsedField], source: Sequence[Sequence[object]], count: int
) -> list[bool]:
    """Per row: the code is set and its cell held a number (in a CSV, bare digits)."""
    code = next((col for col in columns if col.name == "code"), None)
    if code is None:
        return [False] * count
    numeric: list[bool]
    if table.untyped and code.parsed.plain:  # the values are the cells, trimmed
        numeric = list(map(str.isdigit, cast("list[str]", code.parsed.values)))
        for i in code.parsed.keep:
            numeric[i] = False
        return numeric
    if not table.untyped and code.parsed.plain:  # the fast path took only text cells
        return [False] * count
    cells = column_of(source, code.j)
    if table.untyped or set(map(type, cells)) == {str}:
        if not table.untyped:
            return [False] * count
        numeric = list(map(str.isdigit, map(str.strip, cast("Sequence[str]", cells))))
    else:
        numeric = [is_numeric(cell, table.untyped) for cell in cells]
    for i in code.parsed.keep:
        numeric[i] = False
    return numeric


_FAILED: Final = object()


def problem_row(
    index: int,
    row: int,
    table: Table,
    cols: Columns,
    columns: list[ParsedField],
    keep: list[set[int]],
    code_cell: object,
) -> RowEdit:
    """A row with a problem cell or a blank id, with its errors in column order."""
    values: dict[str, Any] = {}
    errors: list[RowError] = []
    for col, kept in zip(columns, keep, strict=True):
        bad = col.bad.get(index)
        if bad is not None:
            message, name, held = bad
            errors.append(RowError(message, table.ref(row, col.j, col.header), name, held))
            values[col.name] = _FAILED
        elif index not in kept:
            values[col.name] = col.parsed.values[index]
    segment_id = values.pop("id", KEEP)
    modified = values.pop(MODIFIED, None)
    if segment_id is KEEP:
        message = "the segment id is blank; every row needs one"
        errors.insert(0, RowError(message, table.ref(row, cols.id_j, cols.id_header)))
    values = {key: value for key, value in values.items() if value is not _FAILED}
    return RowEdit(
        index=index,
        source_row=row,
        segment_id=segment_id if segment_id.__class__ is int else None,
        values=values,
        expected_modified=modified if modified.__class__ is str else None,
        errors=errors,
        numeric_code=cols.code_j is not None
        and "code" in values
        and is_numeric(code_cell, table.untyped),
    )


def cell_at(source: Sequence[Sequence[object]], i: int, j: int) -> object:
    """The cell in column ``j`` of row ``i``; a row too short for it has an empty cell there."""
    cells = source[i]
    return cells[j] if j < len(cells) else ""


def is_numeric(raw: object, untyped: bool) -> bool:
    """A number cell, or bare digits in a CSV: what a spreadsheet makes of a code like 00760."""
    cls = type(raw)
    if cls is int or cls is float:
        return True
    return untyped and type(raw) is str and raw.strip().isdigit()
