"""A run at a glance: its status, title, headline, counts by outcome and what to do next.

The words the Summary opens with in every output (the HTML report, the web page, the
workbook's Summary sheet); ``summary_view`` gathers them, with the facts, for the workbook.
"""

from __future__ import annotations

import shlex
from collections.abc import Sequence
from pathlib import Path

from segsync.outcomes import PROBLEM_OUTCOMES, Outcome, RowResult, RunResult
from segsync.output.plural import counted
from segsync.output.run_facts import run_facts, when
from segsync.output.view_model import CountView, NextStep, SummaryView
from segsync.output.wording import OUTCOME_LABELS, one_line, outcome_label

__all__ = [
    "STATUS_LABELS",
    "count_views",
    "headline",
    "headline_text",
    "next_steps",
    "run_status",
    "run_title",
    "summary_view",
]

STATUS_LABELS = {
    "ok": "Done",
    "problems": "Needs attention",
    "aborted": "Stopped early",
    "preview": "Preview",
}

_TITLES = {"sync": "Sync", "plan": "Plan", "apply": "Apply", "rollback": "Rollback"}


def count_views(rows: Sequence[RowResult], command: str | None) -> tuple[CountView, ...]:
    tally: dict[Outcome, int] = dict.fromkeys(Outcome, 0)
    for row in rows:
        tally[row.outcome] += 1
    counts: list[CountView] = []
    for outcome in OUTCOME_LABELS:
        if tally[outcome]:
            label, kind = outcome_label(outcome, command)
            counts.append(CountView(outcome.value, label, tally[outcome], kind))
    return tuple(counts)


def run_status(aborted: str | None, problems: int, dry_run: bool) -> str:
    if aborted:
        return "aborted"
    if problems:
        return "problems"
    return "preview" if dry_run else "ok"


def run_title(result: RunResult) -> str:
    name = _TITLES.get(result.command, (result.command or "sync").capitalize())
    if result.command == "plan":
        return "Plan (preview)"
    return f"{name} {'preview' if result.dry_run else 'results'}"


def _rows(n: int) -> str:
    return counted(n, "row")


def headline(result: RunResult) -> str:
    """The one sentence that says where ``result`` stands (the report's and workbook's headline)."""
    problems = sum(1 for r in result.rows if r.outcome in PROBLEM_OUTCOMES)
    aborted = one_line(result.aborted) if result.aborted else None
    return headline_text(result, problems, run_status(aborted, problems, result.dry_run))


def headline_text(result: RunResult, problems: int, status: str) -> str:
    tally = dict.fromkeys(Outcome, 0)
    for row in result.rows:
        tally[row.outcome] += 1
    written = tally[Outcome.UPDATED] + tally[Outcome.UPDATED_WITH_DIFFERENCES]
    verb = "needs" if problems == 1 else "need"
    need = f"{_rows(problems)} {verb} attention (see Problems)"
    if status == "aborted":
        text = f"The run stopped early: {_rows(written)} {_done(result)} before it stopped."
        return f"{text} {need[0].upper()}{need[1:]}." if problems else text
    if result.dry_run:
        would = tally[Outcome.WOULD_UPDATE]
        text = f"Preview: {_rows(would)} {_done(result, would)}; nothing was changed."
        return f"{text} {need[0].upper()}{need[1:]}." if problems else text
    if problems:
        done = tally[Outcome.UPDATED]
        return f"{_rows(done)} {_done(result, done)}; {need}."
    if written:
        return f"All done: {_rows(written)} {_done(result, written)}, nothing needs fixing."
    if result.command == "rollback":
        return f"Nothing to roll back: every segment already holds what it held {_before(result)}."
    return "Nothing to change: every row already matches Raise."


def _done(result: RunResult, n: int = 0) -> str:
    """What a run did (or would do) to ``n`` rows: ``updated``, or for a rollback ``restored
    to what they were before run …`` (``n`` picks "it was" or "they were")."""
    if result.command != "rollback":
        return "would be updated" if result.dry_run else "updated"
    verb = "would be restored" if result.dry_run else "restored"
    if not n and not result.dry_run:
        return verb  # "stopped early: 0 rows restored before it stopped"
    return f"{verb} to what {'it was' if n == 1 else 'they were'} {_before(result)}"


def _before(result: RunResult) -> str:
    return f"before run {result.rollback_of}" if result.rollback_of else "before the run"


def next_steps(result: RunResult, problems: int, plan_path: str | None) -> list[NextStep]:
    steps: list[NextStep] = []
    outcomes = {r.outcome for r in result.rows}
    if result.aborted:
        steps.append(NextStep(f"The run stopped early: {one_line(result.aborted)}", kind="problem"))
    if problems:
        verb = "needs" if problems == 1 else "need"
        steps.append(NextStep(f"{_rows(problems)} {verb} fixing: see Problems.", kind="problem"))
    retry = outcomes & {Outcome.FAILED, Outcome.NOT_ATTEMPTED}
    if retry and not result.dry_run and result.journal_path and result.command == "sync":
        steps.append(
            NextStep(
                "To send only the failed and unsent rows again:",
                f"segsync sync {_q(result.source)}{_said(result)} --only-failed "
                f"{_q(result.run_id)}",
                kind="action",
            )
        )
    if result.dry_run:
        if result.command == "plan":
            command = f"segsync apply {_q(plan_path) if plan_path else '<plan file>'}"
        elif result.command == "rollback":
            command = "the same segsync rollback command without --dry-run"
        else:
            command = f"segsync sync {_q(result.source)}{_said(result)}"
        if Outcome.WOULD_UPDATE in outcomes:
            # a rollback's step reads on as a sentence: "… To roll back, run the same …"
            to_send = "To roll back, run" if result.command == "rollback" else "To send it:"
            steps.append(
                NextStep(f"Nothing was changed: this is a preview. {to_send}", command, "action")
            )
        else:
            steps.append(NextStep("Nothing was changed: this is a preview.", kind="info"))
    wrote = outcomes & {Outcome.UPDATED, Outcome.UPDATED_WITH_DIFFERENCES}
    if wrote and result.journal_path and not result.dry_run:
        steps.append(NextStep("Undo with:", f"segsync rollback {_q(result.run_id)}", "info"))
    if not steps:
        steps.append(NextStep("Nothing to do: no row needs fixing.", kind="ok"))
    return steps


def _q(text: str) -> str:
    return shlex.quote(text)


def _said(result: RunResult) -> str:
    """`` --sheet … --map …``: what the person said about the sheet, to say again."""
    flags = [*(("--sheet", result.sheet_label) if result.sheet_label else ()), *result.said]
    return "".join(f" {_q(flag)}" for flag in flags)


def summary_view(result: RunResult, *, plan_path: str | Path | None = None) -> SummaryView:
    """The summary parts of ``build_view(result)`` in one pass, for a streamed workbook."""
    plan = str(plan_path) if plan_path is not None else None
    problems = sum(1 for r in result.rows if r.outcome in PROBLEM_OUTCOMES)
    aborted = one_line(result.aborted) if result.aborted else None
    status = run_status(aborted, problems, result.dry_run)
    started = when(result.started_at)
    finished = when(result.finished_at) if result.finished_at else None
    return SummaryView(
        title=run_title(result),
        status=status,
        status_label=STATUS_LABELS[status],
        headline=headline_text(result, problems, status),
        dry_run=result.dry_run,
        aborted=aborted,
        counts=count_views(result.rows, result.command),
        total_rows=len(result.rows),
        problem_count=problems,
        next_steps=tuple(next_steps(result, problems, plan)),
        facts=tuple(run_facts(result, plan, started, finished)),
        warnings=tuple(one_line(w) for w in result.warnings),
    )
