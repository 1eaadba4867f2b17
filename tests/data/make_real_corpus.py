"""Generate ``tests/data/real/``: the shapes real files from other programs take (run once;
the files are committed).

    python tests/data/make_real_corpus.py            # or: … make_real_corpus.py OUTDIR

A sweep of public test corpora (calamine, python-calamine, csvkit, frictionless …) found files
that segsync refused for the wrong reason or over several lines. Those files are not committed
here (licences, size); each class is rebuilt instead, small and deterministic (reruns give
byte-identical files), from the standard library, xlsxwriter, the helpers of ``make_corpus.py``
and the committed ``legacy.xls`` (a real BIFF8 file). ``tests/test_real_files.py`` asserts each
outcome, through the library and through the ``segsync validate`` command.

Each file, the real one it stands for, and the outcome asserted:

- ``backslash_names.xlsx``: zip members named ``xl\\workbook.xml`` (calamine
  tests/issue_530.xlsx). Loads like basic.xlsx.
- ``root_parts.xlsx``: a minimal package, parts at the zip's root, none under ``xl/`` (calamine
  tests/minimal_package.xlsx). Loads.
- ``capitalised_stream.xls``: legacy.xls with its stream named ``BOOK`` (calamine
  tests/capitalized_wbook_stream.xls). Loads like legacy.xls.
- ``encrypted.xls``: legacy.xls with a FILEPASS record after BOF (python-calamine
  tests/data/password.xls, calamine tests/issue_385.xls). "password-protected; remove the
  password in Excel".
- ``encrypted.ods``: manifest with ``encryption-data`` (calamine tests/pass_protected.ods).
  "password-protected; open it in LibreOffice".
- ``error_cells.xlsx``: a sheet of seven Excel error cells (calamine tests/errors.xlsx). "every
  filled cell shows an Excel error (#DIV/0!, #NAME?, #VALUE! …)".
- ``error_first_sheet.xlsx``: that sheet, then a data sheet. Loads 'Edits', warning that the
  error sheet was skipped.
- ``error_rows.xlsx``: a data row whose every cell shows #N/A. Row errors on it (it used to
  vanish as an empty row).
- ``gzip.csv``, ``bzip2.csv``, ``xz.csv``: a compressed file named .csv (frictionless
  data/compression/implicit-gz.csv). "is a gzip-compressed file …; unzip it first".
- ``zip.csv``: a zip holding edits.csv (frictionless data/compression/implicit-zip.csv). "is a
  zip archive holding edits.csv …; unzip it first".
- ``header_controls.xlsx``: header cells with a line break, tab, NUL and ESC, a tab in the sheet
  name (calamine tests/has_x000D_.xlsx, tests/richtext-namespaced.xlsx). One-line "has no id
  column", controls escaped.
- ``header_controls.csv``: the same plus a bidi override and a 300-character header (csvkit
  examples/test_header_newline.csv). One line, the long header cut.
- ``header_controls.ods``: a header cell of two paragraphs (calamine tests/special_cells.ods).
  One line.
- ``duplicate_controls.csv``: two name columns, one header holding a line break. One-line "two
  columns for name".
- ``oversized_part.xlsx``: a relationship part that inflates 2 bytes beyond its declared size
  (calamine tests/issue252.xlsx). "damaged", not "a zip bomb".
- ``greek.csv``: Greek names in ISO-8859-7 (frictionless data/table-infer-iso-8859-7.csv).
  Loads, warning "check the accented letters in the preview".
"""

from __future__ import annotations

import bz2
import gzip
import io
import lzma
import struct
import sys
import zipfile
from collections.abc import Callable
from pathlib import Path

import xlsxwriter

sys.path.insert(0, str(Path(__file__).resolve().parent))

from make_corpus import (  # type: ignore[import-not-found]
    BASIC_ROWS,
    HEADER,
    ODS_MIMETYPE,
    csv_text,
    member,
    new_workbook,
    ods_cell,
    patch_declared_size,
    write_cell,
    write_ods,
)

HERE = Path(__file__).resolve().parent
OUT = HERE / "real"
LEGACY_XLS = HERE / "legacy.xls"

CASES: dict[str, Callable[[Path], None]] = {}


def case(filename: str) -> Callable[[Callable[[Path], None]], Callable[[Path], None]]:
    def register(fn: Callable[[Path], None]) -> Callable[[Path], None]:
        CASES[filename] = fn
        return fn

    return register


def basic_xlsx_bytes() -> bytes:
    """basic.xlsx's content, in memory."""
    buf = io.BytesIO()
    wb = new_workbook(buf, {"in_memory": True})
    ws = wb.add_worksheet("Edits")
    for r, row in enumerate([HEADER, *BASIC_ROWS]):
        for c, value in enumerate(row):
            write_cell(ws, r, c, value)
    wb.close()
    return buf.getvalue()


def rezip(data: bytes, rename: Callable[[str], str]) -> bytes:
    """The same members, renamed, with fixed timestamps."""
    src = zipfile.ZipFile(io.BytesIO(data))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as zf:
        for info in src.infolist():
            zf.writestr(member(rename(info.filename)), src.read(info.filename))
    return out.getvalue()


# ------------------------------------------------------------------ valid workbooks, odd shapes


@case("backslash_names.xlsx")
def backslash_names(path: Path) -> None:
    """Windows tools that build the zip by hand write ``xl\\worksheets\\sheet1.xml``."""
    path.write_bytes(rezip(basic_xlsx_bytes(), lambda name: name.replace("/", "\\")))


ROOT_TYPES = (
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
    '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
    '<Default Extension="rels" '
    'ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
    '<Override PartName="/workbook.xml" '
    'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/>'
    '<Override PartName="/sheet1.xml" '
    'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/>'
    "</Types>"
)
REL = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
ROOT_RELS = (
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
    '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
    f'<Relationship Id="rId1" Type="{REL}/officeDocument" Target="workbook.xml"/>'
    "</Relationships>"
)
ROOT_WORKBOOK_RELS = (
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
    '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
    f'<Relationship Id="rId1" Type="{REL}/worksheet" Target="sheet1.xml"/>'
    "</Relationships>"
)
ROOT_WORKBOOK = (
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
    '<workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" '
    f'xmlns:r="{REL}"><sheets><sheet name="Edits" sheetId="1" r:id="rId1"/></sheets></workbook>'
)


def sheet_xml(rows: list[list[object]]) -> str:
    """A worksheet with inline strings and numbers, as minimal writers produce it."""
    from xml.sax.saxutils import escape

    out = []
    for r, row in enumerate(rows, start=1):
        cells = []
        for c, value in enumerate(row):
            ref = f"{xlsxwriter.utility.xl_col_to_name(c)}{r}"
            if isinstance(value, int | float):
                cells.append(f'<c r="{ref}"><v>{value}</v></c>')
            elif value:
                cells.append(f'<c r="{ref}" t="inlineStr"><is><t>{escape(str(value))}</t></is></c>')
        out.append(f'<row r="{r}">{"".join(cells)}</row>')
    return (
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
        '<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">'
        f"<sheetData>{''.join(out)}</sheetData></worksheet>"
    )


@case("root_parts.xlsx")
def root_parts(path: Path) -> None:
    """A minimal package: every part at the root of the zip, none under ``xl/``."""
    rows: list[list[object]] = [
        ["id", "name", "code"],
        [100001, "Root one", "R-1"],
        [100002, "Root two", "R-2"],
    ]
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr(member("[Content_Types].xml"), ROOT_TYPES)
        zf.writestr(member("_rels/.rels"), ROOT_RELS)
        zf.writestr(member("workbook.xml"), ROOT_WORKBOOK)
        zf.writestr(member("_rels/workbook.xml.rels"), ROOT_WORKBOOK_RELS)
        zf.writestr(member("sheet1.xml"), sheet_xml(rows))


# ------------------------------------------------------------------------------ legacy .xls


def ole2_stream_offsets(data: bytes, stream_name: str) -> tuple[int, list[int]]:
    """(directory entry offset, file offset of each sector) of a regular-FAT stream."""
    sector = 1 << struct.unpack_from("<H", data, 30)[0]
    difat = [s for s in struct.unpack_from("<109I", data, 76) if s < 0xFFFFFFF0]
    fat: list[int] = []
    for s in difat:
        fat.extend(struct.unpack_from(f"<{sector // 4}I", data, (s + 1) * sector))

    def chain(start: int) -> list[int]:
        out = []
        while start < 0xFFFFFFF0:
            out.append(start)
            start = fat[start]
        return out

    for dir_sector in chain(struct.unpack_from("<I", data, 48)[0]):
        base = (dir_sector + 1) * sector
        for k in range(sector // 128):
            entry = base + k * 128
            name_len = struct.unpack_from("<H", data, entry + 64)[0]
            name = data[entry : entry + max(0, name_len - 2)].decode("utf-16-le")
            if name == stream_name:
                start, size = struct.unpack_from("<IQ", data, entry + 116)
                assert size >= struct.unpack_from("<I", data, 56)[0], "stream in the mini FAT"
                return entry, [(s + 1) * sector for s in chain(start)]
    raise SystemExit(f"no {stream_name} stream in {LEGACY_XLS}")


@case("capitalised_stream.xls")
def capitalised_stream(path: Path) -> None:
    """legacy.xls with its directory entry renamed ``BOOK`` (as Excel 5 tools wrote it)."""
    data = bytearray(LEGACY_XLS.read_bytes())
    entry, _ = ole2_stream_offsets(bytes(data), "Workbook")
    data[entry : entry + 64] = "BOOK".encode("utf-16-le").ljust(64, b"\x00")
    struct.pack_into("<H", data, entry + 64, (len("BOOK") + 1) * 2)
    path.write_bytes(bytes(data))


@case("encrypted.xls")
def encrypted_xls(path: Path) -> None:
    """legacy.xls with a FILEPASS record (RC4, fixed salt and verifier) right after the
    globals' BOF, as Excel writes a workbook saved with a password to open. The records it
    replaces (INTERFACEHDR … WRITEACCESS, 132 bytes) become FILEPASS plus one filler record, so
    the stream keeps its length; what follows FILEPASS would be encrypted in a real file."""
    data = bytearray(LEGACY_XLS.read_bytes())
    _, sectors = ole2_stream_offsets(bytes(data), "Workbook")
    start = sectors[0]
    bof_type, bof_len = struct.unpack_from("<HH", data, start)
    assert bof_type == 0x0809
    at = start + 4 + bof_len
    replaced = 0
    while replaced < 132:  # INTERFACEHDR, MMS, INTERFACEEND, WRITEACCESS in xlwt's output
        replaced += 4 + struct.unpack_from("<H", data, at + replaced + 2)[0]
    assert replaced == 132 and at + replaced <= start + 512
    filepass = struct.pack("<HHHHH", 0x002F, 54, 1, 1, 1) + bytes(range(48))
    filler = struct.pack("<HH", 0x005C, replaced - len(filepass) - 4)
    filler += b"\xa5" * (replaced - len(filepass) - 4)
    data[at : at + replaced] = filepass + filler
    path.write_bytes(bytes(data))


# ------------------------------------------------------------------------------------- ods


@case("encrypted.ods")
def encrypted_ods(path: Path) -> None:
    """An ODS saved with a password: content.xml is AES ciphertext, the manifest says how."""
    cipher = bytes((i * 73 + 41) % 256 for i in range(1536))  # stands in for AES output
    manifest = (
        '<?xml version="1.0" encoding="UTF-8"?><manifest:manifest '
        'xmlns:manifest="urn:oasis:names:tc:opendocument:xmlns:manifest:1.0" '
        'manifest:version="1.3">'
        '<manifest:file-entry manifest:full-path="/" manifest:version="1.3" '
        f'manifest:media-type="{ODS_MIMETYPE}"/>'
        '<manifest:file-entry manifest:full-path="content.xml" manifest:media-type="text/xml" '
        'manifest:size="2528"><manifest:encryption-data manifest:checksum-type='
        '"urn:oasis:names:tc:opendocument:xmlns:manifest:1.0#sha256-1k" '
        'manifest:checksum="AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=">'
        '<manifest:algorithm manifest:algorithm-name="http://www.w3.org/2001/04/xmlenc#aes256-cbc" '
        'manifest:initialisation-vector="AAAAAAAAAAAAAAAAAAAAAA=="/>'
        '<manifest:key-derivation manifest:key-derivation-name="PBKDF2" manifest:key-size="32" '
        'manifest:iteration-count="100000" manifest:salt="AAAAAAAAAAAAAAAAAAAAAA=="/>'
        "</manifest:encryption-data></manifest:file-entry></manifest:manifest>"
    )
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr(member("mimetype", stored=True), ODS_MIMETYPE)
        zf.writestr(member("content.xml", stored=True), cipher)
        zf.writestr(member("META-INF/manifest.xml"), manifest)


# ------------------------------------------------------------------------------ error cells

ERRORS = [
    ("=5/0", "#DIV/0!"),
    ("=A0", "#NAME?"),
    ('=AVERAGE("a","b")', "#VALUE!"),
    ("=A1:B1 D1:D9", "#NULL!"),
    ("=#REF!", "#REF!"),
    ("=SQRT(-4)", "#NUM!"),
    ("=NA()", "#N/A"),
]


def write_error_sheet(wb: xlsxwriter.Workbook, sheet: str) -> None:
    ws = wb.add_worksheet(sheet)
    for r, (formula, value) in enumerate(ERRORS):
        ws.write_formula(r, 0, formula, None, value)


@case("error_cells.xlsx")
def error_cells(path: Path) -> None:
    """Seven cells, each showing an Excel error; calamine reads every one as empty."""
    wb = new_workbook(path)
    write_error_sheet(wb, "Errors")
    wb.close()


@case("error_first_sheet.xlsx")
def error_first_sheet(path: Path) -> None:
    wb = new_workbook(path)
    write_error_sheet(wb, "Errors")
    ws = wb.add_worksheet("Edits")
    ws.write_row(0, 0, ["id", "name"])
    ws.write_row(1, 0, [100001, "One"])
    wb.close()


@case("error_rows.xlsx")
def error_rows(path: Path) -> None:
    """Row 3's id and name are both formulas showing #N/A: the row must not vanish."""
    wb = new_workbook(path)
    ws = wb.add_worksheet("Edits")
    ws.write_row(0, 0, ["id", "name"])
    ws.write_row(1, 0, [100001, "One"])
    ws.write_formula(2, 0, '=VLOOKUP("x",Z1:Z2,1,FALSE)', None, "#N/A")
    ws.write_formula(2, 1, '=VLOOKUP("y",Z1:Z2,1,FALSE)', None, "#N/A")
    ws.write_row(3, 0, [100003, "Three"])
    wb.close()


# ------------------------------------------------------------------------- compressed "CSV"

EDITS_CSV = csv_text([["id", "name"], [100001, "One"], [100002, "Two"]]).encode("utf-8")


@case("gzip.csv")
def gzip_csv(path: Path) -> None:
    path.write_bytes(gzip.compress(EDITS_CSV, mtime=0))


@case("bzip2.csv")
def bzip2_csv(path: Path) -> None:
    path.write_bytes(bz2.compress(EDITS_CSV))


@case("xz.csv")
def xz_csv(path: Path) -> None:
    path.write_bytes(lzma.compress(EDITS_CSV, format=lzma.FORMAT_XZ))


@case("zip.csv")
def zip_csv(path: Path) -> None:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr(member("edits.csv"), EDITS_CSV)


# ------------------------------------------------------------------- control characters

#: Header cells as other programs write them: a line break (Excel's Alt+Enter, stored as
#: ``_x000D_\n``), a tab, a NUL, and an ANSI escape that would colour a terminal.
CONTROL_HEADERS = ["Segment\r\nName", "Code\tX", "Bad\x00Nul", "\x1b[31mRed"]


@case("header_controls.xlsx")
def header_controls_xlsx(path: Path) -> None:
    wb = new_workbook(path)
    ws = wb.add_worksheet("Ed\tits")
    ws.write_row(0, 0, CONTROL_HEADERS)
    ws.write_row(1, 0, ["One", "C1", "x", "y"])
    wb.close()


@case("header_controls.csv")
def header_controls_csv(path: Path) -> None:
    rows: list[list[object]] = [
        ["start \t\n end", *CONTROL_HEADERS[1:], "\u202eevil", "H" * 300],
        ["100001", "C1", "x", "y", "z", "w"],
    ]
    path.write_text(csv_text(rows), encoding="utf-8", newline="")


@case("header_controls.ods")
def header_controls_ods(path: Path) -> None:
    """LibreOffice stores a line break inside a cell as two paragraphs."""
    body = (
        '<table:table-row><table:table-cell office:value-type="string">'
        "<text:p>Split</text:p><text:p>Line</text:p></table:table-cell>"
        + ods_cell("Other")
        + "</table:table-row><table:table-row>"
        + ods_cell("a")
        + ods_cell("b")
        + "</table:table-row>"
    )
    write_ods(path, [], body=body)


@case("duplicate_controls.csv")
def duplicate_controls(path: Path) -> None:
    rows: list[list[object]] = [["id", "Segment\nName", "name"], ["100001", "One", "Uno"]]
    path.write_text(csv_text(rows), encoding="utf-8", newline="")


# ---------------------------------------------------------------------------------- milder


@case("oversized_part.xlsx")
def oversized_part(path: Path) -> None:
    """basic.xlsx whose workbook relationships inflate 2 bytes past the declared size."""
    data = bytearray(rezip(basic_xlsx_bytes(), lambda name: name))
    part = "xl/_rels/workbook.xml.rels"
    size = zipfile.ZipFile(io.BytesIO(bytes(data))).getinfo(part).file_size
    patch_declared_size(data, part.encode(), size - 2)
    path.write_bytes(bytes(data))


GREEK_ROWS = [
    ["id", "name", "code"],
    ["100001", "Λεωνίδας", "G-1"],
    ["100002", "Αλέξανδρος", "G-2"],
    ["100003", "Μαρία Παπαδοπούλου", "G-3"],
]


@case("greek.csv")
def greek(path: Path) -> None:
    path.write_bytes(csv_text(GREEK_ROWS).encode("iso-8859-7"))


def main(out: Path = OUT) -> None:
    """Write every case into ``out`` (``tests/data/real/``; the tests compare a fresh copy)."""
    out.mkdir(exist_ok=True)
    for filename, make in CASES.items():
        make(out / filename)
        print(f"{filename:28} {(out / filename).stat().st_size:>10,} bytes")


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else OUT)
