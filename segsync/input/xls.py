"""Legacy .xls: which OLE2 containers are workbooks, and the extent guard for their sheets.

Stream names are compared ignoring case, as calamine compares them (``BOOK`` and ``WORKBOOK``
are workbooks too); a workbook whose globals carry a FILEPASS record is encrypted and refused
as password-protected before its (encrypted, meaningless) cell records are looked at.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from segsync.errors import FileTooLargeError, UnsupportedFileError
from segsync.input.limits import MAX_SHEET_CELLS
from segsync.input.messages import corrupt_message, password_message

#: Streams that hold a workbook: BIFF8 (Excel 97-2003) and BIFF5 (Excel 5/95).
WORKBOOK_STREAMS: Final = ("Workbook", "Book")
#: Streams of an encrypted OOXML workbook, which Excel stores in an OLE2 container.
ENCRYPTED_STREAMS: Final = ("EncryptionInfo", "EncryptedPackage")
#: BIFF record that says the rest of the workbook stream is encrypted (RC4 or XOR).
_BIFF_FILEPASS: Final = 0x002F
_BIFF_EOF: Final = 0x000A


def check_ole2_workbook(path: Path, name: str) -> None:
    """Accept an OLE2 container only if it holds a workbook stream and is not encrypted."""
    compound = _open(path, name)
    names = {entry.name.casefold() for entry in compound.entries[1:]}
    if names.intersection(stream.casefold() for stream in ENCRYPTED_STREAMS):
        raise UnsupportedFileError(password_message(name))
    streams = _workbook_streams(compound, name)
    if any(is_encrypted_biff(stream) for stream in streams):
        raise UnsupportedFileError(password_message(name))
    if not streams:
        if compound.damaged:  # the directory may have lost the stream: say what is likelier
            raise UnsupportedFileError(corrupt_message(name, "no Workbook stream"))
        raise UnsupportedFileError(
            f"{name} is an old-style Office file but not an Excel workbook (no Workbook stream); "
            "open it in Excel and save it as .xlsx."
        )


def check_xls_extent(path: Path, name: str) -> None:
    """Bound the cells calamine will allocate for a legacy .xls (all sheets: it reads them all).

    BIFF8 says 65,536 rows × 256 columns, but cell records carry 16-bit columns and calamine
    trusts them: one record at column 32,767 makes it abort the process. This reads the
    workbook stream and each cell record's position (plus DIMENSIONS) without decoding any value.
    """
    streams = read_workbook_streams(path, name)
    if not streams:
        raise UnsupportedFileError(corrupt_message(name, "no Workbook stream"))
    for stream in streams:
        if sum(rows * cols for rows, cols in biff_extents(stream)) > MAX_SHEET_CELLS:
            raise FileTooLargeError(
                f"{name} spans more than {MAX_SHEET_CELLS:,} cells between the first and last "
                "cell of its sheets, over the safety cap. Open it in Excel and save it as .xlsx."
            )


def read_workbook_streams(path: Path, name: str) -> list[bytes]:
    """Every directory entry calamine might read as the workbook (usually exactly one).

    calamine takes the first entry in directory order named ``Workbook``, else ``Book``; the
    guard reads every entry with either name, ignoring case, so that it sees whichever one
    calamine picks.
    """
    return _workbook_streams(_open(path, name), name)


def _workbook_streams(compound: _Compound, name: str) -> list[bytes]:
    wanted = {stream.casefold() for stream in WORKBOOK_STREAMS}
    try:
        return [
            compound.read(entry)
            for entry in compound.entries[1:]
            if entry.name.casefold() in wanted
        ]
    except (IndexError, ValueError, struct.error):
        raise UnsupportedFileError(corrupt_message(name, "its OLE2 container is damaged")) from None


def is_encrypted_biff(stream: bytes) -> bool:
    """True if the workbook globals (from the first BOF to its EOF) hold a FILEPASS record.

    FILEPASS follows the globals' BOF; everything after it is encrypted, so only the record
    headers (type and length, never encrypted) are walked, and only up to the globals' EOF.
    """
    pos, end = 0, len(stream)
    while pos + 4 <= end:
        kind, length = struct.unpack_from("<HH", stream, pos)
        if kind == _BIFF_FILEPASS:
            return True
        if kind == _BIFF_EOF:
            return False
        pos += 4 + length
    return False


def _open(path: Path, name: str) -> _Compound:
    try:
        return _Compound(path.read_bytes())
    except (IndexError, ValueError, struct.error):
        raise UnsupportedFileError(corrupt_message(name, "its OLE2 container is damaged")) from None


_ENDOFCHAIN: Final = 0xFFFFFFFE
_ENTRY_SIZE: Final = 128


@dataclass(frozen=True, slots=True)
class _Entry:
    """One directory entry of a compound file; ``entries[0]`` is the root."""

    name: str
    start: int
    size: int


class _Compound:
    """A Compound File (MS-CFB), read the way calamine reads it.

    calamine scans the directory as an array, in order, and takes the first entry with the
    name it wants; it does not walk the red-black tree from the root, as a general OLE2 library
    does. A guard built on the tree could check a different stream from the one calamine
    parses, or none, so this reader follows the array too (FAT, DIFAT and mini-FAT chains).
    Damaged structures raise IndexError, ValueError or struct.error.
    """

    def __init__(self, data: bytes) -> None:
        shift = struct.unpack_from("<H", data, 30)[0]
        if shift not in (9, 12):
            raise ValueError("sector size")
        self._data = data
        self._sector_size = 1 << shift
        self._sectors = max(0, (len(data) - self._sector_size) // self._sector_size)
        #: cut short (not whole sectors) or a chain with a link past the table's end
        self.damaged = len(data) % self._sector_size != 0
        self._fat = self._load_fat()
        self._cutoff = struct.unpack_from("<I", data, 56)[0]
        self._size_mask = 0xFFFFFFFF if struct.unpack_from("<H", data, 26)[0] == 3 else -1
        directory = self._read_chain(struct.unpack_from("<I", data, 48)[0])
        self.entries = [
            self._entry(directory[i : i + _ENTRY_SIZE])
            for i in range(0, len(directory) - _ENTRY_SIZE + 1, _ENTRY_SIZE)
        ]

    def read(self, entry: _Entry) -> bytes:
        """An entry's stream. With a size of 0 calamine reads the whole chain, and so does this."""
        if entry.size >= self._cutoff:
            body = self._read_chain(entry.start)
        else:
            mini_fat_data = self._read_chain(struct.unpack_from("<I", self._data, 60)[0])
            mini_fat = list(struct.unpack(f"<{len(mini_fat_data) // 4}I", mini_fat_data))
            mini_stream = self._read_chain(self.entries[0].start)
            pieces = self._chain(entry.start, mini_fat, len(mini_fat))
            body = b"".join(mini_stream[i * 64 : (i + 1) * 64] for i in pieces)
        return body[: entry.size] if entry.size else body

    def _entry(self, raw: bytes) -> _Entry:
        name_len = struct.unpack_from("<H", raw, 64)[0]
        start, size = struct.unpack_from("<IQ", raw, 116)
        name = raw[: max(0, name_len - 2)].decode("utf-16-le", "replace")
        return _Entry(name, start, size & self._size_mask)

    def _sector(self, index: int) -> bytes:
        size = self._sector_size
        return self._data[(index + 1) * size : (index + 2) * size]

    def _load_fat(self) -> list[int]:
        words = self._sector_size // 4
        difat = list(struct.unpack_from("<109I", self._data, 76))
        next_difat, guard = struct.unpack_from("<I", self._data, 68)[0], 0
        while next_difat < self._sectors and guard <= self._sectors:
            entries = struct.unpack(f"<{words}I", self._sector(next_difat))
            difat.extend(entries[:-1])
            next_difat, guard = entries[-1], guard + 1
        fat: list[int] = []
        for fat_sector in difat:
            if fat_sector < self._sectors:
                fat.extend(struct.unpack(f"<{words}I", self._sector(fat_sector)))
        return fat

    def _chain(self, start: int, table: list[int], limit: int) -> list[int]:
        """Sector numbers from ``start``, stopping at the chain's end, a bad link or a loop."""
        out: list[int] = []
        while start != _ENDOFCHAIN and start < len(table) and len(out) <= limit:
            out.append(start)
            start = table[start]
        if start != _ENDOFCHAIN and start >= len(table):
            self.damaged = True
        return out

    def _read_chain(self, start: int) -> bytes:
        return b"".join(self._sector(i) for i in self._chain(start, self._fat, self._sectors))


#: BIFF cell records: (record type, offset of the "last column" field or None)
_BIFF_CELLS: Final[dict[int, int | None]] = {
    0x0201: None,  # BLANK
    0x0203: None,  # NUMBER
    0x0204: None,  # LABEL (BIFF5)
    0x0205: None,  # BOOLERR
    0x027E: None,  # RK
    0x00FD: None,  # LABELSST
    0x00D6: None,  # RSTRING
    0x0006: None,  # FORMULA
    0x0406: None,  # FORMULA (BIFF4)
    0x00BD: -2,  # MULRK: last column in the record's final two bytes
    0x00BE: -2,  # MULBLANK
}
_BIFF_BOF: Final = (0x0809, 0x0409, 0x0209, 0x0009)
_BIFF_DIMENSIONS: Final = 0x0200


def biff_extents(stream: bytes) -> Iterator[tuple[int, int]]:
    """(rows, columns) spanned by the cells of each sheet substream (BOF … EOF)."""
    pos, end = 0, len(stream)
    low_r = low_c = 1 << 32
    high_r = high_c = -1

    def flush() -> tuple[int, int]:
        if high_r < 0:
            return 0, 0
        return high_r - low_r + 1, high_c - low_c + 1

    while pos + 4 <= end:
        kind, length = struct.unpack_from("<HH", stream, pos)
        body = stream[pos + 4 : pos + 4 + length]
        pos += 4 + length
        if kind in _BIFF_BOF:
            yield flush()
            low_r = low_c = 1 << 32
            high_r = high_c = -1
            continue
        cells: list[tuple[int, int]] = []
        if kind in _BIFF_CELLS and len(body) >= 4:
            row, col = struct.unpack_from("<HH", body, 0)
            cells.append((row, col))
            last = _BIFF_CELLS[kind]
            if last is not None and len(body) >= 6:
                cells.append((row, struct.unpack_from("<H", body, len(body) + last)[0]))
        elif kind == _BIFF_DIMENSIONS and len(body) >= 14:
            first_r, last_r, first_c, last_c = struct.unpack_from("<IIHH", body, 0)
            if last_r > first_r and last_c > first_c:
                cells += [(first_r, first_c), (last_r - 1, last_c - 1)]
        for row, col in cells:
            low_r, high_r = min(low_r, row), max(high_r, row)
            low_c, high_c = min(low_c, col), max(high_c, col)
    yield flush()
