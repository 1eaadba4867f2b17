"""The send pacer and its adaptive slow-down, on a fake clock (no sleeping, no wall clock)."""

from __future__ import annotations

import asyncio
import itertools
import math
import random
import threading
from collections.abc import Callable

import pytest

from segsync.api.limiter import RateLimiter
from segsync.api.shared_limiter import known_limiter, shared_limiter
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


def send_written(limiter: RateLimiter, clock: FakeClock) -> float:
    """Wait (on the fake clock) for a slot taken at the write, write a PUT: its stamp."""
    while (wait := limiter.reserve(confirm=True)) > 0:
        clock.now += wait
    stamp = limiter.sent("PUT")
    assert stamp is not None
    return stamp


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


def test_late_timers_cost_rate_never_a_burst() -> None:
    """A late wake-up (2 ms at 200/s) delays the send; the next still waits a whole interval."""
    clock = FakeClock()
    limiter = RateLimiter(200, 1, clock=clock)
    times = send_times(limiter, clock, 1000, overshoot=0.002)
    gaps = [b - a for a, b in itertools.pairwise(times)]
    assert min(gaps) >= 1 / 200 - 1e-9
    achieved = (len(times) - 1) / (times[-1] - times[0])
    assert achieved > 0.99 / (1 / 200 + 0.002)  # the lateness is the whole cost


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
    assert min(gaps) >= 0.01 - 1e-9  # never two together: a whole interval apart
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


def test_an_early_isolated_429_cuts_by_at_most_a_tenth() -> None:
    """The third request of a run meets a 429: weak evidence (it may be jitter), a small cut."""
    clock = FakeClock()
    limiter = RateLimiter(40, 1, clock=clock, min_rate=1)
    send_times(limiter, clock, 2)
    limiter.throttled(retry_after=1.0)
    assert limiter.rate >= 0.9 * 40 - 1e-9
    assert limiter.reserve() == 1.0  # the Retry-After is paid in full
    clock.now += 1.0 + 3.0
    assert limiter.rate >= 0.97 * 40  # back within seconds, just under where the 429 came


def test_a_429_right_after_an_honoured_pause_does_not_cut() -> None:
    clock = FakeClock()
    limiter = RateLimiter(40, 1, clock=clock, min_rate=1)
    send_times(limiter, clock, 50)
    limiter.throttled(retry_after=1.0)
    after_first = limiter.rate
    send(limiter, clock)  # the first request after the pause ...
    clock.now += 0.02
    limiter.throttled(retry_after=1.0)  # ... is refused again: the server wanted a longer pause
    assert limiter.rate >= after_first
    assert limiter.reserve() == 1.0


def test_429s_close_behind_each_other_cut_more_each_time() -> None:
    clock = FakeClock()
    limiter = RateLimiter(40, 1, clock=clock, min_rate=1)
    rates = []
    for _ in range(4):
        send_times(limiter, clock, 5)
        limiter.throttled(retry_after=1.0)
        rates.append(limiter.rate)
    assert rates[0] == 36.0  # the first: a tenth
    assert rates[1] < 0.8 * rates[0]  # the second, five requests later: a quarter
    assert rates[3] <= 0.5 * rates[2] + 0.5  # from the third on: halved (plus recovery)


def test_isolated_429s_far_apart_cost_a_tenth_each() -> None:
    clock = FakeClock()
    limiter = RateLimiter(100, 1, clock=clock)
    for _ in range(3):
        send_times(limiter, clock, 300)  # three clean seconds at the configured rate
        before = limiter.rate
        limiter.throttled(retry_after=1.0)
        assert limiter.rate >= 0.9 * before - 1e-9


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
    for _ in range(3):
        clock.now += 1.0
        send_times(limiter, clock, 3)
        last_429_at = limiter.rate
        limiter.throttled()
    low = limiter.rate
    assert low < 20
    clock.now += 5
    assert low < limiter.rate < 40
    clock.now += 100
    assert limiter.rate == pytest.approx(0.98 * last_429_at)  # just under where the last 429 came
    clock.now += 300
    assert limiter.rate == 40  # and the ceiling forgotten after minutes without a 429


def test_fixed_rate_when_not_adaptive() -> None:
    clock = FakeClock()
    limiter = RateLimiter(40, 1, adaptive=False, clock=clock)
    limiter.throttled(retry_after=1.0)
    assert limiter.rate == 40
    assert limiter.reserve() == 1.0


def run_workers(
    limiter: FakeTimeLimiter, workers: int, each: int, on_sent: Callable[[int], None] = int
) -> list[float]:
    """``workers`` coroutines sending ``each`` requests through ``limiter``; the send times."""
    sent: list[float] = []

    async def worker() -> None:
        for _ in range(each):
            await limiter.acquire()
            sent.append(limiter.fake.now)
            on_sent(len(sent))
            await asyncio.sleep(0)  # the request

    async def main() -> None:
        await asyncio.gather(*(worker() for _ in range(workers)))

    asyncio.run(main())
    return sent


def jitter(seed: int, most_s: float) -> Callable[[], float]:
    rng = random.Random(seed)
    return lambda: rng.uniform(0, most_s)


def test_burst_one_never_sends_two_closer_than_one_interval() -> None:
    """After idle, after Retry-After (some without one), with eight waiters, late timers."""
    for seed in range(5):
        clock = FakeClock()
        limiter = FakeTimeLimiter(clock, 20, late=jitter(seed, 0.004))
        rng = random.Random(seed)

        def now_and_then(
            n: int, limiter: FakeTimeLimiter = limiter, rng: random.Random = rng
        ) -> None:
            if rng.random() < 0.05:
                limiter.throttled(retry_after=rng.choice([None, 0.5, 1.0, 2.0]))
            if n % 50 == 0:
                limiter.fake.now += 30  # idle: saves up nothing beyond one send

        sent = run_workers(limiter, 8, 40, now_and_then)
        gaps = [b - a for a, b in itertools.pairwise(sent)]
        assert len(sent) == 320
        assert min(gaps) >= 1 / 20 - 1e-9, seed


def test_burst_five_never_sends_more_than_five_per_window() -> None:
    for seed in range(5):
        clock = FakeClock()
        limiter = FakeTimeLimiter(clock, 100, 5, late=jitter(seed, 0.003))
        rng = random.Random(seed)

        def now_and_then(
            n: int, limiter: FakeTimeLimiter = limiter, rng: random.Random = rng
        ) -> None:
            if rng.random() < 0.03:
                limiter.throttled(retry_after=rng.choice([None, 1.0]))
            if n % 40 == 0:
                limiter.fake.now += 5

        sent = run_workers(limiter, 8, 50, now_and_then)
        assert max_in_window(sent, 5 / 100) <= 5, seed
        assert limiter.stats.max_in_window <= 5


def test_a_queue_drains_evenly_after_the_first_burst() -> None:
    clock = FakeClock()
    limiter = FakeTimeLimiter(clock, 100, 5)
    sent = run_workers(limiter, 8, 10)
    assert sent[:5] == [sent[0]] * 5  # the saved-up burst
    gaps = [b - a for a, b in itertools.pairwise(sent[5:])]
    assert min(gaps) >= 0.01 - 1e-9  # then one interval apart, not clumps of five
    assert limiter.stats.max_in_window == 5


def test_headroom_paces_below_the_configured_rate() -> None:
    clock = FakeClock()
    limiter = RateLimiter(100, 1, headroom=0.05, clock=clock)
    times = send_times(limiter, clock, 101)
    assert times[-1] - times[0] == pytest.approx(100 / 95)


def test_one_limiter_per_target_shared_and_reconfigured() -> None:
    target = "https://api.example.test/limiter-test"
    first = shared_limiter(target, 10, 1)
    assert shared_limiter(target, 10, 1) is first
    assert shared_limiter(target + "2", 10, 1) is not first
    again = shared_limiter(target, 5, 2)
    assert again is first and (first.target, first.burst, first.rate) == (5.0, 2, 5.0)
    assert shared_limiter(target, 20, 2).rate == 20.0  # a raised limit is taken up at once
    assert known_limiter(target) is first


def test_two_event_loops_share_one_limiter() -> None:
    """Runs in threads (the web page's jobs) pace through one limiter: sends stay apart."""
    limiter = RateLimiter(200, 1)

    def run() -> None:
        async def main() -> None:
            for _ in range(20):
                await limiter.acquire()

        asyncio.run(main())

    threads = [threading.Thread(target=run) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    # the limiter's own record of the sends (taken under its lock, at the moment of each)
    assert limiter.stats.sends == 60
    assert limiter.stats.min_gap_s is not None and limiter.stats.min_gap_s >= 1 / 200 - 1e-9
    assert limiter.stats.max_in_window == 1


def test_with_a_burst_late_timers_are_made_up_within_the_window() -> None:
    """Every wake-up 2 ms late at 100/s: burst 1 pays it on every send, burst 5 makes it up."""
    achieved = {}
    for burst in (1, 5):
        clock = FakeClock()
        limiter = FakeTimeLimiter(clock, 100, burst, late=lambda: 0.002)
        sent = run_workers(limiter, 8, 50)
        assert max_in_window(sent, burst / 100) <= burst
        achieved[burst] = (len(sent) - 1) / (sent[-1] - sent[0])
    assert achieved[1] == pytest.approx(1 / 0.012, rel=0.01)
    assert achieved[5] > 0.95 * 100


def test_a_slot_counts_from_its_write_when_the_write_is_late() -> None:
    """Between the reservation and the write a thread switch may come: the next one waits."""
    clock = FakeClock()
    limiter = RateLimiter(20, 5, clock=clock)
    assert limiter.reserve(confirm=True) == 0.0
    clock.now += 0.03  # the writer is held up; the burst would allow the next at once
    assert limiter.reserve() > 0  # but nothing goes before the write is confirmed
    limiter.sent()
    written = clock.now
    assert send(limiter, clock) == written  # then the burst's credit is there again
    limiter = RateLimiter(20, 1, clock=clock)
    reserved = clock.now
    limiter.reserve(confirm=True)
    clock.now += 0.03
    limiter.sent()
    # burst 1: the next one interval after the write, not after the reservation
    assert send(limiter, clock) == pytest.approx(reserved + 0.03 + 0.05)
    assert limiter.stats.min_gap_s == pytest.approx(0.05)


def _answered_run(
    rate: float,
    rtt: Callable[[int], float],
    *,
    server: TokenBucket | None = None,
    feed_answers: bool = True,
    after_429: bool = False,
    n: int = 400,
) -> tuple[int, float]:
    """``n`` requests through a burst-1 limiter at ``rate`` (no adaptive cut: the pacing alone).

    ``rtt(k)`` is request k's answer time; the server saw the request ``rtt(k) - 1 ms`` after
    it was written (a stall before it came in shows in both). A ``server`` bucket, asked at
    each arrival, answers 429 (and its ``Retry-After`` is honoured) when it has no token.
    ``feed_answers`` tells the limiter when each answer came; ``after_429`` starts it just
    after a 429 (answered at once). Returns the 429s and the achieved rate.
    """
    clock = FakeClock() if server is None else server._clock
    assert isinstance(clock, FakeClock)
    limiter = RateLimiter(rate, 1, adaptive=False, headroom=0.02, clock=clock)
    if after_429:
        limiter.throttled()
    answers: list[tuple[float, float, int]] = []  # (answer time, write stamp, status)
    refused, stamps = 0, []
    for k in range(n):
        while (wait := limiter.reserve(confirm=True)) > 0:
            due = clock.now + wait
            ready = [a for a in answers if a[0] <= due]
            if not ready or not feed_answers:
                clock.now = due
                continue
            answer = min(ready)
            answers.remove(answer)
            clock.now = max(clock.now, answer[0])
            limiter.answered(answer[1], "PUT", answer[2])
        stamp = limiter.sent("PUT")
        assert stamp is not None
        stamps.append(stamp)
        took, status = rtt(k), 200
        if server is not None:
            saved, clock.now = clock.now, stamp + max(0.0005, took - 0.001)  # its arrival
            wait = server.acquire()
            clock.now = saved
            if wait > 0:
                refused, status = refused + 1, 429
                limiter.throttled(retry_after=max(1, math.ceil(wait)))
        answers.append((stamp + took, stamp, status))
    return refused, (len(stamps) - 1) / (stamps[-1] - stamps[0])


@pytest.mark.parametrize("stall", [0.006, 0.025])
def test_after_a_429_an_answer_that_shows_a_stall_keeps_the_next_request_behind_it(
    stall: float,
) -> None:
    """A server at exactly the client's rate, no burst to spare, busy at every 25th request:
    it sees that request ``stall`` late and the next on time, too close. The first such 429
    says the server has no room; from then on the late answer moves the next request (a 6 ms
    stall at 100/s: the answer comes before the next is due), or the next waits for an overdue
    answer (25 ms: the next was due first)."""

    def rtt(k: int) -> float:
        return 0.001 + (stall if k % 25 == 24 else 0.0)

    def bucket() -> TokenBucket:
        return TokenBucket(100, 1, clock=FakeClock())

    blind, rate_blind = _answered_run(100, rtt, server=bucket(), feed_answers=False)
    read, rate_read = _answered_run(100, rtt, server=bucket())
    assert blind >= 10  # every stall costs the next request a 429, and its Retry-After
    assert read == 1  # the first one: it is the evidence
    assert rate_read > 3 * rate_blind


@pytest.mark.parametrize("rate", [10.0, 20.0])
def test_before_any_429_answers_that_spread_cost_no_rate(rate: float) -> None:
    """Answers in 30 to 80 ms from a server with room to spare (no 429 yet): the rate holds."""
    rnd = random.Random(1)
    _, achieved = _answered_run(rate, lambda k: rnd.uniform(0.030, 0.080))
    assert achieved == pytest.approx(rate * 0.98, rel=0.001)


@pytest.mark.parametrize("rate", [10.0, 20.0])
def test_after_a_429_answers_that_spread_cost_at_most_a_fifth(rate: float) -> None:
    """The price of reading answers once a 429 came: with answers spread over 30 to 80 ms,
    each one later than the quickest moves the next send by the difference, up to 50 ms."""
    rnd = random.Random(1)
    _, achieved = _answered_run(rate, lambda k: rnd.uniform(0.030, 0.080), after_429=True)
    assert 0.8 * rate * 0.98 < achieved < 0.97 * rate * 0.98  # a price, and a bounded one


def test_a_slow_answer_delays_the_next_send_by_at_most_the_cap() -> None:
    """At 1/s, after a 429, an answer 400 ms slower than usual moves the next send 50 ms."""
    clock = FakeClock()
    limiter = RateLimiter(1, 1, adaptive=False, clock=clock)
    limiter.throttled()
    stamps = []
    for k in range(12):
        stamp = send_written(limiter, clock)
        stamps.append(stamp)
        clock.now = stamp + (0.5 if k == 11 else 0.1)
        limiter.answered(stamp, "PUT", 200)
    while (wait := limiter.reserve(confirm=True)) > 0:
        clock.now += wait
    assert clock.now - stamps[-1] == pytest.approx(1.0 + 0.05, abs=0.001)


def test_an_answer_that_comes_after_the_next_send_changes_nothing() -> None:
    """With answers slower than the interval, pacing is what it was, even after a 429."""
    clock = FakeClock()
    limiter = RateLimiter(100, 1, adaptive=False, clock=clock)
    limiter.throttled()
    stamps: list[float] = []
    for _ in range(50):
        stamp = send_written(limiter, clock)
        stamps.append(stamp)
        if len(stamps) > 3:  # the answer to the request three back, 35 ms after it was sent
            limiter.answered(stamps[-4], "PUT", 200)
    gaps = [b - a for a, b in itertools.pairwise(stamps)]
    assert max(gaps) == pytest.approx(0.01)


def test_an_answer_that_never_comes_holds_the_next_send_at_most_the_cap() -> None:
    """A request lost on the way (a reset) has no answer: after a 429 the next waits for it
    50 ms past its own time, no more."""
    clock = FakeClock()
    limiter = RateLimiter(100, 1, adaptive=False, clock=clock)
    limiter.throttled()
    for _ in range(10):  # answers come 1 ms after their request: that is the usual
        stamp = send_written(limiter, clock)
        clock.now += 0.001
        limiter.answered(stamp, "PUT", 200)
    lost = send_written(limiter, clock)
    while (wait := limiter.reserve(confirm=True)) > 0:
        clock.now += wait
    assert clock.now - lost == pytest.approx(0.010 + 0.050, abs=0.0025)


def test_an_aborted_wait_takes_no_slot_and_leaves_another_runs_slot_alone() -> None:
    """Two runs share the limiter: one holds a slot it has not yet written; the other is
    stopped while it waits. The stopped one is told it has no slot (so it confirms nothing),
    and the first run's slot stays open until its own write."""
    clock = FakeClock()
    limiter = RateLimiter(20, 1, clock=clock)
    assert limiter.reserve(confirm=True) == 0.0  # the first run's slot, not yet written
    stopped = asyncio.Event()
    stopped.set()
    assert asyncio.run(limiter.acquire(stopped, confirm=True)) is False
    assert limiter.reserve() > 0  # still waiting for the first run's write
    assert limiter.sent("PUT") is not None  # which confirms its own slot
