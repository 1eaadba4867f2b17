"""One run of the engine: check, lock, journal, read the server, decide, send, write results.

``sync``, ``plan``, ``apply`` and ``rollback`` are all a ``Run``; they differ only in where the
decisions come from. A sheet (or a rollback's edits) is diffed against the state just read; a
saved plan is checked against the state read now, and a segment that moved since is a conflict.
From there one path: strict and guardrail checks, then (unless it is a dry run) the canary and
the updater. Everything a person could get wrong is checked before the first request.

This module is the order of those steps; the steps live beside it: ``run_options`` (what a
caller chooses), ``preflight`` (the files it promises), ``decisions`` (the plan from the state
read), ``signals`` (Ctrl-C and SIGTERM) and ``run_records`` (journal, results, report).
"""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from segsync.api.client import RaiseClient
from segsync.api.fetch import CurrentState, fetch_current
from segsync.api.session import Credentials, api_target, check_credentials, open_client
from segsync.config import Settings
from segsync.engine.assemble import Assembly
from segsync.engine.decisions import decide_sheet, recheck_saved_plan
from segsync.engine.guardrails import canary_problem, check_guardrails
from segsync.engine.live_results import LiveResults
from segsync.engine.preflight import check_report_path, check_results_target
from segsync.engine.progress import Progress
from segsync.engine.run_options import RunOptions
from segsync.engine.run_records import (
    close_run_journal,
    finish_run_outputs,
    mark_crashed,
    open_run_journal,
)
from segsync.engine.runcontrol import RunControl
from segsync.engine.runlock import current_user, run_lock
from segsync.engine.signals import stop_on_signals
from segsync.engine.updater import Updater
from segsync.errors import (
    ApiError,
    FatalApiError,
    RunAborted,
    RunRefused,
    StrictModeError,
)
from segsync.input.editset import EditSet
from segsync.journal import Journal, new_run_id
from segsync.outcomes import Outcome, RunResult
from segsync.output.plural import counted
from segsync.output.results import ResultsWorkbook
from segsync.plan.differ import Plan, RowPlan
from segsync.plan.planfile import SavedPlan
from segsync.team.audit import record_run

log = logging.getLogger("segsync.run")


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
        self._results_target = check_results_target(
            out,
            source=editset.source,
            command=opts.command,
            dry_run=opts.dry_run,
            output=settings.output,
        )
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
            rollback_of=opts.rollback_of,
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
                journal: Journal | None = None
                if not opts.dry_run:
                    extra = opts.journal_extra
                    journal = open_run_journal(
                        settings, result, target, rollback_of=opts.rollback_of, extra=extra
                    )
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
                mark_crashed(
                    result,
                    exc,
                    stop_reason=self.control.reason,
                    editset=editset,
                    plan=self.plan,
                    dry_run=self.options.dry_run,
                )
                raise
            finally:
                result.finished_at = datetime.now(UTC)
                if journal is not None:
                    close_run_journal(
                        journal,
                        result,
                        journaled=self._journaled,
                        results_target=self._results_target,
                    )
        finally:
            book, self._live_book = self._live_book, None
            report_path = finish_run_outputs(
                result,
                command=self.options.command,
                dry_run=self.options.dry_run,
                book=book,
                results_target=self._results_target,
                report_target=self._report_target,
                plan_path=self._plan_path,
            )
            if report_path is not None:
                self.report_path = report_path

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
                with stop_on_signals(self.control, enabled=self.options.handle_signals):
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
                    f"{counted(len(invalid), 'row')} of {editset.source} "
                    f"{'is' if len(invalid) == 1 else 'are'} invalid and --strict "
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
        return await decide_sheet(
            editset, state, client, result, force=self.options.force, check_modified=check_modified
        )

    async def _recheck(
        self, saved: SavedPlan, editset: EditSet, result: RunResult, client: RaiseClient
    ) -> Plan:
        """A saved plan against the server now: a planned segment that moved is a conflict."""
        plan = saved.row_plans(editset)
        ids = [r.edit.segment_id for r in plan.to_send if r.edit.segment_id]
        state = await self._read(result, client, ids)
        recheck_saved_plan(saved, plan, state, result, force=self.options.force)
        return plan
