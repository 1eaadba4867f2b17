"""A local, Raise-compatible segment API for demos, tests and benchmarks.

It speaks the contract in shared/raise-api.md (segment GET/PUT/list, a campaign list, bearer auth,
ASP.NET-style ProblemDetails) and adds what a test needs and production never offers: seeded
faults, a server-side throttle, request counters, and back doors to change state as another user
would. Start it from Python with ``run_sandbox`` (a context manager) or from the CLI with
``segsync sandbox`` (``serve``)::

    with run_sandbox(SandboxOptions(seed_csv="samples/segments.csv")) as sb:
        httpx.get(f"{sb.base_url}/api/Segment/100001",
                  headers={"Authorization": f"Bearer {sb.token}"})

Where the Raise reference is silent the sandbox decides as follows (switch in brackets):

- ``Take`` defaults to 25 and is clamped to 100 [``default_take``, ``max_take``]; a negative
  ``Skip``/``Take`` or a non-number is a 400; ``Take=0`` returns only ``total``. Query names are
  PascalCase only; ``SortBy`` and ``Descending`` values match case-insensitively.
- ``Filter`` is a Unicode case-insensitive substring of name or code; ``CampaignId`` may repeat.
- PUT binds JSON property names case-insensitively (ASP.NET web defaults), ignores unknown and
  read-only properties, nulls omitted ones, and needs ``Content-Type: application/json`` (else
  415). Validation (400) comes before the existence check (404), as with ``[ApiController]``.
- A type mismatch reads "The JSON value could not be converted to System.Int64." (or String);
  a numeric string for ``campaignId`` is refused, although ASP.NET's web defaults would accept it.
- ``modifiedDateTime`` moves only when a stored value changes, always forward, in UTC with
  microseconds; ``createdDateTime`` never moves.
- Moving a segment to another existing campaign is allowed [``allow_campaign_move``]; to an
  unknown campaign it is a 400 on ``campaignId``. Duplicate codes in a campaign are accepted
  [``reject_duplicate_codes``: 400 on ``code``, compared case-insensitively].
- 401 has an empty body and ``WWW-Authenticate: Bearer`` (``error="invalid_token"`` for a wrong
  one); ``forbidden`` turns every authenticated request into a 403 ProblemDetails.
- Order of checks: auth, then the rate limit (every authenticated request), then faults (segment
  endpoints only). A throttled request takes no token and no fault draw.
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
