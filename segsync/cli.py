"""The ``segsync`` commands: parse flags, call the library (``segsync.pipeline``), print.

Nothing else lives here. Exit codes (DESIGN.md): 0 all rows fine or nothing to do; 1 some rows
invalid, failed or conflicted; 2 invalid input or config, nothing sent; 3 run aborted (auth
refused, circuit open, interrupted); 4 an internal error (a bug: please report it).
"""

from __future__ import annotations

import io
import json
import logging
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, NoReturn

import click

from segsync import pipeline
from segsync.config import Settings, load_settings
from segsync.errors import (
    ConfigError,
    InputError,
    JournalError,
    JournalWriteError,
    RunRefused,
    SegsyncError,
)
from segsync.outcomes import ExitCode, RunResult
from segsync.secrets import RedactingFilter, redact

INTERNAL_ERROR = 4
log = logging.getLogger("segsync")

#: run events the terminal summary already shows; not repeated as text log lines on stderr
SUMMARY_EVENTS = frozenset({"run_started", "run_finished"})
#: the event of the one record a fatal error writes (see ``_fail``)
FATAL_EVENT = "fatal"


class JsonFormatter(logging.Formatter):
    """One JSON object per line, for log shippers; extra fields given as ``extra=`` ride along."""

    _skip = set(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message"}

    def format(self, record: logging.LogRecord) -> str:
        data: dict[str, Any] = {
            "time": self.formatTime(record, "%Y-%m-%dT%H:%M:%S%z"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        data.update({k: v for k, v in vars(record).items() if k not in self._skip})
        return redact(json.dumps(data, default=str, ensure_ascii=False))


class TextFormatter(logging.Formatter):
    """Plain lines for people; the finished line is scrubbed of secrets like every other."""

    def format(self, record: logging.LogRecord) -> str:
        return redact(super().format(record))


class DropEvents(logging.Filter):
    """Drop records whose ``event`` is one of ``events`` (used on the text stderr handler)."""

    def __init__(self, events: frozenset[str]) -> None:
        super().__init__()
        self.events = events

    def filter(self, record: logging.LogRecord) -> bool:
        return getattr(record, "event", None) not in self.events


class _Output:
    """What the current command's logging and stdout look like (reset by ``_guarded``)."""

    json = False
    stdout_closed = False


def _setup_logging(fmt: str, level: str, file: str | Path | None) -> None:
    """Route log records to stderr (and ``file``) as text lines or JSON objects.

    Text on stderr leaves out what the terminal summary prints anyway (run started/finished)
    and fatal errors (``_fail`` prints those as one ``segsync: ...`` line); the log file and
    JSON output keep every record. A log file that cannot be opened is a ``ConfigError``,
    raised after the stderr handler is in place so that it is reported like any other.
    """
    root = logging.getLogger()
    for handler in list(root.handlers):
        root.removeHandler(handler)
        if isinstance(handler, logging.FileHandler):
            handler.close()
    _Output.json = fmt == "json"
    formatter: logging.Formatter = (
        JsonFormatter()
        if _Output.json
        else TextFormatter("%(asctime)s %(levelname)s %(message)s", "%H:%M:%S")
    )
    root.setLevel(level.upper())
    for noisy in ("httpx", "httpcore", "aiohttp.access", "asyncio"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    stderr = logging.StreamHandler(sys.stderr)
    if not _Output.json:
        stderr.addFilter(DropEvents(SUMMARY_EVENTS | {FATAL_EVENT}))
    _add_handler(root, stderr, formatter)
    if file:
        try:
            Path(file).parent.mkdir(parents=True, exist_ok=True)
            file_handler = logging.FileHandler(file, encoding="utf-8")
        except OSError as exc:
            raise ConfigError(f"The log file {file} cannot be opened ({exc.strerror}).") from None
        _add_handler(root, file_handler, formatter)


def _add_handler(root: logging.Logger, handler: logging.Handler, fmt: logging.Formatter) -> None:
    handler.setFormatter(fmt)
    handler.addFilter(RedactingFilter())
    root.addHandler(handler)


def _early_logging(log_format: str | None, log_file: str | None, log_level: str | None) -> None:
    """Logging before the config is read: the flags, else ``SEGSYNC_LOGGING__*`` variables.

    So a config that cannot be loaded (unknown key, bad YAML) is already reported in the
    requested format and to the requested file. The config file's own ``logging:`` section
    takes effect once it has loaded (``_settings``).
    """

    def env(key: str, allowed: tuple[str, ...] | None = None) -> str | None:
        value = os.environ.get(f"SEGSYNC_LOGGING__{key}", "").strip()
        if allowed is not None:
            value = value.lower()
            return value if value in allowed else None
        return value or None

    _setup_logging(
        log_format or env("FORMAT", ("text", "json")) or "text",
        log_level or env("LEVEL", ("debug", "info", "warning", "error")) or "info",
        log_file or env("FILE"),
    )


def _fail(message: str, code: int) -> NoReturn:
    """Report a fatal error once and exit with ``code``.

    JSON logging: one ``{"level": "error", "event": "fatal", "message", "exit_code", ...}``
    object on stderr and in the log file. Text: one ``segsync: <sentence>`` line on stderr,
    and the same sentence as a log line in the log file, if there is one.
    """
    message = redact(message)
    logging_up = bool(logging.getLogger().handlers)
    if not _Output.json or not logging_up:
        click.echo(f"segsync: {message}", err=True)
    if logging_up:
        log.error("%s", message, extra={"event": FATAL_EVENT, "exit_code": int(code)})
    sys.exit(code)


def _echo(text: str) -> None:
    """Print a line of the command's output; a closed stdout (``| head``) silences the rest.

    The reader has gone away, which is not an error of the command: the command goes on and
    exits with the code it would have had. stdout is pointed at devnull so that flushing it at
    exit does not fail again (the recipe in the Python docs, "Note on SIGPIPE").
    """
    if _Output.stdout_closed:
        return
    try:
        click.echo(text)
    except BrokenPipeError:
        _stdout_to_devnull()


def _stdout_to_devnull() -> None:
    _Output.stdout_closed = True
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError, io.UnsupportedOperation):
        pass  # not a real file descriptor (an in-process test runner): nothing to flush later


def _guarded(fn: Callable[[], int], logopts: dict[str, Any]) -> NoReturn:
    """Run a command; turn segsync's exceptions into one sentence and an exit code.

    Logging is set up from the ``--log-*`` flags first, so that every fatal error, also one
    in loading the config, is reported in the requested format and to the requested file.
    Every line to stdout goes through ``_echo``, which handles a closed stdout; a
    ``BrokenPipeError`` from anywhere else is not the reader going away and stays a bug.
    """
    _Output.stdout_closed = False
    try:
        _early_logging(logopts["log_format"], logopts["log_file"], logopts["log_level"])
        code = fn()
    except JournalWriteError as exc:  # DESIGN: a journal that cannot be written aborts (3)
        _fail(str(exc), ExitCode.ABORTED)
    except (ConfigError, InputError, JournalError, RunRefused) as exc:
        _fail(str(exc), ExitCode.INVALID_INPUT)
    except SegsyncError as exc:
        _fail(str(exc), ExitCode.ABORTED)
    except KeyboardInterrupt:
        _fail(
            "interrupted. If a run had started, 'segsync runs' lists it and its journal "
            "says what was sent.",
            ExitCode.ABORTED,
        )
    except Exception as exc:  # a bug: one sentence for the user, the traceback for debug logs
        log.debug("internal error", exc_info=True)
        _fail(
            f"internal error ({type(exc).__name__}: {exc}). Nothing more was sent; "
            "rerun with --log-level debug for details and report it.",
            INTERNAL_ERROR,
        )
    sys.exit(code)


def _settings(config: str | None, overrides: dict[str, Any]) -> Settings:
    """Load the settings, then log as they say (the flags are among their overrides)."""
    settings = load_settings(config, overrides=overrides)
    cfg = settings.logging
    _setup_logging(cfg.format, cfg.level, cfg.file)
    return settings


config_option = click.option(
    "--config",
    "config",
    type=click.Path(dir_okay=False),
    help="Config file (default ./config.yaml).",
)
connection_option_list = [
    config_option,
    click.option("--base-url", help="API base URL, or 'sandbox' for the embedded local server."),
    click.option("--token-env", help="Environment variable that holds the API token."),
]
log_options = [
    click.option("--log-format", type=click.Choice(["text", "json"]), help="Log line format."),
    click.option("--log-file", type=click.Path(dir_okay=False), help="Also write logs here."),
    click.option(
        "--log-level", type=click.Choice(["debug", "info", "warning", "error"]), help="Log level."
    ),
]


def _apply_options(options: list[Callable[[Any], Any]], fn: Callable[..., Any]) -> Any:
    for option in reversed(options):
        fn = option(fn)
    return fn


def connection_options(fn: Callable[..., Any]) -> Callable[..., Any]:
    """``--config --base-url --token-env``: the same on every command that talks to the API."""
    return _apply_options(connection_option_list, fn)


def with_logging(fn: Callable[..., Any]) -> Callable[..., Any]:
    return _apply_options(log_options, fn)


def _log_overrides(log_format: str | None, log_file: str | None, log_level: str | None) -> dict:
    return {"logging.format": log_format, "logging.file": log_file, "logging.level": log_level}


def _logopts(opts: dict[str, Any]) -> dict[str, Any]:
    return {key: opts[key] for key in ("log_format", "log_file", "log_level")}


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="segsync")
def cli() -> None:
    """Change Raise campaign segments in bulk from a spreadsheet, safely."""


@cli.command()
@click.argument("edits", type=click.Path(dir_okay=False))
@click.option("--dry-run", is_flag=True, help="Load, validate, fetch and diff; send nothing.")
@click.option("--strict", is_flag=True, help="Refuse the whole sheet if any row is invalid.")
@click.option("--force", is_flag=True, help="Write rows that conflict with a newer server state.")
@click.option("--out", type=click.Path(dir_okay=False), help="Results file (.xlsx or .csv).")
@click.option("--sheet", help="Sheet to read (default: the first non-empty one).")
@click.option(
    "--only-failed",
    metavar="RUN_OR_RESULTS",
    help="Resend only rows that were failed/not_attempted in that run (id or results file).",
)
@connection_options
@click.option(
    "--rps",
    type=click.FloatRange(min=0, min_open=True),
    help="Requests per second (all requests).",
)
@click.option(
    "--burst", type=click.IntRange(min=1), help="Requests allowed ahead of the steady rate."
)
@click.option("--concurrency", type=click.IntRange(1, 256), help="Requests in flight at most.")
@with_logging
def sync(edits: str, **opts: Any) -> None:
    """Apply the segment edits in EDITS (.xlsx, .xlsm, .xls, .ods or .csv)."""

    def run() -> int:
        settings = _settings(
            opts["config"],
            {
                "api.base_url": opts["base_url"],
                "api.token_env": opts["token_env"],
                "rate_limit.requests_per_second": opts["rps"],
                "rate_limit.burst": opts["burst"],
                "rate_limit.max_concurrency": opts["concurrency"],
                **_log_overrides(**_logopts(opts)),
            },
        )
        result = pipeline.sync(
            edits,
            settings,
            dry_run=opts["dry_run"],
            strict=opts["strict"],
            out=opts["out"],
            sheet=opts["sheet"],
            only_failed=opts["only_failed"],
            force=opts["force"] or None,
            handle_signals=True,
        )
        _print_summary(result)
        return result.exit_code

    _guarded(run, _logopts(opts))


@cli.command()
@click.argument("edits", type=click.Path(dir_okay=False))
@click.option("--sheet", help="Sheet to read (default: the first non-empty one).")
@config_option
@with_logging
def validate(edits: str, sheet: str | None, config: str | None, **logopts: Any) -> None:
    """Check EDITS offline: load and validate, send nothing."""

    def run() -> int:
        settings = _settings(config, _log_overrides(**logopts))
        editset = pipeline.validate(edits, settings, sheet=sheet)
        for warning in editset.warnings:
            if _Output.json:
                log.warning("%s", warning, extra={"event": "input_warning"})
            else:
                click.echo(f"warning: {warning}", err=True)
        bad = editset.invalid_rows
        for row in bad:
            for error in row.errors:
                _echo(str(error))
        valid = len(editset.rows) - len(bad)
        _echo(
            f"{editset.source} [{editset.sheet}]: {len(editset.rows)} rows, "
            f"{valid} valid, {len(bad)} invalid."
        )
        return ExitCode.ROW_PROBLEMS if bad else ExitCode.OK

    _guarded(run, logopts)


@cli.command()
@click.option("--campaign", "campaigns", type=int, multiple=True, help="Only this campaign id.")
@click.option("--out", type=click.Path(dir_okay=False), help="Workbook to write.")
@connection_options
@with_logging
def export(campaigns: tuple[int, ...], out: str | None, **opts: Any) -> None:
    """Write the current segments to a workbook you can edit and feed back to sync."""

    def run() -> int:
        settings = _settings(
            opts["config"],
            {
                "api.base_url": opts["base_url"],
                "api.token_env": opts["token_env"],
                **_log_overrides(**_logopts(opts)),
            },
        )
        path = pipeline.export(settings, campaign_ids=list(campaigns) or None, out=out)
        _echo(f"Exported segments to {path}")
        return ExitCode.OK

    _guarded(run, _logopts(opts))


@cli.command()
@click.argument("run_id", metavar="RUN")
@click.option("--dry-run", is_flag=True, help="Show what would be put back; send nothing.")
@click.option("--force", is_flag=True, help="Also restore segments changed since that run.")
@click.option("--out", type=click.Path(dir_okay=False), help="Results file (.xlsx or .csv).")
@connection_options
@with_logging
def rollback(run_id: str, dry_run: bool, force: bool, out: str | None, **opts: Any) -> None:
    """Put back the before-values of every segment a past RUN changed.

    It talks to the server RUN wrote to (from its journal); --base-url overrides that.
    """

    def run() -> int:
        settings = _settings(
            opts["config"],
            {"api.token_env": opts["token_env"], **_log_overrides(**_logopts(opts))},
        )
        result = pipeline.rollback(
            run_id,
            settings,
            dry_run=dry_run,
            force=force,
            out=out,
            handle_signals=True,
            base_url=opts["base_url"],
        )
        _print_summary(result)
        return result.exit_code

    _guarded(run, _logopts(opts))


@cli.command()
@config_option
@with_logging
def runs(config: str | None, **logopts: Any) -> None:
    """List past runs (newest first) with their outcome counts."""

    def run() -> int:
        settings = _settings(config, _log_overrides(**logopts))
        records = pipeline.runs(settings)
        if not records:
            _echo(f"No runs in {settings.journal.dir}.")
        for record in records:
            header = record.header
            counts = record.counts()
            state = "" if record.finished else "  (did not finish)"
            tally = ", ".join(f"{k} {v}" for k, v in counts.items()) or "no rows"
            _echo(
                f"{record.run_id}  {header.get('command', 'sync'):8}  {header.get('source')}  "
                f"{tally}{state}"
            )
        return ExitCode.OK

    _guarded(run, logopts)


def _print_summary(result: RunResult) -> None:
    title = {"rollback": "Rollback"}.get(result.command, "Sync")
    if result.dry_run:
        title += " preview (dry run: nothing was sent)"
    lines = [f"{title} of {result.source}: {len(result.rows)} rows"]
    lines += [f"  {outcome:26} {count}" for outcome, count in result.counts().items()]
    requests = ", ".join(f"{k} {v}" for k, v in sorted(result.requests.items())) or "none"
    lines.append(
        f"  requests: {requests} ({result.throttled} throttled), "
        f"{result.achieved_rate:.1f}/s, {result.duration_s:.1f}s"
    )
    if result.fetch_strategy:
        lines.append(f"  current state: {result.fetch_strategy}")
    for warning in result.warnings:
        lines.append(f"  warning: {warning}")
    if result.aborted:
        lines.append(f"  ABORTED: {result.aborted}")
    if result.journal_path:
        wrote = any(r.outcome.value.startswith("updated") for r in result.rows)
        undo = f" (undo with: segsync rollback {result.run_id})" if wrote else ""
        lines.append(f"  run id: {result.run_id}{undo}")
    lines.append(f"  results: {result.results_path}")
    _echo(redact("\n".join(lines)))


def _register_sandbox() -> None:
    from segsync.sandbox.command import sandbox

    cli.add_command(sandbox)


_register_sandbox()


def main() -> None:
    cli(prog_name="segsync")
