"""``segsync sandbox``: run the local Raise-compatible API until Ctrl-C.

Only parses flags into ``SandboxOptions`` and calls ``serve``; everything else lives in the
library so tests and the embedded sandbox behave exactly like the command.
"""

from __future__ import annotations

import logging
import sqlite3
import sys
from pathlib import Path

import click

from segsync.sandbox.options import (
    DEFAULT_MAX_TAKE,
    DEFAULT_SEED_ROWS,
    DEMO_TOKEN,
    FaultOptions,
    RateLimitOptions,
    SandboxOptions,
)
from segsync.sandbox.runner import serve
from segsync.sandbox.seeding import PACKAGED_SEED

_PROBABILITY = click.FloatRange(0.0, 1.0)


def _log_access_to_stderr() -> None:
    """Show aiohttp's access lines without turning on INFO logging for everything else."""
    logger = logging.getLogger("aiohttp.access")
    if not logger.handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(asctime)s %(message)s"))
        logger.addHandler(handler)
    logger.setLevel(logging.INFO)


@click.command("sandbox")
@click.option("--host", default="127.0.0.1", show_default=True, help="Interface to bind.")
@click.option(
    "--port",
    default=8765,
    show_default=True,
    type=click.IntRange(0, 65535),
    help="Port to bind (0 = any free port).",
)
@click.option(
    "--db",
    type=click.Path(dir_okay=False, path_type=Path),
    help="SQLite file that keeps state across restarts (default: in memory).",
)
@click.option(
    "--seed-rows",
    type=click.IntRange(0),
    default=None,
    help="Generate N segments instead of the shipped sample segments.",
)
@click.option(
    "--seed-csv",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Seed from a CSV: id,campaignId,campaignName,name,code,description,externalIdentifier "
    "(default: the 200 sample segments shipped with segsync, as the embedded sandbox uses).",
)
@click.option(
    "--seed",
    default=0,
    show_default=True,
    type=int,
    help="Seed for generated rows, statistics and faults.",
)
@click.option("--reset", is_flag=True, help="Reseed even if the db file already has segments.")
@click.option(
    "--token",
    default=DEMO_TOKEN,
    show_default=True,
    envvar="SEGSYNC_SANDBOX_TOKEN",
    help="Bearer token to accept.",
)
@click.option(
    "--rps",
    type=click.FloatRange(min=0, min_open=True),
    help="Server-side rate limit in requests/second (default: none).",
)
@click.option(
    "--burst",
    type=click.IntRange(1),
    default=1,
    show_default=True,
    help="Token-bucket size for --rps.",
)
@click.option(
    "--late-every",
    type=click.IntRange(0),
    default=0,
    show_default=True,
    help="Every Nth request reaches the rate limit --late-ms late (a busy server); 0: none.",
)
@click.option(
    "--late-ms",
    type=click.FloatRange(min=0),
    default=0.0,
    show_default=True,
    help="How late --late-every's requests reach the rate limit.",
)
@click.option(
    "--max-take",
    type=click.IntRange(1),
    default=DEFAULT_MAX_TAKE,
    show_default=True,
    help="Largest page the list endpoint returns.",
)
@click.option(
    "--reject-duplicate-codes",
    is_flag=True,
    help="400 when a code is already used in the same campaign.",
)
@click.option("--deny-campaign-move", is_flag=True, help="400 when a PUT changes campaignId.")
@click.option("--p-503", type=_PROBABILITY, default=0.0, help="Probability of a 503.")
@click.option("--p-429", type=_PROBABILITY, default=0.0, help="Probability of an injected 429.")
@click.option(
    "--retry-after",
    type=click.IntRange(0),
    default=1,
    show_default=True,
    help="Retry-After seconds on an injected 429.",
)
@click.option(
    "--p-500-after-write",
    type=_PROBABILITY,
    default=0.0,
    help="Probability that a PUT is applied but answered 500.",
)
@click.option(
    "--p-reset", type=_PROBABILITY, default=0.0, help="Probability of a TCP connection reset."
)
@click.option(
    "--p-stall", type=_PROBABILITY, default=0.0, help="Probability of a stall of --stall-s seconds."
)
@click.option("--stall-s", type=click.FloatRange(0), default=30.0, show_default=True)
@click.option("--latency-ms", type=click.FloatRange(0), default=0.0, help="Fixed added latency.")
@click.option(
    "--jitter-ms", type=click.FloatRange(0), default=0.0, help="Uniform random extra latency."
)
@click.option(
    "--p-huge-body",
    type=_PROBABILITY,
    default=0.0,
    help="Probability of a 200 whose body is --huge-body-mib of whitespace.",
)
@click.option("--huge-body-mib", type=click.FloatRange(min=1), default=256.0, show_default=True)
@click.option(
    "--p-drip",
    type=_PROBABILITY,
    default=0.0,
    help="Probability of a 200 whose body drips one byte every --drip-interval-s.",
)
@click.option("--drip-interval-s", type=click.FloatRange(min=0.01), default=1.0, show_default=True)
@click.option(
    "--access-log/--no-access-log",
    default=True,
    show_default=True,
    help="Log each request to stderr.",
)
def sandbox(
    host: str,
    port: int,
    db: Path | None,
    seed_rows: int | None,
    seed_csv: Path | None,
    seed: int,
    reset: bool,
    token: str,
    rps: float | None,
    burst: int,
    late_every: int,
    late_ms: float,
    max_take: int,
    reject_duplicate_codes: bool,
    deny_campaign_move: bool,
    p_503: float,
    p_429: float,
    retry_after: int,
    p_500_after_write: float,
    p_reset: float,
    p_stall: float,
    stall_s: float,
    latency_ms: float,
    jitter_ms: float,
    p_huge_body: float,
    huge_body_mib: float,
    p_drip: float,
    drip_interval_s: float,
    access_log: bool,
) -> None:
    """Run a local Raise-compatible segment API (demo, tests, benchmarks)."""
    if seed_rows is not None and seed_csv is not None:
        raise click.UsageError("--seed-rows and --seed-csv are mutually exclusive")
    try:
        faults = FaultOptions(
            p_503=p_503,
            p_429=p_429,
            retry_after_s=retry_after,
            p_500_after_write=p_500_after_write,
            p_reset=p_reset,
            p_stall=p_stall,
            stall_s=stall_s,
            latency_ms=latency_ms,
            jitter_ms=jitter_ms,
            p_huge_body=p_huge_body,
            huge_body_mib=huge_body_mib,
            p_drip=p_drip,
            drip_interval_s=drip_interval_s,
        )
    except ValueError as exc:
        raise click.UsageError(str(exc)) from None
    options = SandboxOptions(
        host=host,
        port=port,
        db=db if db is not None else ":memory:",
        # the same default seed as the embedded sandbox (api.base_url: sandbox)
        seed_csv=PACKAGED_SEED if seed_csv is None and seed_rows is None else seed_csv,
        seed_rows=DEFAULT_SEED_ROWS if seed_rows is None else seed_rows,
        seed=seed,
        reset=reset,
        token=token,
        max_take=max_take,
        reject_duplicate_codes=reject_duplicate_codes,
        allow_campaign_move=not deny_campaign_move,
        rate_limit=RateLimitOptions(rps, burst, late_every=late_every, late_ms=late_ms),
        faults=faults,
        access_log=access_log,
    )
    if access_log:
        _log_access_to_stderr()
    try:
        serve(options)
    except (OSError, ValueError, sqlite3.Error) as exc:
        raise click.ClickException(str(exc)) from None
