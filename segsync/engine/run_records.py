"""What a run leaves behind, whatever happened: its journal, results file, report and last log line.

The journal is opened before the first request and is what ``rollback`` and a rerun read, so
its header names the server the run writes to (rollback goes back there, whatever the config
says by then) and its footer is only written after every row has a result record. A journal
that cannot be closed properly marks the run aborted (its record is incomplete) instead of
losing the results file. The results file (and the HTML report, when asked for) are written
last, from the rows the run ended with, then one ``run_finished`` line says how it went.
"""

from __future__ import annotations

import logging
from collections.abc import Set
from pathlib import Path
from typing import Any

from segsync.config import Settings
from segsync.engine.assemble import Assembly
from segsync.engine.live_results import finish_results
from segsync.engine.runlock import current_user
from segsync.errors import JournalWriteError, SegsyncError
from segsync.input.editset import EditSet
from segsync.journal import Journal, footer_record, header_record, result_record
from segsync.outcomes import RunResult
from segsync.output.results import ResultsWorkbook
from segsync.plan.differ import Plan

# what a run logs keeps the one logger name it had before the run was split into modules
log = logging.getLogger("segsync.run")


def open_run_journal(
    settings: Settings,
    result: RunResult,
    target: str,
    *,
    rollback_of: str | None,
    extra: dict[str, Any],
) -> Journal:
    """Create the run's journal and write its header; ``extra`` adds header fields."""
    journal = Journal.create(settings.journal.dir, result.run_id)
    result.journal_path = str(journal.path)
    header = header_record(
        result,
        rollback_of=rollback_of,
        # the server this run writes to: rollback goes back there, whatever the config says
        base_url=settings.api.base_url,
        target=target,
        sandbox_db=str(settings.sandbox.db.expanduser().resolve())
        if settings.uses_embedded_sandbox
        else None,
        user=current_user(),
        actor=result.actor,
        approved_by=result.approved_by,
        **extra,
    )
    try:
        journal.write(header)
    except JournalWriteError:
        journal.close()
        raise
    return journal


def close_run_journal(
    journal: Journal, result: RunResult, *, journaled: Set[int], results_target: Path | None
) -> None:
    """Results of rows the updater did not journal (``journaled``: those it did), then the
    footer; a failure here marks the run aborted (its record is incomplete) instead of losing
    the results file."""
    try:
        if journal.failed is None:
            journal.write_many(result_record(r) for r in result.rows if r.index not in journaled)
            results = str(results_target) if results_target else None
            journal.write(footer_record(result, results=results))
    except JournalWriteError as exc:
        log.error("%s", exc, extra={"event": "journal_write_failed"})
        result.aborted = result.aborted or (
            f"the run journal could not be written ({exc.reason}); "
            "its record of this run is incomplete"
        )
    finally:
        journal.close()


def mark_crashed(
    result: RunResult,
    exc: BaseException,
    *,
    stop_reason: str | None,
    editset: EditSet,
    plan: Plan | None,
    dry_run: bool,
) -> None:
    """A run that raised is aborted, with the reason, in its journal and results.

    ``stop_reason`` (the run control's, if it was stopped) wins over the exception's. A crash
    before the client was open (the embedded sandbox failed to start, say) never reached the
    run's bookkeeping: without this its results would say "Done" over no rows and ``segsync
    runs`` would list it as a finished run with nothing in it.
    """
    if result.aborted is None:
        if isinstance(exc, SegsyncError):
            reason = str(exc)
        elif isinstance(exc, KeyboardInterrupt):
            reason = "interrupted"
        else:
            reason = f"internal error ({type(exc).__name__}: {exc})"
        result.aborted = stop_reason or reason
    if not result.rows:
        assembly = Assembly(editset, plan, {}, dry_run=dry_run)
        result.rows = assembly.rows(aborted=result.aborted)


def finish_run_outputs(
    result: RunResult,
    *,
    command: str,
    dry_run: bool,
    book: ResultsWorkbook | None,
    results_target: Path | None,
    report_target: Path | None,
    plan_path: Path | None,
) -> Path | None:
    """Write the results (finishing ``book``, the workbook streamed while the run sent, if
    any) and the HTML report, then log ``run_finished``; returns the report's path (None: not
    asked for). ``plan_path`` is the plan a ``plan`` run saved, for the report."""
    written = None if results_target is None else finish_results(book, result, results_target)
    result.results_path = str(written) if written else None
    report_path = None
    if report_target is not None:
        # imported here: the template engine is only loaded when a report is asked for
        from segsync.output.html_report import write_html_report

        write_html_report(result, report_target, plan_path=plan_path)
        report_path = report_target
    log.info(
        "%s %s finished: %s",
        command,
        result.run_id,
        ", ".join(f"{k} {v}" for k, v in result.counts().items()) or "no rows",
        extra={
            "event": "run_finished",
            "run_id": result.run_id,
            "command": command,
            "dry_run": dry_run,
            "counts": result.counts(),
            "requests": dict(result.requests),
            "throttled": result.throttled,
            "aborted": result.aborted,
            "exit_code": result.exit_code,
            "results": result.results_path,
        },
    )
    return report_path
