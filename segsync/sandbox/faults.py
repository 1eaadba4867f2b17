"""Seeded fault injection: which failure, if any, a segment request gets.

All decisions come from one ``random.Random(seed)`` and every request takes exactly two draws (the
fault band, then the latency jitter) whatever the configuration, so the same seed gives the same
sequence of faults, and changing a probability on the fly does not shift later draws. The faults
are consecutive bands of the first draw, so each fires at exactly its configured rate.
"""

from __future__ import annotations

import random
import threading
from dataclasses import dataclass

from segsync.sandbox.options import FaultOptions

RESET = "reset"
STALL = "stall"
UNAVAILABLE = "503"
THROTTLED = "429"
FAIL_AFTER_WRITE = "500_after_write"
HUGE_BODY = "huge_body"
DRIP = "drip"


@dataclass(frozen=True, slots=True)
class FaultPlan:
    """What to do to one request: wait ``delay_s``, then apply ``kind`` (None = answer normally)."""

    delay_s: float
    kind: str | None
    stall_s: float = 0.0
    retry_after_s: int = 1


class FaultInjector:
    """Draws a ``FaultPlan`` per request; ``options`` may be swapped while the server runs."""

    def __init__(self, options: FaultOptions, seed: int) -> None:
        self.options = options
        self._rng = random.Random(seed)
        self._lock = threading.Lock()

    def plan(self, method: str) -> FaultPlan:
        options = self.options
        with self._lock:
            band, jitter = self._rng.random(), self._rng.random()
        delay_s = (options.latency_ms + jitter * options.jitter_ms) / 1000.0
        if method not in options.methods:
            return FaultPlan(delay_s, None)
        bands = (
            (RESET, options.p_reset),
            (STALL, options.p_stall),
            (UNAVAILABLE, options.p_503),
            (THROTTLED, options.p_429),
            (FAIL_AFTER_WRITE, options.p_500_after_write),
            (HUGE_BODY, options.p_huge_body),
            (DRIP, options.p_drip),
        )
        edge = 0.0
        for kind, probability in bands:
            edge += probability
            if band < edge:
                if kind == FAIL_AFTER_WRITE and method != "PUT":
                    break  # GETs have nothing to write; their share of this band is clean
                return FaultPlan(delay_s, kind, options.stall_s, options.retry_after_s)
        return FaultPlan(delay_s, None)
