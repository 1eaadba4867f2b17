"""The error-class table and the wait rules, as a table."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest

from segsync.api.retry import Disposition, RetryPolicy, classify, parse_retry_after
from segsync.config import RetrySettings

TABLE = [
    (200, "PUT", Disposition.SUCCESS),
    (204, "GET", Disposition.SUCCESS),
    (429, "PUT", Disposition.RETRYABLE),
    (429, "GET", Disposition.RETRYABLE),
    (502, "PUT", Disposition.RETRYABLE),
    (503, "GET", Disposition.RETRYABLE),
    (504, "PUT", Disposition.RETRYABLE),
    (None, "PUT", Disposition.RETRYABLE),  # connect error, timeout, reset
    (None, "GET", Disposition.RETRYABLE),
    (500, "PUT", Disposition.RETRY_PUT),
    (500, "GET", Disposition.PERMANENT),
    (400, "PUT", Disposition.PERMANENT),
    (404, "GET", Disposition.PERMANENT),
    (409, "PUT", Disposition.PERMANENT),
    (422, "PUT", Disposition.PERMANENT),
    (401, "PUT", Disposition.FATAL),
    (401, "GET", Disposition.FATAL),
    (403, "PUT", Disposition.FATAL),
]


@pytest.mark.parametrize(("status", "method", "expected"), TABLE)
def test_classify(status: int | None, method: str, expected: Disposition) -> None:
    assert classify(status, method) is expected


def test_retry_after_seconds_and_http_date() -> None:
    now = datetime(2026, 11, 26, 12, 0, 0, tzinfo=UTC)
    assert parse_retry_after("3") == 3.0
    assert parse_retry_after(" 0 ") == 0.0
    when = format_datetime(now + timedelta(seconds=7), usegmt=True)
    assert parse_retry_after(when, now=now) == pytest.approx(7.0)
    past = format_datetime(now - timedelta(seconds=30), usegmt=True)
    assert parse_retry_after(past, now=now) == 0.0
    assert parse_retry_after("soon") is None
    assert parse_retry_after(None) is None


def test_retry_after_is_capped() -> None:
    policy = RetryPolicy(RetrySettings(retry_after_cap_s=10))
    assert policy.delay(1, 3600.0) == 10.0
    assert policy.delay(1, 2.0) == 2.0


def test_backoff_is_full_jitter_within_exponential_ceiling() -> None:
    policy = RetryPolicy(RetrySettings(backoff_base_s=0.5, backoff_max_s=4), rng=random.Random(1))
    for attempts, ceiling in [(1, 0.5), (2, 1.0), (3, 2.0), (4, 4.0), (9, 4.0)]:
        delays = [policy.delay(attempts, None) for _ in range(200)]
        assert all(0 <= d <= ceiling for d in delays)
        assert max(delays) > ceiling * 0.8  # spread over the whole range, not fixed
        assert min(delays) < ceiling * 0.2


def test_attempt_budgets() -> None:
    policy = RetryPolicy(RetrySettings(max_attempts=4, put_500_max_attempts=2, max_total_s=60))
    assert policy.may_retry(Disposition.RETRYABLE, 3, 1.0)
    assert not policy.may_retry(Disposition.RETRYABLE, 4, 1.0)
    assert policy.may_retry(Disposition.RETRY_PUT, 1, 1.0, put_500s=1)
    assert not policy.may_retry(Disposition.RETRY_PUT, 2, 1.0, put_500s=2)
    # a 503 and a 429 before a first 500 do not use up the 500 budget, but max_attempts holds
    assert policy.may_retry(Disposition.RETRY_PUT, 3, 1.0, put_500s=1)
    assert not policy.may_retry(Disposition.RETRY_PUT, 4, 1.0, put_500s=1)
    assert not policy.may_retry(Disposition.RETRYABLE, 1, 61.0)  # total time bound
    assert not policy.may_retry(Disposition.PERMANENT, 1, 0.0)
    assert not policy.may_retry(Disposition.FATAL, 1, 0.0)
