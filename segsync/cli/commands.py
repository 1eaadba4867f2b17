"""The ``segsync`` commands: parse flags, call the library (``segsync.engine.pipeline``), print.

Nothing else lives here: every command is a few lines around one library call, and ``guarded``
turns segsync's exceptions into one sentence and an exit code. The sandbox and web commands are
imported only when used, so the everyday commands never load the server stack.
"""

from __future__ import annotations

import importlib
import json
import logging
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, ClassVar, NoReturn

import click

from segsync import __version__
from segsync.cli.alerts import RESULT_KEY, SETTINGS_KEY, alerting, team_options
from segsync.cli.exit_codes import ExitCode
from segsync.cli.logs import LogState, early_logging, fail, setup_logging
from segsync.cli.options import (
    config_option,
    connection_options,
    guardrail_options,
    json_option,
    log_flags,
    log_options,
    mapping_options,
    mapping_overrides,
    out_option,
    rate_options,
    report_option,
    settings_overrides,
)
from segsync.cli.output import Stdout, echo, fatal_json, print_result, server_lines
from segsync.errors import (
    ConfigError,
    InputError,
    JournalError,
    JournalWriteError,
    RunRefused,
    SegsyncError,
)
from segsync.output.plural import counted
from segsync.secrets import redact

if TYPE_CHECKING:
    from segsync.config import Settings
    from segsync.outcomes import RunResult

log = logging.getLogger("segsync")


class _Lazy:
    """A module imported on first attribute access: ``--help``, ``--version`` and shell
    completion answer without loading the pipeline (tests/test_install.py keeps it that way)."""

    def __init__(self, name: str) -> None:
        self._name = name

    def __getattr__(self, attr: str) -> Any:
        return getattr(importlib.import_module(self._name), attr)


pipeline: Any = _Lazy("segsync.engine.pipeline")


def guarded(fn: Callable[[], int], opts: dict[str, Any]) -> NoReturn:
    """Run a command; turn segsync's exceptions into one sentence and an exit code.

    Logging is set up from the ``--log-*`` flags first, so that every fatal error, also one in
    loading the config, is reported in the requested format and to the requested file. With
    ``--json`` a fatal error still prints its JSON object (``command``, ``exit_code``, ``error``).
    """
    Stdout.closed = False
    flags = log_flags(opts)

    def _fatal(message: str, code: int) -> NoReturn:
        if opts.get("as_json"):  # --json: the promised object, with the exit code, also now
            echo(redact(json.dumps(fatal_json(message, code), ensure_ascii=False)))
        fail(message, code)

    try:
        early_logging(flags["log_format"], flags["log_file"], flags["log_level"])
        code = fn()
    except JournalWriteError as exc:  # a journal that cannot be written aborts the run
        _fatal(str(exc), ExitCode.ABORTED)
    except (ConfigError, InputError, JournalError, RunRefused) as exc:
        _fatal(str(exc), ExitCode.INVALID_INPUT)
    except SegsyncError as exc:
        _fatal(str(exc), ExitCode.ABORTED)
    except KeyboardInterrupt:
        _fatal(
            "interrupted. If a run had started, 'segsync runs' lists it and its journal "
            "says what was sent.",
            ExitCode.ABORTED,
        )
    except Exception as exc:  # a bug: one sentence for the user, the traceback for debug logs
        log.debug("internal error", exc_info=True)
        _fatal(
            f"internal error ({type(exc).__name__}: {exc}). Nothing more was sent; "
            "rerun with --log-level debug for details and report it.",
            ExitCode.INTERNAL_ERROR,
        )
    sys.exit(code)


def load(opts: dict[str, Any]) -> Settings:
    """The settings for this command's flags; then log as they say."""
    from segsync.config import load_settings

    settings = load_settings(opts.get("config"), overrides=settings_overrides(opts))
    settings.files.apply()  # private files (0600/0700) unless the config widens them
    said = mapping_overrides(opts, settings.input.columns)
    if said:
        settings = settings.with_overrides(said)
    cfg = settings.logging
    setup_logging(cfg.format, cfg.level, cfg.file)
    opts[SETTINGS_KEY] = settings  # for the run's notice (segsync.cli.alerts)
    return settings


def finish(result: RunResult, opts: dict[str, Any], plan_path: str | None = None) -> int:
    code = int(result.exit_code)
    opts[RESULT_KEY] = result
    report = opts.get("report")
    print_result(
        result, code, as_json=opts.get("as_json", False), plan_path=plan_path, report_path=report
    )
    return code


def run_flags(opts: dict[str, Any]) -> dict[str, Any]:
    """The guardrail and report flags ``sync`` and ``apply`` share, as library arguments."""
    names = ("max_changes", "max_change_ratio", "canary", "report")
    return {**{name: opts[name] for name in names}, "handle_signals": True}


class LazyGroup(click.Group):
    """A group whose heavy commands (servers) are imported only when they are run.

    ``segsync --help`` lists them by the summary kept here, so that it imports neither the
    web server nor the template engine (a test checks that the summaries match).
    """

    lazy: ClassVar[dict[str, tuple[str, str]]] = {
        "init": (
            "segsync.cli.init:init",
            "Write a commented config.yaml and a sample edits sheet here; never overwrite.",
        ),
        "sandbox": (
            "segsync.sandbox.command:sandbox",
            "Run a local Raise-compatible segment API (demo, tests, benchmarks).",
        ),
        "web": (
            "segsync.web.command:web",
            "Serve the upload page: upload a sheet, preview, apply, watch it run, roll back.",
        ),
        "users": (
            "segsync.cli.team_commands:users",
            "Manage the people who may use the web page, and their roles.",
        ),
        "audit": (
            "segsync.cli.team_commands:audit",
            "Show the audit trail: who signed in, previewed, approved, applied, rolled back.",
        ),
    }

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted([*super().list_commands(ctx), *self.lazy])

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        ctx.meta[_LISTING] = True
        try:
            super().format_commands(ctx, formatter)
        finally:
            ctx.meta.pop(_LISTING, None)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name in self.lazy:
            target, summary = self.lazy[cmd_name]
            if ctx.meta.get(_LISTING):
                return click.Command(cmd_name, help=summary)
            module, _, name = target.partition(":")
            try:
                command: click.Command = getattr(importlib.import_module(module), name)
            except ModuleNotFoundError as exc:
                if exc.name is None or not module.startswith(exc.name):
                    raise
                return None  # not part of this installation
            return command
        return super().get_command(ctx, cmd_name)


_LISTING = "segsync.listing_commands"


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="segsync")
def cli() -> None:
    """Change Raise campaign segments in bulk from a spreadsheet, safely."""


sheet_option = click.option("--sheet", help="Sheet to read (default: the first non-empty one).")
only_failed_option = click.option(
    "--only-failed",
    metavar="RUN_OR_RESULTS",
    help="Only rows that were failed/not_attempted in that run (id or results file).",
)


@cli.command()
@click.argument("edits", type=click.Path(dir_okay=False))
@click.option("--dry-run", is_flag=True, help="Load, validate, fetch and diff; send nothing.")
@click.option("--strict", is_flag=True, help="Refuse the whole sheet if any row is invalid.")
@click.option("--force", is_flag=True, help="Write rows that conflict with a newer server state.")
@out_option
@sheet_option
@mapping_options
@only_failed_option
@connection_options
@rate_options
@guardrail_options
@json_option
@report_option
@team_options
@log_options
def sync(edits: str, **opts: Any) -> None:
    """Apply the segment edits in EDITS (.xlsx, .xlsm, .xls, .ods or .csv)."""

    def run() -> int:
        result = pipeline.sync(
            edits,
            load(opts),
            dry_run=opts["dry_run"],
            strict=opts["strict"],
            out=opts["out"],
            sheet=opts["sheet"],
            only_failed=opts["only_failed"],
            force=opts["force"] or None,
            actor=opts["actor"],
            **run_flags(opts),
        )
        return finish(result, opts)

    guarded(alerting("sync", run, opts), opts)


@cli.command()
@click.argument("edits", type=click.Path(dir_okay=False))
@click.option("--out", type=click.Path(dir_okay=False), help="Plan file to write (.json).")
@click.option(
    "--preview", type=click.Path(dir_okay=False), help="Preview workbook (.xlsx or .csv)."
)
@click.option("--strict", is_flag=True, help="Refuse the whole sheet if any row is invalid.")
@click.option("--force", is_flag=True, help="Plan rows that conflict with a newer server state.")
@sheet_option
@mapping_options
@only_failed_option
@connection_options
@rate_options
@json_option
@report_option
@log_options
def plan(edits: str, **opts: Any) -> None:
    """Decide what syncing EDITS would send and save it as a plan; send nothing."""

    def run() -> int:
        planned = pipeline.plan(
            edits,
            load(opts),
            out=opts["out"],
            preview=opts["preview"],
            strict=opts["strict"],
            sheet=opts["sheet"],
            only_failed=opts["only_failed"],
            force=opts["force"] or None,
            report=opts["report"],
        )
        return finish(planned.result, opts, plan_path=str(planned.path) if planned.path else None)

    guarded(run, opts)


@cli.command()
@click.argument("plan_file", metavar="PLAN", type=click.Path(dir_okay=False))
@click.option(
    "--force", is_flag=True, help="Send rows that moved since the plan; accept an old plan."
)
@out_option
@connection_options
@rate_options
@guardrail_options
@json_option
@report_option
@team_options
@log_options
def apply(plan_file: str, **opts: Any) -> None:
    """Send exactly the changes of a saved PLAN; segments that moved since are conflicts."""

    def run() -> int:
        result = pipeline.apply(
            plan_file,
            load(opts),
            out=opts["out"],
            force=opts["force"],
            actor=opts["actor"],
            **run_flags(opts),
        )
        return finish(result, opts)

    guarded(alerting("apply", run, opts), opts)


@cli.command()
@click.argument("edits", type=click.Path(dir_okay=False))
@sheet_option
@mapping_options
@config_option
@json_option
@log_options
def validate(edits: str, **opts: Any) -> None:
    """Check EDITS offline: load and validate, send nothing."""

    def run() -> int:
        from segsync.input.messages import shown

        editset = pipeline.validate(edits, load(opts), sheet=opts["sheet"])
        as_json = opts["as_json"]
        columns = [f"{p.letter} '{shown(p.header)}' → {p.describe()}" for p in editset.placements]
        if columns:
            echo("columns: " + "; ".join(columns), err=as_json)
        for warning in editset.warnings:
            if LogState.json:
                log.warning("%s", warning, extra={"event": "input_warning"})
            else:
                echo(f"warning: {warning}", err=True)
        bad = editset.invalid_rows
        for row in bad:
            for error in row.errors:
                echo(str(error), err=as_json)
        valid = len(editset.rows) - len(bad)
        echo(
            f"{editset.source} [{shown(editset.sheet)}]: {counted(len(editset.rows), 'row')}, "
            f"{valid} valid, {len(bad)} invalid.",
            err=as_json,
        )
        code = ExitCode.ROW_PROBLEMS if bad else ExitCode.OK
        if as_json:
            problems = [
                {"row": r.source_row, "id": r.segment_id, "reason": str(e)}
                for r in bad
                for e in r.errors
            ]
            data = {
                "command": "validate",
                "exit_code": int(code),
                "source": editset.source,
                "sheet": editset.sheet,
                "columns": {p.header: p.describe() for p in editset.placements},
                "rows": len(editset.rows),
                "counts": {"valid": valid, "invalid": len(bad)},
                "warnings": editset.warnings,
                "problems_total": len(problems),
                "problems": problems[:10],
            }
            echo(json.dumps(data, ensure_ascii=False))
        return code

    guarded(run, opts)


@cli.command()
@click.option("--campaign", "campaigns", type=int, multiple=True, help="Only this campaign id.")
@click.option("--out", type=click.Path(dir_okay=False), help="Workbook to write (.xlsx or .csv).")
@connection_options
@log_options
def export(campaigns: tuple[int, ...], out: str | None, **opts: Any) -> None:
    """Write the current segments to a workbook you can edit and feed back to sync."""

    def run() -> int:
        settings = load(opts)
        path = pipeline.export(settings, campaign_ids=list(campaigns) or None, out=out)
        echo(f"Exported segments to {path}")
        for line in server_lines(settings.api.base_url):
            echo(line)
        return ExitCode.OK

    guarded(run, opts)


@cli.command()
@click.argument("run_id", metavar="RUN")
@click.option("--dry-run", is_flag=True, help="Show what would be put back; send nothing.")
@click.option("--force", is_flag=True, help="Also restore segments changed since that run.")
@out_option
@connection_options
@json_option
@report_option
@team_options
@log_options
def rollback(run_id: str, **opts: Any) -> None:
    """Put back the before-values of every segment a past RUN changed.

    It talks to the server RUN wrote to (from its journal); --base-url, if given, must name it.
    """

    def run() -> int:
        base_url = opts.pop("base_url")
        result = pipeline.rollback(
            run_id,
            load(opts),
            dry_run=opts["dry_run"],
            force=opts["force"],
            out=opts["out"],
            handle_signals=True,
            base_url=base_url,
            report=opts["report"],
            actor=opts["actor"],
        )
        return finish(result, opts)

    guarded(alerting("rollback", run, opts), opts)


@cli.command()
@click.option(
    "--prune",
    "prune_days",
    type=click.FloatRange(min=0),
    metavar="DAYS",
    help="Delete runs (journal and results file) that started more than DAYS ago.",
)
@config_option
@log_options
def runs(prune_days: float | None, **opts: Any) -> None:
    """List past runs (newest first) with their outcome counts."""

    def run() -> int:
        settings = load(opts)
        if prune_days is not None:
            pruned = pipeline.prune_runs(prune_days, settings)
            days = f"{prune_days:g} {'day' if prune_days == 1 else 'days'}"
            echo(f"Deleted {counted(len(pruned), 'run')} older than {days}.")
            return ExitCode.OK
        records = pipeline.runs(settings)
        if not records:
            echo(f"No runs in {settings.journal.dir}.")
        for record in records:
            header = record.header
            stopped = (record.footer or {}).get("aborted")
            state = f"  (stopped early: {stopped})" if stopped else ""
            state = state if record.finished else "  (did not finish)"
            tally = ", ".join(f"{k} {v}" for k, v in record.counts().items()) or "no rows"
            who = header.get("actor") or header.get("user") or "unknown"
            approver = header.get("approved_by")
            approved = f" (approved by {approver})" if approver else ""
            echo(
                f"{record.run_id}  {header.get('command', 'sync'):8}  {header.get('source')}  "
                f"by {who}{approved}  {tally}{state}"
            )
        return ExitCode.OK

    guarded(run, opts)
