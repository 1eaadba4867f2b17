"""Named people on the page, through aiohttp's test client: sign-in, roles, the second pair of
eyes on a big plan, the audit trail, and the single-sign-on header only from the proxy.

Each person has their own client (their own cookie jar) on one server. Every case asserts on
what the sandbox holds, what the pages say, and what ``segsync audit --json`` reads back.
"""

from __future__ import annotations

import contextlib
import json
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from aiohttp.test_utils import TestClient, TestServer
from python_calamine import CalamineWorkbook

from segsync.config import Settings, load_settings
from segsync.team.users import Role, UsersFile
from segsync.web import create_app
from segsync.web.team import TeamOptions
from tests.helpers import read_summary, run_cli, write_config, write_csv
from tests.test_team_notify import webhook_receiver  # noqa: F401 - the receiver fixture
from tests.test_web_runs import sending, slow_sandbox
from tests.web_helpers import WebSession, csrf_of, hook_count, hook_text, run, wait_until

PASSWORD = "a long team password"
PEOPLE = {
    "olive": Role.OPERATOR,
    "april": Role.APPROVER,
    "amos": Role.APPROVER,
    "vic": Role.VIEWER,
}


def team_config(sb: Any, tmp_path: Path, **web: Any) -> Path:
    cfg = write_config(
        sb,
        tmp_path,
        web={"users_file": str(tmp_path / "users.json"), "approval_required_over": 2, **web},
    )
    file = UsersFile(tmp_path / "users.json")
    for name, role in PEOPLE.items():
        file.add(name, role, PASSWORD)
    file.add("sso-sam", Role.OPERATOR, None)
    return cfg


def renames(sb: Any, path: Path, n: int, label: str = "Team") -> tuple[Path, list[int]]:
    ids = [s["id"] for s in sb.segments()[:n]]
    return write_csv(path, ["id", "name"], [[i, f"{label} {i}"] for i in ids]), ids


@contextlib.asynccontextmanager
async def people(
    settings: Settings, team: TeamOptions | None = None
) -> AsyncIterator[dict[str, WebSession]]:
    """One signed-out visitor per person (own cookies) on one server."""
    app = create_app(settings, team=team)
    server = TestServer(app, host="127.0.0.1")
    async with contextlib.AsyncExitStack() as stack:
        visitors = {}
        for name in [*PEOPLE, "anon"]:
            client = await stack.enter_async_context(TestClient(server))
            visitors[name] = WebSession(client, app)
        yield visitors


async def sign_in(who: WebSession, name: str, password: str = PASSWORD) -> int:
    form = await who.page("/login")
    assert hook_count(form, "username") == hook_count(form, "password") == 1
    response = await who.send(
        "/login", {"csrf_token": csrf_of(form), "username": name, "password": password}
    )
    return response.status


def test_a_big_plan_waits_for_a_different_approver(sandbox: Any, tmp_path: Path) -> None:
    cfg = team_config(sandbox, tmp_path)
    settings = load_settings(cfg)
    sheet, ids = renames(sandbox, tmp_path / "big.csv", 3)

    async def main() -> None:
        async with people(settings) as p:
            olive, april, vic = p["olive"], p["april"], p["vic"]
            # nobody is let in without signing in; a wrong password is refused
            assert (await olive.get("/runs", allow_redirects=False)).status == 303
            assert await sign_in(olive, "olive", "wrong password!") == 403
            assert await sign_in(olive, "olive") == 303
            home = await olive.page("/")
            assert hook_text(home, "signed-in-as") == "Signed in as olive (operator)"

            preview = await olive.preview(sheet)
            confirm = await olive.page(f"{preview}/apply")
            assert hook_count(confirm, "request-approval") == 1
            assert hook_count(confirm, "apply") == 0
            assert "changes 3 segments, more than 2" in hook_text(confirm, "approval-needed")
            early = await olive.post(f"{preview}/apply")
            assert early.status == 403 and "Approval needed" in await early.text()

            asked = await olive.post(f"{preview}/request-approval")
            assert asked.status == 303
            waiting = await olive.page(f"{preview}/apply")
            assert "Waiting for approval" in hook_text(waiting, "approval-state")
            assert hook_count(waiting, "request-approval") == 0

            pid = preview.rsplit("/", 1)[-1]
            # the author cannot approve (an operator has no approver role)
            own = await olive.post(f"/approvals/{pid}/approve")
            assert own.status == 403
            assert "needs the approver role" in await own.text()

            # a viewer sees, but may not apply
            assert await sign_in(vic, "vic") == 303
            refused = await vic.post(f"{preview}/apply")
            text = await refused.text()
            assert refused.status == 403
            assert "Applying changes needs the operator role" in text
            assert "vic (viewer)" in text

            assert await sign_in(april, "april") == 303
            listing = await april.page("/approvals")
            assert hook_count(listing, "approval-row") == 1
            assert f'data-preview-id="{pid}"' in listing
            review = await april.page(f"/approvals/{pid}")
            assert hook_count(review, "approve") == 1 and hook_count(review, "reject") == 1
            assert hook_count(review, "preview-summary") == 1  # the same preview
            approved = await april.post(f"/approvals/{pid}/approve")
            assert approved.status == 303
            assert sandbox.segment(ids[0])["name"] != f"Team {ids[0]}"  # nothing sent yet

            ready = await olive.page(f"{preview}/apply")
            assert hook_count(ready, "apply") == 1
            _job, status = await olive.run(preview)
            assert status["state"] == "finished"
            assert all(sandbox.segment(i)["name"] == f"Team {i}" for i in ids)

            runs = await olive.page("/runs")
            assert hook_text(runs, "run-by") == "olive approved by april"
            run_id = re.search(r'data-run-id="([^"]+)"', runs).group(1)  # type: ignore[union-attr]
            download = await olive.get(f"/runs/{run_id}/results")
            book = tmp_path / "results.xlsx"
            book.write_bytes(await download.read())
            summary = [[str(c) for c in row[:2]] for row in read_summary(book)]
            assert ["Run by", "olive"] in summary and ["Approved by", "april"] in summary
            details = CalamineWorkbook.from_path(str(book)).get_sheet_by_name("Run details")
            pairs = [[str(c) for c in row[:2]] for row in details.to_python()]
            assert ["run by", "olive"] in pairs and ["approved by", "april"] in pairs

            audit_page = await april.page("/audit")
            assert hook_count(audit_page, "audit-row") >= 6
            assert (await olive.get("/audit")).status == 403

    run(main())
    entries = json.loads(run_cli("audit", "--json", "--config", str(cfg)).stdout)["entries"]
    actions = [(e["person"], e["action"]) for e in entries]
    for expected in [
        ("olive", "sign-in-failed"),
        ("olive", "sign-in"),
        ("olive", "upload"),
        ("olive", "plan"),
        ("olive", "request-approval"),
        ("olive", "refused"),
        ("vic", "refused"),
        ("april", "approve"),
        ("olive", "apply"),
        ("olive", "download"),
    ]:
        assert expected in actions, (expected, actions)
    applied = next(e for e in entries if e["action"] == "apply")
    approval = next(e for e in entries if e["action"] == "approve")
    assert applied["approved_by"] == "april" and applied["via"] == "web"
    assert applied["plan_sha256"] == approval["plan_sha256"]
    assert applied["counts"] == {"updated": 3}
    runs = run_cli("runs", "--config", str(cfg)).stdout
    assert "by olive (approved by april)" in runs


def test_an_approver_cannot_approve_their_own_plan(sandbox: Any, tmp_path: Path) -> None:
    cfg = team_config(sandbox, tmp_path)
    sheet, ids = renames(sandbox, tmp_path / "own.csv", 4)

    async def main() -> None:
        async with people(load_settings(cfg)) as p:
            april, amos = p["april"], p["amos"]
            assert await sign_in(april, "april") == 303
            preview = await april.preview(sheet)
            await april.post(f"{preview}/request-approval")
            pid = preview.rsplit("/", 1)[-1]
            review = await april.page(f"/approvals/{pid}")
            assert hook_count(review, "approve") == 0
            own = await april.post(f"/approvals/{pid}/approve")
            assert own.status == 403 and "a different person" in await own.text()

            assert await sign_in(amos, "amos") == 303
            no_reason = await amos.post(f"/approvals/{pid}/reject")
            assert no_reason.status == 400
            rejected = await amos.post(f"/approvals/{pid}/reject", {"reason": "Too many at once"})
            assert rejected.status == 303
            after = await april.page(f"{preview}/apply")
            assert "Rejected by amos: Too many at once" in hook_text(after, "approval-state")
            assert (await april.post(f"{preview}/apply")).status == 403
            assert all(sandbox.segment(i)["name"] != f"Team {i}" for i in ids)

    run(main())


def test_a_small_plan_needs_no_approval(sandbox: Any, tmp_path: Path) -> None:
    cfg = team_config(sandbox, tmp_path)
    sheet, ids = renames(sandbox, tmp_path / "small.csv", 2)

    async def main() -> None:
        async with people(load_settings(cfg)) as p:
            olive = p["olive"]
            assert await sign_in(olive, "olive") == 303
            preview = await olive.preview(sheet)
            assert hook_count(await olive.page(f"{preview}/apply"), "apply") == 1
            _, status = await olive.run(preview)
            assert status["state"] == "finished"
            assert all(sandbox.segment(i)["name"] == f"Team {i}" for i in ids)

            users = UsersFile(tmp_path / "users.json")
            users.set_role("olive", Role.VIEWER)  # holds from the next click
            assert (await olive.post("/upload")).status == 403
            users.remove("olive")  # signed out at the next click
            gone = await olive.get("/runs", allow_redirects=False)
            assert gone.status == 303 and gone.headers["Location"].startswith("/login")

    run(main())


def test_the_trusted_header_only_from_the_proxy(sandbox: Any, tmp_path: Path) -> None:
    cfg = team_config(sandbox, tmp_path)
    settings = load_settings(cfg)

    async def main() -> None:
        elsewhere = TeamOptions("X-Forwarded-User", ("10.9.9.9",))
        async with people(settings, elsewhere) as p:
            forged = await p["anon"].get(
                "/runs", headers={"X-Forwarded-User": "april"}, allow_redirects=False
            )
            assert forged.status == 303
            assert forged.headers["Location"].startswith("/login")
        here = TeamOptions("X-Forwarded-User", ("127.0.0.1",))
        async with people(settings, here) as p:
            sam = p["anon"]
            response = await sam.get("/", headers={"X-Forwarded-User": "sso-sam"})
            text = await response.text()
            assert response.status == 200
            assert hook_text(text, "signed-in-as") == "Signed in as sso-sam (operator)"
            stranger = await p["vic"].get("/", headers={"X-Forwarded-User": "mallory"})
            assert stranger.status == 403
            assert "has no such user" in await stranger.text()
            # a person without a password cannot sign in with the form
            assert await sign_in(p["olive"], "sso-sam", "") == 403

    run(main())
    entries = json.loads(run_cli("audit", "--json", "--config", str(cfg)).stdout)["entries"]
    refused = [e for e in entries if e["action"] == "refused"]
    assert refused and "untrusted address" in refused[0]["reason"]
    assert ("sso-sam", "sign-in") in [(e["person"], e["action"]) for e in entries]


def test_without_users_the_page_is_as_before(sandbox: Any, tmp_path: Path) -> None:
    cfg = write_config(sandbox, tmp_path, web={"users_file": str(tmp_path / "none.json")})

    async def main() -> None:
        async with people(load_settings(cfg)) as p:
            await p["anon"].sign_in()  # the printed address, with its token, as without users
            home = await p["anon"].page("/")
            assert hook_count(home, "signed-in-as") == 0
            assert not re.search(r"/approvals", home)

    run(main())


def test_a_big_rollback_waits_too_and_the_page_sends_notices(
    sandbox: Any, tmp_path: Path, receiver: tuple[str, list[dict[str, Any]]]
) -> None:
    url, received = receiver
    cfg = team_config(sandbox, tmp_path)
    settings = load_settings(cfg).with_overrides(
        {"notify.urls": [url], "notify.when": "always", "web.approval_required_over": 3}
    )
    before = {s["id"]: s["name"] for s in sandbox.segments()[:4]}
    sheet, ids = renames(sandbox, tmp_path / "four.csv", 4)

    async def main() -> None:
        async with people(settings) as p:
            olive, april = p["olive"], p["april"]
            assert await sign_in(olive, "olive") == 303
            assert await sign_in(april, "april") == 303
            preview = await olive.preview(sheet)
            await olive.post(f"{preview}/request-approval")
            await april.post(f"/approvals/{preview.rsplit('/', 1)[-1]}/approve")
            await olive.run(preview)
            assert all(sandbox.segment(i)["name"] == f"Team {i}" for i in ids)

            runs = await olive.page("/runs")
            run_id = re.search(r'data-run-id="([^"]+)"', runs).group(1)  # type: ignore[union-attr]
            started = await olive.post(f"/runs/{run_id}/rollback")
            back = started.headers["Location"]
            await olive.wait_state(f"{back}/status")
            waits = await olive.page(f"{back}/apply")
            assert hook_count(waits, "request-approval") == 1
            assert "changes 4 segments, more than 3" in hook_text(waits, "approval-needed")
            await olive.post(f"{back}/request-approval")
            await april.post(f"/approvals/{back.rsplit('/', 1)[-1]}/approve")
            _job, status = await olive.run(back)
            assert status["state"] == "finished"

            async def three_notices() -> bool:  # a run's notice follows its end
                return len(received) >= 3

            await wait_until(three_notices, what="the approval, apply and rollback notices")

    run(main())
    assert {i: sandbox.segment(i)["name"] for i in ids} == before
    titles = [r["title"] for r in received]
    assert "segsync: a plan of 4 changes waits for approval" in titles
    assert titles.count("segsync apply done (exit code 0)") == 1
    assert titles.count("segsync rollback done (exit code 0)") == 1
    notice = next(r for r in received if r["title"] == "segsync apply done (exit code 0)")
    assert "By: olive" in notice["message"] and "Rows: updated 4" in notice["message"]
    entries = json.loads(run_cli("audit", "--json", "--config", str(cfg)).stdout)["entries"]
    rollback = next(e for e in entries if e["action"] == "rollback")
    assert rollback["person"] == "olive" and rollback["approved_by"] == "april"


def test_stop_needs_an_operator_and_is_audited(make_sandbox: Any, tmp_path: Path) -> None:
    sandbox = slow_sandbox(make_sandbox)
    cfg = team_config(sandbox, tmp_path, approval_required_over=None)
    settings = load_settings(cfg).with_overrides({"rate_limit.max_concurrency": 1})
    sheet, _ids = renames(sandbox, tmp_path / "eight.csv", 8)

    async def main() -> None:
        async with people(settings) as p:
            olive, vic = p["olive"], p["vic"]
            assert await sign_in(olive, "olive") == 303
            assert await sign_in(vic, "vic") == 303
            job = await olive.apply(await olive.preview(sheet))
            await sending(olive, job)
            refused = await vic.post(f"{job}/stop")
            assert refused.status == 403
            assert "Stopping a run needs the operator role" in await refused.text()
            assert (await olive.post(f"{job}/stop")).status == 303
            status = await olive.wait_state(f"{job}/status")
            assert status["state"] == "aborted"
            assert "stopped from the web page by olive" in hook_text(
                await olive.page(job), "run-status"
            )

    run(main())
    entries = json.loads(run_cli("audit", "--json", "--config", str(cfg)).stdout)["entries"]
    stop = next(e for e in entries if e["action"] == "stop")
    applied = next(e for e in entries if e["action"] == "apply")
    assert stop["person"] == "olive" and stop["file"] == applied["file"] == "eight.csv"
    assert applied["aborted"].endswith("stopped from the web page by olive")


def test_wrong_sign_ins_slow_their_own_address_as_wrong_passwords_do(
    sandbox: Any, tmp_path: Path
) -> None:
    """Team sign-in uses the page's per-address throttle (five free, then growing waits): once
    it holds, even the right password waits, and nothing is signed in meanwhile."""
    cfg = team_config(sandbox, tmp_path)

    async def main() -> None:
        async with people(load_settings(cfg)) as p:
            olive = p["olive"]
            statuses = [await sign_in(olive, "olive", "not the password") for _ in range(7)]
            assert statuses[:6] == [403] * 6 and statuses[6] == 429
            assert await sign_in(olive, "olive") == 429  # checked only once the wait is over
            assert (await olive.get("/runs", allow_redirects=False)).status == 303
            # the record is this address's: another address may still try at once
            assert p["olive"].state.gate.throttle.wait_s("192.0.2.7") == 0

    run(main())


def test_a_workbook_that_asks_which_sheet_leaves_an_upload_line_and_a_step_line(
    sandbox: Any, tmp_path: Path
) -> None:
    """The upload answers with the sheet step, not a preview: its audit line names the upload
    and the step (not a preview id of "sheet"), and the step's answer names the preview."""
    from tests.test_web_sheet_step import two_appeals

    cfg = team_config(sandbox, tmp_path)
    path = two_appeals(tmp_path)

    async def main() -> None:
        async with people(load_settings(cfg)) as who:
            olive = who["olive"]
            assert await sign_in(olive, "olive") == 303
            step = (await olive.upload(path)).headers["Location"]
            assert step.endswith("/sheet")
            chosen = await olive.post(step, {"sheet": "Giving Tuesday"})
            assert chosen.status == 303

    run(main())
    entries = json.loads(run_cli("audit", "--json", "--config", str(cfg)).stdout)["entries"]
    upload = [e for e in entries if e["action"] == "upload"]
    steps = [e for e in entries if e["action"] == "upload-step"]
    assert len(upload) == 1 and len(steps) == 1, entries
    assert upload[0]["file"] == "appeals.xlsx" and upload[0]["step"] == "sheet"
    assert "preview_id" not in upload[0]
    assert steps[0]["step"] == "sheet" and steps[0]["person"] == "olive"
    assert steps[0]["preview_id"] and steps[0]["file"]
