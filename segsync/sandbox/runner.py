"""Hosting the sandbox: in a background thread for tests and embedding, or blocking for the CLI.

The thread owns its own event loop, so synchronous code (pytest, the CLI's embedded sandbox) can
start a real TCP server without becoming async. ``run_sandbox`` returns only after the socket is
listening (a ``threading.Event`` set after ``TCPSite.start``), so no caller ever sleeps to wait.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import signal
import sys
import threading
from collections.abc import Callable, Iterator
from types import FrameType
from typing import Any

from aiohttp import web

from segsync.sandbox.app import create_app
from segsync.sandbox.counters import Counters
from segsync.sandbox.options import FaultOptions, RateLimitOptions, SandboxOptions
from segsync.sandbox.state import SandboxState, open_store
from segsync.sandbox.store import SegmentStore


class Sandbox:
    """Handle on a running sandbox: its address, its counters, and back doors into its state.

    The back doors (``modify``, ``set_faults``...) act like the rest of the world would: another
    user editing a segment, the platform starting to throttle, an admin revoking the token.
    """

    def __init__(self, state: SandboxState, base_url: str) -> None:
        self._state = state
        self.base_url = base_url

    # -- what a client needs -----------------------------------------------------------------

    @property
    def token(self) -> str | None:
        """The token currently accepted (None after ``revoke_token``)."""
        return self._state.token

    @property
    def counters(self) -> Counters:
        return self._state.counters

    @property
    def options(self) -> SandboxOptions:
        """The options in force now, including changes made through the setters."""
        return self._state.options

    @property
    def store(self) -> SegmentStore:
        return self._state.store

    # -- auth --------------------------------------------------------------------------------

    def revoke_token(self) -> None:
        """Every later request is a 401, whatever token it carries."""
        self._state.token = None

    def set_token(self, token: str) -> None:
        self._state.update(token=token)

    def set_forbidden(self, forbidden: bool = True) -> None:
        """Answer every authenticated request with 403 (a token without permission)."""
        self._state.update(forbidden=forbidden)

    # -- behaviour ---------------------------------------------------------------------------

    def set_faults(self, faults: FaultOptions | None = None, **fields: Any) -> None:
        """Replace the fault options (or build new ones from keyword fields); the seeded random
        stream continues, so a session stays reproducible."""
        self._state.set_faults(faults if faults is not None else FaultOptions(**fields))

    def set_rate_limit(
        self, rps: float | None, burst: int = 1, *, late_every: int = 0, late_ms: float = 0.0
    ) -> None:
        """Start (or, with ``rps=None``, stop) throttling; the new bucket starts full."""
        self._state.update(rate_limit=RateLimitOptions(rps, burst, late_every, late_ms))

    def configure(self, **changes: Any) -> SandboxOptions:
        """Change other switches on the fly, e.g. ``configure(reject_duplicate_codes=True)``."""
        return self._state.update(**changes)

    # -- state -------------------------------------------------------------------------------

    def segment(self, segment_id: int) -> dict[str, Any] | None:
        """The segment as ``GET /api/Segment/{id}`` would return it, or None."""
        return self._state.store.get(segment_id)

    def segments(self) -> list[dict[str, Any]]:
        """Every segment, ordered by id."""
        return self._state.store.all()

    def campaigns(self) -> list[dict[str, Any]]:
        return self._state.store.campaigns()

    def modify(self, segment_id: int, **fields: Any) -> dict[str, Any]:
        """Edit camelCase fields directly, as another user would; ``modifiedDateTime`` moves."""
        return self._state.store.modify(segment_id, fields)

    def add_campaign(self, campaign_id: int, name: str) -> None:
        """Create (or rename) a campaign, e.g. as a target for moving segments."""
        self._state.store.add_campaign(campaign_id, name)

    def delete(self, segment_id: int) -> bool:
        """Remove a segment, so later requests for it are 404s."""
        return self._state.store.delete(segment_id)


class _ServerThread:
    """Runs one aiohttp server on a private event loop in a daemon thread until ``stop``."""

    def __init__(self, state: SandboxState) -> None:
        self._state = state
        self._ready = threading.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._runner: web.AppRunner | None = None
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="segsync-sandbox", daemon=True)
        self.address: tuple[str, int] = ("", 0)

    def start(self) -> None:
        """Start the thread and return once the socket listens (or raise why it could not)."""
        self._thread.start()
        self._ready.wait()
        if self._error is not None:
            self._thread.join()
            raise self._error

    def _run(self) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        asyncio.set_event_loop(loop)
        try:
            loop.run_until_complete(self._serve())
        except BaseException as exc:
            self._error = exc
            self._ready.set()
            loop.close()
            return
        self._ready.set()
        try:
            loop.run_forever()
            loop.run_until_complete(self._shutdown())
        finally:
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.close()

    async def _serve(self) -> None:
        options = self._state.options
        # Without an access log aiohttp stays silent; with one it logs to ``aiohttp.access``.
        quiet: dict[str, Any] = {} if options.access_log else {"access_log": None}
        runner = web.AppRunner(
            create_app(self._state),
            shutdown_timeout=options.shutdown_timeout_s,
            handle_signals=False,
            **quiet,
        )
        await runner.setup()
        try:
            site = web.TCPSite(runner, options.host, options.port)
            await site.start()
        except BaseException:
            await runner.cleanup()
            raise
        self._runner = runner
        self.address = runner.addresses[0][:2]

    async def _shutdown(self) -> None:
        self._state.closing.set()  # stalled requests wake up and answer (or find no client)
        if self._runner is not None:
            await self._runner.cleanup()
        pending = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)

    def stop(self) -> None:
        if self._loop is not None and self._thread.is_alive():
            self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join()


def _base_url(host: str, port: int) -> str:
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


@contextlib.contextmanager
def run_sandbox(options: SandboxOptions | None = None, **overrides: Any) -> Iterator[Sandbox]:
    """Start a sandbox in a background thread; yield its handle once it is listening.

    ``overrides`` replace fields of ``options`` (or of the defaults), e.g.
    ``run_sandbox(seed_rows=10, max_take=5)``. Leaving the block stops the server, wakes any
    stalled request, and closes the store.
    """
    if options is None:
        options = SandboxOptions(**overrides)
    elif overrides:
        options = dataclasses.replace(options, **overrides)
    store = open_store(options)
    state = SandboxState(options, store)
    thread = _ServerThread(state)
    try:
        thread.start()
        host, port = thread.address
        yield Sandbox(state, _base_url(host, port))
    finally:
        thread.stop()
        store.close()


def serve(
    options: SandboxOptions,
    *,
    stop: threading.Event | None = None,
    echo: Callable[[str], None] | None = None,
) -> None:
    """Run a sandbox until Ctrl-C / SIGTERM (or until ``stop`` is set), printing how to reach it.

    The first line is the base URL, the second the token, so a script can read both.
    """
    say = echo or (lambda line: print(line, flush=True))
    stop = stop or threading.Event()
    previous: dict[signal.Signals, Any] = {}

    def _on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    if threading.current_thread() is threading.main_thread():
        for signum in (signal.SIGINT, signal.SIGTERM):
            previous[signum] = signal.signal(signum, _on_signal)
    try:
        with run_sandbox(options) as sandbox:
            say(f"Raise sandbox listening on {sandbox.base_url}")
            say(f"Token: {sandbox.token}")
            if options.host not in ("127.0.0.1", "localhost", "::1"):
                print(
                    f"warning: listening on {options.host}; anyone who can reach it can use "
                    "the demo token",
                    file=sys.stderr,
                )
            while not stop.wait(0.2):
                pass
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
