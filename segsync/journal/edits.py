"""Turning a past run's journal into new work: the edits that undo it, the rows to send again.

Rollback restores each segment's ``before`` state only where the server still holds what the run
wrote (the API's answer, or the sent body when no answer arrived); ``--only-failed`` resends the
rows that failed, were never attempted, or were in flight when the run died.
"""

from __future__ import annotations

from segsync.input.editset import EditSet, RowEdit
from segsync.journal.reader import RunRecord
from segsync.model import EDITABLE_FIELDS
from segsync.outcomes import Outcome

#: outcomes ``--only-failed`` sends again
RETRY_OUTCOMES = frozenset({Outcome.FAILED.value, Outcome.NOT_ATTEMPTED.value})


def rollback_edits(record: RunRecord) -> EditSet:
    """An ``EditSet`` that restores every segment the run may have written."""
    rows: list[RowEdit] = []
    for history in sorted(record.rows.values(), key=lambda h: h.index):
        if history.outcome == Outcome.NOT_ATTEMPTED.value or history.before is None:
            continue
        written = history.after or history.body or {}
        rows.append(
            RowEdit(
                index=len(rows),
                source_row=history.source_row,
                segment_id=history.segment_id,
                values={f: history.before.get(f) for f in EDITABLE_FIELDS},
                expected_state={f: written.get(f) for f in EDITABLE_FIELDS},
            )
        )
    header = record.header
    return EditSet(
        source=f"rollback of run {record.run_id} ({header.get('source', '?')})",
        sheet=str(header.get("sheet", "")),
        rows=rows,
        sha256=header.get("sha256"),
    )


def rows_to_retry(record: RunRecord) -> set[int] | None:
    """Sheet row numbers to send again (None: all of them, the run never planned anything)."""
    if not record.finished and not record.rows and not record.outcomes:
        # killed before it planned anything (e.g. while reading the current state): redo all
        return None
    rows = {h.source_row for h in record.rows.values() if (h.outcome or "") in RETRY_OUTCOMES}
    # planned but no result: the run died with these in flight or queued
    rows |= {h.source_row for h in record.rows.values() if h.outcome is None}
    # rows that were never planned because the run stopped before the diff
    rows |= {
        int(row) for row, outcome in record.outcomes_by_row.items() if outcome in RETRY_OUTCOMES
    }
    return rows
