"""The one request-rate limit every request to an API goes through, and its adaptive slow-down.

The promise is about the moments requests are *sent*: never more than ``burst`` of them in any
window of ``burst / rate`` seconds, whatever happens (the first requests of a run, concurrent
list pages, release after a pause or a ``Retry-After``, several runs in one process). The
limiter keeps the last ``burst`` send times and lets a request go only when the oldest of them
is a whole window ago. Saved-up credit is spent only by requests that find the way free; a
request that had to wait leaves one interval after the one before it was due, so a queue drains
evenly spaced, never in clumps. A timer that fires late costs that lateness (with a burst above
1, the window lets the next request make up to one interval of it back), never a burst.

The client takes its slot at the last moment, from httpcore's trace hook once the connection
is up (so connection set-up cannot squeeze two requests together at the server), and confirms
the write (``acquire(confirm=True)`` then ``sent()``): no other slot is handed out in between,
so a thread switch between the slot and the write cannot either. Once a 429 has shown that the
server has no room to spare, it also reads the answers (``answered``): a server busy for a few
milliseconds sees a request late and the next on time, closer than an interval; the late one's
answer is late too, so the next send keeps its interval from where the late request may have
arrived, and waits for an overdue answer (both by at most ``LATE_CAP_S``).

A 429 empties the credit, holds every request until ``Retry-After`` (then one at the pause's
end and the next one interval later) and cuts the rate by the evidence: a tenth for the first
429 or one after a long clean stretch (an early 429 is weak evidence, and may be jitter), a
quarter for the second close behind a cut, half from the third on (the server really is slower
than configured). A 429 on the first request after a pause the client honoured is the pause's
answer, not the rate's: it costs its ``Retry-After`` and no cut. Each cut also lowers, by a
small step, the ceiling recovery climbs back to (learning where the server's limit really is),
and that ceiling is forgotten after ``CEILING_MEMORY_S`` without a 429.

One limiter serves an API target for the whole process (``segsync.api.shared_limiter``), across
threads and event loops: so it is thread-safe, and its waiters take turns per event loop.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
import threading
import time
import weakref
from collections.abc import Callable
from dataclasses import dataclass

from segsync.api.send_stats import SendStats

log = logging.getLogger(__name__)

#: the cut by the place of a 429 in a streak of close ones: first, second, third and later
CUTS = (0.1, 0.25, 0.5)
#: a 429 is part of a streak when it comes within this many seconds of the last cut and fewer
#: than ``ISOLATED_N`` requests went through since; otherwise it is isolated (the smallest cut)
MEMORY_S, ISOLATED_N = 10.0, 20
#: seconds to win back a cut: after an isolated 429, and under persistent throttling
FAST_RECOVERY_S, SLOW_RECOVERY_S = 2.0, 10.0
#: the slowest recovery, as a share of the configured rate per second
MIN_STEP = 0.03
#: each cut lowers the ceiling recovery climbs back to by this share of the rate it cut from
LEARN_STEP = 0.02
#: seconds without a 429 after which the ceiling is back at the configured rate
CEILING_MEMORY_S = 300.0
#: seconds before a send is due that the timer wakes, to wait the rest by yielding to the loop
EARLY_S = 0.0011
#: while a slot's write is unconfirmed, the next request looks again this often; after
#: ``PENDING_MAX_S`` an unconfirmed slot counts from its reservation
PENDING_POLL_S, PENDING_MAX_S = 0.002, 1.0
#: a write confirmed later than this after its reservation counts from its confirmation
CONFIRM_GRACE_S = 0.001
#: 429s within this many seconds of a cut (or before anything was sent since) answer the same
#: burst: one cut
COOLDOWN_S = 1.0
#: answers are read once a 429 has shown the server has no room to spare, until
#: ``CEILING_MEMORY_S`` pass without one (before that they cost nothing). Of a kind of request,
#: the last ``RTT_WINDOW`` successful answers (once there are ``RTT_MIN_SAMPLES``) give the
#: quickest, and the usual (the ``USUAL_SHARE`` quantile: answers spread). An answer later than
#: the quickest may have reached the server that much late: the next send keeps its interval
#: from there, by at most ``LATE_CAP_S`` (a stall is milliseconds; a slower answer than that is
#: the server's work, not a late arrival)
RTT_WINDOW, RTT_MIN_SAMPLES, USUAL_SHARE, LATE_CAP_S = 32, 8, 0.9, 0.050
#: an answer this much later than usual is overdue: the next request waits for it
OVERDUE_S = 0.001


@dataclass(slots=True)
class _Send:
    """One of the last sends: when it was written, when the server may have seen it, and
    whether its answer came."""

    stamp: float
    seen: float
    kind: str = ""
    answered: bool = False


class RateLimiter:
    """The pacer all requests to one API share, across runs, threads and event loops."""

    def __init__(
        self,
        rate: float,
        burst: int = 1,
        *,
        adaptive: bool = True,
        min_rate: float = 0.2,
        headroom: float = 0.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        _check(rate, burst, headroom)
        self._clock = clock
        self._mutex = threading.Lock()
        #: per event loop: its waiters take turns in arrival order
        self._turns: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Lock] = (
            weakref.WeakKeyDictionary()
        )
        self.target = float(rate)
        self.burst = int(burst)
        self.adaptive = adaptive
        self.min_rate = min(min_rate, rate)
        self.headroom = headroom
        now = clock()
        self._rate = self.target
        self._ceiling = self.target
        #: the last ``burst`` send times, oldest first
        self._sends: collections.deque[float] = collections.deque(maxlen=self.burst)
        #: nothing is sent before this time (the latest ``Retry-After``)
        self._hold_until = now
        #: a slot taken with ``confirm`` whose request is not yet written (its reservation time)
        self._pending: float | None = None
        #: the last ``burst`` sends as the server may have seen them: ``answered`` moves a send's
        #: ``seen`` later when its answer shows the request arrived late
        self._seen: collections.deque[_Send] = collections.deque(maxlen=self.burst)
        #: the latest round trips of successful answers by kind of request (a 429 or a 404 comes
        #: back quicker than a PUT is done: they do not count), and each kind's usual time
        self._rtts: dict[str, collections.deque[float]] = {}
        self._quickest: dict[str, float] = {}
        self._usual: dict[str, float] = {}
        #: answers change the pacing until then (set by a 429)
        self._reading_until = float("-inf")
        #: requests sent since the last cut, and since the last pause ended: the evidence
        self._clean = 0
        self._since_pause: int | None = None
        self._last_cut: float | None = None
        self._streak = 0
        #: what each 429-free second adds back to the rate (set by the last cut)
        self._step = 0.0
        self._last_recover = now
        self.lowest_rate = self.target
        self.cuts = 0
        self.stats = SendStats(self.burst / self.target)
        self._warned = False

    def configure(
        self,
        rate: float,
        burst: int = 1,
        *,
        adaptive: bool = True,
        min_rate: float = 0.2,
        headroom: float = 0.0,
    ) -> None:
        """Change the configured limit (a later run may bring a changed configuration).

        The send history is kept, so the change cannot open a burst; a cut in force stays in
        proportion (a rate cut to 80 % of the old limit is 80 % of the new one).
        """
        _check(rate, burst, headroom)
        with self._mutex:
            changed = (self.target, self.burst) != (float(rate), int(burst))
            scale = float(rate) / self.target
            self.target = float(rate)
            self.burst = int(burst)
            self.adaptive = adaptive
            self.min_rate = min(min_rate, rate)
            self.headroom = headroom
            self._rate = max(self.min_rate, min(self.target, self._rate * scale))
            self._ceiling = max(self.min_rate, min(self.target, self._ceiling * scale))
            self._step *= scale
            self.lowest_rate = min(self.lowest_rate * scale, self._rate)
            if changed:
                self._sends = collections.deque(self._sends, maxlen=self.burst)
                self._seen = collections.deque(self._seen, maxlen=self.burst)
                self.stats = SendStats(self.burst / self.target)

    def same_configuration(
        self, rate: float, burst: int, adaptive: bool, min_rate: float, headroom: float
    ) -> bool:
        return (self.target, self.burst, self.adaptive, self.min_rate, self.headroom) == (
            float(rate),
            int(burst),
            adaptive,
            min(min_rate, rate),
            headroom,
        )

    @property
    def rate(self) -> float:
        """The rate in force now (after any adaptive cut and recovery), before the headroom."""
        with self._mutex:
            self._recover(self._clock())
            return self._rate

    def _interval(self) -> float:
        return 1.0 / (self._rate * (1.0 - self.headroom))

    def _due(self, now: float) -> float:
        """The earliest time a request may be sent: after any hold, after the write of a slot
        taken before, and a window after the oldest of the last ``burst`` sends (real ones, or
        the evenly spaced ones ``_spread`` put in their place)."""
        due = self._hold_until
        if self._pending is not None:
            if now - self._pending < PENDING_MAX_S:
                due = max(due, now + PENDING_POLL_S)
            else:
                self._pending = None  # never confirmed: counted at its reservation
        sends = self._sends
        if len(sends) < self.burst:
            return due
        window = self.burst * self._interval()
        due = max(due, sends[0] + window)
        if len(self._seen) == self.burst:
            due = max(due, min(send.seen for send in self._seen) + window)
        return due

    def _answer_overdue(self, now: float, due: float) -> float:
        """Seconds to wait for the last request's answer, when it is overdue (else 0.0).

        A server stalled when that request came in has not seen it yet, or has seen it late:
        sent now, the next would reach it right behind. So while the answer is later than the
        usual answer of its kind by more than ``OVERDUE_S``, the next request (due at ``due``)
        waits for it, for at most ``LATE_CAP_S``; ``answered`` then keeps the interval from
        where it arrived. Where answers usually take longer than the interval, nothing is ever
        overdue when the next is due: the pacing is the interval's alone.
        """
        if not self._seen or now >= self._reading_until:
            return 0.0
        last = self._seen[-1]
        usual = self._usual.get(last.kind)
        if last.answered or usual is None:
            return 0.0
        if now < last.stamp + usual + OVERDUE_S or now >= due + LATE_CAP_S:
            return 0.0
        return min(PENDING_POLL_S, due + LATE_CAP_S - now)

    def reserve(self, waited: bool = False, confirm: bool = False) -> float:
        """Take a send slot now and return 0.0, or return the seconds until one is due.

        With ``confirm`` the slot counts from the moment ``sent()`` is called (the request is
        on the wire), and nothing else is let go before: a thread switch or a slow write
        between the reservation and the write cannot squeeze the next request closer.
        """
        with self._mutex:
            now = self._clock()
            self._recover(now)
            due = self._due(now)
            if now < due:
                return due - now
            overdue = self._answer_overdue(now, due)
            if overdue > 0:
                return overdue
            self._sends.append(now)
            if waited:
                # a queue drains evenly: the credit starts again from this send's due time
                # (a late wake-up is made up, by at most an interval, where the window allows:
                # with burst 1 it never does)
                interval = self._interval()
                self._spread(max(due, now - interval) + interval)
            self._clean += 1
            if self._since_pause is not None:
                self._since_pause += 1
            if confirm:
                self._pending = now
            else:
                self._record(now)
            return 0.0

    def _record(self, stamp: float, kind: str = "") -> None:
        self._seen.append(_Send(stamp, stamp, kind))
        self.stats.record(stamp)

    def sent(self, kind: str = "") -> float | None:
        """The request of the slot taken with ``confirm`` is written: the next may go.

        The write normally follows the reservation within microseconds, but the confirmation
        comes an event-loop turn later; so the send counts from its reservation, unless the
        confirmation took longer than ``CONFIRM_GRACE_S`` (a thread switch, a slow write):
        then from the confirmation, since the write may have happened as late as that.
        ``kind`` names the kind of request (``answered`` compares answers of one kind). Returns
        the send's time, for ``answered``.
        """
        with self._mutex:
            reserved, self._pending = self._pending, None
            if reserved is None:
                return None
            now = self._clock()
            stamp = reserved
            if now - reserved > CONFIRM_GRACE_S and self._sends:
                stamp = now
                self._sends[-1] = max(self._sends[-1], now)
            self._record(stamp, kind)
            return stamp

    def answered(self, stamp: float, kind: str, status: int | None = None) -> None:
        """The answer to the request written at ``stamp`` (from ``sent``) began to arrive.

        A server that stalls for a few milliseconds sees the stalled request late and the next
        one on time, so the two arrive closer than they were sent: a server with no burst to
        spare refuses the second. The answer shows the stall: it comes later than usual for its
        kind by at least the delay, so the next send keeps its interval from where the request
        may have arrived. Only while the next send is still to come (an answer slower than the
        interval changes nothing), and by at most ``LATE_CAP_S``. Only successful answers
        count: a refusal comes back before any work is done.
        """
        with self._mutex:
            now = self._clock()
            rtt = now - stamp
            late = 0.0
            if status is not None and 200 <= status < 300:
                quickest = self._quickest.get(kind)
                if quickest is not None and now < self._reading_until:
                    late = min(rtt - quickest, LATE_CAP_S)
                recent = self._rtts.get(kind)
                if recent is None:
                    recent = self._rtts[kind] = collections.deque(maxlen=RTT_WINDOW)
                recent.append(rtt)
                if len(recent) >= RTT_MIN_SAMPLES:
                    ordered = sorted(recent)
                    self._quickest[kind] = ordered[0]
                    self._usual[kind] = ordered[int(USUAL_SHARE * (len(ordered) - 1))]
            for send in self._seen:
                if send.stamp == stamp:
                    send.answered = True
                    send.seen = max(send.seen, stamp + max(0.0, late))
                    return

    def held(self) -> float:
        """Seconds until a pause (``Retry-After``) is over (0.0: none in force)."""
        with self._mutex:
            return max(0.0, self._hold_until - self._clock())

    def _turn(self) -> asyncio.Lock:
        loop = asyncio.get_running_loop()
        with self._mutex:
            turn = self._turns.get(loop)
            if turn is None:
                turn = self._turns[loop] = asyncio.Lock()
            return turn

    async def acquire(self, abort: asyncio.Event | None = None, confirm: bool = False) -> bool:
        """Return True when this request may be sent (send it right away), or False once
        ``abort`` is set (no slot was taken: the limiter may be shared, so do not ``sent()``).

        Waiters on one event loop take turns in arrival order; each one's slot is taken only
        when it is due, so a pause or a cut that comes in meanwhile applies to every request
        not yet sent. Waiters on other loops (other runs) compete for the same slots. With
        ``confirm``, call ``sent()`` once the request is written (see ``reserve``).
        """
        turn = self._turn()
        waited = turn.locked()
        async with turn:
            while abort is None or not abort.is_set():
                delay = self.reserve(waited, confirm)
                if delay <= 0:
                    return True
                waited = True
                await self._wait(delay, abort)
            return False

    async def ready(self, abort: asyncio.Event | None = None) -> None:
        """Wait out a pause in force (``Retry-After``), without taking a slot.

        Callers do this before opening or borrowing a connection, so none sits idle through a
        long pause; the short waits between sends are ``acquire``'s, right before the write.
        """
        while abort is None or not abort.is_set():
            delay = self.held()
            if delay <= 0:
                return
            if abort is None:
                await asyncio.sleep(delay)
            else:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(abort.wait(), timeout=delay)

    async def _wait(self, delay: float, abort: asyncio.Event | None) -> None:
        """The one place that sleeps (tests replace it to run on a fake clock).

        The event loop's timers fire up to a millisecond late (epoll rounds its timeout up),
        and every late send pushes all later ones back: so the timer is set a little early
        and the last moments are waited by yielding to the loop.
        """
        due = self._clock() + delay
        if delay > EARLY_S:
            if abort is None:
                await asyncio.sleep(delay - EARLY_S)
            else:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(abort.wait(), timeout=delay - EARLY_S)
        while self._clock() < due and (abort is None or not abort.is_set()):
            await asyncio.sleep(0)

    def throttled(self, retry_after: float | None = None) -> None:
        """The server answered 429: hold every request until ``Retry-After``, slow down."""
        with self._mutex:
            now = self._clock()
            self._recover(now)
            self._cut(now)
            resume = now + self._interval()
            if retry_after:
                resume = max(resume, now + retry_after)
            self._hold_until = max(self._hold_until, resume)
            self._spread(self._hold_until)
            # the server has no room to spare: from now on its answers say where it stalled
            self._reading_until = now + CEILING_MEMORY_S
            self._since_pause = 0
            # no recovery accrues while the run waits out Retry-After
            self._last_recover = max(self._last_recover, self._hold_until)

    def _spread(self, until: float) -> None:
        """No saved-up credit at ``until``: the next send then, the ones after an interval apart."""
        interval = self._interval()
        virtual = [until - (self.burst - k) * interval for k in range(self.burst)]
        real = list(self._sends)
        real = [float("-inf")] * (self.burst - len(real)) + real
        self._sends.clear()
        self._sends.extend(max(a, b) for a, b in zip(real, virtual, strict=True))

    def _cut(self, now: float) -> None:
        """Cut the rate by the evidence: how close this 429 comes behind the last cut."""
        if not self.adaptive:
            return
        if self._last_cut is not None and (self._clean == 0 or now - self._last_cut < COOLDOWN_S):
            return  # an answer to the burst that was already cut for
        if self._since_pause is not None and self._since_pause <= 1:
            return  # the first request after an honoured pause: the pause's answer
        if self._last_cut is not None and now - self._last_cut > CEILING_MEMORY_S:
            self._ceiling = self.target
        close = (
            self._last_cut is not None
            and now - self._last_cut < MEMORY_S
            and self._clean < ISOLATED_N
        )
        self._streak = self._streak + 1 if close else 1
        cut = CUTS[min(self._streak, len(CUTS)) - 1]
        persistence = (self._streak - 1) / (len(CUTS) - 1) if self._streak > 1 else 0.0
        recovery_s = FAST_RECOVERY_S + (SLOW_RECOVERY_S - FAST_RECOVERY_S) * min(1.0, persistence)
        before = self._rate
        self._ceiling = max(self.min_rate, min(self._ceiling, before * (1.0 - LEARN_STEP)))
        self._rate = max(self.min_rate, before * (1.0 - cut))
        self._step = max((before - self._rate) / recovery_s, MIN_STEP * self.target)
        self._last_cut = now
        self._clean = 0
        self.cuts += 1
        self.lowest_rate = min(self.lowest_rate, self._rate)
        if not self._warned and self._streak >= 2:
            self._warned = True
            log.warning(
                "server is throttling; rate reduced to %.2g/s (configured %.2g/s)",
                self._rate,
                self.target,
                extra={"event": "throttled", "rate": self._rate},
            )

    def _recover(self, now: float) -> None:
        """Add back ``_step`` per 429-free second (after any pause) up to the ceiling."""
        if self._last_cut is not None and now - self._last_cut > CEILING_MEMORY_S:
            self._ceiling = self.target
        elapsed = now - self._last_recover
        if self._rate >= self._ceiling or elapsed <= 0:
            self._last_recover = max(self._last_recover, now)
            return
        self._rate = min(self._ceiling, self._rate + self._step * elapsed)
        self._last_recover = now


def _check(rate: float, burst: int, headroom: float) -> None:
    if rate <= 0 or burst < 1:
        raise ValueError("rate must be > 0 and burst >= 1")
    if not 0.0 <= headroom < 0.5:
        raise ValueError("headroom must be in [0, 0.5)")
