"""The pace of a run as the server saw it: when each request arrived, when it was answered, and
what it was told. The sandbox records every arrival (``counters.snapshot().arrivals``), so these
tests check the client's promises against the server's clock rather than the client's books:

- nothing is retried, and nothing new is sent, before a 429's ``Retry-After`` has passed;
- the closest sends are one interval apart with burst 1 (``burst`` sends per interval with more);
- no more than ``max_concurrency`` requests are ever in flight.

Both sides use this process's ``time.monotonic()``, so the times compare directly. Each test
takes a few seconds at most: the rates are high and the ``Retry-After`` is the smallest there is.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from segsync.engine import pipeline
from segsync.sandbox import FaultOptions, RateLimitOptions, Sandbox
from segsync.sandbox.counters import Arrival
from tests.conftest import MakeSandbox
from tests.helpers import settings_for, write_csv

#: a request the client sent just before it read a 429 may still arrive just after it was
#: answered; anything later than this was sent after the client knew it had to wait
IN_FLIGHT_GRACE_S = 0.25
#: how much closer than one interval two arrivals may be (scheduling jitter on a busy machine)
JITTER = 0.25


def rename(sandbox: Sandbox, path: Path, count: int) -> Path:
    rows = [[s["id"], f"{s['name']} (paced)"] for s in sandbox.segments()[:count]]
    return write_csv(path, ["id", "name"], rows)


def throttled(arrivals: tuple[Arrival, ...]) -> list[tuple[Arrival, float]]:
    """Each 429 with the moment it was answered and the ``Retry-After`` it carried."""
    found = []
    for a in arrivals:
        if a.status == 429:
            assert a.answered_at is not None and a.retry_after is not None, a
            found.append((a, float(a.retry_after)))
    return found


def test_retry_after_is_waited_out_and_concurrency_is_capped(
    make_sandbox: MakeSandbox, tmp_path: Path
) -> None:
    # one PUT in ten is a 429 saying "retry after 1 s"; every PUT takes 60 ms, so at 40/s the
    # client would keep three in flight if it were let
    faults = FaultOptions(p_429=0.1, retry_after_s=1, latency_ms=60, methods=("PUT",))
    sandbox = make_sandbox(faults=faults, seed=2)
    sheet = rename(sandbox, tmp_path / "edits.csv", 12)
    settings = settings_for(
        sandbox,
        tmp_path,
        **{
            "rate_limit.requests_per_second": 40,
            "rate_limit.max_concurrency": 2,
            "retries.backoff_base_s": 0.01,
            "retries.backoff_max_s": 0.01,
        },
    )

    result = pipeline.sync(sheet, settings, out=False)

    assert {r.outcome.value for r in result.rows} == {"updated"}
    snap = sandbox.counters.snapshot()
    assert 2 <= len(throttled(snap.arrivals)) == snap.faults["429"]
    assert snap.max_in_flight == 2  # the cap was reached, and never passed
    for answer, wait in throttled(snap.arrivals):
        assert answer.answered_at is not None
        free_at = answer.answered_at + wait
        # the throttled PUT itself comes back only once Retry-After has passed
        retry = next(a for a in snap.arrivals if a.put_id == answer.put_id and a.at > answer.at)
        assert retry.at >= free_at - 0.001, (answer, retry)
        # and nothing else leaves meanwhile, apart from what was already on its way
        early = [
            a for a in snap.arrivals if answer.answered_at + IN_FLIGHT_GRACE_S < a.at < free_at
        ]
        assert early == [], (answer, early)


@pytest.mark.parametrize("burst", [1, 3])
def test_the_closest_sends_are_as_far_apart_as_the_burst_allows(
    make_sandbox: MakeSandbox, tmp_path: Path, burst: int
) -> None:
    rate = 5.0
    # the read of the current state takes 0.8 s: the limiter has all the time it needs to save
    # up every token it is allowed (and, on main, the extra half token of SLACK) before the
    # first PUT, which is where a burst too many would show
    sandbox = make_sandbox(faults=FaultOptions(latency_ms=800, methods=("GET",)))
    sheet = rename(sandbox, tmp_path / "edits.csv", 8)
    settings = settings_for(
        sandbox,
        tmp_path,
        **{
            "rate_limit.requests_per_second": rate,
            "rate_limit.burst": burst,
            "rate_limit.max_concurrency": 4,
        },
    )

    result = pipeline.sync(sheet, settings, out=False)

    assert {r.outcome.value for r in result.rows} == {"updated"}
    times = [a.at for a in sandbox.counters.snapshot().arrivals]
    assert len(times) >= 9  # the list read, then one PUT a row
    # a token bucket of ``burst`` tokens: any burst + 1 sends in a row span at least one interval
    spans = [later - first for first, later in zip(times, times[burst:], strict=False)]
    assert min(spans) >= (1 - JITTER) / rate, sorted(spans)[:3]


def test_after_the_first_429_a_request_the_server_saw_late_does_not_cost_the_next_one_a_429(
    make_sandbox: MakeSandbox, tmp_path: Path
) -> None:
    """A server at exactly the client's rate, with no burst to spare, that now and then is busy.

    Every 10th request reaches its throttle 30 ms late (and is answered that much later); the
    next one, sent on time, would reach it 30 ms less than an interval after: a 429 each time,
    had the client not read the late answer as a late arrival. The first 429 is the evidence
    that the server has no room to spare; after it, none. The 10 % headroom stands for the room
    the configuration leaves for ordinary scheduling jitter; the 30 ms is six times that.
    """
    rate = 20.0
    sandbox = make_sandbox(rate_limit=RateLimitOptions(rate, 1, late_every=10, late_ms=30))
    sheet = rename(sandbox, tmp_path / "edits.csv", 50)
    settings = settings_for(
        sandbox,
        tmp_path,
        **{
            "rate_limit.requests_per_second": rate,
            "rate_limit.burst": 1,
            "rate_limit.headroom": 0.1,
            "rate_limit.max_concurrency": 4,
        },
    )

    result = pipeline.sync(sheet, settings, out=False)

    assert {r.outcome.value for r in result.rows} == {"updated"}
    snap = sandbox.counters.snapshot()
    assert len(snap.arrivals) >= 52  # the list read, a PUT a row (five late), one retry
    assert len(throttled(snap.arrivals)) == 1, throttled(snap.arrivals)
