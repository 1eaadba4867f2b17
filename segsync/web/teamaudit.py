"""The audit trail on the page: the line each action of a signed-in person leaves, and the
``/audit`` page that reads the trail back, newest first, a page at a time.

Used by the other team modules (``team``'s guard, ``teamlogin``, ``teamapprovals``): ``record``
writes off the event loop and returns once the line is on disk, so the action is answered after
its line (``AuditLog.record_async``).
"""

from __future__ import annotations

import asyncio
import re
from typing import Any

from aiohttp import web

from segsync.team.audit import audit_path, read_audit_page
from segsync.web.responses import page
from segsync.web.teamstate import TEAM, TeamState

#: audit lines on one page of /audit (newest first; its "Older entries" link pages back)
AUDIT_PAGE_ROWS = 100


def team_of(request: web.Request) -> TeamState | None:
    """The team in force on this app (None in the shared-password mode)."""
    return request.app.get(TEAM)


async def record(request: web.Request, action: str, person: str | None, **fields: Any) -> None:
    """The audit line of an action, on disk before the action is answered (off the loop)."""
    team = team_of(request)
    if team is not None:
        await team.audit.record_async(action, person, via="web", remote=request.remote, **fields)


async def audit_page(request: web.Request) -> web.StreamResponse:
    """The newest ``AUDIT_PAGE_ROWS`` lines, or those before ``?before=`` (a byte offset the
    page's own "Older entries" link gives): read from the end, however long the file is."""
    team = team_of(request)
    assert team is not None
    before = request.query.get("before", "")
    # ASCII digits only (str.isdigit takes "²", which int() refuses), and no more than a file
    # offset can need
    offset = int(before) if re.fullmatch(r"[0-9]{1,20}", before) else None
    loop = asyncio.get_running_loop()
    found = await loop.run_in_executor(
        None, read_audit_page, audit_path(team.settings), AUDIT_PAGE_ROWS, offset
    )
    return await page(
        request, "team_audit.html", rows=found.lines, older=found.older, paged=offset is not None
    )
