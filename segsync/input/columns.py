"""A field's column through its cell rule at once, with a fast path for the usual column.

Cell by cell, a 100,000-row sheet costs 100,000 Python calls per column. Here a column is
taken in chunks, and a chunk whose every cell would take its parser's plain path (an integral
number or digits for an id; trimmed, printable NFC text of allowed length, no clear marker, for
text) is checked with a few whole-chunk operations that run in C: the cell types as a set, one
``str.strip`` map, one join checked by ``isprintable``/``isascii``/``unicodedata.is_normalized``.
A chunk with any other cell goes through the per-cell parser (:mod:`~segsync.input.cells`),
so every rule, message and value is the per-cell parser's: the fast path only ever accepts
what that parser would return unchanged.
"""

from __future__ import annotations

import datetime as dt
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass, field
from operator import itemgetter
from typing import Any, Final, Literal, cast

from segsync.input.cells import (
    KEEP,
    MAX_CELL_CHARS,
    MAX_EXACT_FLOAT_INT,
    CellError,
    Parser,
)
from segsync.model import INT64_MAX

#: Cells per chunk: one odd cell sends this many through the per-cell parser.
CHUNK: Final = 2048

Kind = Literal["int", "text", "datetime"]


@dataclass(frozen=True, slots=True)
class FieldRule:
    """How one field's cells are read: the per-cell ``parse`` and what its fast path needs."""

    kind: Kind
    parse: Parser
    #: the clear marker, trimmed and case-folded, as the per-cell parser compares it
    marker: str
    nullable: bool = False
    multiline: bool = False


@dataclass(slots=True)
class Parsed:
    """One column's cells, parsed: ``values[i]`` is meaningful unless ``i`` is in ``keep``
    (a blank cell: keep the current value) or in ``errors``."""

    values: list[object] = field(default_factory=list)
    keep: list[int] = field(default_factory=list)
    errors: dict[int, CellError] = field(default_factory=dict)
    #: every chunk took its fast path: a text value is its cell, trimmed
    plain: bool = True


def parse_column(rule: FieldRule, cells: Sequence[object], *, text: bool = False) -> Parsed:
    """Every cell of ``cells`` through ``rule``, as ``rule.parse`` would read each one.

    ``text`` says every cell is a ``str`` (a CSV's are), so no chunk's types are checked.
    """
    out = Parsed()
    for start in range(0, len(cells), CHUNK):
        _parse_chunk(rule, cells[start : start + CHUNK], start, out, text)
    return out


def parse_rows(
    rules: Sequence[tuple[int, FieldRule]], rows: Sequence[Sequence[object]], *, text: bool = False
) -> list[Parsed]:
    """Column ``j`` of ``rows`` through ``rule``, for each ``(j, rule)``: what
    :func:`parse_column` makes of :func:`column_of` ``(rows, j)``.

    The columns are taken a chunk of rows at a time, and each chunk is parsed while its rows
    and cells are still in the processor's cache: taking whole columns first walks every row
    again for each column, and the columns then hold every cell until they are dropped, when
    every cell is visited once more.
    """
    outs = [Parsed() for _ in rules]
    wanted = [j for j, _ in rules]
    for start in range(0, len(rows) if rules else 0, CHUNK):
        chunks = _columns_of(rows[start : start + CHUNK], wanted)
        for (_, rule), out, chunk in zip(rules, outs, chunks, strict=True):
            _parse_chunk(rule, chunk, start, out, text)
    return outs


def column_of(rows: Sequence[Sequence[object]], j: int) -> list[object]:
    """Column ``j`` of ``rows``; a row too short for it has an empty cell there."""
    try:
        return list(map(itemgetter(j), rows))
    except IndexError:
        return [cells[j] if j < len(cells) else "" for cells in rows]


def _columns_of(rows: Sequence[Sequence[object]], wanted: list[int]) -> list[Sequence[object]]:
    """The columns ``wanted`` of ``rows``: one transposition when every row is as wide (a
    workbook's are)."""
    if rows and max(wanted) < len(rows[0]) and len(set(map(len, rows))) == 1:
        every = list(zip(*rows, strict=True))
        return [every[j] for j in wanted]
    return [column_of(rows, j) for j in wanted]


def _parse_chunk(
    rule: FieldRule, chunk: Sequence[object], start: int, out: Parsed, text: bool
) -> None:
    """One chunk of a column: its fast path, else cell by cell."""
    if not _FAST[rule.kind](rule, chunk, start, out, text):
        out.plain = False
        _per_cell(rule.parse, chunk, start, out)


def _per_cell(parse: Parser, chunk: Sequence[object], start: int, out: Parsed) -> None:
    values, keep, errors = out.values, out.keep, out.errors
    for i, raw in enumerate(chunk, start):
        try:
            value = parse(raw)
        except CellError as exc:
            errors[i] = exc
            value = None
        else:
            if value is KEEP:
                keep.append(i)
        values.append(value)


def _positions(items: list[Any], value: object, start: int = 0) -> list[int]:
    """Where ``value`` is in ``items``, plus ``start`` (a C-speed scan between hits)."""
    found: list[int] = []
    i = -1
    try:
        while True:
            i = items.index(value, i + 1)
            found.append(start + i)
    except ValueError:
        return found


def _fast_int(
    rule: FieldRule, chunk: Sequence[object], start: int, out: Parsed, text: bool
) -> bool:
    """Whole numbers in range: Excel numbers (floats), ints, or digits (CSV)."""
    types = {str} if text else set(map(type, chunk))
    if types == {str}:
        return _fast_digits(rule, cast("Sequence[str]", chunk), out)
    if types == {float}:
        numbers = cast("Sequence[float]", chunk)  # the types were checked
        if (
            all(map(float.is_integer, numbers))
            and min(numbers) > 0
            and max(numbers) < MAX_EXACT_FLOAT_INT
        ):
            out.values.extend(map(int, numbers))
            return True
        return False
    if types == {int}:
        ints = cast("Sequence[int]", chunk)
        if min(ints) > 0 and max(ints) <= INT64_MAX:
            out.values.extend(ints)
            return True
        return False
    return False


def _fast_digits(rule: FieldRule, chunk: Sequence[str], out: Parsed) -> bool:
    """Digits, as a CSV holds ids: whole numbers in range, none blank or the marker."""
    if rule.marker.isdigit():
        return False  # a cell could be the clear marker
    joined = "".join(chunk)
    if joined.isascii() and joined.isdigit() and "" not in chunk:
        texts: Sequence[str] = chunk  # no cell has a space to trim
    else:
        texts = list(map(str.strip, chunk))
        joined = "".join(texts)
        if "" in texts or not (joined.isascii() and joined.isdigit()):
            return False
    parsed = list(map(int, texts))
    if min(parsed) > 0 and max(parsed) <= INT64_MAX:
        out.values.extend(parsed)
        return True
    return False


def _fast_text(
    rule: FieldRule, chunk: Sequence[object], start: int, out: Parsed, text: bool
) -> bool:
    """Trimmed text that the per-cell parser would return as it is.

    The cells are joined with spaces: a space is a stable code point under NFC (it neither
    composes nor reorders with its neighbours), so the join is NFC exactly when every cell
    is, and printable exactly when every cell is.
    """
    if not text and set(map(type, chunk)) != {str}:
        return False
    texts = list(map(str.strip, cast("Sequence[str]", chunk)))
    joined = " ".join(texts)
    if not joined.isprintable():
        # a description may hold tabs and line breaks (a carriage return is rewritten)
        if not rule.multiline or "\r" in joined:
            return False
        if not joined.replace("\n", " ").replace("\t", " ").isprintable():
            return False
    lengths = None
    if len(joined) > MAX_CELL_CHARS:  # else no cell can be
        lengths = list(map(len, texts))
        if max(lengths) > MAX_CELL_CHARS:
            return False
    ascii = joined.isascii()
    if not ascii and not unicodedata.is_normalized("NFC", joined):
        return False
    cleared = _markers(rule.marker, texts, joined, ascii, lengths) if rule.marker else []
    if cleared and not rule.nullable:
        return False  # the per-cell parser words the error
    if "" in texts:
        out.keep.extend(_positions(texts, "", start))
    values = cast("list[object]", texts)
    for i in cleared:
        values[i] = None
    out.values.extend(values)
    return True


def _markers(
    marker: str, texts: list[str], joined: str, ascii: bool, lengths: list[int] | None
) -> list[int]:
    """Positions of the cells that are the clear marker, compared as the per-cell parser
    compares them (the same length, then case-folded). Only the cells of the marker's length
    are folded; in ASCII text, where lower() is casefold(), a chunk without the marker
    anywhere is passed with one search."""
    if ascii and marker not in joined.lower():
        return []
    size = len(marker)
    if lengths is None:
        lengths = list(map(len, texts))
    if size not in lengths:
        return []
    return [i for i in _positions(lengths, size) if texts[i].casefold() == marker]


def _fast_datetime(
    rule: FieldRule, chunk: Sequence[object], start: int, out: Parsed, text: bool
) -> bool:
    """ISO-8601 text (``modifiedDateTime`` as exported), kept as written (trimmed)."""
    if not text and set(map(type, chunk)) != {str}:
        return False
    texts = list(map(str.strip, cast("Sequence[str]", chunk)))
    marker = rule.marker
    if marker and marker in "\n".join(texts).casefold():
        return False
    try:
        for _ in map(dt.datetime.fromisoformat, filter(None, texts)):
            pass
    except ValueError:
        return False
    if "" in texts:
        out.keep.extend(_positions(texts, "", start))
    out.values.extend(texts)
    return True


_FAST: Final = {"int": _fast_int, "text": _fast_text, "datetime": _fast_datetime}
