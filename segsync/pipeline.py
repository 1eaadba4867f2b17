"""The library API: ``sync``, ``validate``, ``export``, ``rollback``, ``runs``.

Each is a plain function returning plain data (``RunResult``, ``EditSet``, a path), usable from a
nightly Python job without the CLI; ``segsync/cli.py`` only parses flags, calls these and prints.
The stages run in one order for every command: load → fetch → diff → (stop here for a dry run)
→ apply → write results. So the dry run and the real run share every step up to the HTTP write.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import hashlib
import logging
import signal
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from segsync.client import RaiseClient
from segsync.config import Settings, load_settings
from segsync.differ import Plan, diff
from segsync.editset import EditSet, RowEdit
from segsync.errors import ApiError, FatalApiError, InputError, RunAborted, StrictModeError
from segsync.fetch import fetch_current
from segsync.journal import Journal, find_journal, list_runs, new_run_id, read_journal
from segsync.journal import RunRecord as RunRecord
from segsync.loader import edits_from_dataframe, load_edits
from segsync.model import EDITABLE_FIELDS
from segsync.outcomes import Outcome, RowResult, RunResult
from segsync.progress import Progress
from segsync.report import default_results_path, read_outcomes, write_export, write_results
from segsync.session import Credentials, check_credentials, open_client
from segsync.updater import Updater, result_record

if TYPE_CHECKING:
    import pandas as pd

log = logging.getLogger(__name__)

#: outcomes ``--only-failed`` sends again
RETRY_OUTCOMES = frozenset({Outcome.FAILED.value, Outcome.NOT_ATTEMPTED.value})


def validate(
    edits: str | Path | pd.DataFrame, settings: Settings | None = None, *, sheet: str | None = None
) -> EditSet:
    """Load and validate offline; raises ``InputError`` for file-level problems."""
    settings = settings or load_settings()
    return _load(edits, settings, sheet)


def sync(
    edits: str | Path | pd.DataFrame | EditSet,
    settings: Settings | None = None,
    *,
    dry_run: bool = False,
    strict: bool = False,
    out: str | Path | None = None,
    sheet: str | None = None,
    only_failed: str | Path | None = None,
    force: bool | None = None,
    handle_signals: bool = False,
) -> RunResult:
    """Apply a sheet of segment edits (or preview them with ``dry_run``).

    ``edits`` is a spreadsheet path, a pandas DataFrame with the same columns, or an
    ``EditSet``. Returns the ``RunResult`` the results workbook was written from (its path in
    ``results_path``; pass ``out=False``-like ``None`` to use the default next to the input).
    Raises ``InputError`` (nothing sent) for file-level problems and for ``strict`` with invalid
    rows; row problems are outcomes, not exceptions.
    """
    settings = settings or load_settings()
    editset = edits if isinstance(edits, EditSet) else _load(edits, settings, sheet)
    if only_failed is not None:
        editset = only_failed_rows(editset, only_failed, settings)
    if strict and editset.invalid_rows:
        bad = editset.invalid_rows
        first = "; ".join(str(e) for e in bad[0].errors)
        raise StrictModeError(
            f"{len(bad)} row(s) of {editset.source} are invalid and --strict refuses the whole "
            f"sheet; nothing was sent. First: {first}"
        )
    force = settings.sync.force if force is None else force
    run = _Run(settings, "sync", dry_run=dry_run, force=force, check_modified=True)
    return run.execute(editset, out=out, handle_signals=handle_signals)


def rollback(
    run: str,
    settings: Settings | None = None,
    *,
    dry_run: bool = False,
    force: bool = False,
    out: str | Path | None = None,
    handle_signals: bool = False,
) -> RunResult:
    """Put back the before-state of every segment ``run`` wrote.

    A segment that changed since that run (it no longer holds what the run wrote) is a
    ``conflict`` and left alone unless ``force``. The rollback is itself a journaled run.
    """
    settings = settings or load_settings()
    record = read_journal(find_journal(run, settings.journal.dir))
    editset = rollback_edits(record)
    job = _Run(settings, "rollback", dry_run=dry_run, force=force, check_modified=False)
    job.rollback_of = record.run_id
    return job.execute(editset, out=out, handle_signals=handle_signals)


def export(
    settings: Settings | None = None,
    *,
    campaign_ids: list[int] | None = None,
    out: str | Path | None = None,
) -> Path:
    """Write the current segments (optionally of some campaigns) to an editable workbook."""
    settings = settings or load_settings()

    async def fetch_all() -> list[Any]:
        async with open_client(settings) as client:
            take = settings.api.list_page_size
            segments, skip = [], 0
            while True:
                page = await client.list_page(skip, take, campaign_ids)
                segments.extend(page.items)
                skip += len(page.items)
                if not page.items or skip >= page.total:
                    return segments

    segments = asyncio.run(fetch_all())
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    path = Path(out) if out else Path(settings.output.dir or ".") / f"segments_{stamp}.xlsx"
    return write_export(segments, path, clear_marker=settings.input.clear_marker)


def runs(settings: Settings | None = None) -> list[RunRecord]:
    """Past runs from the journal folder, newest first."""
    settings = settings or load_settings()
    return list_runs(settings.journal.dir)


# -- input helpers ------------------------------------------------------------------------------


def _load(edits: Any, settings: Settings, sheet: str | None) -> EditSet:
    if isinstance(edits, str | Path):
        path = Path(edits)
        editset = load_edits(path, settings.input, sheet=sheet or settings.input.sheet)
        if editset.sha256 is None:
            editset.sha256 = file_sha256(path)
        return editset
    if hasattr(edits, "columns") and hasattr(edits, "itertuples"):
        return edits_from_dataframe(edits, settings.input)
    raise InputError(f"Cannot read edits from a {type(edits).__name__}; give a path or DataFrame.")


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def only_failed_rows(editset: EditSet, run_or_results: str | Path, settings: Settings) -> EditSet:
    """Keep the rows that were ``failed`` or ``not_attempted`` in a past run.

    ``run_or_results`` is a run id / journal path, or a results workbook/CSV of that run.
    Rows are matched by their row number in the sheet; the same sheet must be given.
    """
    wanted, sha256 = _rows_to_retry(run_or_results, settings)
    kept = [r for r in editset.rows if wanted is None or r.source_row in wanted]
    warnings = [f"--only-failed: {len(kept)} row(s) selected"]
    if sha256 and editset.sha256 and sha256 != editset.sha256:
        warnings.append(
            "--only-failed: this file differs from the one that run read (sha256); rows are "
            "matched by row number, so check that rows were not inserted or sorted since"
        )
    return dataclasses.replace(editset, rows=kept, warnings=[*editset.warnings, *warnings])


def _rows_to_retry(
    run_or_results: str | Path, settings: Settings
) -> tuple[set[int] | None, str | None]:
    """Row numbers to resend (None: all of them), and the sha256 of the input that run read."""
    path = Path(run_or_results)
    if path.suffix.lower() in {".xlsx", ".csv"} and path.is_file():
        results = read_outcomes(path)
        return {row for row, outcome in results if outcome in RETRY_OUTCOMES}, None
    record = read_journal(find_journal(str(run_or_results), settings.journal.dir))
    if not record.finished and not record.rows and not record.outcomes:
        # killed before it planned anything (e.g. while reading the current state): redo all
        return None, record.header.get("sha256")
    rows = {h.source_row for h in record.rows.values() if (h.outcome or "") in RETRY_OUTCOMES}
    # planned but no result: the run died with these in flight or queued
    rows |= {h.source_row for h in record.rows.values() if h.outcome is None}
    # rows that were never planned because the run stopped before the diff
    rows |= {
        int(row) for row, outcome in record.outcomes_by_row.items() if outcome in RETRY_OUTCOMES
    }
    return rows, record.header.get("sha256")


def rollback_edits(record: RunRecord) -> EditSet:
    """An ``EditSet`` that restores every segment the run may have written."""
    rows = []
    for history in sorted(record.rows.values(), key=lambda h: h.index):
        if history.outcome == Outcome.NOT_ATTEMPTED.value or history.before is None:
            continue
        written = history.after or history.body or {}
        rows.append(
            RowEdit(
                index=len(rows),
                source_row=history.source_row,
                segment_id=history.segment_id,
                values={f: history.before.get(f) for f in EDITABLE_FIELDS},
                expected_state={f: written.get(f) for f in EDITABLE_FIELDS},
            )
        )
    header = record.header
    return EditSet(
        source=f"rollback of run {record.run_id} ({header.get('source', '?')})",
        sheet=str(header.get("sheet", "")),
        rows=rows,
        sha256=header.get("sha256"),
    )


# -- the run ------------------------------------------------------------------------------------


class _Run:
    """One execution of a plan: fetch, diff, apply, journal and report."""

    def __init__(
        self, settings: Settings, command: str, *, dry_run: bool, force: bool, check_modified: bool
    ) -> None:
        self.settings = settings
        self.command = command
        self.dry_run = dry_run
        self.force = force
        self.check_modified = check_modified and settings.sync.conflict_check
        self.rollback_of: str | None = None
        #: rows whose result record the updater already journaled
        self._journaled: set[int] = set()

    def execute(
        self, editset: EditSet, *, out: str | Path | None, handle_signals: bool
    ) -> RunResult:
        credentials = check_credentials(self.settings)
        started = datetime.now(UTC)
        result = RunResult(
            run_id=new_run_id(started),
            command=self.command,
            dry_run=self.dry_run,
            source=editset.source,
            sheet=editset.sheet,
            sha256=editset.sha256,
            started_at=started,
            config_summary=self.settings.summary(),
            warnings=list(editset.warnings),
        )
        log.info(
            "%s %s started: %d rows from %s",
            self.command,
            result.run_id,
            len(editset.rows),
            editset.source,
            extra={"event": "run_started", "run_id": result.run_id, "rows": len(editset.rows)},
        )
        for warning in editset.warnings:
            log.warning("%s", warning, extra={"event": "input_warning"})
        journal = None
        if not self.dry_run:
            journal = Journal.create(self.settings.journal.dir, result.run_id)
            result.journal_path = str(journal.path)
            journal.write(self._header(result))
        try:
            try:
                asyncio.run(self._apply(editset, result, journal, credentials, handle_signals))
            finally:
                result.finished_at = datetime.now(UTC)
                if journal is not None:
                    self._close_journal(journal, result)
        finally:
            result.results_path = str(self._write(result, editset, out))
            log.info(
                "%s %s finished: %s",
                self.command,
                result.run_id,
                ", ".join(f"{k} {v}" for k, v in result.counts().items()) or "no rows",
                extra={
                    "event": "run_finished",
                    "run_id": result.run_id,
                    "command": self.command,
                    "dry_run": self.dry_run,
                    "counts": result.counts(),
                    "requests": dict(result.requests),
                    "throttled": result.throttled,
                    "aborted": result.aborted,
                    "exit_code": result.exit_code,
                    "results": result.results_path,
                },
            )
        return result

    async def _apply(
        self,
        editset: EditSet,
        result: RunResult,
        journal: Journal | None,
        credentials: Credentials,
        handle_signals: bool,
    ) -> None:
        plan: Plan | None = None
        settings = self.settings
        async with open_client(settings, credentials) as client:
            updater = Updater(
                client,
                concurrency=settings.rate_limit.max_concurrency,
                circuit_breaker=settings.abort.consecutive_failures,
                journal=journal,
            )
            try:
                with _signals(updater, enabled=handle_signals):
                    plan = await self._fetch_diff_apply(editset, result, client, updater)
            finally:
                # whatever happened, every row gets an outcome from what was done so far
                result.aborted = client.abort_reason if client.abort.is_set() else None
                result.requests.update(client.log.requests)
                result.statuses.update(client.log.statuses)
                result.network_seconds = client.log.span_s
                if client.limiter.lowest_rate < client.limiter.target:
                    result.lowest_rate = client.limiter.lowest_rate
                result.rows = _assemble(
                    editset,
                    plan or updater.plan,
                    updater.results,
                    dry_run=self.dry_run,
                    aborted=result.aborted,
                )
                self._journaled = set(updater.results)

    async def _fetch_diff_apply(
        self, editset: EditSet, result: RunResult, client: RaiseClient, updater: Updater
    ) -> Plan | None:
        """The network part of a run; returns the plan (None if the run stopped before it)."""
        settings = self.settings
        plan: Plan | None = None
        try:
            ids = [r.segment_id for r in editset.rows if r.valid and r.segment_id]
            state = await fetch_current(
                client, ids, concurrency=settings.rate_limit.max_concurrency
            )
            result.fetch_strategy = state.strategy
            plan = diff(
                editset, state.segments, force=self.force, check_modified=self.check_modified
            )
            result.warnings.extend(plan.warnings)
            if not self.dry_run and plan.to_send:
                updater.progress = Progress(
                    len(plan.to_send),
                    label=self.command,
                    interval_s=settings.logging.progress_interval_s,
                )
                await updater.run(plan)
        except (RunAborted, FatalApiError):
            pass  # the reason is on the client; rows become not_attempted
        except ApiError as exc:
            if plan is not None:
                raise
            client.stop(f"could not read the current segments: {exc.message}")
        except Exception as exc:
            client.stop(f"internal error ({type(exc).__name__}: {exc})")
            raise
        finally:
            if updater.progress is not None:
                updater.progress.close()
        return plan

    def _header(self, result: RunResult) -> dict[str, Any]:
        return {
            "type": "header",
            "run_id": result.run_id,
            "command": self.command,
            "rollback_of": self.rollback_of,
            "source": result.source,
            "sheet": result.sheet,
            "sha256": result.sha256,
            "started_at": result.started_at.isoformat(),
            "config": result.config_summary,
        }

    def _close_journal(self, journal: Journal, result: RunResult) -> None:
        journal.write_many(result_record(r) for r in result.rows if r.index not in self._journaled)
        journal.write(
            {
                "type": "footer",
                "finished_at": (result.finished_at or datetime.now(UTC)).isoformat(),
                "counts": result.counts(),
                "aborted": result.aborted,
                "requests": dict(result.requests),
            }
        )
        journal.close()

    def _write(self, result: RunResult, editset: EditSet, out: str | Path | None) -> Path:
        kind = (
            "rollback" if self.command == "rollback" else "preview" if self.dry_run else "results"
        )
        if out is None:
            source = Path(editset.source)  # a DataFrame or a rollback has no file: cwd then
            out = default_results_path(
                source if source.is_file() else None,
                out_dir=self.settings.output.dir,
                kind=kind,
                fmt=self.settings.output.format,
            )
        return write_results(result, out)


def _assemble(
    editset: EditSet,
    plan: Plan | None,
    sent: dict[int, RowResult],
    *,
    dry_run: bool,
    aborted: str | None,
) -> list[RowResult]:
    """Exactly one result per input row, in input order."""
    results = []
    planned = {p.edit.index: p for p in plan.rows} if plan else {}
    for edit in editset.rows:
        if edit.index in sent:
            results.append(sent[edit.index])
            continue
        row = planned.get(edit.index)
        if row is None:
            invalid = bool(edit.errors)
            results.append(
                RowResult(
                    index=edit.index,
                    source_row=edit.source_row,
                    segment_id=edit.segment_id,
                    outcome=Outcome.INVALID if invalid else Outcome.NOT_ATTEMPTED,
                    error="; ".join(str(e) for e in edit.errors)
                    if invalid
                    else f"not sent: {aborted or 'the run stopped before this row'}",
                    extras=edit.extras,
                )
            )
            continue
        outcome = row.outcome
        error = row.error
        if outcome is None:
            outcome = Outcome.WOULD_UPDATE if dry_run else Outcome.NOT_ATTEMPTED
            if not dry_run:
                error = f"not sent: {aborted or 'the run stopped before this row'}"
        results.append(
            RowResult(
                index=edit.index,
                source_row=edit.source_row,
                segment_id=edit.segment_id,
                outcome=outcome,
                changes=row.changes,
                error=error,
                segment=row.before,
                extras=edit.extras,
            )
        )
    return results


@contextlib.contextmanager
def _signals(updater: Updater, *, enabled: bool) -> Iterator[None]:
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
            updater.stop(f"interrupted ({name})")
        else:
            log.warning("%s received again: stopping now", name)
            updater.cancel(f"interrupted ({name})")

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
