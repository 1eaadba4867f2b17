"""Reading a run's journal back: what the run planned, sent and got, row by row.

Reading tolerates one kind of damage only: a torn *last* line, what a power cut during the final
write leaves behind. Any unreadable line before it raises ``JournalError`` naming the line,
because a journal with a hole cannot be trusted for rollback.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from segsync.errors import JournalError
from segsync.journal.writer import JOURNAL_NAME


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
    """Every run journal under ``folder``, newest first.

    Newest by the moment each run started (microseconds), then by its id: a run id names its
    second and a random part, so two runs started in one second (a rerun right after a kill)
    would otherwise sort by chance.
    """
    folder = Path(folder)
    if not folder.is_dir():
        return []
    runs = []
    for path in folder.glob(f"*/{JOURNAL_NAME}"):
        try:
            runs.append(read_journal(path))
        except (JournalError, OSError, KeyError):
            continue
    runs.sort(key=lambda r: (str(r.header.get("started_at", "")), r.run_id), reverse=True)
    return runs
