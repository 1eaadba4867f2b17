"""Exactly one result per input row, in input order, whatever happened to the run.

A run can stop anywhere (a refused token, Ctrl-C, a bug): the rows it sent keep their outcomes,
the rows it decided keep their decisions, and the rest are ``not_attempted`` with the reason, so
the results file is always 1:1 with the sheet. Problem rows also get the cell to look at.

While a run sends, ``Assembly.settled()`` hands out, in input order, the rows whose outcome can
no longer change (decided without a request, or answered), so the results workbook can be
written as the answers arrive; ``Assembly.rows()`` at the end reuses those very objects.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from segsync.input.editset import EditSet, RowEdit
from segsync.outcomes import PROBLEM_OUTCOMES, Outcome, RowResult
from segsync.plan.differ import Plan, RowPlan


class Assembly:
    """The results of a run's rows: settled ones as they come, then all of them.

    ``sent`` is the updater's results (index → result), read live: a row is settled once it is
    there, or when the plan decided it without a request (unchanged, invalid, not found, a
    conflict). The plan must be final (checks and rechecks done) before ``settled`` is used.
    """

    def __init__(
        self, editset: EditSet, plan: Plan | None, sent: dict[int, RowResult], *, dry_run: bool
    ) -> None:
        self._editset = editset
        self._planned = {p.edit.index: p for p in plan.rows} if plan else {}
        self._sent = sent
        self._dry_run = dry_run
        #: the settled rows handed out so far: a prefix of the input, in order
        self._done: list[RowResult] = []

    def settled(self) -> Iterator[RowResult]:
        """The rows after those already handed out whose outcome is final, in input order,
        up to the first that is still open (not sent yet, or in flight)."""
        rows = self._editset.rows
        while len(self._done) < len(rows):
            edit = rows[len(self._done)]
            result = self._settled(edit)
            if result is None:
                return
            self._done.append(result)
            yield result

    def rows(self, *, aborted: str | None) -> list[RowResult]:
        """Exactly one result per input row, in input order; an open row is ``not_attempted``
        (or ``would_update`` in a dry run), with ``aborted`` as the reason."""
        stopped = f"not sent: {aborted or 'the run stopped before this row'}"
        results = list(self._done)
        for edit in self._editset.rows[len(results) :]:
            result = self._settled(edit)
            if result is None:
                result = self._unsettled(edit, stopped)
            results.append(result)
        return results

    def _settled(self, edit: RowEdit) -> RowResult | None:
        sent = self._sent.get(edit.index)
        if sent is not None:
            return self._with_cell(edit, sent)
        row = self._planned.get(edit.index)
        if row is None:
            if not edit.errors:
                return None  # never decided: the run stopped before reading the server
            result = RowResult(
                index=edit.index,
                source_row=edit.source_row,
                segment_id=edit.segment_id,
                outcome=Outcome.INVALID,
                error="; ".join(str(e) for e in edit.errors),
                extras=edit.extras,
            )
            return self._with_cell(edit, result)
        if row.outcome is None:
            return None  # to be sent
        return self._with_cell(edit, _decided(edit, row, row.outcome, row.error))

    def _unsettled(self, edit: RowEdit, stopped: str) -> RowResult:
        row = self._planned.get(edit.index)
        if row is None:
            result = RowResult(
                index=edit.index,
                source_row=edit.source_row,
                segment_id=edit.segment_id,
                outcome=Outcome.NOT_ATTEMPTED,
                error=stopped,
                extras=edit.extras,
            )
        elif self._dry_run:
            result = _decided(edit, row, Outcome.WOULD_UPDATE, row.error)
        else:
            result = _decided(edit, row, Outcome.NOT_ATTEMPTED, stopped)
        return self._with_cell(edit, result)

    def _with_cell(self, edit: RowEdit, result: RowResult) -> RowResult:
        if result.outcome in PROBLEM_OUTCOMES and result.cell is None:
            result.cell = problem_cell(self._editset, edit, result)
        return result


def assemble(
    editset: EditSet,
    plan: Plan | None,
    sent: dict[int, RowResult],
    *,
    dry_run: bool,
    aborted: str | None,
) -> list[RowResult]:
    """Exactly one result per input row, in input order (``Assembly.rows`` in one call)."""
    return Assembly(editset, plan, sent, dry_run=dry_run).rows(aborted=aborted)


def _decided(edit: RowEdit, row: RowPlan, outcome: Outcome, error: str | None) -> RowResult:
    return RowResult(
        index=edit.index,
        source_row=edit.source_row,
        segment_id=edit.segment_id,
        outcome=outcome,
        changes=list(row.changes),
        error=error,
        segment=row.before,
        extras=edit.extras,
    )


def problem_cell(editset: EditSet, edit: RowEdit, row: RowResult) -> str | None:
    """The cell a person should look at for a problem row, in the sheet's own terms."""
    for error in edit.errors:
        if error.cell is not None and (row.outcome is Outcome.INVALID or not error.soft):
            return error.cell.address
    named = _named_cell(editset.sheet, row.error)
    if named is not None:  # a decision that names its cell (a read-only edit, a clear word)
        return named
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


def _named_cell(sheet: str, error: str | None) -> str | None:
    """``Edits!C17`` from an error that starts with it (``Edits!C17 (Name): …``)."""
    if not error or not sheet or not error.startswith(f"{sheet}!"):
        return None
    match = re.match(r"[A-Z]{1,3}[1-9][0-9]*\b", error[len(sheet) + 1 :])
    return f"{sheet}!{match.group(0)}" if match else None
