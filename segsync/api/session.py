"""Open the API for one run: the embedded sandbox if configured, the token, limiter and client.

``api.base_url: sandbox`` starts a local Raise-compatible server for the duration of the run
(state in ``sandbox.db``, seeded the first time from ``sandbox.seed_csv``, by default the sample
segments shipped inside the package), so the demo and the tests need no account, in any
folder. Anything else is a real API: the token must come from the environment (or a token file)
and the URL must be https (or loopback). ``check_credentials``
does those checks up front, so a bad configuration fails before a journal or results file
exists and before any request.
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import AsyncIterator
from dataclasses import dataclass
from urllib.parse import urlsplit

import httpx

from segsync.api.client import RaiseClient
from segsync.api.shared_limiter import shared_limiter
from segsync.config import Settings
from segsync.engine.runcontrol import RunControl
from segsync.errors import ConfigError
from segsync.private_files import make_dirs
from segsync.secrets import check_base_url, read_token, register_secret


@dataclass(frozen=True)
class Credentials:
    """Where to send requests and with which token; ``None`` means the embedded sandbox."""

    base_url: str | None
    token: str | None

    def __repr__(self) -> str:  # never show the token, even in a debugger or traceback
        return f"Credentials(base_url={self.base_url!r}, token=***)"


def api_target(settings: Settings) -> str:
    """The server a run writes to, as one comparable string.

    The normalised base URL (scheme and host lower-cased, default port and trailing slash
    dropped), or ``sandbox:<absolute db path>`` for the embedded sandbox, whose state is its
    database file. The run lock, the journal header and rollback's target check all use it.
    """
    if settings.uses_embedded_sandbox:
        return f"sandbox:{settings.sandbox.db.expanduser().resolve()}"
    return normalise_base_url(settings.api.base_url)


def normalise_base_url(url: str) -> str:
    """``HTTPS://Host:443/api/`` → ``https://host/api``: one spelling per server."""
    parts = urlsplit(url.strip())
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").lower()
    default = {"http": 80, "https": 443}.get(scheme)
    try:
        port = parts.port
    except ValueError:
        port = None
    netloc = host if port in (None, default) else f"{host}:{port}"
    if ":" in host:  # IPv6 literal
        netloc = f"[{host}]" if port in (None, default) else f"[{host}]:{port}"
    return f"{scheme}://{netloc}{parts.path.rstrip('/')}"


def check_credentials(settings: Settings) -> Credentials:
    """Validate the base URL and read the token; raises ``SecretError`` before anything is sent."""
    if settings.uses_embedded_sandbox:
        return Credentials(None, None)
    check_base_url(settings.api.base_url)
    return Credentials(settings.api.base_url, read_token(settings))


@contextlib.asynccontextmanager
async def open_client(
    settings: Settings,
    credentials: Credentials | None = None,
    *,
    transport: httpx.AsyncBaseTransport | None = None,
    control: RunControl | None = None,
) -> AsyncIterator[RaiseClient]:
    """A ready ``RaiseClient`` for ``settings``; closes it (and any embedded sandbox) after.

    ``control`` is the run's stop switch (a fresh one when not given); it is bound to the
    running loop here, so a stop from another thread reaches this run.
    """
    credentials = credentials or check_credentials(settings)
    control = control or RunControl()
    control.attach()
    with contextlib.ExitStack() as stack:
        if credentials.base_url is None:
            base_url, token = _start_embedded_sandbox(settings, stack)
        else:
            base_url, token = credentials.base_url, credentials.token or ""
        register_secret(token)
        rl = settings.rate_limit
        # one limiter per API per process: parallel runs (the web page's) share one rate
        limiter = shared_limiter(
            api_target(settings),
            rl.requests_per_second,
            rl.burst,
            adaptive=rl.adaptive,
            min_rate=rl.min_requests_per_second,
            headroom=rl.headroom,
        )
        client = RaiseClient(
            settings.api,
            settings.retries,
            base_url,
            token,
            limiter,
            control,
            concurrency=rl.max_concurrency,
            transport=transport,
        )
        async with client:
            yield client


def _start_embedded_sandbox(settings: Settings, stack: contextlib.ExitStack) -> tuple[str, str]:
    from segsync.sandbox import SandboxOptions, run_sandbox
    from segsync.sandbox.seeding import PACKAGED_SEED

    sb = settings.sandbox
    seed = sb.seed_csv if sb.seed_csv is not None or sb.seed_rows else PACKAGED_SEED
    try:
        make_dirs(sb.db.parent)
        options = SandboxOptions(db=sb.db, seed_csv=seed, seed_rows=sb.seed_rows)
        handle = stack.enter_context(run_sandbox(options))
    except (OSError, ValueError, sqlite3.Error) as exc:
        raise ConfigError(
            f"The embedded sandbox could not start ({type(exc).__name__}: {exc}). Check "
            "sandbox.db and sandbox.seed_csv in the config, or delete the sandbox's db file "
            "to start from the seed again."
        ) from None
    return handle.base_url, handle.token or ""
