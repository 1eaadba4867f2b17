"""The extent guard for .ods files: how many cells calamine would materialise."""

from __future__ import annotations

import zipfile
from collections.abc import Iterator
from pathlib import Path

from defusedxml import ElementTree as SafeET

from segsync.errors import FileTooLargeError, UnsupportedFileError
from segsync.input.limits import MAX_SHEET_CELLS
from segsync.input.messages import corrupt_message
from segsync.input.zipguard import find_member, iter_member

_TABLE = "urn:oasis:names:tc:opendocument:xmlns:table:1.0"
_OFFICE = "urn:oasis:names:tc:opendocument:xmlns:office:1.0"
_ROWS_REPEATED = f"{{{_TABLE}}}number-rows-repeated"
_COLUMNS_REPEATED = f"{{{_TABLE}}}number-columns-repeated"
_VALUE_TYPE = f"{{{_OFFICE}}}value-type"


def check_ods_extent(path: Path, zf: zipfile.ZipFile, name: str) -> None:
    """Bound the cells calamine will allocate for every table of an ODS file.

    ODS compresses repeats (``number-rows-repeated``, ``number-columns-repeated``), so an 800-byte
    file can describe 10⁹ filled cells; calamine materialises all tables at open. Trailing empty
    repeats (which LibreOffice writes for the unused sheet area) do not count.
    """
    info = find_member(zf, "content.xml")
    if info is None:
        raise UnsupportedFileError(corrupt_message(name, "content.xml is missing"))
    total = 0
    for cells in _table_extents(iter_member(path, info, name), name):
        total += cells
        if total > MAX_SHEET_CELLS:
            raise FileTooLargeError(
                f"{name} describes more than {MAX_SHEET_CELLS:,} filled cells (repeated rows or "
                "columns), over the safety cap. Copy the data to a new workbook and save again."
            )


class _ChunkReader:
    """A file-like view over an iterator of byte chunks, for iterparse."""

    def __init__(self, chunks: Iterator[bytes]) -> None:
        self._chunks = chunks
        self._buf = b""

    def read(self, size: int = -1) -> bytes:
        while size < 0 or len(self._buf) < size:
            nxt = next(self._chunks, None)
            if nxt is None:
                break
            self._buf += nxt
        if size < 0:
            out, self._buf = self._buf, b""
        else:
            out, self._buf = self._buf[:size], self._buf[size:]
        return out


def _table_extents(chunks: Iterator[bytes], name: str) -> Iterator[int]:
    """Rows × columns up to the last filled cell, for each table of content.xml in turn."""
    last_row = width = row_no = 0
    try:
        for event, el in SafeET.iterparse(_ChunkReader(chunks), events=("start", "end")):
            local = el.tag.rsplit("}", 1)[-1]
            if event == "start":
                if local == "table":
                    last_row = width = row_no = 0
                continue
            if local == "table-row":
                col = filled_to = 0
                for cell in el:
                    rep = int(cell.get(_COLUMNS_REPEATED, "1") or 1)
                    if cell.get(_VALUE_TYPE) is not None or len(cell):
                        filled_to = col + rep
                    col += rep
                row_no += int(el.get(_ROWS_REPEATED, "1") or 1)
                if filled_to:
                    last_row, width = row_no, max(width, filled_to)
                el.clear()
            elif local == "table":
                yield last_row * width
                el.clear()
    except (FileTooLargeError, UnsupportedFileError):
        raise
    except Exception:
        raise UnsupportedFileError(
            corrupt_message(name, "content.xml is not valid or declares entities")
        ) from None
