"""The server-side token bucket that stands in for Raise's unpublished throttle.

Only a request that gets through takes a token, so a client hammering a 429 does not dig itself a
deeper hole: it gets through again as soon as one token has refilled, which is exactly what the
``Retry-After`` it was sent promised.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable


class TokenBucket:
    """``rps`` tokens per second, at most ``burst`` saved up; starts full."""

    def __init__(
        self, rps: float, burst: int, *, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.rps = rps
        self.burst = burst
        self._clock = clock
        self._tokens = float(burst)
        self._stamp = clock()
        self._lock = threading.Lock()

    def acquire(self) -> float:
        """Take a token: 0.0 when granted, else the seconds until one will be available."""
        with self._lock:
            now = self._clock()
            self._tokens = min(self.burst, self._tokens + (now - self._stamp) * self.rps)
            self._stamp = now
            if self._tokens >= 1.0:
                self._tokens -= 1.0
                return 0.0
            return (1.0 - self._tokens) / self.rps


def retry_after_header(wait_s: float) -> str:
    """Whole seconds, rounded up and at least 1: ``Retry-After`` cannot say "0.2"."""
    return str(max(1, math.ceil(wait_s)))
