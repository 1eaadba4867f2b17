"""Edits that would not do what the person meant: each is a problem naming its cell.

The differ asks this module about every row it compares with the server, so a dry run and a
real run refuse the same cells:

- a read-only column (``campaignName``, ``totalDonors`` …) whose cell differs from what the
  server shows: Raise would ignore the edit, so the row is not sent and says why;
- a word people type to mean "clear" (``N/A``, ``-``, ``none``, ``null`` …) in a changed
  field: never written literally; the clear marker (``#CLEAR``) clears;
- an invisible character (zero-width, a bidi mark, a non-breaking space) in a changed value;
- a code cell that held a number (``993.5``, ``120000``) in a typed sheet, unless it is a
  zero-padded code the spreadsheet damaged (the differ keeps the server's code then).

Values the server already holds are never refused: only what the run would change.
"""

from __future__ import annotations

import datetime as dt
import re
import unicodedata
from collections.abc import Callable
from decimal import Decimal, InvalidOperation
from operator import attrgetter
from typing import Final, cast

from segsync.input.cells import text_of
from segsync.input.editset import EditSet, RowEdit
from segsync.input.messages import shown
from segsync.model import FieldValue, Segment, same_value

#: Characters a person cannot see in a cell, by what to call them.
INVISIBLE: Final = re.compile(
    "[\u00a0\u2007\u202f\u200b-\u200f\u202a-\u202e\u2060-\u2064\u2066-\u2069\ufeff\u00ad]"
)

#: Fields that cannot be cleared (the API requires them).
REQUIRED: Final = frozenset({"campaignId", "name", "code"})


def value_problems(edit: RowEdit, edited: dict[str, FieldValue], edits: EditSet) -> list[str]:
    """Why the values this row would change would not do what was meant, each by its cell."""
    problems: list[str] = []
    for name, value in edited.items():
        if not isinstance(value, str):
            continue
        where = _where(edits, name, edit.source_row)
        word = value.strip().casefold()
        if word in edits.clear_words:
            problems.append(f"{where}{_clear_word(name, value, edits)}")
            continue
        hidden = INVISIBLE.search(value)
        if hidden is not None:
            problems.append(f"{where}{_invisible(hidden.group(0), hidden.start(), value)}")
            continue
        if name == "code" and edit.numeric_code and edits.typed:
            problems.append(
                f"{where}holds the number {shown(value)}; codes are text, and a spreadsheet "
                "may have rounded or reformatted it: format the column as Text and type the "
                "code again"
            )
    return problems


def read_only_getter(fields: tuple[str, ...]) -> Callable[[Segment], tuple[object, ...]]:
    """What the server shows for ``fields``, as one tuple (one C call per row): an export fed
    back compares equal at once, and only a row that does not is looked at field by field."""
    if len(fields) == 1:
        one = attrgetter(fields[0])
        return lambda segment: (one(segment),)
    return cast("Callable[[Segment], tuple[object, ...]]", attrgetter(*fields))


def read_only_problems(edit: RowEdit, before: Segment, edits: EditSet) -> list[str]:
    """Read-only cells that differ from what the server shows."""
    problems: list[str] = []
    if edit.read_only is None:
        return problems
    moving = edit.values.get("campaignId", before.campaignId) != before.campaignId
    for name, cell in zip(edits.read_only_fields, edit.read_only, strict=True):
        held = getattr(before, name, None)
        if cell == held or same_shown(cell, held):
            continue
        if name == "campaignName" and moving:
            continue  # the new campaign's name, typed beside its id: the move says it all
        where = _where(edits, name, edit.source_row)
        header = edits.cells.get(name, (0, name))[1]
        server = "nothing" if held in (None, "") else f"'{shown(held)}'"
        problems.append(
            f"{where}read-only in Raise: the sheet says '{shown(text_of(cell))}', the server "
            f"{server}, and Raise would ignore the change; {_read_only_advice(name, header)}"
        )
    return problems


def _read_only_advice(name: str, header: str) -> str:
    if name == "campaignName":
        return "change campaignId to move a segment, or rename the campaign in Raise"
    return (
        f"set it back, or leave the column out with --ignore-column '{shown(header)}' "
        "(the figure may have moved since the export: export again)"
    )


def _where(edits: EditSet, name: str, row: int) -> str:
    ref = edits.cell(name, row)
    return f"{ref}: " if ref is not None else f"{name}: "


def _clear_word(name: str, value: str, edits: EditSet) -> str:
    typed = shown(value.strip())
    if name in REQUIRED:
        return (
            f"'{typed}' looks like a word meant as 'clear', but {name} cannot be cleared; "
            "type the new value, or leave the cell blank to keep the current one"
        )
    return (
        f"'{typed}' looks like a word meant as 'clear' and is not written as text; write "
        f"{edits.clear_marker} to clear it (or remove the word from input.clear_words)"
    )


def _invisible(char: str, index: int, value: str) -> str:
    name = unicodedata.name(char, "an invisible character").lower()
    where = "at the end" if index == len(value) - 1 else f"at character {index + 1}"
    advice = "type an ordinary space" if char in "\u00a0\u2007\u202f" else "retype the value"
    return (
        f"holds an invisible character, {name} (U+{ord(char):04X}), {where}; nobody could "
        f"see this change in the preview: {advice}"
    )


# --------------------------------------------------------------------------- same as shown


def same_shown(cell: object, held: object) -> bool:
    """Whether a read-only cell shows what the server holds: as text, as a number (money and
    percent strings such as ``$1,200.00`` and ``12.50%`` as their number), or as a moment."""
    if cell is None or (isinstance(cell, str) and not cell.strip()):
        return True  # a blank cell asks for nothing
    if held is None or held == "":
        return False
    text = text_of(cell)
    if same_value(text, str(held)):
        return True
    left, right = _number(cell), _number(held)
    if left is not None and right is not None:
        if left == right:
            return True
        return isinstance(held, str) and held.strip().endswith("%") and left * 100 == right
    if isinstance(cell, dt.datetime | dt.date) or isinstance(held, str):
        return _same_moment(cell, held)
    return False


_NUMBER_NOISE: Final = re.compile(r"[\s$€£¥,%]")


def _number(value: object) -> Decimal | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        try:
            return Decimal(str(value)).normalize()
        except InvalidOperation:
            return None
    if isinstance(value, str):
        text = _NUMBER_NOISE.sub("", value)
        negative = text.startswith("(") and text.endswith(")")
        text = text.strip("()")
        try:
            number = Decimal(text)
        except InvalidOperation:
            return None
        return (-number if negative else number).normalize() if number.is_finite() else None
    return None


def _same_moment(cell: object, held: object) -> bool:
    try:
        server = dt.datetime.fromisoformat(str(held).strip())
        mine = cell if isinstance(cell, dt.datetime) else dt.datetime.fromisoformat(text_of(cell))
    except (TypeError, ValueError):
        return False
    if not isinstance(mine, dt.datetime):
        return False
    if (server.tzinfo is None) != (mine.tzinfo is None):
        server, mine = server.replace(tzinfo=None), mine.replace(tzinfo=None)
    return abs(server - mine) < dt.timedelta(seconds=1)
