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
import tempfile
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from segsync.api.client import RaiseClient
from segsync.api.fetch import fetch_current, list_all
from segsync.api.session import (
    Credentials,
    api_target,
    check_credentials,
    normalise_base_url,
    open_client,
)
from segsync.config import Settings, load_settings
from segsync.differ import Plan, diff
from segsync.errors import (
    ApiError,
    FatalApiError,
    InputError,
    JournalWriteError,
    OutputPathError,
    RunAborted,
    StrictModeError,
    TargetMismatchError,
)
from segsync.input.editset import EditSet, RowEdit
from segsync.input.loader import edits_from_dataframe, load_edits
from segsync.journal import Journal, find_journal, list_runs, new_run_id, read_journal
from segsync.journal import RunRecord as RunRecord
from segsync.model import EDITABLE_FIELDS, Segment
from segsync.outcomes import Outcome, RowResult, RunResult
from segsync.output.report import default_results_path, read_outcomes, write_export, write_results
from segsync.progress import Progress
from segsync.runlock import current_user, run_lock
from segsync.updater import Updater, result_record

if TYPE_CHECKING:
    import pandas as pd

log = logging.getLogger(__name__)

#: ``out=False``: write no results file (library use)
NoResults = Literal[False]
RESULT_SUFFIXES = (".xlsx", ".csv")

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
    out: str | Path | NoResults | None = None,
    sheet: str | None = None,
    only_failed: str | Path | None = None,
    force: bool | None = None,
    handle_signals: bool = False,
) -> RunResult:
    """Apply a sheet of segment edits (or preview them with ``dry_run``).

    ``edits`` is a spreadsheet path, a pandas DataFrame with the same columns, or an
    ``EditSet``. Returns the ``RunResult`` the results workbook was written from (its path in
    ``results_path``). ``out`` is the results file (``.xlsx`` or ``.csv``); None writes it next
    to the input (or in ``output.dir``); False writes none. Raises ``InputError`` (nothing sent)
    for file-level problems and for ``strict`` with invalid rows, and ``RunRefused`` when the
    results cannot be written or another run holds the API; row problems are outcomes.
    """
    settings = settings or load_settings()
    editset = edits if isinstance(edits, EditSet) else _load(edits, settings, sheet)
    if only_failed is not None:
        editset = only_failed_rows(editset, only_failed, settings)
    if strict:
        # rows whose only problems are content rules wait for the server's values (see differ)
        bad = [r for r in editset.rows if r.errors and not r.checkable]
        if bad:
            _refuse_strict(editset.source, len(bad), "; ".join(map(str, bad[0].errors)))
    force = settings.sync.force if force is None else force
    run = _Run(settings, "sync", dry_run=dry_run, force=force, check_modified=True)
    run.strict = strict
    return run.execute(editset, out=out, handle_signals=handle_signals)


def _refuse_strict(source: str, count: int, first: str) -> None:
    """``--strict``: any invalid row refuses the whole sheet before anything is sent."""
    raise StrictModeError(
        f"{count} row(s) of {source} are invalid and --strict refuses the whole "
        f"sheet; nothing was sent. First: {first}"
    )


def rollback(
    run: str,
    settings: Settings | None = None,
    *,
    dry_run: bool = False,
    force: bool = False,
    out: str | Path | NoResults | None = None,
    handle_signals: bool = False,
    base_url: str | None = None,
) -> RunResult:
    """Put back the before-state of every segment ``run`` wrote, on the server it wrote to.

    A segment that changed since that run (it no longer holds what the run wrote) is a
    ``conflict`` and left alone unless ``force``. The rollback is itself a journaled run. The
    server is the one recorded in the run's journal, whatever the current config says;
    ``base_url`` (the ``--base-url`` flag), when given, must name that same server.
    """
    settings = settings or load_settings()
    record = read_journal(find_journal(run, settings.journal.dir))
    settings = _settings_for_run_target(record, settings, base_url)
    editset = rollback_edits(record)
    job = _Run(settings, "rollback", dry_run=dry_run, force=force, check_modified=False)
    job.rollback_of = record.run_id
    return job.execute(editset, out=out, handle_signals=handle_signals)


def _settings_for_run_target(
    record: RunRecord, settings: Settings, base_url: str | None
) -> Settings:
    """``settings`` aimed at the server ``record``'s run wrote to (see ``rollback``)."""
    header = record.header
    recorded = header.get("base_url") or header.get("config", {}).get("api.base_url")
    if not recorded:
        return settings.with_overrides({"api.base_url": base_url})
    overrides: dict[str, Any] = {"api.base_url": recorded}
    if str(recorded).strip().lower() == "sandbox":
        db = header.get("sandbox_db") or header.get("config", {}).get("sandbox.db")
        overrides["sandbox.db"] = db
    run_settings = settings.with_overrides(overrides)
    if base_url is not None:
        asked = api_target(settings.with_overrides({"api.base_url": base_url}))
        if asked != api_target(run_settings):
            raise TargetMismatchError(
                f"run {record.run_id} wrote to {_shown_target(run_settings)}, but --base-url "
                f"names {_shown_target(settings.with_overrides({'api.base_url': base_url}))}; "
                "a rollback only goes to the server the run changed. Nothing was sent."
            )
    return run_settings


def _shown_target(settings: Settings) -> str:
    if settings.uses_embedded_sandbox:
        return f"the embedded sandbox ({settings.sandbox.db})"
    return normalise_base_url(settings.api.base_url)


def export(
    settings: Settings | None = None,
    *,
    campaign_ids: list[int] | None = None,
    out: str | Path | None = None,
) -> Path:
    """Write the current segments (optionally of some campaigns) to an editable workbook.

    ``out`` ending in ``.csv`` writes a CSV, with a warning: spreadsheet programs opening a CSV
    turn codes such as ``00760`` into the number 760 (sync then keeps the server's code and
    says so, but the xlsx export is the one to edit).
    """
    settings = settings or load_settings()
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    path = Path(out) if out else Path(settings.output.dir or ".") / f"segments_{stamp}.xlsx"
    check_results_path(path)

    async def fetch_all() -> list[Segment]:
        async with open_client(settings) as client:
            return await list_all(client, campaign_ids)

    segments = asyncio.run(fetch_all())
    if path.suffix.lower() == ".csv":
        zeros = sum(1 for s in segments if s.code and s.code.isdigit() and s.code[0] == "0")
        log.warning(
            "%s is a CSV: Excel and LibreOffice drop leading zeros when they open one "
            "(%s code(s) here start with 0, e.g. 00760 becomes 760). To edit the segments in a "
            "spreadsheet, export to .xlsx instead.",
            path,
            f"{zeros:,}",
            extra={"event": "csv_export_warning", "codes_with_leading_zeros": zeros},
        )
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
        #: refuse the whole sheet, before any PUT, if any row is invalid after the diff
        self.strict = False
        #: rows whose result record the updater already journaled
        self._journaled: set[int] = set()
        self._results_target: Path | None = None

    def execute(
        self, editset: EditSet, *, out: str | Path | NoResults | None, handle_signals: bool
    ) -> RunResult:
        credentials = check_credentials(self.settings)
        self._results_target = self._check_output(editset, out)
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
        target = api_target(self.settings)
        with run_lock(target, result.run_id, self.command, enabled=not self.dry_run):
            journal = None
            if not self.dry_run:
                journal = Journal.create(self.settings.journal.dir, result.run_id)
                result.journal_path = str(journal.path)
                try:
                    journal.write(self._header(result, target))
                except JournalWriteError:
                    journal.close()
                    raise
            self._run(editset, result, journal, credentials, handle_signals)
        return result

    def _run(
        self,
        editset: EditSet,
        result: RunResult,
        journal: Journal | None,
        credentials: Credentials,
        handle_signals: bool,
    ) -> None:
        try:
            try:
                asyncio.run(self._apply(editset, result, journal, credentials, handle_signals))
            finally:
                result.finished_at = datetime.now(UTC)
                if journal is not None:
                    self._close_journal(journal, result)
        finally:
            written = self._write(result)
            result.results_path = str(written) if written else None
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

    def _check_output(self, editset: EditSet, out: str | Path | NoResults | None) -> Path | None:
        """Where the results go, proven writable before the first request (None: nowhere)."""
        if out is False:
            return None
        if out is None:
            kind = (
                "rollback"
                if self.command == "rollback"
                else "preview"
                if self.dry_run
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
            ids = [r.segment_id for r in editset.rows if r.checkable and r.segment_id]
            state = await fetch_current(
                client, ids, concurrency=settings.rate_limit.max_concurrency
            )
            result.fetch_strategy = state.strategy
            result.warnings.extend(state.warnings)
            plan = diff(
                editset, state.segments, force=self.force, check_modified=self.check_modified
            )
            result.warnings.extend(plan.warnings)
            for warning in plan.warnings:
                log.warning("%s", warning, extra={"event": "plan_warning"})
            invalid = [r for r in plan.rows if r.outcome is Outcome.INVALID]
            if self.strict and invalid:
                _refuse_strict(editset.source, len(invalid), invalid[0].error or "")
            if not self.dry_run and plan.to_send:
                updater.progress = Progress(
                    len(plan.to_send),
                    label=self.command,
                    interval_s=settings.logging.progress_interval_s,
                )
                await updater.run(plan)
        except (RunAborted, FatalApiError):
            pass  # the reason is on the client; rows become not_attempted
        except StrictModeError:
            client.stop("--strict refused the sheet because rows are invalid")
            raise
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

    def _header(self, result: RunResult, target: str) -> dict[str, Any]:
        settings = self.settings
        return {
            "type": "header",
            "run_id": result.run_id,
            "command": self.command,
            "rollback_of": self.rollback_of,
            # the server this run writes to: rollback goes back there, whatever the config says
            "base_url": settings.api.base_url,
            "target": target,
            "sandbox_db": str(settings.sandbox.db.expanduser().resolve())
            if settings.uses_embedded_sandbox
            else None,
            "user": current_user(),
            "source": result.source,
            "sheet": result.sheet,
            "sha256": result.sha256,
            "started_at": result.started_at.isoformat(),
            "config": result.config_summary,
        }

    def _close_journal(self, journal: Journal, result: RunResult) -> None:
        """Results of rows the updater did not journal, then the footer; a failure here marks
        the run aborted (its record is incomplete) instead of losing the results file."""
        try:
            if journal.failed is None:
                journal.write_many(
                    result_record(r) for r in result.rows if r.index not in self._journaled
                )
                journal.write(
                    {
                        "type": "footer",
                        "finished_at": (result.finished_at or datetime.now(UTC)).isoformat(),
                        "counts": result.counts(),
                        "aborted": result.aborted,
                        "requests": dict(result.requests),
                    }
                )
        except JournalWriteError as exc:
            log.error("%s", exc, extra={"event": "journal_write_failed"})
            result.aborted = result.aborted or (
                f"the run journal could not be written ({exc.reason}); "
                "its record of this run is incomplete"
            )
        finally:
            journal.close()

    def _write(self, result: RunResult) -> Path | None:
        if self._results_target is None:
            return None
        return write_results(result, self._results_target)


def check_results_path(target: Path) -> Path:
    """Refuse, before anything is sent, a results path that cannot be written.

    The suffix must be ``.xlsx`` or ``.csv`` (the two formats a person can open), the folder
    must exist or be creatable, and a file must be creatable in it: a run whose results would be
    lost after its writes is worse than a run that never starts.
    """
    if target.suffix.lower() not in RESULT_SUFFIXES:
        raise OutputPathError(
            f"The results file {target} must end in .xlsx or .csv; nothing was sent."
        )
    if target.is_dir():
        raise OutputPathError(f"The results path {target} is a folder; nothing was sent.")
    folder = target.parent
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=folder, prefix=".segsync-probe-", delete=True):
            pass
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise OutputPathError(
            f"Cannot write the results to {target} ({reason}); nothing was sent. "
            "Choose another --out or output.dir."
        ) from None
    return target


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
