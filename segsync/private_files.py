"""Files and folders only their owner can read: what every run writes, created without
following a symlink, and the per-user runtime folder checked before anything goes in it.

Journals hold the before and after values of every segment a run changed, results and reports
the same, plans the bodies to send, logs the addresses of the API: on a machine with other
accounts none of that is anyone else's business. So every file segsync creates is opened with
``O_CREAT | O_EXCL | O_NOFOLLOW`` (a name someone planted, a symlink included, is an error, never
a file written elsewhere) and mode 0600, every folder it creates is made 0700, whatever the
umask. The ``files:`` section of the config may widen both (``files.file_mode: "0640"``), for
a team that shares a results folder through a group.

The run lock lives in a folder of its own per user: ``$XDG_RUNTIME_DIR/segsync`` where the
session has one (systemd makes it 0700 for the user, and removes it at logout), else
``<temp>/segsync-<uid>``. A shared temp folder lets anyone create that name first, as a folder
or a symlink, so after ``mkdir`` the folder is checked (``lstat``: a real folder, owned by this
uid, no group or other permission bits), and a folder that fails is refused with a sentence
naming it, never used or "repaired".

Strict files (``strict=True``: the team's users file, which holds password hashes, and the
audit trail) are always 0600 whatever ``files.file_mode`` says, in folders made 0700; one that
another account owns, or that is not a regular file, is refused with ``PrivateFileError``, and
one of our own that is wider than 0600 is narrowed. ``replace_file`` writes a whole file as a
new file beside the target, fsync'd and renamed over it, so a reader sees the old file or the
new one, never half of either.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import stat
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

from segsync.errors import ConfigError, UnsafeFolderError

#: mode of every file segsync creates (``files.file_mode`` changes it for the process)
DEFAULT_FILE_MODE = 0o600
#: mode of every folder segsync creates (``files.dir_mode``)
DEFAULT_DIR_MODE = 0o700
#: ``O_NOFOLLOW`` where the OS has it (not on Windows, where symlinks need privileges anyway)
NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
POSIX = os.name == "posix"
#: mode of a strict file (users file, audit trail), whatever ``files.file_mode`` says
STRICT_MODE = 0o600
_CLOEXEC = getattr(os, "O_CLOEXEC", 0)


class PrivateFileError(ConfigError):
    """A strict file cannot be made, read or trusted (a symlink, another owner, the OS said no)."""


class Modes:
    """The modes in force for this process (set once from the config by ``configure``)."""

    file = DEFAULT_FILE_MODE
    dir = DEFAULT_DIR_MODE


def configure(file_mode: int | None = None, dir_mode: int | None = None) -> None:
    """Use the config's ``files.file_mode`` / ``files.dir_mode`` for what is created from now."""
    Modes.file = DEFAULT_FILE_MODE if file_mode is None else file_mode
    Modes.dir = DEFAULT_DIR_MODE if dir_mode is None else dir_mode


def uid() -> int | None:
    """This process's effective uid (None where the OS has none: Windows)."""
    return os.geteuid() if hasattr(os, "geteuid") else None


# -- folders -------------------------------------------------------------------------------------


def make_dirs(folder: Path, mode: int | None = None) -> Path:
    """``mkdir -p`` with ``mode`` (default ``files.dir_mode``) for every folder it creates.

    Folders that exist already are left as they are: the person chose them (``--out``,
    ``journal.dir``) and may have shared them on purpose. ``mkdir`` applies the umask, so the
    mode of each new folder is set again afterwards (only ever narrower than asked for).
    """
    mode = Modes.dir if mode is None else mode
    folder = Path(folder)
    missing: list[Path] = []
    probe = folder
    while not probe.exists() and probe != probe.parent:
        missing.append(probe)
        probe = probe.parent
    for new in reversed(missing):
        try:
            new.mkdir(mode=mode)
        except FileExistsError:
            continue  # made by a concurrent run between the check and here
        if POSIX:
            with contextlib.suppress(OSError):
                os.chmod(new, mode, follow_symlinks=False)
    if not folder.is_dir():
        folder.mkdir(parents=True, exist_ok=True)  # raises the OS's own error
    return folder


def private_dir(folder: Path) -> Path:
    """Create ``folder`` (0700) if missing, then refuse it unless only this user can use it.

    ``UnsafeFolderError`` names the folder and what is wrong: a symlink, not a folder, owned by
    another account, or open to group or others. Nothing is changed in a refused folder.
    """
    folder = Path(folder)
    with contextlib.suppress(FileExistsError):
        folder.mkdir(mode=0o700)
    check_private_dir(folder)
    return folder


def check_private_dir(folder: Path) -> None:
    """Raise ``UnsafeFolderError`` unless ``folder`` is a real folder only this user can use."""
    if not POSIX:
        return
    try:
        info = os.lstat(folder)
    except OSError as exc:
        raise UnsafeFolderError(
            f"segsync cannot use the folder {folder} for its private files "
            f"({exc.strerror or exc}); nothing was sent.",
            folder=folder,
        ) from None
    why = _unsafe(info)
    if why is not None:
        raise UnsafeFolderError(
            f"segsync will not keep its private files in {folder}: {why}. Another account may "
            f"have made it to read or block your runs; nothing was sent. Remove it (or ask an "
            "administrator to), or set XDG_RUNTIME_DIR to a folder only you can use.",
            folder=folder,
        )


def _unsafe(info: os.stat_result) -> str | None:
    if stat.S_ISLNK(info.st_mode):
        return "it is a symbolic link"
    if not stat.S_ISDIR(info.st_mode):
        return "it is not a folder"
    if info.st_uid != uid():
        return f"it belongs to another account (uid {info.st_uid})"
    if info.st_mode & 0o077:
        return f"others may use it (mode {stat.S_IMODE(info.st_mode):04o}, not 0700)"
    return None


def runtime_dir() -> Path:
    """This user's private folder for run locks: ``$XDG_RUNTIME_DIR/segsync``, else
    ``<temp>/segsync-<uid>`` (checked either way; see the module docstring)."""
    xdg = os.environ.get("XDG_RUNTIME_DIR", "").strip()
    if xdg and os.path.isabs(xdg) and POSIX:
        base = Path(xdg)
        with contextlib.suppress(OSError):
            if _unsafe(os.lstat(base)) is None:
                return private_dir(base / "segsync")
    name = f"segsync-{uid()}" if uid() is not None else "segsync"
    return private_dir(Path(tempfile.gettempdir()) / name)


# -- files ---------------------------------------------------------------------------------------


def create_fd(path: Path, mode: int | None = None, *, read: bool = False) -> int:
    """A new file ``path`` (``O_EXCL | O_NOFOLLOW``, ``mode`` default ``files.file_mode``)."""
    mode = Modes.file if mode is None else mode
    flags = os.O_CREAT | os.O_EXCL | NOFOLLOW | getattr(os, "O_BINARY", 0)
    flags |= os.O_RDWR if read else os.O_WRONLY
    fd = os.open(path, flags, mode)
    if POSIX:  # the umask may have narrowed it; never wider than asked
        with contextlib.suppress(OSError):
            os.fchmod(fd, mode)
    return fd


@contextlib.contextmanager
def create_file(path: Path, mode: int | None = None, **text: Any) -> Iterator[IO[Any]]:
    """``create_fd`` as a file object: binary, or text when ``encoding`` is given."""
    fd = create_fd(path, mode)
    try:
        handle = os.fdopen(fd, "w" if text.get("encoding") else "wb", **text)
    except BaseException:
        os.close(fd)
        raise
    with handle:
        yield handle


def append_fd(path: Path, mode: int | None = None, *, strict: bool = False) -> int:
    """``path`` opened to append (created with ``mode`` if missing), never through a symlink.

    For the log file, which several runs share on purpose; ``strict`` for the audit trail
    (0600, its folder made 0700, checked as the module docstring says; the caller closes it).
    """
    if not strict:
        mode = Modes.file if mode is None else mode
        return os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | NOFOLLOW, mode)
    make_dirs(path.parent, 0o700)
    flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT | NOFOLLOW | _CLOEXEC
    try:
        fd = os.open(path, flags, STRICT_MODE)
    except OSError as exc:
        if path.is_symlink():
            raise _symlink(path) from None
        raise PrivateFileError(f"Cannot open {path} to append to it: {_why(exc)}.") from None
    try:
        _check_strict(fd, path)
    except BaseException:
        os.close(fd)
        raise
    return fd


def read_strict(path: Path) -> bytes | None:
    """The whole of the strict file ``path`` (None if it does not exist); a symlink is refused."""
    fd = open_strict(path)
    if fd is None:
        return None
    with os.fdopen(fd, "rb") as handle:
        return handle.read()


def open_strict(path: Path) -> int | None:
    """A descriptor to read the strict file ``path`` (None if it does not exist), for a reader
    that wants only part of it; a symlink is refused. The caller closes it."""
    try:
        return os.open(path, os.O_RDONLY | NOFOLLOW | _CLOEXEC)
    except FileNotFoundError:
        return None
    except OSError as exc:
        if path.is_symlink():
            raise _symlink(path) from None
        raise PrivateFileError(f"Cannot read {path}: {_why(exc)}.") from None


def replace_file(path: Path, data: bytes, *, strict: bool = False) -> None:
    """Make ``path`` hold ``data`` at once: a new file beside it (0600 when ``strict``, else
    ``files.file_mode``), fsync'd, renamed over it, the folder fsync'd. A symlink in its place
    is refused, not replaced."""
    make_dirs(path.parent, 0o700 if strict else None)
    if path.is_symlink():
        raise PrivateFileError(f"{path} is a symbolic link; segsync does not replace it.")
    temp = path.with_name(f".{path.name}.{secrets.token_hex(6)}.tmp")
    try:
        fd = create_fd(temp, STRICT_MODE if strict else None)
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
    if POSIX:
        dir_fd = os.open(path.parent, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
        try:
            with contextlib.suppress(OSError):
                os.fsync(dir_fd)
        finally:
            os.close(dir_fd)


def _check_strict(fd: int, path: Path) -> None:
    """Refuse a file another account owns; narrow our own file to 0600 if it was wider."""
    info = os.fstat(fd)
    if not stat.S_ISREG(info.st_mode):
        raise PrivateFileError(f"{path} is not a regular file; segsync will not write to it.")
    if POSIX and info.st_uid != uid():
        raise PrivateFileError(
            f"{path} belongs to another account; segsync writes only files of its own account."
        )
    if stat.S_IMODE(info.st_mode) & 0o077:
        os.fchmod(fd, STRICT_MODE)


def _symlink(path: Path) -> PrivateFileError:
    return PrivateFileError(f"{path} is a symbolic link; segsync does not follow it.")


def _why(exc: OSError) -> str:
    return exc.strerror or str(exc) or type(exc).__name__


def read_own_file(path: Path, limit: int = 64 * 1024) -> bytes | None:
    """The bytes of ``path`` if it is a regular file owned by this user (else None).

    A symlink is not followed; a file someone else put there (a forged lock holder) is not
    read at all.
    """
    try:
        fd = os.open(path, os.O_RDONLY | NOFOLLOW | getattr(os, "O_NONBLOCK", 0))
    except OSError:
        return None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            return None
        if POSIX and info.st_uid != uid():
            return None
        return os.read(fd, limit)
    except OSError:
        return None
    finally:
        os.close(fd)


def parse_mode(value: str | int, what: str) -> int:
    """``"0600"`` / ``"600"`` / ``0o600`` → 384; raises ``ValueError`` with a sentence."""
    if isinstance(value, int):
        number = value
    else:
        text = str(value).strip().lower().removeprefix("0o")
        if not text or any(ch not in "01234567" for ch in text):
            raise ValueError(f"{what} must be an octal mode such as 0600, not {value!r}")
        number = int(text, 8)
    if not 0 <= number <= 0o777:
        raise ValueError(f"{what} must be an octal mode between 0000 and 0777")
    return number
