"""Shared fixtures: real sandbox servers on 127.0.0.1, one per test, with fresh state.

``sandbox`` is the common case (in-memory state seeded from samples/segments.csv); ``make_sandbox``
starts one with other options, e.g. ``make_sandbox(p_503=...)`` is spelled
``make_sandbox(faults=FaultOptions(p_503=0.2))``. Every sandbox started here stops at teardown.
"""

from __future__ import annotations

import contextlib
import logging
import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from segsync import secrets
from segsync.output.stats import clear_zone_cache
from segsync.sandbox import Sandbox, SandboxOptions, run_sandbox

SAMPLES_CSV = Path(__file__).resolve().parent.parent / "samples" / "segments.csv"

MakeSandbox = Callable[..., Sandbox]


@pytest.fixture(autouse=True)
def _isolated_global_state() -> Iterator[None]:
    """Each test starts from the same process state: environment, known secrets, log handlers.

    The CLI installs root log handlers and the client registers tokens for redaction; a test
    that leaked either would change what the next test sees.
    """
    environ = dict(os.environ)
    known_secrets = set(secrets._secrets)
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    os.environ.clear()
    os.environ.update(environ)
    secrets._secrets.clear()
    secrets._secrets.update(known_secrets)
    for handler in list(root.handlers):
        if handler not in handlers:
            root.removeHandler(handler)
            handler.close()
    root.setLevel(level)


@pytest.fixture
def make_sandbox() -> Iterator[MakeSandbox]:
    """Factory: ``make_sandbox(**SandboxOptions fields)``; defaults to the sample CSV in memory."""
    with contextlib.ExitStack() as stack:

        def make(**options: Any) -> Sandbox:
            options.setdefault("seed_csv", SAMPLES_CSV)
            return stack.enter_context(run_sandbox(SandboxOptions(**options)))

        yield make


@pytest.fixture
def sandbox(make_sandbox: MakeSandbox) -> Sandbox:
    """A fresh sandbox with the 200 sample segments and default behaviour."""
    return make_sandbox()


MakeClient = Callable[..., httpx.Client]


@pytest.fixture
def make_client() -> Iterator[MakeClient]:
    """Factory: ``make_client(sb, token=None, auth=True, **httpx.Client kwargs)``.

    The client sends ``Bearer <token or sb.token>`` (no header when ``auth`` is false) and ignores
    proxy environment variables, so test traffic never leaves 127.0.0.1.
    """
    with contextlib.ExitStack() as stack:

        def make(
            sb: Sandbox, *, token: str | None = None, auth: bool = True, **kwargs: Any
        ) -> httpx.Client:
            headers = {"Authorization": f"Bearer {token or sb.token}"} if auth else {}
            kwargs.setdefault("timeout", 10.0)
            client = httpx.Client(base_url=sb.base_url, headers=headers, trust_env=False, **kwargs)
            return stack.enter_context(client)

        yield make


@pytest.fixture
def client(sandbox: Sandbox, make_client: MakeClient) -> httpx.Client:
    """An authenticated ``httpx.Client`` for the ``sandbox`` fixture."""
    return make_client(sandbox)


@pytest.fixture
def new_york(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """This computer's zone is New York (UTC-5, UTC-4 in summer) for the test."""
    monkeypatch.setenv("TZ", "America/New_York")
    time.tzset()
    clear_zone_cache()
    yield
    monkeypatch.undo()
    time.tzset()
    clear_zone_cache()
