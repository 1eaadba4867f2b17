"""One run of the engine: check, lock, journal, read the server, decide, send, write results.

``sync``, ``plan``, ``apply`` and ``rollback`` are all a ``Run``; they differ only in where the
decisions come from. A sheet (or a rollback's edits) is diffed against the state just read; a
saved plan is checked against the state read now, and a segment that moved since is a conflict.
From there one path: strict and guardrail checks, then (unless it is a dry run) the canary and
the updater. Everything a person could get wrong is checked before the first request.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from segsync.api.client import RaiseClient
from segsync.api.fetch import CurrentState, fetch_current
from segsync.api.session import Credentials, api_target, check_credentials, open_client
from segsync.config import Settings
from segsync.engine.assemble import Assembly
from segsync.engine.guardrails import Guardrails, canary_problem, check_guardrails
from segsync.engine.live_results import LiveResults, finish_results
from segsync.engine.preflight import check_report_path, check_results_path
from segsync.engine.progress import Progress
from segsync.engine.runcontrol import RunControl
from segsync.engine.runlock import current_user, run_lock
from segsync.engine.updater import Updater
from segsync.errors import (
    ApiError,
    FatalApiError,
    JournalWriteError,
    RunAborted,
    RunRefused,
    SegsyncError,
    StrictModeError,
)
from segsync.input.editset import EditSet
from segsync.journal import Journal, footer_record, header_record, new_run_id, result_record
from segsync.model import EDITABLE_FIELDS
from segsync.outcomes import Outcome, RunResult
from segsync.output.results import ResultsWorkbook, default_results_path
from segsync.plan.differ import Plan, RowPlan, diff
from segsync.plan.planfile import SavedPlan
from segsync.plan.server_checks import check_server_rules
from segsync.team.audit import record_run

log = logging.getLogger("segsync.run")


@dataclass
class RunOptions:
    """How a run behaves; ``command`` names it in logs, the journal and the results."""

    command: str
    dry_run: bool = False
    force: bool = False
    #: compare the sheet's modifiedDateTime with the server's (an export's conflict check)
    check_modified: bool = True
    strict: bool = False
    guardrails: Guardrails = field(default_factory=Guardrails)
    rollback_of: str | None = None
    handle_signals: bool = False
    #: show a progress bar when stderr is a terminal (the CLI; not the web server)
    progress_bar: bool = True
    #: extra header fields for the journal (e.g. the plan file an apply sends)
    journal_extra: dict[str, Any] = field(default_factory=dict)
    #: the person running it (None: the OS user) and who approved its plan, if anyone
    actor: str | None = None
    approved_by: str | None = None
    #: where it was started (``cli`` or ``web``) and more fields for its audit line
    via: str = "cli"
    audit_extra: dict[str, Any] = field(default_factory=dict)


class Run:
    """Execute one run; ``status()`` may be polled from another thread while it goes."""

    def __init__(
        self, settings: Settings, options: RunOptions, control: RunControl | None = None
    ) -> None:
        self.settings = settings
        self.options = options
        self.control = control or RunControl()
        self.control.status_provider = self.status
        #: the decisions the run reached (None until the server was read)
        self.plan: Plan | None = None
        #: what the server held when it was read (for a plan file)
        self.state: CurrentState | None = None
        self.result: RunResult | None = None
        self._progress: Progress | None = None
        self._client: RaiseClient | None = None
        self._updater: Updater | None = None
        self._journaled: set[int] = set()
        #: one result per input row, from the moment sending starts (None before)
        self._assembly: Assembly | None = None
        #: the results workbook being written while the run sends (None: written at the end)
        self._live: LiveResults | None = None
        self._live_book: ResultsWorkbook | None = None
        self._results_target: Path | None = None
        self._report_target: Path | None = None
        self._plan_path: Path | None = None
        #: where the HTML report was written (None: not asked for)
        self.report_path: Path | None = None

    # -- the whole run -----------------------------------------------------------------------

    def execute(
        self,
        work: EditSet | SavedPlan,
        *,
        out: str | Path | bool | None = None,
        report: str | Path | None = None,
        plan_path: Path | None = None,
    ) -> RunResult:
        """Run on a sheet's edits or a saved plan.

        ``out`` is the results file (None: the default path, False: none), ``report`` an HTML
        report to write beside it, ``plan_path`` the plan a ``plan`` run saves (for the report).
        Raises (nothing sent) for a bad config, token, results path, lock or guardrail.
        """
        settings, opts = self.settings, self.options
        editset = work.editset() if isinstance(work, SavedPlan) else work
        credentials = check_credentials(settings)
        self._results_target = self._check_output(editset, out)
        self._report_target = check_report_path(Path(report)) if report else None
        self._plan_path = plan_path
        started = datetime.now(UTC)
        result = RunResult(
            run_id=new_run_id(started),
            command=opts.command,
            dry_run=opts.dry_run,
            source=editset.source,
            sheet=editset.sheet,
            sha256=editset.sha256,
            started_at=started,
            config_summary=settings.summary(),
            warnings=list(editset.warnings),
            columns=list(editset.placements),
            said=editset.said,
            actor=opts.actor or current_user(),
            approved_by=opts.approved_by,
        )
        self.result = result
        log.info(
            "%s %s started: %d rows from %s",
            opts.command,
            result.run_id,
            len(editset.rows),
            editset.source,
            extra={"event": "run_started", "run_id": result.run_id, "rows": len(editset.rows)},
        )
        for warning in editset.warnings:
            log.warning("%s", warning, extra={"event": "input_warning"})
        target = api_target(settings)
        try:
            with run_lock(target, result.run_id, opts.command, enabled=not opts.dry_run):
                journal = None if opts.dry_run else self._open_journal(result, target)
                self._run(work, editset, result, journal, credentials)
        except (RunRefused, StrictModeError) as exc:
            record_run(settings, result, via=opts.via, refused=str(exc), extra=opts.audit_extra)
            raise
        record_run(settings, result, via=opts.via, extra=opts.audit_extra)
        return result

    def status(self) -> dict[str, Any]:
        """Rows done and total, pace and trouble so far: what a progress page shows."""
        progress, client, updater = self._progress, self._client, self._updater
        report = client.report() if client is not None else None
        return {
            "phase": "sending" if progress else ("reading" if client else "starting"),
            "done": progress.done if progress else 0,
            "total": progress.total if progress else 0,
            "rate": progress.rate() if progress else 0.0,
            "eta_s": progress.eta_s() if progress else None,
            "retries": updater.retries if updater else 0,
            "throttled": report.statuses.get(429, 0) if report else 0,
            "requests": sum(report.requests.values()) if report else 0,
            "stopping": self.control.reason,
        }

    def _open_journal(self, result: RunResult, target: str) -> Journal:
        settings, opts = self.settings, self.options
        journal = Journal.create(settings.journal.dir, result.run_id)
        result.journal_path = str(journal.path)
        header = header_record(
            result,
            rollback_of=opts.rollback_of,
            # the server this run writes to: rollback goes back there, whatever the config says
            base_url=settings.api.base_url,
            target=target,
            sandbox_db=str(settings.sandbox.db.expanduser().resolve())
            if settings.uses_embedded_sandbox
            else None,
            user=current_user(),
            actor=result.actor,
            approved_by=result.approved_by,
            **opts.journal_extra,
        )
        try:
            journal.write(header)
        except JournalWriteError:
            journal.close()
            raise
        return journal

    def _run(
        self,
        work: EditSet | SavedPlan,
        editset: EditSet,
        result: RunResult,
        journal: Journal | None,
        credentials: Credentials,
    ) -> None:
        try:
            try:
                asyncio.run(self._main(work, editset, result, journal, credentials))
            except BaseException as exc:
                self._mark_crashed(editset, result, exc)
                raise
            finally:
                result.finished_at = datetime.now(UTC)
                if journal is not None:
                    self._close_journal(journal, result)
        finally:
            target = self._results_target
            book, self._live_book = self._live_book, None
            written = None if target is None else finish_results(book, result, target)
            result.results_path = str(written) if written else None
            if self._report_target is not None:
                # imported here: the template engine is only loaded when a report is asked for
                from segsync.output.html_report import write_html_report

                write_html_report(result, self._report_target, plan_path=self._plan_path)
                self.report_path = self._report_target
            log.info(
                "%s %s finished: %s",
                self.options.command,
                result.run_id,
                ", ".join(f"{k} {v}" for k, v in result.counts().items()) or "no rows",
                extra={
                    "event": "run_finished",
                    "run_id": result.run_id,
                    "command": self.options.command,
                    "dry_run": self.options.dry_run,
                    "counts": result.counts(),
                    "requests": dict(result.requests),
                    "throttled": result.throttled,
                    "aborted": result.aborted,
                    "exit_code": result.exit_code,
                    "results": result.results_path,
                },
            )

    def _mark_crashed(self, editset: EditSet, result: RunResult, exc: BaseException) -> None:
        """A run that raised is aborted, with the reason, in its journal and results.

        A crash before the client was open (the embedded sandbox failed to start, say) never
        reached ``_main``'s bookkeeping: without this its results would say "Done" over no rows
        and ``segsync runs`` would list it as a finished run with nothing in it.
        """
        if result.aborted is None:
            if isinstance(exc, SegsyncError):
                reason = str(exc)
            elif isinstance(exc, KeyboardInterrupt):
                reason = "interrupted"
            else:
                reason = f"internal error ({type(exc).__name__}: {exc})"
            result.aborted = self.control.reason or reason
        if not result.rows:
            assembly = Assembly(editset, self.plan, {}, dry_run=self.options.dry_run)
            result.rows = assembly.rows(aborted=result.aborted)

    def _check_output(self, editset: EditSet, out: str | Path | bool | None) -> Path | None:
        """Where the results go, proven writable before the first request (None: nowhere)."""
        if out is False:
            return None
        if out is None or out is True:
            opts = self.options
            kind = (
                "rollback"
                if opts.command == "rollback"
                else "preview"
                if opts.dry_run
                else "results"
            )
            source = Path(editset.source)  # a DataFrame or a rollback has no file: cwd then
            target = default_results_path(
                source if source.is_file() else None,
                out_dir=self.settings.output.dir,
                kind=kind,
                fmt=self.settings.output.format,
            )
        else:
            target = Path(out)
        return check_results_path(target)

    def _close_journal(self, journal: Journal, result: RunResult) -> None:
        """Results of rows the updater did not journal, then the footer; a failure here marks
        the run aborted (its record is incomplete) instead of losing the results file."""
        try:
            if journal.failed is None:
                journal.write_many(
                    result_record(r) for r in result.rows if r.index not in self._journaled
                )
                target = self._results_target
                journal.write(footer_record(result, results=str(target) if target else None))
        except JournalWriteError as exc:
            log.error("%s", exc, extra={"event": "journal_write_failed"})
            result.aborted = result.aborted or (
                f"the run journal could not be written ({exc.reason}); "
                "its record of this run is incomplete"
            )
        finally:
            journal.close()

    # -- the network part --------------------------------------------------------------------

    async def _main(
        self,
        work: EditSet | SavedPlan,
        editset: EditSet,
        result: RunResult,
        journal: Journal | None,
        credentials: Credentials,
    ) -> None:
        settings = self.settings
        async with open_client(settings, credentials, control=self.control) as client:
            updater = Updater(
                client,
                concurrency=settings.rate_limit.max_concurrency,
                circuit_breaker=settings.abort.consecutive_failures,
                journal=journal,
            )
            self._client, self._updater = client, updater
            try:
                with _signals(self.control, enabled=self.options.handle_signals):
                    await self._decide_and_send(work, editset, result, client, updater)
            finally:
                if self._live is not None:
                    self._live_book = self._live.stop()
                # whatever happened, every row gets an outcome from what was done so far
                report = client.report()
                result.aborted = self.control.reason
                result.requests.update(report.requests)
                result.statuses.update(report.statuses)
                result.network_seconds = report.network_seconds
                result.lowest_rate = report.lowest_rate
                assembly = self._assembly or Assembly(
                    editset, self.plan, updater.results, dry_run=self.options.dry_run
                )
                result.rows = assembly.rows(aborted=result.aborted)
                self._journaled = set(updater.results)

    async def _decide_and_send(
        self,
        work: EditSet | SavedPlan,
        editset: EditSet,
        result: RunResult,
        client: RaiseClient,
        updater: Updater,
    ) -> None:
        opts, settings = self.options, self.settings
        try:
            if isinstance(work, SavedPlan):
                self.plan = await self._recheck(work, editset, result, client)
            else:
                self.plan = await self._diff(work, result, client)
            plan = self.plan
            invalid = [r for r in plan.rows if r.outcome is Outcome.INVALID]
            if opts.strict and invalid:
                raise StrictModeError(
                    f"{len(invalid)} row(s) of {editset.source} are invalid and --strict "
                    f"refuses the whole sheet; nothing was sent. First: {invalid[0].error}"
                )
            total = self.state.total if self.state else None
            check_guardrails(len(plan.to_send), total, opts.guardrails, dry_run=opts.dry_run)
            if opts.dry_run or not plan.to_send:
                return
            self._progress = Progress(
                len(plan.to_send),
                label=opts.command,
                interval_s=settings.logging.progress_interval_s,
                bar=opts.progress_bar,
            )
            updater.progress = self._progress
            self._assembly = Assembly(editset, plan, updater.results, dry_run=False)
            self._live = LiveResults.begin(self._results_target, editset, self._assembly)
            if self._live is not None:
                updater.on_result = self._live.notify
            await self._send(plan.to_send, client, updater)
        except (RunAborted, FatalApiError):
            pass  # the reason is on the run control; rows become not_attempted
        except (StrictModeError, RunRefused) as exc:
            self.control.stop(f"refused before any write: {exc}")
            raise
        except ApiError as exc:
            if self.plan is not None:
                raise
            self.control.stop(f"could not read the current segments: {exc.message}")
        except Exception as exc:
            self.control.stop(f"internal error ({type(exc).__name__}: {exc})")
            raise
        finally:
            if self._progress is not None:
                self._progress.close()

    async def _send(self, rows: list[RowPlan], client: RaiseClient, updater: Updater) -> None:
        """The canary first (when asked for), then everything else."""
        k = self.options.guardrails.canary
        if 0 < k < len(rows):
            await updater.run(rows[:k])
            problem = await canary_problem(rows[:k], updater.results, client)
            if problem:
                self.control.stop(problem)
                return
            rows = rows[k:]
        await updater.run(rows)

    async def _read(self, result: RunResult, client: RaiseClient, ids: list[int]) -> CurrentState:
        state = await fetch_current(
            client, ids, concurrency=self.settings.rate_limit.max_concurrency
        )
        self.state = state
        result.fetch_strategy = state.strategy
        result.warnings.extend(state.warnings)
        return state

    async def _diff(self, editset: EditSet, result: RunResult, client: RaiseClient) -> Plan:
        ids = [r.segment_id for r in editset.rows if r.checkable and r.segment_id]
        state = await self._read(result, client, ids)
        check_modified = self.options.check_modified and self.settings.sync.conflict_check
        plan = diff(
            editset, state.segments, force=self.options.force, check_modified=check_modified
        )
        checks = await check_server_rules(plan, state, client, editset)
        plan.warnings.extend(checks.warnings)
        result.campaign_names = checks.campaign_names
        result.moves = len(checks.moves)
        result.warnings.extend(plan.warnings)
        for warning in plan.warnings:
            log.warning("%s", warning, extra={"event": "plan_warning"})
        return plan

    async def _recheck(
        self, saved: SavedPlan, editset: EditSet, result: RunResult, client: RaiseClient
    ) -> Plan:
        """A saved plan against the server now: a planned segment that moved is a conflict."""
        plan = saved.row_plans(editset)
        ids = [r.edit.segment_id for r in plan.to_send if r.edit.segment_id]
        state = await self._read(result, client, ids)
        made = saved.created_at.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")
        for row in plan.to_send:
            now = state.segments.get(row.edit.segment_id or 0)
            if now is None:
                row.outcome = Outcome.NOT_FOUND
                row.error = f"segment {row.edit.segment_id} no longer exists (planned at {made})"
                continue
            moved = _moved(row, now)
            row.before = now
            if row.body is not None and now.editable() == row.body.to_json():
                row.outcome = Outcome.UNCHANGED  # already applied (an apply run twice)
                row.error = None
            elif moved and not self.options.force:
                row.outcome = Outcome.CONFLICT
                row.error = (
                    f"changed on the server since the plan was made at {made}: {moved}; "
                    "not written (make a new plan, or apply with --force)"
                )
        result.warnings.extend(saved.warnings)
        result.campaign_names = dict(saved.campaign_names)
        result.moves = sum(
            1 for row in plan.to_send if any(c.field == "campaignId" for c in row.changes)
        )
        return plan


def _moved(row: RowPlan, now: Any) -> str:
    """How the server's state differs from the one the row was planned from ('' if not)."""
    planned = row.before
    if planned is None:
        return ""
    moved = [
        f"{f} now {getattr(now, f)!r}"
        for f in EDITABLE_FIELDS
        if getattr(now, f) != getattr(planned, f)
    ]
    if not moved and (now.modifiedDateTime or "") != (planned.modifiedDateTime or ""):
        moved = [f"modified at {now.modifiedDateTime}"]
    return ", ".join(moved)


@contextlib.contextmanager
def _signals(control: RunControl, *, enabled: bool) -> Iterator[None]:
    """First SIGINT/SIGTERM: graceful stop. Second: abandon requests in flight."""
    if not enabled:
        yield
        return
    loop = asyncio.get_running_loop()
    hits = {"count": 0}

    def on_signal(signum: int) -> None:
        hits["count"] += 1
        name = signal.Signals(signum).name
        if hits["count"] == 1:
            log.warning("%s received: finishing requests in flight, then stopping", name)
            control.stop(f"interrupted ({name})")
        else:
            log.warning("%s received again: stopping now", name)
            control.stop(f"interrupted ({name})", hard=True)

    installed = []
    for sig in (signal.SIGINT, signal.SIGTERM):
        try:
            loop.add_signal_handler(sig, on_signal, sig)
            installed.append(sig)
        except (NotImplementedError, RuntimeError):
            continue
    try:
        yield
    finally:
        for sig in installed:
            loop.remove_signal_handler(sig)
