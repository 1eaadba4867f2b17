"""What a run did: one ``RowResult`` per input row and one ``RunResult`` per run.

``RunResult`` is the single tally every report reads (terminal summary, results workbook,
journal footer, exit code), so the three can never disagree.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from segsync.model import FieldValue, Segment

if TYPE_CHECKING:
    import pandas as pd

    from segsync.input.placement import Placement


class Outcome(StrEnum):
    """Exactly one per input row."""

    UPDATED = "updated"
    #: written, but the response does not echo every value sent (see ``RowResult.differences``)
    UPDATED_WITH_DIFFERENCES = "updated_with_differences"
    UNCHANGED = "unchanged"
    WOULD_UPDATE = "would_update"
    #: an identical repeat of an earlier row for the same id; the earlier row carries the edit
    DUPLICATE = "duplicate"
    INVALID = "invalid"
    NOT_FOUND = "not_found"
    CONFLICT = "conflict"
    FAILED = "failed"
    NOT_ATTEMPTED = "not_attempted"


#: Outcomes that make a run exit 1 (some rows need a human).
PROBLEM_OUTCOMES: frozenset[Outcome] = frozenset(
    {
        Outcome.INVALID,
        Outcome.NOT_FOUND,
        Outcome.CONFLICT,
        Outcome.FAILED,
        Outcome.UPDATED_WITH_DIFFERENCES,
        Outcome.NOT_ATTEMPTED,
    }
)


class ExitCode:
    OK = 0
    ROW_PROBLEMS = 1
    INVALID_INPUT = 2
    ABORTED = 3


@dataclass(frozen=True, slots=True)
class FieldChange:
    field: str
    before: FieldValue
    after: FieldValue


@dataclass(slots=True)
class RowResult:
    """The fate of one input row."""

    index: int
    source_row: int
    segment_id: int | None
    outcome: Outcome
    changes: list[FieldChange] = field(default_factory=list)
    http_status: int | None = None
    attempts: int = 0
    error: str | None = None
    #: the segment as the API last showed it (PUT response, or the fetched state)
    segment: Segment | None = None
    #: fields whose PUT response differs from what was sent
    differences: list[str] = field(default_factory=list)
    extras: dict[str, str] = field(default_factory=dict)
    #: the cell a person should look at (``Edits!C17``), when the row has a problem
    cell: str | None = None

    @property
    def changed_fields(self) -> list[str]:
        return [c.field for c in self.changes]


@dataclass(slots=True)
class RunResult:
    """Everything one run did; built by the updater, read by every report."""

    run_id: str
    command: str
    dry_run: bool
    source: str
    sheet: str
    sha256: str | None
    started_at: datetime
    finished_at: datetime | None = None
    rows: list[RowResult] = field(default_factory=list)
    #: request kind ("GET", "GET list", "PUT") → count of HTTP requests actually sent
    requests: Counter[str] = field(default_factory=Counter)
    statuses: Counter[int] = field(default_factory=Counter)
    #: seconds spent from the first to the last request (for the achieved rate)
    network_seconds: float = 0.0
    fetch_strategy: str = ""
    config_summary: dict[str, Any] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    aborted: str | None = None
    lowest_rate: float | None = None
    results_path: str | None = None
    journal_path: str | None = None
    #: who ran it: the signed-in person on the page, ``--actor``, or the OS user
    actor: str | None = None
    #: who approved the plan it sent (a big change on the page; None: no approval needed)
    approved_by: str | None = None
    #: every column of the sheet and what segsync did with it (empty for a plan or rollback)
    columns: list[Placement] = field(default_factory=list)
    #: campaign id → name, as the server showed them (to show moves by name)
    campaign_names: dict[int, str] = field(default_factory=dict)
    #: rows that move (or would move) a segment to another campaign
    moves: int = 0
    #: the flags that repeat what the person said about the sheet (``--map``, ``--hidden``)
    said: tuple[str, ...] = ()
    #: the run a rollback puts back (None for every other command)
    rollback_of: str | None = None

    @property
    def column_map(self) -> dict[str, str]:
        """Header → what segsync did with it (``name``, ``note``, ``ignored``,
        ``read-only (campaignName)``, ``id``): the ``--json`` ``columns``."""
        return {p.header: p.describe() for p in self.columns}

    def column_lines(self) -> list[str]:
        """``B 'Segment Name' → name``: the mapping as a person reads it, one column a line."""
        return [f"{p.letter} '{p.header}' → {p.describe()}" for p in self.columns]

    @property
    def sheet_label(self) -> str:
        """The sheet as a headline names it; '' for a CSV or DataFrame (one sheet, no name)."""
        from pathlib import Path

        if not self.sheet or self.sheet in ("DataFrame", Path(self.source).stem):
            return ""
        return self.sheet

    def counts(self) -> dict[str, int]:
        tally = Counter(r.outcome.value for r in self.rows)
        return {o.value: tally[o.value] for o in Outcome if tally[o.value]}

    @property
    def total_requests(self) -> int:
        return sum(self.requests.values())

    @property
    def throttled(self) -> int:
        return self.statuses.get(429, 0)

    @property
    def duration_s(self) -> float:
        end = self.finished_at or datetime.now(self.started_at.tzinfo)
        return (end - self.started_at).total_seconds()

    @property
    def achieved_rate(self) -> float:
        """Requests per second over the network phase (0 when nothing was sent)."""
        if self.total_requests < 2 or self.network_seconds <= 0:
            return 0.0
        return (self.total_requests - 1) / self.network_seconds

    @property
    def exit_code(self) -> int:
        if self.aborted:
            return ExitCode.ABORTED
        if any(r.outcome in PROBLEM_OUTCOMES for r in self.rows):
            return ExitCode.ROW_PROBLEMS
        return ExitCode.OK

    def to_dataframe(self) -> pd.DataFrame:
        """The results rows as a pandas DataFrame (pandas is an optional dependency).

        Exactly the Results sheet of the results workbook: the same columns in the same order,
        and each cell's value (stats that parse as numbers are numbers; None for a blank cell).
        """
        import pandas as pd

        from segsync.output.rows import ResultsLayout

        layout = ResultsLayout(self.rows)
        cells = [layout.cells(r) for r in self.rows]
        return pd.DataFrame(cells, columns=layout.headers, dtype=object)
