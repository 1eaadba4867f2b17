"""The append-only run journal: what a run meant to write, what it did, and how to undo it.

One folder per run, ``<journal.dir>/<run-id>/journal.jsonl``, one JSON object a line, every
write flushed and fsync'd before the next request goes out, so a crash or ``kill -9`` loses at
most the answer to a request in flight. Record types, in the order they appear:

``header``   run id, command, input path and sha256, sheet, effective config (no secrets), start
``planned``  per row to write: the segment's ``before`` state and the ``body`` about to be sent,
             all written (one fsync) before the first PUT
``attempt``  per HTTP attempt of a PUT: status (None for a network failure), error
``result``   per row: outcome, attempts, status, error and the ``after`` state the API returned
``footer``   end time, counts, abort reason

Rollback reads ``planned`` and ``result``: it puts ``before`` back wherever the server still
holds what the run wrote (``after``, or ``body`` when the answer never arrived).
"""

from __future__ import annotations

import json
import os
import secrets as _random
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from segsync.errors import JournalError
from segsync.secrets import redact

JOURNAL_NAME = "journal.jsonl"


def new_run_id(now: datetime | None = None) -> str:
    """Sortable and unique enough for one machine: ``20261126-071502-3fa2``."""
    now = now or datetime.now(UTC)
    return f"{now.strftime('%Y%m%d-%H%M%S')}-{_random.token_hex(2)}"


class Journal:
    """Writer for one run's journal file."""

    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        self._file = open(path, "a", encoding="utf-8")  # noqa: SIM115 - lives as long as the run

    @classmethod
    def create(cls, folder: Path, run_id: str) -> Journal:
        return cls(Path(folder) / run_id / JOURNAL_NAME)

    def write(self, record: dict[str, Any]) -> None:
        self.write_many((record,))

    def write_many(self, records: Iterable[dict[str, Any]]) -> None:
        """Append records and make them durable with one fsync."""
        wrote = False
        for record in records:
            line = json.dumps(record, ensure_ascii=False, default=str, separators=(",", ":"))
            self._file.write(redact(line) + "\n")
            wrote = True
        if wrote:
            self._file.flush()
            os.fsync(self._file.fileno())

    def close(self) -> None:
        if not self._file.closed:
            self._file.close()

    def __enter__(self) -> Journal:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


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
    with open(path, encoding="utf-8") as handle:
        for line in handle:
            line = line.strip()
            if not line:
                continue
            try:
                yield json.loads(line)
            except json.JSONDecodeError:
                # the last line of a journal killed mid-write may be cut short
                continue


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
