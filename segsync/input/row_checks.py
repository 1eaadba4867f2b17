"""The checks around a sheet's rows: flagged and merged cells, rows past the header's width,
too many rows, values under no header, a mapping naming a missing column, repeated ids.

Each says what it found as a sentence naming the cell or row (a row error or a warning);
``segsync.input.rows`` runs them while it reads the rows.
"""

from __future__ import annotations

import bisect
from collections import Counter
from collections.abc import Sequence

from segsync.errors import FileTooLargeError
from segsync.input.cells import text_of
from segsync.input.editset import RowEdit, RowError
from segsync.input.headers import Columns
from segsync.input.messages import quoted, shown
from segsync.input.placement import normalise_header
from segsync.input.row_assembly import ParsedField, cell_at
from segsync.input.table import Table, has_content

__all__ = [
    "all_flags",
    "check_overflow",
    "flag_cells",
    "headerless_warnings",
    "mapping_warnings",
    "mark_duplicates",
    "overflowing_rows",
    "too_many_rows",
]


def all_flags(table: Table, cols: Columns) -> dict[int, dict[int, str]]:
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


def flag_cells(
    columns: list[ParsedField],
    source: Sequence[Sequence[object]],
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
            if message is not None and cell_at(source, i, col.j) == "":
                col.bad[i] = (message, None, None)


def mapping_warnings(said: dict[str, str], cols: Columns) -> list[str]:
    """A ``--map``/``--ignore-column`` for a header the sheet does not have is worth a word:
    it may be a typo in the flag."""
    headers = {normalise_header(p.header) for p in cols.placements}
    missing = [h for h in said if normalise_header(h) not in headers]
    if not missing:
        return []
    return [f"the column mapping names {quoted(missing)}, which this sheet does not have."]


def overflowing_rows(
    table: Table, source: Sequence[Sequence[object]], width: int
) -> list[tuple[int, Sequence[object]]]:
    """CSV rows with more cells than the header has columns, and their cells."""
    if not table.strict_width or not source or max(map(len, source)) <= width:
        return []
    return [(i, cells) for i, cells in enumerate(source) if len(cells) > width]


def check_overflow(edit: RowEdit, cells: Sequence[object], table: Table, width: int) -> None:
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


def too_many_rows(table: Table, max_rows: int, k: int) -> FileTooLargeError:
    total = max_rows + sum(1 for cells in table.rows[k:] if has_content(cells))
    return FileTooLargeError(
        f"{table.where()} has {total:,} data rows, over the limit of {max_rows:,} "
        "(input.max_rows); split it into smaller files or raise the limit."
    )


def headerless_warnings(table: Table, cols: Columns, counts: dict[int, int]) -> list[str]:
    warnings = []
    for j, reason in cols.headerless.items():
        if counts.get(j):
            warnings.append(
                f"column {table.letter(j)} has no header ({reason}); its {counts[j]:,} "
                "values are ignored."
            )
    return warnings


def mark_duplicates(rows: list[RowEdit], table: Table, cols: Columns) -> None:
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
