"""The CLI as a nightly job sees it: fatal errors in the log format asked for, a closed stdout,
option errors that name the flag, no duplicated lines, the same connection options everywhere.

Most cases run in-process with click's ``CliRunner`` (the handlers the CLI installs write to the
runner's stderr, captured when the command sets up logging); a closed pipe needs a real process.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner, Result

from segsync.cli import cli
from segsync.engine import pipeline
from tests.helpers import cli_env, segsync_command, settings_for, write_xlsx


@pytest.fixture(autouse=True)
def _isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """No developer settings, no ./config.yaml, and the root logger put back after each test."""
    for name in list(os.environ):
        if name.startswith(("SEGSYNC_", "RAISE_")):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    for handler in list(root.handlers):
        root.removeHandler(handler)
        handler.close()
    for handler in handlers:
        root.addHandler(handler)
    root.setLevel(level)


def invoke(*args: str, env: dict[str, str] | None = None) -> Result:
    return CliRunner().invoke(cli, list(args), env=env, catch_exceptions=False)


def config(tmp_path: Path, **sections: Any) -> Path:
    path = tmp_path / "config.yaml"
    data = {"journal": {"dir": str(tmp_path / "runs")}, **sections}
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    return path


def json_lines(text: str) -> list[dict[str, Any]]:
    """Every non-blank line must be a JSON object."""
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def assert_one_fatal(text: str, code: int, *words: str) -> dict[str, Any]:
    records = json_lines(text)
    assert len(records) == 1, text
    record = records[0]
    assert record["level"] == "error" and record["event"] == "fatal"
    assert record["exit_code"] == code and record["time"]
    for word in words:
        assert word in record["message"]
    return record


# -- fatal errors ---------------------------------------------------------------------------------


def test_json_fatal_for_unknown_config_key_goes_to_stderr_and_log_file(tmp_path: Path) -> None:
    cfg = config(tmp_path, api={"bogus": 1})
    log_file = tmp_path / "logs" / "segsync.jsonl"
    args = ["--config", str(cfg), "--log-format", "json", "--log-file", str(log_file)]
    result = invoke("sync", "edits.xlsx", *args)
    assert result.exit_code == 2
    assert result.stdout == ""
    on_stderr = assert_one_fatal(result.stderr, 2, "api.bogus", "not a known setting")
    assert assert_one_fatal(log_file.read_text(encoding="utf-8"), 2) == on_stderr


def test_json_fatal_for_missing_token_sends_nothing(tmp_path: Path, sandbox: Any) -> None:
    cfg = config(tmp_path)
    log_file = tmp_path / "segsync.jsonl"
    result = invoke(
        "export",
        "--config",
        str(cfg),
        "--base-url",
        sandbox.base_url,
        "--token-env",
        "NO_SUCH_TOKEN_VAR",
        "--log-format",
        "json",
        "--log-file",
        str(log_file),
    )
    assert result.exit_code == 2
    assert_one_fatal(result.stderr, 2, "NO_SUCH_TOKEN_VAR")
    assert_one_fatal(log_file.read_text(encoding="utf-8"), 2, "NO_SUCH_TOKEN_VAR")
    assert sandbox.counters.snapshot().total == 0


def test_json_fatal_for_strict_sends_nothing(tmp_path: Path, sandbox: Any) -> None:
    cfg = config(tmp_path)
    sheet = write_xlsx(tmp_path / "e.xlsx", ["id", "name"], [[100001, "ok"], ["x", "bad id"]])
    result = invoke(
        "sync",
        str(sheet),
        "--strict",
        "--config",
        str(cfg),
        "--base-url",
        sandbox.base_url,
        "--log-format",
        "json",
        env={"RAISE_API_TOKEN": sandbox.token},
    )
    assert result.exit_code == 2
    assert_one_fatal(result.stderr, 2, "--strict")
    assert sandbox.counters.snapshot().total == 0


def test_text_fatal_is_one_line_and_also_in_log_file(tmp_path: Path) -> None:
    cfg = config(tmp_path, api={"bogus": 1})
    log_file = tmp_path / "segsync.log"
    result = invoke("runs", "--config", str(cfg), "--log-file", str(log_file))
    assert result.exit_code == 2
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("segsync: ")
    assert "api.bogus" in lines[0]
    logged = log_file.read_text(encoding="utf-8").splitlines()
    assert len(logged) == 1 and "ERROR" in logged[0] and "api.bogus" in logged[0]


def test_bad_yaml_in_json_mode_is_one_json_object(tmp_path: Path) -> None:
    cfg = tmp_path / "config.yaml"
    cfg.write_text("api: [unclosed\n", encoding="utf-8")
    result = invoke("validate", "e.xlsx", "--config", str(cfg), "--log-format", "json")
    assert result.exit_code == 2
    assert_one_fatal(result.stderr, 2, "not valid YAML")


# -- option errors --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("flag", "value"),
    [("--concurrency", "-1"), ("--concurrency", "257"), ("--rps", "0"), ("--burst", "0")],
)
def test_option_errors_name_the_flag_and_send_nothing(
    tmp_path: Path, sandbox: Any, flag: str, value: str
) -> None:
    sheet = write_xlsx(tmp_path / "e.xlsx", ["id", "name"], [[100001, "x"]])
    result = invoke(
        "sync",
        str(sheet),
        "--config",
        str(config(tmp_path)),
        "--base-url",
        sandbox.base_url,
        flag,
        value,
        env={"RAISE_API_TOKEN": sandbox.token},
    )
    assert result.exit_code == 2
    assert f"'{flag}'" in result.stderr
    assert "rate_limit" not in result.stderr
    assert sandbox.counters.snapshot().total == 0


# -- closed stdout --------------------------------------------------------------------------------


def test_closed_stdout_ends_runs_quietly(tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    for n in range(1, 6):
        run_id = f"2026010{n}-000000-000{n}"
        (runs / run_id).mkdir(parents=True)
        header = {"type": "header", "run_id": run_id, "command": "sync", "source": "e.xlsx"}
        (runs / run_id / "journal.jsonl").write_text(json.dumps(header) + "\n", encoding="utf-8")
    cfg = config(tmp_path)
    proc = subprocess.Popen(
        segsync_command("runs", "--config", str(cfg)),
        cwd=tmp_path,
        env=cli_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None and proc.stderr is not None
    proc.stdout.close()  # the reader is gone before the first line: every write hits EPIPE
    stderr = proc.stderr.read()
    proc.stderr.close()
    assert proc.wait(timeout=120) == 0, stderr
    assert "Traceback" not in stderr
    assert "internal error" not in stderr
    assert "BrokenPipe" not in stderr
    assert stderr.strip() == ""


# -- no duplicated lines --------------------------------------------------------------------------


def test_text_stderr_leaves_start_and_finish_to_the_summary(tmp_path: Path, sandbox: Any) -> None:
    sheet = write_xlsx(tmp_path / "e.xlsx", ["id"], [[100001]])
    log_file = tmp_path / "segsync.log"
    result = invoke(
        "sync",
        str(sheet),
        "--dry-run",
        "--config",
        str(config(tmp_path)),
        "--base-url",
        sandbox.base_url,
        "--log-file",
        str(log_file),
        env={"RAISE_API_TOKEN": sandbox.token},
    )
    assert result.exit_code == 0, result.stderr
    assert "Sync preview" in result.stdout
    assert " started: " not in result.stderr and " finished: " not in result.stderr
    logged = log_file.read_text(encoding="utf-8")
    assert " started: " in logged and " finished: " in logged


def test_json_stderr_keeps_start_and_finish_events(tmp_path: Path, sandbox: Any) -> None:
    sheet = write_xlsx(tmp_path / "e.xlsx", ["id"], [[100001]])
    result = invoke(
        "sync",
        str(sheet),
        "--dry-run",
        "--config",
        str(config(tmp_path)),
        "--base-url",
        sandbox.base_url,
        "--log-format",
        "json",
        env={"RAISE_API_TOKEN": sandbox.token},
    )
    assert result.exit_code == 0, result.stderr
    events = [record.get("event") for record in json_lines(result.stderr)]
    assert "run_started" in events and "run_finished" in events


# -- the same connection options on every command that talks to the API -------------------------


@pytest.mark.parametrize("command", ["sync", "export", "rollback"])
def test_connection_options_are_shared(command: str) -> None:
    result = invoke(command, "--help")
    assert result.exit_code == 0
    for option in ("--config", "--base-url", "--token-env"):
        assert option in result.stdout


def test_export_with_base_url_and_token_env(tmp_path: Path, sandbox: Any) -> None:
    out = tmp_path / "export.xlsx"
    result = invoke(
        "export",
        "--campaign",
        "5001",
        "--out",
        str(out),
        "--config",
        str(config(tmp_path)),
        "--base-url",
        sandbox.base_url,
        "--token-env",
        "MY_TOKEN",
        env={"MY_TOKEN": sandbox.token},
    )
    assert result.exit_code == 0, result.stderr
    assert out.is_file() and str(out) in result.stdout
    assert sandbox.counters.snapshot().count("GET") >= 1
    assert sandbox.token not in result.stdout + result.stderr


def test_rollback_uses_the_token_env_it_is_given_and_the_runs_server_by_default(
    tmp_path: Path, sandbox: Any
) -> None:
    """--token-env names the variable the token is read from (a wrong token there is refused
    by the server); without --base-url the rollback goes to the server the run wrote to."""
    sheet = write_xlsx(tmp_path / "e.xlsx", ["id", "name"], [[100001, "Renamed"]])
    done = pipeline.sync(sheet, settings_for(sandbox, tmp_path))
    args = ["rollback", done.run_id, "--config", str(config(tmp_path)), "--dry-run"]
    sandbox.counters.reset()

    refused = invoke(*args, "--token-env", "OTHER_TOKEN", env={"OTHER_TOKEN": "not-the-token"})
    assert refused.exit_code == 3, refused.stderr
    assert "refused the token (HTTP 401): check that OTHER_TOKEN holds" in refused.stdout
    assert sandbox.counters.snapshot().count(status=401) >= 1

    sandbox.counters.reset()
    preview = invoke(*args, "--token-env", "OTHER_TOKEN", env={"OTHER_TOKEN": sandbox.token})
    assert preview.exit_code == 0, preview.stderr
    snap = sandbox.counters.snapshot()
    assert snap.count("GET", 200) >= 1 and snap.count("PUT") == 0  # read, nothing written
    assert snap.count(status=401) == 0
    assert sandbox.segment(100001)["name"] == "Renamed"


def test_rollback_against_the_server_the_flags_name(tmp_path: Path, sandbox: Any) -> None:
    """End to end; needs ``pipeline.rollback(..., base_url=...)`` (TypeError → exit 4 before)."""
    before = sandbox.segment(100001)["name"]
    sheet = write_xlsx(tmp_path / "e.xlsx", ["id", "name"], [[100001, "Renamed"]])
    done = pipeline.sync(sheet, settings_for(sandbox, tmp_path))
    assert sandbox.segment(100001)["name"] == "Renamed"
    result = invoke(
        "rollback",
        done.run_id,
        "--out",
        str(tmp_path / "rollback.csv"),
        "--config",
        str(config(tmp_path)),
        "--base-url",
        sandbox.base_url,
        "--token-env",
        "MY_TOKEN",
        env={"MY_TOKEN": sandbox.token},
    )
    assert result.exit_code == 0, result.stderr
    assert sandbox.segment(100001)["name"] == before
