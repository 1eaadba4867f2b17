"""Exactly one result per input row, in input order, whatever happened to the run.

A run can stop anywhere (a refused token, Ctrl-C, a bug): the rows it sent keep their outcomes,
the rows it decided keep their decisions, and the rest are ``not_attempted`` with the reason, so
the results file is always 1:1 with the sheet. Problem rows also get the cell to look at.
"""

from __future__ import annotations

from segsync.differ import Plan
from segsync.input.editset import EditSet, RowEdit
from segsync.outcomes import PROBLEM_OUTCOMES, Outcome, RowResult


def assemble(
    editset: EditSet,
    plan: Plan | None,
    sent: dict[int, RowResult],
    *,
    dry_run: bool,
    aborted: str | None,
) -> list[RowResult]:
    """Exactly one result per input row, in input order."""
    results = []
    planned = {p.edit.index: p for p in plan.rows} if plan else {}
    stopped = f"not sent: {aborted or 'the run stopped before this row'}"
    for edit in editset.rows:
        if edit.index in sent:
            results.append(sent[edit.index])
            continue
        row = planned.get(edit.index)
        if row is None:
            invalid = bool(edit.errors)
            results.append(
                RowResult(
                    index=edit.index,
                    source_row=edit.source_row,
                    segment_id=edit.segment_id,
                    outcome=Outcome.INVALID if invalid else Outcome.NOT_ATTEMPTED,
                    error="; ".join(str(e) for e in edit.errors) if invalid else stopped,
                    extras=edit.extras,
                )
            )
            continue
        outcome = row.outcome
        error = row.error
        if outcome is None:
            outcome = Outcome.WOULD_UPDATE if dry_run else Outcome.NOT_ATTEMPTED
            if not dry_run:
                error = stopped
        results.append(
            RowResult(
                index=edit.index,
                source_row=edit.source_row,
                segment_id=edit.segment_id,
                outcome=outcome,
                changes=list(row.changes),
                error=error,
                segment=row.before,
                extras=edit.extras,
            )
        )
    for edit, row_result in zip(editset.rows, results, strict=True):
        if row_result.outcome in PROBLEM_OUTCOMES and row_result.cell is None:
            row_result.cell = problem_cell(editset, edit, row_result)
    return results


def problem_cell(editset: EditSet, edit: RowEdit, row: RowResult) -> str | None:
    """The cell a person should look at for a problem row, in the sheet's own terms."""
    for error in edit.errors:
        if error.cell is not None and (row.outcome is Outcome.INVALID or not error.soft):
            return error.cell.address
    if row.outcome is Outcome.NOT_FOUND:
        field_name = "id"
    elif row.outcome is Outcome.CONFLICT and "modifiedDateTime" in editset.cells:
        field_name = "modifiedDateTime"
    elif row.differences:
        field_name = row.differences[0]
    elif row.changes:
        field_name = row.changes[0].field
    else:
        field_name = "id"
    ref = editset.cell(field_name, edit.source_row)
    return ref.address if ref is not None else None
