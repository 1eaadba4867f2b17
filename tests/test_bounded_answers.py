"""Answers are bounded: a huge body and a dripping one end their request, never the run.

The sandbox's ``p_huge_body`` answers 200 with megabytes of JSON whitespace and no length;
``p_drip`` sends the headers, then one byte at a time, slower than nothing but faster than the
read timeout. Both must end as a transient failure with a sentence, within the cap and the
deadline, and a run that meets them must finish, say so in its results and free its lock.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import pytest

from segsync.errors import PermanentApiError, TransientApiError
from segsync.sandbox import FaultOptions, SandboxOptions, run_sandbox
from tests.helpers import (
    editable,
    raise_client,
    read_results,
    run_cli,
    settings_for,
    write_config,
    write_xlsx,
)

SEED = Path(__file__).parent.parent / "samples" / "segments.csv"


@pytest.fixture
def sb():
    with run_sandbox(SandboxOptions(seed_csv=SEED)) as sandbox:
        yield sandbox


def get_first(sb: Any, tmp_path: Path, **overrides: Any) -> tuple[TransientApiError, float]:
    settings = settings_for(sb, tmp_path, **{"retries.max_attempts": 2, **overrides})
    segment_id = sb.segments()[0]["id"]

    async def main() -> None:
        async with raise_client(sb.base_url, sb.token, settings=settings) as client:
            await client.get_segment(segment_id)

    started = time.monotonic()
    with pytest.raises(TransientApiError) as caught:
        asyncio.run(main())
    return caught.value, time.monotonic() - started


def test_a_huge_answer_is_cut_at_the_cap(sb: Any, tmp_path: Path) -> None:
    sb.set_faults(FaultOptions(p_huge_body=1.0, huge_body_mib=16, methods=("GET",)))
    error, _ = get_first(sb, tmp_path, **{"api.max_body_mib": 1})
    assert "larger than 1 MiB" in str(error) and "api.max_body_mib" in str(error)
    assert error.attempts == 2  # transient: retried, then given up
    assert sb.counters.snapshot().faults.get("huge_body") == 2


def test_a_huge_answer_within_the_cap_is_read(sb: Any, tmp_path: Path) -> None:
    """The cap is not a guess at JSON sizes: 3 MiB of whitespace under a 4 MiB cap is read."""
    sb.set_faults(FaultOptions(p_huge_body=1.0, huge_body_mib=3, methods=("GET",)))
    settings = settings_for(sb, tmp_path, **{"api.max_body_mib": 4})
    segment_id = sb.segments()[0]["id"]

    async def main() -> Any:
        async with raise_client(sb.base_url, sb.token, settings=settings) as client:
            return await client.get_segment(segment_id)

    # read whole and parsed: the body ("{}" after the whitespace) is simply not a segment
    with pytest.raises(PermanentApiError, match="not a segment"):
        asyncio.run(main())


def test_a_dripping_answer_ends_at_the_deadline(sb: Any, tmp_path: Path) -> None:
    """One byte every 0.1 s never trips a 5 s read timeout; the 0.5 s deadline ends it."""
    sb.set_faults(FaultOptions(p_drip=1.0, drip_interval_s=0.1, methods=("GET",)))
    error, elapsed = get_first(sb, tmp_path, **{"api.request_deadline_s": 0.5, "api.timeout_s": 5})
    assert "within 0.5s of sending" in str(error) and "api.request_deadline_s" in str(error)
    assert error.attempts == 2
    assert elapsed < 5  # two deadlines and a backoff, not a read timeout (or forever)


def test_a_run_meeting_dripping_writes_finishes_and_frees_its_lock(sb: Any, tmp_path: Path) -> None:
    segments = sb.segments()[:3]
    before = {s["id"]: editable(s) for s in segments}
    sheet = write_xlsx(
        tmp_path / "edits.xlsx", ["id", "name"], [[s["id"], f"{s['name']} D"] for s in segments]
    )
    config = write_config(
        sb,
        tmp_path,
        api={"request_deadline_s": 0.5},
        retries={"max_attempts": 2, "backoff_base_s": 0.05, "backoff_max_s": 0.1},
    )
    sb.set_faults(FaultOptions(p_drip=1.0, drip_interval_s=0.1, methods=("PUT",)))
    started = time.monotonic()
    first = run_cli("sync", str(sheet), "--config", str(config), cwd=tmp_path)
    assert time.monotonic() - started < 30
    assert first.returncode == 1, first.stderr
    results = sorted(tmp_path.glob("edits_results_*.xlsx"))
    rows = read_results(results[-1])
    assert len(rows) == 3
    for row in rows:
        assert row["outcome"] == "failed"
        assert "within 0.5s of sending" in str(row["error"])
    assert {s["id"]: editable(sb.segment(s["id"])) for s in segments} == before

    sb.set_faults(FaultOptions())
    again = run_cli("sync", str(sheet), "--config", str(config), cwd=tmp_path)
    assert again.returncode == 0, again.stderr  # the lock was freed
    assert all(sb.segment(s["id"])["name"] == f"{s['name']} D" for s in segments)
