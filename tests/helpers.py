"""Shared helpers for the end-to-end tests: sheets, settings pointed at a sandbox, results."""

from __future__ import annotations

import csv
import logging
import os
import subprocess
import sys
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import xlsxwriter
import yaml
from python_calamine import CalamineWorkbook

from segsync.api.client import RaiseClient
from segsync.api.limiter import RateLimiter
from segsync.config import Settings
from segsync.engine.runcontrol import RunControl
from segsync.model import EDITABLE_FIELDS
from segsync.sandbox.seeding import CSV_COLUMNS

Cell = str | int | float | None
REPO = Path(__file__).resolve().parent.parent


def cli_env(env: dict[str, str] | None = None) -> dict[str, str]:
    """This environment without segsync/Raise settings (a developer's must not leak in)."""
    full = {k: v for k, v in os.environ.items() if not k.startswith(("SEGSYNC_", "RAISE_"))}
    full.update(env or {}, PYTHONPATH=str(REPO))
    return full


def segsync_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "segsync", *args]


@dataclass(frozen=True)
class CliRun:
    """What a command did: like ``subprocess.CompletedProcess`` (exit code, stdout, stderr)."""

    returncode: int
    stdout: str
    stderr: str


def run_cli(*args: str, cwd: Path | None = None, env: dict[str, str] | None = None) -> CliRun:
    """Run the real command in this process (click's ``CliRunner``) and wait for it.

    In-process is several times faster than a new interpreter per call. The environment is
    this one without segsync/Raise settings plus ``env``; the working folder and the root log
    handlers the command installs are put back afterwards. Use ``run_cli_process`` where a
    separate process matters (entry points, signals, kills, closed pipes).
    """
    from click.testing import CliRunner

    from segsync.cli import cli

    clean: dict[str, str | None] = {
        k: None for k in os.environ if k.startswith(("SEGSYNC_", "RAISE_"))
    }
    clean.update(env or {})
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    folder = os.getcwd()
    try:
        if cwd is not None:
            os.chdir(cwd)
        result = CliRunner().invoke(
            cli, list(args), env=clean, catch_exceptions=False, prog_name="segsync"
        )
    finally:
        os.chdir(folder)
        for handler in list(root.handlers):
            if handler not in handlers:
                root.removeHandler(handler)
                handler.close()
        for handler in handlers:
            if handler not in root.handlers:
                root.addHandler(handler)
        root.setLevel(level)
    return CliRun(result.exit_code, result.stdout, result.stderr)


def run_cli_process(
    *args: str, cwd: Path | None = None, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """Run the real command in a new process and wait for it."""
    return subprocess.run(
        segsync_command(*args),
        cwd=cwd,
        env=cli_env(env),
        capture_output=True,
        text=True,
        timeout=120,
    )


def start_cli(*args: str, cwd: Path) -> subprocess.Popen[str]:
    """Start the real command in a subprocess (to signal or kill it mid-run)."""
    return subprocess.Popen(
        segsync_command(*args),
        cwd=cwd,
        env=cli_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def write_xlsx(
    path: Path, header: list[str], rows: list[list[Cell]], *, sheet: str = "Edits"
) -> Path:
    """A workbook as Excel would store it: numbers as numbers, text as text, None as blank."""
    book = xlsxwriter.Workbook(str(path), {"strings_to_numbers": False})
    ws = book.add_worksheet(sheet)
    ws.write_row(0, 0, header)
    for r, row in enumerate(rows, start=1):
        for c, value in enumerate(row):
            if value is None or value == "":
                continue
            if isinstance(value, int | float):
                ws.write_number(r, c, value)
            else:
                ws.write_string(r, c, value)
    book.close()
    return path


def write_csv(path: Path, header: list[str], rows: list[list[Cell]]) -> Path:
    with open(path, "w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows([["" if v is None else v for v in row] for row in rows])
    return path


def settings_for(sandbox: Any, tmp_path: Path, **overrides: Any) -> Settings:
    """Settings that talk to ``sandbox`` with its token from a token file, everything in tmp."""
    token_file = tmp_path / "token"
    token_file.write_text(sandbox.token, encoding="utf-8")
    base = {
        "api.base_url": sandbox.base_url,
        "api.token_file": str(token_file),
        "api.timeout_s": 5,
        "rate_limit.requests_per_second": 500,
        "rate_limit.burst": 1,
        "rate_limit.max_concurrency": 4,
        "retries.backoff_base_s": 0.05,
        "retries.backoff_max_s": 0.5,
        "journal.dir": str(tmp_path / "runs"),
        "output.dir": str(tmp_path),
        # never this computer's own users file (it would put named people in force)
        "web.users_file": str(tmp_path / "users.json"),
    }
    base.update(overrides)
    return Settings().with_overrides(base)


def editable(segment: dict[str, Any] | None) -> dict[str, Any]:
    assert segment is not None
    return {f: segment[f] for f in EDITABLE_FIELDS}


def read_results(path: str | Path) -> list[dict[str, Any]]:
    """The Results sheet (or CSV) as a list of dicts keyed by header."""
    path = Path(path)
    if path.suffix == ".csv":
        with open(path, encoding="utf-8-sig", newline="") as handle:
            return list(csv.DictReader(handle))
    rows = CalamineWorkbook.from_path(str(path)).get_sheet_by_name("Results").to_python()
    header = [str(h) for h in rows[0]]
    return [dict(zip(header, row, strict=False)) for row in rows[1:]]


def read_summary(path: str | Path) -> list[list[Any]]:
    return CalamineWorkbook.from_path(str(path)).get_sheet_by_name("Summary").to_python()


def raise_client(
    base_url: str,
    token: str,
    *,
    settings: Settings | None = None,
    transport: Any = None,
    limiter: RateLimiter | None = None,
) -> RaiseClient:
    """A client built as a run builds it, for tests that drive the client directly."""
    settings = settings or Settings()
    return RaiseClient(
        settings.api,
        settings.retries,
        base_url,
        token,
        limiter or RateLimiter(1000),
        RunControl(),
        concurrency=settings.rate_limit.max_concurrency,
        transport=transport,
    )


def write_config(sb: Any, folder: Path, **sections: dict[str, Any]) -> Path:
    """``folder/config.yaml`` for the sandbox ``sb`` (its token in a file), runs and results in
    ``folder``; ``sections`` are laid over the defaults (``rate_limit={"burst": 2}``)."""
    token = folder / "token"
    token.write_text(sb.token or "", encoding="utf-8")
    config: dict[str, dict[str, Any]] = {
        "api": {"base_url": sb.base_url, "token_file": str(token), "timeout_s": 5},
        "rate_limit": {"requests_per_second": 200, "burst": 1, "max_concurrency": 2},
        "retries": {"backoff_base_s": 0.05, "backoff_max_s": 0.5},
        "journal": {"dir": str(folder / "runs")},
        "output": {"dir": str(folder)},
        "logging": {"progress_interval_s": 1},
    }
    for section, values in sections.items():
        config.setdefault(section, {}).update(values)
    path = folder / "config.yaml"
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    return path


def wait_for_puts(sb: Any, proc: subprocess.Popen[str], at_least: int, timeout: float = 30) -> None:
    """Block until the sandbox has seen ``at_least`` PUTs (a condition, not a fixed sleep)."""
    deadline = time.monotonic() + timeout
    while sb.counters.snapshot().count("PUT") < at_least:
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, "the sync never got going"
        time.sleep(0.01)


def write_seed(path: Path, rows: Iterable[Sequence[Any]]) -> Path:
    """A sandbox seed CSV: ``CSV_COLUMNS`` (id, campaignId, campaignName, name, code,
    description, externalIdentifier), then ``rows``."""
    with open(path, "w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(CSV_COLUMNS)
        writer.writerows(rows)
    return path
