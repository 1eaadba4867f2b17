"""Zip containers (.xlsx, .ods) checked before any parser trusts them.

The central directory is checked without inflating anything; then each member a reader will
parse is inflated here, under its declared size, to prove the directory tells the truth and
that no XML part declares a DTD.
"""

from __future__ import annotations

import struct
import zipfile
import zlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import BinaryIO, Final

from segsync.errors import FileTooLargeError, UnsupportedFileError
from segsync.input.limits import MB
from segsync.input.messages import corrupt_message, human_size

#: The total inflated size is capped at 20× the file limit (at most 1 GiB); a member over 50 MB
#: that compresses better than 100:1 is a bomb, not a spreadsheet.
ZIP_TOTAL_FACTOR: Final = 20
ZIP_TOTAL_CEILING: Final = 1024 * MB
ZIP_RATIO_LIMIT: Final = 100
ZIP_RATIO_MIN_SIZE: Final = 50 * MB
ZIP_MAX_MEMBERS: Final = 10_000
#: Inflate in pieces of this size, so no single step produces more than this.
CHUNK: Final = 1 * MB


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
        if info.filename in seen:
            raise UnsupportedFileError(corrupt_message(name, f"zip member {info.filename} twice"))
        seen.add(info.filename)
        if info.flag_bits & 0x1:
            raise UnsupportedFileError(
                f"{name} is an encrypted zip archive, not a workbook segsync can read."
            )
        if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
            raise UnsupportedFileError(
                corrupt_message(name, f"unsupported zip compression in {info.filename}")
            )
        total += info.file_size
        ratio = info.file_size / max(info.compress_size, 1)
        if info.file_size > ZIP_RATIO_MIN_SIZE and ratio > ZIP_RATIO_LIMIT:
            raise FileTooLargeError(
                f"{name} looks like a zip bomb: its part {info.filename} would inflate from "
                f"{human_size(info.compress_size)} to {human_size(info.file_size)} "
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
    bad = UnsupportedFileError(corrupt_message(name, f"zip member {info.filename} is damaged"))
    fh.seek(info.header_offset)
    local = fh.read(30)
    if len(local) < 30 or local[:4] != b"PK\x03\x04":
        raise bad
    name_len, extra_len = struct.unpack("<HH", local[26:30])
    fh.seek(info.header_offset + 30 + name_len + extra_len)
    remaining = info.compress_size
    produced = 0
    inflater = zlib.decompressobj(-15) if info.compress_type == zipfile.ZIP_DEFLATED else None
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
            except zlib.error:
                raise bad from None
            produced += len(out)
            if produced > info.file_size:
                raise FileTooLargeError(
                    f"{name} looks like a zip bomb: its part {info.filename} inflates beyond "
                    f"the {info.file_size:,} bytes its zip directory declares. Refusing it."
                )
            if out:
                yield out
            pending = inflater.unconsumed_tail
            if inflater.eof:
                break
    if inflater is not None:
        tail = inflater.flush()
        produced += len(tail)
        if tail:
            yield tail
        if not inflater.eof:
            raise bad
    if produced != info.file_size:
        raise bad


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
            f"{name} contains an XML document type declaration in {member} (entity "
            "definitions), which Excel never writes; refusing it as unsafe. "
            "Open it in Excel and save it again."
        )


def read_member(path: Path, zf: zipfile.ZipFile, name: str, member: str) -> bytes | None:
    """A small verified member's bytes (None if absent)."""
    try:
        info = zf.getinfo(member)
    except KeyError:
        return None
    data = b"".join(iter_member(path, info, name))
    refuse_dtd(data[:CHUNK], name, member)
    return data
