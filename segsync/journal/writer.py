"""Writing one run's journal: created new, every record fsync'd, a failure stops the run.

A run id is its start time (UTC, so ids sort by time) and 64 random bits; the run folder is
created exclusively and the file with ``O_EXCL|O_NOFOLLOW``, so no run can append to, or reset,
another run's journal, and the new folder entries are fsync'd before the first record. Journals
hold before and after values: folders are made 0700 and the file 0600 (``files:`` in the config
may widen them; see ``segsync.private_files``). A write that
fails raises ``JournalWriteError``; the file is cut back to its last whole record and closed for
writing, because a line appended after a partial one would damage the record.
"""

from __future__ import annotations

import contextlib
import errno
import io
import json
import os
import secrets as _random
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from segsync import private_files
from segsync.errors import JournalError, JournalWriteError
from segsync.secrets import redact

JOURNAL_NAME = "journal.jsonl"
#: random bits in a run id: two runs started in the same second collide with probability 2**-64
RUN_ID_RANDOM_BITS = 64


def new_run_id(now: datetime | None = None) -> str:
    """Sortable by start time, unique in practice: ``20261126-071502-3fa2c01d9e4b7a65``.

    The time (UTC) keeps ``segsync runs`` in order and says when a run started; the 16 hex
    digits (64 random bits) make two runs that start in the same second distinct.
    """
    now = now or datetime.now(UTC)
    return f"{now.strftime('%Y%m%d-%H%M%S')}-{_random.token_hex(RUN_ID_RANDOM_BITS // 8)}"


def _why(exc: OSError) -> str:
    return exc.strerror or str(exc) or type(exc).__name__


def _fsync_dir(path: Path) -> None:
    """Make the entries of folder ``path`` durable (a new file or folder survives a power cut)."""
    if os.name == "nt":  # a folder cannot be opened for fsync on Windows; NTFS logs metadata
        return
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    try:
        os.fsync(fd)
    except OSError as exc:
        # a few filesystems cannot sync a folder at all; that is not a failed write
        if exc.errno not in (errno.EINVAL, errno.ENOTSUP, errno.EOPNOTSUPP):
            raise
    finally:
        os.close(fd)


class Journal:
    """Writer for one run's journal file, created new (never appended to an existing file)."""

    def __init__(self, path: Path) -> None:
        """Create the file ``path`` exclusively in an existing folder (see ``Journal.create``)."""
        self.path = Path(path)
        #: the first write failure; once set, the journal is closed for writing
        self.failed: JournalWriteError | None = None
        self._size = 0
        # unbuffered: a record is either handed to the OS whole or not at all, nothing lingers
        fd = private_files.create_fd(self.path)
        self._file: io.FileIO = open(fd, "wb", buffering=0)  # noqa: SIM115 - lives as long as the run

    @classmethod
    def create(cls, folder: Path, run_id: str) -> Journal:
        """A new journal in ``folder/run_id/``; raises ``JournalError`` if that run exists."""
        if not run_id or run_id in {".", ".."} or Path(run_id).name != run_id:
            raise ValueError(f"not a run id: {run_id!r}")
        folder = Path(folder)
        run_dir = folder / run_id
        try:
            private_files.make_dirs(folder)
        except OSError as exc:
            raise JournalWriteError(
                f"Cannot create the journal folder {folder} ({_why(exc)}); nothing was sent.",
                reason=_why(exc),
            ) from exc
        try:
            run_dir.mkdir(mode=private_files.Modes.dir)
            if private_files.POSIX:  # mkdir applies the umask; the mode asked for, exactly
                os.chmod(run_dir, private_files.Modes.dir)
            journal = cls(run_dir / JOURNAL_NAME)
        except FileExistsError as exc:
            raise JournalError(
                f"A run with the id {run_id} already exists in {folder}; its journal was left "
                "as it is and this run did not start. Start the run again (it gets a new id)."
            ) from exc
        except OSError as exc:
            raise JournalWriteError(
                f"Cannot create the run journal in {run_dir} ({_why(exc)}); nothing was sent.",
                reason=_why(exc),
            ) from exc
        try:
            _fsync_dir(run_dir)
            _fsync_dir(folder)
        except OSError as exc:
            journal.close()
            raise JournalWriteError(
                f"Cannot make the new run journal {journal.path} durable ({_why(exc)}); "
                "nothing was sent.",
                reason=_why(exc),
            ) from exc
        return journal

    def write(self, record: dict[str, Any]) -> None:
        self.write_many((record,))

    def write_many(self, records: Iterable[dict[str, Any]]) -> None:
        """Append records and make them durable with one fsync.

        Raises ``JournalWriteError`` when that fails; from then on the journal is closed for
        writing and later calls do nothing (see the module docstring).
        """
        if self.failed is not None:
            return
        data = b"".join(_encode(record) for record in records)
        if not data:
            return
        try:
            view = memoryview(data)
            while view:
                written = self._file.write(view)
                if not written:
                    raise OSError(errno.EIO, "the journal file accepted no data")
                view = view[written:]
            os.fsync(self._file.fileno())
        except OSError as exc:
            # cut a partial record off so the journal still ends on a whole line
            with contextlib.suppress(OSError, ValueError):
                os.ftruncate(self._file.fileno(), self._size)
            self.failed = JournalWriteError(
                f"Cannot write the run journal {self.path} ({_why(exc)}).", reason=_why(exc)
            )
            raise self.failed from exc
        self._size += len(data)

    def close(self) -> None:
        # every record was fsync'd when written: an error while closing cannot lose one
        with contextlib.suppress(OSError):
            self._file.close()

    def __enter__(self) -> Journal:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _encode(record: dict[str, Any]) -> bytes:
    line = json.dumps(record, ensure_ascii=False, default=str, separators=(",", ":"))
    # a lone surrogate (never valid UTF-8) becomes its JSON escape, which reads back the same
    return (redact(line) + "\n").encode("utf-8", "backslashreplace")
