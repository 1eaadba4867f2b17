"""What the server will check, checked in the preview: campaign ids and codes shared in a campaign.

The differ decides each row alone; these rules need more of the server than one segment:

- **A move to another campaign** (``campaignId`` changed): the campaign must be one Raise knows.
  The campaign list (``api.paths.campaign_list``, paged like the segment list) is read once,
  and only when the sheet moves a segment. Where the API has no such list (404/405), the check
  is not made and a warning says so: Raise refuses an unknown campaign when the row is sent.
- **Codes travel in donation-page links**: a code another segment of the same campaign holds on
  the server, or that two rows of the sheet give to one campaign, is a problem for the rows
  that would write it, when the run read every segment (the whole list). When it read by id,
  the other segments of those campaigns are unknown and a warning says the check was not made.

Every refused row is ``invalid`` with a sentence naming its cell, before anything is sent; a
dry run and a real run decide the same.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from segsync.api.client import RaiseClient
from segsync.api.fetch import NO_LIST_STATUSES, CurrentState, list_all
from segsync.errors import PermanentApiError
from segsync.input.editset import EditSet
from segsync.input.messages import shown
from segsync.outcomes import Outcome
from segsync.plan.differ import Plan, RowPlan

# named as before this module moved into segsync/plan/: JSON logs and log filters use it
log = logging.getLogger("segsync.server_checks")

#: Campaign list pages read at most (a guard against a list that never ends).
MAX_PAGES = 1_000


@dataclass
class ServerChecks:
    """What the checks found: campaign names (for showing moves) and warnings."""

    campaign_names: dict[int, str] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    #: rows (input index) that move a segment to another campaign
    moves: set[int] = field(default_factory=set)


async def check_server_rules(
    plan: Plan, state: CurrentState, client: RaiseClient, edits: EditSet
) -> ServerChecks:
    """Refuse, in ``plan``, the rows the server would refuse or that would break a link."""
    checks = ServerChecks()
    for segment in state.segments.values():
        if segment.campaignName and segment.campaignId is not None:
            checks.campaign_names.setdefault(segment.campaignId, segment.campaignName)
    moving = [row for row in plan.rows if row.to_send and _target(row) is not None]
    checks.moves = {row.edit.index for row in moving}
    if moving:
        campaigns = await read_campaigns(client, checks)
        if campaigns is not None:
            checks.campaign_names.update(campaigns)
            for row in moving:
                target = _target(row)
                if target not in campaigns:
                    _refuse(
                        row,
                        edits,
                        "campaignId",
                        f"campaign {target} is not in Raise's campaign list "
                        f"({len(campaigns):,} campaigns); check the campaign id",
                    )
                    checks.moves.discard(row.edit.index)
    complete = await _campaigns_read(plan, state, client, checks)
    checks.warnings += _shared_codes(plan, state, edits, complete)
    return checks


async def _campaigns_read(
    plan: Plan, state: CurrentState, client: RaiseClient, checks: ServerChecks
) -> set[int] | None:
    """The campaigns whose every segment is known (None: all of them, the whole list was read).

    A run that read by id reads the segments of the campaigns its new codes land in, with the
    list's campaign filter (``api.list_campaign_param``), so the check is made all the same.
    """
    if state.complete:
        return None
    wanted = sorted(
        {
            row.body.campaignId
            for row in plan.rows
            if row.to_send
            and row.body is not None
            and any(c.field in ("code", "campaignId") for c in row.changes)
        }
    )
    if not wanted or not client.api.list_enabled:
        return set()
    try:
        segments = await list_all(client, wanted)
    except PermanentApiError as exc:
        if exc.status not in NO_LIST_STATUSES:
            raise
        return set()
    for segment in segments:
        state.segments.setdefault(segment.id, segment)
        if segment.campaignName and segment.campaignId is not None:
            checks.campaign_names.setdefault(segment.campaignId, segment.campaignName)
    return set(wanted)


def _target(row: RowPlan) -> int | None:
    for change in row.changes:
        if change.field == "campaignId" and isinstance(change.after, int):
            return change.after
    return None


async def read_campaigns(client: RaiseClient, checks: ServerChecks) -> dict[int, str] | None:
    """Every campaign id → name, or None (with a warning) when the API has no campaign list."""
    found: dict[int, str] = {}
    take = client.api.list_page_size
    skip = 0
    for _ in range(MAX_PAGES):
        try:
            body = await client.campaign_page(skip, take)
        except PermanentApiError as exc:
            if exc.status not in NO_LIST_STATUSES:
                raise
            checks.warnings.append(
                f"the campaign list answered {exc.status} ({client.api.paths.campaign_list}), "
                "so the campaign ids of the moves were not checked; Raise refuses an unknown "
                "campaign when the row is sent. Set api.paths.campaign_list to the right path."
            )
            return None
        items: list[Any] = body["items"]
        for item in items:
            if isinstance(item, dict) and isinstance(item.get("id"), int):
                found[item["id"]] = str(item.get("name") or "")
        total = body.get("total")
        skip += len(items)
        if not items or (isinstance(total, int) and skip >= total):
            break
    return found


def _shared_codes(
    plan: Plan, state: CurrentState, edits: EditSet, complete: set[int] | None
) -> list[str]:
    """Rows whose code would be shared within a campaign: refused when every segment of the
    campaign was read (``complete``: those campaigns, None: all), else one warning per
    campaign that could not be checked."""
    writes: dict[tuple[int, str], list[RowPlan]] = {}
    sending: set[int] = set()
    for row in plan.rows:
        if not row.to_send or row.body is None or row.edit.segment_id is None:
            continue
        sending.add(row.edit.segment_id)
        if any(c.field in ("code", "campaignId") for c in row.changes) and row.body.code:
            key = (row.body.campaignId, row.body.code.casefold())
            writes.setdefault(key, []).append(row)
    if not writes:
        return []
    unchecked: set[int] = set()
    holders: dict[tuple[int, str], list[int]] = {}
    for sid, segment in state.segments.items():
        if sid in sending or not segment.code or segment.campaignId is None:
            continue
        key = (segment.campaignId, segment.code.casefold())
        if key in writes:
            holders.setdefault(key, []).append(sid)
    warnings = []
    for key, rows in writes.items():
        held = sorted(holders.get(key, []))
        if held:
            owner = state.segments[held[0]]
            for row in rows:
                _refuse(
                    row,
                    edits,
                    "code",
                    f"code '{shown(row.body.code if row.body else '')}' is already held by "
                    f"segment {owner.id} ('{shown(owner.name)}') of campaign {key[0]}; codes "
                    "travel in donation-page links, so each is one segment's in a campaign",
                )
        elif len(rows) > 1:
            others = ", ".join(str(r.edit.source_row) for r in rows)
            for row in rows:
                _refuse(
                    row,
                    edits,
                    "code",
                    f"rows {others} would give campaign {key[0]} the code "
                    f"'{shown(row.body.code if row.body else '')}' twice; codes travel in "
                    "donation-page links, so each is one segment's in a campaign",
                )
        elif complete is not None and key[0] not in complete:
            unchecked.add(key[0])
    if unchecked:
        listed = ", ".join(map(str, sorted(unchecked)))
        warnings.append(
            f"new codes were not checked against the other segments of "
            f"{'campaign' if len(unchecked) == 1 else 'campaigns'} {listed}: "
            "their segments could not be listed (api.list_enabled is off, or the list "
            "endpoint is missing); Raise may refuse or accept a code another segment holds"
        )
    return warnings


def _refuse(row: RowPlan, edits: EditSet, name: str, message: str) -> None:
    ref = edits.cell(name, row.edit.source_row)
    where = f"{ref}: " if ref is not None else ""
    row.outcome = Outcome.INVALID
    row.body = None
    row.error = f"{row.error}; {where}{message}" if row.error else f"{where}{message}"
