"""An installed segsync in an empty folder: the sandbox default, its shipped seed, ``init``,
the no-token sentence, a run that crashes before it starts, and a light ``--help``.

CI's packaging job (``.ci/packaging``) does the same from a built wheel in fresh venvs; these
tests keep each promise checked on every test run.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
import yaml
from python_calamine import CalamineWorkbook

from segsync.api import session
from segsync.config import SANDBOX, Settings, load_settings
from segsync.sandbox import DEMO_TOKEN
from segsync.sandbox.seeding import PACKAGED_SEED, read_csv
from tests.helpers import cli_env, run_cli, segsync_command

REPO = Path(__file__).resolve().parent.parent
PACKAGED_SHEET = PACKAGED_SEED.parent / "segment_edits.xlsx"  # type: ignore[attr-defined]


def test_the_shipped_seed_and_sheet_are_the_samples() -> None:
    assert PACKAGED_SEED.read_bytes() == (REPO / "samples" / "segments.csv").read_bytes()
    assert PACKAGED_SHEET.read_bytes() == (REPO / "samples" / "segment_edits.xlsx").read_bytes()


def test_no_config_means_the_embedded_sandbox_from_the_shipped_seed(tmp_path: Path) -> None:
    settings = Settings()  # the built-in defaults: what a folder without config.yaml gets
    assert settings.api.base_url == SANDBOX and settings.sandbox.seed_csv is None
    assert run_cli("init", cwd=tmp_path).returncode == 0
    (tmp_path / "config.yaml").unlink()  # no config file at all from here on

    sync = run_cli("sync", "segment_edits.xlsx", "--rps", "100", cwd=tmp_path)
    assert sync.returncode == 1, sync.stderr  # the sample's deliberate mistakes
    assert "updated                    8" in sync.stdout
    assert "server: the embedded sandbox (demo data on this computer, not Raise)" in sync.stdout
    assert "--base-url https://prod-api.raisedonors.com" in sync.stdout
    assert (tmp_path / ".segsync" / "sandbox.sqlite3").is_file()

    export = run_cli("export", "--out", "segments.csv", "--json", cwd=tmp_path)
    assert export.returncode == 2  # export has no --json: a usage error, not a crash
    export = run_cli("export", "--out", "segments.csv", cwd=tmp_path)
    assert export.returncode == 0, export.stderr
    assert "embedded sandbox" in export.stdout
    exported = (tmp_path / "segments.csv").read_text(encoding="utf-8").splitlines()
    assert len(exported) == 1 + 200  # the shipped seed's 200 segments, as `segsync sandbox`'s


def test_init_writes_a_config_for_the_sandbox_with_raise_ready_and_never_overwrites(
    tmp_path: Path,
) -> None:
    first = run_cli("init", cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    config = tmp_path / "config.yaml"
    text = config.read_text(encoding="utf-8")
    settings = load_settings(config, environ={})
    assert settings.api.base_url == SANDBOX
    assert settings.rate_limit.requests_per_second == 1  # what Raise asks for
    assert "# base_url: https://prod-api.raisedonors.com" in text
    raw = yaml.safe_load(text.replace("# base_url: https", "base_url_raise: https"))
    assert raw["api"]["base_url_raise"] == "https://prod-api.raisedonors.com"
    sheet = CalamineWorkbook.from_path(str(tmp_path / "segment_edits.xlsx"))
    assert sheet.sheet_names == ["Edits"]

    config.write_text("# mine\n", encoding="utf-8")
    again = run_cli("init", cwd=tmp_path)
    assert again.returncode == 2
    assert "already exist" in again.stderr and "nothing was written" in again.stderr
    assert config.read_text(encoding="utf-8") == "# mine\n"


def test_the_no_token_error_names_the_server_it_would_have_used(tmp_path: Path) -> None:
    assert run_cli("init", cwd=tmp_path).returncode == 0
    url = "https://prod-api.raisedonors.com"
    result = run_cli("sync", "segment_edits.xlsx", "--base-url", url, cwd=tmp_path)
    assert result.returncode == 2
    assert f"No API token for {url}" in result.stderr and "RAISE_API_TOKEN" in result.stderr
    assert not list(tmp_path.glob("*_results_*")) and not (tmp_path / ".segsync").exists()


def test_a_run_that_crashes_before_its_first_request_says_so_everywhere(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A bug before the first request: no "Done", a stopped run in ``runs``, JSON with exit 4."""

    def broken(*args: object) -> tuple[str, str]:
        raise RuntimeError("the server could not be started")

    monkeypatch.setattr(session, "_start_embedded_sandbox", broken)
    assert run_cli("init", cwd=tmp_path).returncode == 0
    result = run_cli("sync", "segment_edits.xlsx", "--json", cwd=tmp_path)
    assert result.returncode == 4
    data = json.loads(result.stdout)
    assert data["exit_code"] == 4 and data["command"] == "sync"
    assert "RuntimeError: the server could not be started" in data["error"]

    [results] = tmp_path.glob("segment_edits_results_*.xlsx")
    summary = CalamineWorkbook.from_path(str(results)).get_sheet_by_name("Summary").to_python()
    cells = [str(cell) for row in summary for cell in row if cell != ""]
    assert not any(cell.startswith("Done") for cell in cells), cells
    assert "Stopped early" in cells
    assert any("the server could not be started" in cell for cell in cells)
    assert "the embedded sandbox (demo data on this computer, not Raise)" in cells
    assert not any("every row already matches" in cell for cell in cells)

    runs = run_cli("runs", cwd=tmp_path)
    assert runs.returncode == 0
    [line] = runs.stdout.splitlines()
    assert "invalid 3, not_attempted 12" in line  # the sample's 3 invalid rows need no server
    assert "stopped early: internal error (RuntimeError: the server could not be started)" in line


def test_a_sandbox_that_cannot_start_is_a_sentence_and_a_stopped_run(tmp_path: Path) -> None:
    assert run_cli("init", cwd=tmp_path).returncode == 0
    bad = tmp_path / "seed.csv"
    bad.write_text("id,name\n1,x\n", encoding="utf-8")
    env = {"SEGSYNC_SANDBOX__SEED_CSV": str(bad), "SEGSYNC_SANDBOX__DB": str(tmp_path / "s.db")}
    result = run_cli("sync", "segment_edits.xlsx", "--json", cwd=tmp_path, env=env)
    assert result.returncode == 2, result.stderr
    assert json.loads(result.stdout)["exit_code"] == 2
    assert result.stderr.startswith("segsync: The embedded sandbox could not start")
    assert "Traceback" not in result.stderr
    assert (
        "stopped early: The embedded sandbox could not start"
        in run_cli("runs", cwd=tmp_path).stdout
    )


def test_help_and_version_do_not_import_the_pipeline() -> None:
    heavy = (
        "segsync.engine",
        "segsync.plan",
        "segsync.config",
        "pydantic",
        "httpx",
        "aiohttp",
        "jinja2",
    )
    for flag in ("--help", "--version"):
        code = (
            "import sys\nfrom segsync.cli import cli\n"
            f"try:\n    cli([{flag!r}], prog_name='segsync')\nexcept SystemExit:\n    pass\n"
            f"print(sorted(m for m in sys.modules if m.startswith({heavy!r})))"
        )
        proc = subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, cwd=REPO
        )
        assert proc.returncode == 0, proc.stderr
        assert proc.stdout.strip().splitlines()[-1] == "[]", proc.stdout


def test_segsync_sandbox_serves_the_seed_the_embedded_one_uses(tmp_path: Path) -> None:
    command = segsync_command("sandbox", "--port", "0", "--no-access-log")
    process = subprocess.Popen(
        command,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=cli_env(),
        cwd=tmp_path,
    )
    try:
        assert process.stdout is not None
        url = re.search(r"http://127\.0\.0\.1:\d+", process.stdout.readline())
        assert url, "segsync sandbox printed no URL"
        headers = {"Authorization": f"Bearer {DEMO_TOKEN}"}
        with httpx.Client(base_url=url.group(0), headers=headers, trust_env=False) as client:
            page = client.get("/api/Segment/list", params={"Take": 100}, timeout=10).json()
    finally:
        process.terminate()
        assert process.wait(timeout=10) == 0
    seed = {row.id: row.name for row in read_csv(PACKAGED_SEED)}
    assert page["total"] == len(seed) == 200
    assert {item["id"]: item["name"] for item in page["items"]}.items() <= seed.items()
