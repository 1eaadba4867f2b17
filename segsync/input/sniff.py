"""What an input file really is, whatever its name says, and whether a parser may see it.

``inspect_file`` checks the size on disk, sniffs the type from magic bytes and runs the
container checks (zip directory and members, OLE2 directory) before anything else reads it.
"""

from __future__ import annotations

import hashlib
import zipfile
from dataclasses import dataclass
from enum import Enum
from pathlib import Path, PurePath
from typing import Final

from segsync.errors import FileTooLargeError, NoDataError, UnsupportedFileError
from segsync.input.decoding import decode_text
from segsync.input.limits import MB
from segsync.input.messages import compressed_message, human_size, password_message, shown
from segsync.input.xls import check_ole2_workbook
from segsync.input.xlsx_scan import is_worksheet_part
from segsync.input.zipguard import (
    check_zip_directory,
    open_zip,
    part_key,
    read_member,
    verify_members,
    zip_parts,
)

OLE2_MAGIC: Final = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
ZIP_MAGICS: Final = (b"PK\x03\x04", b"PK\x05\x06")
WORKBOOK_EXTENSIONS: Final = frozenset(
    {".xlsx", ".xlsm", ".xltx", ".xltm", ".xls", ".xlsb", ".ods"}
)
TEXT_EXTENSIONS: Final = frozenset({".csv", ".tsv", ".txt", ".tab"})
ODS_MIMETYPE: Final = b"application/vnd.oasis.opendocument.spreadsheet"
#: Compressed files sometimes named .csv (a download saved without unpacking): magic → what.
COMPRESSED_MAGICS: Final = (
    (b"\x1f\x8b", "a gzip-compressed file"),
    (b"\x1f\x9d", "a compressed (.Z) file"),
    (b"\xfd7zXZ\x00", "an xz-compressed file"),
    (b"\x28\xb5\x2f\xfd", "a Zstandard-compressed file"),
    (b"7z\xbc\xaf\x27\x1c", "a 7-Zip archive"),
    (b"Rar!\x1a\x07", "a RAR archive"),
)
_BZIP2_BLOCK: Final = (b"1AY&SY", b"\x17rE8P\x90")  # first block, or the end of an empty stream
#: The workbook part's content type, as [Content_Types].xml declares it (also templates and
#: macro-enabled workbooks): how a package whose parts are not under xl/ is still an .xlsx.
_WORKBOOK_CONTENT_TYPES: Final = (
    b"spreadsheetml.sheet.main+xml",
    b"spreadsheetml.template.main+xml",
    b"ms-excel.sheet.macroEnabled.main+xml",
    b"ms-excel.template.macroEnabled.main+xml",
)
#: Files a zip archive may hold that someone meant to give segsync directly.
_SHEET_SUFFIXES: Final = (*WORKBOOK_EXTENSIONS, *TEXT_EXTENSIONS)


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
    #: the name as given, unescaped (``name`` is the same made printable for messages)
    label: str = ""


def inspect_file(path: Path, max_file_mb: float, *, name: str | None = None) -> FileInfo:
    """Size-check and sniff ``path``; raise a file-level error if it cannot be read safely.

    The size is checked from ``stat`` before any byte is read, so an oversized file costs
    nothing. Zip containers are checked here too (central directory and true member sizes).
    ``name`` is how messages name the file (default: its own name); the type is still told
    from ``path`` (content and extension).
    """
    label = path.name if name is None else name
    where = shown(path, 200) if label == path.name else shown(label, 120)
    name = shown(label, 120)
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        raise UnsupportedFileError(f"{where} cannot be read: there is no such file.") from None
    except OSError as exc:
        reason = shown(exc.strerror or exc, 120)
        raise UnsupportedFileError(f"{where} cannot be read: {reason}.") from None
    if path.is_dir():
        raise UnsupportedFileError(f"{where} is a folder, not a spreadsheet file.")
    if size > max_file_mb * MB:
        raise FileTooLargeError(
            f"{name} is {human_size(size)}, over the {max_file_mb:g} MB limit "
            "(input.max_file_mb); split it into smaller files or raise the limit."
        )
    if size == 0:
        raise NoDataError(f"{name} is empty.")
    try:
        with path.open("rb") as fh:
            digest = hashlib.file_digest(fh, "sha256").hexdigest()
            fh.seek(0)
            head = fh.read(64 * 1024)
    except OSError as exc:
        reason = shown(exc.strerror or exc, 120)
        raise UnsupportedFileError(f"{name} cannot be read: {reason}.") from None
    ext = path.suffix.lower()
    kind, warnings = _sniff(path, name, ext, head, max_file_mb)
    return FileInfo(path, name, kind, size, digest, tuple(warnings), label)


def _sniff(
    path: Path, name: str, ext: str, head: bytes, max_file_mb: float
) -> tuple[FileKind, list[str]]:
    """The type from the content. A text file named like a workbook is refused with advice
    rather than guessed at: "Export to Excel" buttons that write HTML are common, and reading
    such a file as CSV would turn markup into segment names."""
    if head.startswith(ZIP_MAGICS):
        return _sniff_zip(path, name, ext, max_file_mb), []
    if head.startswith(OLE2_MAGIC):
        # a legacy .xls, or an encrypted OOXML workbook, which Excel stores in OLE2
        check_ole2_workbook(path, name)
        if ext != ".xls":
            return FileKind.XLS, [
                f"{name} is a legacy Excel 97-2003 workbook (.xls); read it as such."
            ]
        return FileKind.XLS, []
    compressed = compression_of(head)
    if compressed:
        raise UnsupportedFileError(compressed_message(name, compressed))
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
            f"{name} has an extension segsync does not read ({shown(ext, 20)}); "
            "use .xlsx, .xlsm, .xls, .ods, .csv, .tsv or .txt."
        )
    return FileKind.TEXT, []


def compression_of(head: bytes) -> str | None:
    """What compressed file ``head`` starts (``"a gzip-compressed file"`` …), or None."""
    for magic, kind in COMPRESSED_MAGICS:
        if head.startswith(magic):
            return kind
    if head[:3] == b"BZh" and head[3:4] in b"123456789" and head[4:10] in _BZIP2_BLOCK:
        return "a bzip2-compressed file"
    return None


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


def _sniff_zip(path: Path, name: str, ext: str, max_file_mb: float) -> FileKind:
    """An .xlsx or .ods after its zip checks; .xlsb is refused: a binary format this package
    does not parse, so it cannot be checked before calamine allocates its sheets.

    Member names are compared as calamine compares them (:func:`part_key`), so a workbook whose
    members are named ``xl\\workbook.xml`` is an .xlsx; so is a package whose parts are not
    under ``xl/`` when its content types declare a workbook part.
    """
    with open_zip(path, name) as zf:
        check_zip_directory(zf, name, max_file_mb)
        parts = zip_parts(zf)
        if "xl/workbook.bin" in parts or ext == ".xlsb":
            raise UnsupportedFileError(
                f"{name} is an Excel binary workbook (.xlsb), which segsync does not read; "
                "open it in Excel and save it as .xlsx."
            )
        if "mimetype" in parts:
            info = parts["mimetype"]
            mimetype = zf.read(info).strip() if info.file_size < 200 else b""
            if mimetype == ODS_MIMETYPE:
                manifest = read_member(path, zf, name, "META-INF/manifest.xml") or b""
                if b"encryption-data" in manifest:
                    raise UnsupportedFileError(password_message(name, app="LibreOffice"))
                verify_members(path, zf, name, skip=lambda n: False)
                return FileKind.ODS
        if "[content_types].xml" in parts and (
            any(key.startswith("xl/") for key in parts) or _declares_workbook(path, zf, name)
        ):
            # worksheets are verified (and scanned) one by one, just before they are read
            verify_members(path, zf, name, skip=is_worksheet_part)
            return FileKind.XLSX
        raise UnsupportedFileError(_not_a_workbook(name, zf))


def _declares_workbook(path: Path, zf: zipfile.ZipFile, name: str) -> bool:
    types = read_member(path, zf, name, "[Content_Types].xml") or b""
    return any(content_type in types for content_type in _WORKBOOK_CONTENT_TYPES)


def _not_a_workbook(name: str, zf: zipfile.ZipFile) -> str:
    """A zip archive that is no workbook: an Office document of another kind, or an archive
    around the file the person meant (a .csv or .xlsx zipped for e-mail)."""
    keys = [part_key(info.filename) for info in zf.infolist()]
    what = "a Word document" if any(k.startswith("word/") for k in keys) else None
    what = what or ("a PowerPoint file" if any(k.startswith("ppt/") for k in keys) else None)
    if what:
        return f"{name} is a zip archive but not an Excel workbook; it looks like {what}. " + (
            "Save the sheet as .xlsx or .csv."
        )
    inside = [
        info.filename
        for info in zf.infolist()
        if not info.is_dir()
        and PurePath(info.filename.replace("\\", "/")).suffix.lower() in _SHEET_SUFFIXES
    ]
    if inside:
        held = (
            shown(inside[0], 60)
            if len(inside) == 1
            else f"{len(inside):,} files ({shown(inside[0], 60)}, …)"
        )
        return (
            f"{name} is a zip archive holding {held}, not a spreadsheet; unzip it first "
            "and give segsync the file inside."
        )
    return f"{name} is a zip archive but not an Excel workbook. Save the sheet as .xlsx or .csv."
