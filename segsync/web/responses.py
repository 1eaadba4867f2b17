"""Building responses: a page from a template, a refusal, a redirect after a POST, a download.

Every page gets the context its layout needs (the session's CSRF token for its forms, the API
it talks to, whether a login is in force, the runs still going), rendered off the event loop
so a long preview does not stall the progress polls of a run.
"""

from __future__ import annotations

import asyncio
import re
from pathlib import Path
from typing import Any
from urllib.parse import quote

from aiohttp import web
from jinja2 import Environment

from segsync.web.state import STATE
from segsync.web.teamstate import TEAM_CONTEXT

ENV: web.AppKey[Environment] = web.AppKey("segsync_web_env", Environment)
#: the request key holding the session id (set by the security middleware); a typed
#: ``RequestKey`` where aiohttp has them (3.14+), else a plain string key
_REQUEST_KEY: Any = getattr(web, "RequestKey", None)
SESSION: Any = _REQUEST_KEY("segsync_session_id", str) if _REQUEST_KEY else "segsync_session_id"


def session_id(request: web.Request) -> str | None:
    sid = request.get(SESSION)
    return sid if isinstance(sid, str) else None


def csrf_token(request: web.Request) -> str:
    sid = session_id(request)
    return request.app[STATE].codec.csrf_token(sid) if sid else ""


async def page(
    request: web.Request, template: str, *, status: int = 200, **context: Any
) -> web.Response:
    """``template`` rendered with ``context`` and what every page needs."""
    state = request.app[STATE]
    sid = session_id(request)
    allowed = state.gate.allows(sid)
    full = {
        "allowed": allowed,
        "csrf_token": csrf_token(request),
        "target_label": state.target_label,
        "password_mode": state.gate.password_mode,
        "signed_in": allowed,
        "active_jobs": state.jobs.active() if allowed else [],
        "step": None,
        **request.get(TEAM_CONTEXT, {}),
        **context,
    }
    env = request.app[ENV]
    loop = asyncio.get_running_loop()
    html = await loop.run_in_executor(None, lambda: env.get_template(template).render(**full))
    return web.Response(text=html, status=status, content_type="text/html", charset="utf-8")


async def refusal(
    request: web.Request, status: int, title: str, message: str, **context: Any
) -> web.Response:
    """A page saying why the request was refused, with a 4xx status (never a redirect)."""
    return await page(request, "error.html", status=status, title=title, message=message, **context)


def see_other(location: str) -> web.Response:
    """The redirect after a successful POST (303: the browser follows with a GET)."""
    return web.Response(status=303, headers={"Location": location})


def download(path: Path, name: str) -> web.StreamResponse:
    """``path`` as an attachment called ``name`` (the path itself is never shown)."""
    kinds = {
        ".xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        ".csv": "text/csv; charset=utf-8",
        ".html": "text/html; charset=utf-8",
    }
    response = web.FileResponse(
        path,
        headers={
            "Content-Type": kinds.get(path.suffix.lower(), "application/octet-stream"),
            "Content-Disposition": content_disposition(name),
        },
    )
    return response


def content_disposition(name: str) -> str:
    """``attachment`` with an ASCII fallback name and the real one (RFC 6266 / 5987)."""
    fallback = re.sub(r"[^A-Za-z0-9._ -]", "_", name).strip() or "download"
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(name, safe='')}"


def download_name(subject: str, kind: str, path: Path) -> str:
    """``segment_edits_results_20261126-120000.xlsx`` from the file people uploaded."""
    stem = Path(subject).stem if subject else "segsync"
    stem = re.sub(r"[\x00-\x1f\"/\\:*?<>|]", "_", stem).strip(". ") or "segsync"
    stamp = path.stem.rsplit("_", 1)[-1] if "_" in path.stem else ""
    return f"{stem}_{kind}{'_' + stamp if stamp else ''}{path.suffix}"
