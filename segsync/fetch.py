"""Read the current state of the segments a sheet names, in as few requests as possible.

Two ways: the paged list endpoint (everything, ``ceil(total / page)`` requests) or one GET per
id. The first list page is asked for anyway when the list is enabled: it tells the total, and
its rows are kept whichever way wins. The rest of the pages are then fetched concurrently (the
rate limiter still paces them). The chosen strategy is reported in the summary.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from segsync.client import RaiseClient
from segsync.model import Segment

T = TypeVar("T")
R = TypeVar("R")


@dataclass
class CurrentState:
    segments: dict[int, Segment]
    #: a sentence for the summary, e.g. "list: 10 pages of 100 (1000 segments)"
    strategy: str
    #: True when every segment of the organisation is known (list strategy)
    complete: bool


async def fetch_current(
    client: RaiseClient, ids: Iterable[int], *, concurrency: int
) -> CurrentState:
    wanted = sorted(set(ids))
    if not wanted:
        return CurrentState({}, "nothing to fetch", False)
    if not client.settings.api.list_enabled:
        found = await _get_each(client, wanted, concurrency)
        return CurrentState(found, f"per-id GET: {len(wanted)} requests (list disabled)", False)

    take = client.settings.api.list_page_size
    first = await client.list_page(0, take)
    known = {s.id: s for s in first.items}
    page = len(first.items) or take
    list_requests_left = max(0, math.ceil((first.total - len(first.items)) / page))
    missing = [i for i in wanted if i not in known]
    if list_requests_left <= len(missing):
        skips = range(len(first.items), first.total, page)
        pages = await _gather_limited(lambda skip: client.list_page(skip, page), skips, concurrency)
        for p in pages:
            known.update((s.id, s) for s in p.items)
        pages_used = 1 + len(skips)
        strategy = f"list: {pages_used} page(s) of up to {page} ({first.total} segments)"
        return CurrentState(known, strategy, True)
    found = await _get_each(client, missing, concurrency)
    found.update((i, known[i]) for i in wanted if i in known)
    strategy = (
        f"per-id GET: {len(missing)} request(s) after 1 list page "
        f"(the list would need {list_requests_left} more)"
    )
    return CurrentState(found, strategy, False)


async def _get_each(client: RaiseClient, ids: list[int], concurrency: int) -> dict[int, Segment]:
    results = await _gather_limited(client.get_segment, ids, concurrency)
    return {i: seg for i, seg in zip(ids, results, strict=True) if seg is not None}


async def _gather_limited(
    fn: Callable[[T], Awaitable[R]], args: Sequence[T], concurrency: int
) -> list[R]:
    """``[await fn(a) for a in args]`` with at most ``concurrency`` in flight, results in order.

    A fixed pool of workers (not a task per item): at 100k ids a task per item costs far more
    memory and scheduling time than the requests it waits for.
    """
    results: list[Any] = [None] * len(args)
    positions = iter(range(len(args)))

    async def worker() -> None:
        for index in positions:
            results[index] = await fn(args[index])

    count = max(1, min(concurrency, len(args)))
    workers = [asyncio.create_task(worker()) for _ in range(count)]
    try:
        await asyncio.gather(*workers)
    except BaseException:
        for w in workers:
            w.cancel()
        await asyncio.gather(*workers, return_exceptions=True)
        raise
    return results
