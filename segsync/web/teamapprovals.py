"""The second pair of eyes: a plan over ``web.approval_required_over`` changes waits for a
different person with the approver role.

The operator asks for approval (the team's notification services are told, in the
background); ``/approvals`` lists what waits; an approver reviews the same preview and approves
or rejects it (a rejection needs a reason). Nobody decides their own plan, and a decision holds
only for the plan that was asked about (its digest). ``team``'s guard holds the apply until then.
"""

from __future__ import annotations

import asyncio

from aiohttp import web

from segsync.team.notify import Notice, notify_urls, send
from segsync.team.users import Role, User
from segsync.web.preview_page import to_send
from segsync.web.responses import page, refusal, see_other
from segsync.web.state import STATE, Preview
from segsync.web.teamaudit import record, team_of
from segsync.web.teamstate import (
    PERSON,
    Approval,
    TeamState,
    author_of,
    changes_of,
    preview_digest,
    role_at_least,
)

#: characters of a rejection's reason that are kept
MAX_REASON = 500


def _ready_preview(request: web.Request) -> Preview:
    """The preview the address names, once its plan is ready (404 otherwise)."""
    preview = request.app[STATE].previews.get(request.match_info["pid"])
    if preview is None or preview.job.running or preview.job.result is None:
        raise web.HTTPNotFound
    return preview


def _person(request: web.Request) -> User:
    person = request.get(PERSON)
    assert isinstance(person, User)
    return person


async def approval_needed_page(
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
    team = team_of(request)
    assert team is not None
    preview = _ready_preview(request)
    person = _person(request)
    if not team.needs_approval(preview):
        return see_other(f"/previews/{preview.id}/apply")
    current = team.approvals.get(preview)
    if current is None or current.state == "rejected":
        approval = team.approvals.request(preview, author_of(preview) or person.name)
        await record(
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
    team = team_of(request)
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
    team = team_of(request)
    assert team is not None
    preview = _ready_preview(request)
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
    team = team_of(request)
    assert team is not None
    preview = _ready_preview(request)
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
        await record(request, "refused", person.name, preview_id=preview.id, reason="own plan")
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
    await record(
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
