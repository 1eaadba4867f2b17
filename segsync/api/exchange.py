"""One HTTP exchange with the API, and the record of every exchange a run made.

The bottom layer of the client, as httpx layers its own: it sends one request and reports what
came back (a response, or a sentence naming the host when nothing did); it never retries and
never decides what an answer means. The transport is the seam tests and the sandbox replace.
"""

from __future__ import annotations

import time
from collections import Counter
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


@dataclass(frozen=True)
class Attempt:
    """What one exchange gave: a response, or (``response`` None) why none arrived."""

    response: httpx.Response | None
    error: str | None = None

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
        self, kind: str, method: str, path: str, *, params: Any = None, json_body: Any = None
    ) -> Attempt:
        """One request; network failures become an ``Attempt`` with a sentence, not a raise."""
        try:
            response = await self._http.request(method, path, params=params, json=json_body)
        except (httpx.TimeoutException, httpx.NetworkError, httpx.RemoteProtocolError) as exc:
            self.log.record(kind, None)
            return Attempt(None, self._network_error(exc))
        self.log.record(kind, response.status_code)
        return Attempt(response)

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
