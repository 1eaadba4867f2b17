"""Serving the app: blocking until Ctrl-C for the command, or in a thread for tests.

Both bind with aiohttp's ``AppRunner``/``TCPSite`` and report the address actually bound, so
``--port 0`` works and the printed URL is always the real one. Without a password the printed
URL carries the page's token (``?token=...``), as Jupyter's does: it is the only way in.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import ssl
import threading
from collections.abc import Callable, Iterator

from aiohttp import web

from segsync.web.options import WebOptions
from segsync.web.state import STATE


def url_of(runner: web.AppRunner, options: WebOptions) -> str:
    host, port = runner.addresses[0][:2]
    shown = options.host if options.host not in ("0.0.0.0", "::", "") else host
    shown = f"[{shown}]" if ":" in shown else shown
    return f"{options.scheme}://{shown}:{port}/"


def ssl_context(options: WebOptions) -> ssl.SSLContext | None:
    if options.tls_cert is None:
        return None
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(str(options.tls_cert), str(options.tls_key or options.tls_cert))
    return context


async def _start(app: web.Application, options: WebOptions) -> tuple[web.AppRunner, str]:
    runner = web.AppRunner(app, handle_signals=False, access_log=None)
    await runner.setup()
    try:
        site = web.TCPSite(runner, options.host, options.port, ssl_context=ssl_context(options))
        await site.start()
    except BaseException:
        await runner.cleanup()
        raise
    return runner, url_of(runner, options)


def serve(app: web.Application, options: WebOptions, echo: Callable[[str], None]) -> None:
    """Serve until SIGINT/SIGTERM; the first one stops runs gracefully and waits for them."""

    async def main() -> None:
        runner, url = await _start(app, options)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.add_signal_handler(sig, stop.set)
        # one line, the whole address on it: people copy it, scripts (CI) parse it
        echo(f"segsync web: open {app[STATE].sign_in_url(url)}  (Ctrl-C to stop)")
        try:
            await stop.wait()
            echo("segsync web: stopping (runs in progress finish their requests in flight)")
        finally:
            await runner.cleanup()

    asyncio.run(main())


@contextlib.contextmanager
def serve_in_thread(app: web.Application, options: WebOptions | None = None) -> Iterator[str]:
    """Serve ``app`` on a private loop in a daemon thread; yields its URL once it listens."""
    options = options or WebOptions(port=0)
    ready = threading.Event()
    box: dict[str, object] = {}
    loop = asyncio.new_event_loop()

    def run() -> None:
        asyncio.set_event_loop(loop)
        try:
            runner, url = loop.run_until_complete(_start(app, options))
        except BaseException as exc:
            box["error"] = exc
            ready.set()
            return
        box["runner"], box["url"] = runner, url
        ready.set()
        loop.run_forever()
        loop.run_until_complete(runner.cleanup())
        loop.close()

    thread = threading.Thread(target=run, name="segsync-web", daemon=True)
    thread.start()
    ready.wait()
    if "error" in box:
        thread.join()
        raise box["error"]  # type: ignore[misc]
    try:
        yield str(box["url"]).rstrip("/")
    finally:
        loop.call_soon_threadsafe(loop.stop)
        thread.join()
