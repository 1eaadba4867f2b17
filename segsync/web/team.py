"""Named people on the page: sign-in by user name and password (or a trusted proxy's header),
roles, the second pair of eyes on big plans, the audit trail and its page.

Installed by ``create_app`` (``install``) when people are configured (see ``teamstate``); the
shared-password mode is untouched otherwise. Two middlewares around the security guard:

- ``trusted_header`` (before it): a request from a ``--trusted-proxy`` address that names a
  person in ``--trusted-user-header`` gets that person's session; the same header from any other
  address is ignored (and logged, and audited as ``refused``).
- ``team_guard`` (after it, so Host/Origin, session and CSRF are already checked): the sign-in
  page, the role each action needs (a refusal is a 403 page naming the role), the approval a big
  plan needs before it is applied, and the audit lines of uploads, stops, downloads and sign-ins.

This module installs the team and holds both middlewares; the pages they lead to are
``teamlogin`` (sign-in), ``teamapprovals`` (asking, reviewing, deciding) and ``teamaudit`` (the
audit lines and ``/audit``).

Roles: viewer (previews, runs, downloads), operator (also upload, apply, stop, roll back),
approver (also approve or reject others' plans, read ``/audit``), admin (also manage users, from
the command line).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from aiohttp import web
from multidict import CIMultiDict

from segsync.team.audit import AuditLog
from segsync.team.users import Role, User, UsersFile
from segsync.web import teamapprovals as approvals
from segsync.web.responses import refusal, session_id
from segsync.web.security import set_session_cookie
from segsync.web.sessions import COOKIE_NAME
from segsync.web.state import STATE, Preview
from segsync.web.teamaudit import audit_page, record, team_of
from segsync.web.teamlogin import login_page, login_submit
from segsync.web.teamstate import (
    PERSON,
    TEAM,
    TEAM_CONTEXT,
    TeamGate,
    TeamOptions,
    TeamState,
    changes_of,
    team_wanted,
    users_path,
)

log = logging.getLogger("segsync.web")

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass(frozen=True)
class Need:
    role: Role
    doing: str


#: (method, route) → the role it needs; everything else a signed-in viewer may do
NEEDS: dict[tuple[str, str], Need] = {
    ("POST", "/upload"): Need(Role.OPERATOR, "Uploading a sheet"),
    ("POST", "/previews/{pid}/sheet"): Need(Role.OPERATOR, "Previewing another sheet"),
    ("POST", "/uploads/{uid}/sheet"): Need(Role.OPERATOR, "Uploading a sheet"),
    ("POST", "/uploads/{uid}/columns"): Need(Role.OPERATOR, "Uploading a sheet"),
    ("POST", "/uploads/{uid}/hidden"): Need(Role.OPERATOR, "Uploading a sheet"),
    ("GET", "/previews/{pid}/apply"): Need(Role.OPERATOR, "Applying changes"),
    ("POST", "/previews/{pid}/apply"): Need(Role.OPERATOR, "Applying changes"),
    ("POST", "/previews/{pid}/request-approval"): Need(Role.OPERATOR, "Asking for approval"),
    ("POST", "/jobs/{jid}/stop"): Need(Role.OPERATOR, "Stopping a run"),
    ("POST", "/runs/{run_id}/rollback"): Need(Role.OPERATOR, "Rolling back a run"),
    ("POST", "/approvals/{pid}/approve"): Need(Role.APPROVER, "Approving a plan"),
    ("POST", "/approvals/{pid}/reject"): Need(Role.APPROVER, "Rejecting a plan"),
    ("GET", "/audit"): Need(Role.APPROVER, "Reading the audit trail"),
}
_DOWNLOADS = frozenset(
    {"/previews/{pid}/workbook", "/runs/{run_id}/results", "/runs/{run_id}/report"}
)


def install(app: web.Application, options: TeamOptions | None = None) -> None:
    """Put the team in force on ``app`` when people are configured (see the module docstring)."""
    state = app[STATE]
    options = options or TeamOptions()
    if options.trusted_user_header and not options.trusted_proxies:
        from segsync.errors import ConfigError

        raise ConfigError(
            "--trusted-user-header needs --trusted-proxy ADDRESS: the header is believed only "
            "from the reverse proxy that sets it."
        )
    if not team_wanted(state.settings, options):
        return
    web_opts = state.options
    idle = getattr(web_opts, "idle_minutes", None)
    gate = TeamGate(
        UsersFile(users_path(state.settings)),
        web_opts.session_hours * 3600,
        idle_s=idle * 60 if idle else None,
    )
    state.gate = gate  # type: ignore[assignment]
    app[TEAM] = TeamState(state.settings, options, gate, AuditLog.for_settings(state.settings))
    r = app.router
    r.add_get("/approvals", approvals.approvals_page)
    r.add_get("/approvals/{pid}", approvals.approval_review)
    r.add_post("/approvals/{pid}/approve", approvals.approve)
    r.add_post("/approvals/{pid}/reject", approvals.reject)
    r.add_post("/previews/{pid}/request-approval", approvals.request_approval)
    r.add_get("/audit", audit_page)


def _route(request: web.Request) -> str:
    route = request.match_info.route
    resource = route.resource if route is not None else None
    return resource.canonical if resource is not None else request.path


# -- the proxy's header --------------------------------------------------------------------------


@web.middleware
async def trusted_header(request: web.Request, handler: Handler) -> web.StreamResponse:
    team = team_of(request)
    header = team.options.trusted_user_header if team is not None else None
    if team is None or not header or header not in request.headers:
        return await handler(request)
    named = request.headers[header].strip()
    if not team.options.trusts(request.remote):
        if team.gate.first_in_a_while(f"untrusted:{request.remote}"):  # once a minute each
            log.warning(
                "ignored the %s header from %s: it is believed only from --trusted-proxy",
                header,
                request.remote,
            )
            why = f"{header} header from an untrusted address"
            await record(request, "refused", None, reason=why)
        return await handler(request)
    user = team.gate.people.get(named) if named else None
    if user is None:
        await record(request, "sign-in-failed", named[:128] or None, reason="not in the users file")
        return await refusal(
            request,
            403,
            "Not a user of this page",
            f"The sign-in service says you are '{named[:128]}', but this page has no such user. "
            "Ask an admin to add you (segsync users add NAME --role viewer --no-password).",
        )
    state = request.app[STATE]
    sid = state.codec.read(request.cookies.get(COOKIE_NAME))
    current = team.gate.person(sid)
    if current is not None and current.name == user.name:
        return await handler(request)
    sid, cookie = state.codec.new()
    team.gate.sign_in_person(sid, user.name)
    await record(request, "sign-in", user.name, method="proxy header")
    headers = CIMultiDict(request.headers)
    headers["Cookie"] = f"{COOKIE_NAME}={cookie}"
    response = await handler(request.clone(headers=headers))
    set_session_cookie(response, cookie, state)
    return response


# -- the guard: sign-in, roles, approvals, audit ---------------------------------------------------


@web.middleware
async def team_guard(request: web.Request, handler: Handler) -> web.StreamResponse:
    team = team_of(request)
    if team is None:
        return await handler(request)
    if request.path == "/login":
        return await (login_page(request) if request.method == "GET" else login_submit(request))
    person = team.gate.person(session_id(request))
    if person is None:  # only the open paths (static files) get here without a person
        return await handler(request)
    request[PERSON] = person
    request[TEAM_CONTEXT] = _context(team, person)
    route = _route(request)
    need = NEEDS.get((request.method, route))
    if need is not None and person.role < need.role:
        await record(request, "refused", person.name, route=route, needs=need.role.label)
        return await _forbidden(request, person, need)
    if route == "/previews/{pid}/apply":
        preview = request.app[STATE].previews.get(request.match_info["pid"])
        if preview is not None and _waits_for_approval(team, preview):
            if request.method == "GET":
                return await approvals.approval_needed_page(request, team, preview)
            return await refusal(
                request,
                403,
                "Approval needed",
                f"This plan changes {changes_of(preview):,} segments, more than "
                f"{team.threshold:,} (web.approval_required_over): a different person with "
                "the approver role must approve it first. Nothing was sent.",
                link=(f"/previews/{preview.id}/apply", "Ask for approval"),
            )
    if request.path == "/logout" and request.method == "POST":
        await record(request, "sign-out", person.name)
    response = await handler(request)
    await _after(request, person, route, response)
    return response


def _context(team: TeamState, person: User) -> dict[str, Any]:
    """What every page shows of the person: the layout's ``team_bar.html`` reads it."""
    return {
        "team_person": person.name,
        "team_role": person.role.label,
        "team_can_audit": person.role >= Role.APPROVER,
    }


def _waits_for_approval(team: TeamState, preview: Preview) -> bool:
    ready = not preview.job.running and preview.job.result is not None
    return (
        ready
        and preview.applied is None
        and team.needs_approval(preview)
        and (team.approvals.approved(preview) is None)
    )


async def _forbidden(request: web.Request, person: User, need: Need) -> web.Response:
    return await refusal(
        request,
        403,
        "Not allowed",
        f"{need.doing} needs the {need.role.label} role; you are signed in as {person.name} "
        f"({person.role.label}). Nothing was done. Ask an admin for the role if you need it.",
    )


#: the routes that take an upload towards its preview (the upload, then the steps that ask)
_UPLOAD_STEPS = frozenset(
    {"/upload", "/uploads/{uid}/sheet", "/uploads/{uid}/columns", "/uploads/{uid}/hidden"}
)


async def _after(
    request: web.Request, person: User, route: str, response: web.StreamResponse
) -> None:
    """The audit lines of what the handlers did (uploads, stops, downloads)."""
    state = request.app[STATE]
    if route in _UPLOAD_STEPS and response.status == 303:
        # the upload ends at its preview, or at a step that asks first (which sheet, what a
        # column is, hidden cells): the upload's line names the step, the step's the preview
        where = response.headers.get("Location", "").strip("/").split("/")
        if where[:1] == ["previews"] and len(where) == 2:
            preview = state.previews.get(where[1])
            await record(
                request,
                "upload" if route == "/upload" else "upload-step",
                person.name,
                step=None if route == "/upload" else route.rsplit("/", 1)[-1],
                preview_id=where[1],
                file=preview.subject if preview else None,
            )
        elif route == "/upload" and where[:1] == ["uploads"] and len(where) == 3:
            upload = state.uploads.get(where[1])
            await record(
                request,
                "upload",
                person.name,
                upload_id=where[1],
                step=where[2],
                file=upload.name if upload else None,
            )
    elif route == "/jobs/{jid}/stop" and response.status == 303:
        job = state.jobs.get(request.match_info["jid"])
        # the run's id is known to its own audit line, which names who stopped it
        await record(
            request,
            "stop",
            person.name,
            job=job.kind.value if job else None,
            file=job.subject if job else None,
        )
    elif route in _DOWNLOADS and request.method == "GET" and response.status == 200:
        await record(
            request,
            "download",
            person.name,
            what=route.rsplit("/", 1)[-1],
            run_id=request.match_info.get("run_id"),
            preview_id=request.match_info.get("pid"),
        )


__all__ = ["TeamOptions", "install", "team_guard", "trusted_header"]
