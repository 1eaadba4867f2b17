"""The preview page: what a run would change, before anything is sent.

``/previews/<id>``: while the server is read, a page that waits for it; then the preview: the
counts, problems first (cell and reason), the changes as a diff, unchanged rows folded, the
preview workbook to download, and a sheet choice when the workbook has several (``POST
/previews/<id>/sheet`` previews another sheet of the same upload). A rollback's preview is the
same page with its own step names (``runpages`` starts those). ``apply_page`` follows.
"""

from __future__ import annotations

from aiohttp import web

from segsync.errors import InputError
from segsync.outcomes import Outcome
from segsync.web.render import applied_view
from segsync.web.responses import download, download_name, page, refusal
from segsync.web.state import STATE, Preview
from segsync.web.upload_page import preview_upload

#: the five steps as the bar at the top names them: a sheet's, and a rollback's (which starts
#: from a run on the Runs page and is confirmed, not "applied")
SHEET_STEPS = ("Upload", "Preview", "Apply", "Progress", "Done")
ROLLBACK_STEPS = ("Choose a run", "Preview", "Confirm", "Progress", "Done")


def steps_for(kind: str) -> tuple[str, ...]:
    """The step bar's names for a preview's ``kind`` (``sheet`` or ``rollback``)."""
    return ROLLBACK_STEPS if kind == "rollback" else SHEET_STEPS


def preview_of(request: web.Request) -> Preview:
    """The preview the address names (404 if it is gone)."""
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
    preview = preview_of(request)
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
    return web.json_response(preview_of(request).job.status())


async def preview_workbook(request: web.Request) -> web.StreamResponse:
    preview = preview_of(request)
    if preview.job.running or not preview.workbook.is_file():
        raise web.HTTPNotFound
    return download(preview.workbook, download_name(preview.subject, "preview", preview.workbook))


async def choose_sheet(request: web.Request) -> web.StreamResponse:
    state = request.app[STATE]
    preview = preview_of(request)
    upload = preview.upload
    form = await request.post()
    sheet = form.get("sheet")
    if upload is None or upload.id not in state.uploads or preview.applied:
        return await refusal(
            request, 409, "Upload the file again", "This file is no longer kept; upload it again."
        )
    if not isinstance(sheet, str) or sheet not in upload.sheets:
        return await refusal(request, 400, "No such sheet", "Choose one of the workbook's sheets.")
    upload.sheet = sheet
    try:
        return await preview_upload(request, upload)
    except InputError as exc:
        return await refusal(request, 400, "This sheet cannot be used", str(exc))
