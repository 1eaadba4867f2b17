"""The application factory: the routes, the middlewares, the static files, start and stop.

``create_app(settings, options)`` returns an ``aiohttp.web.Application`` holding a
``WebState`` (``app[STATE]``). Stopping the app stops every run it started the graceful way
(requests in flight finish, rows not sent are ``not_attempted``, results are written), waits
for them, and removes the private folder.
"""

from __future__ import annotations

import asyncio
import logging

from aiohttp import web

from segsync.config import Settings
from segsync.web import (
    apply_page,
    mapping_page,
    preview_page,
    runpages,
    security,
    sheet_step,
    upload_page,
)
from segsync.web.options import WebOptions
from segsync.web.render import make_env, static_files
from segsync.web.responses import ENV
from segsync.web.state import STATE, WebState
from segsync.web.team import TeamOptions, team_guard, trusted_header
from segsync.web.team import install as install_team

log = logging.getLogger("segsync.web")

STATIC: web.AppKey[dict[str, tuple[bytes, str]]] = web.AppKey("segsync_web_static", dict)
#: seconds the server waits, when stopping, for runs to finish their requests in flight
STOP_WAIT_S = 120.0


def create_app(
    settings: Settings, options: WebOptions | None = None, team: TeamOptions | None = None
) -> web.Application:
    """The web app for ``settings`` (the API, limits, folders) and ``options`` (serving);
    ``team`` (the proxy's user header) and ``web.users_file`` put named people in force."""
    options = options or WebOptions()
    app = web.Application(
        middlewares=[security.error_pages, trusted_header, security.guard, team_guard],
        client_max_size=1024 * 1024,  # forms; the upload is streamed with its own limit
    )
    env = make_env()
    app[ENV] = env
    app[STATIC] = static_files(env)
    app[STATE] = WebState(settings, options)
    app.on_response_prepare.append(security.security_headers)
    app.on_shutdown.append(_stop_runs)
    app.on_cleanup.append(_remove_private_folder)
    add_routes(app)
    install_team(app, team)
    return app


def add_routes(app: web.Application) -> None:
    r = app.router
    r.add_get("/", upload_page.upload_page, name="home")
    r.add_post("/upload", upload_page.upload_submit, name="upload")
    r.add_get("/uploads/{uid}/sheet", sheet_step.sheet_page)
    r.add_post("/uploads/{uid}/sheet", sheet_step.sheet_submit)
    r.add_get("/uploads/{uid}/columns", mapping_page.columns_page)
    r.add_post("/uploads/{uid}/columns", mapping_page.columns_submit)
    r.add_get("/uploads/{uid}/hidden", mapping_page.hidden_page)
    r.add_post("/uploads/{uid}/hidden", mapping_page.hidden_submit)
    r.add_get("/previews/{pid}", preview_page.preview_page)
    r.add_get("/previews/{pid}/status", preview_page.preview_status)
    r.add_get("/previews/{pid}/workbook", preview_page.preview_workbook)
    r.add_post("/previews/{pid}/sheet", preview_page.choose_sheet)
    r.add_get("/previews/{pid}/apply", apply_page.confirm_page)
    r.add_post("/previews/{pid}/apply", apply_page.apply_submit)
    r.add_get("/jobs/{jid}", runpages.job_page)
    r.add_get("/jobs/{jid}/status", runpages.job_status)
    r.add_post("/jobs/{jid}/stop", runpages.stop_job)
    r.add_get("/runs", runpages.runs_page)
    r.add_post("/runs/{run_id}/rollback", runpages.start_rollback_preview)
    r.add_get("/runs/{run_id}/results", runpages.run_results)
    r.add_get("/runs/{run_id}/report", runpages.run_report)
    r.add_get("/login", security.login_page)
    r.add_post("/login", security.login_submit)
    r.add_post("/logout", security.logout)
    r.add_get("/static/{name}", static_file)


async def static_file(request: web.Request) -> web.StreamResponse:
    """One of the app's own assets, from memory (no file path ever comes from the URL)."""
    found = request.app[STATIC].get(request.match_info["name"])
    if found is None:
        raise web.HTTPNotFound
    body, kind = found
    return web.Response(body=body, content_type=kind, headers={"Cache-Control": "no-cache"})


async def _stop_runs(app: web.Application) -> None:
    state = app[STATE]
    running = state.jobs.stop_all("the web server is stopping")
    if not running:
        return
    log.warning(
        "stopping %d run(s) started from the web page: finishing requests in flight",
        len(running),
    )
    loop = asyncio.get_running_loop()
    ended = await loop.run_in_executor(None, state.jobs.join, running, STOP_WAIT_S)
    if not ended:
        log.error("a run did not stop within %.0f s; its journal says what was sent", STOP_WAIT_S)


async def _remove_private_folder(app: web.Application) -> None:
    app[STATE].close()
