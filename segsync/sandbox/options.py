"""The sandbox's knobs, as frozen dataclasses with explicit, documented defaults.

Everything the Raise reference leaves open is a switch here, so a
test can run the client against each plausible server behaviour. Options are frozen: the running
sandbox swaps whole objects (``Sandbox.set_faults``), which keeps a handler from ever seeing a
half-updated set of probabilities.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from importlib.resources.abc import Traversable
from pathlib import Path

#: The bearer token a fresh sandbox accepts unless told otherwise.
DEMO_TOKEN = "sandbox-demo-token"
#: ``Take`` when the request has none; Raise does not publish its default, 25 is a guess.
DEFAULT_TAKE = 25
#: The largest page the list endpoint returns; a bigger ``Take`` is clamped, not refused.
DEFAULT_MAX_TAKE = 100
#: Rows generated when neither a CSV nor a row count is given.
DEFAULT_SEED_ROWS = 200


def _check_probability(name: str, value: float) -> None:
    if not 0.0 <= value <= 1.0:
        raise ValueError(f"{name} must be a probability in [0, 1], got {value!r}")


@dataclass(frozen=True, slots=True)
class FaultOptions:
    """Injected failures on the segment endpoints, each a probability per request.

    The faults are mutually exclusive bands of one uniform draw, so each fires at exactly its
    configured rate (their sum must not exceed 1). Latency applies on top of whichever fires.
    """

    p_503: float = 0.0
    p_429: float = 0.0
    #: ``Retry-After`` seconds sent with an injected 429.
    retry_after_s: int = 1
    #: PUT only: the write is applied, then the client gets a 500 (an ambiguous failure).
    p_500_after_write: float = 0.0
    #: The TCP connection is reset (RST) before the request is handled (a PUT is not applied).
    p_reset: float = 0.0
    #: The request sleeps ``stall_s`` (longer than a client timeout), then is handled normally:
    #: a stalled PUT is still applied after the client has given up.
    p_stall: float = 0.0
    stall_s: float = 30.0
    #: The answer is ``huge_body_mib`` of JSON whitespace, streamed without a Content-Length
    #: (the store is not touched): a client must stop reading at its own cap.
    p_huge_body: float = 0.0
    huge_body_mib: float = 256.0
    #: The answer's headers come at once, then its body one byte every ``drip_interval_s``
    #: for ``drip_s`` seconds (the store is not touched): only an overall deadline ends it.
    p_drip: float = 0.0
    drip_interval_s: float = 1.0
    drip_s: float = 600.0
    #: Every segment request waits ``latency_ms + uniform(0, jitter_ms)`` before being handled.
    latency_ms: float = 0.0
    jitter_ms: float = 0.0
    #: HTTP methods the faults apply to (e.g. ``("PUT",)`` to break writes but not reads).
    methods: tuple[str, ...] = ("GET", "PUT")

    def __post_init__(self) -> None:
        probabilities = {
            "p_503": self.p_503,
            "p_429": self.p_429,
            "p_500_after_write": self.p_500_after_write,
            "p_reset": self.p_reset,
            "p_stall": self.p_stall,
            "p_huge_body": self.p_huge_body,
            "p_drip": self.p_drip,
        }
        for name, value in probabilities.items():
            _check_probability(name, value)
        if sum(probabilities.values()) > 1.0 + 1e-9:
            raise ValueError("fault probabilities are exclusive and must sum to at most 1")
        if self.retry_after_s < 0:
            raise ValueError("retry_after_s must be >= 0")
        if self.stall_s < 0 or self.latency_ms < 0 or self.jitter_ms < 0:
            raise ValueError("stall_s, latency_ms and jitter_ms must be >= 0")
        if self.huge_body_mib <= 0 or self.drip_interval_s <= 0 or self.drip_s < 0:
            raise ValueError("huge_body_mib and drip_interval_s must be > 0, drip_s >= 0")

    @property
    def any(self) -> bool:
        """True when at least one fault or delay is configured."""
        return bool(
            self.p_503
            or self.p_429
            or self.p_500_after_write
            or self.p_reset
            or self.p_stall
            or self.p_huge_body
            or self.p_drip
            or self.latency_ms
            or self.jitter_ms
        )


@dataclass(frozen=True, slots=True)
class RateLimitOptions:
    """A server-side token bucket over every authenticated request; ``rps=None`` turns it off.

    ``late_every``/``late_ms``: every Nth request reaches the bucket ``late_ms`` late, as on a
    server that was busy (a garbage-collection pause, a slow neighbour) when it came in; its
    answer is that much later too. The next request, on time, then finds the bucket less than
    an interval after the late one: the jitter a client at exactly the server's rate meets.
    """

    rps: float | None = None
    burst: int = 1
    late_every: int = 0
    late_ms: float = 0.0

    def __post_init__(self) -> None:
        if self.rps is not None and self.rps <= 0:
            raise ValueError("rps must be > 0 (or None for no limit)")
        if self.burst < 1:
            raise ValueError("burst must be >= 1")
        if self.late_every < 0 or self.late_ms < 0:
            raise ValueError("late_every and late_ms must be >= 0")


@dataclass(frozen=True, slots=True)
class SandboxOptions:
    """How one sandbox instance starts and behaves.

    Seeding: ``seed_csv`` wins over ``seed_rows``; a db file that already holds segments is not
    reseeded (state survives a restart) unless ``reset`` is true. ``seed`` drives generated rows,
    the per-segment statistics and the fault draws, so one number reproduces a whole session.

    Where the Raise reference is silent the sandbox decides as follows (switch in brackets):

    - ``Take`` defaults to 25 and is clamped to 100 [``default_take``, ``max_take``]; a negative
      ``Skip``/``Take`` or a non-number is a 400; ``Take=0`` returns only ``total``. Query names are
      PascalCase only; ``SortBy`` and ``Descending`` values match case-insensitively.
    - ``Filter`` is a Unicode case-insensitive substring of name or code; ``CampaignId`` may repeat.
    - PUT binds JSON property names case-insensitively (ASP.NET web defaults), ignores unknown and
      read-only properties, nulls omitted ones, and needs ``Content-Type: application/json`` (else
      415). Validation (400) comes before the existence check (404), as with ``[ApiController]``.
    - A type mismatch reads "The JSON value could not be converted to System.Int64." (or String);
      a numeric string for ``campaignId`` is refused (ASP.NET's web defaults would accept it).
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

    host: str = "127.0.0.1"
    port: int = 0
    db: str | Path = ":memory:"
    #: a CSV file, or ``seeding.PACKAGED_SEED`` (the sample segments shipped with segsync)
    seed_csv: str | Path | Traversable | None = None
    seed_rows: int = DEFAULT_SEED_ROWS
    seed: int = 0
    reset: bool = False
    token: str = DEMO_TOKEN
    #: Answer every authenticated request with 403 (a token without permission).
    forbidden: bool = False
    default_take: int = DEFAULT_TAKE
    max_take: int = DEFAULT_MAX_TAKE
    #: A code already used by another segment of the same campaign is a 400 on ``code``.
    reject_duplicate_codes: bool = False
    #: When false, a PUT that changes ``campaignId`` is a 400 on ``campaignId``.
    allow_campaign_move: bool = True
    #: Store text fields cut to this many characters without an error, as a narrow database
    #: column would: the PUT answer then differs from what was sent. None = store everything.
    truncate_text_at: int | None = None
    rate_limit: RateLimitOptions = field(default_factory=RateLimitOptions)
    faults: FaultOptions = field(default_factory=FaultOptions)
    #: Log one line per request through the ``aiohttp.access`` logger (the CLI turns it on).
    access_log: bool = False
    #: Seconds a shutdown waits for in-flight requests before dropping them.
    shutdown_timeout_s: float = 0.5

    def __post_init__(self) -> None:
        if self.max_take < 1:
            raise ValueError("max_take must be >= 1")
        if self.default_take < 0:
            raise ValueError("default_take must be >= 0")
        if self.seed_rows < 0:
            raise ValueError("seed_rows must be >= 0")
        if not 0 <= self.port <= 65535:
            raise ValueError("port must be in 0..65535")
