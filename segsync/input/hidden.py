"""Rows a workbook hides (an autofilter, grouped or hidden by hand) that hold data.

What a person could not see is never sent without their say-so (``input.hidden``):

- ``refuse`` (the default): the sheet is refused before any request, naming the rows;
- ``skip``: the rows are left out (as if empty), and the first warning says which;
- ``include``: they are read like any other row, and a warning says so.

Hidden columns are settled where headers are placed (:mod:`~segsync.input.headers`).
"""

from __future__ import annotations

from segsync.errors import HiddenDataError
from segsync.input.cells import text_of
from segsync.input.headers import Columns
from segsync.input.messages import shown
from segsync.input.table import Table, has_content

#: Hidden rows a sentence lists before "and N more".
LISTED = 8


def hidden_rows(table: Table, cols: Columns, mode: str) -> str | None:
    """Apply ``mode`` to the table's hidden rows with data; the warning to show first, if any.

    ``skip`` blanks the rows in place (row numbers stay the sheet's); the row builder then
    skips them as it skips empty rows.
    """
    if not table.hidden_rows:
        return None
    first = table.first_row
    found = [
        row
        for row in sorted(table.hidden_rows)
        if 0 <= row - first < len(table.rows) and has_content(table.rows[row - first])
    ]
    if not found:
        return None
    listed = _listed(table, cols, found)
    count = f"{len(found):,} hidden row{'s' if len(found) > 1 else ''}"
    were = "were" if len(found) > 1 else "was"
    if mode == "include":
        return f"{count} of {table.where()} {were} read too (--hidden include): {listed}."
    if mode == "skip":
        rows = list(table.rows)
        for row in found:
            k = row - first
            rows[k] = [""] * len(rows[k])
            table.flags.pop(row, None)
        table.rows = rows
        return f"{count} of {table.where()} {were} left out (--hidden skip): {listed}."
    raise HiddenDataError(
        f"{table.where()} has {count} with data, hidden by a filter or by hand ({listed}); "
        f"nothing was sent. Clear the filter and check {'them' if len(found) > 1 else 'it'}, "
        "or say what to do: --hidden skip leaves hidden rows out, --hidden include sends them "
        "too (config input.hidden)."
    )


def _listed(table: Table, cols: Columns, rows: list[int]) -> str:
    """``row 5 (id 100021 'DRAFT – First-Time Donors'), row 9 (id 100030) and 3 more``."""
    name_j = next((j for j, name, _, _ in cols.plan if name == "name"), None)
    parts = []
    for row in rows[:LISTED]:
        cells = table.rows[row - table.first_row]
        ident = text_of(cells[cols.id_j]) if cols.id_j < len(cells) else ""
        name = text_of(cells[name_j]) if name_j is not None and name_j < len(cells) else ""
        what = " ".join(
            part for part in (f"id {shown(ident, 20)}" if ident else "", _quoted(name)) if part
        )
        parts.append(f"row {row}" + (f" ({what})" if what else ""))
    more = f" and {len(rows) - LISTED:,} more" if len(rows) > LISTED else ""
    return ", ".join(parts) + more


def _quoted(text: str) -> str:
    return f"'{shown(text)}'" if text else ""
