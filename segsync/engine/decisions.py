"""A run's decisions, reached from the server state it has just read.

A sheet (or a rollback's edits) is diffed against that state and put to the rules that need
more of the server than one segment (``segsync.plan``). A saved plan was decided earlier, so
it is checked against the state read now instead: a planned segment that moved since is a
conflict, one already holding the planned body is unchanged. Either way the run goes on from
one ``Plan``, and what the deciding found (warnings, campaign names, moves) goes on its result.
"""

from __future__ import annotations

import logging
from datetime import UTC
from typing import Any

from segsync.api.client import RaiseClient
from segsync.api.fetch import CurrentState
from segsync.input.editset import EditSet
from segsync.model import EDITABLE_FIELDS
from segsync.outcomes import Outcome, RunResult
from segsync.plan.differ import Plan, RowPlan, diff
from segsync.plan.planfile import SavedPlan
from segsync.plan.server_checks import check_server_rules

# what a run logs keeps the one logger name it had before the run was split into modules
log = logging.getLogger("segsync.run")


async def decide_sheet(
    editset: EditSet,
    state: CurrentState,
    client: RaiseClient,
    result: RunResult,
    *,
    force: bool,
    check_modified: bool,
) -> Plan:
    """Diff a sheet's rows against ``state``, then check the server-wide rules."""
    plan = diff(editset, state.segments, force=force, check_modified=check_modified)
    checks = await check_server_rules(plan, state, client, editset)
    plan.warnings.extend(checks.warnings)
    result.campaign_names = checks.campaign_names
    result.moves = len(checks.moves)
    result.warnings.extend(plan.warnings)
    for warning in plan.warnings:
        log.warning("%s", warning, extra={"event": "plan_warning"})
    return plan


def recheck_saved_plan(
    saved: SavedPlan, plan: Plan, state: CurrentState, result: RunResult, *, force: bool
) -> None:
    """``plan`` (made from ``saved``) against the server now: a planned segment that moved
    is a conflict (unless ``force``), one gone is not found, one already applied unchanged."""
    made = saved.created_at.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")
    for row in plan.to_send:
        now = state.segments.get(row.edit.segment_id or 0)
        if now is None:
            row.outcome = Outcome.NOT_FOUND
            row.error = f"segment {row.edit.segment_id} no longer exists (planned at {made})"
            continue
        moved = _moved(row, now)
        row.before = now
        if row.body is not None and now.editable() == row.body.to_json():
            row.outcome = Outcome.UNCHANGED  # already applied (an apply run twice)
            row.error = None
        elif moved and not force:
            row.outcome = Outcome.CONFLICT
            row.error = (
                f"changed on the server since the plan was made at {made}: {moved}; "
                "not written (make a new plan, or apply with --force)"
            )
    result.warnings.extend(saved.warnings)
    result.campaign_names = dict(saved.campaign_names)
    result.moves = sum(
        1 for row in plan.to_send if any(c.field == "campaignId" for c in row.changes)
    )


def _moved(row: RowPlan, now: Any) -> str:
    """How the server's state differs from the one the row was planned from ('' if not)."""
    planned = row.before
    if planned is None:
        return ""
    moved = [
        f"{f} now {getattr(now, f)!r}"
        for f in EDITABLE_FIELDS
        if getattr(now, f) != getattr(planned, f)
    ]
    if not moved and (now.modifiedDateTime or "") != (planned.modifiedDateTime or ""):
        moved = [f"modified at {now.modifiedDateTime}"]
    return ", ".join(moved)
