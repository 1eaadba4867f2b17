"""Progress for people and for logs: a tqdm bar on a terminal, a log line every few seconds
otherwise (a nightly job's log should show it is alive without a line per row)."""

from __future__ import annotations

import logging
import sys
import time
from typing import Any

log = logging.getLogger("segsync.progress")


class Progress:
    def __init__(self, total: int, *, label: str, interval_s: float = 5.0, enabled: bool = True):
        self.total = total
        self.done = 0
        self.label = label
        self.interval_s = interval_s
        self._started = time.monotonic()
        self._last_log = self._started
        self._bar: Any = None
        if enabled and total and sys.stderr.isatty():
            from tqdm import tqdm

            self._bar = tqdm(total=total, desc=label, unit="row", dynamic_ncols=True, leave=False)

    def advance(self, n: int = 1) -> None:
        self.done += n
        if self._bar is not None:
            self._bar.update(n)
            return
        now = time.monotonic()
        if now - self._last_log >= self.interval_s:
            self._last_log = now
            elapsed = now - self._started
            rate = self.done / elapsed if elapsed else 0.0
            eta = (self.total - self.done) / rate if rate else float("nan")
            log.info(
                "%s: %d/%d rows, %.1f rows/s, about %.0fs left",
                self.label,
                self.done,
                self.total,
                rate,
                eta,
                extra={"event": "progress", "done": self.done, "total": self.total},
            )

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None
