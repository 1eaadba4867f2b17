"""Reading the current state over real loopback TCP against the sandbox.

The server changes between two list pages through a transport wrapper (the client's HTTP seam)
that acts right after a chosen answer arrived, so a "deleted while paging" case is
deterministic: no sleeps, no timing. The sample has 200 segments; with pages of 50, deleting
one of the first 50 after the first page moves the segment at offset 50 to 49, which the page
at ``Skip=50`` no longer covers. Ids are taken by position (``nth``): the sample's have gaps.
"""

from __future__ import annotations

import asyncio
import functools
import socket
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

import segsync.engine.run
from segsync.api.fetch import CurrentState, fetch_current, list_all
from segsync.api.session import open_client
from segsync.config import Settings
from segsync.engine import pipeline
from segsync.errors import PermanentApiError, TransientApiError
from segsync.model import Segment
from segsync.sandbox import FaultOptions, Sandbox
from segsync.secrets import register_secret
from tests.conftest import MakeSandbox
from tests.helpers import raise_client, settings_for, write_csv

LIST_PATH = "/api/Segment/list"
MISSING = 999_999

Answer = Callable[[httpx.Request], httpx.Response | None]
After = Callable[[httpx.Request], None]


class HookTransport(httpx.AsyncHTTPTransport):
    """The real transport, plus a canned answer for some requests and a hook after each answer.

    ``answer`` may return a response instead of sending the request (a gateway's 404/405);
    ``after`` runs once the server's answer has arrived (the server has built it, so changing
    the server state here cannot affect it, only the next request).
    """

    def __init__(self, *, answer: Answer | None = None, after: After | None = None) -> None:
        super().__init__()
        self._answer = answer
        self._after = after

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        canned = self._answer(request) if self._answer else None
        if canned is not None:
            return canned
        response = await super().handle_async_request(request)
        if self._after:
            self._after(request)
        return response


def is_list(request: httpx.Request, skip: int | None = None) -> bool:
    if request.url.path != LIST_PATH:
        return False
    return skip is None or request.url.params.get("Skip") == str(skip)


def delete_after_first_page(sb: Sandbox, segment_id: int) -> HookTransport:
    """Deletes ``segment_id`` on the server as soon as the first list page has been answered."""
    done: list[int] = []

    def after(request: httpx.Request) -> None:
        if is_list(request, skip=0) and not done:
            done.append(segment_id)
            assert sb.delete(segment_id)

    return HookTransport(after=after)


def answer_list_with(status: int, skip: int | None = None) -> HookTransport:
    """A gateway that answers ``status`` for the list path (or only for one ``Skip``)."""

    def answer(request: httpx.Request) -> httpx.Response | None:
        return httpx.Response(status) if is_list(request, skip) else None

    return HookTransport(answer=answer)


def fetch(
    settings: Settings, ids: list[int], transport: httpx.AsyncBaseTransport | None = None
) -> CurrentState:
    async def go() -> CurrentState:
        async with open_client(settings, transport=transport or HookTransport()) as client:
            return await fetch_current(client, ids, concurrency=4)

    return asyncio.run(go())


def paged(sb: Sandbox, tmp_path: Path, **overrides: Any) -> Settings:
    return settings_for(sb, tmp_path, **{"api.list_page_size": 50, **overrides})


def nth(sb: Sandbox, *positions: int) -> list[int]:
    """The ids at these offsets of the list (sorted by id)."""
    ids = [s["id"] for s in sb.segments()]
    return [ids[p] for p in positions]


def server_segment(sb: Sandbox, segment_id: int) -> Segment:
    data = sb.segment(segment_id)
    assert data is not None
    return Segment.from_api(data)


# -- a list read is not proof of absence ----------------------------------------------------


def test_segment_deleted_between_pages_is_still_found(sandbox: Sandbox, tmp_path: Path) -> None:
    deleted, slipped, *others = nth(sandbox, 9, 50, 120, 180)
    # 4 ids beyond the first page vs 3 pages left: the list wins
    transport = delete_after_first_page(sandbox, deleted)
    state = fetch(paged(sandbox, tmp_path), [slipped, *others, MISSING], transport)
    snap = sandbox.counters.snapshot()

    assert state.segments[slipped] == server_segment(sandbox, slipped)
    assert MISSING not in state.segments
    assert set(others) <= state.segments.keys()
    assert state.strategy == (
        "list: 4 pages of up to 50 (200 segments), "
        "then 2 per-id GETs for ids the list did not return"
    )
    assert state.warnings == []
    # 4 pages + the slipped id + the missing id, which alone answered 404
    assert (snap.count("GET", 200), snap.count("GET", 404)) == (5, 1)


def test_list_that_returned_every_id_costs_no_extra_request(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    state = fetch(paged(sandbox, tmp_path), nth(sandbox, 0, 50, 120, 180))
    snap = sandbox.counters.snapshot()
    assert state.strategy == "list: 4 pages of up to 50 (200 segments)"
    assert snap.count("GET") == 4
    assert len(state.segments) == 200  # the differ's duplicate-code check uses the others


def test_small_sheet_reads_by_id_after_one_page(sandbox: Sandbox, tmp_path: Path) -> None:
    wanted = nth(sandbox, 0, 120)
    state = fetch(paged(sandbox, tmp_path), [*wanted, MISSING])
    assert state.strategy == (
        "per-id GET: 2 requests after 1 list page (the list would need 3 more)"
    )
    assert sorted(state.segments) == wanted
    assert sandbox.counters.snapshot().count("GET") == 3


# -- no list endpoint: per-id GETs with one warning -------------------------------------------


@pytest.mark.parametrize("status", [404, 405])
def test_list_endpoint_missing_falls_back_to_per_id(
    sandbox: Sandbox, tmp_path: Path, status: int
) -> None:
    wanted = [*nth(sandbox, 0, 120, 199), MISSING]
    if status == 404:  # the sandbox itself answers 404 for a path it does not serve
        settings = paged(sandbox, tmp_path, **{"api.paths.segment_list": "/api/Segments/list"})
        transport = None
    else:  # a gateway that knows the path for other methods only
        settings, transport = paged(sandbox, tmp_path), answer_list_with(405)
    state = fetch(settings, wanted, transport)
    snap = sandbox.counters.snapshot()

    assert len(state.warnings) == 1
    assert f"answered {status}" in state.warnings[0]
    assert "read each segment by id instead (4 requests)" in state.warnings[0]
    assert state.strategy == f"per-id GET: 4 requests (the list endpoint answered {status})"
    assert state.segments == {i: server_segment(sandbox, i) for i in wanted[:-1]}
    assert snap.count("GET", 200) == 3
    assert snap.count("GET", 404) == (2 if status == 404 else 1)  # the list's own 404


def test_later_list_page_404_counts_as_empty_and_its_ids_are_read(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    lost = nth(sandbox, 120)[0]  # on the page at Skip=100
    wanted = [*nth(sandbox, 50, 120, 180), MISSING]
    state = fetch(paged(sandbox, tmp_path), wanted, answer_list_with(404, skip=100))
    assert state.warnings == []
    assert state.strategy == (
        "list: 4 pages of up to 50 (200 segments); 1 later page answered 404/405 and "
        "counted as empty, then 2 per-id GETs for ids the list did not return"
    )
    assert state.segments[lost] == server_segment(sandbox, lost)
    assert MISSING not in state.segments


def test_other_list_errors_still_stop_the_read(sandbox: Sandbox, tmp_path: Path) -> None:
    with pytest.raises(PermanentApiError) as caught:
        fetch(paged(sandbox, tmp_path), [100001], answer_list_with(400))
    assert caught.value.status == 400


# -- export: every segment, even while the list shifts ---------------------------------------


@pytest.mark.parametrize("position", [9, 49])  # 49: the anchor that page 2 starts on
def test_list_all_misses_nothing_when_a_segment_is_deleted_between_pages(
    sandbox: Sandbox, tmp_path: Path, position: int
) -> None:
    all_ids = [s["id"] for s in sandbox.segments()]

    async def go() -> list[Segment]:
        transport = delete_after_first_page(sandbox, all_ids[position])
        async with open_client(paged(sandbox, tmp_path), transport=transport) as client:
            return await list_all(client)

    segments = asyncio.run(go())
    ids = [s.id for s in segments]
    assert ids == all_ids  # read before its deletion, so the deleted one is there too
    # one more than the 5 pages an unchanged list costs (pages overlap by one row)
    assert sandbox.counters.snapshot().count("GET") == 6


def test_list_all_reads_unchanged_list_with_one_row_of_overlap(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    async def go() -> list[Segment]:
        async with open_client(paged(sandbox, tmp_path), transport=HookTransport()) as client:
            return await list_all(client, [5001])

    segments = asyncio.run(go())
    expected = sorted(s["id"] for s in sandbox.segments() if s["campaignId"] == 5001)
    assert [s.id for s in segments] == expected


# -- network failures name the host and the attempts -----------------------------------------


@pytest.fixture
def closed_port() -> Iterator[int]:
    """A loopback port that refuses connections: bound (so nobody else takes it), not listening."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        yield sock.getsockname()[1]


FAST_RETRIES = {
    "retries.max_attempts": 2,
    "retries.backoff_base_s": 0.01,
    "retries.backoff_max_s": 0.01,
    "rate_limit.requests_per_second": 1000,
}


def test_connection_failure_names_host_and_attempts(closed_port: int) -> None:
    token = "tok-fetch-secret-123"
    register_secret(token)
    settings = Settings().with_overrides(FAST_RETRIES)

    async def go() -> None:
        base_url = f"http://127.0.0.1:{closed_port}"
        transport = httpx.AsyncHTTPTransport()
        client = raise_client(base_url, token, settings=settings, transport=transport)
        async with client:
            await client.get_segment(100001)

    with pytest.raises(TransientApiError) as caught:
        asyncio.run(go())
    message = caught.value.message
    assert message.startswith(f"could not connect to 127.0.0.1:{closed_port} (ConnectError: ")
    assert message.endswith(") after 2 attempts")
    assert caught.value.attempts == 2 and caught.value.status is None
    assert token not in message


def test_run_that_cannot_connect_says_where_it_tried(tmp_path: Path, closed_port: int) -> None:
    class Nowhere:
        base_url = f"http://127.0.0.1:{closed_port}"
        token = "tok-nowhere-secret-456"

    settings = settings_for(Nowhere(), tmp_path, **FAST_RETRIES)
    sheet = write_csv(tmp_path / "edits.csv", ["id", "name"], [[100001, "New"]])
    result = pipeline.sync(sheet, settings)

    assert result.aborted is not None
    assert result.aborted.startswith(
        f"could not read the current segments: could not connect to 127.0.0.1:{closed_port} "
    )
    assert result.aborted.endswith("after 2 attempts")
    assert Nowhere.token not in result.aborted
    assert [r.outcome.value for r in result.rows] == ["not_attempted"]
    assert result.exit_code == 3


def test_timeout_names_host(make_sandbox: MakeSandbox, tmp_path: Path) -> None:
    sb = make_sandbox(faults=FaultOptions(p_stall=1.0, stall_s=30))
    settings = settings_for(sb, tmp_path, **{"api.timeout_s": 0.2, "retries.max_attempts": 1})

    async def go() -> None:
        async with open_client(settings, transport=HookTransport()) as client:
            await client.get_segment(100001)

    with pytest.raises(TransientApiError) as caught:
        asyncio.run(go())
    host = sb.base_url.removeprefix("http://")
    assert (
        caught.value.message == f"no answer from {host} within 0.2s (ReadTimeout) after 1 attempt"
    )


# -- the whole run ---------------------------------------------------------------------------


def test_sync_updates_a_segment_that_slipped_between_list_pages(
    sandbox: Sandbox, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    deleted, slipped, *others = nth(sandbox, 9, 50, 120, 180)
    transport = delete_after_first_page(sandbox, deleted)
    monkeypatch.setattr(
        segsync.engine.run, "open_client", functools.partial(open_client, transport=transport)
    )
    rows = [[slipped, "Renamed"], [others[0], ""], [others[1], ""], [MISSING, "Ghost"]]
    sheet = write_csv(tmp_path / "edits.csv", ["id", "name"], rows)

    result = pipeline.sync(sheet, paged(sandbox, tmp_path))

    outcomes = {r.segment_id: r.outcome.value for r in result.rows}
    assert outcomes == {
        slipped: "updated",
        others[0]: "unchanged",
        others[1]: "unchanged",
        MISSING: "not_found",
    }
    assert server_segment(sandbox, slipped).name == "Renamed"
    assert "then 2 per-id GETs" in result.fetch_strategy


def test_sync_without_list_endpoint_reads_by_id(sandbox: Sandbox, tmp_path: Path) -> None:
    settings = paged(sandbox, tmp_path, **{"api.paths.segment_list": "/api/Segments/list"})
    first = nth(sandbox, 0)[0]
    sheet = write_csv(tmp_path / "edits.csv", ["id", "name"], [[first, "New"], [MISSING, "X"]])

    result = pipeline.sync(sheet, settings)

    assert [r.outcome.value for r in result.rows] == ["updated", "not_found"]
    assert result.aborted is None
    assert result.fetch_strategy == "per-id GET: 2 requests (the list endpoint answered 404)"
    assert [w for w in result.warnings if "list endpoint" in w] == [
        "the segment list endpoint answered 404 (/api/Segments/list); read each segment by id "
        "instead (2 requests). Set api.paths.segment_list to the right path, or "
        "api.list_enabled: false to skip the list"
    ]
    assert server_segment(sandbox, first).name == "New"
