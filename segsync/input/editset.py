"""The loader's product: a validated, typed set of row edits (``EditSet``).

An ``EditSet`` is what every later stage reads, whether it came from a workbook, a CSV or a
pandas DataFrame. Values are already typed and normalised here, so the differ never sees cell
text. Within ``RowEdit.values`` an *absent* field means "keep the current value" and ``None``
means "clear it" (only the explicit clear marker produces ``None``).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from xlsxwriter.utility import xl_col_to_name

from segsync.input.messages import shown
from segsync.input.placement import Placement
from segsync.model import FieldValue


@dataclass(frozen=True, slots=True)
class CellRef:
    """A cell in the user's terms: sheet, spreadsheet row (1-based), column and its header."""

    sheet: str
    row: int
    column: int
    header: str

    @property
    def address(self) -> str:
        """``Sheet!C17``, as a spreadsheet names the cell."""
        return f"{self.sheet}!{xl_col_to_name(self.column)}{self.row}"

    def __str__(self) -> str:
        """``Sheet!C17 (header)``, on one line whatever the sheet name and header hold."""
        where = f"{shown(self.sheet, 31)}!{xl_col_to_name(self.column)}{self.row}"
        return f"{where} ({shown(self.header, 60)})"


@dataclass(frozen=True, slots=True)
class RowError:
    """Why a row cannot be sent; ``cell`` is None for row-wide problems (e.g. duplicates).

    A content rule (length, tab, line break) holds only for a value the user changed: such an
    error carries the ``field`` and the cell's text in ``held``, and the differ drops it when the
    server already holds that value.
    """

    message: str
    cell: CellRef | None = None
    field: str | None = None
    held: str | None = None

    @property
    def soft(self) -> bool:
        return self.held is not None

    def __str__(self) -> str:
        return f"{self.cell}: {self.message}" if self.cell else self.message


@dataclass(slots=True)
class RowEdit:
    """One input data row, typed.

    ``index`` is the 0-based position among data rows (results keep this order);
    ``source_row`` is the row number the user sees in the sheet (or the DataFrame position + 2,
    as if a header row preceded it).
    """

    index: int
    source_row: int
    segment_id: int | None
    values: dict[str, FieldValue] = field(default_factory=dict)
    #: ``modifiedDateTime`` carried by the sheet (an export): the server must still show it.
    expected_modified: str | None = None
    #: A full editable snapshot the server must still hold (rollback's conflict check).
    expected_state: dict[str, FieldValue] | None = None
    #: ``source_row`` of an earlier, identical row for the same id (this one is a repeat).
    duplicate_of: int | None = None
    #: Columns segsync does not know, carried through to the results as they were.
    extras: dict[str, str] = field(default_factory=dict)
    errors: list[RowError] = field(default_factory=list)
    #: The code cell held a number (or, in a CSV, bare digits): leading zeros may have been lost.
    numeric_code: bool = False
    #: Read-only columns' cells, in ``EditSet.read_only_fields`` order (None: the sheet has
    #: none): compared with what the server shows, never sent.
    read_only: tuple[object, ...] | None = None

    @property
    def valid(self) -> bool:
        return not self.errors

    @property
    def checkable(self) -> bool:
        """Worth comparing with the server: an id, and no error the server's state could lift."""
        return self.segment_id is not None and all(e.soft for e in self.errors)


@dataclass(slots=True)
class EditSet:
    """All rows of one input, in input order, with what the loader learned about the file."""

    source: str
    sheet: str
    rows: list[RowEdit]
    #: editable/known field name → header text as written in the file
    columns: dict[str, str] = field(default_factory=dict)
    extra_columns: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    sha256: str | None = None
    #: field → (0-based column index, header as written), to name a field's cell in any row
    cells: dict[str, tuple[int, str]] = field(default_factory=dict)
    #: every column of the sheet and what segsync does with it (see ``input/placement.py``)
    placements: list[Placement] = field(default_factory=list)
    #: cells are typed (a workbook's): a number in a code cell was typed as a number
    typed: bool = True
    #: words that mean "clear" when typed (``input.clear_words``), case-folded
    clear_words: tuple[str, ...] = ()
    #: what clears a field (``input.clear_marker``), for the sentences that suggest it
    clear_marker: str = "#CLEAR"
    #: the read-only fields the sheet has columns for (``RowEdit.read_only`` follows this order)
    read_only_fields: tuple[str, ...] = ()
    #: the flags that say again what the person said about this sheet (``--map``, ``--hidden``),
    #: for the command a summary suggests
    said: tuple[str, ...] = ()

    def cell(self, name: str, row: int) -> CellRef | None:
        """The cell of field ``name`` on sheet row ``row``, or None if the sheet has no column."""
        where = self.cells.get(name)
        return CellRef(self.sheet, row, where[0], where[1]) if where else None

    @property
    def invalid_rows(self) -> list[RowEdit]:
        return [r for r in self.rows if r.errors]
