"""What the sandbox saw, readable from the test thread while the server thread writes.

Tests and benchmarks assert on the server's view (did the client keep to its rate? how many PUTs
did each id cost? did it ever run more than N requests at once?) rather than trusting the client's
own bookkeeping. Every request that reaches the app is counted, including 401s and 429s, and
recorded in ``arrivals`` with the moment it arrived and was answered, so a test can check the
gaps between sends and that nothing came before a ``Retry-After`` had passed.
"""

from __future__ import annotations

import threading
import time
from collections import Counter, defaultdict, deque
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True, slots=True)
class Arrival:
    """One request as the server saw it, in ``time.monotonic()`` seconds (this process's clock)."""

    at: float
    method: str
    #: the segment id a PUT named (None for other requests)
    put_id: int | None
    #: when the answer was handed back (None while in flight)
    answered_at: float | None = None
    #: the HTTP status (None for a connection reset or while in flight)
    status: int | None = None
    #: the ``Retry-After`` header the answer carried, as sent
    retry_after: str | None = None


@dataclass(frozen=True, slots=True)
class CounterSnapshot:
    """A plain copy of the counters at one instant."""

    #: ``(method, status)`` → requests; status is None for a connection reset.
    requests: dict[tuple[str, int | None], int] = field(default_factory=dict)
    #: Segment id → PUT requests that named it (any outcome, including 401/429/faults).
    puts_by_id: dict[int, int] = field(default_factory=dict)
    #: Segment id → PUTs the store actually applied (200, or 500-after-write).
    writes_by_id: dict[int, int] = field(default_factory=dict)
    #: Segment id → the JSON bodies of the PUTs that named it, in arrival order.
    bodies_by_id: dict[int, list[Any]] = field(default_factory=dict)
    #: Fault name (``503``, ``429``, ``500_after_write``, ``reset``, ``stall``) → times injected;
    #: ``rate_limited`` counts the token bucket's 429s.
    faults: dict[str, int] = field(default_factory=dict)
    #: The most requests that arrived within any one-second sliding window.
    max_per_second: int = 0
    #: The most requests being handled at the same time.
    max_in_flight: int = 0
    #: Requests being handled right now.
    in_flight: int = 0
    #: Every request in arrival order (for rate, gap and Retry-After checks).
    arrivals: tuple[Arrival, ...] = ()

    @property
    def total(self) -> int:
        return sum(self.requests.values())

    def count(self, method: str | None = None, status: int | str | None = "any") -> int:
        """Requests matching ``method`` (None = any) and ``status`` (``"any"`` = any)."""
        return sum(
            n
            for (m, s), n in self.requests.items()
            if (method is None or m == method.upper()) and (status == "any" or s == status)
        )


class Counters:
    """Thread-safe request counters with ``snapshot()`` and ``reset()``."""

    def __init__(self, window_s: float = 1.0) -> None:
        self._lock = threading.Lock()
        self._window_s = window_s
        #: arrivals forgotten by ``reset`` (so a request in flight across one finds no entry)
        self._forgotten = 0
        self._log: list[Arrival] = []
        self._clear()

    def _clear(self) -> None:
        self._requests: Counter[tuple[str, int | None]] = Counter()
        self._puts: Counter[int] = Counter()
        self._writes: Counter[int] = Counter()
        self._bodies: defaultdict[int, list[Any]] = defaultdict(list)
        self._faults: Counter[str] = Counter()
        self._arrivals: deque[float] = deque()
        self._forgotten += len(self._log)
        self._log = []
        self._max_per_second = 0
        self._in_flight = 0
        self._max_in_flight = 0

    def reset(self) -> None:
        """Forget everything (requests still in flight are still tracked as in flight)."""
        with self._lock:
            in_flight = self._in_flight
            self._clear()
            self._in_flight = in_flight
            self._max_in_flight = in_flight

    def started(self, method: str, put_id: int | None = None) -> int:
        """A request arrived: sliding-window rate, in-flight level, PUT attempts.

        Returns the request's place in ``arrivals``, for ``finished``.
        """
        now = time.monotonic()
        with self._lock:
            self._log.append(Arrival(now, method, put_id))
            self._arrivals.append(now)
            while self._arrivals and self._arrivals[0] <= now - self._window_s:
                self._arrivals.popleft()
            self._max_per_second = max(self._max_per_second, len(self._arrivals))
            self._in_flight += 1
            self._max_in_flight = max(self._max_in_flight, self._in_flight)
            if method == "PUT" and put_id is not None:
                self._puts[put_id] += 1
            return self._forgotten + len(self._log) - 1

    def finished(
        self,
        method: str,
        status: int | None,
        arrival: int | None = None,
        retry_after: str | None = None,
    ) -> None:
        now = time.monotonic()
        with self._lock:
            self._in_flight = max(0, self._in_flight - 1)
            self._requests[(method, status)] += 1
            place = -1 if arrival is None else arrival - self._forgotten
            if 0 <= place < len(self._log):
                seen = self._log[place]
                self._log[place] = Arrival(
                    seen.at, seen.method, seen.put_id, now, status, retry_after
                )

    def fault(self, name: str) -> None:
        with self._lock:
            self._faults[name] += 1

    def received(self, segment_id: int, body: Any) -> None:
        """The body a PUT carried (so a test can compare it with what was meant to be sent)."""
        with self._lock:
            self._bodies[segment_id].append(body)

    def write(self, segment_id: int) -> None:
        with self._lock:
            self._writes[segment_id] += 1

    def snapshot(self) -> CounterSnapshot:
        with self._lock:
            return CounterSnapshot(
                requests=dict(self._requests),
                puts_by_id=dict(self._puts),
                writes_by_id=dict(self._writes),
                bodies_by_id={k: list(v) for k, v in self._bodies.items()},
                faults=dict(self._faults),
                max_per_second=self._max_per_second,
                max_in_flight=self._max_in_flight,
                in_flight=self._in_flight,
                arrivals=tuple(self._log),
            )
