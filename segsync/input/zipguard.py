"""Zip containers (.xlsx, .ods) checked before any parser trusts them.

The central directory is checked without inflating anything; then each member a reader will
parse is inflated here, under its declared size, to prove the directory tells the truth and
that no XML part declares a DTD.

Members are found the way calamine finds them: backslashes read as slashes and ASCII case
ignored (:func:`part_key`), so ``xl\\workbook.xml``, as some Windows tools write it, is the
workbook part. Two members with the same key are refused, so the member checked here is always
the one calamine reads.
"""

from __future__ import annotations

import struct
import zipfile
import zlib
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType
from typing import Any, BinaryIO, Final

from segsync.errors import FileTooLargeError, UnsupportedFileError
from segsync.input.limits import MB
from segsync.input.messages import corrupt_message, human_size, shown

#: the deflate library: ISA-L inflates several times faster than zlib, and every worksheet is
#: inflated here before calamine reads it; a platform without its wheels gets zlib
inflating: ModuleType
try:
    from isal import isal_zlib

    inflating = isal_zlib
except ImportError:
    inflating = zlib
#: what a damaged deflate stream raises, whichever library inflates it
INFLATE_ERRORS: tuple[type[Exception], ...] = (zlib.error, inflating.error)

#: The total inflated size is capped at 20× the file limit (at most 1 GiB); a member over 50 MB
#: that compresses better than 100:1 is a bomb, not a spreadsheet.
ZIP_TOTAL_FACTOR: Final = 20
ZIP_TOTAL_CEILING: Final = 1024 * MB
ZIP_RATIO_LIMIT: Final = 100
ZIP_RATIO_MIN_SIZE: Final = 50 * MB
ZIP_MAX_MEMBERS: Final = 10_000
#: Inflate in pieces of this size, so no single step produces more than this.
CHUNK: Final = 1 * MB
#: A member that inflates at most this much beyond its declared size is damaged (a writer's
#: off-by-a-few bug, which calamine refuses too), not a bomb; past it, inflating stops.
OVERSHOOT_DAMAGED: Final = 1 * MB

_ASCII_LOWER: Final = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")


def part_key(member: str) -> str:
    """A member name as calamine looks it up: ``\\`` read as ``/``, ASCII letters lower-cased."""
    return member.replace("\\", "/").translate(_ASCII_LOWER)


def zip_parts(zf: zipfile.ZipFile) -> dict[str, zipfile.ZipInfo]:
    """Every member by :func:`part_key` (the directory check refuses two with one key)."""
    return {part_key(info.filename): info for info in zf.infolist()}


def find_member(zf: zipfile.ZipFile, member: str) -> zipfile.ZipInfo | None:
    """The member calamine would open for the part name ``member``, or None."""
    try:
        return zf.getinfo(member)
    except KeyError:
        return zip_parts(zf).get(part_key(member))


def open_zip(path: Path, name: str) -> zipfile.ZipFile:
    """Open a zip, turning a damaged or truncated one into a sentence."""
    try:
        return zipfile.ZipFile(path)
    except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, OSError, ValueError):
        raise UnsupportedFileError(corrupt_message(name)) from None


def check_zip_directory(zf: zipfile.ZipFile, name: str, max_file_mb: float) -> None:
    """Refuse zip bombs and oddities from the central directory alone (nothing is inflated)."""
    infos = zf.infolist()
    if len(infos) > ZIP_MAX_MEMBERS:
        raise FileTooLargeError(
            f"{name} holds {len(infos):,} zip members; a workbook has a few dozen. Refusing it."
        )
    seen: set[str] = set()
    total = 0
    cap = min(ZIP_TOTAL_CEILING, ZIP_TOTAL_FACTOR * max_file_mb * MB)
    for info in infos:
        key = part_key(info.filename)
        if key in seen:
            raise UnsupportedFileError(
                corrupt_message(name, f"zip member {shown(info.filename, 80)} twice")
            )
        seen.add(key)
        if info.flag_bits & 0x1:
            raise UnsupportedFileError(
                f"{name} is an encrypted zip archive, not a workbook segsync can read."
            )
        if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
            raise UnsupportedFileError(
                corrupt_message(name, f"unsupported zip compression in {shown(info.filename, 80)}")
            )
        total += info.file_size
        ratio = info.file_size / max(info.compress_size, 1)
        if info.file_size > ZIP_RATIO_MIN_SIZE and ratio > ZIP_RATIO_LIMIT:
            raise FileTooLargeError(
                f"{name} looks like a zip bomb: its part {shown(info.filename, 80)} would "
                f"inflate from {human_size(info.compress_size)} to {human_size(info.file_size)} "
                f"({ratio:,.0f}:1). Refusing to open it."
            )
    if total > cap:
        raise FileTooLargeError(
            f"{name} would inflate to {human_size(total)} when opened, over the "
            f"{human_size(cap)} safety cap ({ZIP_TOTAL_FACTOR}× input.max_file_mb, at most "
            f"{human_size(ZIP_TOTAL_CEILING)}). Refusing to open it."
        )


def iter_member(path: Path, info: zipfile.ZipInfo, name: str) -> Iterator[bytes]:
    """Inflate one member from its raw bytes, never producing more than the directory says.

    ``zipfile`` itself would stop at the declared size and could be fooled by a matching CRC of
    a prefix; the Rust reader may not stop at all. Inflating the raw deflate stream here proves
    the stream ends exactly where the directory says it does.
    """
    with path.open("rb") as fh:
        yield from _iter_raw_member(fh, info, name)


def _iter_raw_member(fh: BinaryIO, info: zipfile.ZipInfo, name: str) -> Iterator[bytes]:
    member = shown(info.filename, 80)
    bad = UnsupportedFileError(corrupt_message(name, f"zip member {member} is damaged"))
    fh.seek(info.header_offset)
    local = fh.read(30)
    if len(local) < 30 or local[:4] != b"PK\x03\x04":
        raise bad
    name_len, extra_len = struct.unpack("<HH", local[26:30])
    fh.seek(info.header_offset + 30 + name_len + extra_len)
    remaining = info.compress_size
    produced = 0
    inflater = inflating.decompressobj(-15) if info.compress_type == zipfile.ZIP_DEFLATED else None
    while remaining > 0:
        raw = fh.read(min(CHUNK, remaining))
        if not raw:
            raise bad
        remaining -= len(raw)
        if inflater is None:
            produced += len(raw)
            yield raw
            continue
        pending = raw
        while pending:
            try:
                out = inflater.decompress(pending, CHUNK)
            except INFLATE_ERRORS:
                raise bad from None
            produced += len(out)
            if produced > info.file_size:
                # nothing past the declared size is handed on; how far past decides the sentence
                _overshoot(fh, inflater, info, name, produced, remaining)
            if out:
                yield out
            pending = inflater.unconsumed_tail
            if inflater.eof:
                break
    if inflater is not None:
        tail = inflater.flush()
        produced += len(tail)
        if produced > info.file_size:
            _overshoot(fh, inflater, info, name, produced, 0)
        if tail:
            yield tail
        if not inflater.eof:
            raise bad
    if produced != info.file_size:
        raise bad


def _overshoot(
    fh: BinaryIO,
    inflater: Any,
    info: zipfile.ZipInfo,
    name: str,
    produced: int,
    remaining: int,
) -> None:
    """A member inflates beyond its declared size: damaged if it ends within a small margin
    (a writer's off-by-a-few bug), a zip bomb if it goes on. Always raises."""
    member = shown(info.filename, 80)
    ceiling = info.file_size + OVERSHOOT_DAMAGED
    pending = inflater.unconsumed_tail
    try:
        while produced <= ceiling and not inflater.eof:
            if not pending:
                if remaining <= 0:
                    break
                pending = fh.read(min(CHUNK, remaining))
                if not pending:
                    break
                remaining -= len(pending)
            produced += len(inflater.decompress(pending, CHUNK))
            pending = inflater.unconsumed_tail
    except INFLATE_ERRORS:
        pass  # damaged as well as oversized: the size is what the sentence is about
    if produced > ceiling:
        raise FileTooLargeError(
            f"{name} looks like a zip bomb: its part {member} inflates beyond "
            f"the {info.file_size:,} bytes its zip directory declares. Refusing it."
        )
    raise UnsupportedFileError(
        corrupt_message(
            name,
            f"its part {member} holds {produced - info.file_size:,} bytes more than its zip "
            "directory declares",
            "the program that wrote it made a mistake. Open it in Excel or LibreOffice and "
            "save it again.",
        )
    )


def verify_members(
    path: Path, zf: zipfile.ZipFile, name: str, *, skip: Callable[[str], bool]
) -> None:
    """Inflate every member not skipped, under its declared size, and refuse XML DTDs."""
    for info in zf.infolist():
        if info.is_dir() or skip(info.filename):
            continue
        first = True
        for chunk in iter_member(path, info, name):
            if first:
                refuse_dtd(chunk, name, info.filename)
                first = False


def refuse_dtd(chunk: bytes, name: str, member: str) -> None:
    """Excel never writes a DTD; one in a workbook part only serves entity expansion."""
    if b"<!DOCTYPE" in chunk or b"<!ENTITY" in chunk:
        raise UnsupportedFileError(
            f"{name} contains an XML document type declaration in {shown(member, 80)} (entity "
            "definitions), which Excel never writes; refusing it as unsafe. "
            "Open it in Excel and save it again."
        )


def read_member(path: Path, zf: zipfile.ZipFile, name: str, member: str) -> bytes | None:
    """A small verified member's bytes (None if absent); found as calamine finds it."""
    info = find_member(zf, member)
    if info is None:
        return None
    data = b"".join(iter_member(path, info, name))
    refuse_dtd(data[:CHUNK], name, member)
    return data
