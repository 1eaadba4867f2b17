"""Delimited text files (CSV/TSV) → a :class:`Table`.

Encoding and delimiter are found deterministically; an Excel ``sep=;`` first line is honoured;
``="00123"`` (Excel's keep-as-text idiom) is unwrapped. Row numbers are record numbers, which is
what Excel shows when it opens the file, also with quoted line breaks.
"""

from __future__ import annotations

import codecs
import csv
import io
from collections.abc import Iterable
from itertools import islice, repeat
from pathlib import PurePath
from typing import Final

from segsync.errors import NoDataError, UnsupportedFileError
from segsync.input.decoding import decode_text, foreign_word, utf8_start
from segsync.input.messages import shown
from segsync.input.sniff import FileInfo
from segsync.input.table import Table, has_content

DELIMITERS: Final = (",", ";", "\t", "|")
#: How much of the text :func:`sniff_delimiter` reads, at most.
SNIFF_CHARS: Final = 65536


def read_text(info: FileInfo) -> Table:
    data = info.path.read_bytes()
    default = "\t" if info.path.suffix.lower() in (".tsv", ".tab") else ","
    warnings: list[str] = []
    rows = utf8_rows(data, default)
    if rows is None:
        rows = _decoded_rows(data, default, info, warnings)
    header_index = next((k for k, row in enumerate(rows) if has_content(row)), None)
    if header_index is None:
        raise NoDataError(f"{info.name} has no data: it contains no header row.")
    return Table(
        name=info.name,
        source=str(info.path),
        sheet=PurePath(info.label or info.path.name).stem,  # an upload's own name
        header_row=header_index + 1,
        header=rows[header_index],
        rows=rows[header_index + 1 :],
        first_row=header_index + 2,
        strict_width=True,
        untyped=True,
        warnings=warnings,
        has_sheets=False,
    )


def _decoded_rows(
    data: bytes, default: str, info: FileInfo, warnings: list[str]
) -> list[list[str]]:
    """The rows of any text file: decoded whole (:func:`decode_text`), then parsed."""
    text, encoding = decode_text(data)
    if text is None:
        raise UnsupportedFileError(f"{info.name} is not a text file segsync can decode.")
    if encoding == "Windows-1252":
        word = foreign_word(text)
        warnings.append(
            f"{info.name} is not UTF-8; it was read as Windows-1252 (Excel's 'CSV' on Windows)."
            if word is None
            else f"{info.name} is not UTF-8; it was read as Windows-1252, but words such as "
            f"'{shown(word, 20)}' suggest another alphabet (Greek, Cyrillic …) saved in an older "
            "encoding: check the accented letters in the preview, and if they are wrong, save "
            "the file as 'CSV UTF-8' in Excel and run again."
        )
    text, delimiter = excel_sep_line(text)
    if delimiter is None:
        delimiter = sniff_delimiter(text, default)
    return parse_csv(text, delimiter, info.name)


def utf8_rows(data: bytes, default: str) -> list[list[str]] | None:
    """The rows of a UTF-8 file without a ``sep=`` line, read as :func:`_decoded_rows` reads
    them; None for any other file, and for one that turns out not to be valid UTF-8 or CSV.

    The usual file, read without ever holding it as one text: the csv module pulls its lines
    from an incremental decoder, as it does from an open file, which spares the memory of the
    text and of its lines (for 11 MB of CSV, 50 MB) and the time to take it from the system.
    Everything that makes this path differ from the other is left to the other: encodings
    :func:`decode_text` does not read as UTF-8, a ``sep=`` line, bytes that are not UTF-8
    (the file is then Windows-1252) and CSV errors (whose wording depends on the decoding).
    """
    start = utf8_start(data)
    if start is None:
        return None
    try:
        head = codecs.getincrementaldecoder("utf-8")().decode(data[start : start + _HEAD], False)
    except UnicodeDecodeError:
        return None
    if head[:4].lower() == "sep=":
        return None
    buffer = io.BytesIO(data)
    buffer.seek(start)
    lines = io.TextIOWrapper(buffer, encoding="utf-8", newline="")
    try:
        rows = list(csv.reader(lines, delimiter=sniff_delimiter(head, default), strict=True))
    except (UnicodeDecodeError, csv.Error):
        return None
    if b"=" in data and b'="' in data:  # as '="' in the text: UTF-8 keeps ASCII as it is
        rows = unwrap_rows(rows)
    return rows


#: Bytes enough for the characters :func:`sniff_delimiter` looks at (four bytes at most each,
#: and an incomplete last one held back by the decoder).
_HEAD: Final = 4 * SNIFF_CHARS + 3


def excel_sep_line(text: str) -> tuple[str, str | None]:
    """Excel's ``sep=;`` first line names the delimiter and is not part of the data."""
    if text[:4].lower() == "sep=":
        line, _, rest = text.partition("\n")
        sep = line[4:].rstrip("\r")
        if len(sep) == 1:
            return rest, sep
    return text, None


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
    for ch in text[:SNIFF_CHARS]:
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


def parse_csv(text: str, delimiter: str, name: str) -> list[list[str]]:
    reader = csv.reader(csv_lines(text), delimiter=delimiter, strict=True)
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
            f"{name} is not valid CSV near line {reader.line_num}: {shown(exc, 80)} ({hint})."
        ) from None
    if "=" in text and '="' in text:  # one character is found far faster than two
        rows = unwrap_rows(rows)
    return rows


def unwrap_rows(rows: list[list[str]]) -> list[list[str]]:
    """Every cell through :func:`unwrap_excel_text`."""
    return [[unwrap_excel_text(cell) for cell in row] for row in rows]


def csv_lines(text: str) -> Iterable[str]:
    """The lines of ``text`` exactly as ``io.StringIO(text, newline="")`` yields them, which is
    what the csv module expects: each ends at ``\\n``, ``\\r\\n`` or ``\\r``, ending kept.

    ``str.splitlines`` is twice as fast and keeps no second copy of the text (a StringIO holds
    four bytes a character), but it also ends a line at seven other characters (form feed,
    ``\\x1c``, U+2028 …), and to the csv module a line end outside quotes ends a record.
    ``splitlines`` ends a line wherever StringIO does, so the two agree exactly when every line
    but the last ends in ``\\n`` or ``\\r``; when one does not, StringIO reads the text.
    """
    lines = text.splitlines(keepends=True)
    if all(map(str.endswith, islice(lines, max(len(lines) - 1, 0)), repeat(("\n", "\r")))):
        return lines
    return io.StringIO(text, newline="")


def unwrap_excel_text(cell: str) -> str:
    """``="00123"`` is how people keep leading zeros in a CSV that Excel will open."""
    if len(cell) >= 3 and cell.startswith('="') and cell.endswith('"'):
        return cell[2:-1].replace('""', '"')
    return cell
