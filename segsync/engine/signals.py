"""Ctrl-C and SIGTERM while a run sends: the first stops it gracefully, the second at once.

A person pressing Ctrl-C and a scheduler stopping a nightly job get the same treatment: the
first signal lets the requests in flight finish and sends nothing new, so every row sent is
recorded; a second one also abandons what is in flight. Both go through the run's
``RunControl``, like every other reason to stop. Only the CLI asks for this (the web server
and a library caller keep their own signal handling).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import Iterator

from segsync.engine.runcontrol import RunControl

# what a run logs keeps the one logger name it had before the run was split into modules
log = logging.getLogger("segsync.run")


@contextlib.contextmanager
def stop_on_signals(control: RunControl, *, enabled: bool) -> Iterator[None]:
    """First SIGINT/SIGTERM: graceful stop. Second: abandon requests in flight."""
    if not enabled:
        yield
        return
    loop = asyncio.get_running_loop()
    hits = {"count": 0}

    def on_signal(signum: int) -> None:
        hits["count"] += 1
        name = signal.Signals(signum).name
        if hits["count"] == 1:
            log.warning("%s received: finishing requests in flight, then stopping", name)
            control.stop(f"interrupted ({name})")
        else:
            log.warning("%s received again: stopping now", name)
            control.stop(f"interrupted ({name})", hard=True)

    installed = []
    for sig in (signal.SIGINT, signal.SIGTERM):
        try:
            loop.add_signal_handler(sig, on_signal, sig)
            installed.append(sig)
        except (NotImplementedError, RuntimeError):
            continue
    try:
        yield
    finally:
        for sig in installed:
            loop.remove_signal_handler(sig)
