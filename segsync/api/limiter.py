"""The one request-rate limit every request of a run goes through, and its adaptive slow-down.

Pacing is a token bucket over the moments requests are *sent*, served first come first served,
so requests that were waiting while the event loop was busy leave one interval apart, never
together. Half a token of credit beyond ``burst`` lets a late timer keep the rate without ever
letting ``burst + 1`` requests out at once.

A 429 empties the bucket, holds every request until ``Retry-After``, and cuts the rate in
proportion to the evidence: halved when 429s follow each other closely (persistent throttling),
a tenth off when one ends a long clean stretch. The rate then climbs back at a pace set by the
same evidence: within seconds after an isolated 429, slowly while the server keeps throttling.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable

log = logging.getLogger(__name__)

#: tokens of credit beyond ``burst``, so a timer that fires late does not lose the rate
SLACK = 0.5
#: a 429 within this many seconds' worth of requests, or within ``MEMORY_S`` of the last cut,
#: is evidence of persistent throttling; later ones weigh less the longer the clean stretch
EVIDENCE_S, MEMORY_S = 0.25, 10.0
#: the smallest cut a 429 makes (an isolated one), and the largest (persistent throttling)
MIN_CUT, MAX_CUT = 0.1, 0.5
#: seconds to win back a cut: after an isolated 429, and under persistent throttling
FAST_RECOVERY_S, SLOW_RECOVERY_S = 2.0, 10.0
#: the slowest recovery, as a share of the configured rate per second
MIN_STEP = 0.03
#: 429s within this many seconds of a cut (or before anything was sent since) answer the same
#: burst: one cut
COOLDOWN_S = 1.0


class RateLimiter:
    """The pacer all requests of a run share (on one event loop)."""

    def __init__(
        self,
        rate: float,
        burst: int = 1,
        *,
        adaptive: bool = True,
        min_rate: float = 0.2,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if rate <= 0 or burst < 1:
            raise ValueError("rate must be > 0 and burst >= 1")
        self.target = float(rate)
        self.burst = burst
        self.adaptive = adaptive
        self.min_rate = min(min_rate, rate)
        self._clock = clock
        self._rate = float(rate)
        self._tokens = float(burst)
        self._stamp = clock()
        #: nothing is sent before this time (the latest ``Retry-After``)
        self._hold_until = self._stamp
        #: one request at a time waits for its send time; the others queue behind it in order
        self._turn = asyncio.Lock()
        #: requests sent since the last cut: the evidence a 429 is weighed against
        self._clean = 0
        self._last_cut: float | None = None
        #: what each 429-free second adds back to the rate (set by the last cut)
        self._step = 0.0
        self._last_recover = self._stamp
        self.lowest_rate = float(rate)
        self.cuts = 0
        self._warned = False

    @property
    def rate(self) -> float:
        """The rate in force now (after any adaptive cut and recovery)."""
        now = self._clock()
        self._refill(now)
        self._recover(now)
        return self._rate

    def reserve(self) -> float:
        """Take a send slot now and return 0.0, or return the seconds until one is due."""
        now = self._clock()
        if now < self._hold_until:
            return self._hold_until - now
        self._refill(now)
        self._recover(now)
        if self._tokens >= 1.0 - 1e-9:
            self._tokens -= 1.0
            self._clean += 1
            return 0.0
        return (1.0 - self._tokens) / self._rate

    async def acquire(self, abort: asyncio.Event | None = None) -> None:
        """Return when this request may be sent (send it right away), or once ``abort`` is set.

        Waiters take turns in arrival order and each one's slot is taken only when it is due,
        so a pause or a cut that comes in meanwhile applies to every request not yet sent.
        """
        async with self._turn:
            while abort is None or not abort.is_set():
                delay = self.reserve()
                if delay <= 0:
                    return
                await self._wait(delay, abort)

    async def _wait(self, delay: float, abort: asyncio.Event | None) -> None:
        """The one place that sleeps (tests replace it to run on a fake clock)."""
        if abort is None:
            await asyncio.sleep(delay)
            return
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(abort.wait(), timeout=delay)

    def throttled(self, retry_after: float | None = None) -> None:
        """The server answered 429: slow the whole run down."""
        now = self._clock()
        self._refill(now)
        self._recover(now)
        self._cut(now)
        # no saved-up burst after a 429, and nobody sends before the server said it is ready;
        # then one request at the pause's end, and the next one interval later
        self._tokens = min(self._tokens, 0.0)
        if retry_after:
            self._hold_until = max(self._hold_until, now + retry_after)
            self._tokens, self._stamp = 1.0, self._hold_until
        # no recovery accrues while the run waits out Retry-After
        self._last_recover = max(self._last_recover, self._hold_until)

    def _cut(self, now: float) -> None:
        """Cut the rate by the evidence: how many requests went through since the last cut."""
        if not self.adaptive:
            return
        if self._last_cut is not None and (self._clean == 0 or now - self._last_cut < COOLDOWN_S):
            return
        persistence = EVIDENCE_S * self._rate / max(1, self._clean)
        if self._last_cut is not None:
            persistence = max(persistence, MEMORY_S / (now - self._last_cut))
        persistence = min(1.0, persistence)
        cut = max(MIN_CUT, MAX_CUT * persistence)
        recovery_s = FAST_RECOVERY_S + (SLOW_RECOVERY_S - FAST_RECOVERY_S) * persistence
        before = self._rate
        self._rate = max(self.min_rate, before * (1.0 - cut))
        self._step = max((before - self._rate) / recovery_s, MIN_STEP * self.target)
        self._last_cut = now
        self._clean = 0
        self.cuts += 1
        self.lowest_rate = min(self.lowest_rate, self._rate)
        if not self._warned and self.cuts >= 2:
            self._warned = True
            log.warning(
                "server is throttling; rate reduced to %.2g/s (configured %.2g/s)",
                self._rate,
                self.target,
                extra={"event": "throttled", "rate": self._rate},
            )

    def _refill(self, now: float) -> None:
        elapsed = now - self._stamp
        if elapsed > 0:
            self._tokens = min(self.burst + SLACK, self._tokens + elapsed * self._rate)
            self._stamp = now

    def _recover(self, now: float) -> None:
        """Add back ``_step`` per 429-free second (after any pause) until the configured rate."""
        elapsed = now - self._last_recover
        if self._rate >= self.target or elapsed <= 0:
            self._last_recover = max(self._last_recover, now)
            return
        self._rate = min(self.target, self._rate + self._step * elapsed)
        self._last_recover = now
