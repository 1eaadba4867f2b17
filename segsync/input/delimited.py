"""Delimited text files (CSV/TSV) → a :class:`Table`.

Encoding and delimiter are found deterministically; an Excel ``sep=;`` first line is honoured;
``="00123"`` (Excel's keep-as-text idiom) is unwrapped. Row numbers are record numbers, which is
what Excel shows when it opens the file, also with quoted line breaks.
"""

from __future__ import annotations

import csv
import io
from pathlib import PurePath
from typing import Final

from segsync.errors import NoDataError, UnsupportedFileError
from segsync.input.decoding import decode_text, foreign_word
from segsync.input.messages import shown
from segsync.input.sniff import FileInfo
from segsync.input.table import Table, has_content

DELIMITERS: Final = (",", ";", "\t", "|")


def read_text(info: FileInfo) -> Table:
    data = info.path.read_bytes()
    text, encoding = decode_text(data)
    if text is None:
        raise UnsupportedFileError(f"{info.name} is not a text file segsync can decode.")
    warnings = []
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
        default = "\t" if info.path.suffix.lower() in (".tsv", ".tab") else ","
        delimiter = sniff_delimiter(text, default)
    rows = parse_csv(text, delimiter, info.name)
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


def parse_csv(text: str, delimiter: str, name: str) -> list[list[str]]:
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
            f"{name} is not valid CSV near line {reader.line_num}: {shown(exc, 80)} ({hint})."
        ) from None
    if '="' in text:
        rows = [[unwrap_excel_text(cell) for cell in row] for row in rows]
    return rows


def unwrap_excel_text(cell: str) -> str:
    """``="00123"`` is how people keep leading zeros in a CSV that Excel will open."""
    if len(cell) >= 3 and cell.startswith('="') and cell.endswith('"'):
        return cell[2:-1].replace('""', '"')
    return cell
