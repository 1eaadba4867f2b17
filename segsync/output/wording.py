"""What a person is told about each row: outcome labels, and for a problem its cell, its reason
in words and what to do. Shared by the HTML report, the web page and the results workbook."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from segsync.outcomes import PROBLEM_OUTCOMES, Outcome, RowResult
from segsync.output.textdiff import is_empty
from segsync.secrets import redact

#: ok: done as asked; neutral: nothing to do; problem: needs a person; preview: a dry run's plan.
CountKind = Literal["ok", "neutral", "problem", "preview"]

#: Outcome → (label in plain words, kind). The order is the order of the counts table:
#: problems first (what needs a person), then what was done, then what needed nothing.
OUTCOME_LABELS: dict[Outcome, tuple[str, CountKind]] = {
    Outcome.INVALID: ("invalid: fix in the sheet", "problem"),
    Outcome.NOT_FOUND: ("segment not found", "problem"),
    Outcome.CONFLICT: ("changed by someone else: not sent", "problem"),
    Outcome.FAILED: ("failed", "problem"),
    Outcome.UPDATED_WITH_DIFFERENCES: ("updated, but stored differently", "problem"),
    Outcome.NOT_ATTEMPTED: ("not sent: the run stopped", "problem"),
    Outcome.WOULD_UPDATE: ("would update", "preview"),
    Outcome.UPDATED: ("updated", "ok"),
    Outcome.UNCHANGED: ("unchanged: already as in the sheet", "neutral"),
    Outcome.DUPLICATE: ("repeated row: sent once", "neutral"),
}
assert set(OUTCOME_LABELS) == set(Outcome), "every outcome needs a label"

#: A rollback writes a segment back as it was: it restores, it does not "update".
ROLLBACK_LABELS: dict[Outcome, str] = {
    Outcome.WOULD_UPDATE: "would be restored",
    Outcome.UPDATED: "restored",
    Outcome.UPDATED_WITH_DIFFERENCES: "restored, but stored differently",
}


def outcome_label(outcome: Outcome, command: str | None = None) -> tuple[str, CountKind]:
    """The label and kind of ``outcome`` in a run of ``command`` (a rollback restores)."""
    label, kind = OUTCOME_LABELS[outcome]
    if command == "rollback":
        label = ROLLBACK_LABELS.get(outcome, label)
    return label, kind


#: What to do about each problem outcome: one fixed sentence per outcome.
ADVICE: dict[Outcome, str] = {
    Outcome.INVALID: (
        "Correct the cell in the spreadsheet and run it again; the other rows are not affected."
    ),
    Outcome.NOT_FOUND: (
        "Check the id; the segment may have been deleted or belong to another organisation."
    ),
    Outcome.CONFLICT: (
        "Someone changed this segment after it was read. Export it again, redo your edit on "
        "the fresh copy and run again (or run with --force to overwrite their change)."
    ),
    Outcome.FAILED: (
        "Read the reason: if it names a value, correct the cell; otherwise try again later. "
        "Check the segment in Raise first: a failed write may or may not have been saved."
    ),
    Outcome.UPDATED_WITH_DIFFERENCES: (
        "The change was saved, but Raise stored a different value (see the reason). Check the "
        "segment in Raise and adjust the value in the sheet if it matters."
    ),
    Outcome.NOT_ATTEMPTED: (
        "Nothing was sent for this row because the run stopped early. Run again to send it."
    ),
}
assert set(ADVICE) == PROBLEM_OUTCOMES, "every problem outcome needs advice"

#: Why a row has a problem when the run recorded no reason of its own.
DEFAULT_REASON: dict[Outcome, str] = {
    Outcome.INVALID: "The row is not valid.",
    Outcome.NOT_FOUND: "No segment with this id.",
    Outcome.CONFLICT: "The segment changed on the server after it was read.",
    Outcome.FAILED: "The API did not accept the change.",
    Outcome.UPDATED_WITH_DIFFERENCES: "The API stored different values than were sent.",
    Outcome.NOT_ATTEMPTED: "Not sent: the run stopped before this row.",
}

#: A leading ``Sheet!C17`` in an error text (the loader's ``CellRef``), and what follows it.
_CELL_AT_START = re.compile(r"^(?P<sheet>[^!\s][^!]{0,30})!(?P<a1>\$?[A-Z]{1,3}\$?[1-9][0-9]*)\b")


@dataclass(frozen=True, slots=True)
class ProblemView:
    """One row that needs a person."""

    source_row: int
    segment_id: int | None
    #: the segment's name as the API last showed it ("" when unknown)
    segment_name: str
    #: ``Edits!C17`` when known
    cell: str | None
    outcome: str
    label: str
    #: why, in one line
    reason: str
    #: what to do about it
    advice: str
    http_status: int | None


def problem_view(row: RowResult, sheet: str) -> ProblemView:
    """One problem row as a person reads it: cell, reason in words, what to do."""
    error = one_line(row.error) if row.error else ""
    cell = getattr(row, "cell", None) or None
    reason = error
    found = _leading_cell(error, sheet)
    if found is not None:
        address, rest = found
        cell = cell or address
        if address == cell:
            reason = _tidy_reason(rest)
    return ProblemView(
        source_row=row.source_row,
        segment_id=row.segment_id,
        segment_name=segment_name(row),
        cell=cell,
        outcome=row.outcome.value,
        label=OUTCOME_LABELS[row.outcome][0],
        reason=reason.rstrip("; ") or DEFAULT_REASON[row.outcome],
        advice=ADVICE[row.outcome],
        http_status=row.http_status,
    )


def _leading_cell(error: str, sheet: str) -> tuple[str, str] | None:
    """``("Edits!C17", "(name): contains a tab")`` from ``Edits!C17 (name): contains a tab``."""
    if sheet and error.startswith(f"{sheet}!"):
        match = re.match(r"\$?[A-Z]{1,3}\$?[1-9][0-9]*\b", error[len(sheet) + 1 :])
        if match:
            end = len(sheet) + 1 + match.end()
            return error[:end], error[end:]
    match = _CELL_AT_START.match(error)
    if match:
        return match.group(0), error[match.end() :]
    return None


def _tidy_reason(rest: str) -> str:
    """``(name): contains a tab`` → ``name: contains a tab``."""
    rest = rest.strip()
    match = re.match(r"^\(([^()]{1,80})\)\s*:\s*", rest)
    if match:
        return f"{match.group(1)}: {rest[match.end() :]}"
    return rest.lstrip(":").strip()


def one_line(text: str) -> str:
    return redact(" ".join(text.split()))


def segment_name(row: RowResult) -> str:
    """The new name when the row changes it, else the segment's name as last seen."""
    for change in row.changes:
        if change.field == "name" and not is_empty(change.after):
            return str(change.after)
    if row.segment is not None and row.segment.name:
        return row.segment.name
    return ""
