"""The journal's record format: one builder per record type, the only place records are made.

Record types, in the order they appear in ``journal.jsonl``:

``header``   run id, command, the server written to, input path and sha256, config (no secrets)
``planned``  per row to write: the segment's ``before`` state and the ``body`` about to be sent,
             all written (one fsync) before the first PUT
``attempt``  per HTTP attempt of a PUT: status (None for a network failure), error
``result``   per row: outcome, attempts, status, error and the ``after`` state the API returned
``footer``   end time, counts, abort reason

Rollback reads ``planned`` and ``result``: it puts ``before`` back wherever the server still
holds what the run wrote (``after``, or ``body`` when the answer never arrived).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from segsync.model import Segment
    from segsync.outcomes import RowResult, RunResult
    from segsync.plan.differ import RowPlan


def header_record(result: RunResult, **run: Any) -> dict[str, Any]:
    """The first record: which run, what it read, which server it writes to (``run``)."""
    return {
        "type": "header",
        "run_id": result.run_id,
        "command": result.command,
        **run,
        "source": result.source,
        "sheet": result.sheet,
        "sha256": result.sha256,
        "started_at": result.started_at.isoformat(),
        "config": result.config_summary,
    }


def planned_record(row: RowPlan) -> dict[str, Any]:
    """What is about to be sent for a row, and the state it replaces (for rollback)."""
    before: dict[str, Any] | None = None
    if row.before is not None:
        before = {**row.before.editable(), "modifiedDateTime": row.before.modifiedDateTime}
    return {
        "type": "planned",
        "index": row.edit.index,
        "source_row": row.edit.source_row,
        "id": row.edit.segment_id,
        "before": before,
        "body": row.body.to_json() if row.body else None,
    }


def attempt_record(
    index: int, segment_id: int | None, attempt: int, status: int | None, error: str | None
) -> dict[str, Any]:
    return {
        "type": "attempt",
        "index": index,
        "id": segment_id,
        "attempt": attempt,
        "status": status,
        "error": error,
    }


def result_record(result: RowResult, *, after: Segment | None = None) -> dict[str, Any]:
    """A row's outcome; ``after`` is the state the API answered with (None: no answer)."""
    return {
        "type": "result",
        "index": result.index,
        "source_row": result.source_row,
        "id": result.segment_id,
        "outcome": result.outcome.value,
        "status": result.http_status,
        "attempts": result.attempts,
        "error": result.error,
        "after": after.to_json() if after else None,
    }


def footer_record(result: RunResult, *, results: str | None = None) -> dict[str, Any]:
    """The last record: how the run ended, and where its results file went (``runs --prune``)."""
    return {
        "type": "footer",
        "finished_at": (result.finished_at or datetime.now(UTC)).isoformat(),
        "counts": result.counts(),
        "aborted": result.aborted,
        "requests": dict(result.requests),
        "results": results,
    }
