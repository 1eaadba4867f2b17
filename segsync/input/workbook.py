"""Workbooks (.xlsx/.xlsm, .xls, .ods) → a :class:`Table`, read with python-calamine.

The sheet-size guards run before calamine opens the file. Unless a sheet is named, the one
visible sheet with data and an id column is read; several such sheets, or only one behind a
first sheet without an id column, are refused with a sentence naming them (never a guess).
Cells calamine reads as empty but that are not (a formula without a saved value, an Excel
error, a cell covered by a merged range) are flagged so that they become row errors instead of
a silent "keep". Hidden rows and columns (.xlsx only) are noted for the row builder.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from segsync.errors import InputError, NoDataError, SheetChoiceError, UnsupportedFileError
from segsync.input.cells import text_of
from segsync.input.messages import corrupt_message, password_message, quoted, shown
from segsync.input.ods import check_ods_extent
from segsync.input.placement import header_to_field
from segsync.input.sniff import FileInfo, FileKind
from segsync.input.table import Table, has_content
from segsync.input.xls import check_xls_extent
from segsync.input.xlsx_scan import SheetScan, is_worksheet_part, scan_xlsx_sheet, xlsx_sheet_parts
from segsync.input.zipguard import open_zip, part_key


def read_workbook(info: FileInfo, wanted: str | None) -> Table:
    """The sheet named ``wanted`` (else the first visible, non-empty one), guards first.

    Only .xlsx sheets are scanned for uncached formulas and error cells; .xls and .ods always
    store formula results, and error values there are not detected.
    """
    from python_calamine import CalamineWorkbook

    sheets: list[tuple[str, str]] = []
    if info.kind is FileKind.XLSX:
        with open_zip(info.path, info.name) as zf:
            sheets = xlsx_sheet_parts(info.path, zf, info.name)
            # a worksheet part no sheet points to (as we resolve targets) is scanned too, in
            # case calamine resolves a target differently: nothing unchecked reaches it
            read = {part_key(member) for _, member in sheets}
            for orphan in sorted(
                n for n in zf.namelist() if is_worksheet_part(n) and part_key(n) not in read
            ):
                scan_xlsx_sheet(info.path, zf, info.name, orphan)
    elif info.kind is FileKind.ODS:
        with open_zip(info.path, info.name) as zf:
            check_ods_extent(info.path, zf, info.name)
    elif info.kind is FileKind.XLS:
        check_xls_extent(info.path, info.name)
    with info.path.open("rb") as fh:
        with _calamine_errors(info.name):
            workbook = CalamineWorkbook.from_filelike(fh)
        with workbook:
            parts: dict[str, str] = {}
            if sheets:
                with _calamine_errors(info.name):
                    names = list(workbook.sheet_names)
                # calamine lists workbook.xml's sheets in order, as xlsx_sheet_parts does
                if len(names) == len(sheets):
                    parts = dict(zip(names, (member for _, member in sheets), strict=True))
                else:
                    parts = dict(sheets)
            return _pick_sheet(info, workbook, parts, wanted)


@contextmanager
def _calamine_errors(name: str) -> Iterator[None]:
    """Turn whatever calamine raises (its errors, a Rust panic) into a file-level sentence.

    Only calamine calls run inside this, so a bug in segsync is not disguised as a bad file.
    pyo3 panics derive from BaseException, hence the wide net and the explicit re-raises.
    """
    try:
        yield
    except (KeyboardInterrupt, SystemExit, GeneratorExit, InputError):
        raise
    except BaseException as exc:
        raise _calamine_error(name, exc) from None


def _calamine_error(name: str, exc: BaseException) -> InputError:
    kind = type(exc).__name__
    if kind == "PasswordError":
        return UnsupportedFileError(password_message(name))
    detail = shown(str(exc).strip().splitlines()[0], 120) if str(exc).strip() else kind
    if kind == "ZipError":
        return UnsupportedFileError(corrupt_message(name, detail))
    return UnsupportedFileError(
        f"{name} could not be read as a workbook ({detail}); open it in Excel and save it again."
    )


@dataclass(frozen=True, slots=True)
class _NoValues:
    """A sheet whose every filled cell calamine reads as empty: Excel errors, or formulas
    without a saved value. To a person it is not empty, so it is not called empty."""

    sheet: str
    errors: tuple[str, ...]  # distinct error values, in sheet order
    uncached: int  # formulas without a saved value

    def reason(self) -> str:
        """Why the sheet has no values, for "sheet 'X' has no values: <reason>"."""
        if self.errors:
            shown_errors = ", ".join(shown(error, 12) for error in self.errors[:3])
            more = " …" if len(self.errors) > 3 else ""
            return f"every filled cell shows an Excel error ({shown_errors}{more})"
        return (
            f"its {self.uncached:,} formulas have no saved values (the program that wrote it "
            "does not calculate)"
        )

    def advice(self) -> str:
        if self.errors:
            return "fix the formulas or type the values, and save again"
        return "open it in Excel and save it again"

    def refusal(self, name: str) -> str:
        return (
            f"{name}: sheet '{shown(self.sheet)}' has no values: {self.reason()}; {self.advice()}."
        )


def _pick_sheet(info: FileInfo, workbook: Any, parts: dict[str, str], wanted: str | None) -> Table:
    """The named sheet, else the first visible worksheet with values.

    A sheet whose cells are all Excel errors (or uncalculated formulas) is skipped with a
    warning when a later sheet has values, and is the reason given when none has.
    """
    from python_calamine import SheetTypeEnum, SheetVisibleEnum

    with _calamine_errors(info.name):
        names = list(workbook.sheet_names)
        metadata = list(workbook.sheets_metadata)
    if wanted is not None:
        sheet_name = _match_sheet(info.name, names, wanted)
        table = _read_sheet(info, workbook, parts, sheet_name)
        if isinstance(table, _NoValues):
            raise NoDataError(table.refusal(info.name))
        if table is None:
            raise NoDataError(f"{info.name}: sheet '{shown(sheet_name)}' is empty.")
        return table
    skipped: list[str] = []
    no_values: _NoValues | None = None
    found: list[Table] = []
    for meta in metadata:
        if meta.typ != SheetTypeEnum.WorkSheet:
            continue
        if meta.visible != SheetVisibleEnum.Visible:
            skipped.append(meta.name)
            continue
        table = _read_sheet(info, workbook, parts, meta.name)
        if isinstance(table, _NoValues):
            if not found:  # only one before the data is worth a word
                no_values = no_values or table
            continue
        if table is not None:
            found.append(table)
    if not found:
        if no_values is not None:
            raise NoDataError(no_values.refusal(info.name))
        hidden = f" (hidden sheets are skipped: {quoted(skipped)})" if skipped else ""
        raise NoDataError(f"{info.name} has no data: every visible worksheet is empty{hidden}.")
    table = _choose(info.name, found)
    if skipped:
        table.warnings.append(
            f"hidden sheets were skipped ({quoted(skipped)}); read sheet "
            f"'{shown(table.sheet)}'. Name a sheet to read a hidden one."
        )
    if no_values is not None:
        table.warnings.append(
            f"read sheet '{shown(table.sheet)}'; sheet '{shown(no_values.sheet)}' before "
            f"it was skipped because {no_values.reason()}."
        )
    return table


def _choose(name: str, tables: list[Table]) -> Table:
    """The one visible sheet with data that can be the edits; refuse to guess between several.

    A sheet can be the edits when it has an id column (in its header row, or below a title).
    Several such sheets ("Spring Appeal", "Giving Tuesday"; "Edits v1", "Edits v2 FINAL"):
    refused, naming them. Only a later one (an instructions sheet first): refused, naming it.
    None: the first sheet, whose missing id column is then the sentence.
    """
    with_id = [table for table in tables if _has_id_column(table)]
    if len(with_id) > 1:
        names = [table.sheet for table in with_id]
        raise SheetChoiceError(
            f"{name} has {len(names)} sheets with segment edits ({quoted(names)}); nothing was "
            f"sent. Say which one: --sheet '{shown(names[0])}' (or input.sheet in the config), "
            "one run per sheet.",
            names,
        )
    if with_id and with_id[0] is not tables[0]:
        chosen, first = with_id[0].sheet, tables[0].sheet
        raise SheetChoiceError(
            f"{name}: the first sheet, '{shown(first)}', has no id column, but sheet "
            f"'{shown(chosen)}' has one; nothing was sent. Run with --sheet '{shown(chosen)}' "
            "(or input.sheet in the config).",
            [chosen],
        )
    return tables[0]


def _has_id_column(table: Table) -> bool:
    """An id header in the header row or the rows under it (a title above the header)."""
    for row in (table.header, *table.rows[:20]):
        if any(header_to_field(text_of(cell)) == "id" for cell in row):
            return True
    return False


def _match_sheet(name: str, names: list[str], wanted: str) -> str:
    if wanted in names:
        return wanted
    folded = [n for n in names if n.casefold() == wanted.strip().casefold()]
    if len(folded) == 1:
        return folded[0]
    raise NoDataError(
        f"{name} has no sheet named '{shown(wanted)}'; its sheets are {quoted(names)}."
    )


def _read_sheet(
    info: FileInfo, workbook: Any, parts: dict[str, str], sheet_name: str
) -> Table | _NoValues | None:
    scan = None
    if info.kind is FileKind.XLSX:
        member = parts.get(sheet_name)
        if not member:
            raise UnsupportedFileError(
                corrupt_message(info.name, f"sheet '{shown(sheet_name)}' has no worksheet part")
            )
        with open_zip(info.path, info.name) as zf:
            scan = scan_xlsx_sheet(info.path, zf, info.name, member, sheet_name)
    with _calamine_errors(info.name):
        sheet = workbook.get_sheet_by_name(sheet_name)
        start = sheet.start
        values = sheet.to_python() if start is not None else []
    row0, col0 = start if start is not None else (0, 0)
    # rows whose cells calamine reads as empty but are not (errors, uncalculated formulas)
    flagged = {row for row, _ in (*scan.errors, *scan.uncached)} if scan is not None else set()
    header_index = next(
        (k for k, row in enumerate(values) if has_content(row) or (row0 + k) in flagged), None
    )
    if (
        header_index is None
        or (
            flagged  # the first row is only error cells: are there values at all?
            and not has_content(values[header_index])
            and not any(has_content(row) for row in values[header_index:])
        )
    ):
        if scan is not None and (scan.errors or scan.uncached):
            ordered = [scan.errors[cell] for cell in sorted(scan.errors)]
            return _NoValues(sheet_name, tuple(dict.fromkeys(ordered)), len(scan.uncached))
        return None
    table = Table(
        name=info.name,
        source=str(info.path),
        sheet=sheet_name,
        header_row=row0 + header_index + 1,
        header=values[header_index],
        rows=values[header_index + 1 :],
        first_row=row0 + header_index + 2,
        col_offset=col0,
    )
    if scan is not None:
        _add_scan_flags(table, scan)
        table.hidden_rows = {row + 1 for row in scan.hidden_rows}
        table.hidden_cols = {col - col0 for col in scan.hidden_cols if col >= col0}
    table.merged = _merged_ranges(sheet, row0, col0)
    return table


def _add_scan_flags(table: Table, scan: SheetScan) -> None:
    uncached = "the formula in this cell has no saved value; open and save the file in Excel"
    for row0, col in scan.uncached:
        table.flags.setdefault(row0 + 1, {})[col - table.col_offset] = uncached
    for (row0, col), error in scan.errors.items():
        table.flags.setdefault(row0 + 1, {})[col - table.col_offset] = (
            f"the cell shows the Excel error {shown(error, 20)}; fix the formula or type the value"
        )


def _merged_ranges(sheet: Any, row0: int, col0: int) -> list[tuple[int, int, int, int]]:
    """Merged cells are advisory: a format that does not report them has none here."""
    try:
        ranges = sheet.merged_cell_ranges or []
    except Exception:  # unsupported for some formats
        return []
    return [(r1 + 1, c1 - col0, r2 + 1, c2 - col0) for (r1, c1), (r2, c2) in ranges]
