"""The view models: a run as plain, immutable data, already worded for a person.

``RunView`` (the HTML report and the web page) and ``SummaryView`` (the workbook's Summary
sheet) and the small pieces they are made of. Values are text as they came from the sheet or
the API, never escaped or clipped here; ``segsync.output.views`` builds them. Kept apart from
the builders so that a template, a sheet writer or a test can name the shapes without the
rules that fill them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from segsync.model import FieldValue
from segsync.output.textdiff import Part
from segsync.output.wording import CountKind, ProblemView

__all__ = [
    "ChangeView",
    "CountView",
    "FactView",
    "NextStep",
    "RunView",
    "StepKind",
    "SummaryView",
    "UnchangedView",
]

StepKind = Literal["problem", "action", "info", "ok"]


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
