"""How much the page takes on at once: previews in progress, and disk for uploads and previews.

A preview reads a whole sheet and the server's segments, then plans every row: at a million
rows that is seconds of CPU and a good share of a gigabyte. ``Slots`` lets only a few run at a
time (``WebOptions.max_previews``); one more is refused with a sentence, before a byte of its
file is stored. Writes need no slot of their own: the run lock lets one run at a time write to
the API, page and command line alike.

``Storage`` keeps the private folder (uploads kept for a sheet choice, preview workbooks)
under ``WebOptions.storage_mb``: before an upload is received, room is made for it by removing
the oldest uploads and previews that nothing is using; when everything stored is in use, the
upload is refused.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from pathlib import Path
from types import TracebackType


class Slots:
    """A counter of things in progress with a ceiling; ``take`` returns a ``Slot`` or None."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._used = 0
        self._lock = threading.Lock()

    @property
    def used(self) -> int:
        return self._used

    def take(self) -> Slot | None:
        with self._lock:
            if self._used >= self.limit:
                return None
            self._used += 1
        return Slot(self)

    def _release(self) -> None:
        with self._lock:
            self._used = max(0, self._used - 1)


class Slot:
    """One taken slot: given back when the ``with`` block ends, unless ``hand_over`` passed it
    on to a job (whose end gives it back, exactly once)."""

    def __init__(self, slots: Slots) -> None:
        self._slots = slots
        self._held = True
        self._lock = threading.Lock()

    def hand_over(self) -> Callable[[], None]:
        self._held = False
        done = False

        def release() -> None:
            nonlocal done
            with self._lock:
                if done:
                    return
                done = True
            self._slots._release()

        return release

    def __enter__(self) -> Slot:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._held:
            self._held = False
            self._slots._release()


def folder_size(folder: Path) -> int:
    """Bytes in the files under ``folder`` (symlinks not followed; vanishing files skipped)."""
    total = 0
    for root, _dirs, files in os.walk(folder):
        for name in files:
            try:
                total += os.lstat(os.path.join(root, name)).st_size
            except OSError:
                continue
    return total
