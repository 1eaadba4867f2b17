"""Regressions for the awkward paths: answers without bodies, odd bodies, aborts mid-backoff,
capped Retry-After, secrets echoed by a gateway, journals of runs killed early."""

from __future__ import annotations

import asyncio
import itertools
import json
from pathlib import Path
from typing import Any

import httpx
import pytest

from segsync.config import Settings
from segsync.engine import pipeline
from segsync.engine.pipeline import only_failed_rows, rollback_edits
from segsync.engine.updater import Updater
from segsync.input.editset import EditSet, RowEdit
from segsync.journal import Journal, read_journal
from segsync.model import Segment
from segsync.plan.differ import diff
from segsync.sandbox import FaultOptions, SandboxOptions, run_sandbox
from segsync.secrets import register_secret
from tests.helpers import editable, raise_client, settings_for, write_xlsx

SEED = Path(__file__).parent.parent / "samples" / "segments.csv"
CURRENT = Segment.from_api(
    {"id": 1, "campaignId": 7, "name": "A", "code": "C1", "description": "d"}
)


def one_row_edits(**values: Any) -> EditSet:
    return EditSet(
        source="t",
        sheet="s",
        rows=[RowEdit(index=0, source_row=2, segment_id=1, values=dict(values))],
    )


async def run_with(handler: Any, journal: Journal | None = None) -> Any:
    client = raise_client(
        "http://127.0.0.1:1", "tok-edge-secret", transport=httpx.MockTransport(handler)
    )
    async with client:
        plan = diff(one_row_edits(description="new"), {1: CURRENT})
        updater = Updater(client, concurrency=1, circuit_breaker=5, journal=journal)
        return await updater.run(plan.to_send)


def test_put_confirmed_without_body_is_updated_and_rolls_back(tmp_path: Path) -> None:
    journal = Journal.create(tmp_path, "run")
    journal.write({"type": "header", "run_id": "run"})
    results = asyncio.run(run_with(lambda request: httpx.Response(204), journal))
    journal.close()
    row = results[0]
    assert row.outcome.value == "updated" and row.differences == []
    assert row.segment is not None and row.segment.description == "new"
    undo = rollback_edits(read_journal(journal.path))
    now = {1: Segment.from_api({**CURRENT.to_json(), "description": "new"})}
    decided = diff(undo, now, check_modified=False).rows[0]
    assert decided.to_send and decided.body is not None and decided.body.description == "d"


def test_a_body_that_is_not_a_segment_fails_the_row_not_the_run() -> None:
    results = asyncio.run(run_with(lambda request: httpx.Response(200, json=[1, 2])))
    assert results[0].outcome.value == "failed"
    assert "not a segment" in (results[0].error or "")


def test_problem_detail_echoing_the_token_is_redacted() -> None:
    register_secret("tok-edge-secret")

    def handler(request: httpx.Request) -> httpx.Response:
        echoed = request.headers["Authorization"]
        return httpx.Response(400, json={"title": "Bad", "detail": f"refused {echoed}"})

    results = asyncio.run(run_with(handler))
    assert results[0].outcome.value == "failed"
    assert "tok-edge-secret" not in (results[0].error or "")
    assert "***" in (results[0].error or "")


def test_rows_caught_in_backoff_by_an_abort_are_failed_and_rolled_back(tmp_path: Path) -> None:
    """500-after-write applies the write; a circuit breaker opening during the retry wait must
    not report those rows as never sent, and rollback must undo them."""
    with run_sandbox(SandboxOptions(seed_csv=SEED)) as sb:
        seed = {s["id"]: editable(s) for s in sb.segments()}
        rows = [[s["id"], f"{s['name']} NEW"] for s in sb.segments()[:8]]
        sheet = write_xlsx(tmp_path / "e.xlsx", ["id", "name"], rows)
        settings = settings_for(
            sb,
            tmp_path,
            **{
                "rate_limit.requests_per_second": 4,
                "retries.put_500_max_attempts": 2,
                "abort.consecutive_failures": 1,
            },
        )
        sb.set_faults(FaultOptions(p_500_after_write=1.0, methods=("PUT",)))
        run = pipeline.sync(sheet, settings)
        sb.set_faults(FaultOptions())
        assert run.exit_code == 3
        sent_ids = {i for i, n in sb.counters.snapshot().writes_by_id.items() if n}
        for row in run.rows:
            if row.segment_id in sent_ids:
                assert row.outcome.value == "failed", row
            else:
                assert row.outcome.value == "not_attempted", row
        pipeline.rollback(run.run_id, settings)
        assert {s["id"]: editable(s) for s in sb.segments()} == seed


@pytest.mark.slow
def test_retry_after_is_capped_and_the_total_time_bound_holds(tmp_path: Path) -> None:
    with run_sandbox(SandboxOptions(seed_csv=SEED)) as sb:
        sheet = write_xlsx(tmp_path / "e.xlsx", ["id", "name"], [[100001, "x"]])
        settings = settings_for(
            sb,
            tmp_path,
            **{
                "retries.retry_after_cap_s": 0.5,
                "retries.max_total_s": 2,
                "api.list_enabled": False,
            },
        )
        sb.set_faults(FaultOptions(p_429=1.0, retry_after_s=30))
        result = pipeline.sync(sheet, settings)
        arrivals = sb.counters.snapshot().arrivals
    assert result.exit_code == 3  # the current state could not be read
    # as the server saw it: each retry waited the capped 0.5 s, never the 30 s it was told
    gaps = [b.at - (a.answered_at or 0) for a, b in itertools.pairwise(arrivals)]
    assert len(arrivals) >= 2 and all(a.retry_after == "30" for a in arrivals)
    assert all(0.5 - 0.01 <= gap < 10 for gap in gaps), gaps
    # and the retries end at max_total_s (2 s): the last wait is cut to what remained of it
    assert arrivals[-1].at - arrivals[0].at < 2 + 0.5
    assert "could not read" in (result.aborted or "")


def test_only_failed_after_a_run_killed_before_planning_selects_every_row(tmp_path: Path) -> None:
    folder = tmp_path / "runs"
    journal = Journal.create(folder, "killed")
    journal.write({"type": "header", "run_id": "killed", "sha256": None})
    journal.close()
    settings = Settings().with_overrides({"journal.dir": str(folder)})
    edits = EditSet(
        source="t",
        sheet="s",
        rows=[RowEdit(index=i, source_row=i + 2, segment_id=i + 1) for i in range(3)],
    )
    assert len(only_failed_rows(edits, "killed", settings).rows) == 3


def test_truncated_last_journal_line_is_tolerated(tmp_path: Path) -> None:
    journal = Journal.create(tmp_path, "cut")
    journal.write({"type": "header", "run_id": "cut"})
    journal.write(
        {"type": "planned", "index": 0, "source_row": 2, "id": 1, "before": {}, "body": {}}
    )
    journal.close()
    with open(journal.path, "a", encoding="utf-8") as handle:
        handle.write(json.dumps({"type": "result", "index": 0})[:15])
    record = read_journal(journal.path)
    assert list(record.rows) == [0] and not record.finished


@pytest.mark.parametrize("answer", [httpx.Response(200, json={"items": "nope"})])
def test_list_answer_of_the_wrong_shape_aborts_with_a_sentence(answer: httpx.Response) -> None:
    async def go() -> str:
        client = raise_client(
            "http://127.0.0.1:1", "t0ken", transport=httpx.MockTransport(lambda request: answer)
        )
        async with client:
            try:
                await client.list_page(0, 100)
            except Exception as exc:
                return f"{type(exc).__name__}: {exc}"
        return ""

    assert asyncio.run(go()).startswith("PermanentApiError: The segment list endpoint")


def test_a_503_and_a_429_before_a_500_do_not_use_up_the_500_budget() -> None:
    """put_500_max_attempts counts 500s: a PUT that met a 503 and a 429 first still gets its
    retry after one 500 (default budget 2), and is updated on the fourth attempt."""
    answers = iter(
        [
            httpx.Response(503),
            httpx.Response(429, headers={"Retry-After": "0"}),
            httpx.Response(500),
            httpx.Response(200, json={**CURRENT.to_json(), "description": "new"}),
        ]
    )
    results = asyncio.run(run_with(lambda request: next(answers)))
    row = results[0]
    assert (row.outcome.value, row.attempts, row.http_status) == ("updated", 4, 200)


def test_a_put_answered_500_twice_is_given_up() -> None:
    answers = iter([httpx.Response(500), httpx.Response(500), httpx.Response(200)])
    results = asyncio.run(run_with(lambda request: next(answers)))
    row = results[0]
    assert (row.outcome.value, row.attempts, row.http_status) == ("failed", 2, 500)
