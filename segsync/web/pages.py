"""The upload, preview and apply pages: from a file to a run that sends exactly its preview.

1. ``/`` — the upload form. ``POST /upload`` streams the file into the private folder, loads
   it with the CLI's loader (its guards and sentences), and on success starts the preview.
2. ``/previews/<id>`` — while the server is read, a page that waits for it; then the preview:
   the counts, problems first (cell and reason), the changes as a diff, unchanged rows folded,
   the preview workbook to download, and a sheet choice when the workbook has several.
3. ``/previews/<id>/apply`` — the confirmation ("Update 37 segments in Raise at ..."), with
   the number typed when the change is over a guardrail; its POST starts the run with the
   previewed plan itself, so a segment that moved since the preview becomes a ``conflict``.

Rollbacks use the same preview and confirmation pages (``runpages`` starts their previews).
"""

from __future__ import annotations

import asyncio
import secrets
from pathlib import Path
from typing import Any

from aiohttp import web

from segsync.config import Settings
from segsync.engine import pipeline
from segsync.engine.guardrails import Guardrails
from segsync.errors import (
    HiddenDataError,
    InputError,
    RunAborted,
    RunLockedError,
    SheetChoiceError,
    UnplacedColumnsError,
    UnsafeFolderError,
)
from segsync.input.editset import EditSet
from segsync.input.limits import MB
from segsync.outcomes import Outcome
from segsync.output.results import default_results_path
from segsync.plan.planfile import SavedPlan
from segsync.web.column_map import validate_mapped
from segsync.web.jobs import Job, JobKind
from segsync.web.limits import Slot
from segsync.web.render import applied_view
from segsync.web.responses import (
    download,
    download_name,
    page,
    refusal,
    see_other,
    session_id,
)
from segsync.web.state import STATE, Preview, WebState
from segsync.web.teamstate import notify_job, run_people
from segsync.web.uploads import (
    ACCEPT,
    Upload,
    UploadRefused,
    UploadTooLarge,
    receive,
    renamed,
    visible_sheets,
)

#: the five steps as the bar at the top names them: a sheet's, and a rollback's (which starts
#: from a run on the Runs page and is confirmed, not "applied")
SHEET_STEPS = ("Upload", "Preview", "Apply", "Progress", "Done")
ROLLBACK_STEPS = ("Choose a run", "Preview", "Confirm", "Progress", "Done")


def steps_for(kind: str) -> tuple[str, ...]:
    """The step bar's names for a preview's ``kind`` (``sheet`` or ``rollback``)."""
    return ROLLBACK_STEPS if kind == "rollback" else SHEET_STEPS


# -- 1. upload -----------------------------------------------------------------------------------


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
        editset, sheets = await loop.run_in_executor(
            None, read_upload, upload, state.settings, None
        )
    except UnplacedColumnsError as exc:  # the mapping page asks what each column is
        upload.unplaced = exc
        state.add_upload(upload)
        return see_other(f"/uploads/{upload.id}/columns")
    except HiddenDataError as exc:  # the page asks whether to leave them out or send them
        upload.hidden_problem = str(exc)
        state.add_upload(upload)
        return see_other(f"/uploads/{upload.id}/hidden")
    except InputError as exc:
        upload.remove()
        return await _upload_form(request, status=400, error=str(exc))
    upload.sheets = sheets
    if len(sheets) > 1:
        state.add_upload(upload)  # kept for another sheet until applied or expired
    else:
        upload.remove()  # read once, nothing more to read from it
    preview = start_sheet_preview(state, upload, editset, slot, who=run_people(request))
    return see_other(f"/previews/{preview.id}")


def read_upload(upload: Upload, settings: Settings, sheet: str | None) -> tuple[EditSet, list[str]]:
    """Load with the CLI's loader (its guards, its sentences); list the sheets on success.

    Where the CLI refuses to choose between sheets, the page previews the one it names first
    and says so above the preview, with the sheet choice beside it: a preview sends nothing,
    and the person sees which sheet it is before applying.
    """
    try:
        editset = validate_mapped(upload, settings, sheet)
    except SheetChoiceError as exc:
        if sheet is not None or not exc.sheets:
            raise
        editset = validate_mapped(upload, settings, exc.sheets[0])
        others = ", ".join(f"'{name}'" for name in exc.sheets)
        editset.warnings.insert(
            0,
            f"sheets that could hold the edits: {others}. This preview shows sheet "
            f"'{exc.sheets[0]}'; choose the sheet below before applying.",
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


# -- 2. preview ----------------------------------------------------------------------------------


def _preview(request: web.Request) -> Preview:
    preview = request.app[STATE].previews.get(request.match_info["pid"])
    if preview is None:
        raise web.HTTPNotFound
    return preview


def to_send(preview: Preview) -> int:
    view = preview.job.view
    if view is None:
        return 0
    return sum(c.count for c in view.counts if c.outcome == Outcome.WOULD_UPDATE.value)


async def preview_page(request: web.Request) -> web.StreamResponse:
    state = request.app[STATE]
    preview = _preview(request)
    job = preview.job
    steps = steps_for(preview.kind)
    if job.running:
        return await page(
            request,
            "reading.html",
            step=2,
            steps=steps,
            preview=preview,
            poll_ms=int(state.options.poll_interval_s * 1000),
        )
    if job.result is None or job.view is None:
        return await page(
            request, "preview_failed.html", step=2, steps=steps, preview=preview, job=job
        )
    upload = preview.upload if preview.upload and preview.upload.id in state.uploads else None
    return await page(
        request,
        "preview.html",
        step=2,
        steps=steps,
        preview=preview,
        view=job.view if preview.applied is None else applied_view(job.view),
        to_send=to_send(preview),
        sheets=upload.sheets if upload is not None and not preview.applied else [],
        # a CSV has no sheet of its own (the loader names it after the stored file)
        sheet_name=job.result.sheet if preview.upload and preview.upload.sheets else None,
    )


async def preview_status(request: web.Request) -> web.StreamResponse:
    return web.json_response(_preview(request).job.status())


async def preview_workbook(request: web.Request) -> web.StreamResponse:
    preview = _preview(request)
    if preview.job.running or not preview.workbook.is_file():
        raise web.HTTPNotFound
    return download(preview.workbook, download_name(preview.subject, "preview", preview.workbook))


async def choose_sheet(request: web.Request) -> web.StreamResponse:
    state = request.app[STATE]
    preview = _preview(request)
    upload = preview.upload
    form = await request.post()
    sheet = form.get("sheet")
    if upload is None or upload.id not in state.uploads or preview.applied:
        return await refusal(
            request, 409, "Upload the file again", "This file is no longer kept; upload it again."
        )
    if not isinstance(sheet, str) or sheet not in upload.sheets:
        return await refusal(request, 400, "No such sheet", "Choose one of the workbook's sheets.")
    slot = state.preview_slots.take()
    if slot is None:
        return await refusal(request, 503, "Busy", busy_sentence(state))
    with slot:
        loop = asyncio.get_running_loop()
        try:
            editset, _ = await loop.run_in_executor(
                None, read_upload, upload, state.settings, sheet
            )
        except InputError as exc:
            return await refusal(request, 400, "This sheet cannot be used", str(exc))
        preview = start_sheet_preview(state, upload, editset, slot, who=run_people(request))
        return see_other(f"/previews/{preview.id}")


# -- 3. apply ------------------------------------------------------------------------------------


def _confirmation(state: WebState, preview: Preview) -> dict[str, Any]:
    """What the confirmation says, and whether the number must be typed."""
    n = to_send(preview)
    plural = "segment" if n == 1 else "segments"
    if preview.kind == "rollback":
        action = (
            f"Put back {n:,} {plural} in Raise at {preview.target_label} as they were before "
            f"run {preview.rollback_of}"
        )
        button = f"Roll back {n:,} {plural}"
    else:
        action = f"Update {n:,} {plural} in Raise at {preview.target_label}"
        button = f"Update {n:,} {plural}"
    rails = Guardrails.from_settings(state.settings.guardrails)
    total = preview.job.plan.server_total if preview.job.plan is not None else None
    over = []
    if rails.max_changes is not None and n > rails.max_changes:
        limit = rails.max_changes
        over.append(f"the {limit:,} {'change' if limit == 1 else 'changes'} a run may make here")
    if rails.max_change_ratio is not None and total and n / total > rails.max_change_ratio:
        over.append(
            f"the {rails.max_change_ratio:.0%} of all {total:,} segments in Raise that a run "
            "may change here"
        )
    view, result = preview.job.view, preview.job.result
    problems = view.problem_total if view is not None else 0
    rps = state.settings.rate_limit.requests_per_second
    return {
        "n": n,
        "action": action,
        "button": button,
        "typed": bool(over),
        "over": " and ".join(over),
        "problems": problems,
        "moves": result.moves if result else 0,
        "rps": f"{rps:g}",
        "eta_s": n / rps if rps else None,
    }


async def confirm_page(request: web.Request) -> web.StreamResponse:
    state = request.app[STATE]
    preview = _preview(request)
    if preview.applied is not None:
        return see_other(f"/jobs/{preview.applied.id}")
    if preview.job.running or preview.job.result is None:
        return see_other(f"/previews/{preview.id}")
    return await page(
        request,
        "confirm.html",
        step=3,
        steps=steps_for(preview.kind),
        preview=preview,
        error=None,
        typed_value="",
        **_confirmation(state, preview),
    )


async def apply_submit(request: web.Request) -> web.StreamResponse:
    state = request.app[STATE]
    preview = _preview(request)
    form = await request.post()
    if preview.applied is not None:
        job = preview.applied
        return await refusal(
            request,
            409,
            "Already applied",
            "This preview was already applied; it is not sent twice.",
            link=(f"/jobs/{job.id}", "See that run"),
        )
    if preview.job.running or preview.job.result is None:
        return await refusal(
            request, 409, "Not ready", "This preview has no plan to apply; nothing was sent."
        )
    confirm = _confirmation(state, preview)
    n = confirm["n"]
    if n == 0:
        return await refusal(request, 409, "Nothing to send", "This preview changes nothing.")
    written = str(form.get("confirm") or "").strip()
    typed = written.replace(",", "").replace(" ", "")
    if confirm["typed"] and typed != str(n):
        said = f"You typed {written}, not {n:,}." if written else "The number is missing."
        return await page(
            request,
            "confirm.html",
            status=400,
            step=3,
            steps=steps_for(preview.kind),
            preview=preview,
            error=f"{said} Type {n:,} to send the changes; nothing was sent.",
            typed_value=written[:40],
            **confirm,
        )
    try:
        state.check_lock(preview.target)
    except (RunLockedError, UnsafeFolderError) as exc:
        return await refusal(
            request,
            409,
            "Another run is writing to this API",
            str(exc),
            link=(f"/previews/{preview.id}/apply", "Back to the confirmation"),
        )
    who = run_people(request, preview)
    job = start_run(state, preview, override=n if confirm["typed"] else None, who=who)
    preview.applied = job
    state.drop_upload(preview.upload)
    return see_other(f"/jobs/{job.id}")


def start_run(
    state: WebState, preview: Preview, *, override: int | None, who: dict[str, Any] | None = None
) -> Job:
    """Start the run that sends ``preview``: the saved plan itself, or the rollback; ``who``
    names the person and the approver (``teamstate.run_people``)."""
    settings = state.settings
    who = who or {}
    done = notify_job(settings)
    kind = "rollback" if preview.kind == "rollback" else "results"
    results = default_results_path(
        None, out_dir=state.results_dir, kind=kind, fmt=settings.output.format
    )
    report = results.with_suffix(".html")
    if preview.kind == "rollback":
        run_id = str(preview.rollback_of)

        def rollback(control: Any) -> Any:
            return pipeline.rollback(
                run_id, settings, out=results, report=report, control=control, **who
            )

        return state.jobs.start(
            JobKind.ROLLBACK, preview.subject, rollback, target=preview.target, on_done=done
        )
    saved = preview.job.plan
    assert saved is not None
    plan: Path | SavedPlan = saved.path if saved.path is not None else saved

    def apply(control: Any) -> Any:
        return pipeline.apply(
            plan,
            settings,
            out=results,
            report=report,
            control=control,
            max_changes=override,
            max_change_ratio=1.0 if override is not None else None,
            **who,
        )

    return state.jobs.start(
        JobKind.APPLY, preview.subject, apply, target=preview.target, on_done=done
    )


__all__ = [
    "apply_submit",
    "choose_sheet",
    "confirm_page",
    "preview_page",
    "preview_status",
    "preview_workbook",
    "upload_page",
    "upload_submit",
]
