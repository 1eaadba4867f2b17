"""Runs started from the page: conflicts, the run lock shared with the CLI, Stop, rollback,
guardrails, a plan that cannot read the server, and ``segsync web`` itself."""

from __future__ import annotations

import re
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from segsync.api.session import api_target
from segsync.engine.runlock import RunLock
from segsync.errors import RunLockedError
from segsync.sandbox import FaultOptions, Sandbox
from tests.conftest import MakeSandbox
from tests.helpers import REPO, cli_env, read_results, segsync_command, settings_for
from tests.web_helpers import (
    DEADLINE_S,
    SAMPLE_SHEET,
    WebSession,
    csrf_of,
    hook_count,
    hook_text,
    intended_state,
    run,
    stored_state,
    wait_until,
    web_client,
)


def slow_sandbox(make_sandbox: MakeSandbox) -> Sandbox:
    """Every PUT takes 150 ms: a run of the sample sheet lasts long enough to watch."""
    return make_sandbox(faults=FaultOptions(latency_ms=150, methods=("PUT",)))


async def sending(web: WebSession, job: str) -> dict[str, Any]:
    async def started() -> dict[str, Any] | None:
        data: dict[str, Any] = await (await web.get(f"{job}/status")).json()
        assert data["state"] == "running", data
        return data if data["done"] >= 1 else None

    result: dict[str, Any] = await wait_until(started, what="the first row to be sent")
    return result


def test_a_colleagues_change_between_preview_and_apply_is_a_conflict(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    async def body() -> None:
        async with web_client(settings_for(sandbox, tmp_path)) as web:
            preview = await web.preview()
            sandbox.modify(100001, name="Renamed by a colleague")
            job, status = await web.run(preview)
            assert status["state"] == "finished"
            done = await web.page(job)
            assert "finished" in hook_text(done, "run-status")
            assert "changed by someone else" in done
            data = await (await web.get(f"/runs/{status['run_id']}/results")).read()
            (tmp_path / "r.xlsx").write_bytes(data)
            rows = {int(r["id"]): r["outcome"] for r in read_results(tmp_path / "r.xlsx")}
            assert rows[100001] == "conflict" and rows[100002] == "updated"

    run(body())
    assert sandbox.segment(100001)["name"] == "Renamed by a colleague"  # type: ignore[index]


def test_rollback_from_the_runs_page_previews_then_restores(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    seed = stored_state(sandbox)

    async def body() -> None:
        async with web_client(settings_for(sandbox, tmp_path)) as web:
            _, status = await web.run(await web.preview())
            run_id = status["run_id"]
            assert stored_state(sandbox) == intended_state({i: {**s} for i, s in seed.items()})
            runs = await web.page("/runs")
            assert hook_count(runs, "run-row") == 1 and hook_count(runs, "rollback") == 1
            puts = sandbox.counters.snapshot().count("PUT")
            response = await web.post(f"/runs/{run_id}/rollback")
            assert response.status == 303
            preview = response.headers["Location"]
            await web.wait_state(f"{preview}/status")
            page = await web.page(preview)
            assert "Rollback preview" in page and hook_count(page, "preview-summary") == 1
            assert sandbox.counters.snapshot().count("PUT") == puts  # a preview sends nothing
            confirm = await web.page(f"{preview}/apply")
            assert hook_text(confirm, "confirm-action").startswith(
                f"Put back 8 segments in Raise at {sandbox.base_url} as they were before run "
                f"{run_id}"
            )
            job, done = await web.run(preview)
            assert done["state"] == "finished"
            assert "finished" in hook_text(await web.page(job), "run-status")
            runs = await web.page("/runs")
            assert hook_count(runs, "run-row") == 2 and done["run_id"] in runs
            assert f'data-rollback-of="{run_id}"' in runs

    run(body())
    assert stored_state(sandbox) == seed


def test_a_run_of_the_cli_blocks_apply_and_names_its_holder(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    settings = settings_for(sandbox, tmp_path)

    async def body() -> None:
        async with web_client(settings) as web:
            preview = await web.preview()
            lock = RunLock(api_target(settings))
            lock.acquire("20990101-000000-cli0cli0cli0cli0", "sync")
            try:
                refused = await web.post(f"{preview}/apply")
                text = await refused.text()
                assert refused.status == 409
                assert "20990101-000000-cli0cli0cli0cli0" in text and "sync" in text
            finally:
                lock.release()
            assert sandbox.counters.snapshot().count("PUT") == 0
            _, status = await web.run(preview)
            assert status["state"] == "finished"

    run(body())


def test_a_running_page_run_blocks_the_cli_and_a_second_apply(
    make_sandbox: MakeSandbox, tmp_path: Path
) -> None:
    sandbox = slow_sandbox(make_sandbox)
    settings = settings_for(sandbox, tmp_path, **{"rate_limit.max_concurrency": 1})

    async def body() -> None:
        async with web_client(settings) as web:
            first, second = await web.preview(), await web.preview()
            job = await web.apply(first)
            await sending(web, job)
            with pytest.raises(RunLockedError, match="apply"):
                RunLock(api_target(settings)).acquire("cli-run", "sync")
            refused = await web.post(f"{second}/apply")
            assert refused.status == 409
            assert "already writing" in await refused.text()
            assert (await web.wait_state(f"{job}/status"))["state"] == "finished"

    run(body())


def test_stop_is_graceful_and_a_reload_reattaches(
    make_sandbox: MakeSandbox, tmp_path: Path
) -> None:
    sandbox = slow_sandbox(make_sandbox)
    settings = settings_for(sandbox, tmp_path, **{"rate_limit.max_concurrency": 1})

    async def body() -> None:
        async with web_client(settings) as web:
            job = await web.apply(await web.preview())
            await sending(web, job)
            page = await web.page(job)  # a reload: the same run, still going
            assert hook_count(page, "stop") == 1 and f'data-status-url="{job}/status"' in page
            assert "running" in hook_text(page, "run-status")
            assert '<script src="/static/progress.js" defer></script>' in page
            # Stop is a POST like any other: without this page's token it is refused
            for form in ({}, {"csrf_token": "forged"}):
                refused = await web.send(f"{job}/stop", data=form)
                assert refused.status == 403, form
                assert hook_count(await refused.text(), "refusal") == 1
            assert (await (await web.get(f"{job}/status")).json())["state"] == "running"
            stop = await web.post(f"{job}/stop")
            assert stop.status == 303 and stop.headers["Location"] == job
            status = await web.wait_state(f"{job}/status")
            assert status["state"] == "aborted"
            done = await web.page(job)
            assert "aborted" in hook_text(done, "run-status")
            assert "stopped from the web page" in hook_text(done, "run-status")
            results = await (await web.get(f"/runs/{status['run_id']}/results")).read()
            (tmp_path / "r.xlsx").write_bytes(results)
            outcomes = [r["outcome"] for r in read_results(tmp_path / "r.xlsx")]
            assert "not_attempted" in outcomes and 1 <= outcomes.count("updated") < 8
            assert hook_count(await web.page("/runs"), "rollback") == 1

    run(body())


def test_over_a_guardrail_the_number_is_typed(sandbox: Sandbox, tmp_path: Path) -> None:
    settings = settings_for(sandbox, tmp_path, **{"guardrails.max_changes": 3})

    async def body() -> None:
        async with web_client(settings) as web:
            preview = await web.preview()
            confirm = await web.page(f"{preview}/apply")
            assert hook_count(confirm, "confirm-input") == 1
            assert "more than the 3 changes a run may make here" in confirm
            assert "guardrails." not in confirm  # plain words, not the config key
            for typed in ({}, {"confirm": "7"}, {"confirm": "eight"}):
                response = await web.post(f"{preview}/apply", typed)
                assert response.status == 400, typed
                again = await response.text()
                assert hook_count(again, "confirm-input") == 1
                assert 'aria-invalid="true" aria-describedby="confirm-error"' in again
                assert f'value="{typed.get("confirm", "")}"' in again  # what was typed is kept
                assert "Type 8 to send the changes; nothing was sent." in hook_text(
                    again, "confirm-error"
                )
            assert sandbox.counters.snapshot().count("PUT") == 0
            _, status = await web.run(preview, confirm="8")
            assert status["state"] == "finished"

    run(body())
    assert sandbox.counters.snapshot().count("PUT") == 8


def test_a_preview_that_cannot_read_the_server_says_why(sandbox: Sandbox, tmp_path: Path) -> None:
    settings = settings_for(sandbox, tmp_path)
    sandbox.revoke_token()

    async def body() -> None:
        async with web_client(settings) as web:
            preview = await web.preview()
            page = await web.page(preview)
            text = hook_text(page, "preview-status")
            assert "could not be made" in text and "internal error" not in text
            assert hook_count(page, "review-apply") == 0
            assert (await web.post(f"{preview}/apply")).status == 409

    run(body())


def test_segsync_web_serves_the_embedded_sandbox(tmp_path: Path) -> None:
    config = tmp_path / "config.yaml"
    config.write_text(
        "api:\n  base_url: sandbox\n"
        f"sandbox:\n  db: {tmp_path / 'sandbox.sqlite3'}\n"
        f"  seed_csv: {REPO / 'samples' / 'segments.csv'}\n"
        f"journal:\n  dir: {tmp_path / 'runs'}\n"
        "rate_limit:\n  requests_per_second: 200\n",
        encoding="utf-8",
    )
    server = subprocess.Popen(
        segsync_command("web", "--port", "0"),
        cwd=tmp_path,
        env=cli_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert server.stdout is not None
        line = server.stdout.readline()
        found = re.search(r"open (http://127\.0\.0\.1:\d+/)(\?token=\S+)", line)
        assert found, (line, server.poll())
        url = found.group(1).rstrip("/")
        with httpx.Client(base_url=url, trust_env=False, timeout=30) as client:
            assert client.get("/").status_code == 403  # nothing without the printed address
            assert client.get("/" + found.group(2)).status_code == 303  # its token: a session
            home = client.get("/")
            assert home.status_code == 200 and 'data-testid="upload"' in home.text
            upload = client.post(
                "/upload",
                data={"csrf_token": csrf_of(home.text)},
                files={"edits": (SAMPLE_SHEET.name, SAMPLE_SHEET.read_bytes())},
            )
            assert upload.status_code == 303, upload.text[:500]
            preview = upload.headers["location"]
            deadline = time.monotonic() + DEADLINE_S
            while client.get(f"{preview}/status").json()["state"] == "running":
                assert time.monotonic() < deadline, "the preview did not finish"
                time.sleep(0.05)  # the poll's interval, not a synchronisation
            page = client.get(preview).text
            assert 'data-testid="preview-summary"' in page
            assert "the embedded sandbox" in page
    finally:
        server.send_signal(signal.SIGINT)
        out, err = server.communicate(timeout=60)
    assert server.returncode == 0, err
    assert "stopping" in out
