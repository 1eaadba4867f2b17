"""How far a run has got: a bar on a terminal, a log line every few seconds otherwise (a nightly
job's log shows it is alive without a line per row), and numbers the web page polls."""

from __future__ import annotations

import logging
import sys
import time
from typing import Any

log = logging.getLogger("segsync.progress")


class Progress:
    """Rows done out of ``total``; ``bar`` allows a tqdm bar when stderr is a terminal."""

    def __init__(self, total: int, *, label: str, interval_s: float = 5.0, bar: bool = True):
        self.total = total
        self.done = 0
        self.label = label
        self.interval_s = interval_s
        self.started = time.monotonic()
        self._last_log = self.started
        self._bar: Any = None
        if bar and total and sys.stderr.isatty():
            from tqdm import tqdm

            self._bar = tqdm(total=total, desc=label, unit="row", dynamic_ncols=True, leave=False)

    def rate(self) -> float:
        """Rows per second so far."""
        elapsed = time.monotonic() - self.started
        return self.done / elapsed if elapsed > 0 else 0.0

    def eta_s(self) -> float | None:
        """Seconds left at the rate so far (None before the first row)."""
        rate = self.rate()
        return (self.total - self.done) / rate if rate > 0 else None

    def advance(self, n: int = 1) -> None:
        self.done += n
        if self._bar is not None:
            self._bar.update(n)
            return
        now = time.monotonic()
        if now - self._last_log >= self.interval_s:
            self._last_log = now
            eta = self.eta_s()
            log.info(
                "%s: %d/%d rows, %.1f rows/s, about %s left",
                self.label,
                self.done,
                self.total,
                self.rate(),
                f"{eta:.0f}s" if eta is not None else "?",
                extra={"event": "progress", "done": self.done, "total": self.total},
            )

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None
