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

Roles: viewer (previews, runs, downloads), operator (also upload, apply, stop, roll back),
approver (also approve or reject others' plans, read ``/audit``), admin (also manage users, from
the command line).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from aiohttp import web
from multidict import CIMultiDict

from segsync.team.audit import AuditLog, audit_path, read_audit_page
from segsync.team.notify import Notice, notify_urls, send
from segsync.team.users import Role, User, UsersFile
from segsync.web.pages import to_send
from segsync.web.responses import page, refusal, see_other, session_id
from segsync.web.security import safe_next, set_session_cookie, wait_words
from segsync.web.sessions import COOKIE_NAME
from segsync.web.state import STATE, Preview
from segsync.web.teamstate import (
    PERSON,
    TEAM,
    TEAM_CONTEXT,
    Approval,
    TeamGate,
    TeamOptions,
    TeamState,
    author_of,
    changes_of,
    preview_digest,
    role_at_least,
    team_wanted,
    users_path,
)

log = logging.getLogger("segsync.web")

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
#: audit lines on one page of /audit (newest first; its "Older entries" link pages back)
AUDIT_PAGE_ROWS = 100
MAX_REASON = 500


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
    r.add_get("/approvals", approvals_page)
    r.add_get("/approvals/{pid}", approval_review)
    r.add_post("/approvals/{pid}/approve", approve)
    r.add_post("/approvals/{pid}/reject", reject)
    r.add_post("/previews/{pid}/request-approval", request_approval)
    r.add_get("/audit", audit_page)


def _team(request: web.Request) -> TeamState | None:
    return request.app.get(TEAM)


def _route(request: web.Request) -> str:
    route = request.match_info.route
    resource = route.resource if route is not None else None
    return resource.canonical if resource is not None else request.path


async def _record(request: web.Request, action: str, person: str | None, **fields: Any) -> None:
    """The audit line of an action, on disk before the action is answered (off the loop)."""
    team = _team(request)
    if team is not None:
        await team.audit.record_async(action, person, via="web", remote=request.remote, **fields)


# -- the proxy's header --------------------------------------------------------------------------


@web.middleware
async def trusted_header(request: web.Request, handler: Handler) -> web.StreamResponse:
    team = _team(request)
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
            await _record(request, "refused", None, reason=why)
        return await handler(request)
    user = team.gate.people.get(named) if named else None
    if user is None:
        await _record(
            request, "sign-in-failed", named[:128] or None, reason="not in the users file"
        )
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
    await _record(request, "sign-in", user.name, method="proxy header")
    headers = CIMultiDict(request.headers)
    headers["Cookie"] = f"{COOKIE_NAME}={cookie}"
    response = await handler(request.clone(headers=headers))
    set_session_cookie(response, cookie, state)
    return response


# -- the guard: sign-in, roles, approvals, audit ---------------------------------------------------


@web.middleware
async def team_guard(request: web.Request, handler: Handler) -> web.StreamResponse:
    team = _team(request)
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
        await _record(request, "refused", person.name, route=route, needs=need.role.label)
        return await _forbidden(request, person, need)
    if route == "/previews/{pid}/apply":
        preview = request.app[STATE].previews.get(request.match_info["pid"])
        if preview is not None and _waits_for_approval(team, preview):
            if request.method == "GET":
                return await _approval_needed_page(request, team, preview)
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
        await _record(request, "sign-out", person.name)
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


async def _after(
    request: web.Request, person: User, route: str, response: web.StreamResponse
) -> None:
    """The audit lines of what the handlers did (uploads, stops, downloads)."""
    state = request.app[STATE]
    if route == "/upload" and response.status == 303:
        pid = response.headers.get("Location", "").rsplit("/", 1)[-1]
        preview = state.previews.get(pid)
        await _record(
            request,
            "upload",
            person.name,
            preview_id=pid,
            file=preview.subject if preview else None,
        )
    elif route == "/jobs/{jid}/stop" and response.status == 303:
        job = state.jobs.get(request.match_info["jid"])
        # the run's id is known to its own audit line, which names who stopped it
        await _record(
            request,
            "stop",
            person.name,
            job=job.kind.value if job else None,
            file=job.subject if job else None,
        )
    elif route in _DOWNLOADS and request.method == "GET" and response.status == 200:
        await _record(
            request,
            "download",
            person.name,
            what=route.rsplit("/", 1)[-1],
            run_id=request.match_info.get("run_id"),
            preview_id=request.match_info.get("pid"),
        )


# -- sign-in -------------------------------------------------------------------------------------


async def login_page(request: web.Request) -> web.StreamResponse:
    team = _team(request)
    assert team is not None
    if team.gate.person(session_id(request)) is not None:
        return see_other(safe_next(request.query.get("next")))
    return await page(request, "team_login.html", next=safe_next(request.query.get("next")))


async def login_submit(request: web.Request) -> web.StreamResponse:
    team = _team(request)
    assert team is not None
    state = request.app[STATE]
    form = await request.post()
    target = safe_next(str(form.get("next") or ""))
    name = str(form.get("username") or "").strip()[:128]
    password = form.get("password")
    wait = team.gate.throttle.wait_s(request.remote)
    if wait > 0:
        return await page(
            request,
            "team_login.html",
            status=429,
            next=target,
            username=name,
            error=f"Too many wrong sign-ins from your address: wait {wait_words(wait)}, then "
            "try again.",
        )
    user = None
    if name and isinstance(password, str) and password:
        file = team.gate.people.file
        loop = asyncio.get_running_loop()  # scrypt takes a tenth of a second: off the loop
        user = await loop.run_in_executor(None, file.check, name, password)
    if user is None:
        team.gate.throttle.failed(request.remote)
        await _record(request, "sign-in-failed", name or None)
        log.warning("failed sign-in to the web page as %r from %s", name, request.remote)
        return await page(
            request,
            "team_login.html",
            status=403,
            next=target,
            username=name,
            error="That user name and password do not match.",
        )
    team.gate.throttle.succeeded(request.remote)
    state.gate.sign_out(session_id(request))
    sid, cookie = state.codec.new()  # a new session id at sign-in: no fixation
    team.gate.sign_in_person(sid, user.name)
    await _record(request, "sign-in", user.name)
    response = see_other(target)
    set_session_cookie(response, cookie, state)
    return response


# -- approvals -----------------------------------------------------------------------------------


def _preview(request: web.Request) -> Preview:
    preview = request.app[STATE].previews.get(request.match_info["pid"])
    if preview is None or preview.job.running or preview.job.result is None:
        raise web.HTTPNotFound
    return preview


def _person(request: web.Request) -> User:
    person = request.get(PERSON)
    assert isinstance(person, User)
    return person


async def _approval_needed_page(
    request: web.Request, team: TeamState, preview: Preview
) -> web.StreamResponse:
    return await page(
        request,
        "team_approval_needed.html",
        step=3,
        preview=preview,
        n=changes_of(preview),
        threshold=team.threshold,
        approval=team.approvals.get(preview),
    )


async def request_approval(request: web.Request) -> web.StreamResponse:
    team = _team(request)
    assert team is not None
    preview = _preview(request)
    person = _person(request)
    if not team.needs_approval(preview):
        return see_other(f"/previews/{preview.id}/apply")
    current = team.approvals.get(preview)
    if current is None or current.state == "rejected":
        approval = team.approvals.request(preview, author_of(preview) or person.name)
        await _record(
            request,
            "request-approval",
            person.name,
            preview_id=preview.id,
            plan_sha256=approval.plan_sha256,
            file=preview.subject,
            counts={"would_update": approval.changes},
        )
        _announce(request, team, approval, person)
    return see_other(f"/previews/{preview.id}/apply")


def _announce(request: web.Request, team: TeamState, approval: Approval, person: User) -> None:
    """Tell the team's services that a plan waits (in the background; a failure only warns)."""
    urls = notify_urls(team.settings)
    if not urls:
        return
    notice = Notice(
        title=f"segsync: a plan of {approval.changes:,} changes waits for approval",
        body=(
            f"{person.name} asks for approval of {approval.preview.subject}: "
            f"{approval.changes:,} segments would change. Open /approvals on the segsync page."
        ),
        kind="info",
        exit_code=0,
    )
    asyncio.get_running_loop().run_in_executor(None, send, notice, urls)


async def approvals_page(request: web.Request) -> web.StreamResponse:
    team = _team(request)
    assert team is not None
    state = request.app[STATE]
    return await page(
        request,
        "team_approvals.html",
        approvals=team.approvals.listed(state.previews),
        threshold=team.threshold,
    )


async def approval_review(request: web.Request) -> web.StreamResponse:
    """The same preview, with approve and reject for an approver who did not make it."""
    team = _team(request)
    assert team is not None
    preview = _preview(request)
    approval = team.approvals.get(preview)
    if approval is None:
        raise web.HTTPNotFound
    person = _person(request)
    view = preview.job.view  # built once, in the job's thread (the rows are let go then)
    if view is None:
        raise web.HTTPNotFound
    return await page(
        request,
        "team_approval_review.html",
        step=None,
        preview=preview,
        view=view,
        to_send=to_send(preview),
        sheets=[],
        sheet_name=None,
        approval=approval,
        own=approval.author.casefold() == person.name.casefold(),
        can_decide=role_at_least(person, Role.APPROVER),
        current=approval.plan_sha256 == preview_digest(preview),
    )


async def approve(request: web.Request) -> web.StreamResponse:
    return await _decide(request, "approved")


async def reject(request: web.Request) -> web.StreamResponse:
    return await _decide(request, "rejected")


async def _decide(request: web.Request, decision: str) -> web.StreamResponse:
    team = _team(request)
    assert team is not None
    preview = _preview(request)
    person = _person(request)
    approval = team.approvals.get(preview)
    back = (f"/approvals/{preview.id}", "Back to the plan")
    if approval is None or approval.state != "waiting":
        return await refusal(
            request,
            409,
            "Not waiting",
            "This plan does not wait for a "
            "decision (it was decided, or never asked for); nothing was done.",
            link=back,
        )
    if approval.author.casefold() == person.name.casefold():
        await _record(request, "refused", person.name, preview_id=preview.id, reason="own plan")
        return await refusal(
            request,
            403,
            "Not your own plan",
            f"{person.name} made this plan: a different person with the approver role must "
            f"{'approve' if decision == 'approved' else 'reject'} it. Nothing was done.",
            link=back,
        )
    if approval.plan_sha256 != preview_digest(preview):
        return await refusal(
            request,
            409,
            "The plan changed",
            "This is no longer the plan that was asked about; nothing was done.",
            link=back,
        )
    form = await request.post()
    reason = " ".join(str(form.get("reason") or "").split())[:MAX_REASON] or None
    if decision == "rejected" and not reason:
        return await refusal(
            request,
            400,
            "Say why",
            "A rejection needs a reason for the person who asked; nothing was done.",
            link=back,
        )
    team.approvals.decide(approval, decision, person.name, reason)
    await _record(
        request,
        "approve" if decision == "approved" else "reject",
        person.name,
        preview_id=preview.id,
        plan_sha256=approval.plan_sha256,
        author=approval.author,
        file=preview.subject,
        counts={"would_update": approval.changes},
        reason=reason,
    )
    return see_other("/approvals")


# -- the audit page ------------------------------------------------------------------------------


async def audit_page(request: web.Request) -> web.StreamResponse:
    """The newest ``AUDIT_PAGE_ROWS`` lines, or those before ``?before=`` (a byte offset the
    page's own "Older entries" link gives): read from the end, however long the file is."""
    team = _team(request)
    assert team is not None
    before = request.query.get("before", "")
    offset = int(before) if before.isdigit() else None
    loop = asyncio.get_running_loop()
    found = await loop.run_in_executor(
        None, read_audit_page, audit_path(team.settings), AUDIT_PAGE_ROWS, offset
    )
    return await page(
        request, "team_audit.html", rows=found.lines, older=found.older, paged=offset is not None
    )


__all__ = ["TeamOptions", "install", "team_guard", "trusted_header"]
