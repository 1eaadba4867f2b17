"""The ``segsync`` commands: parse flags, call the library (``segsync.pipeline``), print.

Nothing else lives here. Exit codes (DESIGN.md): 0 all rows fine or nothing to do; 1 some rows
invalid, failed or conflicted; 2 invalid input or config, nothing sent; 3 run aborted (auth
refused, circuit open, interrupted); 4 an internal error (a bug: please report it).
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from segsync import pipeline
from segsync.config import Settings, load_settings
from segsync.errors import ConfigError, InputError, JournalError, SegsyncError
from segsync.outcomes import ExitCode, RunResult
from segsync.secrets import RedactingFilter, redact

INTERNAL_ERROR = 4
log = logging.getLogger("segsync")


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


def _setup_logging(settings: Settings) -> None:
    cfg = settings.logging
    root = logging.getLogger()
    for handler in list(root.handlers):
        root.removeHandler(handler)
    formatter: logging.Formatter = (
        JsonFormatter()
        if cfg.format == "json"
        else TextFormatter("%(asctime)s %(levelname)s %(message)s", "%H:%M:%S")
    )
    handlers: list[logging.Handler] = [logging.StreamHandler(sys.stderr)]
    if cfg.file:
        Path(cfg.file).parent.mkdir(parents=True, exist_ok=True)
        handlers.append(logging.FileHandler(cfg.file, encoding="utf-8"))
    for handler in handlers:
        handler.setFormatter(formatter)
        handler.addFilter(RedactingFilter())
        root.addHandler(handler)
    root.setLevel(cfg.level.upper())
    for noisy in ("httpx", "httpcore", "aiohttp.access", "asyncio"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def _fail(message: str, code: int) -> None:
    click.echo(f"segsync: {redact(message)}", err=True)
    sys.exit(code)


def _guarded(fn: Callable[[], int]) -> None:
    """Run a command; turn segsync's exceptions into one sentence and an exit code."""
    try:
        code = fn()
    except (ConfigError, InputError, JournalError) as exc:
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
    else:
        sys.exit(code)


def _settings(config: str | None, overrides: dict[str, Any]) -> Settings:
    settings = load_settings(config, overrides=overrides)
    _setup_logging(settings)
    return settings


config_option = click.option(
    "--config",
    "config",
    type=click.Path(dir_okay=False),
    help="Config file (default ./config.yaml).",
)
log_options = [
    click.option("--log-format", type=click.Choice(["text", "json"]), help="Log line format."),
    click.option("--log-file", type=click.Path(dir_okay=False), help="Also write logs here."),
    click.option(
        "--log-level", type=click.Choice(["debug", "info", "warning", "error"]), help="Log level."
    ),
]


def with_logging(fn: Callable[..., Any]) -> Callable[..., Any]:
    for option in reversed(log_options):
        fn = option(fn)
    return fn


def _log_overrides(log_format: str | None, log_file: str | None, log_level: str | None) -> dict:
    return {"logging.format": log_format, "logging.file": log_file, "logging.level": log_level}


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
@config_option
@click.option("--base-url", help="API base URL, or 'sandbox' for the embedded local server.")
@click.option("--token-env", help="Environment variable that holds the API token.")
@click.option("--rps", type=float, help="Requests per second (all requests).")
@click.option("--burst", type=int, help="Requests allowed ahead of the steady rate.")
@click.option("--concurrency", type=int, help="Requests in flight at most.")
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
                **_log_overrides(opts["log_format"], opts["log_file"], opts["log_level"]),
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

    _guarded(run)


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
            click.echo(f"warning: {warning}", err=True)
        bad = editset.invalid_rows
        for row in bad:
            for error in row.errors:
                click.echo(str(error))
        valid = len(editset.rows) - len(bad)
        click.echo(
            f"{editset.source} [{editset.sheet}]: {len(editset.rows)} rows, "
            f"{valid} valid, {len(bad)} invalid."
        )
        return ExitCode.ROW_PROBLEMS if bad else ExitCode.OK

    _guarded(run)


@cli.command()
@click.option("--campaign", "campaigns", type=int, multiple=True, help="Only this campaign id.")
@click.option("--out", type=click.Path(dir_okay=False), help="Workbook to write.")
@config_option
@click.option("--base-url", help="API base URL, or 'sandbox'.")
@with_logging
def export(
    campaigns: tuple[int, ...], out: str | None, config: str | None, base_url: str | None, **lo: Any
) -> None:
    """Write the current segments to a workbook you can edit and feed back to sync."""

    def run() -> int:
        settings = _settings(config, {"api.base_url": base_url, **_log_overrides(**lo)})
        path = pipeline.export(settings, campaign_ids=list(campaigns) or None, out=out)
        click.echo(f"Exported segments to {path}")
        return ExitCode.OK

    _guarded(run)


@cli.command()
@click.argument("run_id", metavar="RUN")
@click.option("--dry-run", is_flag=True, help="Show what would be put back; send nothing.")
@click.option("--force", is_flag=True, help="Also restore segments changed since that run.")
@click.option("--out", type=click.Path(dir_okay=False), help="Results file (.xlsx or .csv).")
@config_option
@with_logging
def rollback(
    run_id: str, dry_run: bool, force: bool, out: str | None, config: str | None, **lo: Any
) -> None:
    """Put back the before-values of every segment a past RUN changed."""

    def run() -> int:
        settings = _settings(config, _log_overrides(**lo))
        result = pipeline.rollback(
            run_id, settings, dry_run=dry_run, force=force, out=out, handle_signals=True
        )
        _print_summary(result)
        return result.exit_code

    _guarded(run)


@cli.command()
@config_option
def runs(config: str | None) -> None:
    """List past runs (newest first) with their outcome counts."""

    def run() -> int:
        settings = load_settings(config)
        records = pipeline.runs(settings)
        if not records:
            click.echo(f"No runs in {settings.journal.dir}.")
        for record in records:
            header = record.header
            counts = record.counts()
            state = "" if record.finished else "  (did not finish)"
            tally = ", ".join(f"{k} {v}" for k, v in counts.items()) or "no rows"
            click.echo(
                f"{record.run_id}  {header.get('command', 'sync'):8}  {header.get('source')}  "
                f"{tally}{state}"
            )
        return ExitCode.OK

    _guarded(run)


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
    click.echo(redact("\n".join(lines)))


def _register_sandbox() -> None:
    from segsync.sandbox.command import sandbox

    cli.add_command(sandbox)


_register_sandbox()


def main() -> None:
    cli(prog_name="segsync")
