"""Secrets never leak; spreadsheets never run formulas; the token never travels in clear text."""

from __future__ import annotations

import zipfile
from pathlib import Path
from typing import Any

import openpyxl
import pytest
import yaml
from click.testing import CliRunner

from segsync.cli import cli
from segsync.config import Settings, load_settings
from segsync.engine import pipeline
from segsync.errors import ConfigError, SecretError
from segsync.sandbox import FaultOptions, SandboxOptions, run_sandbox
from tests.helpers import read_results, run_cli, settings_for, write_xlsx

REPO = Path(__file__).parent.parent
SEED = REPO / "samples" / "segments.csv"
TOKEN = "tok-Sup3rS3cret-9f8e7d6c5b4a"
FORMULA = '=HYPERLINK("http://x","y")'


def _artefact_text(path: Path) -> str:
    """A file's text; for an xlsx, the text of every member of the zip."""
    if path.suffix == ".xlsx":
        with zipfile.ZipFile(path) as book:
            return "".join(book.read(name).decode("utf-8", "replace") for name in book.namelist())
    return path.read_text(encoding="utf-8", errors="replace")


def test_token_appears_in_no_artefact(tmp_path: Path) -> None:
    with run_sandbox(SandboxOptions(seed_csv=SEED, token=TOKEN)) as sb:
        config = tmp_path / "config.yaml"
        config.write_text(
            yaml.safe_dump(
                {
                    "api": {"base_url": sb.base_url, "token_env": "RAISE_API_TOKEN"},
                    "rate_limit": {"requests_per_second": 200},
                    "retries": {"max_attempts": 1},
                    "journal": {"dir": str(tmp_path / "runs")},
                    "output": {"dir": str(tmp_path / "out")},
                    "logging": {"file": str(tmp_path / "segsync.log"), "level": "debug"},
                }
            )
        )
        rows = [[s["id"], f"{s['name']} S", TOKEN[:6]] for s in sb.segments()[:40]]
        sheet = write_xlsx(tmp_path / "edits.xlsx", ["id", "name", "description"], rows)
        env = {"RAISE_API_TOKEN": TOKEN}
        sync = ["sync", str(sheet), "--config", str(config)]
        outputs = []
        # a preview, a run with failures, a run aborted by a revoked token, a wrong token
        outputs.append(run_cli(*sync, "--dry-run", cwd=tmp_path, env=env))
        sb.set_faults(FaultOptions(p_503=0.3, methods=("PUT",)))
        outputs.append(run_cli(*sync, cwd=tmp_path, env=env))
        sb.set_faults(FaultOptions())
        sb.revoke_token()
        outputs.append(run_cli(*sync, cwd=tmp_path, env=env))
        wrong = {"RAISE_API_TOKEN": TOKEN + "-old"}
        outputs.append(run_cli(*sync, cwd=tmp_path, env=wrong))
    assert [p.returncode for p in outputs] == [0, 1, 3, 3]
    assert "failed" in outputs[1].stdout
    artefacts = [p for p in tmp_path.rglob("*") if p.is_file() and p.name != "config.yaml"]
    kinds = {p.suffix for p in artefacts}
    assert {".xlsx", ".jsonl", ".log"} <= kinds
    assert any("preview" in p.name for p in artefacts)
    for proc in outputs:
        assert TOKEN not in proc.stdout + proc.stderr
        assert "Traceback" not in proc.stderr
    for path in artefacts:
        assert TOKEN not in _artefact_text(path), path


def test_formula_text_round_trips_as_inert_text(tmp_path: Path) -> None:
    with run_sandbox(SandboxOptions(seed_csv=SEED)) as sb:
        sheet = write_xlsx(tmp_path / "f.xlsx", ["id", "name", "code"], [[100001, FORMULA, "-1"]])
        settings = settings_for(sb, tmp_path)
        result = pipeline.sync(sheet, settings, out=tmp_path / "r.xlsx")
        assert [r.outcome.value for r in result.rows] == ["updated"]
        assert sb.segment(100001)["name"] == FORMULA
        csv_result = pipeline.sync(sheet, settings, out=tmp_path / "r.csv", dry_run=True)
        assert csv_result.rows[0].outcome.value == "unchanged"

    book = openpyxl.load_workbook(tmp_path / "r.xlsx")
    ws = book["Results"]
    header = [c.value for c in ws[1]]
    name_cell = ws.cell(row=2, column=header.index("current name") + 1)
    code_cell = ws.cell(row=2, column=header.index("current code") + 1)
    assert name_cell.data_type == "s" and name_cell.value == FORMULA
    assert code_cell.data_type == "s" and code_cell.value == "-1"
    assert not any(c.data_type == "f" for row in ws.iter_rows() for c in row)

    table = read_results(tmp_path / "r.csv")
    assert table[0]["current name"] == "'" + FORMULA


def test_plain_http_to_a_remote_host_fails_before_any_request(tmp_path: Path) -> None:
    sheet = write_xlsx(tmp_path / "e.xlsx", ["id", "name"], [[100001, "x"]])
    env = {"RAISE_API_TOKEN": TOKEN}
    empty = tmp_path / "empty.yaml"
    empty.write_text("")
    runner = CliRunner()
    result = runner.invoke(
        cli,
        ["sync", str(sheet), "--base-url", "http://segments.example.org", "--config", str(empty)],
        env=env,
    )
    assert result.exit_code == 2
    assert "plain http://" in result.output and "unencrypted" in result.output
    assert TOKEN not in result.output
    assert not list(tmp_path.glob("*results*"))


@pytest.mark.parametrize("url", ["http://127.0.0.1:9", "http://localhost:9", "http://[::1]:9"])
def test_plain_http_is_allowed_to_loopback(url: str) -> None:
    from segsync.secrets import check_base_url

    check_base_url(url)  # no exception


def test_literal_token_in_config_is_refused(tmp_path: Path) -> None:
    config = tmp_path / "c.yaml"
    config.write_text("api:\n  base_url: https://prod-api.raisedonors.com\n  token: abc123xyz\n")
    with pytest.raises(SecretError, match="environment variable"):
        load_settings(config)
    jwt = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0In0.c2lnbmF0dXJl"
    config.write_text(f"api:\n  token_env: {jwt}\n")
    with pytest.raises(SecretError, match="looks like a token"):
        load_settings(config)
    runner = CliRunner()
    result = runner.invoke(cli, ["validate", str(config), "--config", str(config)])
    assert result.exit_code == 2
    assert jwt not in result.output


def test_unknown_config_key_is_an_error(tmp_path: Path) -> None:
    config = tmp_path / "c.yaml"
    config.write_text("rate_limit:\n  request_per_second: 5\n")
    with pytest.raises(ConfigError, match=r"rate_limit\.request_per_second"):
        load_settings(config)


def test_token_from_file_and_missing_token(tmp_path: Path) -> None:
    from segsync.secrets import read_token

    secret = tmp_path / "token"
    secret.write_text(TOKEN + "\n")
    settings = load_settings(None, overrides={"api.token_file": str(secret)}, environ={})
    assert read_token(settings, environ={}) == TOKEN
    bare = load_settings(None, environ={}).with_overrides({"api.base_url": "https://x.test"})
    with pytest.raises(SecretError, match="RAISE_API_TOKEN"):
        read_token(bare, environ={})


def test_api_error_text_and_reprs_never_hold_the_token(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Failures during a run: the messages users see and exception reprs are clean."""
    with run_sandbox(SandboxOptions(seed_csv=SEED, token=TOKEN)) as sb:
        settings = Settings().with_overrides(
            {
                "api.base_url": sb.base_url,
                "api.token_env": "SEGSYNC_TEST_TOKEN",
                "journal.dir": str(tmp_path / "runs"),
                "output.dir": str(tmp_path),
            }
        )
        monkeypatch.setenv("SEGSYNC_TEST_TOKEN", TOKEN + "x")
        sheet = write_xlsx(tmp_path / "e.xlsx", ["id", "name"], [[100001, "x"]])
        result = pipeline.sync(sheet, settings)
    assert result.exit_code == 3
    texts: list[Any] = [result.aborted, *(r.error for r in result.rows), repr(result)]
    assert all(TOKEN not in str(t) for t in texts)


def test_reprs_of_client_objects_hide_the_token() -> None:
    import asyncio

    from segsync.api.session import Credentials
    from tests.helpers import raise_client

    async def reprs() -> list[str]:
        client = raise_client("https://x.test", TOKEN)
        http = client._exchange._http
        request = http.build_request("PUT", "/api/Segment/1", json={})
        texts = [repr(http.headers), repr(request), repr(request.headers), repr(client)]
        await client.aclose()
        return texts

    texts = [*asyncio.run(reprs()), repr(Credentials("https://x.test", TOKEN))]
    assert all(TOKEN not in text for text in texts)
    assert "[secure]" in texts[0]
