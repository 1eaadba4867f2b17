"""Files only their owner may read: the users file and the audit trail (mode 0600).

Created with ``O_CREAT | O_EXCL | O_NOFOLLOW`` and mode 0600 from the start (never created
readable and tightened later), in a folder made 0700 when segsync makes it. A symlink in the
file's place is refused, never followed: someone who can write the folder must not be able to
point segsync's writes at another file. A whole-file write goes to a new temporary file beside
the target, is fsync'd and renamed over it, so a reader sees the old file or the new one.

Folders and the no-follow flag come from ``segsync.private_files``; the files stay here because
their rules differ from a run's files: always 0600 whatever ``files.file_mode`` says (the users
file holds password hashes), a file another account owns is refused, and a whole file is
replaced atomically rather than created once.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import stat
from pathlib import Path

from segsync.errors import ConfigError
from segsync.private_files import NOFOLLOW as _NOFOLLOW
from segsync.private_files import make_dirs

PRIVATE_MODE = 0o600


class PrivateFileError(ConfigError):
    """A private file cannot be made, read or trusted (symlink, another owner)."""


def ensure_folder(folder: Path) -> None:
    """Make ``folder`` (0700 for the parts segsync makes); existing folders are left as they are."""
    make_dirs(folder, 0o700)


def _check_open(fd: int, path: Path) -> None:
    """Refuse a file another account owns; tighten our own file to 0600 if it was wider."""
    info = os.fstat(fd)
    if not stat.S_ISREG(info.st_mode):
        raise PrivateFileError(f"{path} is not a regular file; segsync will not write to it.")
    if hasattr(os, "getuid") and info.st_uid != os.getuid():
        raise PrivateFileError(
            f"{path} belongs to another account; segsync writes only files of its own account."
        )
    if stat.S_IMODE(info.st_mode) & 0o077:
        os.fchmod(fd, PRIVATE_MODE)


def _symlink(path: Path) -> PrivateFileError:
    return PrivateFileError(f"{path} is a symbolic link; segsync does not follow it.")


def _why(exc: OSError) -> str:
    return exc.strerror or str(exc) or type(exc).__name__


def open_append(path: Path) -> int:
    """A descriptor that appends to ``path`` (created 0600 if new); the caller closes it."""
    ensure_folder(path.parent)
    flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT | _NOFOLLOW | getattr(os, "O_CLOEXEC", 0)
    try:
        fd = os.open(path, flags, PRIVATE_MODE)
    except OSError as exc:
        if path.is_symlink():
            raise _symlink(path) from None
        raise PrivateFileError(f"Cannot open {path} to append to it: {_why(exc)}.") from None
    try:
        _check_open(fd, path)
    except BaseException:
        os.close(fd)
        raise
    return fd


def read_private(path: Path) -> bytes | None:
    """The bytes of ``path`` (None if it does not exist); a symlink is refused."""
    try:
        fd = os.open(path, os.O_RDONLY | _NOFOLLOW | getattr(os, "O_CLOEXEC", 0))
    except FileNotFoundError:
        return None
    except OSError as exc:
        if path.is_symlink():
            raise _symlink(path) from None
        raise PrivateFileError(f"Cannot read {path}: {_why(exc)}.") from None
    with os.fdopen(fd, "rb") as handle:
        return handle.read()


def write_private_atomic(path: Path, data: bytes) -> None:
    """Replace ``path`` with ``data``: a new 0600 file beside it, fsync'd, renamed over it."""
    ensure_folder(path.parent)
    if path.is_symlink():
        raise PrivateFileError(f"{path} is a symbolic link; segsync does not replace it.")
    temp = path.with_name(f".{path.name}.{secrets.token_hex(6)}.tmp")
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | _NOFOLLOW | getattr(os, "O_CLOEXEC", 0)
    try:
        fd = os.open(temp, flags, PRIVATE_MODE)
    except OSError as exc:
        raise PrivateFileError(f"Cannot write {path}: {_why(exc)}.") from None
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temp, path)
    except OSError as exc:
        with contextlib.suppress(OSError):
            temp.unlink()
        raise PrivateFileError(f"Cannot write {path}: {_why(exc)}.") from None
    if os.name != "nt":
        dir_fd = os.open(path.parent, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
        try:
            with contextlib.suppress(OSError):
                os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
