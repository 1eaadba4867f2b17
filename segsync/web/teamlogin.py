"""Signing in by user name and password, when people are configured (``team``).

The password check (scrypt, a tenth of a second) runs off the event loop; wrong passwords are
throttled per address (``TeamGate.throttle``) and audited; a sign-in gets a new session id (no
fixation) and goes back where the person was going (``safe_next``).
"""

from __future__ import annotations

import asyncio
import logging

from aiohttp import web

from segsync.web.responses import page, see_other, session_id
from segsync.web.security import safe_next, set_session_cookie, wait_words
from segsync.web.state import STATE
from segsync.web.teamaudit import record, team_of

log = logging.getLogger("segsync.web")


async def login_page(request: web.Request) -> web.StreamResponse:
    team = team_of(request)
    assert team is not None
    if team.gate.person(session_id(request)) is not None:
        return see_other(safe_next(request.query.get("next")))
    return await page(request, "team_login.html", next=safe_next(request.query.get("next")))


async def login_submit(request: web.Request) -> web.StreamResponse:
    team = team_of(request)
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
        await record(request, "sign-in-failed", name or None)
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
    await record(request, "sign-in", user.name)
    response = see_other(target)
    set_session_cookie(response, cookie, state)
    return response
