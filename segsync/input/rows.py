"""A :class:`Table` → an :class:`EditSet`: every data row validated, duplicates flagged.

A fully empty row is skipped (row numbers stay the sheet's); any other row needs an id, even
one whose only values sit in unknown or read-only columns (a totals row is an error, not
silently dropped). Identical repeats of an id get ``duplicate_of``; differing repeats are all
errors.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Final

from segsync.config import InputSettings
from segsync.errors import FileTooLargeError, NoDataError
from segsync.input.cells import KEEP, CellError, text_of
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
    """Validate every non-empty data row; also count values in columns without a header."""
    out: list[RowEdit] = []
    headerless_counts = dict.fromkeys(cols.headerless, 0)
    flagged = table.flags  # rows whose blank-looking cells are Excel errors are rows too
    for k, cells in enumerate(table.rows):
        if not has_content(cells) and (not flagged or table.first_row + k not in flagged):
            continue
        if len(out) >= max_rows:
            raise _too_many_rows(table, max_rows, k)
        edit = _parse_row(len(out), table.first_row + k, cells, table, cols, flags)
        if table.strict_width and len(cells) > cols.width:
            _check_overflow(edit, cells, table, cols.width)
        if headerless_counts:
            for j in headerless_counts:
                if j < len(cells) and has_content((cells[j],)):
                    headerless_counts[j] += 1
        out.append(edit)
    return out, headerless_counts


_FAILED: Final = object()


def _parse_row(
    index: int,
    row: int,
    cells: Sequence[object],
    table: Table,
    cols: Columns,
    flags: dict[int, dict[int, str]],
) -> RowEdit:
    """One row's cells through their parsers (the hot loop: kept flat on purpose)."""
    n = len(cells)
    flagged = flags.get(row) if flags else None
    values: dict[str, Any] = {}
    errors: list[RowError] = []
    for j, name, header, parse in cols.plan:
        raw = cells[j] if j < n else ""
        if flagged is not None and j in flagged and raw == "":
            errors.append(RowError(flagged[j], table.ref(row, j, header)))
            values[name] = _FAILED
            continue
        try:
            value = parse(raw)
        except CellError as exc:
            errors.append(RowError(exc.message, table.ref(row, j, header), name, exc.held))
            values[name] = _FAILED
            continue
        if value is not KEEP:
            values[name] = value
    segment_id = values.pop("id", KEEP)
    modified = values.pop(MODIFIED, None)
    if segment_id is KEEP:
        message = "the segment id is blank; every row needs one"
        errors.insert(0, RowError(message, table.ref(row, cols.id_j, cols.id_header)))
    if errors:
        values = {key: value for key, value in values.items() if value is not _FAILED}
    return RowEdit(
        index=index,
        source_row=row,
        segment_id=segment_id if segment_id.__class__ is int else None,
        values=values,
        expected_modified=modified if modified.__class__ is str else None,
        extras={key: text_of(cells[j]) if j < n else "" for j, key in cols.extras},
        errors=errors,
        numeric_code=cols.code_j is not None
        and "code" in values
        and _is_numeric(cells[cols.code_j], table.untyped),
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
    by_id: dict[int, list[RowEdit]] = {}
    for edit in rows:
        if edit.segment_id is not None:
            by_id.setdefault(edit.segment_id, []).append(edit)
    for segment_id, group in by_id.items():
        if len(group) < 2:
            continue
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
