"""Which failures are retried, how long to wait, and when to give up: one table, one place.

| answer                                   | class       | what happens                          |
|------------------------------------------|-------------|---------------------------------------|
| 2xx                                      | success     |                                       |
| 429, 502, 503, 504                       | retryable   | retry; 429 also slows the whole run   |
| connect error, timeout, reset, protocol  | retryable   | retry (PUT is idempotent)             |
| 500 on PUT                               | retry_put   | retry within ``put_500_max_attempts`` |
| 400, 404, 409, 422 (and any other 4xx)   | permanent   | a row outcome, never retried          |
| 401, 403                                 | fatal       | the run stops at once                 |
| other 5xx (500 on GET, 501, 505 …)       | permanent   | reported on the row                   |

``Retry-After`` is honoured in both forms (delta-seconds and HTTP-date) and capped; without it
the wait is exponential with full jitter (``uniform(0, min(max, base * 2**n))``, AWS's "full
jitter"), which spreads retries of many workers instead of synchronising them.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from enum import StrEnum

from segsync.config import RetrySettings


class Disposition(StrEnum):
    SUCCESS = "success"
    RETRYABLE = "retryable"
    RETRY_PUT = "retry_put"
    PERMANENT = "permanent"
    FATAL = "fatal"


RETRYABLE_STATUSES = frozenset({429, 502, 503, 504})
FATAL_STATUSES = frozenset({401, 403})


def classify(status: int | None, method: str) -> Disposition:
    """Classify an answer; ``status`` None means no HTTP answer arrived (network failure)."""
    if status is None or status in RETRYABLE_STATUSES:
        return Disposition.RETRYABLE
    if 200 <= status < 300:
        return Disposition.SUCCESS
    if status in FATAL_STATUSES:
        return Disposition.FATAL
    if status == 500 and method.upper() == "PUT":
        return Disposition.RETRY_PUT
    return Disposition.PERMANENT


def parse_retry_after(value: str | None, *, now: datetime | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (delta-seconds or HTTP-date), or None."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


class RetryPolicy:
    """Decides whether another attempt is allowed and how long to wait before it."""

    def __init__(self, settings: RetrySettings, rng: random.Random | None = None) -> None:
        self.settings = settings
        self._rng = rng or random.Random()

    def may_retry(
        self, disposition: Disposition, attempts: int, elapsed_s: float, *, put_500s: int = 0
    ) -> bool:
        """Another attempt after ``attempts`` (``put_500s`` of them answered 500 to a PUT)?

        The 500 budget counts 500s, not attempts: it is there because a 500 may be the
        server's bug rather than a passing fault, and a 503 or 429 earlier says nothing of that.
        """
        s = self.settings
        if disposition is Disposition.RETRY_PUT:
            if put_500s >= s.put_500_max_attempts:
                return False
        elif disposition is not Disposition.RETRYABLE:
            return False
        return attempts < s.max_attempts and elapsed_s < s.max_total_s

    def delay(self, attempts: int, retry_after: float | None) -> float:
        """Seconds before attempt ``attempts + 1``."""
        s = self.settings
        if retry_after is not None:
            return min(retry_after, s.retry_after_cap_s)
        ceiling = min(s.backoff_max_s, s.backoff_base_s * (2 ** (attempts - 1)))
        return self._rng.uniform(0, ceiling)
