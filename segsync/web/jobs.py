"""Plans, applies and rollbacks started from the page, each in its own worker thread.

The library runs a run with ``asyncio.run`` of its own, so a run cannot share the web server's
event loop: each job gets a thread and a ``RunControl``. The page polls ``Job.status()`` (the
run's own ``RunControl.status()`` plus the job's state), Stop calls ``RunControl.stop`` (the
same graceful stop as Ctrl-C: requests in flight finish, nothing new is sent), and when the
thread ends the job holds the ``RunResult`` (and, for a plan, the ``SavedPlan``) or the one
sentence saying why nothing was sent.

States: ``running``; then ``finished`` (every row has an outcome), ``aborted`` (the run
stopped early: Stop, a refused token, the circuit breaker), ``refused`` (nothing was sent:
the lock was held, a guardrail tripped, the input or config was refused) or ``failed`` (an
unexpected error; the log has the details).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import dataclasses
import gc
import logging
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from segsync.engine.pipeline import PlanResult
from segsync.engine.runcontrol import RunControl
from segsync.engine.runlock import current_user
from segsync.errors import ConfigError, InputError, RunAborted, RunRefused, SegsyncError
from segsync.outcomes import Outcome, RunResult
from segsync.plan.planfile import SavedPlan, canonical_sha256
from segsync.secrets import redact
from segsync.web.render import web_view

log = logging.getLogger("segsync.web")

#: jobs kept in memory after they end (older ones are forgotten; the journal keeps runs)
KEEP_FINISHED = 200


class JobState(StrEnum):
    RUNNING = "running"
    FINISHED = "finished"
    ABORTED = "aborted"
    REFUSED = "refused"
    FAILED = "failed"


class JobKind(StrEnum):
    PLAN = "plan"
    APPLY = "apply"
    ROLLBACK_PREVIEW = "rollback-preview"
    ROLLBACK = "rollback"

    @property
    def writes(self) -> bool:
        return self in (JobKind.APPLY, JobKind.ROLLBACK)


Work = Callable[[RunControl], RunResult | PlanResult]


@dataclass(eq=False)
class Job:
    """One plan, apply or rollback started from the page."""

    id: str
    kind: JobKind
    #: what it works on, for people: the file name, or "run <id>"
    subject: str
    #: the API it writes to (the run lock's key); None for a job that does not write
    target: str | None
    control: RunControl = field(default_factory=RunControl)
    user: str = field(default_factory=current_user)
    started_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    state: JobState = JobState.RUNNING
    result: RunResult | None = None
    plan: SavedPlan | None = None
    #: what the page shows of the result (``render.web_view``: counts whole, lists capped),
    #: built once in the job's own thread when it ends, never on the event loop
    view: Any = None
    #: a rollback preview's planned changes as a sha256 (``planned_changes_sha256``), worked
    #: out before its rows are let go: what a team's approval of it is bound to
    changes_sha256: str | None = None
    #: why nothing (more) was sent, for ``refused`` and ``failed``
    error: str | None = None
    done: threading.Event = field(default_factory=threading.Event)
    thread: threading.Thread | None = None

    @property
    def running(self) -> bool:
        return self.state is JobState.RUNNING

    @property
    def run_id(self) -> str | None:
        """The journal's run id (None for a preview or a run refused before it started)."""
        result = self.result
        if result is None or result.dry_run or not result.journal_path:
            return None
        return result.run_id

    def status(self) -> dict[str, Any]:
        """What the progress page shows; JSON-ready, no secret, no path."""
        progress = self.control.status()
        return {
            "state": self.state.value,
            "kind": self.kind.value,
            "phase": progress.get("phase", "starting"),
            "done": progress.get("done", 0),
            "total": progress.get("total", 0),
            "rate": round(float(progress.get("rate") or 0.0), 2),
            "eta_s": _round(progress.get("eta_s")),
            "retries": progress.get("retries", 0),
            "throttled": progress.get("throttled", 0),
            "requests": progress.get("requests", 0),
            "stopping": redact(str(progress["stopping"])) if progress.get("stopping") else None,
            "run_id": self.run_id,
        }


def give_back_memory() -> None:
    """Return the freed rows' memory to the OS (glibc keeps freed heap otherwise: a server
    that previewed a million rows would hold gigabytes it no longer uses)."""
    gc.collect()
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        libc.malloc_trim(0)
    except (OSError, AttributeError):  # not glibc (macOS, Windows, musl): nothing to do
        pass


def _round(value: Any) -> float | None:
    return None if value is None else round(float(value), 1)


class Jobs:
    """Every job this app started; starts them, finds them, stops them at shutdown."""

    def __init__(self) -> None:
        self._jobs: dict[str, Job] = {}
        self._lock = threading.Lock()

    def get(self, job_id: str) -> Job | None:
        return self._jobs.get(job_id)

    def active(self) -> list[Job]:
        return [j for j in list(self._jobs.values()) if j.running]

    def writing_to(self, target: str) -> Job | None:
        """A running job of this app that writes (or is about to write) to ``target``."""
        for job in self.active():
            if job.kind.writes and job.target == target:
                return job
        return None

    def start(
        self,
        kind: JobKind,
        subject: str,
        work: Work,
        *,
        target: str | None = None,
        on_done: Callable[[Job], None] | None = None,
    ) -> Job:
        """Start ``work(control)`` in a thread; returns at once."""
        job = Job(secrets.token_urlsafe(12), kind, subject, target)
        thread = threading.Thread(
            target=self._run, args=(job, work, on_done), name=f"segsync-web-{kind}", daemon=True
        )
        job.thread = thread
        with self._lock:
            self._jobs[job.id] = job
            self._forget_old()
        thread.start()
        return job

    def _forget_old(self) -> None:
        ended = [j for j in self._jobs.values() if not j.running]
        for job in ended[: max(0, len(ended) - KEEP_FINISHED)]:
            del self._jobs[job.id]

    def _run(self, job: Job, work: Work, on_done: Callable[[Job], None] | None) -> None:
        try:
            outcome = work(job.control)
            result = outcome.result if isinstance(outcome, PlanResult) else outcome
            aborted = bool(result.aborted)
            if isinstance(outcome, PlanResult):
                plan = outcome.plan
                # a plan saved to a file keeps its rows there (the apply reads it back)
                job.plan = plan if plan.path is None else dataclasses.replace(plan, rows=[])
                del plan
            job.result = result
            if job.kind is JobKind.ROLLBACK_PREVIEW:
                job.changes_sha256 = planned_changes_sha256(result)
            try:
                job.view = web_view(result)
            except Exception:  # a bug in the page's view must not hide what the run did
                log.exception("the page's view of web job %s could not be built", job.id)
            else:
                # the rows live on in the files (results, preview workbook, journal) and, for
                # a preview, in its plan; the page needs only the view: a million rows are not
                # held per job for as long as the job is remembered
                job.result = dataclasses.replace(result, rows=[])
                del result, outcome
                give_back_memory()
            job.state = JobState.ABORTED if aborted else JobState.FINISHED
        except (RunRefused, InputError, ConfigError) as exc:
            job.error, job.state = redact(str(exc)), JobState.REFUSED
        except RunAborted as exc:
            job.error, job.state = redact(exc.reason), JobState.ABORTED
        except SegsyncError as exc:
            job.error, job.state = redact(str(exc)), JobState.FAILED
        except Exception as exc:  # a bug: one sentence for the page, the traceback for the log
            log.exception("web job %s (%s) failed", job.id, job.kind)
            job.error = redact(f"internal error ({type(exc).__name__}: {exc})")
            job.state = JobState.FAILED
        finally:
            if on_done is not None:
                try:
                    on_done(job)
                except Exception:
                    log.exception("cleaning up after web job %s failed", job.id)
            job.done.set()

    def stop_all(self, reason: str) -> list[Job]:
        """Gracefully stop every running job (the server is stopping); returns them."""
        running = self.active()
        for job in running:
            job.control.stop(reason)
        return running

    def join(self, jobs: list[Job], timeout_s: float) -> bool:
        """Wait for ``jobs`` to end; False if one is still running after ``timeout_s``."""
        deadline = time.monotonic() + timeout_s
        for job in jobs:
            left = deadline - time.monotonic()
            if left <= 0 or not job.done.wait(left):
                return False
        return True


def planned_changes_sha256(result: RunResult) -> str:
    """sha256 of the segments ``result`` would update and how (id, field, before, after)."""
    rows = [
        [r.segment_id, [[c.field, str(c.before), str(c.after)] for c in r.changes]]
        for r in result.rows
        if r.outcome is Outcome.WOULD_UPDATE
    ]
    return canonical_sha256({"rows": rows})
