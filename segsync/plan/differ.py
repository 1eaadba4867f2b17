"""Compare each row with the segment's current state and decide what, if anything, to send.

Pure: no I/O, so the dry run and the real run share it, and it can be tested on plain data.
The PUT body is always the complete merged model (current state with the row's edits laid
over it), because PUT replaces the whole segment: sending only the edited fields would null
the rest. A field counts as changed only when the sheet's value differs from the server's
under ``segsync.model.comparable`` (whitespace, line endings, NFC); an unchanged field is sent
exactly as the server holds it. Content rules the loader could only flag (a tab, a line break,
a very long text) are lifted when the server already holds that value. A code that a
spreadsheet turned into a number (``00760`` → ``760``) keeps the server's code, with a warning.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Final

from segsync.input.editset import CellRef, EditSet, RowEdit, RowError
from segsync.model import (
    EDITABLE_FIELDS,
    FieldValue,
    Segment,
    SegmentRequest,
    field_errors,
    same_value,
)
from segsync.outcomes import FieldChange, Outcome
from segsync.output.plural import counted
from segsync.perf import gc_paused
from segsync.plan.intent import read_only_getter, read_only_problems, value_problems

#: How many cells a warning lists before it says "and N more".
MAX_LISTED_CELLS = 20


@dataclass(slots=True)
class RowPlan:
    """One row's decision. ``outcome`` None means "send ``body``"."""

    edit: RowEdit
    outcome: Outcome | None
    before: Segment | None = None
    body: SegmentRequest | None = None
    changes: list[FieldChange] = field(default_factory=list)
    error: str | None = None

    @property
    def to_send(self) -> bool:
        return self.outcome is None


@dataclass(slots=True)
class Plan:
    rows: list[RowPlan]
    warnings: list[str] = field(default_factory=list)

    @property
    def to_send(self) -> list[RowPlan]:
        return [r for r in self.rows if r.to_send]


def diff(
    edits: EditSet,
    current: dict[int, Segment],
    *,
    force: bool = False,
    check_modified: bool = True,
) -> Plan:
    """Decide every row of ``edits`` against ``current`` (segments by id).

    Linear in the rows: one dict lookup and a few comparisons per row, with the cyclic garbage
    collector paused (it would walk every object made so far at each pass; nothing here makes
    a reference cycle). Codes shared within a campaign need more of the server than one
    segment: ``segsync/plan/server_checks.py`` decides them after this. A row that changes
    nothing, most of a sheet fed back, is decided from the segment's own attributes without
    building anything but its ``RowPlan``; the bodies to send are collected as they are made.
    """
    damaged: list[RowEdit] = []
    rows: list[RowPlan] = []
    shown = read_only_getter(edits.read_only_fields) if edits.read_only_fields else None
    with gc_paused():
        for edit in edits.rows:
            rows.append(_decide(edit, current, force, check_modified, damaged, edits, shown))
    warnings: list[str] = []
    if damaged:
        warnings.insert(0, _lost_zeros_warning(edits, damaged))
    return Plan(rows, warnings)


def _decide(
    edit: RowEdit,
    current: dict[int, Segment],
    force: bool,
    check_modified: bool,
    damaged: list[RowEdit],
    edits: EditSet,
    shown: Callable[[Segment], tuple[object, ...]] | None = None,
) -> RowPlan:
    if edit.errors and not edit.checkable:
        return RowPlan(edit, Outcome.INVALID, error=_error_text(edit.errors))
    if edit.duplicate_of is not None:
        return RowPlan(
            edit,
            Outcome.DUPLICATE,
            before=current.get(edit.segment_id or 0),
            error=f"same edit as row {edit.duplicate_of}; sent once",
        )
    assert edit.segment_id is not None  # the loader makes a missing id a row error
    before = current.get(edit.segment_id)
    if before is None:
        return RowPlan(
            edit,
            Outcome.NOT_FOUND,
            error=f"segment {edit.segment_id} does not exist, or this token cannot see it",
        )
    if edit.errors:
        # content rules hold only for values the user changed, not for what the server holds
        held = before.editable()
        remaining = [e for e in edit.errors if not same_value(e.held, held.get(e.field or ""))]
        if remaining:
            return RowPlan(edit, Outcome.INVALID, before=before, error=_error_text(remaining))
    if shown is not None and edit.read_only is not None and edit.read_only != shown(before):
        # an edit Raise would ignore is a problem, not a silence
        problems = read_only_problems(edit, before, edits)
        if problems:
            return RowPlan(edit, Outcome.INVALID, before=before, error="; ".join(problems))
    # Most rows of a sheet fed back change nothing: compare with the segment's attributes
    # before building anything (``values`` holds editable fields only).
    for name, value in edit.values.items():
        if getattr(before, name) != value:
            return _changed(edit, before, force, check_modified, damaged, edits)
    return RowPlan(edit, _UNCHANGED, before)


_UNCHANGED: Final = Outcome.UNCHANGED


def _changed(
    edit: RowEdit,
    before: Segment,
    force: bool,
    check_modified: bool,
    damaged: list[RowEdit],
    edits: EditSet,
) -> RowPlan:
    """A row with at least one value that is not the server's: what, if anything, to send."""
    now = before.editable()
    # the fields whose sheet value really differs from the server's (see the docstring)
    edited: dict[str, FieldValue] = {}
    for name, value in edit.values.items():
        held = now[name]
        if value == held or same_value(value, held):
            continue
        if name == "code" and edit.numeric_code and lost_leading_zeros(value, held):
            damaged.append(edit)
            continue
        edited[name] = value
    if not edited:
        return RowPlan(edit, _UNCHANGED, before)
    meant = value_problems(edit, edited, edits)
    if meant:
        return RowPlan(edit, Outcome.INVALID, before=before, error="; ".join(meant))
    merged = {**now, **edited}
    problems = field_errors(merged)
    if problems:
        text = "; ".join(f"{f}: {' '.join(m)}" for f, m in problems.items())
        return RowPlan(edit, Outcome.INVALID, before=before, error=text)
    changes = [FieldChange(f, now[f], edited[f]) for f in EDITABLE_FIELDS if f in edited]
    conflict = None if force else _conflict(edit, before, check_modified)
    if conflict:
        return RowPlan(edit, Outcome.CONFLICT, before=before, changes=changes, error=conflict)
    return RowPlan(edit, None, before, SegmentRequest.from_values(merged), changes)


def _error_text(errors: list[RowError]) -> str:
    return "; ".join(str(e) for e in errors)


def lost_leading_zeros(sheet: FieldValue, server: FieldValue) -> bool:
    """``760`` in the sheet where the server holds ``00760``: what a spreadsheet does to codes."""
    if not (isinstance(sheet, str) and isinstance(server, str)):
        return False
    if not (server.isascii() and server.isdigit() and server.startswith("0")):
        return False
    return sheet.isascii() and sheet.isdigit() and int(sheet) == int(server)


def _lost_zeros_warning(edits: EditSet, damaged: list[RowEdit]) -> str:
    """One sentence that lists the cells, so a person can check them."""
    refs = [edits.cell("code", e.source_row) for e in damaged]
    cells = [
        r.address if isinstance(r, CellRef) else f"row {e.source_row}"
        for r, e in zip(refs, damaged, strict=True)
    ]
    listed = ", ".join(cells[:MAX_LISTED_CELLS])
    if len(cells) > MAX_LISTED_CELLS:
        listed += f" and {len(cells) - MAX_LISTED_CELLS:,} more"
    return (
        f"{counted(len(cells), 'code cell')} {'holds' if len(cells) == 1 else 'hold'} a number "
        "where the server's code has leading zeros "
        f"({listed}): a spreadsheet dropped the zeros, so the server's codes were kept and not "
        "sent. To really change such a code, format the column as Text and type the code again."
    )


def _conflict(edit: RowEdit, before: Segment, check_modified: bool) -> str | None:
    """Why writing this row would overwrite someone else's change, or None."""
    if edit.expected_state is not None:
        now = before.editable()
        moved = [f for f in EDITABLE_FIELDS if now.get(f) != edit.expected_state.get(f)]
        if moved:
            return (
                f"changed on the server since the run being undone ({', '.join(moved)}); "
                "left as it is (use --force to overwrite)"
            )
    if (
        check_modified
        and edit.expected_modified
        and before.modifiedDateTime
        and not same_instant(edit.expected_modified, before.modifiedDateTime)
    ):
        return (
            f"changed on the server since the sheet was exported (sheet says modified "
            f"{edit.expected_modified}, server says {before.modifiedDateTime}); "
            "not written (use --force to overwrite)"
        )
    return None


#: A spreadsheet that turned the export's ``modifiedDateTime`` text into a date cell keeps it to
#: the millisecond; a colleague's change cannot land within that of the export's snapshot.
INSTANT_TOLERANCE = timedelta(milliseconds=1)


def same_instant(a: str, b: str) -> bool:
    """Whether two ISO-8601 timestamps name the same moment (naive ones taken as UTC)."""
    if a.strip() == b.strip():
        return True
    try:
        da, db = datetime.fromisoformat(a.strip()), datetime.fromisoformat(b.strip())
    except ValueError:
        return False
    da = da if da.tzinfo else da.replace(tzinfo=UTC)
    db = db if db.tzinfo else db.replace(tzinfo=UTC)
    return abs(da - db) < INSTANT_TOLERANCE
