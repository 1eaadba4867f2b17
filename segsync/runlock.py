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
import tempfile
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from filelock import FileLock, Timeout

from segsync.errors import RunLockedError

log = logging.getLogger(__name__)


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
    """A per-user folder, so two users of one machine cannot block each other's files."""
    return Path(tempfile.gettempdir()) / f"segsync-{_user()}" / "locks"


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
    takes the lock over with a warning. Lock files live in a per-user folder under the system
    temp directory, one per target (the normalised base URL, or ``sandbox:<db path>``), so runs
    from different folders against one server still exclude each other.
    """

    def __init__(self, target: str, *, folder: Path | None = None) -> None:
        self.target = target
        folder = folder or default_lock_dir()
        key = hashlib.sha256(target.encode("utf-8")).hexdigest()[:24]
        self.path = folder / f"{key}.lock"
        self.info_path = folder / f"{key}.json"
        self._lock = FileLock(str(self.path), timeout=0, thread_local=False)

    def acquire(self, run_id: str, command: str) -> None:
        """Take the lock at once, or raise ``RunLockedError`` naming the holder."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self._lock.acquire(timeout=0)
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
        self._lock.release()

    def holder(self) -> Holder | None:
        """The holder named beside the lock (None when nobody is named, or it is unreadable)."""
        try:
            data: dict[str, Any] = json.loads(self.info_path.read_text(encoding="utf-8"))
            return Holder(**{k: data[k] for k in Holder.__dataclass_fields__})
        except (OSError, ValueError, KeyError, TypeError):
            return None

    def _write_holder(self, holder: Holder) -> None:
        temp = self.info_path.with_suffix(f".{os.getpid()}.tmp")
        temp.write_text(json.dumps(asdict(holder)), encoding="utf-8")
        os.replace(temp, self.info_path)


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
