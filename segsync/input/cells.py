"""Cell rules: one raw cell value → the typed value the API wants, or a sentence saying why not.

Cells are text first: nothing here turns ``"NA"``, ``"null"`` or ``"N/A"`` into a missing value,
and text is never re-parsed as a number, so ``"00123"`` keeps its zeros.
"""

from __future__ import annotations

import datetime as dt
import math
import numbers
import re
import unicodedata
from collections.abc import Callable
from decimal import Decimal
from typing import Final

from segsync.input.messages import shown
from segsync.model import INT64_MAX

#: Longest changed value segsync sends: Excel's own cell limit, which is also the longest value
#: ``segsync export`` writes, so anything an export holds can be edited and sent back. The API
#: documents no limit; the server is the authority, and its 400 is a row outcome.
MAX_CELL_CHARS: Final = 32_767
#: Floats above 2**53 are not exact integers any more: an id that large stored as an Excel
#: number has already lost digits (Excel itself keeps only 15 significant digits).
MAX_EXACT_FLOAT_INT: Final = 2**53


class _Keep:
    """Sentinel: the cell is blank, keep the current value."""

    _instance: _Keep | None = None

    def __new__(cls) -> _Keep:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "KEEP"


KEEP: Final = _Keep()


class CellError(ValueError):
    """A cell's content cannot be used; ``message`` is the sentence shown after the cell ref.

    ``held`` is the cell's text when only a content rule (length, tab, line break, control
    character) failed. Such rules are soft: they apply only to a value the user changed, and a
    value the server already holds (an export fed back) is never refused; the differ decides.
    """

    def __init__(self, message: str, held: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.held = held


# ------------------------------------------------------------------------------ plain text


def float_text(value: float) -> str:
    """A float as a person would type it: ``123.0`` → ``"123"``, no exponent where possible."""
    if value.is_integer():
        return str(int(value))
    if not math.isfinite(value):
        raise CellError(f"is not a finite number ({value})")
    text = repr(value)
    if "e" in text or "E" in text:
        text = format(Decimal(text), "f")
    return text


def text_of(value: object) -> str:
    """Any raw cell as trimmed text, for headers and carried-through columns (no validation)."""
    if type(value) is str:
        return value.strip()
    if value is None:
        return ""
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, float):
        try:
            return float_text(value)
        except CellError:
            return str(value)
    if isinstance(value, int):
        return str(value)
    if isinstance(value, dt.date | dt.time):
        return value.isoformat()
    return str(value).strip()


def check_text(text: str, *, multiline: bool = False) -> str:
    """Length and control-character guard for a trimmed, non-blank text value.

    Tab and line breaks are allowed only where ``multiline`` (description); ``\\r\\n`` and a lone
    ``\\r`` become ``\\n`` there. Other C0/C1 controls are errors too. All of these are soft
    (``CellError.held``) except NUL and lone surrogates, which no server value can be. Accepted
    text is in Unicode NFC: the same normalisation ``segsync.model.comparable`` uses.
    """
    if len(text) > MAX_CELL_CHARS:
        raise CellError(
            f"is {len(text):,} characters long; segsync sends at most {MAX_CELL_CHARS:,}",
            held=text,
        )
    if text.isprintable():
        return _nfc(text)
    if multiline and "\r" in text:
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    bad = (_BAD_MULTILINE if multiline else _BAD_SINGLE_LINE).search(text)
    if bad is None:
        return _nfc(text)
    return _raise_bad_char(bad.group(0), bad.start(), text)


def _nfc(text: str) -> str:
    return text if text.isascii() else unicodedata.normalize("NFC", text)


_BAD_MULTILINE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\ud800-\udfff]")
_BAD_SINGLE_LINE = re.compile("[\x00-\x1f\x7f-\x9f\ud800-\udfff]")


def _raise_bad_char(char: str, index: int, text: str) -> str:
    """NUL and lone surrogates are always refused; the other rules are soft (``held``)."""
    where = f"at position {index + 1}"
    if char == "\x00":
        raise CellError(f"contains a NUL byte (U+0000) {where}; retype the value")
    if "\ud800" <= char <= "\udfff":
        raise CellError(f"contains an invalid character (lone surrogate) {where}")
    if char in "\r\n":
        message = f"contains a line break ({where}); only description may span lines"
    elif char == "\t":
        message = f"contains a tab character ({where})"
    else:
        message = f"contains the control character U+{ord(char):04X} {where}; retype the value"
    raise CellError(message, held=text)


# ------------------------------------------------------------------------------- parsers

#: A field parser. The raw cell is what python-calamine returns (``""`` when empty), CSV text, or a
#: DataFrame value mapped onto those types. It returns KEEP for a blank cell (empty or only
#: whitespace: keep the current value), None for the clear marker on a nullable field, or the
#: value, and raises CellError with a sentence (the loader adds the cell reference). Parsers run
#: once per cell, so they dispatch on the exact type first and keep the common path to a
#: ``strip`` and an ``isprintable``; the slow checks only run on a cell that fails those.
Parser = Callable[[object], object]


def _describe_date(value: object) -> str:
    if isinstance(value, dt.datetime):
        return value.isoformat(sep=" ")
    if isinstance(value, dt.date | dt.time):
        return value.isoformat()
    return str(value)


def _is_missing_number(value: object) -> bool:
    return isinstance(value, float) and math.isnan(value)


def make_int_parser(field: str, marker: str, *, what: str) -> Parser:
    """Parser for a positive int64 field (``id``, ``campaignId``).

    ``what`` names the value in date errors ("is a date, not a segment id"). The clear marker
    is an error: ids are required.
    """
    marker_cf = marker.strip().casefold()
    cleared = (
        "the segment id cannot be cleared"
        if field == "id"
        else ("a required field cannot be cleared")
    )

    def parse(raw: object) -> object:
        if type(raw) is float:
            if raw.is_integer() and 0 < raw < MAX_EXACT_FLOAT_INT:
                return int(raw)
            return _int_from_float(raw, field)
        if type(raw) is int:
            if 0 < raw <= INT64_MAX:
                return raw
            return _check_range(raw, field)
        if type(raw) is str:
            text = raw.strip()
            if not text:
                return KEEP
            if text.casefold() == marker_cf:
                raise CellError(cleared)
            return _int_from_text(text, field)
        return _int_from_other(raw, field, what)

    return parse


def _int_from_float(value: float, field: str) -> int | _Keep:
    if math.isnan(value):
        return KEEP  # a DataFrame NaN is a blank cell
    if not math.isfinite(value):
        raise CellError(f"{field} must be a whole number, got {value}")
    if not value.is_integer():
        raise CellError(f"{field} must be a whole number, got {float_text(value)}")
    if abs(value) >= MAX_EXACT_FLOAT_INT:
        raise CellError(
            f"{field} {float_text(value)} is too large to be stored exactly as an Excel number; "
            "format the column as Text and type the id again"
        )
    return _check_range(int(value), field)


def _int_from_text(text: str, field: str) -> int:
    digits = text
    if "." in text:  # "123.0" as written by tools that export floats
        head, _, tail = text.partition(".")
        if head and tail and not tail.strip("0"):
            digits = head
    if not (digits.isascii() and digits.isdigit()):
        if digits[:1] == "-" and digits[1:].isascii() and digits[1:].isdigit():
            raise CellError(f"{field} must be a positive whole number, got {_quote(text)}")
        raise CellError(f"{field} must be a whole number, got {_quote(text)}")
    return _check_range(int(digits), field, text)


def _int_from_other(raw: object, field: str, what: str) -> int | _Keep:
    if raw is None or _is_missing_number(raw):
        return KEEP
    if isinstance(raw, bool):
        raise CellError(f"{field} must be a whole number, got {'TRUE' if raw else 'FALSE'}")
    if isinstance(raw, dt.date | dt.time | dt.timedelta):
        raise CellError(
            f"is a date, not {what} ({_describe_date(raw)}); format the column as Number or Text "
            "and type the value again"
        )
    if isinstance(raw, numbers.Integral):
        return _check_range(int(raw), field)
    if isinstance(raw, numbers.Real):
        return _int_from_float(float(raw), field)
    return _int_from_text(str(raw).strip(), field)


def _check_range(value: int, field: str, text: str | None = None) -> int:
    """``value`` if it can be an id; ``text`` is the cell as typed, quoted in the error."""
    if 0 < value <= INT64_MAX:
        return value
    got = str(value) if text is None else _quote(text)
    if value <= 0:
        raise CellError(f"{field} must be a positive whole number, got {got}")
    raise CellError(f"{field} {got} is larger than any possible id ({INT64_MAX:,})")


def _quote(text: str) -> str:
    """Cell text as an error quotes it: on one line, cut when long (see ``messages.shown``)."""
    return f"'{shown(text)}'"


def make_text_parser(marker: str, *, nullable: bool, multiline: bool = False) -> Parser:
    """Parser for a text field. Excel numbers become their text (``123.0`` → ``"123"``: a code
    that Excel stored as a number), booleans ``TRUE``/``FALSE``. A date cell is an error:
    Excel turns codes such as ``3-12`` into dates, and the original text is gone.
    """
    marker_cf = marker.strip().casefold()
    marker_len = len(marker_cf)

    def parse(raw: object) -> object:
        if type(raw) is str:
            text = raw.strip()
            if not text:
                return KEEP
            if len(text) == marker_len and text.casefold() == marker_cf:
                if nullable:
                    return None
                raise CellError("a required field cannot be cleared")
            if len(text) <= MAX_CELL_CHARS and text.isascii() and text.isprintable():
                return text
            return check_text(text, multiline=multiline)
        return _text_from_other(raw, multiline)

    return parse


def _text_from_other(raw: object, multiline: bool) -> object:
    if raw is None or _is_missing_number(raw):
        return KEEP
    if isinstance(raw, bool):
        return "TRUE" if raw else "FALSE"
    if isinstance(raw, float):
        return float_text(raw)
    if isinstance(raw, int):
        return str(raw)
    if isinstance(raw, dt.date | dt.time | dt.timedelta):
        raise CellError(
            f"is a date ({_describe_date(raw)}), not text; if it should read as typed, format "
            "the column as Text and type it again"
        )
    text = str(raw).strip()
    return check_text(text, multiline=multiline) if text else KEEP


def make_datetime_parser(field: str, marker: str) -> Parser:
    """Parser for ``modifiedDateTime``: an ISO-8601 string as an export carries it.

    A date-time cell (Excel converted the text) becomes its ISO form. Anything that does not
    parse as ISO-8601 is an error, because a conflict check against an unreadable time would
    flag every row.
    """
    marker_cf = marker.strip().casefold()

    def parse(raw: object) -> object:
        if type(raw) is str:
            text = raw.strip()
            if not text:
                return KEEP
            if text.casefold() == marker_cf:
                raise CellError(f"{field} is read-only; the clear marker has no meaning here")
            try:
                dt.datetime.fromisoformat(text)
            except ValueError:
                raise CellError(
                    f"{field} must be an ISO date-time as exported (e.g. 2024-03-01T10:15:00Z), "
                    f"got {_quote(text)}"
                ) from None
            return text
        if raw is None or _is_missing_number(raw):
            return KEEP
        if isinstance(raw, dt.datetime):
            return raw.isoformat()
        if isinstance(raw, dt.date):
            return dt.datetime(raw.year, raw.month, raw.day).isoformat()
        raise CellError(f"{field} must be an ISO date-time as exported, got {_quote(text_of(raw))}")

    return parse
