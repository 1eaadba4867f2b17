"""Receiving an edits file from the browser: into the private folder, within the size limit.

The browser's file name is only ever *shown* (cleaned of folders and control characters); the
file is stored as ``<private folder>/uploads/<random id>/upload<suffix>``, where the suffix is
the name's last extension if it is a plain one (``.xlsx``, ``.csv`` ...), so the loader's own
guards (type sniffing, zip and sheet-size checks, ``input.max_file_mb``) judge it exactly as
they judge a file given to the CLI. The body is streamed to disk and cut off at
``input.max_file_mb``; the multipart form must carry its ``csrf_token`` field before the file,
so no byte of a forged upload is written.
"""

from __future__ import annotations

import dataclasses
import os
import re
import secrets
import shutil
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import unquote

from aiohttp import BodyPartReader, web

from segsync.input.editset import EditSet
from segsync.input.limits import MB

#: the form's field names
FILE_FIELD = "edits"
#: chunk size for streaming the body to disk
CHUNK = 64 * 1024
#: fields the upload form has (token, file) with room to spare; more is not our form
MAX_PARTS = 8
_SUFFIX = re.compile(r"\.[A-Za-z0-9]{1,8}")
#: what the file input offers (the loader decides what is really read)
ACCEPT = ".xlsx,.xlsm,.xls,.ods,.csv,.tsv,.txt"


class UploadTooLarge(Exception):
    """The body went over ``input.max_file_mb``; nothing was kept."""


class UploadRefused(Exception):
    """The form was not one of ours (no CSRF token before the file) or had no file."""

    def __init__(self, message: str, status: int = 403) -> None:
        super().__init__(message)
        self.status = status


@dataclass(eq=False)
class Upload:
    """A file received from the browser and not yet cleaned up."""

    id: str
    folder: Path
    path: Path
    #: the browser's name for it, cleaned: shown, never used as a path
    name: str
    size: int
    created: datetime = field(default_factory=lambda: datetime.now(UTC))
    #: visible worksheets (empty for a CSV); the sheet choice offers these
    sheets: list[str] = field(default_factory=list)
    #: the sheets that could hold the edits, while the sheet step asks which one (several)
    candidates: list[str] = field(default_factory=list)
    #: the sheet the person chose (None: the loader's own choice); later reads keep to it
    sheet: str | None = None
    #: what the person said about its columns on the mapping page (header → field/note/ignore)
    mapping: dict[str, str] = field(default_factory=dict)
    #: the columns the loader could not place, while the mapping page asks about them
    unplaced: Any = None
    #: hidden rows/columns with data: what the person chose ("skip", "include"; "" not asked),
    #: and the loader's sentence while the page asks
    hidden: str = ""
    hidden_problem: str = ""

    def remove(self) -> None:
        shutil.rmtree(self.folder, ignore_errors=True)


def display_name(filename: str | None) -> str:
    """The browser's file name as people may read it: no folders, no control characters."""
    # browsers escape '"' and line breaks as %22, %0D, %0A; some clients escape everything
    name = unquote(filename or "", errors="replace")
    name = name.replace("\\", "/").rsplit("/", 1)[-1]
    name = unicodedata.normalize("NFC", name)
    name = "".join(ch for ch in name if unicodedata.category(ch)[0] != "C").strip()
    if len(name) > 120:
        name = name[:117] + "..."
    return name or "upload"


def stored_suffix(name: str) -> str:
    """The extension the stored file keeps (``.xlsx``), or '' when the name has no plain one."""
    suffix = Path(name).suffix
    return suffix.lower() if _SUFFIX.fullmatch(suffix) else ""


async def receive(
    request: web.Request, uploads_dir: Path, max_file_mb: float, csrf_ok: Callable[[str], bool]
) -> Upload:
    """Stream the multipart form's file into a new private folder; raise if refused."""
    limit = int(max_file_mb * MB)
    declared = request.content_length
    if declared is not None and declared > limit + 64 * 1024:
        raise UploadTooLarge
    if request.content_type != "multipart/form-data":
        raise UploadRefused("This is not the upload form; nothing was stored.")
    reader = await request.multipart()
    verified = False
    upload: Upload | None = None
    for _ in range(MAX_PARTS):
        part = await reader.next()
        if part is None:
            break
        if not isinstance(part, BodyPartReader):
            raise UploadRefused("The form holds a nested multipart body; it was refused.")
        if part.name == "csrf_token":
            verified = csrf_ok(await _small_text(part))
        elif part.name == FILE_FIELD and upload is None and part.filename:
            if not verified:
                raise UploadRefused(
                    "The form did not carry this page's security token before the file; "
                    "nothing was stored. Reload the page and choose the file again."
                )
            upload = await _store(part, uploads_dir, limit)
        else:
            await part.release()
    else:
        if upload is not None:
            upload.remove()
        raise UploadRefused("The form has more fields than the upload form; it was refused.")
    if not verified:
        if upload is not None:
            upload.remove()
        raise UploadRefused("The form did not carry this page's security token.")
    if upload is None:
        raise UploadRefused("Choose a file to upload first.", status=400)
    return upload


async def _small_text(part: BodyPartReader, limit: int = 512) -> str:
    """A short text field (the token), read without holding more than ``limit`` bytes."""
    data = b""
    while chunk := await part.read_chunk(limit):
        data += chunk
        if len(data) > limit:
            raise UploadRefused("The form's security token is not one of this app's.")
    return data.decode("ascii", "replace")


async def _store(part: BodyPartReader, uploads_dir: Path, limit: int) -> Upload:
    name = display_name(part.filename)
    upload_id = secrets.token_urlsafe(12)
    folder = uploads_dir / upload_id
    folder.mkdir(mode=0o700, parents=True)
    path = folder / f"upload{stored_suffix(name)}"
    size = 0
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0), 0o600)
    try:
        with os.fdopen(fd, "wb") as handle:
            while chunk := await part.read_chunk(CHUNK):
                size += len(chunk)
                if size > limit:
                    raise UploadTooLarge
                handle.write(chunk)
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise
    return Upload(upload_id, folder, path, name, size)


def renamed(editset: EditSet, upload: Upload) -> EditSet:
    """The edits as read from ``upload``, named by the browser's file name, not the stored path."""
    return dataclasses.replace(editset, source=upload.name)


def visible_sheets(path: Path) -> list[str]:
    """The visible worksheets of a workbook the loader has already accepted ([] for text)."""
    try:
        from python_calamine import CalamineWorkbook, SheetTypeEnum, SheetVisibleEnum

        with path.open("rb") as handle:
            workbook = CalamineWorkbook.from_filelike(handle)
            with workbook:
                return [
                    m.name
                    for m in workbook.sheets_metadata
                    if m.typ == SheetTypeEnum.WorkSheet and m.visible == SheetVisibleEnum.Visible
                ]
    except BaseException as exc:  # a text file, or anything calamine dislikes: no choice
        if isinstance(exc, KeyboardInterrupt | SystemExit):
            raise
        return []
