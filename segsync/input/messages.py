"""Sentences for file-level problems that several readers report the same way.

Every refusal is one line that a person reads and acts on, so any text taken from the file
(a header, a sheet or member name, a fragment of bytes) goes through :func:`shown` before it is
put in a message: control characters become visible escapes and long values are cut.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable
from typing import Final, Literal

from segsync.input.limits import MB

#: Escapes a person recognises; other invisible characters are shown by code point.
_NAMED_ESCAPES: Final = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}
#: Unicode categories never put raw into a message: controls (a line break, NUL, ESC that
#: would drive the terminal), format characters (bidi overrides that reorder the line,
#: zero-width characters), lone surrogates (stderr cannot encode them), line/paragraph separators.
_HIDDEN_CATEGORIES: Final = frozenset({"Cc", "Cf", "Cs", "Zl", "Zp"})


def human_size(size: float) -> str:
    """A byte count for people: 63.2 MB, 5.4 KB, 512 bytes."""
    if size >= MB / 10:
        return f"{size / MB:,.1f} MB"
    if size >= 1024:
        return f"{size / 1024:,.1f} KB"
    return f"{int(size):,} bytes"


def shown(text: object, limit: int = 40) -> str:
    """File content as a message may quote it: printable, on one line, at most ``limit`` long.

    A line break, tab or NUL becomes ``\\n``, ``\\t``, ``\\x00`` (other invisible characters
    ``\\xNN`` / ``\\uNNNN``); a value longer than ``limit`` is cut and ends in ``…``. Plain
    short text comes back unchanged.
    """
    value = text if isinstance(text, str) else str(text)
    if len(value) <= limit and value.isprintable():
        return value
    pieces: list[str] = []
    length = 0
    for ch in value:
        if length > limit:  # enough to know it must be cut
            break
        piece = _NAMED_ESCAPES.get(ch)
        if piece is None:
            if ch.isprintable() or unicodedata.category(ch) not in _HIDDEN_CATEGORIES:
                piece = ch
            elif ord(ch) < 0x100:
                piece = f"\\x{ord(ch):02x}"
            else:
                piece = f"\\u{ord(ch):04x}"
        pieces.append(piece)
        length += len(piece)
    if length <= limit:
        return "".join(pieces)
    while pieces and length > limit - 1:  # whole escapes only, then the ellipsis
        length -= len(pieces.pop())
    return "".join(pieces) + "…"


def one_line(message: str) -> str:
    """A whole message with any control character escaped (nothing cut): the last safety net."""
    return message if message.isprintable() else shown(message, limit=len(message) * 6 + 1)


def quoted(items: Iterable[object], *, most: int = 12, limit: int = 40) -> str:
    """``'a', 'b'``: names as a message lists them, each :func:`shown`, at most ``most`` of them."""
    values = list(items)
    text = ", ".join(f"'{shown(item, limit)}'" for item in values[:most])
    if len(values) > most:
        text += f" and {len(values) - most:,} more"
    return text


def corrupt_message(
    name: str,
    detail: str = "",
    advice: str = "was a download or copy interrupted? Open it in Excel and save it again.",
) -> str:
    return (
        f"{name} is damaged or incomplete and cannot be read as a workbook"
        + (f" ({detail})" if detail else "")
        + f"; {advice}"
    )


def password_message(name: str, *, app: Literal["Excel", "LibreOffice"] = "Excel") -> str:
    """An encrypted workbook: say so, and how to remove the password in the program at hand."""
    if app == "LibreOffice":
        how = "open it in LibreOffice, then File ▸ Save As with 'Save with password' unticked"
        return f"{name} is password-protected; {how}, and use the copy without a password."
    return (
        f"{name} is password-protected; remove the password in Excel "
        "(File ▸ Info ▸ Protect Workbook) and save again."
    )


def compressed_message(name: str, what: str) -> str:
    """A compressed file (``what``: "a gzip-compressed file" …) where a sheet was expected."""
    return (
        f"{name} is {what}, not a spreadsheet or CSV; unzip it first (7-Zip on Windows, or "
        "the Archive Utility on a Mac) and give segsync the file inside."
    )
