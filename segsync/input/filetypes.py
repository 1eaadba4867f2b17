"""What is this file, and is it safe to hand to a parser?

The loader never trusts a file's extension or its zip directory. Before python-calamine (Rust)
sees a byte, this module:

* refuses a file over ``input.max_file_mb`` from its size on disk, before reading it;
* sniffs the real type from magic bytes: OOXML zip (``.xlsx``/``.xlsm``), ODF zip (``.ods``),
  OLE2/CFB (legacy ``.xls``, or an encrypted OOXML workbook, which Excel stores in OLE2), text
  (CSV/TSV, or HTML/XML/PDF dressed up as ``.xlsx``). A text file named like a workbook is refused
  with advice rather than guessed at: "Export to Excel" buttons that write HTML are common, and
  reading such a file as CSV would turn markup into segment names;
* checks a zip's central directory (member count, total and per-member inflated size,
  compression ratio, encryption, duplicate names) without inflating anything, then inflates each
  member the reader will parse once, under a hard cap, to prove its true size matches the
  directory (a lying directory is how a "small" member becomes a bomb for a reader that trusts
  the stream, not the directory) and that no XML part declares a DTD (entity expansion);
* scans a worksheet's XML, streaming, for the cells it references. calamine allocates the
  *dense* rectangle between the first and last filled cell, so a 5 kB file with values in A1 and
  XFD1048576 asks for 17 billion cells and aborts the whole process (a Rust allocation failure is
  not a Python exception). The same pass records formula cells with no saved value and cells
  holding an Excel error (``#N/A``): calamine reports both as empty, which would silently mean
  "keep the current value".

The same extent guard covers ``.ods`` (repeated rows and columns in content.xml) and ``.xls``
(BIFF cell records carry 16-bit columns, and calamine trusts them). ``.xlsb`` is refused (save as
``.xlsx``): a binary format this module does not parse, so it cannot be checked before calamine
allocates its sheets.

Text decoding is deterministic: a BOM wins (UTF-8, UTF-16, UTF-32); then strict UTF-8; then
Windows-1252, the encoding Excel on Western Windows writes for "CSV (Comma delimited)", where the
five bytes cp1252 leaves undefined decode to C1 control characters (as Windows does) so that the
loader reports the cell instead of the decoder guessing. charset-normalizer is deliberately not
used: its guesses vary with sample content, and a sync tool should read a file the same way twice.
"""

from __future__ import annotations

import codecs
import hashlib
import re
import struct
import zipfile
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path, PurePosixPath
from typing import BinaryIO
from xml.parsers import expat

from defusedxml import ElementTree as SafeET

from segsync.errors import FileTooLargeError, NoDataError, UnsupportedFileError

MB = 1024 * 1024
#: Zip sanity limits. The total inflated size is capped at 20× the file limit (at most 1 GiB);
#: a member over 50 MB that compresses better than 100:1 is a bomb, not a spreadsheet.
ZIP_TOTAL_FACTOR = 20
ZIP_TOTAL_CEILING = 1024 * MB
ZIP_RATIO_LIMIT = 100
ZIP_RATIO_MIN_SIZE = 50 * MB
ZIP_MAX_MEMBERS = 10_000
#: Largest dense rectangle (rows × columns between the first and last filled cell) a workbook may
#: make calamine allocate: 2**24 cells, the largest sheet Excel 97-2003 could hold (65,536 × 256),
#: about 1 GB in calamine (measured) and still 500,000 rows × 33 columns.
MAX_SHEET_CELLS = 16_777_216
EXCEL_MAX_ROWS = 1_048_576
_CHUNK = 1 * MB
_CARRY_LIMIT = 16 * MB

OLE2_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
ZIP_MAGICS = (b"PK\x03\x04", b"PK\x05\x06")
WORKBOOK_EXTENSIONS = frozenset({".xlsx", ".xlsm", ".xltx", ".xltm", ".xls", ".xlsb", ".ods"})
TEXT_EXTENSIONS = frozenset({".csv", ".tsv", ".txt", ".tab"})
ODS_MIMETYPE = b"application/vnd.oasis.opendocument.spreadsheet"

_UTF16_NAME = {name: name.encode("utf-16-le") for name in ("EncryptionInfo", "EncryptedPackage")}
_BIFF_STREAMS = ("Workbook".encode("utf-16-le"), "Book".encode("utf-16-le"))


class FileKind(Enum):
    """The real type of an input file, whatever its name says."""

    XLSX = "xlsx"  # OOXML workbook (.xlsx/.xlsm/templates)
    XLS = "xls"  # BIFF workbook in an OLE2 container
    ODS = "ods"  # OpenDocument spreadsheet
    TEXT = "text"  # delimited text (CSV/TSV)


@dataclass(frozen=True, slots=True)
class FileInfo:
    """What :func:`inspect_file` learned; ``name`` is how messages refer to the file."""

    path: Path
    name: str
    kind: FileKind
    size: int
    sha256: str
    warnings: tuple[str, ...] = ()


def _mb(size: float) -> str:
    """A byte count for people: 63.2 MB, 5.4 KB, 512 bytes."""
    if size >= MB / 10:
        return f"{size / MB:,.1f} MB"
    if size >= 1024:
        return f"{size / 1024:,.1f} KB"
    return f"{int(size):,} bytes"


def _limit_mb(limit: float) -> str:
    return f"{limit:g} MB"


def inspect_file(path: Path, max_file_mb: float) -> FileInfo:
    """Size-check and sniff ``path``; raise a file-level error if it cannot be read safely.

    The size is checked from ``stat`` before any byte is read, so an oversized file costs
    nothing. Zip containers are checked here too (central directory and true member sizes).
    """
    name = path.name
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        raise UnsupportedFileError(f"{path} cannot be read: there is no such file.") from None
    except OSError as exc:
        raise UnsupportedFileError(f"{path} cannot be read: {exc.strerror or exc}.") from None
    if path.is_dir():
        raise UnsupportedFileError(f"{path} is a folder, not a spreadsheet file.")
    limit = max_file_mb * MB
    if size > limit:
        raise FileTooLargeError(
            f"{name} is {_mb(size)}, over the {_limit_mb(max_file_mb)} limit (input.max_file_mb); "
            "split it into smaller files or raise the limit."
        )
    if size == 0:
        raise NoDataError(f"{name} is empty.")
    try:
        with path.open("rb") as fh:
            digest = hashlib.file_digest(fh, "sha256").hexdigest()
            fh.seek(0)
            head = fh.read(64 * 1024)
    except OSError as exc:
        raise UnsupportedFileError(f"{name} cannot be read: {exc.strerror or exc}.") from None
    ext = path.suffix.lower()
    kind, warnings = _sniff(path, name, ext, head, max_file_mb)
    return FileInfo(path, name, kind, size, digest, tuple(warnings))


def _sniff(
    path: Path, name: str, ext: str, head: bytes, max_file_mb: float
) -> tuple[FileKind, list[str]]:
    if head.startswith(ZIP_MAGICS):
        return _sniff_zip(path, name, ext, max_file_mb), []
    if head.startswith(OLE2_MAGIC):
        return _sniff_ole2(path, name, ext)
    what = describe_text(head)
    if what is None:
        raise UnsupportedFileError(
            f"{name} is not a spreadsheet segsync can read (its content is neither an Excel "
            "workbook nor text). Save it as .xlsx or .csv."
        )
    if what != "text":
        raise UnsupportedFileError(
            f"{name} is not an Excel workbook or CSV file; it looks like {what}. "
            "Open it in Excel and save it as .xlsx or .csv."
        )
    if ext in WORKBOOK_EXTENSIONS:
        raise UnsupportedFileError(
            f"{name} is not an Excel workbook; it looks like CSV or plain text. "
            "Rename it to .csv, or open it in Excel and save it as .xlsx."
        )
    if ext and ext not in TEXT_EXTENSIONS:
        raise UnsupportedFileError(
            f"{name} has an extension segsync does not read ({ext}); "
            "use .xlsx, .xlsm, .xls, .ods, .csv, .tsv or .txt."
        )
    return FileKind.TEXT, []


def describe_text(head: bytes) -> str | None:
    """Classify the start of a non-zip, non-OLE2 file.

    Returns ``"text"`` for delimited text, a human description (``"HTML"``, ``"a PDF
    document"``...) for other recognisable formats, and None for binary content.
    """
    if head.startswith(b"%PDF"):
        return "a PDF document"
    if head.startswith((b"\x89PNG", b"\xff\xd8\xff", b"GIF8")):
        return "an image"
    text = decode_text(head, partial=True)[0] if head else ""
    if text is None:
        return None
    stripped = text.lstrip().lower()
    if stripped.startswith(("<!doctype html", "<html", "<table", "<head", "<body", "<meta")):
        return "HTML (a web page)"
    if stripped.startswith("<?xml") or stripped.startswith("<"):
        if "urn:schemas-microsoft-com:office:spreadsheet" in stripped:
            return "an Excel 2003 XML spreadsheet"
        if "<html" in stripped[:2000]:
            return "HTML (a web page)"
        return "XML"
    if stripped.startswith(("{", "[")) and stripped.rstrip().endswith(("}", "]")):
        return "JSON"
    sample = text[:8192]
    nuls = sample.count("\x00")
    if nuls > 16 and nuls > len(sample) // 100:  # a stray NUL is a cell problem, many are binary
        return None
    return "text"


# --------------------------------------------------------------------------------------- OLE2


def _sniff_ole2(path: Path, name: str, ext: str) -> tuple[FileKind, list[str]]:
    """An OLE2 container is a legacy .xls, an encrypted OOXML workbook, or something else."""
    data = path.read_bytes()
    if any(marker in data for marker in _UTF16_NAME.values()):
        raise UnsupportedFileError(password_message(name))
    if any(stream in data for stream in _BIFF_STREAMS):
        warnings = []
        if ext != ".xls":
            warnings.append(f"{name} is a legacy Excel 97-2003 workbook (.xls); read it as such.")
        return FileKind.XLS, warnings
    raise UnsupportedFileError(
        f"{name} is an old-style Office file but not an Excel workbook (no Workbook stream); "
        "open it in Excel and save it as .xlsx."
    )


def password_message(name: str) -> str:
    return (
        f"{name} is password-protected; remove the password in Excel "
        "(File ▸ Info ▸ Protect Workbook) and save again."
    )


# ---------------------------------------------------------------------------------------- zip


def _sniff_zip(path: Path, name: str, ext: str, max_file_mb: float) -> FileKind:
    with open_zip(path, name) as zf:
        names = set(zf.namelist())
        check_zip_directory(zf, name, max_file_mb)
        if "xl/workbook.bin" in names or ext == ".xlsb":
            raise UnsupportedFileError(
                f"{name} is an Excel binary workbook (.xlsb), which segsync does not read; "
                "open it in Excel and save it as .xlsx."
            )
        if "mimetype" in names:
            mimetype = (
                zf.read("mimetype").strip() if zf.getinfo("mimetype").file_size < 200 else b""
            )
            if mimetype == ODS_MIMETYPE:
                verify_members(path, zf, name, skip=lambda n: False)
                return FileKind.ODS
        if "[Content_Types].xml" in names and any(n.startswith("xl/") for n in names):
            # worksheets are verified (and scanned) one by one, just before they are read
            verify_members(path, zf, name, skip=is_worksheet_part)
            return FileKind.XLSX
        what = "a Word document" if any(n.startswith("word/") for n in names) else None
        what = what or ("a PowerPoint file" if any(n.startswith("ppt/") for n in names) else None)
        raise UnsupportedFileError(
            f"{name} is a zip archive but not an Excel workbook"
            + (f"; it looks like {what}" if what else "")
            + ". Save the sheet as .xlsx or .csv."
        )


def is_worksheet_part(member: str) -> bool:
    return member.startswith("xl/worksheets/") and member.endswith(".xml")


def open_zip(path: Path, name: str) -> zipfile.ZipFile:
    """Open a zip, turning a damaged or truncated one into a sentence."""
    try:
        return zipfile.ZipFile(path)
    except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, OSError, ValueError):
        raise UnsupportedFileError(corrupt_message(name)) from None


def corrupt_message(name: str, detail: str = "") -> str:
    return (
        f"{name} is damaged or incomplete and cannot be read as a workbook"
        + (f" ({detail})" if detail else "")
        + "; was a download or copy interrupted? Open it in Excel and save it again."
    )


def check_zip_directory(zf: zipfile.ZipFile, name: str, max_file_mb: float) -> None:
    """Refuse zip bombs and oddities from the central directory alone (nothing is inflated)."""
    infos = zf.infolist()
    if len(infos) > ZIP_MAX_MEMBERS:
        raise FileTooLargeError(
            f"{name} holds {len(infos):,} zip members; a workbook has a few dozen. Refusing it."
        )
    seen: set[str] = set()
    total = 0
    cap = min(ZIP_TOTAL_CEILING, ZIP_TOTAL_FACTOR * max_file_mb * MB)
    for info in infos:
        if info.filename in seen:
            raise UnsupportedFileError(corrupt_message(name, f"zip member {info.filename} twice"))
        seen.add(info.filename)
        if info.flag_bits & 0x1:
            raise UnsupportedFileError(
                f"{name} is an encrypted zip archive, not a workbook segsync can read."
            )
        if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
            raise UnsupportedFileError(
                corrupt_message(name, f"unsupported zip compression in {info.filename}")
            )
        total += info.file_size
        ratio = info.file_size / max(info.compress_size, 1)
        if info.file_size > ZIP_RATIO_MIN_SIZE and ratio > ZIP_RATIO_LIMIT:
            raise FileTooLargeError(
                f"{name} looks like a zip bomb: its part {info.filename} would inflate from "
                f"{_mb(info.compress_size)} to {_mb(info.file_size)} ({ratio:,.0f}:1). "
                "Refusing to open it."
            )
    if total > cap:
        raise FileTooLargeError(
            f"{name} would inflate to {_mb(total)} when opened, over the {_mb(cap)} safety cap "
            f"({ZIP_TOTAL_FACTOR}× input.max_file_mb, at most {_mb(ZIP_TOTAL_CEILING)}). "
            "Refusing to open it."
        )


def iter_member(path: Path, info: zipfile.ZipInfo, name: str) -> Iterator[bytes]:
    """Inflate one member from its raw bytes, never producing more than the directory says.

    ``zipfile`` itself would stop at the declared size and could be fooled by a matching CRC of
    a prefix; the Rust reader may not stop at all. Inflating the raw deflate stream here proves
    the stream ends exactly where the directory says it does.
    """
    with path.open("rb") as fh:
        yield from _iter_raw_member(fh, info, name)


def _iter_raw_member(fh: BinaryIO, info: zipfile.ZipInfo, name: str) -> Iterator[bytes]:
    bad = UnsupportedFileError(corrupt_message(name, f"zip member {info.filename} is damaged"))
    fh.seek(info.header_offset)
    local = fh.read(30)
    if len(local) < 30 or local[:4] != b"PK\x03\x04":
        raise bad
    name_len, extra_len = struct.unpack("<HH", local[26:30])
    fh.seek(info.header_offset + 30 + name_len + extra_len)
    remaining = info.compress_size
    produced = 0
    inflater = zlib.decompressobj(-15) if info.compress_type == zipfile.ZIP_DEFLATED else None
    while remaining > 0:
        raw = fh.read(min(_CHUNK, remaining))
        if not raw:
            raise bad
        remaining -= len(raw)
        if inflater is None:
            produced += len(raw)
            yield raw
            continue
        pending = raw
        while pending:
            try:
                out = inflater.decompress(pending, _CHUNK)
            except zlib.error:
                raise bad from None
            produced += len(out)
            if produced > info.file_size:
                raise FileTooLargeError(
                    f"{name} looks like a zip bomb: its part {info.filename} inflates beyond "
                    f"the {info.file_size:,} bytes its zip directory declares. Refusing it."
                )
            if out:
                yield out
            pending = inflater.unconsumed_tail
            if inflater.eof:
                break
    if inflater is not None:
        tail = inflater.flush()
        produced += len(tail)
        if tail:
            yield tail
        if not inflater.eof:
            raise bad
    if produced != info.file_size:
        raise bad


def verify_members(
    path: Path, zf: zipfile.ZipFile, name: str, *, skip: Callable[[str], bool]
) -> None:
    """Inflate every member not skipped, under its declared size, and refuse XML DTDs."""
    for info in zf.infolist():
        if info.is_dir() or skip(info.filename):
            continue
        first = True
        for chunk in iter_member(path, info, name):
            if first:
                refuse_dtd(chunk, name, info.filename)
                first = False


def refuse_dtd(chunk: bytes, name: str, member: str) -> None:
    """Excel never writes a DTD; one in a workbook part only serves entity expansion."""
    if b"<!DOCTYPE" in chunk or b"<!ENTITY" in chunk:
        raise UnsupportedFileError(
            f"{name} contains an XML document type declaration in {member} (entity "
            "definitions), which Excel never writes; refusing it as unsafe. "
            "Open it in Excel and save it again."
        )


def read_member(path: Path, zf: zipfile.ZipFile, name: str, member: str) -> bytes | None:
    """A small verified member's bytes (None if absent)."""
    try:
        info = zf.getinfo(member)
    except KeyError:
        return None
    data = b"".join(iter_member(path, info, name))
    refuse_dtd(data[:_CHUNK], name, member)
    return data


# ------------------------------------------------------------------------- worksheet XML scan


def _ns_local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def xlsx_sheet_parts(path: Path, zf: zipfile.ZipFile, name: str) -> dict[str, str]:
    """Map sheet name → zip member of its worksheet XML (via workbook.xml and its rels)."""
    workbook = "xl/workbook.xml"
    rels_data = read_member(path, zf, name, "_rels/.rels")
    if rels_data:
        for rel in _parse_xml(rels_data, name, "_rels/.rels").iter():
            if _ns_local(rel.tag) == "Relationship" and rel.get("Type", "").endswith(
                "/officeDocument"
            ):
                workbook = _resolve_target("", rel.get("Target", workbook))
    wb_data = read_member(path, zf, name, workbook)
    base = str(PurePosixPath(workbook).parent)
    rels_member = f"{base}/_rels/{PurePosixPath(workbook).name}.rels"
    rels = read_member(path, zf, name, rels_member)
    if wb_data is None or rels is None:
        raise UnsupportedFileError(corrupt_message(name, "workbook part missing"))
    targets = {
        rel.get("Id"): _resolve_target(base, rel.get("Target", ""))
        for rel in _parse_xml(rels, name, rels_member).iter()
        if _ns_local(rel.tag) == "Relationship"
    }
    parts: dict[str, str] = {}
    for el in _parse_xml(wb_data, name, workbook).iter():
        if _ns_local(el.tag) != "sheet":
            continue
        rid = next((v for k, v in el.attrib.items() if _ns_local(k) == "id"), None)
        target = targets.get(rid)
        if target:
            parts[el.get("name", "")] = target
    return parts


def _resolve_target(base: str, target: str) -> str:
    if target.startswith("/"):
        return target.lstrip("/")
    parts: list[str] = [p for p in base.split("/") if p]
    for piece in target.split("/"):
        if piece == "..":
            if parts:
                parts.pop()
        elif piece and piece != ".":
            parts.append(piece)
    return "/".join(parts)


def _parse_xml(data: bytes, name: str, member: str):  # type: ignore[no-untyped-def]
    try:
        return SafeET.fromstring(data)
    except Exception:  # defusedxml raises its own and ParseError; both mean the same here
        raise UnsupportedFileError(corrupt_message(name, f"{member} is not valid XML")) from None


#: Fast path: one literal-prefixed regex over a block. A cell tag written exactly as Excel,
#: xlsxwriter and openpyxl write it -- ``<c r="B12" s="1" t="s">``, known attributes after ``r``,
#: plain values, a row under a million -- yields its column letters. Any other ``<c`` tag
#: (other attributes or order, a second ``r``, ``>`` inside a value, no ``r``, a 7-digit row)
#: yields "" and sends the sheet to the full XML parse, so no cell calamine places can hide.
_FAST_CELL = re.compile(
    rb'<c(?: r="([A-Z]{1,3})[0-9]{1,6}"(?: (?:s|t|cm|vm|ph)="[^"<>]{0,16}")*/?>|[\s>/])'
)
_FAST_ROW = re.compile(rb'<c r="[A-Z]{1,3}([0-9]{1,6})"')
_REF_TEXT = re.compile(r"([A-Za-z]{1,3})([0-9]{1,7})")
_FORMULA = re.compile(rb"<(?:[\w.-]+:)?f[\s/>]")
_ERROR_CELL = re.compile(rb"""<(?:[\w.-]+:)?c\s[^>]*?\bt\s*=\s*["']e["'][^>]*>""")
_CELL_START = re.compile(rb"<(?:[\w.-]+:)?c\s[^>]*>")
_CELL_END = re.compile(rb"</(?:[\w.-]+:)?c>")
_CELL_REF = re.compile(rb"""\br\s*=\s*["']([A-Za-z]{1,3})([0-9]{1,7})["']""")
_V_TAG = re.compile(rb"<(?:[\w.-]+:)?v[\s/>]")
_V_TEXT = re.compile(rb"<(?:[\w.-]+:)?v(?:\s[^>]*)?>([^<]*)<")
_TYPE = re.compile(rb"""\bt\s*=\s*["'](\w+)["']""")


def column_index(letters: str | bytes) -> int:
    """Spreadsheet letters → 0-based column index (A → 0, AB → 27); case-insensitive."""
    if isinstance(letters, bytes):
        letters = letters.decode("ascii")
    index = 0
    for ch in letters.upper():
        index = index * 26 + (ord(ch) - 64)
    return index - 1


@dataclass(slots=True)
class SheetScan:
    """What a worksheet's XML says that calamine's values do not.

    Positions are 0-based ``(row, column)`` like calamine's.
    """

    #: formula cells without a saved (cached) value: calamine shows them as empty
    uncached: set[tuple[int, int]] = field(default_factory=set)
    #: cells whose saved value is an Excel error (``#N/A``, ``#REF!``): calamine shows them empty
    errors: dict[tuple[int, int], str] = field(default_factory=dict)
    #: columns and rows spanned between the first and last cell (rows: None if not needed)
    columns: int = 0
    rows: int | None = None
    #: True when the sheet needed the full XML parse (unusual spelling)
    parsed: bool = False


class _Extent:
    """Smallest and largest row/column calamine will place a cell at (0-based)."""

    def __init__(self) -> None:
        self.col_letters: set[bytes] = set()
        self.min_col = self.min_row = 1 << 40
        self.max_col = self.max_row = -1

    def add(self, row: int, col: int) -> None:
        self.min_row, self.max_row = min(self.min_row, row), max(self.max_row, row)
        self.min_col, self.max_col = min(self.min_col, col), max(self.max_col, col)

    def column_span(self) -> int:
        cols = [column_index(c) for c in self.col_letters]
        low = min([*cols, self.min_col])
        high = max([*cols, self.max_col])
        return high - low + 1 if high >= 0 else 0

    def row_span(self) -> int:
        return self.max_row - self.min_row + 1 if self.max_row >= 0 else 0


class _FirstPass:
    """Column letters of canonical cells, formulas and error cells, block by block."""

    def __init__(self) -> None:
        self.extent = _Extent()
        self.scan = SheetScan()
        self.unusual = False

    def feed(self, block: bytes) -> None:
        if not self.unusual:
            letters = set(_FAST_CELL.findall(block))
            if b"" in letters or b":c" in block:
                self.unusual = True  # prefixed or non-canonical cell tags: full parse later
            else:
                self.extent.col_letters |= letters
        if b"<f" in block or (b":f" in block and _FORMULA.search(block)):
            self._formulas(block)
        if b't="e"' in block or b"t='e'" in block:
            self._errors(block)

    def _formulas(self, block: bytes) -> None:
        for match in _FORMULA.finditer(block):
            start = block.rfind(b"<", 0, match.start())
            tag = _CELL_START.match(block, start) if start >= 0 else None
            ref = _CELL_REF.search(tag.group(0)) if tag else None
            if tag is None or ref is None:
                continue
            end = _CELL_END.search(block, match.end())
            body = block[match.end() : end.start() if end else len(block)]
            value = _V_TEXT.search(body)
            if value and value.group(1):
                continue
            kind = _TYPE.search(tag.group(0))
            if _V_TAG.search(body) and kind and kind.group(1) in (b"str", b"s", b"inlineStr"):
                continue  # a formula whose saved result is the empty string
            self.scan.uncached.add((int(ref.group(2)) - 1, column_index(ref.group(1))))

    def _errors(self, block: bytes) -> None:
        for match in _ERROR_CELL.finditer(block):
            ref = _CELL_REF.search(match.group(0))
            if ref is None:
                continue
            end = _CELL_END.search(block, match.end())
            body = block[match.end() : end.start() if end else len(block)]
            value = _V_TEXT.search(body)
            text = value.group(1).decode("utf-8", "replace") if value else "#ERROR"
            self.scan.errors[(int(ref.group(2)) - 1, column_index(ref.group(1)))] = text


def _parsed_extent(chunks: Iterator[bytes], name: str, member: str) -> _Extent:
    """Place every cell the way calamine does, with a real (expat) XML parser.

    Used for sheets whose cell tags are not in the canonical form, and to confirm before
    refusing a canonical one (the regex pass also counts empty, formatted-only cells, which
    calamine skips). Expat handles quoting,
    whitespace, prefixes and ``>`` inside values exactly; what it rejects (duplicate
    attributes, ``<`` in a value, DTDs) is refused rather than guessed at. calamine reads the
    unprefixed ``r`` attribute (the last one, if repeated) and places a cell without one right
    after the previous cell; a row without ``r`` follows the previous row.
    """
    extent = _Extent()
    position = [-1, -1]  # row, col of the last placed cell
    pending: list[tuple[int, int]] = []  # a cell not yet known to hold anything

    def start(tag: str, attrs: dict[str, str]) -> None:
        local = tag.rpartition(":")[2]
        if local == "row":
            ref = attrs.get("r")
            if ref is not None and not (ref.isascii() and ref.isdigit()):
                raise ValueError(f"row reference {ref!r}")
            position[:] = [int(ref) - 1 if ref else position[0] + 1, -1]
            pending.clear()
        elif local == "c":
            ref = attrs.get("r")
            if ref is None:
                position[1] += 1
            else:
                found = _REF_TEXT.fullmatch(ref)
                if found is None:
                    raise ValueError(f"cell reference {ref!r}")
                position[:] = [int(found.group(2)) - 1, column_index(found.group(1))]
            pending[:] = [(max(position[0], 0), max(position[1], 0))]
        elif pending and local in ("v", "is", "f"):
            extent.add(*pending.pop())  # calamine skips cells with no content at all

    def refuse(*_: object) -> None:
        raise ValueError("document type declaration")

    parser = expat.ParserCreate()
    parser.StartElementHandler = start
    parser.StartDoctypeDeclHandler = refuse
    parser.EntityDeclHandler = refuse
    try:
        for chunk in chunks:
            parser.Parse(chunk, False)
        parser.Parse(b"", True)
    except (expat.ExpatError, ValueError) as exc:
        raise UnsupportedFileError(
            corrupt_message(name, f"{member} is not well-formed XML: {exc}")
        ) from None
    return extent


def _blocks(chunks: Iterator[bytes], name: str, member: str) -> Iterator[bytes]:
    """Re-cut inflated chunks at row (or cell) ends so that no tag is split across blocks."""
    carry = b""
    first = True
    for chunk in chunks:
        if first:
            refuse_dtd(chunk, name, member)
            first = False
        buf = carry + chunk if carry else chunk
        cut = buf.rfind(b"row>")
        cut = cut + 4 if cut >= 0 else buf.rfind(b"c>") + 2
        if cut < 2:
            if len(buf) < _CARRY_LIMIT:
                carry = buf
                continue
            cut = buf.rfind(b"<")  # no cell ends in 16 MB: at least keep tags whole
            if cut <= 0:
                raise UnsupportedFileError(
                    corrupt_message(name, f"{member} holds a single XML tag over 16 MB")
                )
        yield buf[:cut]
        carry = buf[cut:]
    if carry:
        yield carry


def _count_rows(blocks: Iterator[bytes], extent: _Extent) -> None:
    """Second pass, only for wide canonical sheets: the rows of their cells."""
    for block in blocks:
        for match in _FAST_ROW.finditer(block):
            row = int(match.group(1)) - 1
            extent.min_row, extent.max_row = min(extent.min_row, row), max(extent.max_row, row)


def scan_xlsx_sheet(
    path: Path, zf: zipfile.ZipFile, name: str, member: str, sheet: str | None = None
) -> SheetScan:
    """Streaming pass(es) over a worksheet part: extent guard, uncached formulas, error cells.

    calamine allocates rows × columns between the first and last placed cell. For a sheet in
    canonical form the first pass knows the column span exactly and every row is under a
    million; only when the column span times a million could pass the cap does a second pass
    count rows. Any other spelling, and any sheet about to be refused, gets a full XML parse
    that places cells exactly as calamine does. So an ordinary sheet costs one inflate and one
    regex per block.
    """
    try:
        info = zf.getinfo(member)
    except KeyError:
        raise UnsupportedFileError(corrupt_message(name, f"{member} is missing")) from None
    first = _FirstPass()
    for block in _blocks(iter_member(path, info, name), name, member):
        first.feed(block)
    scan = first.scan
    if not first.unusual:
        scan.columns = first.extent.column_span()
        if scan.columns * 1_000_000 <= MAX_SHEET_CELLS:
            return scan
        _count_rows(_blocks(iter_member(path, info, name), name, member), first.extent)
        scan.rows = first.extent.row_span()
        if scan.rows * scan.columns <= MAX_SHEET_CELLS:
            return scan
    extent = _parsed_extent(iter_member(path, info, name), name, member)
    scan.parsed = True
    scan.columns, scan.rows = extent.column_span(), extent.row_span()
    if scan.rows * scan.columns > MAX_SHEET_CELLS:
        raise FileTooLargeError(
            f"{name}: sheet '{sheet or member}' spans {scan.rows:,} rows × {scan.columns:,} "
            f"columns between its first and last filled cell, over the {MAX_SHEET_CELLS:,}-cell "
            "safety cap. Delete stray cells far below or to the right of the data, or copy the "
            "data to a new workbook."
        )
    return scan


# --------------------------------------------------------------------------------------- ODS


def check_ods_extent(path: Path, zf: zipfile.ZipFile, name: str) -> None:
    """Bound the cells calamine will allocate for every table of an ODS file.

    ODS compresses repeats (``number-rows-repeated``, ``number-columns-repeated``), so an 800-byte
    file can describe 10⁹ filled cells; calamine materialises all tables at open. Trailing empty
    repeats (which LibreOffice writes for the unused sheet area) do not count.
    """
    try:
        info = zf.getinfo("content.xml")
    except KeyError:
        raise UnsupportedFileError(corrupt_message(name, "content.xml is missing")) from None
    total = 0
    for cells in _ods_table_extents(iter_member(path, info, name), name):
        total += cells
        if total > MAX_SHEET_CELLS:
            raise FileTooLargeError(
                f"{name} describes more than {MAX_SHEET_CELLS:,} filled cells (repeated rows or "
                "columns), over the safety cap. Copy the data to a new workbook and save again."
            )


class _ChunkReader:
    """A file-like view over an iterator of byte chunks, for iterparse."""

    def __init__(self, chunks: Iterator[bytes]) -> None:
        self._chunks = chunks
        self._buf = b""

    def read(self, size: int = -1) -> bytes:
        while size < 0 or len(self._buf) < size:
            nxt = next(self._chunks, None)
            if nxt is None:
                break
            self._buf += nxt
        if size < 0:
            out, self._buf = self._buf, b""
        else:
            out, self._buf = self._buf[:size], self._buf[size:]
        return out


def _ods_table_extents(chunks: Iterator[bytes], name: str) -> Iterator[int]:
    ns_table = "urn:oasis:names:tc:opendocument:xmlns:table:1.0"
    ns_office = "urn:oasis:names:tc:opendocument:xmlns:office:1.0"
    rows_rep = f"{{{ns_table}}}number-rows-repeated"
    cols_rep = f"{{{ns_table}}}number-columns-repeated"
    value_type = f"{{{ns_office}}}value-type"
    last_row = width = row_no = 0
    try:
        for event, el in SafeET.iterparse(_ChunkReader(chunks), events=("start", "end")):
            local = _ns_local(el.tag)
            if event == "start":
                if local == "table":
                    last_row = width = row_no = 0
                continue
            if local == "table-row":
                col = filled_to = 0
                for cell in el:
                    rep = int(cell.get(cols_rep, "1") or 1)
                    if cell.get(value_type) is not None or len(cell):
                        filled_to = col + rep
                    col += rep
                rep_rows = int(el.get(rows_rep, "1") or 1)
                row_no += rep_rows
                if filled_to:
                    last_row, width = row_no, max(width, filled_to)
                el.clear()
            elif local == "table":
                yield last_row * width
                el.clear()
    except (FileTooLargeError, UnsupportedFileError):
        raise
    except Exception:
        raise UnsupportedFileError(
            corrupt_message(name, "content.xml is not valid or declares entities")
        ) from None


# --------------------------------------------------------------------------------------- XLS


def check_xls_extent(path: Path, name: str) -> None:
    """Bound the cells calamine will allocate for a legacy .xls (all sheets: it reads them all).

    BIFF8 says 65,536 rows × 256 columns, but cell records carry 16-bit columns and calamine
    trusts them: one record at column 32,767 makes it abort the process. This reads the OLE2
    container's Workbook stream and every cell record's position (plus DIMENSIONS) without
    decoding any value.
    """
    data = path.read_bytes()
    try:
        stream = _ole_stream(data, ("Workbook", "Book"))
    except (IndexError, ValueError, struct.error):
        raise UnsupportedFileError(corrupt_message(name, "its OLE2 container is damaged")) from None
    if stream is None:
        raise UnsupportedFileError(corrupt_message(name, "no Workbook stream"))
    total = sum(rows * cols for rows, cols in _biff_extents(stream))
    if total > MAX_SHEET_CELLS:
        raise FileTooLargeError(
            f"{name} spans more than {MAX_SHEET_CELLS:,} cells between the first and last cell "
            "of its sheets, over the safety cap. Open it in Excel and save it as .xlsx."
        )


_ENDOFCHAIN = 0xFFFFFFFE


def _ole_stream(data: bytes, names: tuple[str, ...]) -> bytes | None:
    """One stream of a Compound File (MS-CFB), following FAT or mini-FAT chains."""
    shift = struct.unpack_from("<H", data, 30)[0]
    if shift not in (9, 12):
        raise ValueError("sector size")
    size = 1 << shift
    n_sectors = max(0, (len(data) - size) // size)

    def sector(index: int) -> bytes:
        return data[(index + 1) * size : (index + 2) * size]

    difat = list(struct.unpack_from("<109I", data, 76))
    next_difat, guard = struct.unpack_from("<I", data, 68)[0], 0
    while next_difat < n_sectors and guard <= n_sectors:
        entries = struct.unpack(f"<{size // 4}I", sector(next_difat))
        difat.extend(entries[:-1])
        next_difat, guard = entries[-1], guard + 1
    fat: list[int] = []
    for fat_sector in difat:
        if fat_sector < n_sectors:
            fat.extend(struct.unpack(f"<{size // 4}I", sector(fat_sector)))

    def chain(start: int, table: list[int], limit: int) -> list[int]:
        out: list[int] = []
        while start != _ENDOFCHAIN and start < len(table) and len(out) <= limit:
            out.append(start)
            start = table[start]
        return out

    directory = b"".join(
        sector(i) for i in chain(struct.unpack_from("<I", data, 48)[0], fat, n_sectors)
    )
    entries = [directory[i : i + 128] for i in range(0, len(directory) - 127, 128)]
    if not entries:
        return None
    root = entries[0]
    cutoff = struct.unpack_from("<I", data, 56)[0]
    for entry in entries:
        name_len = struct.unpack_from("<H", entry, 64)[0]
        entry_name = entry[: max(0, name_len - 2)].decode("utf-16-le", "replace")
        if entry[66] != 2 or entry_name not in names:
            continue
        start, length = struct.unpack_from("<IQ", entry, 116)
        length &= 0xFFFFFFFF if struct.unpack_from("<H", data, 26)[0] == 3 else (1 << 64) - 1
        if length >= cutoff:
            body = b"".join(sector(i) for i in chain(start, fat, n_sectors))
            return body[:length]
        mini_fat_data = b"".join(
            sector(i) for i in chain(struct.unpack_from("<I", data, 60)[0], fat, n_sectors)
        )
        mini_fat = list(struct.unpack(f"<{len(mini_fat_data) // 4}I", mini_fat_data))
        root_start = struct.unpack_from("<I", root, 116)[0]
        mini_stream = b"".join(sector(i) for i in chain(root_start, fat, n_sectors))
        pieces = chain(start, mini_fat, len(mini_fat))
        return b"".join(mini_stream[i * 64 : (i + 1) * 64] for i in pieces)[:length]
    return None


#: BIFF cell records: (record type, offset of the "last column" field or None)
_BIFF_CELLS = {
    0x0201: None,  # BLANK
    0x0203: None,  # NUMBER
    0x0204: None,  # LABEL (BIFF5)
    0x0205: None,  # BOOLERR
    0x027E: None,  # RK
    0x00FD: None,  # LABELSST
    0x00D6: None,  # RSTRING
    0x0006: None,  # FORMULA
    0x0406: None,  # FORMULA (BIFF4)
    0x00BD: -2,  # MULRK: last column in the record's final two bytes
    0x00BE: -2,  # MULBLANK
}
_BIFF_BOF = (0x0809, 0x0409, 0x0209, 0x0009)
_BIFF_DIMENSIONS = 0x0200


def _biff_extents(stream: bytes) -> Iterator[tuple[int, int]]:
    """(rows, columns) spanned by the cells of each sheet substream (BOF … EOF)."""
    pos, end = 0, len(stream)
    low_r = low_c = 1 << 32
    high_r = high_c = -1

    def flush() -> tuple[int, int]:
        if high_r < 0:
            return 0, 0
        return high_r - low_r + 1, high_c - low_c + 1

    while pos + 4 <= end:
        kind, length = struct.unpack_from("<HH", stream, pos)
        body = stream[pos + 4 : pos + 4 + length]
        pos += 4 + length
        if kind in _BIFF_BOF:
            yield flush()
            low_r = low_c = 1 << 32
            high_r = high_c = -1
            continue
        cells: list[tuple[int, int]] = []
        if kind in _BIFF_CELLS and len(body) >= 4:
            row, col = struct.unpack_from("<HH", body, 0)
            cells.append((row, col))
            last = _BIFF_CELLS[kind]
            if last is not None and len(body) >= 6:
                cells.append((row, struct.unpack_from("<H", body, len(body) + last)[0]))
        elif kind == _BIFF_DIMENSIONS and len(body) >= 14:
            first_r, last_r, first_c, last_c = struct.unpack_from("<IIHH", body, 0)
            if last_r > first_r and last_c > first_c:
                cells += [(first_r, first_c), (last_r - 1, last_c - 1)]
        for row, col in cells:
            low_r, high_r = min(low_r, row), max(high_r, row)
            low_c, high_c = min(low_c, col), max(high_c, col)
    yield flush()


# -------------------------------------------------------------------------------------- text


def _c1_for_undefined(exc: UnicodeError) -> tuple[str, int]:
    """cp1252 leaves 0x81, 0x8D, 0x8F, 0x90, 0x9D undefined; Windows maps them to U+0081..."""
    assert isinstance(exc, UnicodeDecodeError)
    bad = exc.object[exc.start : exc.end]
    return "".join(chr(b) for b in bad), exc.end


codecs.register_error("segsync-c1", _c1_for_undefined)

_BOMS: tuple[tuple[bytes, str, str], ...] = (
    (codecs.BOM_UTF32_LE, "utf-32-le", "UTF-32"),
    (codecs.BOM_UTF32_BE, "utf-32-be", "UTF-32"),
    (codecs.BOM_UTF8, "utf-8", "UTF-8 with BOM"),
    (codecs.BOM_UTF16_LE, "utf-16-le", "UTF-16"),
    (codecs.BOM_UTF16_BE, "utf-16-be", "UTF-16"),
)


def decode_text(data: bytes, *, partial: bool = False) -> tuple[str | None, str]:
    """Decode a text file deterministically; returns (text, encoding label).

    ``partial`` tolerates a multi-byte sequence cut at the end of a sample. Returns
    ``(None, "")`` when the bytes are UTF-16/32 that do not decode (i.e. not text).
    """
    for bom, codec, label in _BOMS:
        if data.startswith(bom):
            body = data[len(bom) :]
            try:
                if partial:
                    return codecs.getincrementaldecoder(codec)().decode(body, final=False), label
                return body.decode(codec), label
            except UnicodeDecodeError:
                return None, ""
    guessed = _utf16_without_bom(data)
    if guessed:
        try:
            return codecs.getincrementaldecoder(guessed)().decode(data, final=not partial), "UTF-16"
        except UnicodeDecodeError:
            return None, ""
    try:
        if partial:
            return codecs.getincrementaldecoder("utf-8")().decode(data, final=False), "UTF-8"
        return data.decode("utf-8"), "UTF-8"
    except UnicodeDecodeError:
        return data.decode("cp1252", errors="segsync-c1"), "Windows-1252"


def _utf16_without_bom(data: bytes) -> str | None:
    """UTF-16 without a BOM shows as a NUL in every other byte of ASCII text."""
    sample = data[:4096]
    if len(sample) < 8:
        return None
    even, odd = sample[0::2], sample[1::2]
    if odd.count(0) > len(odd) * 0.4 and even.count(0) < len(even) * 0.05:
        return "utf-16-le"
    if even.count(0) > len(even) * 0.4 and odd.count(0) < len(odd) * 0.05:
        return "utf-16-be"
    return None


DELIMITERS = (",", ";", "\t", "|")


def sniff_delimiter(text: str, default: str) -> str:
    """Pick the delimiter from the header record (the first non-empty one).

    Counting candidates outside quotes in the header is deterministic and robust where
    ``csv.Sniffer`` is not: it misfires on descriptions full of commas in a semicolon file and
    on files with quoted line breaks, because it compares frequencies across data lines.
    Headers rarely contain a delimiter, so the most frequent candidate there is the delimiter;
    a one-column file (no candidate) uses ``default`` (tab for .tsv/.tab, else comma).
    """
    counts = dict.fromkeys(DELIMITERS, 0)
    in_quotes = False
    seen_content = False
    for ch in text[:65536]:
        if ch == '"':
            in_quotes = not in_quotes
        elif in_quotes:
            continue
        elif ch in "\r\n":
            if seen_content:
                break
        elif ch in counts:
            counts[ch] += 1
            seen_content = True
        elif not ch.isspace():
            seen_content = True
    best = max(DELIMITERS, key=lambda d: (counts[d], d == default))
    return best if counts[best] else default
