"""The mapping step: a sheet with a column segsync cannot place asks what each column is;
one with hidden rows or columns holding data asks whether to leave them out or send them.

``GET /uploads/<id>/columns`` shows one row per column of the sheet: its letter and header, and
a choice (an editable field, keep as a note, ignore) with segsync's guess preselected; the id
and read-only columns are shown as they are placed. ``POST`` takes the answer (optionally
remembering it for the next file with the same headers, see ``column_map``) and starts the
preview exactly as an upload does. ``/uploads/<id>/hidden`` does the same for hidden cells
(``input.hidden``: skip or include). Nothing is sent before the preview and its confirmation.
"""

from __future__ import annotations

from dataclasses import dataclass

from aiohttp import web

from segsync.errors import InputError, UnplacedColumnsError
from segsync.input.messages import shown
from segsync.model import EDITABLE_FIELDS
from segsync.web.column_map import save_mapping
from segsync.web.responses import page
from segsync.web.state import STATE
from segsync.web.upload_page import preview_upload
from segsync.web.uploads import Upload

#: The choices a column offers, as (value, label).
CHOICES: tuple[tuple[str, str], ...] = (
    *((name, name) for name in EDITABLE_FIELDS),
    ("note", "Keep as a note"),
    ("ignore", "Ignore"),
)


@dataclass(frozen=True)
class ColumnRow:
    """One row of the mapping page."""

    index: int
    letter: str
    header: str
    #: the choice preselected ("" for a fixed row)
    chosen: str
    #: a column placed without asking (the id, read-only fields): shown, not offered
    fixed: str | None
    #: segsync could not place it: the guess, in words
    guess: str | None


def column_rows(exc: UnplacedColumnsError) -> list[ColumnRow]:
    unplaced = {letter: guess for letter, _, guess in exc.columns}
    rows = []
    for i, (letter, header, placed) in enumerate(exc.headers):
        if letter in unplaced:
            guess = unplaced[letter]
            chosen = guess if guess in EDITABLE_FIELDS else "note"
            rows.append(ColumnRow(i, letter, header, chosen, None, guess or "not a field"))
        elif placed in EDITABLE_FIELDS or placed in ("note", "ignored"):
            rows.append(ColumnRow(i, letter, header, _choice(placed), None, None))
        else:
            rows.append(ColumnRow(i, letter, header, "", placed, None))
    return rows


def _choice(placed: str) -> str:
    return "ignore" if placed.startswith("ignored") else placed


def _upload(request: web.Request) -> Upload:
    upload = request.app[STATE].uploads.get(request.match_info["uid"])
    if upload is None or not isinstance(upload.unplaced, UnplacedColumnsError):
        raise web.HTTPNotFound
    return upload


async def columns_page(request: web.Request) -> web.StreamResponse:
    upload = _upload(request)
    return await _form(request, upload)


async def _form(
    request: web.Request, upload: Upload, *, status: int = 200, error: str | None = None
) -> web.Response:
    exc = upload.unplaced
    return await page(
        request,
        "columns.html",
        status=status,
        step=1,
        upload=upload,
        rows=column_rows(exc),
        choices=CHOICES,
        unplaced=len(exc.columns),
        error=error,
        shown=shown,
    )


async def columns_submit(request: web.Request) -> web.StreamResponse:
    state = request.app[STATE]
    upload = _upload(request)
    exc: UnplacedColumnsError = upload.unplaced
    form = await request.post()
    allowed = {value for value, _ in CHOICES}
    mapping: dict[str, str] = {}
    for row in column_rows(exc):
        if row.fixed is not None:
            continue
        value = form.get(f"col-{row.index}")
        if not isinstance(value, str) or value not in allowed:
            return await _form(request, upload, status=400, error="Choose what each column is.")
        mapping[row.header] = value
    if form.get("remember") == "yes":
        save_mapping(state.settings, exc.headers, mapping)
    upload.mapping = mapping
    try:
        return await preview_upload(request, upload)
    except InputError as exc2:
        return await _form(request, upload, status=400, error=str(exc2))


# -- hidden rows and columns ---------------------------------------------------------------------


def _hidden_upload(request: web.Request) -> Upload:
    upload = request.app[STATE].uploads.get(request.match_info["uid"])
    if upload is None or not upload.hidden_problem:
        raise web.HTTPNotFound
    return upload


async def hidden_page(request: web.Request) -> web.StreamResponse:
    return await _hidden_form(request, _hidden_upload(request))


async def _hidden_form(
    request: web.Request, upload: Upload, *, status: int = 200, error: str | None = None
) -> web.Response:
    # the loader's sentence names the rows and columns; its flags are the page's buttons here
    problem = upload.hidden_problem.split("; nothing was sent.")[0]
    return await page(
        request,
        "hidden.html",
        status=status,
        step=1,
        upload=upload,
        problem=problem,
        error=error,
    )


async def hidden_submit(request: web.Request) -> web.StreamResponse:
    upload = _hidden_upload(request)
    form = await request.post()
    choice = form.get("hidden")
    if choice not in ("skip", "include"):
        return await _hidden_form(request, upload, status=400, error="Choose one of the two.")
    upload.hidden = str(choice)
    try:
        return await preview_upload(request, upload)
    except InputError as exc:
        return await _hidden_form(request, upload, status=400, error=str(exc))
