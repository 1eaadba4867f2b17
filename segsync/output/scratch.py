"""Private scratch folders for streamed workbooks, and the removal of those a killed run left.

A streamed workbook keeps its sheets' rows in scratch files until it is closed, and a run
writes its results workbook while it sends, so a run killed with SIGKILL (or a power cut)
leaves its scratch folder behind: rows of segment data in the temp folder. Each folder holds a
lock file its process keeps locked (``flock``) for as long as it uses the folder; making a new
folder first removes this user's folders whose lock nobody holds any more. The kernel drops a
dead process's locks, across containers that share the temp folder too (where process ids
would mislead). Housekeeping only: nothing here may stop a workbook from being written.
POSIX; elsewhere folders are not shared between processes' lifetimes this way and none are
removed.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import stat
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

try:
    import fcntl
except ImportError:  # Windows
    fcntl = None  # type: ignore[assignment]

#: ``segsync-xlsx-<pid>-<random>``: the pid only says who made it (for a person looking).
PREFIX = "segsync-xlsx-"
LOCK_NAME = ".owner.lock"


@contextmanager
def scratch_folder() -> Iterator[str]:
    """A new private folder (mode 0700), locked while in use and removed when the block
    ends, whatever happens; abandoned ones are removed first."""
    with contextlib.suppress(Exception):
        remove_orphans(Path(tempfile.gettempdir()))
    with tempfile.TemporaryDirectory(
        prefix=f"{PREFIX}{os.getpid()}-", ignore_cleanup_errors=True
    ) as folder:
        lock = _hold(Path(folder))
        try:
            yield folder
        finally:
            if lock is not None:
                os.close(lock)


def remove_orphans(parent: Path) -> list[Path]:
    """Remove this user's scratch folders in ``parent`` whose lock nobody holds; return them.
    A folder without its lock file yet (being made right now) is left alone."""
    if fcntl is None:
        return []
    removed = []
    for folder in parent.glob(f"{PREFIX}*"):
        with contextlib.suppress(OSError):
            info = folder.lstat()  # a symlink is not followed, nor removed
            if not stat.S_ISDIR(info.st_mode) or info.st_uid != os.getuid():
                continue
            fd = os.open(folder / LOCK_NAME, os.O_RDONLY | os.O_NOFOLLOW)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                continue  # in use
            finally:
                os.close(fd)  # releases the lock if taken: the folder goes next
            shutil.rmtree(folder, ignore_errors=True)
            removed.append(folder)
    return removed


def _hold(folder: Path) -> int | None:
    """Lock the folder's lock file and keep it open (None: no locking here). The file is
    locked under another name and then renamed, so that no one can find it unlocked."""
    if fcntl is None:
        return None
    making = folder / f"{LOCK_NAME}.new"
    try:
        fd = os.open(making, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except OSError:
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        os.replace(making, folder / LOCK_NAME)
    except OSError:
        os.close(fd)
        return None
    return fd
