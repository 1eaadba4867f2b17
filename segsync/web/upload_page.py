"""The upload page, and the one path from a stored file to a started preview.

``/`` is the upload form. ``POST /upload`` streams the file into the private folder (within
``input.max_file_mb`` and the page's storage), then ``preview_upload`` loads it with the CLI's
loader (its guards and sentences) and, on success, starts the preview's plan as a job. What the
loader asks about first has a step of its own: which sheet (``sheet_step``), what a column is
and whether hidden cells count (``mapping_page``); each of those ends in ``preview_upload`` too,
and so does the preview's own sheet choice (``preview_page``). The pages that follow are
``preview_page`` (the preview) and ``apply_page`` (the confirmation and the run).
"""

from __future__ import annotations

import asyncio
import secrets
from pathlib import Path
from typing import Any

from aiohttp import web

from segsync.config import Settings
from segsync.engine import pipeline
from segsync.errors import (
    HiddenDataError,
    InputError,
    RunAborted,
    SheetChoiceError,
    UnplacedColumnsError,
)
from segsync.input.editset import EditSet
from segsync.input.limits import MB
from segsync.web.column_map import validate_mapped
from segsync.web.jobs import JobKind
from segsync.web.limits import Slot
from segsync.web.responses import page, refusal, see_other, session_id
from segsync.web.state import STATE, Preview, WebState
from segsync.web.teamstate import run_people
from segsync.web.uploads import (
    ACCEPT,
    Upload,
    UploadRefused,
    UploadTooLarge,
    receive,
    renamed,
    visible_sheets,
)


async def upload_page(request: web.Request) -> web.StreamResponse:
    return await _upload_form(request)


async def _upload_form(
    request: web.Request, *, status: int = 200, error: str | None = None
) -> web.Response:
    settings = request.app[STATE].settings
    return await page(
        request,
        "upload.html",
        status=status,
        step=1,
        error=error,
        accept=ACCEPT,
        max_mb=f"{settings.input.max_file_mb:g}",
        clear_marker=settings.input.clear_marker,
    )


async def upload_submit(request: web.Request) -> web.StreamResponse:
    state = request.app[STATE]
    state.sweep()
    slot = state.preview_slots.take()
    if slot is None:
        return await _upload_form(request, status=503, error=busy_sentence(state))
    with slot:
        return await _upload_submit(request, state, slot)


def busy_sentence(state: WebState) -> str:
    n = state.preview_slots.limit
    return (
        f"This page is already preparing {n} preview{'s' if n != 1 else ''}, the most it works "
        "on at once; nothing was stored or sent. Wait for one to finish, then upload again."
    )


async def _upload_submit(request: web.Request, state: WebState, slot: Slot) -> web.StreamResponse:
    sid = session_id(request)
    limit = state.settings.input.max_file_mb
    incoming = min(request.content_length or int(limit * MB), int(limit * MB))
    loop = asyncio.get_running_loop()
    if not await loop.run_in_executor(None, state.make_room, incoming):
        return await _upload_form(
            request,
            status=503,
            error=f"The page's storage for uploads and previews ({state.options.storage_mb:g} "
            "MB) is full with files in use; nothing was stored or sent. Try again when a "
            "preview has finished.",
        )
    try:
        upload = await receive(
            request, state.uploads_dir, limit, lambda token: state.codec.check_csrf(sid, token)
        )
    except UploadTooLarge:
        return await _upload_form(
            request,
            status=413,
            error=f"The file is larger than the {limit:g} MB limit (input.max_file_mb); nothing "
            "was stored or sent. Split it into smaller files.",
        )
    except UploadRefused as exc:
        if exc.status == 403:
            return await refusal(request, 403, "Refused", str(exc))
        return await _upload_form(request, status=exc.status, error=str(exc))
    try:
        return await preview_upload(request, upload, slot=slot)
    except InputError as exc:
        state.drop_upload(upload)
        return await _upload_form(request, status=400, error=str(exc))


async def preview_upload(
    request: web.Request, upload: Upload, *, slot: Slot | None = None
) -> web.StreamResponse:
    """Read ``upload`` off the loop and start its preview; the one path from a stored file to
    a preview (the upload, the sheet, column and hidden-cell steps, the preview's sheet choice).

    The sheet the person chose (``upload.sheet``; None: the loader's choice) is read within a
    preview ``slot`` (``slot`` if the caller took one, else a new one; none free: a 503 page
    with ``busy_sentence``). What the loader asks about is a redirect to its step, the upload kept
    for it: several sheets that could hold the edits, columns it cannot place, hidden cells
    with data. Any other ``InputError`` is the caller's to show; the upload is left as it is.
    """
    state = request.app[STATE]
    if slot is None:
        slot = state.preview_slots.take()
        if slot is None:
            return await refusal(request, 503, "Busy", busy_sentence(state))
    with slot:
        loop = asyncio.get_running_loop()
        try:
            editset, sheets = await loop.run_in_executor(
                None, read_upload, upload, state.settings, upload.sheet
            )
        except SheetChoiceError as exc:  # the sheet step asks which one
            upload.candidates = list(exc.sheets)
            state.add_upload(upload)
            return see_other(f"/uploads/{upload.id}/sheet")
        except UnplacedColumnsError as exc:  # the mapping page asks what each column is
            upload.unplaced, upload.hidden_problem = exc, ""
            state.add_upload(upload)
            return see_other(f"/uploads/{upload.id}/columns")
        except HiddenDataError as exc:  # the page asks whether to leave them out or send them
            upload.unplaced, upload.hidden_problem = None, str(exc)
            state.add_upload(upload)
            return see_other(f"/uploads/{upload.id}/hidden")
        upload.unplaced, upload.hidden_problem, upload.candidates = None, "", []
        upload.sheets = sheets
        if len(sheets) > 1:
            state.add_upload(upload)  # kept for another sheet until applied or expired
        else:
            state.drop_upload(upload)  # read once, nothing more to read from it
        preview = start_sheet_preview(state, upload, editset, slot, who=run_people(request))
        return see_other(f"/previews/{preview.id}")


def read_upload(upload: Upload, settings: Settings, sheet: str | None) -> tuple[EditSet, list[str]]:
    """Load with the CLI's loader (its guards, its sentences); list the sheets on success.

    Several sheets that could hold the edits and no ``sheet``: the loader's ``SheetChoiceError``
    goes up, and the page asks which one before any preview, as the CLI asks for ``--sheet``.
    A single candidate that is not the first sheet (an instructions sheet before it) is
    previewed at once, with a line above the preview saying which sheet it is.
    """
    try:
        editset = validate_mapped(upload, settings, sheet)
    except SheetChoiceError as exc:
        if sheet is not None or len(exc.sheets) != 1:
            raise
        only = exc.sheets[0]
        editset = validate_mapped(upload, settings, only)
        editset.warnings.insert(
            0,
            f"this preview shows sheet '{only}', the only sheet with an id column (the "
            "sheet choice at the top previews another).",
        )
    return renamed(editset, upload), visible_sheets(upload.path)


def start_sheet_preview(
    state: WebState,
    upload: Upload,
    editset: EditSet,
    slot: Slot | None = None,
    who: dict[str, Any] | None = None,
) -> Preview:
    """Start the plan of ``editset`` (a dry run: nothing sent, the server read once); the
    preview ``slot`` it holds is given back when the plan ends; ``who`` is the person asking
    (``teamstate.run_people``)."""
    folder, workbook = preview_folder(state)
    settings = state.settings

    def work(_control: Any) -> pipeline.PlanResult:
        try:
            # the plan goes to the preview's private folder: the job keeps only its facts in
            # memory, and the apply reads it back (and checks its digests) as the CLI does
            plan_file = workbook.with_name(PLAN_NAME)
            return pipeline.plan(editset, settings, out=plan_file, preview=workbook, **(who or {}))
        except AssertionError:
            # pipeline.plan asserts that the server was read; a refused token or an unreachable
            # API ends it there (the run logged why)
            raise RunAborted(
                "the current segments could not be read from Raise (the log says why)"
            ) from None

    release = slot.hand_over() if slot is not None else None
    job = state.jobs.start(
        JobKind.PLAN, upload.name, work, on_done=(lambda _job: release()) if release else None
    )
    preview = Preview(
        id=folder.name,
        kind="sheet",
        job=job,
        folder=folder,
        workbook=workbook,
        subject=upload.name,
        target=state.target,
        target_label=state.target_label,
        upload=upload,
        sheet=editset.sheet,
    )
    state.add_preview(preview)
    return preview


#: the plan file of a sheet's preview, in its private folder
PLAN_NAME = "plan.json"


def preview_folder(state: WebState) -> tuple[Path, Path]:
    """A new private folder for one preview, and where its workbook goes."""
    pid = secrets.token_urlsafe(12)
    folder = state.previews_dir / pid
    folder.mkdir(mode=0o700)
    return folder, folder / f"preview.{state.settings.output.format}"
