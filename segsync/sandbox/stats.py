"""Deterministic, self-consistent read-only statistics for one segment.

Reports show these values next to each row, so they must look like a real fundraising platform's
(display strings such as ``"$1,200.00"`` and ``"12.50%"``) and agree with each other (average =
total / gifts, median <= highest <= total, donors <= gifts, donors <= visitors). They are drawn
from ``(seed, id)`` alone, so the same seed always shows the same numbers.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

#: Creation dates fall in the year before this instant (fixed, so seeding is reproducible).
_EPOCH = datetime(2026, 1, 15, 9, 0, 0, tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class SegmentStats:
    """Raw numbers (money in cents); ``to_json`` renders them the way the API does."""

    donors: int
    gifts: int
    total_cents: int
    median_cents: int
    highest_cents: int
    visitors: int

    def to_json(self) -> dict[str, int | str]:
        average = round(self.total_cents / self.gifts) if self.gifts else 0
        rate = 100.0 * self.donors / self.visitors if self.visitors else 0.0
        return {
            "totalDonors": self.donors,
            "totalGifts": self.gifts,
            "totalGiftAmount": money(self.total_cents),
            "averageGiftAmount": money(average),
            "medianGiftAmount": money(self.median_cents),
            "highestGiftAmount": money(self.highest_cents),
            "totalVisitors": self.visitors,
            "conversionRate": f"{rate:.2f}%",
        }


def money(cents: int) -> str:
    """``123456`` → ``"$1,234.56"``: the display format Raise uses for amounts."""
    return f"${cents // 100:,}.{cents % 100:02d}"


def _rng(seed: int, segment_id: int, purpose: str) -> random.Random:
    # String seeds hash with SHA-512, so this is stable across runs and Python versions.
    return random.Random(f"segsync-sandbox:{seed}:{segment_id}:{purpose}")


def stats_for(seed: int, segment_id: int) -> SegmentStats:
    """The statistics of segment ``segment_id`` under ``seed``."""
    rng = _rng(seed, segment_id, "stats")
    if rng.random() < 0.08:  # a freshly created segment nobody has given through yet
        visitors = rng.randint(0, 40)
        return SegmentStats(0, 0, 0, 0, 0, visitors)
    donors = max(1, int(rng.lognormvariate(4.2, 1.1)))
    gifts = donors + int(donors * rng.uniform(0.0, 1.6))
    visitors = int(donors / rng.uniform(0.02, 0.35)) + rng.randint(0, 25)
    median = max(500, int(rng.lognormvariate(8.3, 0.6)))  # around $40
    if gifts == 1:
        return SegmentStats(donors, gifts, median, median, median, visitors)
    # Gift sizes are right-skewed: the mean sits above the median, one large gift on top.
    average = int(median * rng.uniform(1.1, 2.4))
    total = average * gifts + rng.randint(0, gifts - 1)
    highest = min(total, max(median, int(average * rng.uniform(3.0, 25.0))))
    return SegmentStats(donors, gifts, total, median, highest, visitors)


def created_for(seed: int, segment_id: int) -> tuple[datetime, datetime]:
    """Deterministic ``(createdDateTime, modifiedDateTime)`` for a seeded segment."""
    rng = _rng(seed, segment_id, "dates")
    created = _EPOCH - timedelta(
        seconds=rng.randint(0, 365 * 86400), microseconds=rng.randint(0, 999_999)
    )
    modified = created
    if rng.random() < 0.6:
        modified = created + timedelta(
            seconds=rng.randint(60, 60 * 86400), microseconds=rng.randint(0, 999_999)
        )
        modified = min(modified, _EPOCH)
    return created, modified
