"""The Raise segment API over one ``httpx.AsyncClient``: auth, GET/list/PUT, errors, retries.

Every request, GET or PUT, waits for the run's shared ``RateLimiter`` first and goes through the
``RetryPolicy``. A 401/403 trips ``abort`` so that no further request leaves this client: retrying
a refused token only locks accounts, and at most the requests already in flight are answered
after it. A request that got no answer fails naming the host and the attempts made
("could not connect to host:port (ConnectError: ...) after 5 attempts"): "which server did
it try?" is the first question when a run cannot connect. The transport is a constructor
argument: that is the seam tests and the embedded sandbox can replace.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import httpx

from segsync.api.limiter import RateLimiter
from segsync.api.retry import Disposition, RetryPolicy, classify, parse_retry_after
from segsync.config import Settings
from segsync.errors import ApiError, FatalApiError, PermanentApiError, RunAborted, TransientApiError
from segsync.model import Segment, SegmentRequest
from segsync.secrets import redact

log = logging.getLogger(__name__)

#: called after every attempt: (kind, attempt number, HTTP status or None, error text or None)
AttemptHook = Callable[[str, int, int | None, str | None], None]


@dataclass
class RequestLog:
    """What this client sent: counts by kind and status, and the span of the network phase."""

    requests: Counter[str] = field(default_factory=Counter)
    statuses: Counter[int] = field(default_factory=Counter)
    first_at: float | None = None
    last_at: float | None = None

    def record(self, kind: str, status: int | None) -> None:
        now = time.monotonic()
        self.first_at = self.first_at if self.first_at is not None else now
        self.last_at = now
        self.requests[kind] += 1
        if status is not None:
            self.statuses[status] += 1

    @property
    def span_s(self) -> float:
        if self.first_at is None or self.last_at is None:
            return 0.0
        return self.last_at - self.first_at


@dataclass(frozen=True)
class Page:
    items: list[Segment]
    total: int


def problem_message(response: httpx.Response) -> tuple[str, dict[str, list[str]]]:
    """A readable sentence from a ProblemDetails body (or the status text when it is not JSON)."""
    status_text = f"HTTP {response.status_code} {response.reason_phrase}".strip()
    try:
        body = response.json()
    except (json.JSONDecodeError, UnicodeDecodeError, ValueError):
        body = None
    if not isinstance(body, dict):
        text = redact(response.text.strip()[:200]) if response.content else ""
        return (f"{status_text}: {text}" if text else status_text), {}
    errors = body.get("errors") if isinstance(body.get("errors"), dict) else {}
    field_errors = {
        str(k).removeprefix("$."): [str(m) for m in (v if isinstance(v, list) else [v])]
        for k, v in (errors or {}).items()
    }
    parts = [str(body.get("detail") or body.get("title") or status_text)]
    parts += [f"{name}: {' '.join(msgs)}" for name, msgs in field_errors.items()]
    return redact(" ".join(p.rstrip(".") + "." for p in parts if p)), field_errors


class RaiseClient:
    """Async client for the segment endpoints of one organisation's API."""

    def __init__(
        self,
        settings: Settings,
        base_url: str,
        token: str,
        limiter: RateLimiter,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        policy: RetryPolicy | None = None,
    ) -> None:
        self.settings = settings
        self.limiter = limiter
        self.policy = policy or RetryPolicy(settings.retries)
        self.log = RequestLog()
        #: set on 401/403, or by the caller to stop every further request (graceful stop)
        self.abort = asyncio.Event()
        self.abort_reason: str | None = None
        api = settings.api
        concurrency = settings.rate_limit.max_concurrency
        self._http = httpx.AsyncClient(
            base_url=base_url.rstrip("/"),
            headers={"Authorization": f"Bearer {token}", "Accept": "application/json"},
            timeout=httpx.Timeout(api.timeout_s, connect=api.connect_timeout_s),
            limits=httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency),
            verify=str(api.ca_bundle) if api.ca_bundle else True,
            transport=transport,
            follow_redirects=False,
        )

    async def __aenter__(self) -> RaiseClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._http.aclose()

    def stop(self, reason: str) -> None:
        """Refuse every request not yet sent (the run is stopping)."""
        if not self.abort.is_set():
            self.abort_reason = reason
            self.abort.set()

    # -- endpoints -------------------------------------------------------------------------

    async def get_segment(self, segment_id: int) -> Segment | None:
        """The segment, or None when the API answers 404."""
        path = self.settings.api.paths.segment.format(id=segment_id)
        try:
            body, _ = await self._send("GET", "GET", path)
        except PermanentApiError as exc:
            if exc.status == 404:
                return None
            raise
        return _segment(body, "GET")

    async def list_page(
        self, skip: int, take: int, campaign_ids: Iterable[int] | None = None
    ) -> Page:
        params: list[tuple[str, str | int]] = [
            ("Skip", skip),
            ("Take", take),
            ("SortBy", "id"),
            ("Descending", "false"),
        ]
        params += [(self.settings.api.list_campaign_param, c) for c in campaign_ids or ()]
        body, _ = await self._send(
            "GET list", "GET", self.settings.api.paths.segment_list, params=params
        )
        if not isinstance(body, dict) or not isinstance(body.get("items"), list):
            raise PermanentApiError(
                "The segment list endpoint did not answer with {items, total}.", status=200
            )
        items = [_segment(item, "list") for item in body["items"]]
        total = body.get("total")
        return Page(items, int(total) if isinstance(total, int) else len(items))

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
        path = self.settings.api.paths.segment.format(id=segment_id)
        body, attempts = await self._send(
            "PUT",
            "PUT",
            path,
            json_body=request.to_json(),
            on_attempt=on_attempt,
            on_send=on_send,
        )
        if body in ({}, None):
            return None, attempts
        return _segment(body, "PUT"), attempts

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
        started = time.monotonic()
        attempts = 0
        last_status: int | None = None
        last_error = ""
        while True:
            await self.limiter.acquire(self.abort)
            if self.abort.is_set():
                reason = self.abort_reason or "the run was stopped"
                if attempts:
                    # an earlier attempt may have reached the server: the state is unknown
                    raise TransientApiError(
                        f"{last_error} (not retried: {reason})",
                        status=last_status,
                        attempts=attempts,
                    )
                raise RunAborted(reason)
            attempts += 1
            if on_send:
                on_send()
            response: httpx.Response | None = None
            try:
                response = await self._http.request(method, path, params=params, json=json_body)
            except (httpx.TimeoutException, httpx.NetworkError, httpx.RemoteProtocolError) as exc:
                error = self._network_error(exc)
                status = None
            else:
                status = response.status_code
                error = None
            self.log.record(kind, status)
            disposition = classify(status, method)
            if disposition is Disposition.SUCCESS and response is not None:
                if on_attempt:
                    on_attempt(kind, attempts, status, None)
                return _json_or_empty(response), attempts

            retry_after = None
            field_errors: dict[str, list[str]] = {}
            if response is not None:
                error, field_errors = problem_message(response)
                retry_after = parse_retry_after(response.headers.get("Retry-After"))
                if retry_after is not None:
                    retry_after = min(retry_after, self.policy.settings.retry_after_cap_s)
                if status == 429:
                    self.limiter.throttled(retry_after)
            last_status, last_error = status, error or "no answer"
            if on_attempt:
                on_attempt(kind, attempts, status, error)

            if disposition is Disposition.FATAL:
                reason = self._auth_refused_reason(status)
                self.stop(reason)
                raise FatalApiError(reason, status=status, attempts=attempts)
            elapsed = time.monotonic() - started
            if not self.policy.may_retry(disposition, attempts, elapsed):
                cls: type[ApiError] = (
                    PermanentApiError if disposition is Disposition.PERMANENT else TransientApiError
                )
                message = error or "no answer"
                if status is None:
                    message = f"{message} after {_attempts(attempts)}"
                elif cls is TransientApiError and attempts > 1:
                    message = f"{message} (gave up after {attempts} attempts)"
                raise cls(message, status=status, attempts=attempts, field_errors=field_errors)
            remaining = self.policy.settings.max_total_s - elapsed
            delay = min(self.policy.delay(attempts, retry_after), max(0.0, remaining))
            log.debug("%s %s: %s; retrying in %.2fs", method, path, error, delay)
            if delay > 0:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self.abort.wait(), timeout=delay)

    def _network_error(self, exc: httpx.HTTPError) -> str:
        """What went wrong on the wire, naming the host: the first thing an operator checks.

        e.g. "could not connect to 127.0.0.1:8765 (ConnectError: [Errno 111] Connection
        refused)"; the caller adds the attempts. Redacted, like all text leaving the client.
        """
        where = _host_port(self._http.base_url)
        detail = f"{type(exc).__name__}: {exc}".rstrip(": ")
        api = self.settings.api
        if isinstance(exc, httpx.ConnectTimeout):
            text = f"could not connect to {where} within {api.connect_timeout_s:g}s ({detail})"
        elif isinstance(exc, httpx.ConnectError):
            text = f"could not connect to {where} ({detail})"
        elif isinstance(exc, httpx.PoolTimeout):
            text = f"no free connection to {where} within {api.timeout_s:g}s ({detail})"
        elif isinstance(exc, httpx.TimeoutException):
            text = f"no answer from {where} within {api.timeout_s:g}s ({detail})"
        else:
            text = f"the connection to {where} failed ({detail})"
        return redact(text)

    def _auth_refused_reason(self, status: int | None) -> str:
        env = self.settings.api.token_env
        if status == 403:
            return (
                "The API refused permission (HTTP 403): the token in "
                f"{env} is valid but may not change segments of this organisation."
            )
        return (
            "The API refused the token (HTTP 401): check that "
            f"{env} holds a current token for this organisation (tokens expire and can be revoked)."
        )


def _host_port(url: httpx.URL) -> str:
    """``host:port`` of ``url``, the port spelled out even when it is the scheme's default."""
    host = f"[{url.host}]" if ":" in url.host else url.host
    port = url.port or {"https": 443, "http": 80}.get(url.scheme)
    return f"{host}:{port}" if port else host


def _attempts(n: int) -> str:
    return f"{n} attempt" if n == 1 else f"{n} attempts"


def _segment(body: Any, what: str) -> Segment:
    if not isinstance(body, dict) or not isinstance(body.get("id"), int):
        raise PermanentApiError(
            f"The API's {what} answer is not a segment (no integer id).", status=200
        )
    return Segment.from_api(body)


def _json_or_empty(response: httpx.Response) -> Any:
    if not response.content:
        return {}
    try:
        return response.json()
    except (json.JSONDecodeError, UnicodeDecodeError, ValueError) as exc:
        raise PermanentApiError(
            f"The API answered HTTP {response.status_code} with a body that is not JSON.",
            status=response.status_code,
        ) from exc
