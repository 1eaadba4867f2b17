"""A run as people read it: the view models behind the HTML report, the web page and the workbook.

``build_view(result)`` turns a ``RunResult`` into a ``RunView``: plain, immutable data (text and
numbers, already worded for a person) that the templates in ``segsync/templates`` render and the
results workbook writes. Every decision about *what* a person is told lives here, once: the
labels of the outcomes, what to do next, each problem's cell, reason and advice, and the
character-level diff of each changed field. *How* it looks lives in the templates (or the
workbook's styles). Pure: no I/O, no template engine, no xlsxwriter.

Values are text as they came from the sheet or the API, never escaped or clipped here (the
template engine escapes, a template may clip visually); ``None`` is shown as ``(empty)``.
Free text that segsync itself wrote (reasons, warnings, the abort reason) is redacted of
secrets and kept on one line.

This module builds the per-row lists (``build_view``, ``change_views``); its parts live beside
it, each with one job: ``view_model`` (the shapes), ``run_summary`` (status, headline, counts,
what to do next, and ``summary_view`` for the workbook) and ``run_facts`` (the run's facts).
The report, the web page and the workbook import a run's view from here.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from itertools import islice
from pathlib import Path

from segsync.model import FieldValue
from segsync.outcomes import PROBLEM_OUTCOMES, Outcome, RowResult, RunResult
from segsync.output.run_facts import duration, run_facts, when
from segsync.output.run_summary import (
    STATUS_LABELS,
    count_views,
    headline,
    headline_text,
    next_steps,
    run_status,
    run_title,
    summary_view,
)
from segsync.output.textdiff import EMPTY, Part, diff_parts, is_empty
from segsync.output.view_model import (
    ChangeView,
    CountView,
    FactView,
    NextStep,
    RunView,
    SummaryView,
    UnchangedView,
)
from segsync.output.wording import (
    ProblemView,
    one_line,
    outcome_label,
    problem_view,
    segment_name,
)

__all__ = [
    "EMPTY",
    "ChangeView",
    "CountView",
    "FactView",
    "NextStep",
    "Part",
    "ProblemView",
    "RunView",
    "SummaryView",
    "UnchangedView",
    "build_view",
    "change_views",
    "diff_parts",
    "headline",
    "problem_view",
    "summary_view",
]


def build_view(
    result: RunResult, *, plan_path: str | Path | None = None, limit: int | None = None
) -> RunView:
    """The ``RunView`` of ``result``; ``plan_path`` is the plan a ``plan`` run saved.

    ``limit`` lists only the first so many problems, changed fields and unchanged rows (the
    counts stay whole): a page for a sheet of a million rows must not become a million table
    rows, nor hold a character diff of each in memory.
    """
    plan = str(plan_path) if plan_path is not None else None
    rows = result.rows
    counts = count_views(rows, result.command)
    problem_total = sum(1 for r in rows if r.outcome in PROBLEM_OUTCOMES)
    change_total = sum(len(r.changes) for r in rows)
    unchanged_total = sum(1 for r in rows if r.outcome is Outcome.UNCHANGED)
    problems = tuple(
        islice(
            (problem_view(r, result.sheet) for r in rows if r.outcome in PROBLEM_OUTCOMES), limit
        )
    )
    names = result.campaign_names
    changes = tuple(
        islice(
            (
                c
                for r in rows
                if r.changes
                for c in change_views(r, campaigns=names, command=result.command)
            ),
            limit,
        )
    )
    unchanged = tuple(
        islice(
            (
                UnchangedView(r.source_row, r.segment_id, segment_name(r))
                for r in rows
                if r.outcome is Outcome.UNCHANGED
            ),
            limit,
        )
    )
    changed_rows = (
        len({(c.source_row, c.segment_id) for c in changes})
        if limit is None
        else sum(1 for r in rows if r.changes)
    )
    aborted = one_line(result.aborted) if result.aborted else None
    status = run_status(aborted, problem_total, result.dry_run)
    duration_s = max(result.duration_s, 0.0)
    started = when(result.started_at)
    finished = when(result.finished_at) if result.finished_at else None
    return RunView(
        title=run_title(result),
        command=result.command or "sync",
        dry_run=result.dry_run,
        run_id=result.run_id,
        source=result.source,
        sheet=result.sheet,
        sha256=result.sha256,
        started=started,
        finished=finished,
        duration_s=duration_s,
        duration=duration(duration_s),
        requests=result.total_requests,
        requests_by_kind=tuple(sorted(result.requests.items())),
        rate=round(result.achieved_rate, 1),
        throttled=result.throttled,
        aborted=aborted,
        warnings=tuple(one_line(w) for w in result.warnings),
        status=status,
        status_label=STATUS_LABELS[status],
        headline=headline_text(result, problem_total, status),
        counts=counts,
        total_rows=len(result.rows),
        next_steps=tuple(next_steps(result, problem_total, plan)),
        problems=problems,
        changes=changes,
        changed_rows=changed_rows,
        unchanged_count=unchanged_total,
        unchanged=unchanged,
        results_path=result.results_path,
        journal_path=result.journal_path,
        plan_path=plan,
        facts=tuple(run_facts(result, plan, started, finished)),
        exit_code=result.exit_code,
        problem_total=problem_total,
        change_total=change_total,
        changed_segment_total=len(
            {(r.segment_id, r.source_row if r.segment_id is None else 0) for r in rows if r.changes}
        ),
    )


def change_views(
    row: RowResult,
    *,
    parts: bool = True,
    campaigns: Mapping[int, str] | None = None,
    command: str | None = None,
) -> Iterable[ChangeView]:
    """A ``ChangeView`` per changed field of ``row``; without ``parts`` no character diff (the
    streamed workbook shows whole values and cannot afford a diff per field at 100k rows).
    A changed ``campaignId`` is shown as a move, by the ``campaigns``' names; ``command`` words
    the outcome (a rollback's rows are "restored")."""
    label, kind = outcome_label(row.outcome, command)
    name = segment_name(row)
    stored_values = row.segment.editable() if row.segment is not None else {}
    for change in row.changes:
        before_parts, after_parts = diff_parts(change.before, change.after) if parts else ((), ())
        stored: str | None = None
        if change.field in row.differences:
            stored = _show(stored_values.get(change.field))
        before, after, field_name = _show(change.before), _show(change.after), change.field
        if change.field == "campaignId":
            field_name = "campaignId (move)"
            before, after = _campaign(change.before, campaigns), _campaign(change.after, campaigns)
            if parts:
                before_parts, after_parts = diff_parts(before, after)
        yield ChangeView(
            source_row=row.source_row,
            segment_id=row.segment_id,
            segment_name=name,
            field=field_name,
            before_value=change.before,
            after_value=change.after,
            before=before,
            after=after,
            before_empty=is_empty(change.before),
            after_empty=is_empty(change.after),
            before_parts=before_parts,
            after_parts=after_parts,
            outcome=row.outcome.value,
            label=label,
            kind=kind,
            stored=stored,
        )


def _show(value: FieldValue) -> str:
    return EMPTY if is_empty(value) else str(value)


def _campaign(value: FieldValue, campaigns: Mapping[int, str] | None) -> str:
    """``5002 Giving Tuesday 2026``: a campaign id with its name, where the server showed it."""
    name = campaigns.get(value) if campaigns and isinstance(value, int) else None
    return f"{value} {name}" if name else _show(value)
