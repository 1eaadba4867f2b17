"""A local, Raise-compatible segment API for demos, tests and benchmarks: the documented contract
plus what a test needs and production never offers (seeded faults, a server-side throttle,
request counters, back doors to change state as a colleague would). ``run_sandbox`` starts one
from Python; ``segsync sandbox`` from the command line. ``SandboxOptions`` lists how it decides
where the Raise reference is silent.
"""

from segsync.sandbox.counters import Counters, CounterSnapshot
from segsync.sandbox.options import (
    DEFAULT_MAX_TAKE,
    DEFAULT_SEED_ROWS,
    DEFAULT_TAKE,
    DEMO_TOKEN,
    FaultOptions,
    RateLimitOptions,
    SandboxOptions,
)
from segsync.sandbox.runner import Sandbox, run_sandbox, serve

__all__ = [
    "DEFAULT_MAX_TAKE",
    "DEFAULT_SEED_ROWS",
    "DEFAULT_TAKE",
    "DEMO_TOKEN",
    "CounterSnapshot",
    "Counters",
    "FaultOptions",
    "RateLimitOptions",
    "Sandbox",
    "SandboxOptions",
    "run_sandbox",
    "serve",
]
