"""Alerts after a run, through Apprise's ``json://`` to a webhook receiver on 127.0.0.1.

The receiver is a real aiohttp server; Apprise posts to it over loopback TCP. A notifier that
cannot be reached only warns: the run's exit code stays the run's.
"""

from __future__ import annotations

import contextlib
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from segsync.web.options import WebOptions
from segsync.web.server import serve_in_thread
from tests.helpers import run_cli, write_config, write_csv


@pytest.fixture(name="receiver")
def webhook_receiver(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[str, list[dict[str, Any]]]]:
    """A webhook on 127.0.0.1: its json:// URL for Apprise, and the payloads it received."""
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy", "ALL_PROXY"):
        monkeypatch.delenv(name, raising=False)
    received: list[dict[str, Any]] = []

    async def hook(request: web.Request) -> web.Response:
        received.append(await request.json())
        return web.json_response({"ok": True})

    app = web.Application()
    app.router.add_post("/hook", hook)
    with serve_in_thread(app, WebOptions(port=0)) as url:
        yield url.replace("http://", "json://") + "/hook", received


def free_port() -> int:
    with contextlib.closing(socket.socket()) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def sheet(sb: Any, path: Path, *, bad: bool = False) -> Path:
    rows: list[list[Any]] = [[s["id"], f"Alerted {s['id']}"] for s in sb.segments()[:3]]
    if bad:
        rows.append([999999, "Nobody"])  # not found: exit 1
    return write_csv(path, ["id", "name"], rows)


def test_a_run_is_announced_with_headline_counts_and_exit_code(
    sandbox: Any, tmp_path: Path, receiver: tuple[str, list[dict[str, Any]]]
) -> None:
    url, received = receiver
    cfg = write_config(sandbox, tmp_path, notify={"when": "always"})
    result = run_cli(
        "sync",
        str(sheet(sandbox, tmp_path / "e.csv")),
        "--notify",
        url,
        "--actor",
        "nightly-job",
        "--config",
        str(cfg),
    )
    assert result.returncode == 0, result.stderr
    (payload,) = received
    assert payload["title"] == "segsync sync done (exit code 0)"
    message = payload["message"]
    assert message.splitlines()[0] == "All done: 3 rows updated, nothing needs fixing."
    assert "Rows: updated 3" in message and "Exit code: 0" in message
    assert "Problems: 0" in message and "By: nightly-job" in message
    assert payload["type"] == "success"
    assert sandbox.token not in str(payload)
    assert "Alerted" not in message  # no row data beyond counts


def test_problems_are_announced_from_the_config_and_a_clean_run_is_not(
    sandbox: Any, tmp_path: Path, receiver: tuple[str, list[dict[str, Any]]]
) -> None:
    url, received = receiver
    cfg = write_config(sandbox, tmp_path, notify={"urls": [url], "when": "problems"})
    clean = run_cli("sync", str(sheet(sandbox, tmp_path / "a.csv")), "--config", str(cfg))
    assert clean.returncode == 0 and received == []
    mixed = run_cli("sync", str(sheet(sandbox, tmp_path / "b.csv", bad=True)), "--config", str(cfg))
    assert mixed.returncode == 1
    (payload,) = received
    assert payload["title"] == "segsync sync needs attention (exit code 1)"
    assert "Exit code: 1" in payload["message"] and "Problems: 1" in payload["message"]
    assert "not_found 1" in payload["message"]


def test_a_refused_run_is_announced_as_a_failure(
    sandbox: Any, tmp_path: Path, receiver: tuple[str, list[dict[str, Any]]]
) -> None:
    url, received = receiver
    cfg = write_config(sandbox, tmp_path, notify={"urls": [url], "when": "failure"})
    refused = run_cli(
        "sync", str(sheet(sandbox, tmp_path / "e.csv")), "--max-changes", "1", "--config", str(cfg)
    )
    assert refused.returncode == 2
    (payload,) = received
    assert payload["title"] == "segsync sync refused (exit code 2)"
    assert payload["message"].startswith("Nothing was sent: ")
    assert payload["type"] == "failure"


def test_a_failing_notifier_only_warns(sandbox: Any, tmp_path: Path) -> None:
    cfg = write_config(sandbox, tmp_path, notify={"when": "always"})
    dead = f"json://127.0.0.1:{free_port()}/hook"
    result = run_cli(
        "sync",
        str(sheet(sandbox, tmp_path / "e.csv")),
        "--notify",
        dead,
        "--notify",
        "nosuchservice://x",
        "--config",
        str(cfg),
    )
    assert result.returncode == 0, result.stderr
    assert "the notification to json://… could not be delivered" in result.stderr
    assert "the notification URL nosuchservice://… is not one Apprise knows" in result.stderr
    assert sandbox.segment(sandbox.segments()[0]["id"])["name"].startswith("Alerted")


def test_notify_urls_are_not_written_into_results_or_journal(sandbox: Any, tmp_path: Path) -> None:
    secret_url = "slack://T0000/B0000/XXXXSECRETXXXX"
    cfg = write_config(sandbox, tmp_path, notify={"urls": [secret_url], "when": "failure"})
    result = run_cli(
        "sync", str(sheet(sandbox, tmp_path / "e.csv")), "--config", str(cfg), "--json"
    )
    assert result.returncode == 0
    journal = next((tmp_path / "runs").glob("*/journal.jsonl")).read_text()
    assert "XXXXSECRETXXXX" not in journal and "slack://…" in journal


def test_a_refused_input_is_pointed_at_never_quoted(
    sandbox: Any, tmp_path: Path, receiver: tuple[str, list[dict[str, Any]]]
) -> None:
    url, received = receiver
    cfg = write_config(sandbox, tmp_path, notify={"urls": [url], "when": "failure"})
    first = sandbox.segments()[0]["id"]
    bad = write_csv(tmp_path / "bad.csv", ["id", "campaignId"], [[first, "ROWSECRET-7"]])
    refused = run_cli("sync", str(bad), "--strict", "--config", str(cfg))
    assert refused.returncode == 2 and "ROWSECRET-7" in refused.stderr
    (payload,) = received
    assert payload["title"] == "segsync sync refused (exit code 2)"
    assert "the input file was refused" in payload["message"]
    assert "ROWSECRET" not in str(payload)
