"""One HTTP exchange with the API, and the record of every exchange a run made.

The bottom layer of the client, as httpx layers its own: it sends one request and reports what
came back (a response, or a sentence naming the host when nothing did); it never retries and
never decides what an answer means. The transport is the seam tests and the sandbox replace.

Pacing happens here, at the moment the request is written: the ``gate`` (the rate limiter) is
awaited from httpcore's ``trace`` hook once the connection is up, so the time a new connection
takes to open (TCP, TLS) cannot squeeze two requests closer together at the server. A transport
that is not httpcore's (tests' mock transports) is gated just before the request instead.

Every answer is bounded: at most ``api.max_body_mib`` of body (counted after decompression) and
at most ``api.request_deadline_s`` from the write to the last byte. Either ends the request as
a transient failure with a sentence, so a huge or dripping answer cannot hang a run or its lock.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import httpx

from segsync.config import ApiSettings
from segsync.secrets import redact


@dataclass
class RequestLog:
    """What a client sent: counts by kind and status, and the span of the network phase."""

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


#: awaited right before a request is written; raises ``NotSent`` to send nothing
Gate = Callable[[], Awaitable[None]]
#: the httpcore trace events that mean "the request is about to be written", and "written"
_WRITE_EVENTS = frozenset(
    {"http11.send_request_headers.started", "http2.send_request_headers.started"}
)
_WRITTEN_EVENTS = frozenset(
    {"http11.send_request_headers.complete", "http2.send_request_headers.complete"}
)
_ANSWERED_EVENTS = frozenset(
    {"http11.receive_response_headers.complete", "http2.receive_response_headers.complete"}
)


def _status(headers: Any) -> int | None:
    """The status in httpcore's "response headers received" trace value (HTTP/1.1 and 2)."""
    if isinstance(headers, tuple):
        return next((v for v in headers if isinstance(v, int)), None)
    return None


class NotSent(Exception):
    """Raised by a gate: the run is stopping, this request must not be written."""


class _TooBig(Exception):
    pass


@dataclass(frozen=True)
class Attempt:
    """What one exchange gave: a response, or (``response`` None) why none arrived.

    ``sent`` is False when the gate refused to send (the run is stopping): nothing was written.
    """

    response: httpx.Response | None
    error: str | None = None
    sent: bool = True

    @property
    def status(self) -> int | None:
        return self.response.status_code if self.response is not None else None


class Exchange:
    """Sends single requests over one keep-alive ``httpx.AsyncClient``."""

    def __init__(
        self,
        api: ApiSettings,
        base_url: str,
        token: str,
        *,
        concurrency: int,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self._api = api
        self.log = RequestLog()
        #: httpcore calls the trace hook; any other transport is gated before the request
        self._traced = transport is None or isinstance(transport, httpx.AsyncHTTPTransport)
        self._max_body = int(api.max_body_mib * 1024 * 1024)
        self._http = httpx.AsyncClient(
            base_url=base_url.rstrip("/"),
            headers={"Authorization": f"Bearer {token}", "Accept": "application/json"},
            timeout=httpx.Timeout(api.timeout_s, connect=api.connect_timeout_s),
            limits=httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency),
            verify=str(api.ca_bundle) if api.ca_bundle else True,
            transport=transport,
            follow_redirects=False,
        )

    @property
    def host(self) -> str:
        """``host:port`` of the API, the port spelled out even when it is the default."""
        url = self._http.base_url
        host = f"[{url.host}]" if ":" in url.host else url.host
        port = url.port or {"https": 443, "http": 80}.get(url.scheme)
        return f"{host}:{port}" if port else host

    async def send(
        self,
        kind: str,
        method: str,
        path: str,
        *,
        params: Any = None,
        json_body: Any = None,
        gate: Gate | None = None,
        written: Callable[[], float | None] | None = None,
        answered: Callable[[float, int | None], None] | None = None,
    ) -> Attempt:
        """One request; network failures become an ``Attempt`` with a sentence, not a raise.

        ``gate`` is awaited right before the request is written, ``written`` called once it is
        (or once writing it failed: some of it may have gone out); it returns the write's time,
        which ``answered`` is given, with the answer's status, once the answer's headers are in.
        """
        loop = asyncio.get_running_loop()
        deadline_s = self._api.request_deadline_s
        gated = gate is None
        unconfirmed = False
        stamp: float | None = None
        scope = asyncio.timeout(None)

        def confirm() -> None:
            nonlocal unconfirmed, stamp
            if unconfirmed:
                unconfirmed = False
                if written is not None:
                    stamp = written()

        try:
            async with scope:

                async def pass_gate() -> None:
                    nonlocal gated, unconfirmed
                    if not gated:
                        gated = True
                        if gate is not None:
                            await gate()
                            unconfirmed = True
                        # the deadline runs from the write, not from the wait for a slot
                        scope.reschedule(loop.time() + deadline_s)

                async def trace(event: str, info: dict[str, Any]) -> None:
                    if event in _WRITE_EVENTS:
                        await pass_gate()
                    elif event in _WRITTEN_EVENTS:
                        confirm()
                    elif event in _ANSWERED_EVENTS and answered is not None and stamp is not None:
                        answered(stamp, _status(info.get("return_value")))

                if not self._traced:
                    await pass_gate()
                    confirm()
                response = await self._exchange(method, path, params, json_body, trace)
                if not gated:
                    # a transport that answered without writing (a test's canned answer):
                    # the slot is taken all the same, so the accounting stays whole
                    with contextlib.suppress(NotSent):
                        await pass_gate()
                        confirm()
        except NotSent as exc:
            return Attempt(None, str(exc) or "not sent", sent=False)
        except (
            httpx.TimeoutException,
            httpx.NetworkError,
            httpx.RemoteProtocolError,
            httpx.DecodingError,
        ) as exc:
            self.log.record(kind, None)
            return Attempt(None, self._network_error(exc))
        except _TooBig:
            self.log.record(kind, None)
            return Attempt(None, self._too_big())
        except TimeoutError:
            if not scope.expired():
                raise
            self.log.record(kind, None)
            return Attempt(None, self._too_slow())
        finally:
            confirm()  # whatever happened after the gate, the slot is not left open
        self.log.record(kind, response.status_code)
        return Attempt(response)

    async def _exchange(
        self,
        method: str,
        path: str,
        params: Any,
        json_body: Any,
        trace: Callable[[str, dict[str, Any]], Awaitable[None]],
    ) -> httpx.Response:
        """Send, then read the answer's body up to the cap; the whole answer, read."""
        request = self._http.build_request(
            method, path, params=params, json=json_body, extensions={"trace": trace}
        )
        streamed = await self._http.send(request, stream=True)
        try:
            declared = streamed.headers.get("Content-Length", "")
            if declared.isdigit() and int(declared) > self._max_body:
                raise _TooBig
            chunks, size = [], 0
            async for chunk in streamed.aiter_bytes():
                size += len(chunk)
                if size > self._max_body:
                    raise _TooBig
                chunks.append(chunk)
        finally:
            await streamed.aclose()
        # the body is already decoded: the copy must not claim an encoding or a length
        headers = httpx.Headers(
            [
                (k, v)
                for k, v in streamed.headers.multi_items()
                if k.lower() not in ("content-encoding", "content-length", "transfer-encoding")
            ]
        )
        return httpx.Response(
            streamed.status_code, headers=headers, content=b"".join(chunks), request=request
        )

    def _too_big(self) -> str:
        cap = self._api.max_body_mib
        return (
            f"the answer from {self.host} was larger than {cap:g} MiB and was not read further "
            "(api.max_body_mib)"
        )

    def _too_slow(self) -> str:
        deadline = self._api.request_deadline_s
        return (
            f"no complete answer from {self.host} within {deadline:g}s of sending "
            "(api.request_deadline_s)"
        )

    def _network_error(self, exc: httpx.HTTPError) -> str:
        """What went wrong on the wire, naming the host: the first thing an operator checks."""
        where = self.host
        detail = f"{type(exc).__name__}: {exc}".rstrip(": ")
        api = self._api
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

    async def aclose(self) -> None:
        await self._http.aclose()
