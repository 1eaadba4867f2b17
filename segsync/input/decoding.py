"""Bytes of a text file → text, the same way every time."""

from __future__ import annotations

import codecs
import re
from typing import Final

_BOMS: Final[tuple[tuple[bytes, str, str], ...]] = (
    (codecs.BOM_UTF32_LE, "utf-32-le", "UTF-32"),
    (codecs.BOM_UTF32_BE, "utf-32-be", "UTF-32"),
    (codecs.BOM_UTF8, "utf-8", "UTF-8 with BOM"),
    (codecs.BOM_UTF16_LE, "utf-16-le", "UTF-16"),
    (codecs.BOM_UTF16_BE, "utf-16-be", "UTF-16"),
)


def _cp1252_with_c1() -> str:
    """Windows-1252 as a 256-character decoding table, the five bytes it leaves undefined
    (0x81, 0x8D, 0x8F, 0x90, 0x9D) mapped to the C1 controls U+0081... as Windows maps them."""
    table = []
    for byte in range(256):
        try:
            table.append(bytes((byte,)).decode("cp1252"))
        except UnicodeDecodeError:
            table.append(chr(byte))
    return "".join(table)


_CP1252_TABLE: Final = _cp1252_with_c1()


def decode_cp1252(data: bytes) -> str:
    """Decode Windows-1252 without failing: an undefined byte becomes its C1 control
    character, so that the loader reports the cell instead of the decoder guessing."""
    return codecs.charmap_decode(data, "strict", _CP1252_TABLE)[0]


def decode_text(data: bytes, *, partial: bool = False) -> tuple[str | None, str]:
    """Decode a text file deterministically; returns (text, encoding label).

    A BOM wins (UTF-8, UTF-16, UTF-32); then UTF-16 without a BOM (NULs in every other byte);
    then strict UTF-8; then Windows-1252, which Excel on Western Windows writes for "CSV (Comma
    delimited)". No statistical charset detection: its guesses vary with sample content, and a
    sync tool should read a file the same way twice.

    ``partial`` tolerates a multi-byte sequence cut at the end of a sample. Returns
    ``(None, "")`` when the bytes are UTF-16/32 that do not decode (i.e. not text).
    """
    for bom, codec, label in _BOMS:
        if data.startswith(bom):
            body = data[len(bom) :]
            try:
                if partial:
                    return codecs.getincrementaldecoder(codec)().decode(body, final=False), label
                return body.decode(codec), label
            except UnicodeDecodeError:
                return None, ""
    guessed = _utf16_without_bom(data)
    if guessed:
        try:
            return codecs.getincrementaldecoder(guessed)().decode(data, final=not partial), "UTF-16"
        except UnicodeDecodeError:
            return None, ""
    try:
        if partial:
            return codecs.getincrementaldecoder("utf-8")().decode(data, final=False), "UTF-8"
        return data.decode("utf-8"), "UTF-8"
    except UnicodeDecodeError:
        return decode_cp1252(data), "Windows-1252"


def utf8_start(data: bytes) -> int | None:
    """Where the text starts if :func:`decode_text` reads ``data`` as UTF-8 should it be valid
    (after a UTF-8 BOM, or at 0 when there is no BOM and no sign of UTF-16), else None."""
    if data.startswith(codecs.BOM_UTF8):
        return len(codecs.BOM_UTF8)
    if any(data.startswith(bom) for bom, _, _ in _BOMS) or _utf16_without_bom(data):
        return None
    return 0


def _utf16_without_bom(data: bytes) -> str | None:
    """UTF-16 without a BOM shows as a NUL in every other byte of ASCII text."""
    sample = data[:4096]
    if len(sample) < 8:
        return None
    even, odd = sample[0::2], sample[1::2]
    if odd.count(0) > len(odd) * 0.4 and even.count(0) < len(even) * 0.05:
        return "utf-16-le"
    if even.count(0) > len(even) * 0.4 and odd.count(0) < len(odd) * 0.05:
        return "utf-16-be"
    return None


#: A word: three or more letters (no digits or underscores).
_WORD: Final = re.compile(r"[^\W\d_]{3,}")


def foreign_word(text: str, sample: int = 65536) -> str | None:
    """A word suggesting ``text`` is another alphabet read as Windows-1252, or None.

    Western European text read as Windows-1252 mixes ASCII letters with the odd accented one
    (Café, Größe, ação): under three in four letters of a word are accented. Greek, Cyrillic,
    Hebrew or Arabic text saved in its own legacy encoding (ISO-8859-7, Windows-1251 …) reads
    as words made almost entirely of accented Latin letters (``Ëåùíßäáò``). Two or more such
    words, and most of the accented words being such, is the signal; it decides only a warning,
    and it reads the same file the same way every time.
    """
    accented = foreign = 0
    first: str | None = None
    for match in _WORD.finditer(text, 0, sample):
        word = match.group(0)
        if word.isascii():
            continue
        accented += 1
        if sum(not ch.isascii() for ch in word) * 4 >= len(word) * 3:
            foreign += 1
            first = first or word
    return first if foreign >= 2 and foreign * 2 > accented else None
