"""The Raise segment endpoints (GET, list, PUT) with pacing, retries and the run's stop switch.

Three layers, as httpx layers its own: ``Exchange`` sends one request; ``retry.classify`` says
what an answer means; the retry loop here waits for the shared ``RateLimiter``, retries what is
safe and transient, feeds 429s back to the limiter, and on 401/403 stops the whole run through
its ``RunControl`` (retrying a refused token only locks accounts).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, NoReturn

import httpx

from segsync.api.answers import Page, json_or_empty, page_from, problem_message, segment_from
from segsync.api.exchange import Attempt, Exchange, NotSent
from segsync.api.limiter import RateLimiter
from segsync.api.retry import Disposition, RetryPolicy, classify, parse_retry_after
from segsync.config import ApiSettings, RetrySettings
from segsync.engine.runcontrol import RunControl
from segsync.errors import ApiError, FatalApiError, PermanentApiError, RunAborted, TransientApiError
from segsync.model import Segment, SegmentRequest

__all__ = ["AttemptHook", "ClientReport", "Page", "RaiseClient"]

log = logging.getLogger(__name__)

#: called after every attempt: (kind, attempt number, HTTP status or None, error text or None)
AttemptHook = Callable[[str, int, int | None, str | None], None]


@dataclass(frozen=True)
class ClientReport:
    """What the client did, for the run's result: requests, statuses, pace."""

    requests: Counter[str]
    statuses: Counter[int]
    network_seconds: float
    #: the lowest rate an adaptive slow-down reached, or None when it never slowed down
    lowest_rate: float | None


@dataclass(frozen=True)
class _Verdict:
    """What one failed attempt means: how to go on, and the words to report."""

    disposition: Disposition
    error: str
    field_errors: dict[str, list[str]]
    retry_after: float | None


class RaiseClient:
    """Async client for the segment endpoints of one organisation's API."""

    def __init__(
        self,
        api: ApiSettings,
        retries: RetrySettings,
        base_url: str,
        token: str,
        limiter: RateLimiter,
        control: RunControl,
        *,
        concurrency: int,
        transport: httpx.AsyncBaseTransport | None = None,
        policy: RetryPolicy | None = None,
    ) -> None:
        self.api = api
        self.limiter = limiter
        self.control = control
        self.policy = policy or RetryPolicy(retries)
        self._exchange = Exchange(
            api, base_url, token, concurrency=concurrency, transport=transport
        )
        #: the lowest rate this client's requests were sent at (the limiter may be shared)
        self._lowest_rate = limiter.target

    async def __aenter__(self) -> RaiseClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._exchange.aclose()

    def report(self) -> ClientReport:
        request_log = self._exchange.log
        lowest = self._lowest_rate
        return ClientReport(
            requests=Counter(request_log.requests),
            statuses=Counter(request_log.statuses),
            network_seconds=request_log.span_s,
            lowest_rate=lowest if lowest < self.limiter.target else None,
        )

    # -- endpoints -------------------------------------------------------------------------

    async def get_segment(self, segment_id: int) -> Segment | None:
        """The segment, or None when the API answers 404."""
        path = self.api.paths.segment.format(id=segment_id)
        try:
            body, _ = await self._send("GET", "GET", path)
        except PermanentApiError as exc:
            if exc.status == 404:
                return None
            raise
        return segment_from(body, "GET")

    async def list_page(
        self, skip: int, take: int, campaign_ids: Iterable[int] | None = None
    ) -> Page:
        params: list[tuple[str, str | int]] = [
            ("Skip", skip),
            ("Take", take),
            ("SortBy", "id"),
            ("Descending", "false"),
        ]
        params += [(self.api.list_campaign_param, c) for c in campaign_ids or ()]
        body, _ = await self._send("GET list", "GET", self.api.paths.segment_list, params=params)
        return page_from(body)

    async def campaign_page(self, skip: int, take: int) -> dict[str, Any]:
        """One page of the campaign list (``{items: [{id, name}], total}``), as the server sent
        it; the checks before a move read it (see ``segsync/plan/server_checks.py``)."""
        params: list[tuple[str, str | int]] = [("Skip", skip), ("Take", take)]
        body, _ = await self._send("GET list", "GET", self.api.paths.campaign_list, params=params)
        if not isinstance(body, dict) or not isinstance(body.get("items"), list):
            raise PermanentApiError(
                "The campaign list endpoint did not answer with {items, total}.", status=200
            )
        return body

    async def put_segment(
        self,
        segment_id: int,
        request: SegmentRequest,
        on_attempt: AttemptHook | None = None,
        on_send: Callable[[], None] | None = None,
    ) -> tuple[Segment | None, int]:
        """Replace the segment; returns the API's answer and the number of attempts.

        The answer is None when the API confirmed without a body (the documented 204): the
        write happened, there is just nothing to compare or report from.
        """
        path = self.api.paths.segment.format(id=segment_id)
        body, attempts = await self._send(
            "PUT", "PUT", path, json_body=request.to_json(), on_attempt=on_attempt, on_send=on_send
        )
        if body in ({}, None):
            return None, attempts
        return segment_from(body, "PUT"), attempts

    # -- the retry loop ----------------------------------------------------------------------

    async def _send(
        self,
        kind: str,
        method: str,
        path: str,
        *,
        params: Any = None,
        json_body: Any = None,
        on_attempt: AttemptHook | None = None,
        on_send: Callable[[], None] | None = None,
    ) -> tuple[Any, int]:
        """Send until success, a permanent answer, a stop, or the retry budget runs out."""
        started = time.monotonic()
        attempts = put_500s = 0
        last: _Verdict | None = None
        last_status: int | None = None

        async def gate() -> None:
            """Right before the write: the limiter's slot, then a last look at the stop switch."""
            took = await self.limiter.acquire(self.control.event, confirm=True)
            if self.control.stopped:
                if took:
                    self.limiter.sent()  # nothing goes out: free this run's slot at once
                raise NotSent(self.control.reason or "the run was stopped")
            self._lowest_rate = min(self._lowest_rate, self.limiter.rate)
            if on_send:
                on_send()

        while True:
            await self._wait_for_slot(attempts, last, last_status)
            attempt = await self._exchange.send(
                kind,
                method,
                path,
                params=params,
                json_body=json_body,
                gate=gate,
                written=lambda: self.limiter.sent(kind),
                answered=lambda stamp, status: self.limiter.answered(stamp, kind, status),
            )
            if not attempt.sent:
                self._refuse(attempts, last, last_status)
            attempts += 1
            if attempt.response is not None and classify(attempt.status, method) is (
                Disposition.SUCCESS
            ):
                if on_attempt:
                    on_attempt(kind, attempts, attempt.status, None)
                return json_or_empty(attempt.response), attempts
            last, last_status = self._judge(attempt, method), attempt.status
            if on_attempt:
                on_attempt(kind, attempts, attempt.status, last.error)
            self._feed_back(last, attempt.status, attempts)
            put_500s += last.disposition is Disposition.RETRY_PUT
            delay = self._next_delay(last, attempt.status, attempts, put_500s, started)
            log.debug("%s %s: %s; retrying in %.2fs", method, path, last.error, delay)
            if delay > 0:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self.control.event.wait(), timeout=delay)

    async def _wait_for_slot(
        self, attempts: int, last: _Verdict | None, last_status: int | None
    ) -> None:
        """Wait out any pause of the shared limiter; refuse to send once the run is stopping.

        The slot itself is taken at the write (``gate``); waiting for pauses here keeps a
        connection from sitting idle through a long ``Retry-After``.
        """
        await self.limiter.ready(self.control.event)
        if self.control.stopped:
            self._refuse(attempts, last, last_status)

    def _refuse(self, attempts: int, last: _Verdict | None, last_status: int | None) -> NoReturn:
        """Nothing more is sent: the run is stopping."""
        reason = self.control.reason or "the run was stopped"
        if attempts and last is not None:
            # an earlier attempt may have reached the server: the state is unknown
            raise TransientApiError(
                f"{last.error} (not retried: {reason})", status=last_status, attempts=attempts
            )
        raise RunAborted(reason)

    def _judge(self, attempt: Attempt, method: str) -> _Verdict:
        """Classify a failed attempt and put it in words (ProblemDetails when there is one)."""
        disposition = classify(attempt.status, method)
        if attempt.response is None:
            return _Verdict(disposition, attempt.error or "no answer", {}, None)
        error, field_errors = problem_message(attempt.response)
        retry_after = parse_retry_after(attempt.response.headers.get("Retry-After"))
        if retry_after is not None:
            retry_after = min(retry_after, self.policy.settings.retry_after_cap_s)
        return _Verdict(disposition, error, field_errors, retry_after)

    def _feed_back(self, verdict: _Verdict, status: int | None, attempts: int) -> None:
        """A 429 slows the whole run; a 401/403 stops it."""
        if status == 429:
            self.limiter.throttled(verdict.retry_after)
        if verdict.disposition is Disposition.FATAL:
            reason = self._auth_refused_reason(status)
            self.control.stop(reason)
            raise FatalApiError(reason, status=status, attempts=attempts)

    def _next_delay(
        self, verdict: _Verdict, status: int | None, attempts: int, put_500s: int, started: float
    ) -> float:
        """Seconds before the next attempt, or the error to raise when none is allowed."""
        elapsed = time.monotonic() - started
        if not self.policy.may_retry(verdict.disposition, attempts, elapsed, put_500s=put_500s):
            permanent = verdict.disposition is Disposition.PERMANENT
            cls: type[ApiError] = PermanentApiError if permanent else TransientApiError
            message = verdict.error
            if status is None:
                message = f"{message} after {attempts} attempt{'s' if attempts != 1 else ''}"
            elif not permanent and attempts > 1:
                message = f"{message} (gave up after {attempts} attempts)"
            raise cls(message, status=status, attempts=attempts, field_errors=verdict.field_errors)
        remaining = self.policy.settings.max_total_s - elapsed
        return min(self.policy.delay(attempts, verdict.retry_after), max(0.0, remaining))

    def _auth_refused_reason(self, status: int | None) -> str:
        env = self.api.token_env
        if status == 403:
            return (
                "The API refused permission (HTTP 403): the token in "
                f"{env} is valid but may not change segments of this organisation."
            )
        return (
            "The API refused the token (HTTP 401): check that "
            f"{env} holds a current token for this organisation (tokens expire and can be revoked)."
        )
