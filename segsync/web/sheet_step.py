"""The sheet step: a workbook with several sheets that could hold the edits asks which one
before any preview, as the CLI refuses and asks for ``--sheet``.

``GET /uploads/<id>/sheet`` lists the candidate sheets (the loader's ``SheetChoiceError``
names them) as radio buttons, none chosen for the person; ``POST`` previews the chosen one, and
the choice is kept on the upload so the column and hidden-cell steps that may follow read the
same sheet. A workbook with one candidate never comes here: it is previewed at once.
"""

from __future__ import annotations

from aiohttp import web

from segsync.errors import InputError
from segsync.web.responses import page
from segsync.web.state import STATE
from segsync.web.upload_page import preview_upload
from segsync.web.uploads import Upload


def _asking(request: web.Request) -> Upload:
    upload = request.app[STATE].uploads.get(request.match_info["uid"])
    if upload is None or len(upload.candidates) < 2:
        raise web.HTTPNotFound
    return upload


async def sheet_page(request: web.Request) -> web.StreamResponse:
    return await _form(request, _asking(request))


async def _form(
    request: web.Request, upload: Upload, *, status: int = 200, error: str | None = None
) -> web.Response:
    return await page(request, "sheet.html", status=status, step=1, upload=upload, error=error)


async def sheet_submit(request: web.Request) -> web.StreamResponse:
    upload = _asking(request)
    form = await request.post()
    sheet = form.get("sheet")
    if not isinstance(sheet, str) or sheet not in upload.candidates:
        return await _form(
            request, upload, status=400, error="Choose the sheet that holds your edits."
        )
    upload.sheet = sheet
    try:
        return await preview_upload(request, upload)
    except InputError as exc:
        return await _form(request, upload, status=400, error=str(exc))
