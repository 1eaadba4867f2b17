"""``--actor`` and ``--notify`` on the commands that write (sync, apply, rollback).

``alerting`` wraps a command's body: after it ends, however it ends (rows written, refused with
nothing sent, stopped), the run's notice goes to the configured services and the ``--notify``
URLs when ``notify.when`` wants it. Dry runs are not announced. A notice that fails is a warning
in the log; the command's exit code stays the run's.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import click

from segsync.cli.exit_codes import ExitCode
from segsync.cli.options import option_group
from segsync.errors import (
    ConfigError,
    InputError,
    JournalError,
    JournalWriteError,
    RunRefused,
    SegsyncError,
)
from segsync.team.notify import notify_run

#: where ``load`` and ``finish`` leave the settings and the result for ``alerting``
SETTINGS_KEY = "_settings"
RESULT_KEY = "_result"

team_options = option_group(
    click.option(
        "--actor",
        metavar="NAME",
        help="Who this run is for, in the journal, results and audit (default: the OS user).",
    ),
    click.option(
        "--notify",
        "notify_urls",
        metavar="URL",
        multiple=True,
        help="Also send the run's outcome to this Apprise URL (repeatable); see notify.when.",
    ),
)


def exit_code_of(exc: BaseException) -> int:
    """The exit code ``guarded`` gives for ``exc`` (kept in step with it)."""
    if isinstance(exc, JournalWriteError):
        return ExitCode.ABORTED
    if isinstance(exc, ConfigError | InputError | JournalError | RunRefused):
        return ExitCode.INVALID_INPUT
    if isinstance(exc, SegsyncError | KeyboardInterrupt):
        return ExitCode.ABORTED
    return ExitCode.INTERNAL_ERROR


def shareable_reason(exc: BaseException) -> str:
    """Why nothing was sent, in words that may leave the machine: an input file's problems
    name cells and their values (row data), so they are only pointed at, never quoted."""
    if isinstance(exc, InputError):
        return (
            "the input file was refused; the command's output and log name the cells "
            f"({type(exc).__name__})"
        )
    if isinstance(exc, SegsyncError):
        return str(exc)
    if isinstance(exc, KeyboardInterrupt):
        return "interrupted"
    return f"internal error ({type(exc).__name__})"


def alerting(command: str, body: Callable[[], int], opts: dict[str, Any]) -> Callable[[], int]:
    """``body`` followed by the run's notice (see the module docstring)."""

    def run() -> int:
        try:
            code = body()
        except BaseException as exc:
            if not opts.get("dry_run") and not isinstance(exc, SystemExit):
                notify_run(
                    opts.get(SETTINGS_KEY),
                    command,
                    exit_code_of(exc),
                    error=shareable_reason(exc),
                    extra_urls=opts.get("notify_urls") or (),
                    who=opts.get("actor"),
                )
            raise
        if not opts.get("dry_run"):
            notify_run(
                opts.get(SETTINGS_KEY),
                command,
                code,
                opts.get(RESULT_KEY),
                extra_urls=opts.get("notify_urls") or (),
            )
        return code

    return run
