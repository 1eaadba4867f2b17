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
"""

from __future__ import annotations

import shlex
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from itertools import islice
from pathlib import Path
from typing import Literal

from segsync.model import FieldValue
from segsync.outcomes import PROBLEM_OUTCOMES, Outcome, RowResult, RunResult
from segsync.output.plural import counted
from segsync.output.textdiff import EMPTY, Part, diff_parts, is_empty
from segsync.output.wording import (
    OUTCOME_LABELS,
    CountKind,
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

StepKind = Literal["problem", "action", "info", "ok"]

STATUS_LABELS = {
    "ok": "Done",
    "problems": "Needs attention",
    "aborted": "Stopped early",
    "preview": "Preview",
}

_TITLES = {"sync": "Sync", "plan": "Plan", "apply": "Apply", "rollback": "Rollback"}


@dataclass(frozen=True, slots=True)
class CountView:
    """One line of the counts table."""

    outcome: str
    label: str
    count: int
    kind: CountKind


@dataclass(frozen=True, slots=True)
class NextStep:
    """What to do next: a sentence, optionally followed by a command to type."""

    text: str
    command: str | None = None
    kind: StepKind = "info"

    @property
    def sentence(self) -> str:
        return f"{self.text} {self.command}" if self.command else self.text

    def __str__(self) -> str:
        return self.sentence


@dataclass(frozen=True, slots=True)
class FactView:
    """One fact of the run (``Run id``, ``Duration``, …) as a label and display text."""

    label: str
    value: str
    #: numbers are right-aligned
    numeric: bool = False


@dataclass(frozen=True, slots=True)
class ChangeView:
    """One changed field of one row, with the changed characters marked on both sides."""

    source_row: int
    segment_id: int | None
    segment_name: str
    field: str
    #: the values as sent/received (None for none) and as shown (``(empty)`` for none)
    before_value: FieldValue
    after_value: FieldValue
    before: str
    after: str
    before_empty: bool
    after_empty: bool
    before_parts: tuple[Part, ...]
    after_parts: tuple[Part, ...]
    outcome: str
    label: str
    kind: CountKind
    #: what the API stored instead of ``after`` (``updated_with_differences`` only)
    stored: str | None = None


@dataclass(frozen=True, slots=True)
class UnchangedView:
    source_row: int
    segment_id: int | None
    segment_name: str


@dataclass(frozen=True, slots=True)
class RunView:
    """Everything a person is shown about one run; see the module docstring."""

    #: ``Sync results``, ``Sync preview``, ``Plan``, ``Apply results``, ``Rollback preview``
    title: str
    command: str
    dry_run: bool
    run_id: str
    #: the input file (spreadsheet, plan or run) and the sheet read
    source: str
    sheet: str
    sha256: str | None
    started: str
    finished: str | None
    duration_s: float
    duration: str
    requests: int
    requests_by_kind: tuple[tuple[str, int], ...]
    rate: float
    throttled: int
    aborted: str | None
    warnings: tuple[str, ...]
    #: ok | problems | aborted | preview
    status: str
    #: the status in a word or two: ``Done``, ``Needs attention``, ``Stopped early``, ``Preview``
    status_label: str
    #: one sentence: the state of the run at a glance
    headline: str
    counts: tuple[CountView, ...]
    total_rows: int
    next_steps: tuple[NextStep, ...]
    problems: tuple[ProblemView, ...]
    changes: tuple[ChangeView, ...]
    #: rows whose changes are listed (a row may change several fields)
    changed_rows: int
    unchanged_count: int
    unchanged: tuple[UnchangedView, ...]
    #: the run's facts for the summary, in display order
    facts: tuple[FactView, ...]
    results_path: str | None
    journal_path: str | None
    plan_path: str | None
    exit_code: int
    #: problems and changed fields in the whole run; ``problems`` and ``changes`` list them
    #: all, or only the first ``limit`` when the view was built for a page (``build_view``)
    problem_total: int = 0
    change_total: int = 0
    #: segments the whole run's changes touch (``changes`` may list only the first few)
    changed_segment_total: int | None = None
    #: where a capped list's other rows are: the results workbook's file name (the report
    #: names it), or None (the page offers the workbook as a download instead)
    full_list_in: str | None = None

    @property
    def problem_count(self) -> int:
        return self.problem_total

    @property
    def capped(self) -> bool:
        """Whether some problems, changes or unchanged rows are left out of the lists."""
        return (
            len(self.problems) < self.problem_total
            or len(self.changes) < self.change_total
            or len(self.unchanged) < self.unchanged_count
        )

    @property
    def changed_segments(self) -> int:
        """Segments the changes touch (``12 field changes in 8 segments``)."""
        if self.changed_segment_total is not None:
            return self.changed_segment_total
        return len(
            {(c.segment_id, c.source_row if c.segment_id is None else 0) for c in self.changes}
        )


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
    counts = _counts(rows, result.command)
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
    status = _status(aborted, problem_total, result.dry_run)
    duration_s = max(result.duration_s, 0.0)
    started = _when(result.started_at)
    finished = _when(result.finished_at) if result.finished_at else None
    return RunView(
        title=_title(result),
        command=result.command or "sync",
        dry_run=result.dry_run,
        run_id=result.run_id,
        source=result.source,
        sheet=result.sheet,
        sha256=result.sha256,
        started=started,
        finished=finished,
        duration_s=duration_s,
        duration=_duration(duration_s),
        requests=result.total_requests,
        requests_by_kind=tuple(sorted(result.requests.items())),
        rate=round(result.achieved_rate, 1),
        throttled=result.throttled,
        aborted=aborted,
        warnings=tuple(one_line(w) for w in result.warnings),
        status=status,
        status_label=STATUS_LABELS[status],
        headline=_headline(result, problem_total, status),
        counts=counts,
        total_rows=len(result.rows),
        next_steps=tuple(_next_steps(result, problem_total, plan)),
        problems=problems,
        changes=changes,
        changed_rows=changed_rows,
        unchanged_count=unchanged_total,
        unchanged=unchanged,
        results_path=result.results_path,
        journal_path=result.journal_path,
        plan_path=plan,
        facts=tuple(_facts(result, plan, started, finished)),
        exit_code=result.exit_code,
        problem_total=problem_total,
        change_total=change_total,
        changed_segment_total=len(
            {(r.segment_id, r.source_row if r.segment_id is None else 0) for r in rows if r.changes}
        ),
    )


# -- counts, headline, next steps -------------------------------------------------------------


def _counts(rows: Sequence[RowResult], command: str | None) -> tuple[CountView, ...]:
    tally: dict[Outcome, int] = dict.fromkeys(Outcome, 0)
    for row in rows:
        tally[row.outcome] += 1
    counts: list[CountView] = []
    for outcome in OUTCOME_LABELS:
        if tally[outcome]:
            label, kind = outcome_label(outcome, command)
            counts.append(CountView(outcome.value, label, tally[outcome], kind))
    return tuple(counts)


def _status(aborted: str | None, problems: int, dry_run: bool) -> str:
    if aborted:
        return "aborted"
    if problems:
        return "problems"
    return "preview" if dry_run else "ok"


def _title(result: RunResult) -> str:
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
    return _headline(result, problems, _status(aborted, problems, result.dry_run))


def _headline(result: RunResult, problems: int, status: str) -> str:
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


def _next_steps(result: RunResult, problems: int, plan_path: str | None) -> list[NextStep]:
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


# -- changes ----------------------------------------------------------------------------------


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


# -- facts ------------------------------------------------------------------------------------


def _facts(
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
        FactView("Duration", _duration(max(result.duration_s, 0.0)), numeric=True),
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


def _when(moment: datetime) -> str:
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


def _duration(seconds: float) -> str:
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, secs = divmod(round(seconds), 60)
    if minutes < 60:
        return f"{minutes} min {secs:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"


@dataclass(frozen=True, slots=True)
class SummaryView:
    """What the workbook's Summary sheet shows: a ``RunView`` without its per-row lists."""

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
    """The summary parts of ``build_view(result)`` in one pass, for a streamed workbook."""
    plan = str(plan_path) if plan_path is not None else None
    problems = sum(1 for r in result.rows if r.outcome in PROBLEM_OUTCOMES)
    aborted = one_line(result.aborted) if result.aborted else None
    status = _status(aborted, problems, result.dry_run)
    started = _when(result.started_at)
    finished = _when(result.finished_at) if result.finished_at else None
    return SummaryView(
        title=_title(result),
        status=status,
        status_label=STATUS_LABELS[status],
        headline=_headline(result, problems, status),
        dry_run=result.dry_run,
        aborted=aborted,
        counts=_counts(result.rows, result.command),
        total_rows=len(result.rows),
        problem_count=problems,
        next_steps=tuple(_next_steps(result, problems, plan)),
        facts=tuple(_facts(result, plan, started, finished)),
        warnings=tuple(one_line(w) for w in result.warnings),
    )
