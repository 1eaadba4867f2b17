"""Private scratch folders for streamed workbooks, and the removal of those a killed run left.

A streamed workbook keeps its sheets' rows in scratch files until it is closed, and a run
writes its results workbook while it sends, so a run killed with SIGKILL (or a power cut)
leaves its scratch folder behind: rows of segment data in the temp folder. Each folder is named
after the process that made it (``segsync-xlsx-<pid>-<random>``); making a new one first removes
this user's folders whose process is gone. A reused pid only delays a removal, never causes a
wrong one.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

PREFIX = "segsync-xlsx-"


@contextmanager
def scratch_folder() -> Iterator[str]:
    """A new private folder (mode 0700) that is removed when the block ends, whatever
    happens; orphans of dead processes are removed first."""
    remove_orphans(Path(tempfile.gettempdir()))
    with tempfile.TemporaryDirectory(
        prefix=f"{PREFIX}{os.getpid()}-", ignore_cleanup_errors=True
    ) as folder:
        yield folder


def remove_orphans(parent: Path) -> list[Path]:
    """Remove this user's scratch folders in ``parent`` whose process has exited; return
    them. POSIX only (elsewhere a process cannot be probed this cheaply): a no-op there."""
    if os.name != "posix":
        return []
    removed = []
    with contextlib.suppress(OSError):
        for folder in parent.glob(f"{PREFIX}*-*"):
            pid = _owner_pid(folder)
            if pid is None or _alive(pid):
                continue
            with contextlib.suppress(OSError):
                if folder.is_dir() and folder.lstat().st_uid == os.getuid():
                    shutil.rmtree(folder, ignore_errors=True)
                    removed.append(folder)
    return removed


def _owner_pid(folder: Path) -> int | None:
    head = folder.name.removeprefix(PREFIX).split("-", 1)[0]
    return int(head) if head.isdigit() else None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # e.g. another user's process: alive, and not ours to judge
        return True
    return True
