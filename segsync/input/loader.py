"""Spreadsheet → ``EditSet``: header mapping, cell normalisation, row errors.

Three sources share one pipeline. A reader turns its input into a :class:`_Table` (header
row, data rows as raw cell values, where they sit in the sheet, and any cells the reader knows
more about than their value); :func:`_build_edit_set` maps the header, validates every row in
one pass and flags duplicates.

* **Workbooks** (``.xlsx``/``.xlsm``, ``.xls``, ``.ods``) are read with python-calamine after
  :mod:`segsync.input.filetypes` has checked the file (type by magic bytes, size, zip bombs, sheet
  extent, DTDs). The first *visible, non-empty worksheet* is used unless a sheet is named.
  Formula cells give their saved (cached) values. A formula with no saved value, or a saved
  Excel error (``#N/A``), reads as empty in calamine; for ``.xlsx`` the sheet XML scan finds them
  and they become row errors instead of a silent "keep". (``.xls``/``.ods`` always store results;
  error values there are not detected.) Cells covered by a merged range, other than its first,
  are errors in editable columns: the user sees the merged value, calamine sees nothing.
* **Delimited text** (``.csv``/``.tsv``/``.txt``): encoding and delimiter are detected
  deterministically (see :mod:`segsync.input.filetypes`); an Excel ``sep=;`` first line is honoured;
  row numbers are record numbers (what Excel shows when it opens the file, also with quoted line
  breaks); ``="00123"`` (Excel's keep-as-text idiom) is unwrapped. Cells past the header's last
  column are row errors: they usually mean a delimiter inside an unquoted value, which shifts
  every later column.
* **DataFrames** (:func:`edits_from_dataframe`), for scripted jobs: NaN/None/NA/NaT are blank;
  row numbers are reported as if a header row preceded the data (position + 2).

Header names match case-, whitespace-, underscore- and hyphen-insensitively, with aliases
(:func:`header_to_field`). Known read-only columns (stats, ``campaignName``, ``createdDateTime``)
are ignored; ``modifiedDateTime`` becomes ``RowEdit.expected_modified`` for the conflict check.
Unknown columns are warned about once and carried through as text in ``RowEdit.extras``
(a repeated unknown header gets its column letter: ``"Notes (F)"``). In a workbook, values in a
column without a header (often one under a merged header cell) are ignored with a warning.

Rows: a fully empty row is skipped (row numbers stay the sheet's); any other row needs an id,
even one whose only values sit in unknown or read-only columns (a totals row is an error, not
silently dropped). Identical repeats of an id get ``duplicate_of``; differing repeats are all
errors. Cell rules live in :mod:`segsync.input.cells`.
"""

from __future__ import annotations

import csv
import gc
import io
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from segsync.config import InputSettings
from segsync.errors import FileTooLargeError, InputError, NoDataError, UnsupportedFileError
from segsync.input import cells as C
from segsync.input import filetypes as F
from segsync.input.editset import CellRef, EditSet, RowEdit, RowError, column_letter
from segsync.model import EDITABLE_FIELDS, READ_ONLY_FIELDS

__all__ = ["edits_from_dataframe", "header_to_field", "load_edits", "normalise_header"]

MODIFIED = "modifiedDateTime"

_ALIASES: dict[str, tuple[str, ...]] = {
    "id": ("segmentid",),
    "campaignId": (),
    "name": ("segmentname",),
    "code": ("segmentcode",),
    "description": ("segmentdescription",),
    "externalIdentifier": ("externalid", "segmentexternalid", "segmentexternalidentifier"),
    MODIFIED: ("modified", "modifieddate", "lastmodified", "lastmodifieddatetime", "modifiedat"),
    "createdDateTime": ("created", "createddate", "createdat"),
}


def normalise_header(header: str) -> str:
    """Header text → match key: case-folded, without whitespace, underscores or hyphens."""
    return "".join(header.split()).replace("_", "").replace("-", "").casefold()


def _build_header_index() -> dict[str, str]:
    index: dict[str, str] = {}
    for name in ("id", *EDITABLE_FIELDS, *READ_ONLY_FIELDS):
        index[normalise_header(name)] = name
        for alias in _ALIASES.get(name, ()):
            index[alias] = name
    return index


_HEADER_INDEX = _build_header_index()


def header_to_field(header: str) -> str | None:
    """The field a column header names (``"Segment ID"`` → ``"id"``), or None if unknown.

    Read-only fields (``"Total Donors"`` → ``"totalDonors"``) are known fields too.
    """
    return _HEADER_INDEX.get(normalise_header(str(header)))


# ------------------------------------------------------------------------------ the table


@dataclass(slots=True)
class _Table:
    """One sheet's cells as a reader found them, before any field meaning is applied.

    ``rows[k]`` sits on sheet row ``first_row + k``; ``rows[k][j]`` on column ``col_offset + j``.
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
    #: CSV: cells have no type, so bare digits in a code cell may be a number a spreadsheet saved
    untyped: bool = False
    #: sheet row → {j: why this blank cell is not really blank}
    flags: dict[int, dict[int, str]] = field(default_factory=dict)
    #: merged ranges as (first_row, first_j, last_row, last_j), sheet rows / relative columns
    merged: list[tuple[int, int, int, int]] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    sha256: str | None = None
    #: workbooks name the sheet in file-level messages; CSV and DataFrames have just one
    has_sheets: bool = True

    def ref(self, row: int, j: int, header: str) -> CellRef:
        return CellRef(self.sheet, row, self.col_offset + j, header)

    def letter(self, j: int) -> str:
        return column_letter(self.col_offset + j)

    def where(self) -> str:
        return f"{self.name}: sheet '{self.sheet}'" if self.has_sheets else self.name


def _has_content(cells: Sequence[object]) -> bool:
    """True if any cell is non-blank (cheap: the first cell usually decides)."""
    for cell in cells:
        if cell.__class__ is str:
            if cell and not cell.isspace():  # type: ignore[attr-defined]
                return True
        elif cell is not None:
            return True
    return False


# ------------------------------------------------------------------------------ public API


def load_edits(path: str | Path, settings: InputSettings, *, sheet: str | None = None) -> EditSet:
    """Read and validate an edits file (workbook or delimited text) into an :class:`EditSet`.

    ``sheet`` (else ``settings.sheet``) names the worksheet; by default the first visible,
    non-empty one. File-level problems raise :class:`UnsupportedFileError`,
    :class:`FileTooLargeError` or :class:`NoDataError` with a sentence naming the file; row
    problems are collected in ``RowEdit.errors``.
    """
    file_path = Path(path)
    info = F.inspect_file(file_path, settings.max_file_mb)
    wanted = sheet if sheet is not None else settings.sheet
    with _gc_paused():
        if info.kind is F.FileKind.TEXT:
            table = _read_text(info)
            if wanted is not None:
                table.warnings.append(f"{info.name} is a text file with no sheets; sheet ignored.")
        else:
            table = _read_workbook(info, wanted)
        table.warnings[:0] = list(info.warnings)
        table.sha256 = info.sha256
        return _build_edit_set(table, settings)


def edits_from_dataframe(
    df: Any, settings: InputSettings, *, source: str = "<DataFrame>"
) -> EditSet:
    """Validate a pandas DataFrame of edits exactly as a sheet with the same header would be.

    Column labels are the headers. Missing values (NaN, None, ``pd.NA``, ``NaT``) are blank
    cells (keep). Numpy scalars become Python ones, so ``123.0`` in an id column is 123.
    """
    header = [str(label) for label in df.columns]
    if not header:
        raise NoDataError(f"{source} has no columns.")
    with _gc_paused():
        columns = [_dataframe_column(df.iloc[:, j]) for j in range(len(header))]
        rows = list(zip(*columns, strict=True))
        table = _Table(
            name=source,
            source=source,
            sheet="DataFrame",
            header_row=1,
            header=header,
            rows=rows,
            first_row=2,
            has_sheets=False,
        )
        return _build_edit_set(table, settings)


@contextmanager
def _gc_paused() -> Iterator[None]:
    """Pause the cyclic GC while hundreds of thousands of acyclic objects are created.

    Each generation-0 collection walks every young container; a 100k-row load allocates
    millions of them, and the collections cost about a third of the validation time. Nothing
    here builds reference cycles, so reference counting frees everything as usual.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def _dataframe_column(series: Any) -> list[object]:
    values = series.tolist()
    missing = series.isna().tolist()
    out: list[object] = []
    for value, is_missing in zip(values, missing, strict=True):
        if is_missing:
            out.append("")
        elif type(value).__module__ == "numpy":
            out.append(value.item())
        elif hasattr(value, "to_pydatetime"):
            out.append(value.to_pydatetime())
        else:
            out.append(value)
    return out


# -------------------------------------------------------------------------- text (CSV/TSV)


def _read_text(info: F.FileInfo) -> _Table:
    data = info.path.read_bytes()
    text, encoding = F.decode_text(data)
    if text is None:
        raise UnsupportedFileError(f"{info.name} is not a text file segsync can decode.")
    warnings = []
    if encoding == "Windows-1252":
        warnings.append(
            f"{info.name} is not UTF-8; it was read as Windows-1252 (Excel's 'CSV' on Windows)."
        )
    text, delimiter = _excel_sep_line(text)
    if delimiter is None:
        default = "\t" if info.path.suffix.lower() in (".tsv", ".tab") else ","
        delimiter = F.sniff_delimiter(text, default)
    rows = _parse_csv(text, delimiter, info.name)
    header_index = next((k for k, row in enumerate(rows) if _has_content(row)), None)
    if header_index is None:
        raise NoDataError(f"{info.name} has no data: it contains no header row.")
    return _Table(
        name=info.name,
        source=str(info.path),
        sheet=info.path.stem,
        header_row=header_index + 1,
        header=rows[header_index],
        rows=rows[header_index + 1 :],
        first_row=header_index + 2,
        strict_width=True,
        untyped=True,
        warnings=warnings,
        has_sheets=False,
    )


def _excel_sep_line(text: str) -> tuple[str, str | None]:
    """Excel's ``sep=;`` first line names the delimiter and is not part of the data."""
    if text[:4].lower() == "sep=":
        line, _, rest = text.partition("\n")
        sep = line[4:].rstrip("\r")
        if len(sep) == 1:
            return rest, sep
    return text, None


def _parse_csv(text: str, delimiter: str, name: str) -> list[list[str]]:
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=True)
    try:
        rows = list(reader)
    except csv.Error as exc:
        hint = (
            "a quote is not closed"
            if "end of data" in str(exc)
            else "a quoted value must end right after its closing quote; write a quote inside "
            'a quoted value as ""'
        )
        raise UnsupportedFileError(
            f"{name} is not valid CSV near line {reader.line_num}: {exc} ({hint})."
        ) from None
    if '="' in text:
        rows = [[_unwrap_excel_text(cell) for cell in row] for row in rows]
    return rows


def _unwrap_excel_text(cell: str) -> str:
    """``="00123"`` is how people keep leading zeros in a CSV that Excel will open."""
    if len(cell) >= 3 and cell.startswith('="') and cell.endswith('"'):
        return cell[2:-1].replace('""', '"')
    return cell


# --------------------------------------------------------------------------------- workbooks


def _read_workbook(info: F.FileInfo, wanted: str | None) -> _Table:
    from python_calamine import CalamineWorkbook

    parts: dict[str, str] = {}
    if info.kind is F.FileKind.XLSX:
        with F.open_zip(info.path, info.name) as zf:
            parts = F.xlsx_sheet_parts(info.path, zf, info.name)
            # a worksheet part no sheet points to (as we resolve targets) is scanned too, in
            # case calamine resolves a target differently: nothing unchecked reaches it
            for orphan in sorted(
                {n for n in zf.namelist() if F.is_worksheet_part(n)} - set(parts.values())
            ):
                F.scan_xlsx_sheet(info.path, zf, info.name, orphan)
    elif info.kind is F.FileKind.ODS:
        with F.open_zip(info.path, info.name) as zf:
            F.check_ods_extent(info.path, zf, info.name)
    elif info.kind is F.FileKind.XLS:
        F.check_xls_extent(info.path, info.name)
    with info.path.open("rb") as fh:
        with _calamine_errors(info.name):
            workbook = CalamineWorkbook.from_filelike(fh)
        with workbook:
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
        return UnsupportedFileError(F.password_message(name))
    detail = str(exc).strip().splitlines()[0] if str(exc).strip() else kind
    if kind == "ZipError":
        return UnsupportedFileError(F.corrupt_message(name, detail))
    return UnsupportedFileError(
        f"{name} could not be read as a workbook ({detail}); open it in Excel and save it again."
    )


def _pick_sheet(
    info: F.FileInfo, workbook: Any, parts: dict[str, str], wanted: str | None
) -> _Table:
    """The named sheet, else the first visible, non-empty worksheet."""
    from python_calamine import SheetTypeEnum, SheetVisibleEnum

    with _calamine_errors(info.name):
        names = list(workbook.sheet_names)
        metadata = list(workbook.sheets_metadata)
    if wanted is not None:
        sheet_name = _match_sheet(info.name, names, wanted)
        table = _read_sheet(info, workbook, parts, sheet_name)
        if table is None:
            raise NoDataError(f"{info.name}: sheet '{sheet_name}' is empty.")
        return table
    skipped: list[str] = []
    for meta in metadata:
        if meta.typ != SheetTypeEnum.WorkSheet:
            continue
        if meta.visible != SheetVisibleEnum.Visible:
            skipped.append(meta.name)
            continue
        table = _read_sheet(info, workbook, parts, meta.name)
        if table is not None:
            if skipped:
                table.warnings.append(
                    f"hidden sheets were skipped ({_quoted(skipped)}); read sheet "
                    f"'{meta.name}'. Name a sheet to read a hidden one."
                )
            return table
    hidden = f" (hidden sheets are skipped: {_quoted(skipped)})" if skipped else ""
    raise NoDataError(f"{info.name} has no data: every visible worksheet is empty{hidden}.")


def _quoted(items: Any) -> str:
    return ", ".join(f"'{item}'" for item in items)


def _match_sheet(name: str, names: list[str], wanted: str) -> str:
    if wanted in names:
        return wanted
    folded = [n for n in names if n.casefold() == wanted.strip().casefold()]
    if len(folded) == 1:
        return folded[0]
    raise NoDataError(f"{name} has no sheet named '{wanted}'; its sheets are {_quoted(names)}.")


def _read_sheet(
    info: F.FileInfo, workbook: Any, parts: dict[str, str], sheet_name: str
) -> _Table | None:
    scan = None
    if info.kind is F.FileKind.XLSX:
        member = parts.get(sheet_name)
        if member is None:
            raise UnsupportedFileError(
                F.corrupt_message(info.name, f"sheet '{sheet_name}' has no worksheet part")
            )
        with F.open_zip(info.path, info.name) as zf:
            scan = F.scan_xlsx_sheet(info.path, zf, info.name, member, sheet_name)
    with _calamine_errors(info.name):
        sheet = workbook.get_sheet_by_name(sheet_name)
        start = sheet.start
        values = sheet.to_python() if start is not None else []
    if start is None:
        return None
    header_index = next((k for k, row in enumerate(values) if _has_content(row)), None)
    if header_index is None:
        return None
    row0, col0 = start
    table = _Table(
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
    table.merged = _merged_ranges(sheet, row0, col0)
    return table


def _add_scan_flags(table: _Table, scan: F.SheetScan) -> None:
    uncached = "the formula in this cell has no saved value; open and save the file in Excel"
    for row0, col in scan.uncached:
        table.flags.setdefault(row0 + 1, {})[col - table.col_offset] = uncached
    for (row0, col), error in scan.errors.items():
        table.flags.setdefault(row0 + 1, {})[col - table.col_offset] = (
            f"the cell shows the Excel error {error}; fix the formula or type the value"
        )


def _merged_ranges(sheet: Any, row0: int, col0: int) -> list[tuple[int, int, int, int]]:
    try:
        ranges = sheet.merged_cell_ranges or []
    except Exception:  # unsupported for some formats; merged cells are advisory
        return []
    return [(r1 + 1, c1 - col0, r2 + 1, c2 - col0) for (r1, c1), (r2, c2) in ranges]


# ---------------------------------------------------------------------------- header mapping


@dataclass(slots=True)
class _Columns:
    """Where each field's column is, and what to do with the others."""

    id_j: int
    id_header: str
    #: (j, field, header, parser) for id (first), the editable fields and modifiedDateTime
    plan: list[tuple[int, str, str, C.Parser]]
    extras: list[tuple[int, str]]  # (j, key in RowEdit.extras)
    headerless: dict[int, str]  # j → why the column has no header (for the warning)
    width: int  # header width (last non-blank header + 1)
    code_j: int | None  # where the code column is (spreadsheet damage to codes is checked)
    columns: dict[str, str]  # field → header as written
    extra_columns: list[str]
    warnings: list[str]


def _parsers(marker: str) -> dict[str, C.Parser]:
    return {
        "id": C.make_int_parser("id", marker, what="a segment id"),
        "campaignId": C.make_int_parser("campaignId", marker, what="a campaign id"),
        "name": C.make_text_parser(marker, nullable=False),
        "code": C.make_text_parser(marker, nullable=False),
        "description": C.make_text_parser(marker, nullable=True, multiline=True),
        "externalIdentifier": C.make_text_parser(marker, nullable=True),
        MODIFIED: C.make_datetime_parser(MODIFIED, marker),
    }


def _map_columns(table: _Table, marker: str) -> _Columns:
    texts = [C.text_of(cell) for cell in table.header]
    width = max((j + 1 for j, text in enumerate(texts) if text), default=0)
    parsers = _parsers(marker)
    seen: dict[str, tuple[int, str]] = {}
    columns: dict[str, str] = {}
    used: list[tuple[int, str, str, C.Parser]] = []
    extras: list[tuple[int, str]] = []
    headerless: dict[int, str] = {}
    warnings: list[str] = []
    # a workbook's rows are as wide as its used range: columns right of the last header hold
    # values nobody named (often under a merged header cell). CSV rows that are longer than
    # the header are row errors instead (see _check_overflow).
    for j in range(len(texts) if not table.strict_width else width):
        text = texts[j]
        if not text:
            headerless[j] = _merged_header_reason(table, j)
            continue
        name = header_to_field(text)
        if name is None:
            key = text if text not in {k for _, k in extras} else f"{text} ({table.letter(j)})"
            extras.append((j, key))
            warnings.append(
                f"column '{text}' ({table.letter(j)}) is not a segment field; it is ignored "
                "and carried through to the results."
            )
            continue
        if name in seen and (name in parsers):
            first_j, first_text = seen[name]
            raise NoDataError(
                f"{table.where()} has two columns for {name}: '{first_text}' (column "
                f"{table.letter(first_j)}) and '{text}' (column {table.letter(j)}); "
                "delete one of them."
            )
        seen.setdefault(name, (j, text))
        columns.setdefault(name, text)
        if name in parsers and name != "id":
            used.append((j, name, text, parsers[name]))
    if "id" not in seen:
        raise NoDataError(_no_id_message(table, texts[:width]))
    id_j, id_header = seen["id"]
    if not any(name in EDITABLE_FIELDS for _, name, _, _ in used):
        warnings.append(
            f"{table.where()} has no editable columns ({', '.join(EDITABLE_FIELDS)}); "
            "no segment would change."
        )
    return _Columns(
        id_j=id_j,
        id_header=id_header,
        plan=[(id_j, "id", id_header, parsers["id"]), *used],
        extras=extras,
        headerless=headerless,
        width=width,
        code_j=next((j for j, name, _, _ in used if name == "code"), None),
        columns=columns,
        extra_columns=[key for _, key in extras],
        warnings=warnings,
    )


def _merged_header_reason(table: _Table, j: int) -> str:
    for r1, c1, r2, c2 in table.merged:
        if r1 <= table.header_row <= r2 and c1 <= j <= c2 and (r1, c1) != (table.header_row, j):
            span = f"{table.letter(c1)}{r1}:{table.letter(c2)}{r2}"
            return f"it is covered by the merged header cell {span}"
    return "its header cell is empty"


def _no_id_message(table: _Table, texts: list[str]) -> str:
    found = _quoted(t for t in texts if t) or "nothing"
    message = (
        f"{table.where()} has no id column; expected a header such as 'id' or 'Segment ID' "
        f"in its header row (row {table.header_row}, which holds {found})."
    )
    for k, row in enumerate(table.rows[:20]):
        if any(header_to_field(C.text_of(cell)) == "id" for cell in row):
            message += (
                f" Row {table.first_row + k} looks like the real header: delete the rows above it."
            )
            break
    return message


# ------------------------------------------------------------------------------- row building


def _build_edit_set(table: _Table, settings: InputSettings) -> EditSet:
    cols = _map_columns(table, settings.clear_marker)
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


def _all_flags(table: _Table, cols: _Columns) -> dict[int, dict[int, str]]:
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
    table: _Table, cols: _Columns, flags: dict[int, dict[int, str]], max_rows: int
) -> tuple[list[RowEdit], dict[int, int]]:
    """Validate every non-empty data row; also count values in columns without a header."""
    out: list[RowEdit] = []
    headerless_counts = dict.fromkeys(cols.headerless, 0)
    for k, cells in enumerate(table.rows):
        if not _has_content(cells):
            continue
        if len(out) >= max_rows:
            raise _too_many_rows(table, max_rows, k)
        edit = _parse_row(len(out), table.first_row + k, cells, table, cols, flags)
        if table.strict_width and len(cells) > cols.width:
            _check_overflow(edit, cells, table, cols.width)
        if headerless_counts:
            for j in headerless_counts:
                if j < len(cells) and _has_content((cells[j],)):
                    headerless_counts[j] += 1
        out.append(edit)
    return out, headerless_counts


_FAILED = object()


def _parse_row(
    index: int,
    row: int,
    cells: Sequence[object],
    table: _Table,
    cols: _Columns,
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
        except C.CellError as exc:
            errors.append(RowError(exc.message, table.ref(row, j, header), name, exc.held))
            values[name] = _FAILED
            continue
        if value is not C.KEEP:
            values[name] = value
    segment_id = values.pop("id", C.KEEP)
    modified = values.pop(MODIFIED, None)
    if segment_id is C.KEEP:
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
        extras={key: C.text_of(cells[j]) if j < n else "" for j, key in cols.extras},
        errors=errors,
        numeric_code=cols.code_j is not None
        and "code" in values
        and _is_numeric(cells[cols.code_j], table.untyped),
    )


def _is_numeric(raw: object, untyped: bool) -> bool:
    """A number cell, or bare digits in a CSV: what a spreadsheet makes of a code like 00760."""
    cls = raw.__class__
    if cls is int or cls is float:
        return True
    return untyped and cls is str and raw.strip().isdigit()  # type: ignore[attr-defined]


def _check_overflow(edit: RowEdit, cells: Sequence[object], table: _Table, width: int) -> None:
    for j in range(width, len(cells)):
        text = C.text_of(cells[j])
        if text:
            shown = text if len(text) <= 40 else text[:37] + "..."
            edit.errors.append(
                RowError(
                    f"this row has more cells than the header has columns ({shown!r} is past "
                    "the last header); is a delimiter inside an unquoted value?",
                    table.ref(edit.source_row, j, "no header"),
                )
            )
            return


def _too_many_rows(table: _Table, max_rows: int, k: int) -> FileTooLargeError:
    total = max_rows + sum(1 for cells in table.rows[k:] if _has_content(cells))
    return FileTooLargeError(
        f"{table.where()} has {total:,} data rows, over the limit of {max_rows:,} "
        "(input.max_rows); split it into smaller files or raise the limit."
    )


def _headerless_warnings(table: _Table, cols: _Columns, counts: dict[int, int]) -> list[str]:
    warnings = []
    for j, reason in cols.headerless.items():
        if counts.get(j):
            warnings.append(
                f"column {table.letter(j)} has no header ({reason}); its {counts[j]:,} "
                "values are ignored."
            )
    return warnings


# ---------------------------------------------------------------------------------- duplicates


def _mark_duplicates(rows: list[RowEdit], table: _Table, cols: _Columns) -> None:
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
