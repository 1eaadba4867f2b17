"""Files that appear whole or not at all: write to a temp file, fsync, rename, fsync the folder.

Every file segsync writes for people (results, preview, rollback, export, CSV) goes through
``atomic_file``, so a crash or an exception mid-write leaves the old file (or none), never half
a file; a SIGKILL may leave a ``.<name>.<random>.tmp`` behind, never a torn target.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import stat
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO

from segsync.private_files import create_fd, make_dirs


@contextmanager
def atomic_file(target: Path) -> Iterator[IO[bytes]]:
    """A binary file that becomes ``target`` only if the block finishes.

    Hidden temp file in the same folder (so ``os.replace`` is a rename, atomic on POSIX and
    Windows), created new without following a symlink, mode 0600 (``files.file_mode``; the old
    file's mode when replacing one), in folders created 0700 (``files.dir_mode``), fsynced
    before the rename and the folder fsynced after it, so a power cut cannot leave a
    renamed-but-empty file. Any exception removes the temp file and leaves ``target`` alone.
    """
    make_dirs(target.parent)
    temp = target.with_name(f".{target.name}.{secrets.token_hex(8)}.tmp")
    fd = create_fd(temp)
    try:
        with os.fdopen(fd, "wb") as fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
        with contextlib.suppress(OSError):
            os.chmod(temp, stat.S_IMODE(target.stat().st_mode))
        os.replace(temp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            temp.unlink()
        raise
    fsync_folder(target.parent)


def fsync_folder(folder: Path) -> None:
    """Persist a rename in ``folder`` (POSIX); a no-op where folders cannot be opened (Windows)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
