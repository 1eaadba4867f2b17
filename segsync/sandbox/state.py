"""The mutable runtime state one sandbox's handlers and its Python handle share.

Options are frozen; what a test may change while the server runs (token, switches, faults, rate
limit) lives here and is replaced by whole-object assignment, which is atomic in CPython, so the
server thread never sees a half-applied change.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
from typing import Any

from segsync.sandbox.counters import Counters
from segsync.sandbox.faults import FaultInjector
from segsync.sandbox.options import FaultOptions, RateLimitOptions, SandboxOptions
from segsync.sandbox.ratelimit import TokenBucket
from segsync.sandbox.seeding import generate_rows, read_csv
from segsync.sandbox.store import SegmentStore


def open_store(options: SandboxOptions) -> SegmentStore:
    """Open (and, when empty or ``reset``, seed) the store the options describe."""
    store = SegmentStore(options.db)
    try:
        if options.reset or store.count() == 0:
            if options.seed_csv is not None:
                rows = read_csv(options.seed_csv)
            else:
                rows = generate_rows(options.seed_rows, options.seed)
            store.seed(rows, seed=options.seed, reset=options.reset)
    except BaseException:
        store.close()
        raise
    return store


class SandboxState:
    """Everything a request handler consults, in one object stored on the aiohttp app."""

    def __init__(self, options: SandboxOptions, store: SegmentStore) -> None:
        self.options = options
        self.store = store
        self.token: str | None = options.token
        self.counters = Counters()
        self.faults = FaultInjector(options.faults, options.seed)
        self.bucket = _bucket(options.rate_limit)
        #: requests that reached the bucket, for ``RateLimitOptions.late_every``
        self.bucket_arrivals = 0
        #: Set at shutdown so stalled requests wake up instead of holding the server open.
        self.closing = asyncio.Event()

    def update(self, **changes: Any) -> SandboxOptions:
        """Replace option fields; the derived parts (faults, bucket, token) follow."""
        options = dataclasses.replace(self.options, **changes)
        if "faults" in changes:
            self.faults.options = options.faults
        if "rate_limit" in changes:
            self.bucket = _bucket(options.rate_limit)
        if "token" in changes:
            self.token = options.token
        self.options = options
        return options

    def set_faults(self, faults: FaultOptions) -> None:
        self.update(faults=faults)

    async def pause(self, seconds: float) -> None:
        """Sleep ``seconds``, or less if the server is shutting down."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.closing.wait(), timeout=seconds)


def _bucket(limit: RateLimitOptions) -> TokenBucket | None:
    return None if limit.rps is None else TokenBucket(limit.rps, limit.burst)
