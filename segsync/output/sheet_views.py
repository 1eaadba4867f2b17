"""The views of ``segsync.output.views``, taken one row at a time for a streamed workbook.

``views.build_view`` builds every problem, every change (with its character diff) and every
unchanged row of a run at once: right for an HTML page, but a 100,000-row run would hold tens
of thousands of objects and spend seconds diffing, where the workbook streams in flat memory.
So the workbook takes the same views in pieces, worded by the same code:

* ``wording.problem_view(row, sheet)`` for each problem row (public, used as it is);
* ``change_views(row)``: the ``views.ChangeView`` of each changed field of a row, without the
  character diff (a cell shows whole values);
* ``summary_view(result)``: the counts, headline, next steps, facts and warnings of
  ``views.build_view``, without its per-row lists.

The last two call the public helpers of ``wording`` (``segment_name``, ``one_line``,
``OUTCOME_LABELS``) and helpers of ``views`` that are not public yet (``_show``, ``_counts``,
``_status``, ``_headline``, ``_next_steps``, ``_facts``, ``_title``, ``_when``); once ``views``
offers them publicly this module shrinks to imports.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from segsync.outcomes import PROBLEM_OUTCOMES, RowResult, RunResult
from segsync.output import views
from segsync.output.textdiff import is_empty
from segsync.output.views import STATUS_LABELS, ChangeView, CountView, FactView, NextStep
from segsync.output.wording import OUTCOME_LABELS, one_line, segment_name


@dataclass(frozen=True, slots=True)
class SummaryView:
    """What the Summary sheet shows: ``views.RunView`` without its per-row lists."""

    title: str
    status: str
    status_label: str
    headline: str
    dry_run: bool
    aborted: str | None
    counts: tuple[CountView, ...]
    total_rows: int
    problem_count: int
    next_steps: tuple[NextStep, ...]
    facts: tuple[FactView, ...]
    warnings: tuple[str, ...]


def summary_view(result: RunResult, *, plan_path: str | Path | None = None) -> SummaryView:
    """The summary parts of ``views.build_view(result)``, in one pass over the rows."""
    plan = str(plan_path) if plan_path is not None else None
    problems = sum(1 for r in result.rows if r.outcome in PROBLEM_OUTCOMES)
    aborted = one_line(result.aborted) if result.aborted else None
    status = views._status(aborted, problems, result.dry_run)
    started = views._when(result.started_at)
    finished = views._when(result.finished_at) if result.finished_at else None
    return SummaryView(
        title=views._title(result),
        status=status,
        status_label=STATUS_LABELS[status],
        headline=views._headline(result, problems, status),
        dry_run=result.dry_run,
        aborted=aborted,
        counts=views._counts(result.rows),
        total_rows=len(result.rows),
        problem_count=problems,
        next_steps=tuple(views._next_steps(result, problems, plan)),
        facts=tuple(views._facts(result, plan, started, finished)),
        warnings=tuple(one_line(w) for w in result.warnings),
    )


def change_views(row: RowResult) -> Iterator[ChangeView]:
    """``views.ChangeView`` of each changed field of ``row``, with empty ``…_parts``."""
    if not row.changes:
        return
    label, kind = OUTCOME_LABELS[row.outcome]
    name = segment_name(row)
    stored_values = row.segment.editable() if row.segment is not None else {}
    for change in row.changes:
        stored = None
        if change.field in row.differences:
            stored = views._show(stored_values.get(change.field))
        yield ChangeView(
            source_row=row.source_row,
            segment_id=row.segment_id,
            segment_name=name,
            field=change.field,
            before_value=change.before,
            after_value=change.after,
            before=views._show(change.before),
            after=views._show(change.after),
            before_empty=is_empty(change.before),
            after_empty=is_empty(change.after),
            before_parts=(),
            after_parts=(),
            outcome=row.outcome.value,
            label=label,
            kind=kind,
            stored=stored,
        )
