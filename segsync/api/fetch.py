"""Read the current state of the segments a sheet names in as few requests as possible (the
paged list, or one GET per id, whichever costs less), and never call a segment that exists
``not_found`` because the list's offsets moved while it was read.
"""

from __future__ import annotations

import asyncio
import logging
import math
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

from segsync.api.client import Page, RaiseClient
from segsync.engine.runcontrol import RunControl
from segsync.errors import PermanentApiError, RunAborted, TransientApiError
from segsync.model import Segment
from segsync.output.plural import counted

T = TypeVar("T")
R = TypeVar("R")

log = logging.getLogger(__name__)

#: answers meaning "there is no list endpoint here" (not found; exists but not for GET)
NO_LIST_STATUSES = frozenset({404, 405})
#: ``list_all`` gives up when the list shifts under it this often (it is being rewritten)
MAX_STEP_BACKS = 100


@dataclass
class CurrentState:
    #: segments by id: every wanted one that exists, plus any others a list page returned
    segments: dict[int, Segment]
    #: a sentence for the summary, e.g. "list: 10 page(s) of up to 100 (1000 segments)"
    strategy: str
    #: for the run's warnings (e.g. the list endpoint is missing and every id costs a GET)
    warnings: list[str] = field(default_factory=list)
    #: how many segments the server holds, when a list page said so (the change-ratio guardrail)
    total: int | None = None
    #: every segment the server holds was read (the whole list): checks across segments, such
    #: as a code another segment of the campaign holds, can be made
    complete: bool = False


async def fetch_current(
    client: RaiseClient, ids: Iterable[int], *, concurrency: int
) -> CurrentState:
    """The current segments for ``ids``; an id absent from ``segments`` answered 404 by id.

    A 404/405 on the *first* list page means the configured list path is not served: every id
    is read by id, with one warning. A 404/405 on a *later* page does not: the first page
    proved the endpoint exists, so it most likely means the page lies past an end that shrank
    while reading (some servers answer 404 rather than an empty page). That page counts as
    empty, the strategy sentence says so, and its ids are re-read by id like any other id the
    list did not return. Any other error propagates.

    Two ways: the paged list endpoint (everything, ``ceil(total / page)`` requests) or one GET per
    id. The first list page is asked for anyway when the list is enabled: it tells the total, and
    its rows are kept whichever way wins. The rest of the pages are then fetched concurrently (the
    rate limiter still paces them). The chosen strategy is reported in the summary.

    Pages are read by offset (``Skip``), and offsets are not stable: a segment deleted on the
    server while the pages are read moves every later row one place left, so one row slips
    between two pages; one added moves rows right, past the total the first page announced. A
    list read is therefore never proof that a segment is gone: every wanted id the list did not
    return is read once more by id, and only a 404 there makes it ``not_found``. When the list
    returned every wanted id this costs nothing.

    The list endpoint itself is an assumption (the Raise reference documents only the PUT):
    when it answers 404 or 405 on the first page, the segments are read by id instead, with one
    warning. ``list_all`` reads every segment for ``export``, where there are no wanted ids to
    re-read, so it overlaps its pages instead (see there).
    """
    wanted = sorted(set(ids))
    if not wanted:
        return CurrentState({}, "nothing to fetch")
    if not client.api.list_enabled:
        found = await _get_each(client, wanted, concurrency)
        return CurrentState(found, f"per-id GET: {counted(len(wanted), 'request')} (list disabled)")
    try:
        first = await client.list_page(0, client.api.list_page_size)
    except PermanentApiError as exc:
        if exc.status not in NO_LIST_STATUSES:
            raise
        return await _without_list(client, wanted, concurrency, exc)
    return await _with_list(client, wanted, concurrency, first)


async def _without_list(
    client: RaiseClient, wanted: list[int], concurrency: int, exc: PermanentApiError
) -> CurrentState:
    """Every id by GET, because the list endpoint is not there (the first page was 404/405)."""
    path = client.api.paths.segment_list
    warning = (
        f"the segment list endpoint answered {exc.status} ({path}); read each segment by id "
        f"instead ({counted(len(wanted), 'request')}). Set api.paths.segment_list to the right "
        "path, or api.list_enabled: false to skip the list"
    )
    log.warning("%s", warning, extra={"event": "list_unavailable", "status": exc.status})
    found = await _get_each(client, wanted, concurrency)
    strategy = (
        f"per-id GET: {counted(len(wanted), 'request')} (the list endpoint answered {exc.status})"
    )
    return CurrentState(found, strategy, [warning])


async def _with_list(
    client: RaiseClient, wanted: list[int], concurrency: int, first: Page
) -> CurrentState:
    """The rest of the list or per-id GETs, whichever costs fewer requests; then re-GET gaps."""
    known = {s.id: s for s in first.items}
    page = len(first.items) or client.api.list_page_size
    pages_left = max(0, math.ceil((first.total - len(first.items)) / page))
    missing = [i for i in wanted if i not in known]
    if pages_left > len(missing):
        found = await _get_each(client, missing, concurrency)
        found.update((i, known[i]) for i in wanted if i in known)
        strategy = (
            f"per-id GET: {counted(len(missing), 'request')} after 1 list page "
            f"(the list would need {pages_left} more)"
        )
        return CurrentState(found, strategy, total=first.total)

    skips = range(len(first.items), first.total, page)
    pages = await _gather_limited(
        lambda skip: _later_page(client, skip, page), skips, concurrency, client.control
    )
    for p in pages:
        if p is not None:
            known.update((s.id, s) for s in p.items)
    unseen = [i for i in wanted if i not in known]
    known.update(await _get_each(client, unseen, concurrency))
    lost = sum(p is None for p in pages)
    strategy = _list_strategy(1 + len(skips), page, first.total, unseen, lost)
    return CurrentState(known, strategy, total=first.total, complete=not lost)


async def _later_page(client: RaiseClient, skip: int, take: int) -> Page | None:
    """A page after the first, or None when it answered 404/405 (see ``fetch_current``)."""
    try:
        return await client.list_page(skip, take)
    except PermanentApiError as exc:
        if exc.status not in NO_LIST_STATUSES:
            raise
        log.debug("list page at Skip=%d answered %s; its ids are read by id", skip, exc.status)
        return None


def _list_strategy(pages: int, page: int, total: int, unseen: list[int], lost: int) -> str:
    text = f"list: {counted(pages, 'page')} of up to {page} ({counted(total, 'segment')})"
    if lost:
        text += f"; {counted(lost, 'later page')} answered 404/405 and counted as empty"
    if unseen:
        text += f", then {counted(len(unseen), 'per-id GET')} for ids the list did not return"
    return text


async def list_all(client: RaiseClient, campaign_ids: Sequence[int] | None = None) -> list[Segment]:
    """Every segment (of ``campaign_ids``), in id order: what ``export`` writes.

    The pages are read one after another, each starting on the last row of the one before (the
    anchor). Rows are asked for in id order, so a page that starts *above* the anchor means rows
    moved left (segments deleted meanwhile) and a row may have slipped between the pages: the
    read steps back 1, 2, 4... rows until a page starts at or below the anchor (one deletion:
    one extra request). Rows that moved right (segments added) just come twice and are kept
    once. The overlap costs one row per page. A server that ignores ``SortBy`` but keeps a
    stable order still finds its anchor first and never steps back; with pages of one row there
    is no room to overlap, and pages are read by plain offset. Every step back lowers ``Skip``
    (at 0 nothing can have slipped); a list that keeps moving under the read raises
    ``TransientApiError`` after ``MAX_STEP_BACKS`` rather than export a sheet with holes.
    """
    take = client.api.list_page_size
    found: dict[int, Segment] = {}
    skip, anchor, back, step_backs = 0, None, 1, 0
    while True:
        page = await client.list_page(skip, take, campaign_ids)
        found.update((s.id, s) for s in page.items)
        if _moved_left(page, skip, anchor):
            step_backs += 1
            if step_backs > MAX_STEP_BACKS:
                raise TransientApiError(
                    f"the segment list kept changing while it was read ({MAX_STEP_BACKS} "
                    "shifts); export again when fewer segments are being deleted"
                )
            skip, back = max(0, skip - back), back * 2
            continue
        end = skip + len(page.items)
        if not page.items or end >= page.total:
            return sorted(found.values(), key=lambda s: s.id)
        overlap = 1 if len(page.items) > 1 else 0
        skip, anchor, back = end - overlap, (page.items[-1].id if overlap else None), 1


def _moved_left(page: Page, skip: int, anchor: int | None) -> bool:
    """True when a row may have slipped before this page: it starts above the anchor."""
    return anchor is not None and skip > 0 and bool(page.items) and page.items[0].id > anchor


async def _get_each(client: RaiseClient, ids: list[int], concurrency: int) -> dict[int, Segment]:
    if not ids:
        return {}
    results = await _gather_limited(client.get_segment, ids, concurrency, client.control)
    return {i: seg for i, seg in zip(ids, results, strict=True) if seg is not None}


async def _gather_limited(
    fn: Callable[[T], Awaitable[R]], args: Sequence[T], concurrency: int, control: RunControl
) -> list[R]:
    """``[await fn(a) for a in args]`` with at most ``concurrency`` in flight, results in order.

    A fixed pool of workers (not a task per item, which costs far more memory and scheduling at
    100k ids than the requests it waits for). A hard stop of the run cancels the workers.
    """
    results: list[Any] = [None] * len(args)
    positions = iter(range(len(args)))

    async def worker() -> None:
        for index in positions:
            results[index] = await fn(args[index])

    count = max(1, min(concurrency, len(args)))
    workers = [asyncio.create_task(worker()) for _ in range(count)]
    control.guard(workers)
    try:
        await asyncio.gather(*workers)
    except BaseException as exc:
        for w in workers:
            w.cancel()
        await asyncio.gather(*workers, return_exceptions=True)
        task = asyncio.current_task()
        if (
            isinstance(exc, asyncio.CancelledError)
            and control.hard
            and task
            and not task.cancelling()
        ):
            # the run's hard stop cancelled the workers, not this task: the run is aborting
            raise RunAborted(control.reason or "the run was stopped") from None
        raise
    finally:
        control.release(workers)
    return results
