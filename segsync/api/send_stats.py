"""What a limiter's sends looked like, as the benchmarks and tests read them.

Kept apart from the pacing itself: the limiter records each send here and never reads it back,
so the numbers describe what it did rather than steer it.
"""

from __future__ import annotations

import collections
from dataclasses import dataclass


@dataclass
class SendStats:
    """What the sends looked like: how close two came, and the most in one ``burst/rate`` window.

    The window is the configured one (``burst / requests_per_second``), so ``max_in_window``
    greater than ``burst`` means the limiter broke its promise.
    """

    window_s: float
    sends: int = 0
    min_gap_s: float | None = None
    max_in_window: int = 0
    first_at: float | None = None
    last_at: float | None = None

    def __post_init__(self) -> None:
        self._recent: collections.deque[float] = collections.deque()

    def record(self, now: float) -> None:
        if self.last_at is not None:
            gap = now - self.last_at
            self.min_gap_s = gap if self.min_gap_s is None else min(self.min_gap_s, gap)
        self.first_at = now if self.first_at is None else self.first_at
        self.last_at = now
        self.sends += 1
        recent = self._recent
        recent.append(now)
        # a small tolerance so float noise at exactly one window apart is not counted as inside
        while recent[0] <= now - self.window_s + 1e-9:
            recent.popleft()
        self.max_in_window = max(self.max_in_window, len(recent))
