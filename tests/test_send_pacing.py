"""Pacing is counted where it matters: the moment a request is written to the wire.

A connection that takes long to open (TCP, TLS) delays its request; if the slot were taken
before the connection, the next request on a connection that is already open would go out less
than an interval after it, and a burst-1 server refuses one of them. These tests put a network
backend under httpx that opens some connections slowly and records the instant each request's
first bytes are written, then send concurrent requests to the sandbox from a fresh client.
"""

from __future__ import annotations

import asyncio
import itertools
import ssl
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import httpcore
import httpx
import pytest

from segsync.api.limiter import RateLimiter
from segsync.sandbox import Sandbox
from tests.helpers import raise_client, settings_for

RATE = 20.0


class RecordingStream(httpcore.AsyncNetworkStream):
    """A real stream that notes when each request's first bytes (its request line) go out."""

    def __init__(self, inner: httpcore.AsyncNetworkStream, writes: list[float]) -> None:
        self._inner = inner
        self._writes = writes

    async def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return await self._inner.read(max_bytes, timeout)

    async def write(self, buffer: bytes, timeout: float | None = None) -> None:
        if buffer.startswith((b"GET ", b"PUT ")):
            self._writes.append(time.monotonic())
        await self._inner.write(buffer, timeout)

    async def aclose(self) -> None:
        await self._inner.aclose()

    async def start_tls(
        self,
        ssl_context: ssl.SSLContext,
        server_hostname: str | None = None,
        timeout: float | None = None,
    ) -> httpcore.AsyncNetworkStream:
        return await self._inner.start_tls(ssl_context, server_hostname, timeout)

    def get_extra_info(self, info: str) -> Any:
        return self._inner.get_extra_info(info)


class SlowConnections(httpcore.AsyncNetworkBackend):
    """Opens the n-th connection after ``delays[n]`` seconds; records every request's write."""

    def __init__(self, delays: Iterable[float]) -> None:
        self._inner = httpcore.AnyIOBackend()
        self._delays = iter(delays)
        self.writes: list[float] = []

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Any = None,
    ) -> httpcore.AsyncNetworkStream:
        await asyncio.sleep(next(self._delays, 0.0))
        stream = await self._inner.connect_tcp(host, port, timeout, local_address, socket_options)
        return RecordingStream(stream, self.writes)

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)


def transport_over(backend: SlowConnections, connections: int) -> httpx.AsyncHTTPTransport:
    transport = httpx.AsyncHTTPTransport()
    # httpx has no public switch for the network backend; its pool takes one
    transport._pool = httpcore.AsyncConnectionPool(
        max_connections=connections, network_backend=backend
    )
    return transport


def write_gaps(
    sandbox: Sandbox, tmp_path: Path, delays: list[float], *, gate_at_write: bool = True
) -> list[float]:
    backend = SlowConnections(delays)
    settings = settings_for(sandbox, tmp_path, **{"rate_limit.max_concurrency": 4})
    ids = [s["id"] for s in sandbox.segments()[:12]]

    async def main() -> None:
        client = raise_client(
            sandbox.base_url,
            sandbox.token or "",
            settings=settings,
            transport=transport_over(backend, 4),
            limiter=RateLimiter(RATE, 1),
        )
        if not gate_at_write:
            client._exchange._traced = False  # the slot taken before the connection (as before)
        async with client:
            queue = list(ids)

            async def worker() -> None:
                while queue:
                    assert await client.get_segment(queue.pop()) is not None

            await asyncio.gather(*(worker() for _ in range(4)))

    asyncio.run(main())
    assert len(backend.writes) == len(ids)
    return [b - a for a, b in itertools.pairwise(sorted(backend.writes))]


#: the first connection takes 120 ms to open (a TLS handshake far away), the others are quick
DELAYS = [0.12, 0.0, 0.0, 0.0]


def test_a_slow_connection_does_not_squeeze_two_writes_together(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    gaps = write_gaps(sandbox, tmp_path, DELAYS)
    assert min(gaps) >= 1 / RATE * 0.98  # the headroom aside, one whole interval


def test_the_slot_taken_before_the_connection_would_squeeze_them(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    """The same requests paced before the connection: the check above is not vacuous."""
    gaps = write_gaps(sandbox, tmp_path, DELAYS, gate_at_write=False)
    assert min(gaps) < 1 / RATE * 0.7


@pytest.mark.parametrize("delays", [[0.0] * 4, [0.07, 0.03, 0.11, 0.0]])
def test_writes_stay_one_interval_apart_whatever_the_connections_cost(
    sandbox: Sandbox, tmp_path: Path, delays: list[float]
) -> None:
    gaps = write_gaps(sandbox, tmp_path, delays)
    assert min(gaps) >= 1 / RATE * 0.98
