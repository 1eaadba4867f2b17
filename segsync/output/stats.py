"""The API's statistics as spreadsheet values: numbers where they parse, the API's text where not.

The API sends its read-only statistics as display text (``"$19,478.17"``, ``"16.36%"``,
``"2025-03-01T10:15:00.123456Z"``) or as plain numbers. A results workbook shows them as
numbers a person can sort, sum and read, with a number format that keeps their look. Pure:
no xlsxwriter, no I/O. These values are shown, never used to decide what to send.

Rules, per field (``parse_stat``):

* amounts (``totalGiftAmount``, ``averageGiftAmount``, ``medianGiftAmount``,
  ``highestGiftAmount``): ``1234.5``, ``"1234.50"``, ``"$19,478.17"``, ``"-€12.00"``,
  ``"12.00 €"``, ``"CHF 1,200.00"`` become the number, formatted with the currency the API
  used (``$``, ``€``, ``£``, ``¥`` or a three-letter code, before or after the amount, as sent);
  no currency: ``#,##0.00``. Thousands separators must be commas in groups of three and the
  decimal separator a point; anything else (``"1.234,56 €"``, ``"($12.00)"``) stays text.
* ``conversionRate``: ``"16.36%"`` becomes 0.1636 shown as ``0.00%``; a bare number
  (``0.1636``, ``"0.1636"``) stays the number the API sent (it does not say whether it is a
  fraction or a percentage), shown as it is.
* counts (``totalDonors``, ``totalGifts``, ``totalVisitors``): integers (``12``,
  ``"1,234"``) as integers with ``#,##0``.
* times (``…DateTime``): an ISO 8601 date and time becomes a datetime in this computer's
  local time zone, without a zone (Excel has none), to the millisecond, shown as
  ``yyyy-mm-dd hh:mm:ss``; a time without a zone is taken as UTC (the API's times are UTC).
  A date alone, or a year outside Excel's 1900–9999, stays text.
* numbers must be ones Excel holds exactly (at most 15 significant digits, finite);
  anything else, and every other field (``campaignName``), is text as the API sent it.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from functools import cache
from typing import Any, Final

from segsync.output.field_kinds import AMOUNT_STATS
from segsync.output.xlsx_safety import EXCEL_MAX_EXACT_INT, text_cell

#: A cell value as the workbook holds it: text, an exact number or a (naive, local) datetime.
StatCell = str | int | float | datetime
#: A stat's value → its cell value and number format.
StatParser = Callable[[Any], "tuple[StatCell, str | None]"]

AMOUNT_FORMAT: Final = "#,##0.00"
COUNT_FORMAT: Final = "#,##0"
PERCENT_FORMAT: Final = "0.00%"
DATETIME_FORMAT: Final = "yyyy-mm-dd hh:mm:ss"

COUNT_STATS: frozenset[str] = frozenset({"totalDonors", "totalGifts", "totalVisitors"})
PERCENT_STATS: frozenset[str] = frozenset({"conversionRate"})
CURRENCY_SYMBOLS: Final = "$€£¥"

_PLAIN = re.compile(r"[+-]?\d+(?:\.\d+)?")
_GROUPED = r"\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?"
_CURRENCY = rf"[{CURRENCY_SYMBOLS}]|[A-Z]{{3}}"
_AMOUNT = re.compile(
    rf"(?P<sign>-)?(?P<pre>(?:{_CURRENCY}) ?)?(?P<sign2>-)?(?P<num>{_GROUPED})"
    rf"(?P<post> ?(?:{_CURRENCY}))?"
)
_COUNT = re.compile(r"[+-]?(?:\d{1,3}(?:,\d{3})+|\d+)")
_PERCENT = re.compile(rf"(?P<num>[+-]?(?:{_GROUPED})) ?%")
#: A date and a time (``T`` or a space between them): a date alone is not a moment.
_DATETIME = re.compile(r"\d{4}-?\d{2}-?\d{2}[T ]\d{2}")

#: Added to a time field's header in the workbook: its values are converted to local time.
LOCAL_TIME_NOTE: Final = "(local time)"


def is_time_field(field: str) -> bool:
    """``modifiedDateTime`` and other times: parsed as datetimes in local time."""
    return field.endswith("DateTime")


def parse_stat(field: str, value: Any) -> tuple[StatCell, str | None]:
    """``(cell value, number format or None)`` of one stat; see the module docstring.

    ``value`` is not None and not ``""`` (those are blank cells, decided by the caller).
    """
    return stat_parser(field)(value)


def stat_parser(field: str) -> StatParser:
    """The parser of ``field``'s values (choose once per column, call once per cell)."""
    if field in AMOUNT_STATS:
        return parse_amount
    if field in COUNT_STATS:
        return parse_count
    if field in PERCENT_STATS:
        return parse_percent
    if is_time_field(field):
        return parse_time
    return parse_text


def parse_text(value: Any) -> tuple[StatCell, str | None]:
    return text_cell(value), None


def exact(number: float) -> int | float | None:
    """``number`` when Excel holds it exactly, else None."""
    if type(number) is int:
        return number if -EXCEL_MAX_EXACT_INT <= number <= EXCEL_MAX_EXACT_INT else None
    return number if math.isfinite(number) else None


def _decimal(text: str) -> int | float | None:
    """``"1,234.50"`` → 1234.5 (commas already checked as thousands separators); None when
    it has more than 15 significant digits."""
    if len(text) <= 15:  # the common case: too short to hold 16 digits
        return float(text.replace(",", "")) if "." in text else int(text.replace(",", ""))
    digits = text.replace(",", "")
    if len(digits.lstrip("+-").replace(".", "").lstrip("0")) > 15:
        return None
    return float(digits) if "." in digits else int(digits)


def parse_amount(value: Any) -> tuple[StatCell, str | None]:
    if type(value) is not str:
        if (type(value) is int or type(value) is float) and exact(value) is not None:
            return value, AMOUNT_FORMAT
        return text_cell(value), None
    text: str = value.strip()
    if _PLAIN.fullmatch(text):  # the common case first: "1234.50"
        if len(text) <= 15:
            return (float(text) if "." in text else int(text)), AMOUNT_FORMAT
        number = _decimal(text)
        return (number, AMOUNT_FORMAT) if number is not None else (text_cell(value), None)
    match = _AMOUNT.fullmatch(text)
    if match is None or (match["sign"] and match["sign2"]):
        return text_cell(value), None
    pre, post = match["pre"] or "", match["post"] or ""
    if pre and post:
        return text_cell(value), None
    number = _decimal(match["num"])
    if number is None:
        return text_cell(value), None
    if match["sign"] or match["sign2"]:
        number = -number
    return number, currency_format(pre, post)


@cache
def currency_format(prefix: str, suffix: str) -> str:
    """``#,##0.00`` with the currency text the API put before or after the amount."""
    if not prefix and not suffix:
        return AMOUNT_FORMAT
    if prefix:
        return f'"{prefix}"{AMOUNT_FORMAT}'
    return f'{AMOUNT_FORMAT}"{suffix}"'


def parse_count(value: Any) -> tuple[StatCell, str | None]:
    kind = type(value)
    if kind is int:
        number = exact(value)
        return (value, COUNT_FORMAT) if number is not None else (text_cell(value), None)
    if kind is float:
        if not math.isfinite(value):
            return text_cell(value), None
        return value, (COUNT_FORMAT if value.is_integer() else None)
    if kind is str:
        text = value.strip()
        if _COUNT.fullmatch(text):
            number = _decimal(text)
            if number is not None:
                return number, COUNT_FORMAT
        elif _PLAIN.fullmatch(text):
            number = _decimal(text)
            if number is not None:
                return number, None
    return text_cell(value), None


def parse_percent(value: Any) -> tuple[StatCell, str | None]:
    kind = type(value)
    if kind is int or kind is float:
        number = exact(value)
        return (value, None) if number is not None else (text_cell(value), None)
    if kind is not str:
        return text_cell(value), None
    text: str = value.strip()
    if _PLAIN.fullmatch(text):  # no "%": the number as sent
        number = _decimal(text)
        return (number, None) if number is not None else (text_cell(value), None)
    match = _PERCENT.fullmatch(text)
    if match is None:
        return text_cell(value), None
    body = match["num"]
    number = _decimal(body)
    if number is None:
        return text_cell(value), None
    places = len(body) - body.index(".") - 1 if "." in body else 0
    # round(): 16.36 / 100 is 0.16360000000000002 in binary; the API meant 0.1636.
    return round(number / 100, places + 2), PERCENT_FORMAT


def parse_time(value: Any) -> tuple[StatCell, str | None]:
    if type(value) is str:
        found = _TIMES.get(value)
        if found is None:
            found = _parse_time(value)
            if len(_TIMES) >= _CACHE_MAX:
                _TIMES.clear()
            _TIMES[value] = found
        return found
    return _parse_time(value)


def _parse_time(value: Any) -> tuple[StatCell, str | None]:
    if type(value) is datetime:
        moment: datetime = value
    elif type(value) is str and _DATETIME.match(value.strip()):
        try:
            moment = datetime.fromisoformat(value.strip())
        except ValueError:
            return text_cell(value), None
    else:
        return text_cell(value), None
    local = local_time(moment)
    if local is None:
        return text_cell(value), None
    return local, DATETIME_FORMAT


def local_time(moment: datetime) -> datetime | None:
    """``moment`` in this computer's time zone, naive, to the millisecond; None when Excel
    cannot show it (before 1900 or after 9999). A naive ``moment`` is taken as UTC."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    try:
        utc = moment.astimezone(UTC).replace(tzinfo=None)
        local = utc + _local_offset(utc)
    except (OverflowError, ValueError, OSError):
        return None
    if not 1900 <= local.year <= 9999:
        return None
    return local.replace(microsecond=local.microsecond // 1000 * 1000)


#: The API's time text → its cell (times repeat: a bulk edit stamps many segments alike).
_TIMES: dict[str, tuple[StatCell, str | None]] = {}
_CACHE_MAX = 4096

#: UTC hour → this computer's UTC offset then (zones change offset on the hour, or half hour,
#: in UTC); asking the C library once per hour of the data keeps 100,000 times fast.
_OFFSETS: dict[tuple[int, int, int, int, int], timedelta] = {}
_OFFSETS_MAX = 4096


def _local_offset(utc: datetime) -> timedelta:
    key = (utc.year, utc.month, utc.day, utc.hour, utc.minute // 30)
    offset = _OFFSETS.get(key)
    if offset is None:
        if len(_OFFSETS) >= _OFFSETS_MAX:
            _OFFSETS.clear()
        offset = utc.replace(tzinfo=UTC).astimezone().utcoffset() or timedelta(0)
        _OFFSETS[key] = offset
    return offset


def clear_zone_cache() -> None:
    """Forget the cached offsets and times (after the process's time zone changed, e.g. in
    tests)."""
    _OFFSETS.clear()
    _TIMES.clear()


def local_zone_name(now: datetime | None = None) -> str:
    """This computer's time zone as people read it: ``CET (UTC+01:00)``, ``UTC``."""
    moment = (now or datetime.now(UTC)).astimezone()
    offset = moment.utcoffset()
    minutes = int(offset.total_seconds() // 60) if offset is not None else 0
    sign = "+" if minutes >= 0 else "-"
    hours, mins = divmod(abs(minutes), 60)
    utc = f"UTC{sign}{hours:02d}:{mins:02d}" if minutes else "UTC"
    name = moment.tzname() or ""
    return f"{name} ({utc})" if name and name != utc and name != "UTC" else utc
