"""What an input file really is, whatever its name says, and whether a parser may see it.

``inspect_file`` checks the size on disk, sniffs the type from magic bytes and runs the
container checks (zip directory and members, OLE2 directory) before anything else reads it.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import Final

from segsync.errors import FileTooLargeError, NoDataError, UnsupportedFileError
from segsync.input.decoding import decode_text
from segsync.input.limits import MB
from segsync.input.messages import human_size
from segsync.input.xls import check_ole2_workbook
from segsync.input.xlsx_scan import is_worksheet_part
from segsync.input.zipguard import check_zip_directory, open_zip, verify_members

OLE2_MAGIC: Final = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
ZIP_MAGICS: Final = (b"PK\x03\x04", b"PK\x05\x06")
WORKBOOK_EXTENSIONS: Final = frozenset(
    {".xlsx", ".xlsm", ".xltx", ".xltm", ".xls", ".xlsb", ".ods"}
)
TEXT_EXTENSIONS: Final = frozenset({".csv", ".tsv", ".txt", ".tab"})
ODS_MIMETYPE: Final = b"application/vnd.oasis.opendocument.spreadsheet"


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
        raise UnsupportedFileError(f"{name} cannot be read: {exc.strerror or exc}.") from None
    ext = path.suffix.lower()
    kind, warnings = _sniff(path, name, ext, head, max_file_mb)
    return FileInfo(path, name, kind, size, digest, tuple(warnings))


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


def _sniff_zip(path: Path, name: str, ext: str, max_file_mb: float) -> FileKind:
    """An .xlsx or .ods after its zip checks; .xlsb is refused: a binary format this package
    does not parse, so it cannot be checked before calamine allocates its sheets."""
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
