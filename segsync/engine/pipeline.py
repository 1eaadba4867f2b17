"""The library API: ``sync``, ``plan``, ``apply``, ``validate``, ``export``, ``rollback``, ``runs``.

Each is a plain function returning plain data, usable from a nightly Python job without the CLI
(``segsync/cli`` only parses flags, calls these and prints). ``sync`` is ``plan`` kept in memory
and applied at once; ``apply`` sends a saved plan, refusing what moved since it was made. The dry
run and the real run share every step up to the HTTP write (``segsync.engine.run``).
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import shutil
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from segsync.api.fetch import list_all
from segsync.api.session import api_target, normalise_base_url, open_client
from segsync.config import Settings, load_settings
from segsync.engine.guardrails import Guardrails
from segsync.engine.preflight import check_plan_path, check_results_path
from segsync.engine.run import Run
from segsync.engine.run_options import RunOptions
from segsync.engine.runcontrol import RunControl
from segsync.errors import (
    InputError,
    PlanError,
    RunAborted,
    StrictModeError,
    TargetMismatchError,
)
from segsync.input.editset import EditSet
from segsync.input.loader import edits_from_dataframe, load_edits
from segsync.journal import (
    RETRY_OUTCOMES,
    RunRecord,
    find_journal,
    list_runs,
    read_journal,
    rollback_edits,
    rows_to_retry,
)
from segsync.model import Segment
from segsync.outcomes import RunResult
from segsync.output.export import write_export
from segsync.output.plural import counted
from segsync.output.read_back import read_outcomes
from segsync.plan.planfile import SavedPlan, plan_digest, plan_rows, read_plan, write_plan

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "PlanResult",
    "RunRecord",
    "apply",
    "export",
    "plan",
    "prune_runs",
    "rollback",
    "runs",
    "sync",
    "validate",
]

# named as before this module moved into segsync/engine/: JSON logs and log filters use it
log = logging.getLogger("segsync.pipeline")


def validate(
    edits: str | Path | pd.DataFrame,
    settings: Settings | None = None,
    *,
    sheet: str | None = None,
    name: str | None = None,
) -> EditSet:
    """Load and validate offline; raises ``InputError`` for file-level problems.

    ``name`` is how messages name the file when it is stored under another name (an upload).
    """
    settings = settings or load_settings()
    return _load(edits, settings, sheet, name)


def sync(
    edits: str | Path | pd.DataFrame | EditSet,
    settings: Settings | None = None,
    *,
    dry_run: bool = False,
    strict: bool = False,
    out: str | Path | bool | None = None,
    sheet: str | None = None,
    only_failed: str | Path | None = None,
    force: bool | None = None,
    max_changes: int | None = None,
    max_change_ratio: float | None = None,
    canary: int | None = None,
    report: str | Path | None = None,
    handle_signals: bool = False,
    control: RunControl | None = None,
    actor: str | None = None,
    via: str = "cli",
) -> RunResult:
    """Apply a sheet of segment edits (or preview them with ``dry_run``).

    ``edits`` is a spreadsheet path, a pandas DataFrame with the same columns, or an
    ``EditSet``. ``out`` is the results file (``.xlsx`` or ``.csv``); None writes it next to
    the input (or in ``output.dir``); False writes none; ``report`` adds an HTML report. The
    guardrails default to the config's
    ``guardrails`` section. Raises ``InputError`` (nothing sent) for file-level problems and
    ``strict`` with invalid rows, and ``RunRefused`` when the results cannot be written, another
    run holds the API, or a guardrail trips; row problems are outcomes in the ``RunResult``.
    """
    settings = settings or load_settings()
    editset = _edits(edits, settings, sheet, only_failed)
    if strict:
        _refuse_hard_invalid(editset)
    options = RunOptions(
        command="sync",
        dry_run=dry_run,
        force=settings.sync.force if force is None else force,
        strict=strict,
        guardrails=Guardrails.from_settings(
            settings.guardrails,
            max_changes=max_changes,
            max_change_ratio=max_change_ratio,
            canary=canary,
        ),
        handle_signals=handle_signals,
        progress_bar=control is None,
        actor=actor,
        via=via,
    )
    return Run(settings, options, control).execute(editset, out=out, report=report)


@dataclass
class PlanResult:
    """What ``plan`` decided: the preview's ``RunResult`` and the plan ``apply`` will send."""

    result: RunResult
    plan: SavedPlan

    @property
    def path(self) -> Path | None:
        return self.plan.path


def plan(
    edits: str | Path | pd.DataFrame | EditSet,
    settings: Settings | None = None,
    *,
    out: str | Path | bool | None = None,
    preview: str | Path | bool | None = None,
    strict: bool = False,
    sheet: str | None = None,
    only_failed: str | Path | None = None,
    force: bool | None = None,
    report: str | Path | None = None,
    actor: str | None = None,
    via: str = "cli",
) -> PlanResult:
    """Decide what a sync would send, exactly as a dry run, and save it for ``apply``.

    ``out`` is the plan file (default ``<input stem>_plan_<time>.json`` next to the input);
    ``preview`` the preview workbook (default next to the input, as a dry run's); False writes
    none. The plan holds, per row to send, the full body and the server state it was computed
    from; per other row, its outcome; no secret.
    """
    settings = settings or load_settings()
    editset = _edits(edits, settings, sheet, only_failed)
    if strict:
        _refuse_hard_invalid(editset)
    plan_path = _plan_path(editset, settings, out)
    if plan_path is not None:
        check_plan_path(plan_path)
    options = RunOptions(
        command="plan",
        dry_run=True,
        force=settings.sync.force if force is None else force,
        strict=strict,
        guardrails=Guardrails.from_settings(settings.guardrails),  # a dry run only warns
        progress_bar=False,
        actor=actor,
        via=via,
    )
    run = Run(settings, options)
    result = run.execute(editset, out=preview, report=report, plan_path=plan_path)
    if run.plan is None:  # the server could not be read (token refused, API down)
        raise RunAborted(result.aborted or "the current segments could not be read")
    saved = SavedPlan(
        created_at=result.started_at,
        base_url=settings.api.base_url,
        target=api_target(settings),
        # absolute, so an apply from another folder still finds the sheet's folder for results
        source=str(Path(editset.source).resolve())
        if Path(editset.source).is_file()
        else editset.source,
        sheet=editset.sheet,
        sha256=editset.sha256,
        rows=plan_rows(run.plan),
        # the sheet's own warnings too ("1 hidden row was left out"): the apply's results and
        # report say what the preview said
        warnings=[*editset.warnings, *run.plan.warnings],
        fetch_strategy=result.fetch_strategy,
        server_total=run.state.total if run.state else None,
        cells=dict(editset.cells),
        columns=list(editset.placements),
        campaign_names=dict(result.campaign_names),
    )
    if plan_path is not None:
        write_plan(saved, plan_path)
    return PlanResult(result, saved)


def apply(
    plan: str | Path | SavedPlan,
    settings: Settings | None = None,
    *,
    out: str | Path | bool | None = None,
    force: bool = False,
    max_changes: int | None = None,
    max_change_ratio: float | None = None,
    canary: int | None = None,
    report: str | Path | None = None,
    handle_signals: bool = False,
    control: RunControl | None = None,
    actor: str | None = None,
    approved_by: str | None = None,
    via: str = "cli",
) -> RunResult:
    """Send exactly a saved plan's bodies, to segments still in the state it was made from.

    A segment that moved since is a ``conflict`` and left alone (``force`` sends anyway). A plan
    older than ``plan.max_age_hours`` is refused unless ``force``; a plan for another server,
    or one changed by hand, is always refused. Nothing is sent when anything is refused.
    """
    settings = settings or load_settings()
    saved = plan if isinstance(plan, SavedPlan) else read_plan(plan)
    _check_plan_target(saved, settings)
    max_age = timedelta(hours=settings.plan.max_age_hours)
    if saved.age() > max_age and not force:
        made = saved.created_at.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")
        raise PlanError(
            f"The plan {saved.path or ''} was made at {made}, more than "
            f"{settings.plan.max_age_hours:g} h ago (plan.max_age_hours); the server has likely "
            "moved on. Nothing was sent: make a new plan, or apply with --force."
        )
    options = RunOptions(
        command="apply",
        force=force,
        guardrails=Guardrails.from_settings(
            settings.guardrails,
            max_changes=max_changes,
            max_change_ratio=max_change_ratio,
            canary=canary,
        ),
        handle_signals=handle_signals,
        progress_bar=control is None,
        journal_extra={"plan": str(saved.path) if saved.path else None},
        actor=actor,
        approved_by=approved_by,
        via=via,
        audit_extra={"plan_sha256": plan_digest(saved)},
    )
    return Run(settings, options, control).execute(saved, out=out, report=report)


def rollback(
    run: str,
    settings: Settings | None = None,
    *,
    dry_run: bool = False,
    force: bool = False,
    out: str | Path | bool | None = None,
    handle_signals: bool = False,
    base_url: str | None = None,
    report: str | Path | None = None,
    control: RunControl | None = None,
    actor: str | None = None,
    approved_by: str | None = None,
    via: str = "cli",
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
    options = RunOptions(
        command="rollback",
        dry_run=dry_run,
        force=force,
        check_modified=False,
        rollback_of=record.run_id,
        handle_signals=handle_signals,
        progress_bar=control is None,
        actor=actor,
        approved_by=approved_by,
        via=via,
    )
    return Run(settings, options, control).execute(rollback_edits(record), out=out, report=report)


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
            "(%s here start with 0, e.g. 00760 becomes 760). To edit the segments in a "
            "spreadsheet, export to .xlsx instead.",
            path,
            counted(zeros, "code"),
            extra={"event": "csv_export_warning", "codes_with_leading_zeros": zeros},
        )
    return write_export(segments, path, clear_marker=settings.input.clear_marker)


def runs(settings: Settings | None = None) -> list[RunRecord]:
    """Past runs from the journal folder, newest first."""
    settings = settings or load_settings()
    return list_runs(settings.journal.dir)


def prune_runs(days: float, settings: Settings | None = None) -> list[RunRecord]:
    """Delete runs that started more than ``days`` ago: their journal folder and results file.

    Returns the runs deleted. A run's rollback and ``--only-failed`` need its journal, so prune
    only what is settled.
    """
    settings = settings or load_settings()
    cutoff = datetime.now(UTC) - timedelta(days=days)
    pruned = []
    for record in list_runs(settings.journal.dir):
        started = _started_at(record)
        if started is None or started >= cutoff:
            continue
        results = (record.footer or {}).get("results")
        if results and Path(results).is_file():
            Path(results).unlink()
        shutil.rmtree(record.path.parent, ignore_errors=True)
        pruned.append(record)
    return pruned


def _started_at(record: RunRecord) -> datetime | None:
    try:
        started = datetime.fromisoformat(str(record.header.get("started_at")))
    except ValueError:
        return None
    return started if started.tzinfo else started.replace(tzinfo=UTC)


# -- helpers ------------------------------------------------------------------------------------


def _load(edits: Any, settings: Settings, sheet: str | None, name: str | None = None) -> EditSet:
    if isinstance(edits, str | Path):
        return load_edits(
            Path(edits), settings.input, sheet=sheet or settings.input.sheet, name=name
        )
    if hasattr(edits, "columns") and hasattr(edits, "itertuples"):
        return edits_from_dataframe(edits, settings.input)
    raise InputError(f"Cannot read edits from a {type(edits).__name__}; give a path or DataFrame.")


def _edits(
    edits: Any, settings: Settings, sheet: str | None, only_failed: str | Path | None
) -> EditSet:
    editset = edits if isinstance(edits, EditSet) else _load(edits, settings, sheet)
    if only_failed is not None:
        editset = only_failed_rows(editset, only_failed, settings)
    return editset


def _refuse_hard_invalid(editset: EditSet) -> None:
    """``--strict`` before any request: rows invalid whatever the server holds.

    Rows whose only problems are content rules wait for the server's values (see the differ);
    the run refuses them after reading, still before any write.
    """
    bad = [r for r in editset.rows if r.errors and not r.checkable]
    if bad:
        raise StrictModeError(
            f"{counted(len(bad), 'row')} of {editset.source} {'is' if len(bad) == 1 else 'are'} "
            "invalid and --strict refuses the whole "
            f"sheet; nothing was sent. First: {'; '.join(map(str, bad[0].errors))}"
        )


def only_failed_rows(editset: EditSet, run_or_results: str | Path, settings: Settings) -> EditSet:
    """Keep the rows that were ``failed`` or ``not_attempted`` in a past run.

    ``run_or_results`` is a run id / journal path, or a results workbook/CSV of that run.
    Rows are matched by their row number in the sheet; the same sheet must be given.
    """
    path = Path(run_or_results)
    sha256 = None
    if path.suffix.lower() in {".xlsx", ".csv"} and path.is_file():
        wanted: set[int] | None = {
            row for row, outcome in read_outcomes(path) if outcome in RETRY_OUTCOMES
        }
    else:
        record = read_journal(find_journal(str(run_or_results), settings.journal.dir))
        wanted, sha256 = rows_to_retry(record), record.header.get("sha256")
    kept = [r for r in editset.rows if wanted is None or r.source_row in wanted]
    warnings = [f"--only-failed: {counted(len(kept), 'row')} selected"]
    if sha256 and editset.sha256 and sha256 != editset.sha256:
        warnings.append(
            "--only-failed: this file differs from the one that run read (sha256); rows are "
            "matched by row number, so check that rows were not inserted or sorted since"
        )
    return dataclasses.replace(editset, rows=kept, warnings=[*editset.warnings, *warnings])


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
        overrides["sandbox.db"] = header.get("sandbox_db") or header.get("config", {}).get(
            "sandbox.db"
        )
    run_settings = settings.with_overrides(overrides)
    if base_url is not None:
        asked = settings.with_overrides({"api.base_url": base_url})
        if api_target(asked) != api_target(run_settings):
            raise TargetMismatchError(
                f"run {record.run_id} wrote to {_shown_target(run_settings)}, but --base-url "
                f"names {_shown_target(asked)}; a rollback only goes to the server the run "
                "changed. Nothing was sent."
            )
    return run_settings


def _check_plan_target(saved: SavedPlan, settings: Settings) -> None:
    if saved.target != api_target(settings):
        raise TargetMismatchError(
            f"The plan was made for {saved.target}, but this apply would write to "
            f"{_shown_target(settings)}. Nothing was sent: apply it with the plan's "
            "--base-url, or make a new plan for this server."
        )


def _shown_target(settings: Settings) -> str:
    if settings.uses_embedded_sandbox:
        return f"the embedded sandbox ({settings.sandbox.db})"
    return normalise_base_url(settings.api.base_url)


def _plan_path(editset: EditSet, settings: Settings, out: str | Path | bool | None) -> Path | None:
    if out is False:
        return None
    if out is not None and out is not True:
        return Path(out)
    source = Path(editset.source)
    if source.is_file():
        folder, stem = source.parent, source.stem
    else:
        folder, stem = Path(settings.output.dir or "."), "segsync"
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    candidate = folder / f"{stem}_plan_{stamp}.json"
    n = 2
    while candidate.exists():
        candidate = folder / f"{stem}_plan_{stamp}-{n}.json"
        n += 1
    return candidate
