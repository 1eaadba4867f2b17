"""One run at a time per API, results checked before the first request, rollback to the run's
server: the paths where a run could otherwise write twice, lose its results, or aim elsewhere.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from segsync.api.session import api_target, normalise_base_url
from segsync.engine import pipeline
from segsync.engine.runlock import RunLock
from segsync.errors import OutputPathError, RunLockedError, TargetMismatchError
from tests.helpers import (
    cli_env,
    editable,
    run_cli,
    segsync_command,
    settings_for,
    write_config,
    write_csv,
)

REPO = Path(__file__).parent.parent


def rename_sheet(sandbox: Any, path: Path, count: int, tag: str) -> Path:
    rows = [[s["id"], f"{s['name']} {tag}"] for s in sandbox.segments()[:count]]
    return write_csv(path, ["id", "name"], rows)


def start(*args: str, cwd: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        segsync_command(*args),
        cwd=cwd,
        env=cli_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def wait_until(condition: Any, proc: subprocess.Popen[str], what: str, timeout: float = 30) -> None:
    """Poll an observable condition (not a fixed sleep) while the other process runs."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, what
        time.sleep(0.01)


# -- the run lock --------------------------------------------------------------------------------


def test_two_syncs_at_once_only_one_writes(sandbox: Any, tmp_path: Path) -> None:
    sheet = rename_sheet(sandbox, tmp_path / "same.csv", 20, "L")
    config = write_config(sandbox, tmp_path, rate_limit={"requests_per_second": 20})
    first = start("sync", str(sheet), "--config", str(config), cwd=tmp_path)
    wait_until(
        lambda: sandbox.counters.snapshot().count("PUT") >= 1, first, "first run never wrote"
    )
    second = run_cli("sync", str(sheet), "--config", str(config), cwd=tmp_path)
    first_out, first_err = first.communicate(timeout=60)
    assert first.returncode == 0, first_err
    assert second.returncode == 2, second.stderr
    line = second.stderr.strip()
    assert line.startswith("segsync: run ") and "is already writing to" in line
    assert f"pid {first.pid}" in line and "Nothing was sent" in line
    assert sandbox.counters.snapshot().count("PUT") == 20  # every row once, by the first run
    assert "updated" in first_out and second.stdout == ""


def test_a_dry_run_takes_no_lock(sandbox: Any, tmp_path: Path) -> None:
    settings = settings_for(sandbox, tmp_path)
    lock = RunLock(api_target(settings))
    lock.acquire("20260101-000000-holder", "sync")
    try:
        sheet = rename_sheet(sandbox, tmp_path / "e.csv", 3, "D")
        preview = pipeline.sync(sheet, settings, dry_run=True)
        assert {r.outcome.value for r in preview.rows} == {"would_update"}
        with pytest.raises(RunLockedError, match="20260101-000000-holder"):
            pipeline.sync(sheet, settings)
        assert sandbox.counters.snapshot().count("PUT") == 0
    finally:
        lock.release()
    assert {r.outcome.value for r in pipeline.sync(sheet, settings).rows} == {"updated"}


def test_a_lock_left_by_a_killed_run_does_not_block_the_next(sandbox: Any, tmp_path: Path) -> None:
    sheet = rename_sheet(sandbox, tmp_path / "k.csv", 30, "K")
    config = write_config(sandbox, tmp_path, rate_limit={"requests_per_second": 20})
    victim = start("sync", str(sheet), "--config", str(config), cwd=tmp_path)
    wait_until(lambda: sandbox.counters.snapshot().count("PUT") >= 2, victim, "never wrote")
    victim.send_signal(signal.SIGKILL)
    victim.wait(timeout=10)
    rerun = run_cli("sync", str(sheet), "--config", str(config), cwd=tmp_path)
    assert rerun.returncode == 0, rerun.stderr
    assert "took over the run lock" in rerun.stderr and f"pid {victim.pid}" in rerun.stderr
    for s in sandbox.segments()[:30]:
        assert s["name"].endswith(" K")


# -- the results path ----------------------------------------------------------------------------


@pytest.mark.parametrize("out", ["/proc/res.xlsx", "{tmp}/res.txt", "{tmp}"])
def test_an_unwritable_results_path_stops_before_any_request(
    sandbox: Any, tmp_path: Path, out: str
) -> None:
    sheet = rename_sheet(sandbox, tmp_path / "e.csv", 3, "O")
    config = write_config(sandbox, tmp_path)
    target = out.format(tmp=tmp_path)
    proc = run_cli("sync", str(sheet), "--config", str(config), "--out", target)
    assert proc.returncode == 2, proc.stderr
    if Path(target).is_dir():  # click refuses it while parsing the flag
        assert "'--out'" in proc.stderr and "is a directory" in proc.stderr
    else:
        assert proc.stderr.startswith("segsync: ") and "nothing was sent" in proc.stderr
        assert len(proc.stderr.strip().splitlines()) == 1
    assert sandbox.counters.snapshot().total == 0
    with pytest.raises(OutputPathError):
        pipeline.sync(sheet, settings_for(sandbox, tmp_path), out=target)
    assert sandbox.counters.snapshot().total == 0


def test_out_false_writes_no_results_file(sandbox: Any, tmp_path: Path) -> None:
    sheet = rename_sheet(sandbox, tmp_path / "e.csv", 2, "N")
    settings = settings_for(sandbox, tmp_path, **{"output.dir": str(tmp_path / "results")})
    result = pipeline.sync(sheet, settings, out=False)
    assert {r.outcome.value for r in result.rows} == {"updated"}
    assert result.results_path is None
    assert not (tmp_path / "results").exists() or not any((tmp_path / "results").iterdir())


# -- rollback goes to the run's server -----------------------------------------------------------


def test_rollback_from_another_folder_without_config_restores_the_runs_server(
    sandbox: Any, tmp_path: Path
) -> None:
    work, elsewhere = tmp_path / "work", tmp_path / "elsewhere"
    work.mkdir()
    elsewhere.mkdir()
    seed = {s["id"]: editable(s) for s in sandbox.segments()}
    sheet = rename_sheet(sandbox, work / "e.csv", 5, "R")
    # no config file; the rate from the environment only so the test does not take 10 s at 1/s
    env = {"SEGSYNC_TEST_TOKEN": sandbox.token, "SEGSYNC_RATE_LIMIT__REQUESTS_PER_SECOND": "200"}
    connect = ("--base-url", sandbox.base_url, "--token-env", "SEGSYNC_TEST_TOKEN")
    synced = run_cli("sync", str(sheet), *connect, cwd=work, env=env)
    assert synced.returncode == 0, synced.stderr
    journals = list((work / ".segsync" / "runs").glob("*/journal.jsonl"))
    assert len(journals) == 1

    other = make_other_url(sandbox)
    before_refusal = sandbox.counters.snapshot().total
    refused = run_cli(
        "rollback",
        str(journals[0]),
        "--base-url",
        other,
        "--token-env",
        "SEGSYNC_TEST_TOKEN",
        cwd=elsewhere,
        env=env,
    )
    assert refused.returncode == 2, refused.stderr
    # the message names both servers exactly: the run's, and the one --base-url asked for
    assert f"wrote to {normalise_base_url(sandbox.base_url)}, but --base-url" in refused.stderr
    assert f"names {normalise_base_url(other)}; a rollback only goes" in refused.stderr
    assert "Nothing was sent." in refused.stderr
    assert sandbox.counters.snapshot().total == before_refusal

    rolled = run_cli(
        "rollback", str(journals[0]), "--token-env", "SEGSYNC_TEST_TOKEN", cwd=elsewhere, env=env
    )
    assert rolled.returncode == 0, rolled.stderr
    assert {s["id"]: editable(s) for s in sandbox.segments()} == seed


def make_other_url(sandbox: Any) -> str:
    port = int(sandbox.base_url.rsplit(":", 1)[1].split("/")[0])
    return f"http://127.0.0.1:{port + 1 if port < 65535 else port - 1}"


def test_rollback_refuses_a_base_url_naming_another_server(sandbox: Any, tmp_path: Path) -> None:
    settings = settings_for(sandbox, tmp_path)
    seed = {s["id"]: editable(s) for s in sandbox.segments()}
    result = pipeline.sync(rename_sheet(sandbox, tmp_path / "e.csv", 2, "T"), settings)
    written = {s["id"]: editable(s) for s in sandbox.segments()}
    before = sandbox.counters.snapshot().total
    with pytest.raises(TargetMismatchError, match="wrote to"):
        pipeline.rollback(result.run_id, settings, base_url=make_other_url(sandbox))
    assert sandbox.counters.snapshot().total == before
    assert {s["id"]: editable(s) for s in sandbox.segments()} == written
    # the same server spelled with a trailing slash is the run's server: the rollback writes
    same = pipeline.rollback(result.run_id, settings, base_url=sandbox.base_url + "/")
    assert {r.outcome.value for r in same.rows} == {"updated"}
    assert {s["id"]: editable(s) for s in sandbox.segments()} == seed
    assert sandbox.counters.snapshot().count("PUT") == 4  # two writes, two put back


def test_environment_overrides_keep_strings(sandbox: Any, tmp_path: Path) -> None:
    sheet = tmp_path / "e.csv"
    sheet.write_text("id,description\n100004,#CLEAR\n", encoding="utf-8")
    config = write_config(sandbox, tmp_path)
    env = {"SEGSYNC_INPUT__CLEAR_MARKER": "#CLEAR", "SEGSYNC_INPUT__SHEET": "2024"}
    proc = run_cli("sync", str(sheet), "--config", str(config), env=env)
    assert proc.returncode == 0, proc.stderr
    assert sandbox.segment(100004)["description"] is None
    assert os.environ.get("SEGSYNC_INPUT__SHEET") is None
