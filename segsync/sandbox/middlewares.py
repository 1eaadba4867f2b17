"""The request pipeline in front of the handlers, outermost first.

count → auth → rate limit → faults → handler. Counting is outermost so every request that reaches
the app is seen (401s and 429s included); auth comes before the throttle and the faults because a
real gateway refuses a bad token before doing anything else; faults touch the segment endpoints
only, since those are what the client under test retries.
"""

from __future__ import annotations

import asyncio
import hmac
import re
import socket
import struct
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from segsync.sandbox import faults
from segsync.sandbox.options import FaultOptions
from segsync.sandbox.problems import problem
from segsync.sandbox.ratelimit import retry_after_header
from segsync.sandbox.state import SandboxState

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

STATE_KEY: web.AppKey[SandboxState] = web.AppKey("segsync_sandbox_state", SandboxState)
#: Set on a request whose connection was reset on purpose: it has no HTTP status. A typed
#: ``RequestKey`` where aiohttp has them (3.14+, which warns about plain string keys), else the
#: plain string key older versions use: the declared minimum is older than 3.14.
_REQUEST_KEY: Any = getattr(web, "RequestKey", None)
_RESET_KEY: Any = (
    _REQUEST_KEY("segsync_sandbox_reset", bool) if _REQUEST_KEY else "segsync_sandbox_reset"
)
#: Route names the fault middleware applies to.
SEGMENT_ROUTES = frozenset({"segment", "segment_list"})
_INT = re.compile(r"[+-]?[0-9]+")


def _state(request: web.Request) -> SandboxState:
    return request.app[STATE_KEY]


def parse_int64(text: str) -> int | None:
    """``text`` as an int64 the way a ``long`` route value binds, else None."""
    if not _INT.fullmatch(text.strip()):
        return None
    value = int(text)
    return value if -(2**63) <= value <= 2**63 - 1 else None


@web.middleware
async def count_requests(request: web.Request, handler: Handler) -> web.StreamResponse:
    counters = _state(request).counters
    put_id = None
    if request.method == "PUT" and request.match_info.route.name == "segment":
        put_id = parse_int64(request.match_info.get("id", ""))
    arrival = counters.started(request.method, put_id)
    status: int | None = 500
    retry_after: str | None = None
    try:
        response = await handler(request)
        status = response.status
        retry_after = response.headers.get("Retry-After")
        return response
    except web.HTTPException as exc:
        status = exc.status
        raise
    except asyncio.CancelledError:
        status = None  # the server dropped the request (shutdown) without answering
        raise
    finally:
        counters.finished(
            request.method, None if request.get(_RESET_KEY) else status, arrival, retry_after
        )


def _unauthorized(error: str | None) -> web.Response:
    # ASP.NET's JwtBearer answers 401 with an empty body and a Bearer challenge.
    challenge = "Bearer" if error is None else f'Bearer error="{error}"'
    return web.Response(status=401, headers={"WWW-Authenticate": challenge})


@web.middleware
async def authenticate(request: web.Request, handler: Handler) -> web.StreamResponse:
    state = _state(request)
    header = request.headers.get("Authorization")
    if header is None:
        return _unauthorized(None)
    scheme, _, credentials = header.strip().partition(" ")
    token = state.token
    if (
        scheme.lower() != "bearer"
        or token is None
        or not hmac.compare_digest(credentials.strip().encode(), token.encode())
    ):
        return _unauthorized("invalid_token")
    if state.options.forbidden:
        return problem(request, 403, "The token does not grant access to segments.")
    return await handler(request)


@web.middleware
async def rate_limit(request: web.Request, handler: Handler) -> web.StreamResponse:
    state = _state(request)
    bucket = state.bucket
    if bucket is not None:
        limit = state.options.rate_limit
        if limit.late_every:
            state.bucket_arrivals += 1
            if state.bucket_arrivals % limit.late_every == 0:
                await state.pause(limit.late_ms / 1000.0)  # the server was busy
        wait_s = bucket.acquire()
        if wait_s > 0:
            state.counters.fault("rate_limited")
            return problem(
                request,
                429,
                "Too many requests. Slow down and retry after the time in Retry-After.",
                headers={"Retry-After": retry_after_header(wait_s)},
            )
    return await handler(request)


def reset_connection(request: web.Request) -> None:
    """Drop the TCP connection with an RST, so the client sees "connection reset by peer"."""
    transport = request.transport
    if transport is None:
        return
    sock = transport.get_extra_info("socket")
    if sock is not None:
        # Linger on, timeout 0: close() sends RST instead of a polite FIN.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    transport.abort()
    request[_RESET_KEY] = True


async def endless_answer(
    request: web.Request, options: FaultOptions, *, drip: bool
) -> web.StreamResponse:
    """A 200 whose JSON body is huge (fast) or drips (one byte at a time); the store is untouched.

    It ends when the client hangs up (the write fails) or the body is complete.
    """
    response = web.StreamResponse(status=200, headers={"Content-Type": "application/json"})
    await response.prepare(request)
    try:
        if drip:
            for _ in range(int(options.drip_s / options.drip_interval_s)):
                await response.write(b" ")
                await asyncio.sleep(options.drip_interval_s)
        else:
            chunk = b" " * (1 << 20)
            for _ in range(int(options.huge_body_mib)):
                await response.write(chunk)
        await response.write(b"{}")
        await response.write_eof()
    except (ConnectionError, RuntimeError):
        pass  # the client stopped reading: that is the point
    return response


@web.middleware
async def inject_faults(request: web.Request, handler: Handler) -> web.StreamResponse:
    if request.match_info.route.name not in SEGMENT_ROUTES:
        return await handler(request)
    state = _state(request)
    plan = state.faults.plan(request.method)
    if plan.delay_s > 0:
        await asyncio.sleep(plan.delay_s)
    if plan.kind is None:
        return await handler(request)
    if plan.kind == faults.RESET:
        state.counters.fault(plan.kind)
        reset_connection(request)
        # Nothing can be written any more; aiohttp drops this response quietly.
        return web.Response(status=500)
    if plan.kind == faults.STALL:
        state.counters.fault(plan.kind)
        await request.read()  # take the whole request first: a stalled PUT is applied late
        await state.pause(plan.stall_s)
        return await handler(request)
    if plan.kind == faults.UNAVAILABLE:
        state.counters.fault(plan.kind)
        return problem(request, 503, "The service is temporarily unavailable (injected).")
    if plan.kind == faults.THROTTLED:
        state.counters.fault(plan.kind)
        return problem(
            request,
            429,
            "Too many requests (injected).",
            headers={"Retry-After": str(plan.retry_after_s)},
        )
    if plan.kind in (faults.HUGE_BODY, faults.DRIP):
        state.counters.fault(plan.kind)
        return await endless_answer(request, state.faults.options, drip=plan.kind == faults.DRIP)
    response = await handler(request)  # FAIL_AFTER_WRITE: the write happens, the answer fails
    if response.status != 200:
        return response
    state.counters.fault(plan.kind)
    return problem(request, 500, "An unexpected error occurred after the change was saved.")
