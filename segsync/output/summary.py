"""The facts of a run as ``(section, key, value)`` rows: one source for every summary.

The Summary sheet and the ``<stem>.summary.csv`` file both list exactly these rows, in this
order. Plain Python, no xlsxwriter.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from segsync.outcomes import RunResult

DRY_RUN_BANNER = "Preview (dry run): nothing was sent"

#: A summary value: text, a number, or None for blank.
FactValue = Any


def title(result: RunResult) -> str:
    """``segsync sync results``, ``segsync rollback preview``, …"""
    kind = result.command or "sync"
    noun = "preview" if result.dry_run else "results"
    return f"segsync {kind} {noun}"


def summary_items(result: RunResult) -> Iterator[tuple[str, str, FactValue]]:
    """Every summary fact as ``(section, key, value)``: one source for the xlsx and CSV."""
    counts = result.counts()
    for outcome, count in counts.items():
        yield "outcomes", outcome, count
    yield "outcomes", "total rows", len(result.rows)

    for kind, count in sorted(result.requests.items()):
        yield "requests", kind, count
    yield "requests", "total requests", result.total_requests
    for status, count in sorted(result.statuses.items()):
        yield "HTTP statuses", str(status), count
    yield "HTTP statuses", "throttled (429)", result.throttled

    yield "run", "achieved rate (requests/s)", round(result.achieved_rate, 2)
    if result.lowest_rate is not None:
        yield "run", "lowest adaptive rate (requests/s)", round(result.lowest_rate, 2)
    yield "run", "duration (s)", round(result.duration_s, 1)
    yield "run", "fetch strategy", result.fetch_strategy or None
    yield "run", "run id", result.run_id
    yield "run", "command", result.command
    if result.actor:
        yield "run", "run by", result.actor
    if result.approved_by:
        yield "run", "approved by", result.approved_by
    yield "run", "dry run", "yes" if result.dry_run else "no"
    yield "run", "aborted", result.aborted or "no"
    yield "run", "exit code", result.exit_code
    yield "run", "started at", result.started_at.isoformat()
    yield "run", "finished at", result.finished_at.isoformat() if result.finished_at else None
    yield "run", "input file", result.source
    yield "run", "input sha256", result.sha256
    yield "run", "sheet", result.sheet
    yield "run", "journal", result.journal_path

    for n, warning in enumerate(result.warnings, start=1):
        yield "warnings", str(n), warning
    for key, value in flatten(result.config_summary):
        yield "configuration", key, value


def flatten(mapping: dict[str, Any], prefix: str = "") -> Iterator[tuple[str, FactValue]]:
    """Nested config as dotted ``key: value`` rows; lists and odd types as JSON text."""
    for key, value in mapping.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            yield from flatten(value, f"{name}.")
        elif isinstance(value, bool):
            yield name, "true" if value else "false"
        elif value is None or isinstance(value, int | float | str):
            yield name, value
        else:
            yield name, json.dumps(value, default=str, ensure_ascii=False)
