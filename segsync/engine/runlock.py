"""One run at a time per API on this machine: an OS file lock per API target, naming its holder.

Two runs writing to one server at once would send every write twice, at twice the allowed
rate, and journal interleaved before-states no rollback can untangle.
"""

from __future__ import annotations

import contextlib
import getpass
import hashlib
import json
import logging
import os
import secrets
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from filelock import FileLock, Timeout

from segsync import private_files
from segsync.errors import RunLockedError

# named as before this module moved into segsync/engine/: JSON logs and log filters use it
log = logging.getLogger("segsync.runlock")


@dataclass(frozen=True)
class Holder:
    """Who holds (or held) a run lock."""

    run_id: str
    pid: int
    command: str
    started_at: str
    user: str
    target: str

    def describe(self) -> str:
        return (
            f"run {self.run_id} ({self.command}, pid {self.pid}, started {self.started_at} "
            f"by {self.user})"
        )


def default_lock_dir() -> Path:
    """``locks`` in this user's private runtime folder (``segsync.private_files``), created
    0700 and checked: a folder someone else made or linked there is refused, never used."""
    return private_files.private_dir(private_files.runtime_dir() / "locks")


def _user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no passwd entry (some containers)
        return f"uid{os.getuid()}" if hasattr(os, "getuid") else "user"


def current_user() -> str:
    """The OS user a run is recorded under (journal, web runs page)."""
    return _user()


class RunLock:
    """The lock for one API target (``acquire``/``release``, or ``run_lock`` as a context).

    ``sync``, ``apply`` and ``rollback`` (CLI and web alike) take it before the first request; a
    dry run takes none. It is an OS file lock (``filelock``: ``flock`` on POSIX, ``LockFileEx``
    on Windows), so the kernel releases it when its process dies, however it dies. Beside it a
    small JSON file names the holder (run id, pid, command, start time, user): a second run
    reads it to say who holds the lock, and a run that finds it left by a process that is gone
    takes the lock over with a warning. Lock files live in this user's private runtime folder
    (0700, checked for owner and mode; see ``segsync.private_files``), one per target (the
    normalised base URL, or ``sandbox:<db path>``), so runs from different folders against one
    server still exclude each other. The holder file is created new (``O_EXCL|O_NOFOLLOW``,
    0600) and read only when it is a regular file of this user, so no one else's text is ever
    shown as a holder.
    """

    def __init__(self, target: str, *, folder: Path | None = None) -> None:
        self.target = target
        self.folder = folder
        self._checked: Path | None = None
        key = hashlib.sha256(target.encode("utf-8")).hexdigest()[:24]
        self._key = key
        self._lock: FileLock | None = None

    @property
    def path(self) -> Path:
        return self._folder() / f"{self._key}.lock"

    @property
    def info_path(self) -> Path:
        return self._folder() / f"{self._key}.json"

    def _folder(self) -> Path:
        """The lock folder, made and checked on first use (``UnsafeFolderError`` if unsafe)."""
        if self._checked is None:
            if self.folder is None:
                self._checked = default_lock_dir()
            else:
                self._checked = private_files.private_dir(self.folder)
        return self._checked

    def file_lock(self) -> FileLock:
        """The OS lock itself (its file created 0600 in the checked folder)."""
        if self._lock is None:
            self._lock = FileLock(str(self.path), timeout=0, mode=0o600, thread_local=False)
        return self._lock

    def acquire(self, run_id: str, command: str) -> None:
        """Take the lock at once, or raise ``RunLockedError`` naming the holder."""
        try:
            self.file_lock().acquire(timeout=0)
        except Timeout:
            holder = self.holder()
            who = holder.describe() if holder else "another segsync run"
            raise RunLockedError(
                f"{who} is already writing to {self.target}; only one run at a time may "
                "write to one API. Nothing was sent: wait for it to finish, then run again."
            ) from None
        previous = self.holder()
        if previous is not None and previous.pid != os.getpid():
            log.warning(
                "took over the run lock for %s left by %s, which ended without releasing it; "
                "check that run with 'segsync runs'",
                self.target,
                previous.describe(),
                extra={"event": "lock_taken_over", "previous_run": previous.run_id},
            )
        self._write_holder(
            Holder(
                run_id=run_id,
                pid=os.getpid(),
                command=command,
                started_at=datetime.now(UTC).isoformat(timespec="seconds"),
                user=_user(),
                target=self.target,
            )
        )

    def release(self) -> None:
        with contextlib.suppress(OSError):
            self.info_path.unlink()
        self.file_lock().release()

    def holder(self) -> Holder | None:
        """The holder named beside the lock (None when nobody is named, it is unreadable, or
        it is not a regular file of this user)."""
        raw = private_files.read_own_file(self.info_path)
        if raw is None:
            return None
        try:
            data: dict[str, Any] = json.loads(raw.decode("utf-8"))
            return Holder(
                run_id=str(data["run_id"]),
                pid=int(data["pid"]),
                command=str(data["command"]),
                started_at=str(data["started_at"]),
                user=str(data["user"]),
                target=str(data["target"]),
            )
        except (ValueError, KeyError, TypeError, AttributeError):
            return None

    def _write_holder(self, holder: Holder) -> None:
        temp = self.info_path.with_name(f".{self._key}.{secrets.token_hex(8)}.tmp")
        try:
            with private_files.create_file(temp, 0o600) as handle:
                handle.write(json.dumps(asdict(holder)).encode("utf-8"))
            os.replace(temp, self.info_path)
        except BaseException:
            with contextlib.suppress(OSError):
                temp.unlink()
            raise


@contextlib.contextmanager
def run_lock(target: str, run_id: str, command: str, *, enabled: bool = True) -> Iterator[None]:
    """Hold the lock for ``target`` for the block (a no-op when not ``enabled``: a dry run)."""
    if not enabled:
        yield
        return
    lock = RunLock(target)
    lock.acquire(run_id, command)
    try:
        yield
    finally:
        lock.release()
