"""The append-only run journal: what a run meant to write, what it did, and how to undo it.

One folder per run, ``<journal.dir>/<run-id>/journal.jsonl``, one JSON object a line, every
write fsync'd before the next request goes out, so a crash or ``kill -9`` loses at most the
answer to a request in flight. Record types, in the order they appear:

``header``   run id, command, input path and sha256, sheet, effective config (no secrets), start
``planned``  per row to write: the segment's ``before`` state and the ``body`` about to be sent,
             all written (one fsync) before the first PUT
``attempt``  per HTTP attempt of a PUT: status (None for a network failure), error
``result``   per row: outcome, attempts, status, error and the ``after`` state the API returned
``footer``   end time, counts, abort reason

Rollback reads ``planned`` and ``result``: it puts ``before`` back wherever the server still
holds what the run wrote (``after``, or ``body`` when the answer never arrived).

Durability and trust:

* A run id is its start time (UTC, to the second, so ids sort by time) and 64 random bits; the
  run folder is created exclusively and the file with mode ``x``, so a second run can never
  append to, or reset, another run's journal. The new folder entries are fsync'd (the run
  folder and the journal folder) before the first record.
* A write that fails (disk full, I/O error, folder removed) raises ``JournalWriteError``; the
  file is cut back to its last whole record where possible and the journal is closed for
  writing: later writes are dropped, because a line appended after a partial one would damage
  the record. Whoever sees the error must stop the run (the updater does).
* Reading tolerates one kind of damage only: a torn *last* line, what a power cut during the
  final write leaves behind. Any unreadable line before it raises ``JournalError`` naming the
  line, because a journal with a hole cannot be trusted for rollback.
"""

from __future__ import annotations

import contextlib
import errno
import io
import json
import os
import secrets as _random
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

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
        self._file: io.FileIO = open(self.path, "xb", buffering=0)  # noqa: SIM115 - lives as long as the run

    @classmethod
    def create(cls, folder: Path, run_id: str) -> Journal:
        """A new journal in ``folder/run_id/``; raises ``JournalError`` if that run exists."""
        if not run_id or run_id in {".", ".."} or Path(run_id).name != run_id:
            raise ValueError(f"not a run id: {run_id!r}")
        folder = Path(folder)
        run_dir = folder / run_id
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise JournalWriteError(
                f"Cannot create the journal folder {folder} ({_why(exc)}); nothing was sent.",
                reason=_why(exc),
            ) from exc
        try:
            run_dir.mkdir()
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


@dataclass
class RowHistory:
    """What a run did to one row, reconstructed from its journal."""

    index: int
    source_row: int
    segment_id: int
    before: dict[str, Any] | None = None
    body: dict[str, Any] | None = None
    outcome: str | None = None
    after: dict[str, Any] | None = None
    attempts: int = 0


@dataclass
class RunRecord:
    """A parsed journal."""

    path: Path
    header: dict[str, Any]
    rows: dict[int, RowHistory] = field(default_factory=dict)
    outcomes: dict[int, str] = field(default_factory=dict)
    #: the same outcomes keyed by the row number in the sheet (what --only-failed matches on)
    outcomes_by_row: dict[int, str] = field(default_factory=dict)
    footer: dict[str, Any] | None = None

    @property
    def run_id(self) -> str:
        return str(self.header.get("run_id", self.path.parent.name))

    @property
    def finished(self) -> bool:
        return self.footer is not None

    def counts(self) -> dict[str, int]:
        """Outcome counts: the footer's, or tallied from the results of a run that died."""
        if self.footer and self.footer.get("counts"):
            return dict(self.footer["counts"])
        tally: dict[str, int] = {}
        for outcome in self.outcomes.values():
            tally[outcome] = tally.get(outcome, 0) + 1
        return tally


def _records(path: Path) -> Iterator[dict[str, Any]]:
    """The records of a journal, in order; blank lines are skipped.

    Only the last line may be torn (cut short by a crash during the final write): it is
    dropped. A last line without its newline that still parses is a whole record (a JSON object
    cut anywhere before its closing brace does not parse). An unreadable line anywhere else
    raises ``JournalError``.
    """
    held: tuple[int, bytes] | None = None  # the line read last, parsed once the next one shows
    with open(path, "rb") as handle:
        for number, raw in enumerate(handle, start=1):
            if not raw.strip():
                continue
            if held is not None:
                record = _parse(held[1])
                if record is None:
                    raise JournalError(
                        f"Line {held[0]} of {path} is damaged; the run's record cannot be "
                        "trusted for rollback."
                    )
                yield record
            held = (number, raw)
    if held is not None and (last := _parse(held[1])) is not None:
        yield last  # a torn last line is dropped


def _parse(raw: bytes) -> dict[str, Any] | None:
    """One record, or None when the line is not a whole JSON object."""
    try:
        record = json.loads(raw.decode("utf-8"))
    except ValueError:  # JSONDecodeError and UnicodeDecodeError (a character cut in two)
        return None
    return record if isinstance(record, dict) else None


def read_journal(path: Path) -> RunRecord:
    if not path.is_file():
        raise JournalError(f"There is no run journal at {path}.")
    record: RunRecord | None = None
    for rec in _records(path):
        kind = rec.get("type")
        if kind == "header":
            record = RunRecord(path, rec)
        elif record is None:
            break
        elif kind == "planned":
            record.rows[rec["index"]] = RowHistory(
                rec["index"], rec["source_row"], rec["id"], rec.get("before"), rec.get("body")
            )
        elif kind == "result":
            record.outcomes[rec["index"]] = rec["outcome"]
            if rec.get("source_row") is not None:
                record.outcomes_by_row[rec["source_row"]] = rec["outcome"]
            row = record.rows.get(rec["index"])
            if row is not None:
                row.outcome = rec["outcome"]
                row.after = rec.get("after")
                row.attempts = rec.get("attempts", 0)
        elif kind == "footer":
            record.footer = rec
    if record is None:
        raise JournalError(f"{path} is not a segsync run journal (no header record).")
    return record


def find_journal(run: str, folder: Path) -> Path:
    """A run id, a run folder or a journal file → the journal file."""
    candidates = [Path(run), Path(run) / JOURNAL_NAME, Path(folder) / run / JOURNAL_NAME]
    for candidate in candidates:
        if candidate.is_file():
            return candidate
    raise JournalError(
        f"No run '{run}' in {folder}: give a run id as listed by 'segsync runs', "
        "or the path of a journal.jsonl."
    )


def list_runs(folder: Path) -> list[RunRecord]:
    """Every run journal under ``folder``, newest first."""
    folder = Path(folder)
    if not folder.is_dir():
        return []
    runs = []
    for path in sorted(folder.glob(f"*/{JOURNAL_NAME}"), reverse=True):
        try:
            runs.append(read_journal(path))
        except (JournalError, OSError, KeyError):
            continue
    return runs
