"""The progress, done and runs pages, the downloads, and the start of a rollback's preview.

4. ``/jobs/<id>`` — while a run goes: rows done of total, rate, time left, retries and 429s
   (``static/progress.js`` polls ``/jobs/<id>/status`` and reloads the page when the run ends;
   a reload reattaches, since the run lives in the server), and Stop: the same graceful stop as
   Ctrl-C. Once it ends, the same address is the done page: the outcome, the run id, problems,
   changes and downloads of the results workbook and the HTML report.
6. ``/runs`` — past runs from the journal: time (with its zone), file, counts in words, the OS
   user who started it, its downloads, and Roll back, which previews the rollback before
   anything is sent; a run a finished rollback put back is marked so, without Roll back.

Downloads are plain GET links; a run's files are found from its journal (the results path its
footer records, the HTML report beside it), never from a path in the URL.
"""

from __future__ import annotations

import asyncio
import dataclasses
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aiohttp import web

from segsync.engine import pipeline
from segsync.engine.runlock import current_user
from segsync.errors import JournalError
from segsync.journal import JOURNAL_NAME, RunRecord, read_journal
from segsync.outcomes import PROBLEM_OUTCOMES
from segsync.web.jobs import Job, JobKind, JobState
from segsync.web.preview_page import steps_for
from segsync.web.responses import download, download_name, page, refusal, see_other
from segsync.web.state import STATE, Preview, WebState, journal_target_label
from segsync.web.teamstate import run_people
from segsync.web.upload_page import busy_sentence, preview_folder

#: what a run id in a URL may look like (a folder name in the journal folder, nothing else)
RUN_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,99}")
_KIND_TITLES = {JobKind.APPLY: "Apply", JobKind.ROLLBACK: "Rollback"}


# -- 4 and 5. progress, then done -----------------------------------------------------------------


def _job(request: web.Request) -> Job:
    job = request.app[STATE].jobs.get(request.match_info["jid"])
    if job is None or not job.kind.writes:
        raise web.HTTPNotFound
    return job


def status_text(job: Job, status: dict[str, Any]) -> str:
    """The one line that says where the run is (``finished`` / ``aborted`` / ...)."""
    if job.state is JobState.RUNNING:
        if status.get("stopping"):
            return "stopping: finishing the requests in flight, sending nothing new"
        if status.get("phase") == "sending":
            return f"running: {status['done']:,} of {status['total']:,} rows sent"
        return "running: reading the current state of the segments"
    if job.state is JobState.FINISHED and job.view is not None:
        problems = job.view.exit_code != 0
        return "finished" + (": some rows need attention" if problems else ": all done")
    if job.state is JobState.ABORTED:
        reason = job.result.aborted if job.result is not None else job.error
        return f"aborted: {reason}"
    if job.state is JobState.REFUSED:
        return f"refused, nothing was sent: {job.error}"
    return f"failed: {job.error}"


def _status_class(job: Job) -> str:
    """The colour of the status line: a finished run with problem rows is not all green."""
    if job.state is JobState.FINISHED and job.view is not None and job.view.exit_code:
        return "state-attention"
    return f"state-{job.state.value}"


async def job_page(request: web.Request) -> web.StreamResponse:
    state = request.app[STATE]
    job = _job(request)
    status = job.status()
    view = job.view if not job.running else None
    run_id = job.run_id
    files = await asyncio.get_running_loop().run_in_executor(None, _run_files, state, run_id)
    return await page(
        request,
        "job.html",
        step=4 if job.running else 5,
        steps=steps_for("rollback" if job.kind is JobKind.ROLLBACK else "sheet"),
        job=job,
        title=f"{_KIND_TITLES.get(job.kind, 'Run')} {job.state.value}",
        progress=status,
        status_text=status_text(job, status),
        status_class=_status_class(job),
        view=view,
        run_id=run_id,
        files=files,
        poll_ms=int(state.options.poll_interval_s * 1000),
    )


async def job_status(request: web.Request) -> web.StreamResponse:
    job = _job(request)
    data = job.status()
    data["text"] = status_text(job, data)
    return web.json_response(data)


async def stop_job(request: web.Request) -> web.StreamResponse:
    job = _job(request)
    if job.running:
        who = run_people(request).get("actor") or current_user()
        job.control.stop(f"stopped from the web page by {who}")
    return see_other(f"/jobs/{job.id}")


# -- 6. runs ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class RunRow:
    """One past run as the runs page lists it."""

    run_id: str
    started: str
    command: str
    source: str
    counts: dict[str, int]
    user: str
    finished: bool
    approved_by: str | None
    target_label: str
    rollback_of: str | None
    has_results: bool
    has_report: bool
    #: a run of this app still going (its progress page)
    job: Job | None
    #: the finished rollback that put this run's changes back (its run id), if any
    rolled_back_by: str | None = None

    @property
    def can_roll_back(self) -> bool:
        wrote = any(k in self.counts for k in ("updated", "updated_with_differences"))
        return self.job is None and self.rolled_back_by is None and (wrote or not self.finished)

    @property
    def what(self) -> str:
        """``Sync``, ``Apply``, ``Rollback``: the command in a word."""
        return self.command.replace("_", " ").capitalize()

    @property
    def outcomes(self) -> list[tuple[int, str, bool]]:
        """(count, outcome in words, needs a person) for each outcome the run has rows of."""
        return [
            (count, RUN_OUTCOME_WORDS.get(outcome, outcome.replace("_", " ")), _is_problem(outcome))
            for outcome, count in self.counts.items()
        ]


#: an outcome in a word or two, as a column of counts reads it (``3 not found``)
RUN_OUTCOME_WORDS = {
    "updated": "updated",
    "updated_with_differences": "stored differently",
    "would_update": "would update",
    "unchanged": "unchanged",
    "duplicate": "repeated",
    "invalid": "invalid",
    "not_found": "not found",
    "conflict": "changed by someone else",
    "failed": "failed",
    "not_attempted": "not sent",
}


def _is_problem(outcome: str) -> bool:
    return outcome in {o.value for o in PROBLEM_OUTCOMES}


def _run_files(state: WebState, run_id: str | None) -> dict[str, bool]:
    if run_id is None:
        return {"results": False, "report": False}
    record = _record(state, run_id)
    results = _results_path(record) if record else None
    return {
        "results": results is not None,
        "report": results is not None and results.with_suffix(".html").is_file(),
    }


def _record(state: WebState, run_id: str) -> RunRecord | None:
    if not RUN_ID.fullmatch(run_id):
        return None
    path = Path(state.settings.journal.dir) / run_id / JOURNAL_NAME
    try:
        return read_journal(path)
    except (JournalError, OSError, KeyError):
        return None


def _results_path(record: RunRecord) -> Path | None:
    value = (record.footer or {}).get("results")
    if not value:
        return None
    path = Path(str(value))
    return path if path.suffix.lower() in (".xlsx", ".csv") and path.is_file() else None


def _rows(state: WebState) -> list[RunRow]:
    running = {j.run_id: j for j in state.jobs.active() if j.run_id}
    rows = []
    for record in pipeline.runs(state.settings):
        header = record.header
        results = _results_path(record)
        rows.append(
            RunRow(
                run_id=record.run_id,
                started=str(header.get("started_at") or ""),
                command=str(header.get("command") or "sync"),
                source=str(header.get("source") or ""),
                counts=record.counts(),
                user=str(header.get("actor") or header.get("user") or "unknown"),
                finished=record.finished,
                approved_by=header.get("approved_by"),
                target_label=journal_target_label(header),
                rollback_of=header.get("rollback_of"),
                has_results=results is not None,
                has_report=results is not None and results.with_suffix(".html").is_file(),
                job=running.get(record.run_id),
            )
        )
    # a run is marked rolled back once a rollback of it finished (the newest one is named)
    undone: dict[str, str] = {}
    for row in rows:  # newest first
        if row.rollback_of and row.finished and row.rollback_of not in undone:
            undone[str(row.rollback_of)] = row.run_id
    return [dataclasses.replace(r, rolled_back_by=undone.get(r.run_id)) for r in rows]


async def runs_page(request: web.Request) -> web.StreamResponse:
    state = request.app[STATE]
    state.sweep()
    rows = await asyncio.get_running_loop().run_in_executor(None, _rows, state)
    return await page(request, "runs.html", rows=rows, journal_dir=state.settings.journal.dir)


async def start_rollback_preview(request: web.Request) -> web.StreamResponse:
    """Roll back: first its own preview (a dry run), then the same confirmation as an apply."""
    state = request.app[STATE]
    run_id = request.match_info["run_id"]
    loop = asyncio.get_running_loop()
    record = await loop.run_in_executor(None, _record, state, run_id)
    if record is None:
        raise web.HTTPNotFound
    slot = state.preview_slots.take()
    if slot is None:
        return await refusal(request, 503, "Busy", busy_sentence(state))
    folder, workbook = preview_folder(state)
    settings = state.settings

    who = run_people(request)

    def work(_control: Any) -> Any:
        return pipeline.rollback(run_id, settings, dry_run=True, out=workbook, **who)

    subject = f"run {run_id}"
    release = slot.hand_over()
    job = state.jobs.start(JobKind.ROLLBACK_PREVIEW, subject, work, on_done=lambda _job: release())
    header = record.header
    state.add_preview(
        Preview(
            id=folder.name,
            kind="rollback",
            job=job,
            folder=folder,
            workbook=workbook,
            subject=subject,
            target=str(header.get("target") or state.target),
            target_label=journal_target_label(header),
            rollback_of=run_id,
        )
    )
    return see_other(f"/previews/{folder.name}")


# -- downloads ---------------------------------------------------------------------------------


async def run_results(request: web.Request) -> web.StreamResponse:
    return await _run_download(request, report=False)


async def run_report(request: web.Request) -> web.StreamResponse:
    return await _run_download(request, report=True)


async def _run_download(request: web.Request, *, report: bool) -> web.StreamResponse:
    state = request.app[STATE]
    run_id = request.match_info["run_id"]
    loop = asyncio.get_running_loop()
    record = await loop.run_in_executor(None, _record, state, run_id)
    results = _results_path(record) if record is not None else None
    if record is None or results is None:
        raise web.HTTPNotFound
    path = results.with_suffix(".html") if report else results
    if not path.is_file():
        raise web.HTTPNotFound
    command = str(record.header.get("command") or "sync")
    kind = "report" if report else ("rollback" if command == "rollback" else "results")
    source = str(record.header.get("source") or "segsync")
    subject = source if command != "rollback" else f"rollback_{record.header.get('rollback_of')}"
    return download(path, download_name(subject, kind, path))
