"""The one switch that stops a run: shared by fetch, the updater, signal handlers and the web page.

A graceful stop (first Ctrl-C, SIGTERM, the web page's Stop, a 401, the circuit breaker, a
journal that cannot be written) lets requests in flight finish and sends nothing new; a hard
stop (second Ctrl-C) also cancels the tasks doing the work, whichever stage they are in. The
first reason given is the one reported. ``stop`` may be called from another thread (the web
server's), so it hands the event to the run's own loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Callable, Iterable
from typing import Any


class RunControl:
    """Abort flag, its reason, and the tasks a hard stop cancels."""

    def __init__(self) -> None:
        self.reason: str | None = None
        self.hard = False
        self._event: asyncio.Event | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._tasks: set[asyncio.Task[object]] = set()
        self._lock = threading.Lock()
        #: set by the run: how far it has got (rows done, rate, retries, 429s)
        self.status_provider: Callable[[], dict[str, Any]] | None = None

    def status(self) -> dict[str, Any]:
        """The run's progress for a page that polls it (empty before the run starts)."""
        provider = self.status_provider
        return provider() if provider is not None else {}

    # -- used by the run, on its own loop ---------------------------------------------------

    def attach(self) -> asyncio.Event:
        """Bind to the running loop (once per run); returns the event requests wait on."""
        loop = asyncio.get_running_loop()
        with self._lock:
            self._loop = loop
            self._event = asyncio.Event()
            if self.reason is not None:  # stopped before the run got going
                self._event.set()
        return self._event

    @property
    def event(self) -> asyncio.Event:
        """The event requests wait on (bound to the running loop on first use)."""
        if self._event is None:
            return self.attach()
        return self._event

    @property
    def stopped(self) -> bool:
        return self.reason is not None

    def guard(self, tasks: Iterable[asyncio.Task[object]]) -> None:
        """Tasks a hard stop cancels (fetch pages, update workers)."""
        self._tasks.update(tasks)
        if self.hard:
            for task in tasks:
                task.cancel()

    def release(self, tasks: Iterable[asyncio.Task[object]]) -> None:
        self._tasks.difference_update(tasks)

    # -- used by anyone, from any thread ----------------------------------------------------

    def stop(self, reason: str, *, hard: bool = False) -> None:
        """Send nothing new (and with ``hard``, abandon what is in flight)."""
        with self._lock:
            if self.reason is None:
                self.reason = reason
            self.hard = self.hard or hard
            loop = self._loop
        if loop is None or loop.is_closed():
            return
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is loop:
            self._apply()
            return
        with contextlib.suppress(RuntimeError):  # the run's loop closed: nothing left to stop
            loop.call_soon_threadsafe(self._apply)

    def _apply(self) -> None:
        if self._event is not None:
            self._event.set()
        if self.hard:
            for task in list(self._tasks):
                task.cancel()
