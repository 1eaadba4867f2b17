"""A :class:`Table` → an :class:`EditSet`: every data row validated, duplicates flagged.

A fully empty row is skipped (row numbers stay the sheet's); any other row needs an id, even
one whose only values sit in unknown or read-only columns (a totals row is an error, not
silently dropped). Identical repeats of an id get ``duplicate_of``; differing repeats are all
errors.

The work goes a column at a time (:mod:`~segsync.input.columns`): each field's cells through
its rule, then the rows put together from the columns. A row with a problem cell is put
together on its own, cell by cell, so its errors read as they always have.
"""

from __future__ import annotations

import bisect
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from itertools import repeat
from operator import itemgetter
from typing import Any, Final, cast

from segsync.config import InputSettings
from segsync.errors import FileTooLargeError, NoDataError
from segsync.input.cells import KEEP, text_of
from segsync.input.columns import Parsed, parse_column
from segsync.input.editset import EditSet, RowEdit, RowError
from segsync.input.headers import MODIFIED, Columns, map_columns
from segsync.input.messages import shown
from segsync.input.table import Table, has_content


def build_edit_set(table: Table, settings: InputSettings) -> EditSet:
    cols = map_columns(table, settings.clear_marker)
    flags = _all_flags(table, cols)
    rows, headerless_counts = _build_rows(table, cols, flags, settings.max_rows)
    if not rows:
        raise NoDataError(f"{table.where()} has a header row but no data rows.")
    _mark_duplicates(rows, table, cols)
    warnings = [
        *table.warnings,
        *cols.warnings,
        *_headerless_warnings(table, cols, headerless_counts),
    ]
    return EditSet(
        source=table.source,
        sheet=table.sheet,
        rows=rows,
        columns=cols.columns,
        extra_columns=cols.extra_columns,
        warnings=warnings,
        sha256=table.sha256,
        cells={name: (table.col_offset + j, header) for j, name, header, _ in cols.plan},
    )


def _all_flags(table: Table, cols: Columns) -> dict[int, dict[int, str]]:
    """Scan flags plus merged-cell coverage, restricted to the columns that are validated."""
    checked = {j for j, *_ in cols.plan}
    flags: dict[int, dict[int, str]] = {}
    for row, by_col in table.flags.items():
        kept = {j: message for j, message in by_col.items() if j in checked}
        if kept:
            flags[row] = kept
    last_row = table.first_row + len(table.rows) - 1
    for r1, c1, r2, c2 in table.merged:
        span = f"{table.letter(c1)}{r1}:{table.letter(c2)}{r2}"
        message = (
            f"is part of the merged cells {span}, whose value sits only in its first cell; "
            "unmerge them and fill in every cell"
        )
        for j in checked:
            if not c1 <= j <= c2:
                continue
            for row in range(max(r1, table.first_row), min(r2, last_row) + 1):
                if (row, j) != (r1, c1):
                    flags.setdefault(row, {}).setdefault(j, message)
    return flags


def _build_rows(
    table: Table, cols: Columns, flags: dict[int, dict[int, str]], max_rows: int
) -> tuple[list[RowEdit], dict[int, int]]:
    """Validate every non-empty data row, a column at a time; also count values in columns
    without a header.

    Each field's column goes through :func:`~segsync.input.columns.parse_column`, and the
    rows are put together from the columns; a row with a problem cell or a blank id is then
    put together on its own (:func:`_problem_row`), with its errors in column order.
    """
    ids = _column(table.rows, cols.id_j)
    kept = _content_rows(table, ids)
    source = table.rows if kept is None else [table.rows[k] for k in kept]
    if len(source) > max_rows:
        raise _too_many_rows(table, max_rows, max_rows if kept is None else kept[max_rows])
    first = table.first_row
    numbers = range(first, first + len(source)) if kept is None else [first + k for k in kept]
    raw = _columns(source, {j for j, *_ in cols.plan})
    if kept is None:
        raw[cols.id_j] = ids
    columns = [
        _Field(j, name, header, parse_column(rule, raw[j], text=table.untyped))
        for j, name, header, rule in cols.plan
    ]
    _flag_cells(columns, raw, flags, numbers)
    edits = _assemble(table, columns, raw, source, numbers)
    extras = _extras(cols, source)
    for i in sorted({i for col in columns for i in col.bad} | set(columns[0].parsed.keep)):
        edits[i] = _problem_row(i, numbers[i], table, cols, columns, raw)
    if extras is not None:
        for edit, carried in zip(edits, extras, strict=True):
            edit.extras = carried
    if table.strict_width and source and max(map(len, source)) > cols.width:
        for edit, cells in zip(edits, source, strict=True):
            if len(cells) > cols.width:
                _check_overflow(edit, cells, table, cols.width)
    headerless_counts = {
        j: sum(1 for cell in _column(source, j) if has_content((cell,))) for j in cols.headerless
    }
    return edits, headerless_counts


@dataclass(slots=True)
class _Field:
    """A plan column, parsed, and its problem cells: position → (message, field, held)."""

    j: int
    name: str
    header: str
    parsed: Parsed
    bad: dict[int, tuple[str, str | None, str | None]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for i, exc in self.parsed.errors.items():
            self.bad[i] = (exc.message, self.name, exc.held)


def _content_rows(table: Table, ids: list[object]) -> list[int] | None:
    """Positions of the rows that are not empty, or None when no row is empty.

    A row whose id cell (``ids``) holds something has content, so only rows with a blank id
    cell are looked at whole. A row whose blank-looking cells are Excel errors is a row too.
    """
    rows = table.rows
    types = set(map(type, ids))
    if str not in types and type(None) not in types:
        return None
    if types == {str} and all(ids) and not any(map(str.isspace, cast("list[str]", ids))):
        return None
    flagged, first = table.flags, table.first_row
    empty = {
        k
        for k, cell in enumerate(ids)
        if (cell is None or (type(cell) is str and (not cell or cell.isspace())))
        and not has_content(rows[k])
        and (not flagged or first + k not in flagged)
    }
    return [k for k in range(len(rows)) if k not in empty] if empty else None


def _columns(rows: Sequence[Sequence[object]], wanted: set[int]) -> dict[int, Sequence[object]]:
    """The columns ``wanted``: one transposition when every row is as wide (a workbook's are)."""
    if rows and len(set(map(len, rows))) == 1 and max(wanted) < len(rows[0]):
        every = list(zip(*rows, strict=True))
        return {j: every[j] for j in wanted}
    return {j: _column(rows, j) for j in wanted}


def _column(rows: Sequence[Sequence[object]], j: int) -> list[object]:
    """Column ``j`` of ``rows``; a row too short for it has an empty cell there."""
    try:
        return list(map(itemgetter(j), rows))
    except IndexError:
        return [cells[j] if j < len(cells) else "" for cells in rows]


def _flag_cells(
    columns: list[_Field],
    raw: dict[int, Sequence[object]],
    flags: dict[int, dict[int, str]],
    numbers: Sequence[int],
) -> None:
    """A flagged cell (an Excel error, a formula without a value, a merged cell) that reads
    as empty is a problem with the flag's message, whatever its parser made of it."""
    if not flags or not numbers:
        return
    for row, by_col in flags.items():
        i = bisect.bisect_left(numbers, row)
        if i == len(numbers) or numbers[i] != row:
            continue  # an empty row
        for col in columns:
            message = by_col.get(col.j)
            if message is not None and raw[col.j][i] == "":
                col.bad[i] = (message, None, None)


def _assemble(
    table: Table,
    columns: list[_Field],
    raw: dict[int, Sequence[object]],
    source: Sequence[Sequence[object]],
    numbers: Sequence[int],
) -> list[RowEdit]:
    """Every row from its columns, as if it had no problem cell (such rows are redone)."""
    count = len(source)
    editable = [col for col in columns[1:] if col.name != MODIFIED]
    values: list[dict[str, Any]]
    if editable:  # a column at a time: faster than a dict per row from a zip
        name = editable[0].name
        values = [{name: value} for value in editable[0].parsed.values]
        for col in editable[1:]:
            name = col.name
            for row, value in zip(values, col.parsed.values, strict=True):
                row[name] = value
        for col in editable:
            for i in col.parsed.keep:
                del values[i][col.name]
    else:
        values = [{} for _ in range(count)]
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
            _numeric_codes(table, columns, raw, count),
        )
    )


def _extras(cols: Columns, source: Sequence[Sequence[object]]) -> list[dict[str, str]] | None:
    """Each row's cells in the columns segsync does not know, as text (None: no such column)."""
    if not cols.extras:
        return None
    keys = [key for _, key in cols.extras]
    texts = [list(map(text_of, _column(source, j))) for j, _ in cols.extras]
    return [dict(zip(keys, row, strict=True)) for row in zip(*texts, strict=True)]


def _numeric_codes(
    table: Table, columns: list[_Field], raw: dict[int, Sequence[object]], count: int
) -> list[bool]:
    """Per row: the code is set and its cell held a number (in a CSV, bare digits)."""
    code = next((col for col in columns if col.name == "code"), None)
    if code is None:
        return [False] * count
    cells = raw[code.j]
    numeric: list[bool]
    if table.untyped and code.parsed.plain:  # the values are the cells, trimmed
        numeric = list(map(str.isdigit, cast("list[str]", code.parsed.values)))
    elif table.untyped or set(map(type, cells)) == {str}:
        if not table.untyped:
            return [False] * count
        numeric = list(map(str.isdigit, map(str.strip, cast("Sequence[str]", cells))))
    else:
        numeric = [_is_numeric(cell, table.untyped) for cell in cells]
    for i in code.parsed.keep:
        numeric[i] = False
    return numeric


_FAILED: Final = object()


def _problem_row(
    index: int,
    row: int,
    table: Table,
    cols: Columns,
    columns: list[_Field],
    raw: dict[int, Sequence[object]],
) -> RowEdit:
    """A row with a problem cell or a blank id, with its errors in column order."""
    values: dict[str, Any] = {}
    errors: list[RowError] = []
    for col in columns:
        bad = col.bad.get(index)
        if bad is not None:
            message, name, held = bad
            errors.append(RowError(message, table.ref(row, col.j, col.header), name, held))
            values[col.name] = _FAILED
        elif index not in col.parsed.keep:
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
        and _is_numeric(raw[cols.code_j][index], table.untyped),
    )


def _is_numeric(raw: object, untyped: bool) -> bool:
    """A number cell, or bare digits in a CSV: what a spreadsheet makes of a code like 00760."""
    cls = type(raw)
    if cls is int or cls is float:
        return True
    return untyped and type(raw) is str and raw.strip().isdigit()


def _check_overflow(edit: RowEdit, cells: Sequence[object], table: Table, width: int) -> None:
    """CSV cells past the header's last column usually mean a delimiter inside an unquoted
    value, which shifts every later column: a row error, not a warning."""
    for j in range(width, len(cells)):
        text = text_of(cells[j])
        if text:
            edit.errors.append(
                RowError(
                    f"this row has more cells than the header has columns ('{shown(text)}' "
                    "is past the last header); is a delimiter inside an unquoted value?",
                    table.ref(edit.source_row, j, "no header"),
                )
            )
            return


def _too_many_rows(table: Table, max_rows: int, k: int) -> FileTooLargeError:
    total = max_rows + sum(1 for cells in table.rows[k:] if has_content(cells))
    return FileTooLargeError(
        f"{table.where()} has {total:,} data rows, over the limit of {max_rows:,} "
        "(input.max_rows); split it into smaller files or raise the limit."
    )


def _headerless_warnings(table: Table, cols: Columns, counts: dict[int, int]) -> list[str]:
    warnings = []
    for j, reason in cols.headerless.items():
        if counts.get(j):
            warnings.append(
                f"column {table.letter(j)} has no header ({reason}); its {counts[j]:,} "
                "values are ignored."
            )
    return warnings


# ---------------------------------------------------------------------------------- duplicates


def _mark_duplicates(rows: list[RowEdit], table: Table, cols: Columns) -> None:
    """Identical repeats point at the first row; differing repeats are all errors."""
    ids = [edit.segment_id for edit in rows]
    if len(set(ids)) + max(ids.count(None) - 1, 0) == len(ids):
        return  # every id once: the usual sheet
    counts = Counter(ids)
    by_id: dict[int, list[RowEdit]] = {}
    for edit in rows:
        if edit.segment_id is not None and counts[edit.segment_id] > 1:
            by_id.setdefault(edit.segment_id, []).append(edit)
    for segment_id, group in by_id.items():
        signatures = {_signature(edit) for edit in group}
        if len(signatures) == 1:
            for edit in group[1:]:
                edit.duplicate_of = group[0].source_row
            continue
        for edit in group:
            others = [o.source_row for o in group if o is not edit]
            where = f"row {others[0]}" if len(others) == 1 else f"rows {_and_list(others)}"
            edit.errors.append(
                RowError(
                    f"segment {segment_id} also appears on {where} with different values",
                    table.ref(edit.source_row, cols.id_j, cols.id_header),
                )
            )


def _signature(edit: RowEdit) -> tuple[object, ...]:
    return (
        tuple(sorted(edit.values.items())),
        edit.expected_modified,
        tuple(error.message for error in edit.errors),
    )


def _and_list(numbers: list[int]) -> str:
    text = [str(n) for n in numbers]
    return ", ".join(text[:-1]) + " and " + text[-1]
