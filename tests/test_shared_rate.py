"""One rate per API per process: parallel runs started from the page share it.

Before, each run made its own limiter, so ten previews started together sent ten times the
configured rate. The sandbox enforces the configured rate itself here (a token bucket with some
room: it runs in this process and shares the GIL with ten runs, so its own view of arrival
times is coarse), so ten times the rate shows as dozens of 429s; the shared limiter's own
record says, to the microsecond, how close two sends came and how many fell in one window.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from segsync.api.session import api_target
from segsync.api.shared_limiter import known_limiter
from segsync.sandbox import RateLimitOptions, Sandbox
from segsync.web import WebOptions
from tests.conftest import MakeSandbox
from tests.helpers import settings_for, write_xlsx
from tests.web_helpers import run, web_client

RATE = 25.0


def test_ten_parallel_previews_share_the_configured_rate(
    make_sandbox: MakeSandbox, tmp_path: Path
) -> None:
    sandbox: Sandbox = make_sandbox(rate_limit=RateLimitOptions(rps=RATE, burst=5))
    settings = settings_for(
        sandbox,
        tmp_path,
        **{
            "rate_limit.requests_per_second": RATE,
            "rate_limit.burst": 1,
            "rate_limit.max_concurrency": 4,
            "api.list_page_size": 25,
        },
    )

    rows = [[s["id"], f"{s['name']} (shared)"] for s in sandbox.segments()]
    sheet = write_xlsx(tmp_path / "every_segment.xlsx", ["id", "name"], rows)

    async def body() -> None:
        # the page's own cap on parallel previews (2 by default) is raised: ten at once is the point
        async with web_client(settings, WebOptions(max_previews=10)) as web:
            previews = await asyncio.gather(*(web.preview(sheet) for _ in range(10)))
            assert len(set(previews)) == 10

    run(body())
    snap = sandbox.counters.snapshot()
    assert snap.total >= 10 * 8  # eight list pages per preview, at least
    # a limiter per run made 44 x 429 here, and ten times the rate
    assert snap.count(status=429) <= 1, snap.faults
    assert snap.max_per_second <= RATE + 5
    limiter = known_limiter(api_target(settings))
    assert limiter is not None
    assert limiter.stats.sends == snap.total
    assert limiter.stats.max_in_window == 1
    assert limiter.stats.min_gap_s is not None and limiter.stats.min_gap_s >= 1 / RATE * 0.999
