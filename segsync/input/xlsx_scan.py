"""What an .xlsx worksheet's XML says before calamine reads it.

Finds each sheet's worksheet part, then scans that part, streaming, for the extent of its cells
(calamine allocates the dense rectangle between the first and last one), formulas without a
saved value and cells holding an Excel error (calamine reports both as empty).
"""

from __future__ import annotations

import functools
import re
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from operator import itemgetter
from pathlib import Path
from typing import Any, Final
from xml.parsers import expat

from defusedxml import ElementTree as SafeET
from xlsxwriter.utility import xl_cell_to_rowcol

from segsync.errors import FileTooLargeError, UnsupportedFileError
from segsync.input.limits import MAX_SHEET_CELLS, MB
from segsync.input.messages import corrupt_message, shown
from segsync.input.zipguard import find_member, iter_member, part_key, read_member, refuse_dtd

#: A block carried over while no cell ends in it; past this, tags are kept whole and no more.
_CARRY_LIMIT: Final = 16 * MB


def is_worksheet_part(member: str) -> bool:
    """A member in the usual worksheet folder (``xl/worksheets/``, any slash or case)."""
    key = part_key(member)
    return key.startswith("xl/worksheets/") and key.endswith(".xml")


def cell_position(ref: str | bytes) -> tuple[int, int]:
    """A cell reference such as ``B12`` (any case) → 0-based ``(row, column)``, as calamine's."""
    text = ref.decode("ascii") if isinstance(ref, bytes) else ref
    return xl_cell_to_rowcol(text.upper())


# ------------------------------------------------------------------------------ sheet parts


def xlsx_sheet_parts(path: Path, zf: zipfile.ZipFile, name: str) -> list[tuple[str, str]]:
    """Each sheet of workbook.xml, in order: (name, the worksheet part calamine will read).

    Paths are built exactly as calamine builds them, so the part scanned is the part read: the
    workbook folder is that of the package's ``officeDocument`` target (``xl/`` usually, the
    root for a minimal package), the workbook is ``workbook.xml`` in it, and a sheet target is
    taken from the package root if it starts with ``/`` and appended to that folder otherwise
    (``..`` is not resolved). Members are then found as calamine finds them (``part_key``).
    The part is ``""`` when the sheet's relationship is missing. Names are as an XML parser
    reports them (a tab in an attribute reads as a space; calamine keeps it), so callers pair
    sheets with calamine's by position (see ``workbook.py``).
    """
    folder = "xl/"
    rels_data = read_member(path, zf, name, "_rels/.rels")
    if rels_data:
        for rel in _parse_xml(rels_data, name, "_rels/.rels").iter():
            if _local(rel.tag) == "Relationship" and rel.get("Type", "").endswith(
                "/relationships/officeDocument"
            ):
                target = rel.get("Target", "")
                folder = target[: target.rfind("/") + 1].removeprefix("/")
    workbook = f"{folder}workbook.xml"
    rels_member = f"{folder}_rels/workbook.xml.rels"
    wb_data = read_member(path, zf, name, workbook)
    rels = read_member(path, zf, name, rels_member)
    if wb_data is None or rels is None:
        raise UnsupportedFileError(corrupt_message(name, "workbook part missing"))
    targets = {
        rel.get("Id"): _sheet_path(folder, rel.get("Target", ""))
        for rel in _parse_xml(rels, name, rels_member).iter()
        if _local(rel.tag) == "Relationship"
    }
    sheets: list[tuple[str, str]] = []
    for el in _parse_xml(wb_data, name, workbook).iter():
        if _local(el.tag) != "sheet":
            continue
        rid = next((v for k, v in el.attrib.items() if _local(k) == "id"), None)
        sheets.append((el.get("name", ""), targets.get(rid) or ""))
    return sheets


def _local(tag: str) -> str:
    """An XML name without its ``{namespace}``."""
    return tag.rsplit("}", 1)[-1]


def _sheet_path(folder: str, target: str) -> str:
    """A relationship target as calamine turns it into a zip path."""
    return target[1:] if target.startswith("/") else f"{folder}{target}"


def _parse_xml(data: bytes, name: str, member: str) -> Any:
    try:
        return SafeET.fromstring(data)
    except Exception:  # defusedxml raises its own and ParseError; both mean the same here
        raise UnsupportedFileError(
            corrupt_message(name, f"{shown(member, 80)} is not valid XML")
        ) from None


# ------------------------------------------------------------------------------ the scan

#: Fast path: one literal-prefixed regex over a block. A cell tag written exactly as Excel,
#: xlsxwriter and openpyxl write it -- ``<c r="B12" s="1" t="s">``, known attributes after ``r``,
#: plain values, a row under a million -- yields its column letters. Any other ``<c`` tag
#: (other attributes or order, a second ``r``, ``>`` inside a value, no ``r``, a 7-digit row)
#: yields "" and sends the sheet to the full XML parse, so no cell calamine places can hide.
_FAST_CELL = re.compile(
    rb'<c(?: r="([A-Z]{1,3})([0-9]{1,6})"(?: (?:s|t|cm|vm|ph)="[^"<>]{0,16}")*/?>|[\s>/])'
)
#: A tag with a namespace prefix, such as ``<x:c`` or ``<x:f``: such blocks get the full look.
_PREFIXED = re.compile(rb":[cf]")
#: The largest row a stretch that passed :func:`_odd_cells` can hold (five digits).
_FAST_ROW_BOUND: Final = 99_999
#: The first bytes of a sheet, whose cells teach the scan the sheet's columns.
_SAMPLE: Final = 64 * 1024


#: After ``r``: the attributes and start of a plain cell (see :func:`_odd_cells`).
_PLAIN_TAIL: Final = (
    rb'(?: s="[0-9]{1,5}+")?+(?: t="(?:s|str|inlineStr|n|b|d)")?+(?: s="[0-9]{1,5}+")?+'
    rb"(?:><(?:v|is)>|></c>|/>(?=<(?!f[\s/>])))"
)
#: The few cases of :data:`_PLAIN_TAIL` that nearly every cell is (a number, a shared or an
#: inline string, with or without a style), spelled out and tried first: the search is then a
#: third faster, and what is plain is the same.
_USUAL_TAIL: Final = (
    rb'><v>| t="(?:s"><v>|inlineStr"><is>)| s="[0-9]{1,5}+"(?:><v>| t="(?:s"><v>|inlineStr"><is>))'
)


@functools.lru_cache(maxsize=8)
def _odd_cells(letters: frozenset[bytes]) -> re.Pattern[bytes]:
    """A search for the first cell tag that is not plain, given the column letters seen so far.

    Plain is canonical as Excel, xlsxwriter and openpyxl write it (``r`` first, then ``s``
    and ``t``, ``s`` again allowed, plain values), in one of those columns, on a row under
    100,000, not typed as an error (``t="e"``), and directly followed by its value (``<v>``,
    ``<is>``) or its end (``</c>``, or ``/>`` and a tag other than ``<f``). So a formula right
    after its cell tag, which is where :meth:`_FirstPass._formulas` looks, makes a cell odd.
    Possessive quantifiers: nothing here needs backtracking, and without it a search over
    hundreds of thousands of cells is a third faster.
    """
    ref = rb' r="(?:' + b"|".join(sorted(letters)) + rb')[0-9]{1,5}+"'
    tail = rb"(?:" + _USUAL_TAIL + rb"|" + _PLAIN_TAIL + rb")"
    return re.compile(rb"<c(?!" + ref + tail + rb"|[^\s>/])")


_FAST_ROW = re.compile(rb'<c r="[A-Z]{1,3}([0-9]{1,6})"')
_REF_TEXT = re.compile(r"[A-Za-z]{1,3}[0-9]{1,7}")
_FORMULA = re.compile(rb"<(?:[\w.-]+:)?f[\s/>]")
_ERROR_CELL = re.compile(rb"""<(?:[\w.-]+:)?c\s[^>]*?\bt\s*=\s*["']e["'][^>]*>""")
_CELL_START = re.compile(rb"<(?:[\w.-]+:)?c\s[^>]*>")
_CELL_END = re.compile(rb"</(?:[\w.-]+:)?c>")
_CELL_REF = re.compile(rb"""\br\s*=\s*["']([A-Za-z]{1,3}[0-9]{1,7})["']""")
_V_TAG = re.compile(rb"<(?:[\w.-]+:)?v[\s/>]")
_V_TEXT = re.compile(rb"<(?:[\w.-]+:)?v(?:\s[^>]*)?>([^<]*)<")
_TYPE = re.compile(rb"""\bt\s*=\s*["'](\w+)["']""")


@dataclass(slots=True)
class SheetScan:
    """What a worksheet's XML says that calamine's values do not.

    Positions are 0-based ``(row, column)`` like calamine's.
    """

    #: formula cells without a saved (cached) value: calamine shows them as empty
    uncached: set[tuple[int, int]] = field(default_factory=set)
    #: cells whose saved value is an Excel error (``#N/A``, ``#REF!``): calamine shows them empty
    errors: dict[tuple[int, int], str] = field(default_factory=dict)
    #: rows (0-based) a filter or the person hid; calamine reads them like any other
    hidden_rows: set[int] = field(default_factory=set)
    #: columns (0-based) hidden in ``<cols>``
    hidden_cols: set[int] = field(default_factory=set)


def scan_xlsx_sheet(
    path: Path, zf: zipfile.ZipFile, name: str, member: str, sheet: str | None = None
) -> SheetScan:
    """Streaming pass(es) over a worksheet part: extent guard, uncached formulas, error cells.

    calamine allocates rows × columns between the first and last placed cell, so a 5 kB file
    with values in A1 and XFD1048576 would abort the process. For a sheet in canonical form the
    first pass knows the column span exactly and every row is under a million; only when the
    column span times a million could pass the cap does a second pass count rows. Any other
    spelling, and any sheet about to be refused, gets a full XML parse that places cells
    exactly as calamine does. So an ordinary sheet costs one inflate and one regex per block.
    """
    info = find_member(zf, member)
    if info is None:
        raise UnsupportedFileError(corrupt_message(name, f"{shown(member, 80)} is missing"))
    first = _FirstPass()
    for buf, end in _blocks(iter_member(path, info, name), name, member):
        first.feed(buf, end)
        if buf.find(b"hidden", 0, end) >= 0:  # rare: one search for the usual sheet
            _hidden(buf[:end], first.scan)
    if not first.unusual:
        columns = first.extent.column_span()
        if columns * first.row_bound <= MAX_SHEET_CELLS:
            return first.scan
        _count_rows(_blocks(iter_member(path, info, name), name, member), first.extent)
        if first.extent.row_span() * columns <= MAX_SHEET_CELLS:
            return first.scan
    extent = _parsed_extent(iter_member(path, info, name), name, member)
    columns, rows = extent.column_span(), extent.row_span()
    if rows * columns > MAX_SHEET_CELLS:
        raise FileTooLargeError(
            f"{name}: sheet '{shown(sheet or member)}' spans {rows:,} rows × {columns:,} "
            f"columns between its first and last filled cell, over the {MAX_SHEET_CELLS:,}-cell "
            "safety cap. Delete stray cells far below or to the right of the data, or copy the "
            "data to a new workbook."
        )
    return first.scan


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
        cols = [cell_position(letters + b"1")[1] for letters in self.col_letters]
        low = min([*cols, self.min_col])
        high = max([*cols, self.max_col])
        return high - low + 1 if high >= 0 else 0

    def row_span(self) -> int:
        return self.max_row - self.min_row + 1 if self.max_row >= 0 else 0


class _FirstPass:
    """Column letters of canonical cells, formulas and error cells, block by block.

    The full look (:meth:`_look`) takes every cell tag of a block through a regex and
    searches it for formulas and error cells. Most of a sheet needs none of that: one search
    (:func:`_odd_cells`, built from the columns seen in the first 64 kB) finds the first cell
    that is not plain (not canonical, in a column not seen yet, on a row of six digits, with a
    formula or an error), and the rows before it would add nothing to what the full look
    finds. Only the rest of the block from that cell's row, or a block with a prefixed tag,
    gets the full look.
    """

    def __init__(self) -> None:
        self.extent = _Extent()
        self.scan = SheetScan()
        self.unusual = False
        #: the largest row number (1-based) of the canonical cells seen; five digits at most
        #: in a block the search passed
        self.row_bound = 0
        self._odd: re.Pattern[bytes] | None = None

    def feed(self, buf: bytes, end: int) -> None:
        """The block ``buf[:end]``: passed whole by one search, or looked at in full from the
        row holding its first odd cell (so each cell is seen with the same context as
        before: up to the end of its block)."""
        if self._odd is None and not self.unusual:  # the first cells teach the columns
            self._learn(buf[: _row_end(buf, min(_SAMPLE, end), end)])
        odd = self._odd
        if odd is None or _PREFIXED.search(buf, 0, end) is not None:
            self._look(buf[:end])
            return
        hit = odd.search(buf, 0, end)
        if hit is None:
            self.row_bound = max(self.row_bound, _FAST_ROW_BOUND)
            return
        start = buf.rfind(b"row>", 0, hit.start())
        start = start + 4 if start >= 0 else 0
        if start > 0:
            self.row_bound = max(self.row_bound, _FAST_ROW_BOUND)
        self._look(buf[start:end])

    def _learn(self, sample: bytes) -> None:
        """Column letters and rows of the canonical cells in ``sample`` (nothing else)."""
        cells = _FAST_CELL.findall(sample)
        letters = {letters for letters, _ in cells}
        if b"" in letters or b":c" in sample:
            self.unusual = True  # prefixed or non-canonical cell tags: full parse later
        elif cells:
            self.extent.col_letters |= letters
            self.row_bound = max(self.row_bound, max(map(int, map(itemgetter(1), cells))))
            self._odd = _odd_cells(frozenset(self.extent.col_letters))

    def _look(self, block: bytes) -> None:
        if not self.unusual:
            cells = _FAST_CELL.findall(block)
            letters = {letters for letters, _ in cells}
            if b"" in letters or b":c" in block:
                self.unusual = True  # prefixed or non-canonical cell tags: full parse later
            else:
                self.extent.col_letters |= letters
                if cells:
                    self.row_bound = max(self.row_bound, max(map(int, map(itemgetter(1), cells))))
        if b"<f" in block or (b":f" in block and _FORMULA.search(block)):
            self._formulas(block)
        if b't="e"' in block or b"t='e'" in block:
            self._errors(block)
        letters = self.extent.col_letters
        self._odd = _odd_cells(frozenset(letters)) if letters and not self.unusual else None

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
            self.scan.uncached.add(cell_position(ref.group(1)))

    def _errors(self, block: bytes) -> None:
        for match in _ERROR_CELL.finditer(block):
            ref = _CELL_REF.search(match.group(0))
            if ref is None:
                continue
            end = _CELL_END.search(block, match.end())
            body = block[match.end() : end.start() if end else len(block)]
            value = _V_TEXT.search(body)
            text = value.group(1).decode("utf-8", "replace") if value else "#ERROR"
            self.scan.errors[cell_position(ref.group(1))] = text


_HIDDEN_TAG = re.compile(
    rb"""<(?:[\w.-]+:)?(row|col)\s[^>]*?\bhidden\s*=\s*["'](?:1|true)["'][^>]*>"""
)
_ROW_NUMBER = re.compile(rb"""\sr\s*=\s*["']([0-9]{1,7})["']""")
_COL_SPAN = re.compile(rb"""\b(min|max)\s*=\s*["']([0-9]{1,5})["']""")


def _hidden(block: bytes, scan: SheetScan) -> None:
    """Hidden rows (``<row r="5" hidden="1">``, as an autofilter or a person leaves them) and
    hidden columns (``<col min="2" max="3" hidden="1"/>``) in ``block``.

    A hidden row without an ``r`` attribute is not placed: Excel, LibreOffice, openpyxl and
    xlsxwriter always write it.
    """
    for match in _HIDDEN_TAG.finditer(block):
        tag = match.group(0)
        if match.group(1) == b"row":
            number = _ROW_NUMBER.search(tag)
            if number is not None:
                scan.hidden_rows.add(int(number.group(1)) - 1)
            continue
        span: dict[bytes, bytes] = dict(_COL_SPAN.findall(tag))
        if b"min" in span:
            low = int(span[b"min"])
            high = min(int(span.get(b"max") or span[b"min"]), low + 16_384)
            scan.hidden_cols.update(range(low - 1, high))


def _parsed_extent(chunks: Iterator[bytes], name: str, member: str) -> _Extent:
    """Place every cell the way calamine does, with a real (expat) XML parser.

    Used for sheets whose cell tags are not in the canonical form, and to confirm before
    refusing a canonical one (the regex pass also counts empty, formatted-only cells, which
    calamine skips). Expat handles quoting, whitespace, prefixes and ``>`` inside values
    exactly; what it rejects (duplicate attributes, ``<`` in a value, DTDs) is refused rather
    than guessed at. calamine reads the unprefixed ``r`` attribute (the last one, if repeated)
    and places a cell without one right after the previous cell; a row without ``r`` follows
    the previous row.
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
                if _REF_TEXT.fullmatch(ref) is None:
                    raise ValueError(f"cell reference {ref!r}")
                position[:] = cell_position(ref)
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
            corrupt_message(name, f"{shown(member, 80)} is not well-formed XML: {shown(exc, 80)}")
        ) from None
    return extent


def _blocks(chunks: Iterator[bytes], name: str, member: str) -> Iterator[tuple[bytes, int]]:
    """Re-cut inflated chunks at row (or cell) ends so that no tag is split across blocks.

    Yields ``(buffer, end)``: the block is ``buffer[:end]``, searched in place, not copied.
    """
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
                    corrupt_message(name, f"{shown(member, 80)} holds a single XML tag over 16 MB")
                )
        yield buf, cut
        carry = buf[cut:]
    if carry:
        yield carry, len(carry)


def _row_end(buf: bytes, at: int, end: int) -> int:
    """Just past the first row end at or after ``at`` in ``buf[:end]``, else ``end``."""
    found = buf.find(b"row>", at, end)
    return found + 4 if found >= 0 else end


def _count_rows(blocks: Iterator[tuple[bytes, int]], extent: _Extent) -> None:
    """Second pass, only for wide canonical sheets: the rows of their cells."""
    for buf, end in blocks:
        for match in _FAST_ROW.finditer(buf, 0, end):
            row = int(match.group(1)) - 1
            extent.min_row, extent.max_row = min(extent.min_row, row), max(extent.max_row, row)
