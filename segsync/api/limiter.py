"""The one request-rate limit every request of a run goes through, and its adaptive slow-down.

Why not a library: ``aiolimiter.AsyncLimiter(rate, 1)`` lets a whole second's worth of
requests out at once (measured: 99 requests in the first second at 50/s), and a plain token
bucket of capacity 1 loses each sleep's overshoot (85 % of 200/s). This is GCRA / virtual
scheduling: request *n* is scheduled at ``tat`` (theoretical arrival time) and ``tat`` advances by
exactly ``1/rate`` per request, so oversleeping never lowers the achieved rate and no more than
``burst`` requests are ever ahead of schedule.

Adaptive (AIMD): a 429 halves the rate (at most once per ``cooldown``) and pushes the schedule
past ``Retry-After``, so the whole run backs off, not just one request; requests already waiting
for an earlier slot queue again behind the pause. Once the pause is over, every 429-free second
adds back a fixed step (5 % of the rate the cut left, at least 3 % of the configured rate), so a
run climbs back towards the configured rate and probes the server's real limit gently instead
of tripping it again at once. Measured against a server allowing 10/s with a client set to
40/s (bench/bench_throttle.py): 4.7 % of requests answered 429 and 6.5 requests/s, against
33 % and 2.8/s at a fixed rate.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable

log = logging.getLogger(__name__)


class RateLimiter:
    """GCRA pacer shared by all workers of a run (single event loop, no locking needed)."""

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
        self._tat = clock()
        self._last_cut: float | None = None
        #: bumped by every 429, so that requests waiting for an older slot re-queue
        self._epoch = 0
        #: the rate the last cut left (the additive step is scaled to it)
        self._floor: float | None = None
        self._last_recover = clock()
        self.lowest_rate = float(rate)
        self.cuts = 0
        self._warned = False

    @property
    def rate(self) -> float:
        """The rate in force now (after any adaptive cut and recovery)."""
        self._recover(self._clock())
        return self._rate

    def recovery_per_s(self) -> float:
        """Additive increase per 429-free second (see the module docstring)."""
        return max(0.05, 0.05 * (self._floor or self.target), 0.03 * self.target)

    def reserve(self) -> float:
        """Claim the next slot; return how many seconds to wait before sending."""
        now = self._clock()
        self._recover(now)
        interval = 1.0 / self._rate
        tolerance = (self.burst - 1) * interval
        slot = max(now, self._tat - tolerance)
        self._tat = max(self._tat, slot) + interval
        return slot - now

    async def acquire(self, abort: asyncio.Event | None = None) -> None:
        """Wait until this request may be sent, or until ``abort`` is set.

        A slot reserved before a 429 arrived is given up and a new one taken after the pause:
        otherwise every worker already waiting would still fire into the throttled server.
        """
        while True:
            epoch = self._epoch
            delay = self.reserve()
            if delay > 0:
                if abort is None:
                    await asyncio.sleep(delay)
                else:
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(abort.wait(), timeout=delay)
            if self._epoch == epoch or (abort is not None and abort.is_set()):
                return

    def throttled(self, retry_after: float | None = None) -> None:
        """The server answered 429: slow the whole run down."""
        now = self._clock()
        self._epoch += 1
        if retry_after:
            # nobody sends before the server said it is ready again
            self._tat = max(self._tat, now + retry_after)
        if not self.adaptive:
            return
        cooldown = max(1.0, 1.0 / self._rate)
        if self._last_cut is not None and now - self._last_cut < cooldown:
            return
        self._rate = max(self.min_rate, self._rate / 2)
        self._floor = self._rate
        self._last_cut = now
        # no recovery accrues while the run waits out Retry-After
        self._last_recover = max(now, self._tat)
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

    def _recover(self, now: float) -> None:
        if self._rate >= self.target:
            self._last_recover = now
            return
        elapsed = now - self._last_recover
        if elapsed >= 1.0:
            self._rate = min(self.target, self._rate + self.recovery_per_s() * elapsed)
            self._last_recover = now
