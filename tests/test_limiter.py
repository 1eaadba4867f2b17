"""The GCRA pacer and its adaptive slow-down, on a fake clock (no sleeping)."""

from __future__ import annotations

from segsync.api.limiter import RateLimiter


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def send_times(
    limiter: RateLimiter, clock: FakeClock, n: int, overshoot: float = 0.0
) -> list[float]:
    """Simulate n sequential acquires where every sleep oversleeps by ``overshoot``."""
    times = []
    for _ in range(n):
        wait = limiter.reserve()
        if wait > 0:
            clock.now += wait + overshoot
        times.append(clock.now)
    return times


def max_in_window(times: list[float], window: float = 1.0) -> int:
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
    assert max_in_window(times) <= 20


def test_oversleeping_does_not_lose_rate() -> None:
    """Virtual scheduling: request n is due at t0 + n/rate whatever each sleep overshoots."""
    clock = FakeClock()
    limiter = RateLimiter(200, 1, clock=clock)
    times = send_times(limiter, clock, 1000, overshoot=0.002)
    achieved = (len(times) - 1) / (times[-1] - times[0])
    assert achieved > 0.97 * 200


def test_burst_never_exceeds_configured_burst() -> None:
    clock = FakeClock()
    limiter = RateLimiter(50, 5, clock=clock)
    immediate = sum(1 for _ in range(60) if limiter.reserve() == 0)
    assert immediate == 5


def test_429_halves_rate_once_per_cooldown_and_honours_retry_after() -> None:
    clock = FakeClock()
    limiter = RateLimiter(40, 1, clock=clock, min_rate=1)
    limiter.throttled(retry_after=2.0)
    limiter.throttled(retry_after=2.0)  # the same burst of 429s: one cut
    assert limiter.rate == 20
    assert limiter.reserve() >= 2.0  # nobody sends before Retry-After
    clock.now += 5
    limiter.throttled()
    assert limiter.lowest_rate == 10


def test_recovers_additively_to_target() -> None:
    clock = FakeClock()
    limiter = RateLimiter(40, 1, clock=clock, min_rate=1)
    limiter.throttled()
    assert limiter.rate == 20
    clock.now += 5
    assert 20 < limiter.rate <= 40
    clock.now += 100
    assert limiter.rate == 40


def test_fixed_rate_when_not_adaptive() -> None:
    clock = FakeClock()
    limiter = RateLimiter(40, 1, adaptive=False, clock=clock)
    limiter.throttled(retry_after=1.0)
    assert limiter.rate == 40
