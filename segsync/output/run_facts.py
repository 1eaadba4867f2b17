"""The facts of a run, as the Summary's "About this run" shows them: labels and display text.

Run id, input, server, the column mapping, times in this computer's zone, duration, requests
and rate, the files written. One list for the HTML report, the web page and the workbook.
"""

from __future__ import annotations

from datetime import datetime

from segsync.outcomes import RunResult
from segsync.output.plural import counted
from segsync.output.view_model import FactView

__all__ = ["duration", "run_facts", "server_facts", "when"]


def run_facts(
    result: RunResult, plan_path: str | None, started: str, finished: str | None
) -> list[FactView]:
    command = result.command or "sync"
    facts = [
        FactView("Run id", result.run_id),
        FactView("Command", f"segsync {command}" + (" (preview)" if result.dry_run else "")),
        FactView("Input", result.source),
        *server_facts(result.config_summary.get("api.base_url")),
    ]
    if result.actor:
        facts.append(FactView("Run by", result.actor))
    if result.approved_by:
        facts.append(FactView("Approved by", result.approved_by))
    if result.sheet:
        facts.append(FactView("Sheet", result.sheet))
    # the mapping: what segsync did with every column of the sheet (issue 18)
    facts += [FactView(f"Column {p.letter}: {p.header}", p.describe()) for p in result.columns]
    facts += [
        FactView("Started", started),
        FactView("Finished", finished or "did not finish"),
        FactView("Duration", duration(max(result.duration_s, 0.0)), numeric=True),
        _requests_fact(result),
        FactView("Rate achieved", f"{result.achieved_rate:,.1f} per second", numeric=True),
        FactView("Slowed down by Raise (HTTP 429)", f"{result.throttled:,}", numeric=True),
    ]
    if result.lowest_rate is not None:
        facts.append(
            FactView("Lowest rate used", f"{result.lowest_rate:,.1f} per second", numeric=True)
        )
    if result.results_path:
        kind = "Preview" if result.dry_run else "Results"
        facts.append(FactView(f"{kind} file", result.results_path))
    if plan_path:
        facts.append(FactView("Plan file", plan_path))
    if result.journal_path:
        facts.append(FactView("Journal (for undo)", result.journal_path))
    return facts


def _requests_fact(result: RunResult) -> FactView:
    """A preview only reads, and says so beside "nothing was changed": ``3 reads, 0 changes``;
    a run says how its requests split: ``9 (3 reads, 6 writes)`` (a retried write counts twice).
    """
    writes = sum(n for kind, n in result.requests.items() if not kind.startswith("GET"))
    reads = result.total_requests - writes
    read_text = counted(reads, "read")
    if result.dry_run:
        return FactView("Requests to Raise", f"{read_text}, 0 changes", numeric=True)
    write_text = counted(writes, "write")
    return FactView(
        "Requests sent", f"{result.total_requests:,} ({read_text}, {write_text})", numeric=True
    )


def server_facts(base_url: object) -> list[FactView]:
    """The server a run talked to, in words: the sandbox is never mistaken for Raise."""
    if isinstance(base_url, str) and base_url.strip().lower() == "sandbox":
        return [
            FactView("Server", "the embedded sandbox (demo data on this computer, not Raise)"),
            FactView("To use Raise", "--base-url https://prod-api.raisedonors.com"),
        ]
    return [FactView("Server", str(base_url) if base_url else "unknown")]


def when(moment: datetime) -> str:
    """A run's start or end in this computer's time, as every other time a person reads."""
    if moment.utcoffset() is not None:
        moment = moment.astimezone()
    text = moment.strftime("%Y-%m-%d %H:%M:%S")
    offset = moment.utcoffset()
    if offset is None:
        return text
    if not offset:
        return f"{text} UTC"
    return f"{text} {moment.strftime('%z')}"


def duration(seconds: float) -> str:
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, secs = divmod(round(seconds), 60)
    if minutes < 60:
        return f"{minutes} min {secs:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"
