"""Generate the bad-input corpus in ``tests/data/`` (run once; the files are committed).

    python tests/data/make_corpus.py

Tests use the committed files; this script documents how each one was made, and reruns give
byte-identical files except formula_uncached.xlsx (openpyxl stamps the save time) and
password.xlsx (a random salt). Three files need packages that are *not* project dependencies;
put them anywhere on ``PYTHONPATH`` to regenerate those (otherwise the committed files stay):
``xlwt`` writes the real BIFF8 ``legacy.xls`` and ``xls_bomb.xls``; ``msoffcrypto-tool`` writes
the really encrypted ``password.xlsx`` (without it, an OLE2 container with the same stream names
is fabricated)::

    pip install --target ./corpus-tools xlwt msoffcrypto-tool
    PYTHONPATH=./corpus-tools python tests/data/make_corpus.py

Every case and the outcome ``tests/test_input_corpus.py`` asserts ("loads" = an EditSet with
the listed values; "row error" = exactly those rows invalid, message naming the cell; other
outcomes are the file-level exception):

==============================  ==================================================================
file                            expected outcome
==============================  ==================================================================
basic.xlsx / basic.csv          loads 3 rows; "00123", "NA", "null" kept as text; ids int;
basic.ods                       blank = absent; "#clear" on description/externalIdentifier =
                                None; all three give the same rows
empty.csv                       NoDataError "is empty" (0 bytes)
empty.xlsx                      NoDataError "every visible worksheet is empty"
header_only.xlsx                NoDataError "has a header row but no data rows"
no_id_column.xlsx               NoDataError "has no id column; expected a header such as 'id' ..."
title_row.xlsx                  NoDataError, no id column, hint "Row 3 looks like the real header"
duplicate_columns.xlsx          NoDataError naming 'Name' (B) and 'Segment Name' (D)
merged_header.xlsx              loads; warning: column D is covered by merged header C1:D1, ignored
merged_data.xlsx                row errors on B3, B4 (covered by merged B2:B4); row 2 loads
first_sheet_empty.xlsx          loads sheet 'Edits' (first sheet 'Notes' is empty)
hidden_first_sheet.xlsx         loads visible sheet 'Edits', warning about hidden 'Old'
trailing_empty.xlsx             loads 2 rows; whitespace rows, formatted blanks ignored; no warnings
ragged.csv                      short rows load (missing = keep); row 4 error at D4 (extra cell)
unknown_columns.xlsx            loads; 2 warnings; extras {'Notes': ..., 'Owner': ...} as text
header_variants.csv             loads; SEGMENT_ID/campaign-id/CODE/External Identifier/Last Modified
                                mapped, 'Total Donors' and 'Campaign Name' recognised and ignored
bad_ids.xlsx                    row errors: 'abc', -5, 0, 1e20, 12.5, blank id, date-formatted id,
                                two rows for 100020 with different names (both); identical repeat of
                                100030 → duplicate_of, valid
blank_name_code.xlsx            loads; blank/space-only name and code absent from values
clear_required.xlsx             row errors: #CLEAR on name (C2) and code (D3); campaignId (B4)
campaign_id_text.xlsx           '5001' → 5001, '00042' → 42, 'abc' → row error B4
long_cell.csv                   row error B2: name is 50,000 characters long (limit 4,000)
long_cell.xlsx                  row error B2: 32,767 characters (Excel's own cell maximum)
nul_bytes.xlsx / nul_bytes.csv  row error: name contains a NUL byte
odd_text_cells.xlsx             row errors: date in code (D2), line break in name (C3); a TRUE cell
                                in name → "TRUE"; multi-line description kept
formula_cached.xlsx             loads the formulas' saved values (code "A-1", campaignId 5002)
formula_uncached.xlsx           row error: "the formula in this cell has no saved value; ..."
formula_error.xlsx              row error: "the cell shows the Excel error #N/A; ..."
csv_named.xlsx                  UnsupportedFileError "is not an Excel workbook; it looks like CSV"
html_named.xlsx                 UnsupportedFileError "is not an Excel workbook ...; it looks like
                                HTML"
truncated.xlsx                  UnsupportedFileError "is damaged or incomplete"
password.xlsx                   UnsupportedFileError "password-protected; remove the password ..."
legacy.xls                      loads (real BIFF8 via xlwt): ids, "00123", 42 → "42"; date id error
legacy_misnamed.xlsx            the same .xls named .xlsx: loads, with a warning
fake.xlsb                       UnsupportedFileError ".xlsb ... save it as .xlsx"
cp1252.csv                      loads "Café", "Zürich", "€5 appeal"; warning "read as Windows-1252"
utf8_bom.csv                    loads; first header is 'Segment ID' (BOM stripped)
utf16_tab.txt                   loads (Excel "Unicode Text": UTF-16LE BOM, tab-delimited)
semicolon.csv                   loads; semicolon delimiter, commas inside values kept
excel_sep.csv                   loads; Excel's "sep=;" first line honoured
quoted_newlines.csv             loads; description keeps its line break, rows numbered by record
unclosed_quote.csv              UnsupportedFileError "is not valid CSV near line ..."
zip_bomb.xlsx                   FileTooLargeError "looks like a zip bomb" (1.1 GB member, 1 MB file)
lying_zip.xlsx                  FileTooLargeError: sheet inflates beyond its declared size
entity_bomb.xlsx                UnsupportedFileError "document type declaration" (billion laughs in
                                sharedStrings.xml); calamine alone rejects it too (XmlError, fast)
sparse_bomb.xlsx                FileTooLargeError "spans 1,048,576 rows × 16,384 columns" (A1 +
                                XFD1048576: calamine would abort the process allocating 17G cells)
ods_bomb.ods                    FileTooLargeError (repeated rows × columns = 100M filled cells)
xls_bomb.xls                    FileTooLargeError: a BIFF cell record at column 32,767 (calamine
                                would abort the process allocating 65,536 × 32,768 cells)
basic.xlsx, max_file_mb tiny    FileTooLargeError "over the 0.001 MB limit"
basic.xlsx, max_rows=2          FileTooLargeError "has 3 data rows, over the limit of 2"
libreoffice.xlsx                loads with exactly the values of libreoffice.csv (saved by
                                LibreOffice 7.4 ``soffice --headless --convert-to xlsx``)
==============================  ==================================================================
"""

from __future__ import annotations

import datetime as dt
import io
import shutil
import struct
import subprocess
import tempfile
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import openpyxl
import xlsxwriter

HERE = Path(__file__).resolve().parent
MB = 1024 * 1024

HEADER = ["Segment ID", "Campaign ID", "Segment Name", "Segment Code", "Description", "External ID"]
#: The shared content of basic.xlsx / basic.csv / basic.ods (numbers as an Excel user types them).
BASIC_ROWS: list[list[object]] = [
    [100001, 5001, "Spring appeal", "00123", "NA", "null"],
    [100002, 5001, "Café donors", "SPR-02", "N/A", ""],
    [100003, "", "  Padded name  ", "", "#clear", "#CLEAR"],
]

CASES: dict[str, Callable[[Path], None]] = {}


def member(name: str, *, stored: bool = False) -> zipfile.ZipInfo:
    """A zip member with a fixed timestamp, so regenerated files are byte-identical."""
    info = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))
    info.compress_type = zipfile.ZIP_STORED if stored else zipfile.ZIP_DEFLATED
    return info


def case(filename: str) -> Callable[[Callable[[Path], None]], Callable[[Path], None]]:
    def register(fn: Callable[[Path], None]) -> Callable[[Path], None]:
        CASES[filename] = fn
        return fn

    return register


def new_workbook(target: Path | io.BytesIO, options: dict[str, object] | None = None) -> Any:
    """An xlsxwriter workbook with a fixed creation date (byte-identical reruns)."""
    wb = xlsxwriter.Workbook(target, options or {})
    wb.set_properties({"created": dt.datetime(2024, 1, 1)})
    return wb


def write_xlsx(path: Path, rows: list[list[object]], sheet: str = "Edits") -> None:
    """A one-sheet workbook; numbers stay numbers, text stays text (as Excel stores them)."""
    wb = new_workbook(path)
    ws = wb.add_worksheet(sheet)
    for r, row in enumerate(rows):
        for c, value in enumerate(row):
            write_cell(ws, r, c, value)
    wb.close()


def write_cell(ws: xlsxwriter.worksheet.Worksheet, r: int, c: int, value: object) -> None:
    if value is None or value == "":
        return
    if isinstance(value, bool):
        ws.write_boolean(r, c, value)
    elif isinstance(value, int | float):
        ws.write_number(r, c, value)
    else:
        ws.write_string(r, c, str(value))


def csv_text(rows: list[list[object]], sep: str = ",") -> str:
    import csv

    out = io.StringIO()
    writer = csv.writer(out, delimiter=sep, lineterminator="\r\n")
    for row in rows:
        writer.writerow(["" if v is None else v for v in row])
    return out.getvalue()


# ------------------------------------------------------------------------------ loads cleanly


@case("basic.xlsx")
def basic_xlsx(path: Path) -> None:
    write_xlsx(path, [HEADER, *BASIC_ROWS])


@case("basic.csv")
def basic_csv(path: Path) -> None:
    path.write_text(csv_text([HEADER, *BASIC_ROWS]), encoding="utf-8")


@case("basic.ods")
def basic_ods(path: Path) -> None:
    write_ods(path, [HEADER, *BASIC_ROWS])


ODS_MIMETYPE = "application/vnd.oasis.opendocument.spreadsheet"
ODS_NS = (
    'xmlns:office="urn:oasis:names:tc:opendocument:xmlns:office:1.0" '
    'xmlns:table="urn:oasis:names:tc:opendocument:xmlns:table:1.0" '
    'xmlns:text="urn:oasis:names:tc:opendocument:xmlns:text:1.0"'
)


def ods_cell(value: object) -> str:
    if value is None or value == "":
        return "<table:table-cell/>"
    if isinstance(value, int | float) and not isinstance(value, bool):
        return (
            f'<table:table-cell office:value-type="float" office:value="{value}">'
            f"<text:p>{value}</text:p></table:table-cell>"
        )
    from xml.sax.saxutils import escape

    return (
        f'<table:table-cell office:value-type="string"><text:p>{escape(str(value))}</text:p>'
        "</table:table-cell>"
    )


def write_ods(path: Path, rows: list[list[object]], body: str | None = None) -> None:
    """A minimal OpenDocument spreadsheet (no office suite needed)."""
    if body is None:
        body = "".join(
            "<table:table-row>" + "".join(ods_cell(v) for v in row) + "</table:table-row>"
            for row in rows
        )
    content = (
        '<?xml version="1.0" encoding="UTF-8"?>'
        f'<office:document-content {ODS_NS} office:version="1.2"><office:body>'
        f'<office:spreadsheet><table:table table:name="Edits">{body}</table:table>'
        "</office:spreadsheet></office:body></office:document-content>"
    )
    manifest = (
        '<?xml version="1.0" encoding="UTF-8"?><manifest:manifest '
        'xmlns:manifest="urn:oasis:names:tc:opendocument:xmlns:manifest:1.0">'
        '<manifest:file-entry manifest:full-path="/" '
        'manifest:media-type="application/vnd.oasis.opendocument.spreadsheet"/>'
        '<manifest:file-entry manifest:full-path="content.xml" manifest:media-type="text/xml"/>'
        "</manifest:manifest>"
    )
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr(member("mimetype", stored=True), ODS_MIMETYPE)
        zf.writestr(member("META-INF/manifest.xml"), manifest)
        zf.writestr(member("content.xml"), content)


@case("first_sheet_empty.xlsx")
def first_sheet_empty(path: Path) -> None:
    wb = new_workbook(path)
    wb.add_worksheet("Notes")
    ws = wb.add_worksheet("Edits")
    for r, row in enumerate([HEADER, *BASIC_ROWS]):
        for c, value in enumerate(row):
            write_cell(ws, r, c, value)
    wb.close()


@case("hidden_first_sheet.xlsx")
def hidden_first_sheet(path: Path) -> None:
    wb = new_workbook(path)
    old = wb.add_worksheet("Old")
    old.write_row(0, 0, ["id", "name"])
    old.write_row(1, 0, [999, "stale row from last year"])
    ws = wb.add_worksheet("Edits")
    ws.write_row(0, 0, ["id", "name"])
    ws.write_row(1, 0, [100001, "Current"])
    ws.activate()
    old.hide()
    wb.close()


@case("trailing_empty.xlsx")
def trailing_empty(path: Path) -> None:
    wb = new_workbook(path)
    ws = wb.add_worksheet("Edits")
    fmt = wb.add_format({"bg_color": "#FFFF00"})
    ws.write_row(0, 0, ["id", "name", "code"])
    ws.write_row(1, 0, [100001, "One", "C1"])
    ws.write_row(2, 0, [100002, "Two", "C2"])
    ws.write_row(3, 0, ["   ", " ", ""])  # whitespace only: an empty row
    ws.write_string(3, 4, "  ")  # and a whitespace-only cell in a column with no header
    for r in range(4, 30):  # formatted but empty cells below and to the right
        for c in range(0, 8):
            ws.write_blank(r, c, None, fmt)
    ws.write_string(0, 5, "   ")  # a whitespace-only header cell far right
    wb.close()


@case("unknown_columns.xlsx")
def unknown_columns(path: Path) -> None:
    write_xlsx(
        path,
        [
            ["id", "Notes", "name", "Owner"],
            [100001, "call first", "One", 123.0],
            [100002, "", "Two", "Pat"],
        ],
    )


@case("header_variants.csv")
def header_variants(path: Path) -> None:
    rows = [
        [
            "SEGMENT_ID",
            " campaign-id ",
            "Segment Name",
            "CODE",
            "External Identifier",
            "Last Modified",
            "Total Donors",
            "Campaign Name",
        ],
        ["100001", "5001", "One", "C1", "X-1", "2024-03-01T10:15:00Z", "12", "Spring"],
    ]
    path.write_text(csv_text(rows), encoding="utf-8")


@case("blank_name_code.xlsx")
def blank_name_code(path: Path) -> None:
    write_xlsx(
        path,
        [
            ["id", "name", "code", "description"],
            [100001, "", "", "only the description"],
            [100002, "   ", "\t ", "spaces and a tab"],
            [100003, "Kept", "  K-3  ", ""],
        ],
    )


@case("campaign_id_text.xlsx")
def campaign_id_text(path: Path) -> None:
    write_xlsx(
        path,
        [
            ["id", "campaignId"],
            [100001, "5001"],
            [100002, "00042"],
            [100003, "abc"],
        ],
    )


@case("formula_cached.xlsx")
def formula_cached(path: Path) -> None:
    wb = new_workbook(path)
    ws = wb.add_worksheet("Edits")
    ws.write_row(0, 0, ["id", "campaignId", "code"])
    ws.write_number(1, 0, 100001)
    ws.write_formula(1, 1, "=5000+2", None, 5002)
    ws.write_formula(1, 2, '="A-"&1', None, "A-1")
    wb.close()


@case("formula_uncached.xlsx")
def formula_uncached(path: Path) -> None:
    """openpyxl writes formulas without a saved value (nothing computed them)."""
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "Edits"
    ws.append(["id", "name", "code"])
    ws.append([100001, "One", "C1"])
    ws.append([100002, '=CONCAT("Two", "")', "C2"])
    wb.save(path)


@case("formula_error.xlsx")
def formula_error(path: Path) -> None:
    wb = new_workbook(path)
    ws = wb.add_worksheet("Edits")
    ws.write_row(0, 0, ["id", "name", "code"])
    ws.write_row(1, 0, [100001, "One", "C1"])
    ws.write_number(2, 0, 100002)
    ws.write_formula(2, 1, '=VLOOKUP("x",Z1:Z2,1,FALSE)', None, "#N/A")
    ws.write_string(2, 2, "C2")
    wb.close()


@case("merged_header.xlsx")
def merged_header(path: Path) -> None:
    wb = new_workbook(path)
    ws = wb.add_worksheet("Edits")
    ws.write_row(0, 0, ["id", "code"])
    ws.merge_range("C1:D1", "name", wb.add_format({"bold": True}))
    ws.write_row(1, 0, [100001, "C1", "One", "note one"])
    ws.write_row(2, 0, [100002, "C2", "Two", "note two"])
    wb.close()


@case("merged_data.xlsx")
def merged_data(path: Path) -> None:
    wb = new_workbook(path)
    ws = wb.add_worksheet("Edits")
    ws.write_row(0, 0, ["id", "campaignId", "name"])
    ws.merge_range("B2:B4", 5001, wb.add_format({"valign": "vcenter"}))
    for r, (sid, name) in enumerate([(100001, "One"), (100002, "Two"), (100003, "Three")], 1):
        ws.write_number(r, 0, sid)
        ws.write_string(r, 2, name)
    wb.close()


# ------------------------------------------------------------------------------- row errors


@case("bad_ids.xlsx")
def bad_ids(path: Path) -> None:
    wb = new_workbook(path)
    ws = wb.add_worksheet("Edits")
    date_fmt = wb.add_format({"num_format": "yyyy-mm-dd"})
    ws.write_row(0, 0, ["Segment ID", "name"])
    rows: list[tuple[object, str]] = [
        ("abc", "non-numeric"),  # row 2
        (-5, "negative"),  # row 3
        (0, "zero"),  # row 4
        (1e20, "huge"),  # row 5
        (12.5, "fraction"),  # row 6
        ("", "blank id"),  # row 7
        (dt.date(2024, 1, 2), "date"),  # row 8
        (100020, "first version"),  # row 9
        (100020, "second version"),  # row 10
        (100030, "same"),  # row 11
        (100030, "same"),  # row 12
        (100040, "fine"),  # row 13
    ]
    for r, (sid, name) in enumerate(rows, 1):
        if isinstance(sid, dt.date):
            ws.write_datetime(r, 0, dt.datetime(sid.year, sid.month, sid.day), date_fmt)
        else:
            write_cell(ws, r, 0, sid)
        ws.write_string(r, 1, name)
    wb.close()


@case("clear_required.xlsx")
def clear_required(path: Path) -> None:
    write_xlsx(
        path,
        [
            ["id", "campaignId", "name", "code", "description"],
            [100001, 5001, "#CLEAR", "C1", "fine"],
            [100002, 5001, "Two", " #clear ", "fine"],
            [100003, "#Clear", "Three", "C3", "#CLEAR"],
        ],
    )


@case("long_cell.csv")
def long_cell_csv(path: Path) -> None:
    path.write_text(csv_text([["id", "name"], [100001, "x" * 50_000], [100002, "Short"]]))


@case("long_cell.xlsx")
def long_cell_xlsx(path: Path) -> None:
    """Excel (and xlsxwriter) cap a cell at 32,767 characters: that is as long as it gets."""
    write_xlsx(path, [["id", "name"], [100001, "x" * 50_000], [100002, "Short"]])


@case("nul_bytes.xlsx")
def nul_bytes_xlsx(path: Path) -> None:
    write_xlsx(path, [["id", "name"], [100001, "bad\x00name"], [100002, "Fine"]])


@case("nul_bytes.csv")
def nul_bytes_csv(path: Path) -> None:
    path.write_bytes(b"id,name\r\n100001,bad\x00name\r\n100002,Fine\r\n")


@case("odd_text_cells.xlsx")
def odd_text_cells(path: Path) -> None:
    wb = new_workbook(path)
    ws = wb.add_worksheet("Edits")
    ws.write_row(0, 0, ["id", "description", "name", "code"])
    date_fmt = wb.add_format({"num_format": "d-mmm"})
    ws.write_number(1, 0, 100001)
    ws.write_string(1, 2, "Excel ate my code")
    ws.write_datetime(1, 3, dt.datetime(2024, 3, 12), date_fmt)  # "3-12" typed as a code
    ws.write_number(2, 0, 100002)
    ws.write_string(2, 2, "two\nlines")
    ws.write_number(3, 0, 100003)
    ws.write_string(3, 1, "line one\nline two\twith a tab")
    ws.write_boolean(3, 2, True)
    wb.close()


@case("ragged.csv")
def ragged(path: Path) -> None:
    path.write_text(
        "id,name,code\r\n"
        "100001,One\r\n"  # short: code blank = keep
        "100002\r\n"  # id only
        "100003,Smith, John,C3\r\n"  # unquoted comma: one cell too many
        "100004,Four,C4,\r\n",  # trailing empty extra cell: harmless
        encoding="utf-8",
    )


# ---------------------------------------------------------------------------- file-level


@case("empty.csv")
def empty_csv(path: Path) -> None:
    path.write_bytes(b"")


@case("empty.xlsx")
def empty_xlsx(path: Path) -> None:
    wb = new_workbook(path)
    wb.add_worksheet("Edits")
    wb.close()


@case("header_only.xlsx")
def header_only(path: Path) -> None:
    write_xlsx(path, [HEADER])


@case("no_id_column.xlsx")
def no_id_column(path: Path) -> None:
    write_xlsx(path, [["Name", "Code"], ["One", "C1"]])


@case("title_row.xlsx")
def title_row(path: Path) -> None:
    wb = new_workbook(path)
    ws = wb.add_worksheet("Edits")
    ws.merge_range("A1:C1", "Segment changes for March", wb.add_format({"bold": True}))
    ws.write_row(2, 0, ["Segment ID", "Name", "Code"])
    ws.write_row(3, 0, [100001, "One", "C1"])
    wb.close()


@case("duplicate_columns.xlsx")
def duplicate_columns(path: Path) -> None:
    write_xlsx(path, [["id", "Name", "code", "Segment Name"], [100001, "One", "C1", "Uno"]])


@case("csv_named.xlsx")
def csv_named(path: Path) -> None:
    path.write_text(csv_text([HEADER, *BASIC_ROWS]), encoding="utf-8")


@case("html_named.xlsx")
def html_named(path: Path) -> None:
    path.write_text(
        "<!DOCTYPE html>\n<html><head><meta charset='utf-8'></head><body><table>"
        "<tr><th>Segment ID</th><th>Name</th></tr><tr><td>100001</td><td>One</td></tr>"
        "</table></body></html>\n",
        encoding="utf-8",
    )


@case("truncated.xlsx")
def truncated(path: Path) -> None:
    buf = io.BytesIO()
    wb = new_workbook(buf, {"in_memory": True})
    ws = wb.add_worksheet("Edits")
    for r, row in enumerate([HEADER, *BASIC_ROWS]):
        for c, value in enumerate(row):
            write_cell(ws, r, c, value)
    wb.close()
    data = buf.getvalue()
    path.write_bytes(data[: len(data) // 2])  # the central directory is gone


@case("password.xlsx")
def password(path: Path) -> None:
    plain = io.BytesIO()
    wb = new_workbook(plain, {"in_memory": True})
    wb.add_worksheet("Edits").write_row(0, 0, ["id", "name"])
    wb.close()
    try:
        from msoffcrypto.format.ooxml import OOXMLFile
    except ImportError:
        path.write_bytes(fabricated_encrypted_ole2())
        return
    plain.seek(0)
    out = io.BytesIO()
    OOXMLFile(plain).encrypt("secret", out)
    path.write_bytes(out.getvalue())


def fabricated_encrypted_ole2() -> bytes:
    """An OLE2 header plus the directory names Excel uses for an encrypted workbook."""
    header = bytearray(512)
    header[:8] = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
    struct.pack_into("<HHH", header, 24, 0x3E, 3, 0xFFFE)
    entries = b"".join(
        name.encode("utf-16-le").ljust(64, b"\x00") + bytes(64)
        for name in ("Root Entry", "EncryptionInfo", "EncryptedPackage")
    )
    return bytes(header) + entries.ljust(512 * 3, b"\x00")


@case("legacy.xls")
def legacy_xls(path: Path) -> None:
    try:
        import xlwt
    except ImportError:
        if not path.exists():
            raise SystemExit(
                "legacy.xls needs xlwt once: pip install --target /tmp/x xlwt"
            ) from None
        return
    wb = xlwt.Workbook()
    ws = wb.add_sheet("Legacy")
    for c, text in enumerate(["Segment ID", "Name", "Code"]):
        ws.write(0, c, text)
    ws.write(1, 0, 100001)
    ws.write(1, 1, "Spring appeal")
    ws.write(1, 2, "00123")
    ws.write(2, 0, 100002.0)
    ws.write(2, 1, "Café")
    ws.write(2, 2, 42)
    ws.write(3, 0, dt.date(2024, 1, 2), xlwt.easyxf(num_format_str="yyyy-mm-dd"))
    ws.write(3, 1, "date id")
    wb.save(str(path))


@case("legacy_misnamed.xlsx")
def legacy_misnamed(path: Path) -> None:
    shutil.copyfile(HERE / "legacy.xls", path)


@case("xls_bomb.xls")
def xls_bomb(path: Path) -> None:
    """A real .xls whose last cell record claims column 32,767 (BIFF8 stops at 255)."""
    try:
        import xlwt
    except ImportError:
        if not path.exists():
            raise SystemExit(
                "xls_bomb.xls needs xlwt once: pip install --target /tmp/x xlwt"
            ) from None
        return
    wb = xlwt.Workbook()
    ws = wb.add_sheet("Edits")
    ws.write(0, 0, "id")
    ws.write(1, 0, 100001)
    ws.write(65535, 255, 2.5)  # an RK record at the format's last cell
    buf = io.BytesIO()
    wb.save(buf)
    data = bytearray(buf.getvalue())
    at = data.find(struct.pack("<HHHH", 0x027E, 10, 65535, 255))
    struct.pack_into("<H", data, at + 6, 0x7FFF)
    path.write_bytes(bytes(data))


@case("fake.xlsb")
def fake_xlsb(path: Path) -> None:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr(member("[Content_Types].xml"), "<Types/>")
        zf.writestr(member("xl/workbook.bin"), b"\x83\x01\x00")


# ------------------------------------------------------------------------------ encodings


ACCENT_ROWS = [
    ["Segment ID", "Segment Name", "Description"],
    ["100001", "Café", "Zürich naïve"],
    ["100002", "€5 appeal", "déjà vu"],
]


@case("cp1252.csv")
def cp1252(path: Path) -> None:
    path.write_bytes(csv_text(ACCENT_ROWS).encode("cp1252"))


@case("utf8_bom.csv")
def utf8_bom(path: Path) -> None:
    path.write_bytes(csv_text(ACCENT_ROWS).encode("utf-8-sig"))


@case("utf16_tab.txt")
def utf16_tab(path: Path) -> None:
    path.write_bytes(csv_text(ACCENT_ROWS, sep="\t").encode("utf-16"))  # BOM + LE


@case("semicolon.csv")
def semicolon(path: Path) -> None:
    rows = [
        ["Segment ID", "Segment Name", "Description"],
        ["100001", "One", "a, b, and c"],
        ["100002", "Two", "x,y"],
    ]
    path.write_text(csv_text(rows, sep=";"), encoding="utf-8")


@case("excel_sep.csv")
def excel_sep(path: Path) -> None:
    path.write_text("sep=;\r\n" + csv_text([["id", "name"], ["100001", "One, really"]], ";"))


@case("quoted_newlines.csv")
def quoted_newlines(path: Path) -> None:
    path.write_text(
        csv_text(
            [
                ["id", "name", "description"],
                ["100001", "One", "Line one\r\nLine two"],
                ["100002", "Two", "single"],
            ]
        ),
        encoding="utf-8",
        newline="",
    )


@case("unclosed_quote.csv")
def unclosed_quote(path: Path) -> None:
    path.write_text('id,name\r\n100001,"One\r\n100002,Two\r\n', encoding="utf-8", newline="")


# ------------------------------------------------------------------------- hostile files


@case("zip_bomb.xlsx")
def zip_bomb(path: Path) -> None:
    """A real xlsx whose sheet part inflates to 1.1 GB (deflate tops out near 1000:1)."""
    plain = io.BytesIO()
    write_xlsx_to(plain)
    src = zipfile.ZipFile(plain)
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as zf:
        for info in src.infolist():
            if info.filename != "xl/worksheets/sheet1.xml":
                zf.writestr(member(info.filename), src.read(info.filename))
                continue
            with zf.open(member(info.filename), "w", force_zip64=True) as sheet:
                sheet.write(b'<?xml version="1.0"?><worksheet><sheetData>')
                block = b" " * MB
                for _ in range(1100):
                    sheet.write(block)
                sheet.write(b"</sheetData></worksheet>")


def write_xlsx_to(target: io.BytesIO) -> None:
    wb = new_workbook(target, {"in_memory": True})
    ws = wb.add_worksheet("Edits")
    for r, row in enumerate([HEADER, *BASIC_ROWS]):
        for c, value in enumerate(row):
            write_cell(ws, r, c, value)
    wb.close()
    target.seek(0)


@case("lying_zip.xlsx")
def lying_zip(path: Path) -> None:
    """The sheet really inflates to 8 MB, but the zip directory says 2,000 bytes."""
    plain = io.BytesIO()
    write_xlsx_to(plain)
    src = zipfile.ZipFile(plain)
    part = "xl/worksheets/sheet1.xml"
    sheet = src.read(part)
    padded = sheet.replace(b"<sheetData>", b"<sheetData>" + b" " * (8 * MB), 1)
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for info in src.infolist():
            data = padded if info.filename == part else src.read(info.filename)
            zf.writestr(member(info.filename), data)
    data = bytearray(buf.getvalue())
    patch_declared_size(data, part.encode(), 2000)
    path.write_bytes(bytes(data))


def patch_declared_size(data: bytearray, name: bytes, size: int) -> None:
    """Overwrite a member's uncompressed size in its local header and central directory."""
    pos = 0
    while (pos := data.find(b"PK\x03\x04", pos)) >= 0:
        name_len = struct.unpack_from("<H", data, pos + 26)[0]
        if data[pos + 30 : pos + 30 + name_len] == name:
            struct.pack_into("<I", data, pos + 22, size)
        pos += 4
    pos = 0
    while (pos := data.find(b"PK\x01\x02", pos)) >= 0:
        name_len = struct.unpack_from("<H", data, pos + 28)[0]
        if data[pos + 46 : pos + 46 + name_len] == name:
            struct.pack_into("<I", data, pos + 24, size)
        pos += 4


@case("entity_bomb.xlsx")
def entity_bomb(path: Path) -> None:
    """Billion laughs in sharedStrings.xml: 10 levels of 10× expansion (10^9 'lol's)."""
    plain = io.BytesIO()
    write_xlsx_to(plain)
    src = zipfile.ZipFile(plain)
    entities = '<!ENTITY lol0 "lol">' + "".join(
        f'<!ENTITY lol{i} "' + f"&lol{i - 1};" * 10 + '">' for i in range(1, 10)
    )
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for info in src.infolist():
            data = src.read(info.filename)
            if info.filename == "xl/sharedStrings.xml":
                text = data.decode("utf-8")
                decl, rest = text.split("?>", 1)
                rest = rest.replace("<t>Spring appeal</t>", "<t>&lol9;</t>", 1)
                text = f"{decl}?><!DOCTYPE sst [{entities}]>{rest}"
                data = text.encode("utf-8")
            zf.writestr(member(info.filename), data)


@case("sparse_bomb.xlsx")
def sparse_bomb(path: Path) -> None:
    """Two cells: A1 and XFD1048576. calamine's dense range would be 17 billion cells."""
    wb = new_workbook(path)
    ws = wb.add_worksheet("Edits")
    ws.write_row(0, 0, ["id", "name"])
    ws.write_row(1, 0, [100001, "One"])
    ws.write_string(1_048_575, 16_383, "far away")
    wb.close()


@case("ods_bomb.ods")
def ods_bomb(path: Path) -> None:
    """100,000 repeated rows × 1,000 repeated filled columns in under a kilobyte."""
    body = (
        "<table:table-row>" + ods_cell("id") + "</table:table-row>"
        '<table:table-row table:number-rows-repeated="100000">'
        '<table:table-cell table:number-columns-repeated="1000" office:value-type="float" '
        'office:value="1"><text:p>1</text:p></table:table-cell></table:table-row>'
    )
    write_ods(path, [], body=body)


LIBREOFFICE_CSV = (
    "id,campaignId,name,code,description,externalIdentifier\n"
    "100001,5001,Donateurs réguliers – Québec,00123,NA,null\n"
    '100002,5002,"Müller Family & Friends",007-EM,"Line one, with comma",\n'
    "100003,5003,Major Donors $1k+,00042,,#CLEAR\n"
    "100004,5001,Église – Legacy,A-1,Multi word description,SF-001\n"
)


@case("libreoffice.csv")
def libreoffice_csv(path: Path) -> None:
    """The CSV that libreoffice.xlsx is converted from (they must load identically)."""
    path.write_text(LIBREOFFICE_CSV, encoding="utf-8", newline="")


@case("libreoffice.xlsx")
def libreoffice_xlsx(path: Path) -> None:
    """An XLSX saved by LibreOffice itself: ``soffice --headless --convert-to xlsx``.

    The import filter reads id and campaignId as numbers and the other columns as text, as a
    user would set in LibreOffice's CSV dialog (otherwise LibreOffice itself drops the zeros of
    "00123" before segsync ever sees the file). Needs LibreOffice (Debian: libreoffice-calc-
    nogui); without it the committed file stays.
    """
    soffice = shutil.which("soffice")
    if soffice is None:
        print("  (soffice not found: keeping the committed libreoffice.xlsx)")
        return
    source = path.with_suffix(".csv")
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run(
            [
                soffice,
                f"-env:UserInstallation=file://{tmp}/profile",
                "--headless",
                "--infilter=CSV:44,34,76,1,1/1/2/1/3/2/4/2/5/2/6/2",
                "--convert-to",
                "xlsx",
                "--outdir",
                tmp,
                str(source),
            ],
            check=True,
            capture_output=True,
            timeout=120,
        )
        shutil.copyfile(Path(tmp) / "libreoffice.xlsx", path)


def main() -> None:
    for filename, make in CASES.items():
        make(HERE / filename)
        print(f"{filename:28} {(HERE / filename).stat().st_size:>10,} bytes")


if __name__ == "__main__":
    main()
