"""The app's state, one object on the aiohttp app: settings, private folder, uploads, previews
and jobs, and the checks that span them (the run lock, clean-up).

Files: uploads and preview workbooks live in a private folder made for this app instance
(``tempfile.mkdtemp``, mode 0700) and are removed when no longer needed: an upload when its
preview is applied, when its file is refused, or when it is older than ``plan.max_age_hours``
(a plan that old would be refused anyway); the whole folder when the app stops. Results
workbooks and HTML reports of runs are kept (``results_dir``), as the CLI keeps them, so the
runs page can offer them later.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Literal

from aiohttp import web
from filelock import FileLock, Timeout

from segsync.api.session import api_target, normalise_base_url
from segsync.config import Settings
from segsync.engine.runlock import RunLock
from segsync.errors import RunLockedError
from segsync.input.limits import MB
from segsync.private_files import make_dirs
from segsync.secrets import register_secret
from segsync.web.jobs import Job, Jobs
from segsync.web.limits import Slots, folder_size
from segsync.web.options import WebOptions
from segsync.web.sessions import TOKEN_PARAM, Gate, SessionCodec
from segsync.web.uploads import Upload


@dataclass(eq=False)
class Preview:
    """A preview shown to a person: a sheet's plan, or a rollback's dry run."""

    id: str
    kind: Literal["sheet", "rollback"]
    job: Job
    folder: Path
    #: the preview workbook (written by the plan / dry run)
    workbook: Path
    #: what it is about, for people: the file name, or "run <id>"
    subject: str
    #: the API it would write to (the run lock's key) and how people read it
    target: str
    target_label: str
    upload: Upload | None = None
    sheet: str | None = None
    rollback_of: str | None = None
    created: datetime = field(default_factory=lambda: datetime.now(UTC))
    #: the run that applied it (a preview is applied at most once)
    applied: Job | None = None
    #: the approval digest and the plan object it was worked out for (teamstate.preview_digest)
    digest_of: tuple[Any, str] | None = field(default=None, repr=False, compare=False)

    @property
    def in_use(self) -> bool:
        """Its apply is running (and may still be reading its plan file)."""
        return self.applied is not None and self.applied.running

    def remove(self) -> None:
        shutil.rmtree(self.folder, ignore_errors=True)


def target_label(settings: Settings) -> str:
    """The API as people read it: a base URL, or the embedded sandbox and its database."""
    if settings.uses_embedded_sandbox:
        return f"the embedded sandbox ({settings.sandbox.db})"
    return normalise_base_url(settings.api.base_url)


def journal_target_label(header: dict[str, Any]) -> str:
    """Where a journaled run wrote, as people read it."""
    base = str(header.get("base_url") or "")
    if base.strip().lower() == "sandbox":
        return f"the embedded sandbox ({header.get('sandbox_db') or 'sandbox'})"
    return normalise_base_url(base) if base else str(header.get("target") or "unknown")


class WebState:
    """Everything one app instance holds; see the module docstring."""

    def __init__(self, settings: Settings, options: WebOptions) -> None:
        self.settings = settings
        self.options = options
        self.codec = SessionCodec(options.session_hours * 3600)
        idle = options.idle_minutes
        self.gate = Gate(
            options.password,
            options.session_hours * 3600,
            token=options.token,
            idle_s=idle * 60 if idle else None,
        )
        for secret in (self.gate.token, options.password):
            if secret:  # printed once on the terminal; redacted from every log line and error
                register_secret(secret)
        work = options.work_dir
        if work is not None:
            make_dirs(work)
        self.folder = Path(tempfile.mkdtemp(prefix="segsync-web-", dir=work))
        os.chmod(self.folder, 0o700)
        self.uploads_dir = self.folder / "uploads"
        self.previews_dir = self.folder / "previews"
        for folder in (self.uploads_dir, self.previews_dir):
            folder.mkdir(mode=0o700)
        results = options.results_dir or settings.output.dir
        self.results_dir = Path(results or Path(settings.journal.dir) / ".." / "results")
        self.results_dir = Path(os.path.abspath(self.results_dir.expanduser()))
        self.target = api_target(settings)
        self.target_label = target_label(settings)
        self.uploads: dict[str, Upload] = {}
        self.previews: dict[str, Preview] = {}
        self.jobs = Jobs()
        self.preview_slots = Slots(options.max_previews)
        self._lock = threading.Lock()

    def sign_in_url(self, base_url: str) -> str:
        """The address to print: ``base_url`` with the token (just ``base_url`` with a password)."""
        base = base_url.rstrip("/") + "/"
        return f"{base}?{TOKEN_PARAM}={self.gate.token}" if self.gate.token else base

    # -- uploads and previews ---------------------------------------------------------------

    def add_upload(self, upload: Upload) -> None:
        with self._lock:
            self.uploads[upload.id] = upload

    def drop_upload(self, upload: Upload | None) -> None:
        if upload is None:
            return
        with self._lock:
            self.uploads.pop(upload.id, None)
        upload.remove()

    def add_preview(self, preview: Preview) -> None:
        with self._lock:
            self.previews[preview.id] = preview

    def sweep(self, now: datetime | None = None) -> None:
        """Forget previews and uploads older than ``plan.max_age_hours`` (not running ones)."""
        cutoff = (now or datetime.now(UTC)) - timedelta(hours=self.settings.plan.max_age_hours)
        with self._lock:
            old = [p for p in self.previews.values() if p.created < cutoff and not p.job.running]
            for preview in old:
                del self.previews[preview.id]
            stale = [u for u in self.uploads.values() if u.created < cutoff]
            for upload in stale:
                del self.uploads[upload.id]
        for preview in old:
            preview.remove()
        for upload in stale:
            upload.remove()

    def make_room(self, incoming: int) -> bool:
        """Keep the private folder under ``storage_mb`` with ``incoming`` more bytes: remove
        the oldest uploads and previews nothing is using; False if that is not enough."""
        quota = int(self.options.storage_mb * MB)
        used = folder_size(self.folder)
        if used + incoming <= quota:
            return True
        with self._lock:
            candidates: list[Upload | Preview] = [
                *self.uploads.values(),
                *(p for p in self.previews.values() if not p.job.running and not p.in_use),
            ]
        candidates.sort(key=lambda item: item.created)
        for item in candidates:
            size = folder_size(item.folder)
            with self._lock:
                if isinstance(item, Upload):
                    self.uploads.pop(item.id, None)
                else:
                    self.previews.pop(item.id, None)
            item.remove()
            used -= size
            if used + incoming <= quota:
                return True
        return False

    def close(self) -> None:
        """Remove the private folder (uploads, previews); results and journals stay."""
        shutil.rmtree(self.folder, ignore_errors=True)

    # -- the run lock -----------------------------------------------------------------------

    def check_lock(self, target: str) -> None:
        """Refuse (``RunLockedError``, naming the holder) if a run already writes to ``target``.

        A run of this app is named from memory; a run of another process (the CLI) through the
        same OS lock the runs take, probed without taking it over. The run itself takes the
        lock again when it starts, so a run that slips in between is still refused, by the run.
        """
        mine = self.jobs.writing_to(target)
        if mine is not None:
            raise RunLockedError(
                f"A {mine.kind} started from this page by {mine.user} at "
                f"{mine.started_at.astimezone().strftime('%H:%M:%S')} is already writing to "
                f"{target}; only one run at a time may write to one API. Nothing was sent: "
                "wait for it to finish, then apply again."
            )
        lock = RunLock(target)
        probe = FileLock(str(lock.path), timeout=0, mode=0o600, thread_local=False)
        try:
            probe.acquire(timeout=0)
        except Timeout:
            holder = lock.holder()
            who = holder.describe() if holder else "another segsync run"
            raise RunLockedError(
                f"{who} is already writing to {target}; only one run at a time may write to "
                "one API. Nothing was sent: wait for it to finish, then apply again."
            ) from None
        with contextlib.suppress(OSError):
            probe.release()


STATE: web.AppKey[WebState] = web.AppKey("segsync_web_state", WebState)
