"""One sheet's cells as a reader found them: what every reader hands to the row builder."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from xlsxwriter.utility import xl_col_to_name

from segsync.input.editset import CellRef
from segsync.input.messages import shown


@dataclass(slots=True)
class Table:
    """Header and data rows as raw cell values, and where they sit in the sheet.

    ``rows[k]`` sits on sheet row ``first_row + k``; ``rows[k][j]`` on column ``col_offset + j``.
    No field meaning is applied yet.
    """

    name: str  # how messages name the input (file name, or the DataFrame's source)
    source: str
    sheet: str
    header_row: int
    header: Sequence[object]
    rows: Sequence[Sequence[object]]
    first_row: int
    col_offset: int = 0
    #: CSV: cells past the header's last column are row errors (not a warning)
    strict_width: bool = False
    #: CSV: every cell is a str, without a type, so bare digits in a code cell may be a number
    #: a spreadsheet saved
    untyped: bool = False
    #: sheet row → {j: why this blank cell is not really blank}
    flags: dict[int, dict[int, str]] = field(default_factory=dict)
    #: merged ranges as (first_row, first_j, last_row, last_j), sheet rows / relative columns
    merged: list[tuple[int, int, int, int]] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    sha256: str | None = None
    #: sheet rows (1-based) and relative columns the workbook hides (filtered out, or by hand)
    hidden_rows: set[int] = field(default_factory=set)
    hidden_cols: set[int] = field(default_factory=set)
    #: workbooks name the sheet in file-level messages; CSV and DataFrames have just one
    has_sheets: bool = True

    def ref(self, row: int, j: int, header: str) -> CellRef:
        return CellRef(self.sheet, row, self.col_offset + j, header)

    def letter(self, j: int) -> str:
        return xl_col_to_name(self.col_offset + j)

    def where(self) -> str:
        return f"{self.name}: sheet '{shown(self.sheet)}'" if self.has_sheets else self.name


def has_content(cells: Sequence[object]) -> bool:
    """True if any cell is non-blank (cheap: the first cell usually decides)."""
    for cell in cells:
        if type(cell) is str:
            if cell and not cell.isspace():
                return True
        elif cell is not None:
            return True
    return False
