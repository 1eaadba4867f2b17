"""Cell values that a spreadsheet can neither run nor silently change.

Every value segsync puts in a report comes from a spreadsheet or from the API, so any of them
may be hostile (``=HYPERLINK(...)``, DDE payloads) or merely fragile (``00123``, 17-digit ids).
This module holds the few rules that keep such values inert and exact, so the results writer
and the export writer apply one definition:

* **xlsx**: text is always written with ``write_string`` (never ``write()``), so Excel and
  LibreOffice show it and never evaluate it. ``write_text`` also works around an xlsxwriter
  quirk: in ``constant_memory`` mode a string that starts with ``<r>`` and ends with ``</r>``
  is copied into the sheet XML *unescaped* (it is taken for a pre-rendered rich string), which
  would let a cell value inject arbitrary cells, formulas included. Such strings are written as
  a three-fragment rich string instead, which xlsxwriter escapes; readers see the same text.
* **numbers**: only values Excel stores exactly become number cells (integers up to 15
  digits, finite floats, plain decimal text up to 15 significant digits); anything else stays
  text, so an int64 id never comes back rounded.
* **cells**: ``text_cell``, ``auto_cell`` and ``number_or_text_cell`` turn a value into what
  its cell holds (text after ``repair_text``, or an exact number), one rule per kind of column.
  The workbook writers and ``RunResult.to_dataframe()`` both use them, so they cannot disagree.
* **CSV**: OWASP's CSV-injection advice, a leading ``'`` on text that starts with ``=``, ``+``,
  ``-``, ``@``, tab or CR. Plain numbers (``-12.50``) are exempt: they cannot run, and a prefix
  would break every machine reading the column.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from typing import Any, Protocol

#: First characters that make Excel, LibreOffice or Google Sheets treat text as a formula.
FORMULA_TRIGGERS: tuple[str, ...] = ("=", "+", "-", "@", "\t", "\r")

#: Excel's limit for one cell, in UTF-16 code units.
EXCEL_MAX_TEXT = 32_767

#: Excel keeps 15 significant digits; larger integers are rounded on display and on save.
EXCEL_MAX_EXACT_INT = 999_999_999_999_999

TRUNCATION_MARK = "… [truncated]"

#: Text up to this length cannot exceed the cell limit, whatever it holds (a quick pre-check).
_REPAIR_LENGTH = EXCEL_MAX_TEXT // 2

_PLAIN_NUMBER = re.compile(r"[+-]?\d+(?:\.\d+)?")
_LONE_SURROGATE = re.compile("[\ud800-\udfff]")


#: Turns a value into what its cell holds: text or an exact number (``text_cell`` and co.).
CellRule = Callable[[Any], str | int | float]


class TextSheet(Protocol):
    """The two xlsxwriter worksheet methods ``write_text`` needs (eases testing)."""

    def write_string(self, row: int, col: int, string: str, cell_format: Any = None) -> int: ...

    def write_rich_string(self, row: int, col: int, *args: Any) -> int: ...


def looks_like_formula(text: str) -> bool:
    """True when a spreadsheet would run ``text`` as a formula if it were typed or imported."""
    return text.startswith(FORMULA_TRIGGERS)


def is_plain_number(text: str) -> bool:
    """``-12``, ``+3.50``: text that any reader takes for a number, never for a formula."""
    return _PLAIN_NUMBER.fullmatch(text) is not None


def csv_cell(text: str) -> str:
    """OWASP CSV-injection guard: prefix formula-like text with ``'``.

    A spreadsheet shows the apostrophe, but it never runs the cell. Plain numbers are left as
    they are (see the module docstring).
    """
    if text.startswith(FORMULA_TRIGGERS) and not is_plain_number(text):
        return "'" + text
    return text


def _utf16_len(text: str) -> int:
    return len(text.encode("utf-16-le", "surrogatepass")) // 2


def text_problem(text: str) -> str | None:
    """Why ``text`` cannot be stored in a cell exactly as it is, or None when it can.

    The export leaves such cells blank (blank means *keep* on the way back in) rather than
    store a changed value that a later sync would send.
    """
    if len(text) > EXCEL_MAX_TEXT // 2 and _utf16_len(text) > EXCEL_MAX_TEXT:
        return f"longer than Excel's {EXCEL_MAX_TEXT:,}-character cell limit"
    if not text.isascii() and _LONE_SURROGATE.search(text):
        return "contains unpaired UTF-16 surrogates, which a workbook cannot store"
    return None


def repair_text(text: str) -> str:
    """``text`` made storable: lone surrogates become U+FFFD, overlong text is cut and marked.

    For reports, where showing most of a value beats failing the whole file.
    """
    if not text.isascii() and _LONE_SURROGATE.search(text):
        text = _LONE_SURROGATE.sub("\ufffd", text)
    if len(text) > EXCEL_MAX_TEXT // 2 and _utf16_len(text) > EXCEL_MAX_TEXT:
        keep = EXCEL_MAX_TEXT - len(TRUNCATION_MARK)
        text = text[:keep]
        while _utf16_len(text) > keep:  # astral characters count twice in UTF-16
            text = text[: keep - (_utf16_len(text) - keep)]
        text += TRUNCATION_MARK
    return text


def write_text(sheet: TextSheet, row: int, col: int, text: str, cell_format: Any = None) -> None:
    """Write ``text`` as an inert text cell, exactly (after ``repair_text``).

    Always a string cell, never a formula, URL or number, whatever ``text`` starts with.
    """
    if len(text) > _REPAIR_LENGTH or not text.isascii():
        text = repair_text(text)
    write_storable_text(sheet, row, col, text, cell_format)


def write_storable_text(
    sheet: TextSheet, row: int, col: int, text: str, cell_format: Any = None
) -> None:
    """``write_text`` for text that already went through ``repair_text`` (a cell value)."""
    if text.startswith("<r>") and text.endswith("</r>"):
        # See the module docstring: split so xlsxwriter escapes it as a rich string.
        args: list[Any] = [text[:1], text[1:2], text[2:]]
        if cell_format is not None:
            args.append(cell_format)
        sheet.write_rich_string(row, col, *args)
        return
    sheet.write_string(row, col, text, cell_format)


def exact_number(value: Any) -> int | float | None:
    """``value`` as a number Excel stores and shows exactly, or None to keep it as text.

    Accepts ints and finite floats, and text that is a plain decimal of at most 15
    significant digits (the API may send amounts as strings to keep their precision).
    """
    kind = type(value)
    if kind is int:
        return value if -EXCEL_MAX_EXACT_INT <= value <= EXCEL_MAX_EXACT_INT else None
    if kind is float:
        return value if math.isfinite(value) else None
    if kind is str and _PLAIN_NUMBER.fullmatch(value):
        digits = value.lstrip("+-").replace(".", "").lstrip("0")
        if len(digits) > 15:
            return None
        return int(value) if "." not in value else float(value)
    return None


def text_cell(value: Any) -> str:
    """What a text column's cell holds: ``value`` as text, storable (see ``repair_text``)."""
    text = value if type(value) is str else str(value)
    if len(text) > _REPAIR_LENGTH or (
        not text.isascii() and _LONE_SURROGATE.search(text) is not None
    ):
        return repair_text(text)
    return text


def auto_cell(value: Any) -> str | int | float:
    """Text stays text (``00123`` too); real numbers become numbers when Excel holds them."""
    kind = type(value)
    if kind is str:
        text: str = value
        if len(text) > _REPAIR_LENGTH or (
            not text.isascii() and _LONE_SURROGATE.search(text) is not None
        ):
            return repair_text(text)
        return text
    if (kind is int or kind is float) and (number := exact_number(value)) is not None:
        return number
    return text_cell(value)


def number_or_text_cell(value: Any) -> str | int | float:
    """Stats: numbers, including decimal text such as ``"1234.50"``; anything else as text."""
    number = exact_number(value)
    return number if number is not None else text_cell(value)
