"""The send pacer and its adaptive slow-down, on a fake clock (no sleeping, no wall clock)."""

from __future__ import annotations

import asyncio
import itertools
import math
from collections.abc import Callable

from segsync.api.limiter import RateLimiter
from segsync.sandbox.ratelimit import TokenBucket


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class FakeTimeLimiter(RateLimiter):
    """Sleeps by moving the fake clock; ``late()`` is how late each wake-up comes."""

    def __init__(
        self, clock: FakeClock, rate: float, burst: int = 1, late: Callable[[], float] = float
    ) -> None:
        super().__init__(rate, burst, clock=clock)
        self.fake = clock
        self.late = late

    async def _wait(self, delay: float, abort: asyncio.Event | None) -> None:
        self.fake.now += delay + self.late()
        await asyncio.sleep(0)


def send(limiter: RateLimiter, clock: FakeClock, overshoot: float = 0.0) -> float:
    """Wait (on the fake clock) until the limiter lets one request go; return its send time."""
    while (wait := limiter.reserve()) > 0:
        clock.now += wait + overshoot
    return clock.now


def send_times(
    limiter: RateLimiter, clock: FakeClock, n: int, overshoot: float = 0.0
) -> list[float]:
    return [send(limiter, clock, overshoot) for _ in range(n)]


def max_in_window(times: list[float], window: float) -> int:
    best, start = 0, 0
    for end, t in enumerate(times):
        while times[start] <= t - window + 1e-9:
            start += 1
        best = max(best, end - start + 1)
    return best


def test_paces_at_rate_with_burst_one() -> None:
    clock = FakeClock()
    limiter = RateLimiter(20, 1, clock=clock)
    times = send_times(limiter, clock, 200)
    assert abs((times[-1] - times[0]) - 199 / 20) < 1e-6
    assert max_in_window(times, 1.0) <= 20


def test_oversleeping_does_not_lose_rate() -> None:
    """A late wake-up (here 2 ms at 200/s) is made up by the next interval, not lost."""
    clock = FakeClock()
    limiter = RateLimiter(200, 1, clock=clock)
    times = send_times(limiter, clock, 1000, overshoot=0.002)
    achieved = (len(times) - 1) / (times[-1] - times[0])
    assert achieved > 0.99 * 200


def test_burst_never_exceeds_configured_burst() -> None:
    clock = FakeClock()
    limiter = RateLimiter(50, 5, clock=clock)
    clock.now += 60  # a long idle stretch saves up no more than the burst
    immediate = sum(1 for _ in range(60) if limiter.reserve() == 0)
    assert immediate == 5


def test_requests_waiting_through_a_stall_leave_one_at_a_time() -> None:
    """Eight requests wait while the event loop is stuck for 100 ms: they do not leave together."""
    clock = FakeClock()
    wakeups = iter([0.0] * 40 + [0.1])
    limiter = FakeTimeLimiter(clock, 100, late=lambda: next(wakeups, 0.0))
    sent: list[float] = []

    async def worker() -> None:
        for _ in range(20):
            await limiter.acquire()
            sent.append(clock.now)
            await asyncio.sleep(0)  # the request

    async def main() -> None:
        await asyncio.gather(*(worker() for _ in range(8)))

    asyncio.run(main())
    gaps = [b - a for a, b in itertools.pairwise(sent)]
    assert len(sent) == 160
    assert min(gaps) >= 0.005 - 1e-9  # never two together: at least half an interval apart
    assert max_in_window(sent, 0.01) <= 2
    assert sent[-1] - sent[0] < 159 / 100 + 0.1 + 0.01  # only the stall itself is lost


def test_abort_releases_every_waiter_without_taking_a_slot() -> None:
    clock = FakeClock()
    limiter = FakeTimeLimiter(clock, 1)
    abort = asyncio.Event()
    abort.set()

    async def main() -> None:
        await asyncio.gather(*(limiter.acquire(abort) for _ in range(5)))

    asyncio.run(main())
    assert limiter.reserve() == 0  # the one saved-up slot is still there


def test_429_honours_retry_after_then_resumes_one_at_a_time() -> None:
    clock = FakeClock()
    limiter = RateLimiter(40, 3, clock=clock, min_rate=1)
    start = clock.now
    limiter.throttled(retry_after=2.0)
    limiter.throttled(retry_after=2.0)  # answers to the same burst: one cut
    assert limiter.cuts == 1
    assert limiter.reserve() >= 2.0  # nobody sends before Retry-After
    first, second = send(limiter, clock), send(limiter, clock)
    assert first == start + 2.0
    assert second - first >= 1 / limiter.rate - 1e-9  # no saved-up burst after a 429


def test_late_answers_to_requests_sent_before_a_cut_do_not_cut_again() -> None:
    clock = FakeClock()
    limiter = RateLimiter(40, 1, clock=clock, min_rate=1)
    send_times(limiter, clock, 8)
    limiter.throttled(retry_after=2.0)
    clock.now += 1.5  # a slow answer to a request sent before the cut, during the pause
    limiter.throttled(retry_after=2.0)
    assert limiter.cuts == 1


def test_first_429s_of_a_run_halve_the_rate() -> None:
    """A 429 within the first quarter second's worth of requests: the server is slower."""
    clock = FakeClock()
    limiter = RateLimiter(40, 1, clock=clock, min_rate=1)
    send_times(limiter, clock, 3)
    limiter.throttled(retry_after=1.0)
    assert limiter.rate == 20
    clock.now += 5
    send_times(limiter, clock, 100)
    before = limiter.rate
    assert 20 < before < 40
    limiter.throttled(retry_after=1.0)
    assert limiter.rate == before / 2  # again within seconds of a cut: halved again


def test_isolated_429_after_a_clean_stretch_costs_little() -> None:
    clock = FakeClock()
    limiter = RateLimiter(100, 1, clock=clock)
    send_times(limiter, clock, 1000)  # ten clean seconds at the configured rate
    limiter.throttled(retry_after=1.0)
    assert 50 < limiter.rate < 100
    assert limiter.rate >= 0.9 * 100 - 1e-9
    assert limiter.reserve() == 1.0  # Retry-After is honoured all the same
    clock.now += 1.0 + 3.0  # three 429-free seconds after the pause
    assert limiter.rate == 100


def test_persistent_429s_converge_below_the_servers_rate() -> None:
    """A server that really allows 10/s (bucket of 2), a client configured for 40/s."""
    capacity = 10.0
    for adaptive, most_429s in ((True, 0.04), (False, 1.0)):
        clock = FakeClock()
        server = TokenBucket(capacity, 2, clock=clock)
        limiter = RateLimiter(40, 1, adaptive=adaptive, clock=clock)
        start, sent, throttled, rates = clock.now, 0, 0, []
        while clock.now < start + 600:
            send(limiter, clock)
            sent += 1
            if clock.now > start + 300:
                rates.append(limiter.rate)
            if (wait := server.acquire()) > 0:
                throttled += 1
                limiter.throttled(retry_after=max(1, math.ceil(wait)))
        if adaptive:
            assert sum(rates) / len(rates) < capacity
            assert limiter.lowest_rate > capacity / 3
        assert throttled / sent < most_429s
        if not adaptive:
            assert throttled / sent > 0.25  # fixed rate: a third of all requests refused


def test_recovery_after_persistent_throttling_is_gradual() -> None:
    clock = FakeClock()
    limiter = RateLimiter(40, 1, clock=clock, min_rate=1)
    limiter.throttled()
    assert limiter.rate == 20
    clock.now += 5
    assert 20 < limiter.rate < 40
    clock.now += 100
    assert limiter.rate == 40


def test_fixed_rate_when_not_adaptive() -> None:
    clock = FakeClock()
    limiter = RateLimiter(40, 1, adaptive=False, clock=clock)
    limiter.throttled(retry_after=1.0)
    assert limiter.rate == 40
    assert limiter.reserve() == 1.0
