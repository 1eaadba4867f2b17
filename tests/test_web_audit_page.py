"""The audit trail on the page: the page reads only the lines it shows (newest first, with a
link to the older ones), however long the file has grown; and the page's own audit lines are
written off the event loop, in order, each on disk before the action it records is answered.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import threading
import tracemalloc
from pathlib import Path
from typing import Any

import pytest

from segsync.config import load_settings
from segsync.team import audit
from segsync.team.audit import read_audit
from segsync.web.teamaudit import AUDIT_PAGE_ROWS
from tests.test_web_team import PASSWORD, people, sign_in, team_config
from tests.web_helpers import DEADLINE_S, csrf_of, hook_count, run, wait_until

#: lines in the generated trail (about 20 MB)
BIG = 100_000
_PERSON = re.compile(r'data-testid="audit-row" data-action="([^"]*)" data-person="([^"]*)"')
_OLDER = re.compile(r'href="(/audit\?before=\d+)" data-testid="audit-older"')


def generated_trail(path: Path, n: int) -> None:
    """``n`` audit lines from ``person-0`` (oldest) to ``person-<n-1>`` (newest), 0600."""
    pad = "x" * 120
    body = "".join(
        json.dumps(
            {
                "time": f"2026-11-{1 + i * 28 // n:02d}T08:00:00.000+00:00",
                "person": f"person-{i}",
                "action": "download",
                "via": "web",
                "file": f"report {i} {pad}.xlsx",
            }
        )
        + "\n"
        for i in range(n)
    )
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(body)


def rows_of(page: str) -> list[tuple[str, str]]:
    return _PERSON.findall(page)


def test_a_big_audit_file_costs_the_page_only_what_it_shows(sandbox: Any, tmp_path: Path) -> None:
    settings = load_settings(team_config(sandbox, tmp_path))
    trail = audit.audit_path(settings)
    generated_trail(trail, BIG)
    size = trail.stat().st_size
    assert size > 15 * 1024 * 1024

    async def main() -> None:
        async with people(settings) as p:
            april = p["april"]
            assert await sign_in(april, "april") == 303
            tracemalloc.start()
            newest = await april.page("/audit")
            _, peak = tracemalloc.get_traced_memory()
            tracemalloc.stop()
            rows = rows_of(newest)
            assert len(rows) == AUDIT_PAGE_ROWS == hook_count(newest, "audit-row")
            assert rows[0] == ("sign-in", "april")  # her own sign-in, written just now
            want = [f"person-{i}" for i in range(BIG - 1, BIG - AUDIT_PAGE_ROWS, -1)]
            assert [person for _, person in rows[1:]] == want
            assert peak < 4 * 1024 * 1024  # a page's worth of memory, not the file's 15 MB
            older = _OLDER.search(newest)
            assert older, "the newest page links to the older entries"
            second = await april.page(older.group(1).replace("&amp;", "&"))
            start = BIG - AUDIT_PAGE_ROWS
            want = [f"person-{i}" for i in range(start, start - AUDIT_PAGE_ROWS, -1)]
            assert [person for _, person in rows_of(second)] == want  # no gap, no repeat
            assert hook_count(second, "audit-newest") == 1
            assert (await april.get("/audit?before=0")).status == 200
            for odd in ("²", "9" * 5000, "-1", "1e9"):  # not an offset: the newest page
                answer = await april.get(f"/audit?before={odd}")
                assert answer.status == 200, odd
                assert hook_count(await answer.text(), "audit-newest") == 0, odd

    run(main())


class _GatedFsync:
    """``os`` for the audit module, with an ``fsync`` that waits for the test to let it go."""

    def __init__(self) -> None:
        self.entered = threading.Event()
        self.gate = threading.Event()

    def fsync(self, fd: int) -> None:
        self.entered.set()
        assert self.gate.wait(DEADLINE_S), "the test never let the audit fsync go"
        os.fsync(fd)

    def __getattr__(self, name: str) -> Any:
        return getattr(os, name)


def test_the_page_answers_others_while_an_audit_line_syncs_and_answers_after_it(
    sandbox: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = load_settings(team_config(sandbox, tmp_path))
    trail = audit.audit_path(settings)
    gated = _GatedFsync()
    monkeypatch.setattr(audit, "os", gated)

    async def main() -> None:
        async with people(settings) as p:
            olive, vic = p["olive"], p["vic"]
            form = await olive.page("/login")
            fields = {"csrf_token": csrf_of(form), "username": "olive", "password": PASSWORD}
            answer = asyncio.ensure_future(olive.send("/login", fields))

            async def syncing() -> bool:
                return gated.entered.is_set()

            await wait_until(syncing, what="the sign-in's audit line to reach fsync")
            # the loop is free while the disk syncs: another person's page is answered ...
            assert "password" in await vic.page("/login")
            # ... but the sign-in is not, until its audit line is on disk
            assert not answer.done()
            gated.gate.set()
            response = await answer
            assert response.status == 303
            assert [(e["action"], e["person"]) for e in read_audit(trail)] == [("sign-in", "olive")]

    run(main())


def test_a_second_audited_action_while_a_line_syncs_does_not_stop_the_page(
    sandbox: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two sign-ins close together: the first line is in its fsync, the second waits its turn
    on the writer thread, and meanwhile a third person's page is still answered."""
    settings = load_settings(team_config(sandbox, tmp_path))
    gated = _GatedFsync()
    monkeypatch.setattr(audit, "os", gated)
    asked: list[str] = []
    record_async = audit.AuditLog.record_async

    async def noting(self: audit.AuditLog, action: str, person: str | None, **kw: Any) -> bool:
        asked.append(f"{action} {person}")
        return await record_async(self, action, person, **kw)

    monkeypatch.setattr(audit.AuditLog, "record_async", noting)

    async def main() -> None:
        async with people(settings) as p:
            olive, vic, anon = p["olive"], p["vic"], p["anon"]
            first = asyncio.ensure_future(sign_in(olive, "olive"))

            async def syncing() -> bool:
                return gated.entered.is_set()

            await wait_until(syncing, what="the first sign-in's audit line to reach fsync")
            second = asyncio.ensure_future(sign_in(vic, "vic"))

            async def second_asked() -> bool:
                return "sign-in vic" in asked

            await wait_until(second_asked, what="the second sign-in to ask for its line")
            assert "password" in await anon.page("/login")  # the loop was never held
            assert not first.done() and not second.done()
            gated.gate.set()
            assert await first == 303 and await second == 303

    run(main())


def test_lines_asked_for_together_are_written_in_the_order_asked(tmp_path: Path) -> None:
    log = audit.AuditLog(tmp_path / "audit.jsonl")

    async def main() -> None:
        asked = [log.record_async("download", f"person-{i}") for i in range(50)]
        assert all(await asyncio.gather(*asked))

    run(main())
    people_in_file = [e["person"] for e in read_audit(tmp_path / "audit.jsonl")]
    assert people_in_file == [f"person-{i}" for i in range(50)]
