"""The run journal can be trusted: ids that do not collide, files that are never reused, torn
tails told apart from damage, and a run that stops (exit 3) the moment its journal cannot be
written, with every row that was answered keeping its true outcome."""

from __future__ import annotations

import errno
import json
import logging
import os
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from segsync.engine import pipeline
from segsync.errors import JournalError, JournalWriteError
from segsync.journal import (
    JOURNAL_NAME,
    Journal,
    list_runs,
    new_run_id,
    read_journal,
)
from segsync.sandbox import Sandbox
from tests.helpers import settings_for, write_csv

RUN_ID = re.compile(r"^(\d{8}-\d{6})-([0-9a-f]{16})$")
HEADER = {"type": "header", "run_id": "r"}


def planned(index: int) -> dict[str, Any]:
    return {
        "type": "planned",
        "index": index,
        "source_row": index + 2,
        "id": 100001 + index,
        "before": {"name": "old"},
        "body": {"name": "new"},
    }


# -- run ids ------------------------------------------------------------------------------------


def test_run_id_is_the_utc_start_time_and_64_random_bits() -> None:
    now = datetime(2026, 11, 26, 7, 15, 2, tzinfo=UTC)
    ids = [new_run_id(now) for _ in range(10_000)]
    assert len(set(ids)) == len(ids)
    randoms = []
    for run_id in ids:
        match = RUN_ID.match(run_id)
        assert match, run_id
        assert match.group(1) == "20261126-071502"
        randoms.append(int(match.group(2), 16))
    # every one of the 64 bits varies (a fixed bit would show in 10,000 ids: p = 2**-10000)
    assert (1 << 64) - 1 == _or(randoms) == _or(~r & ((1 << 64) - 1) for r in randoms)
    later = new_run_id(now + timedelta(seconds=1))
    assert all(run_id < later for run_id in ids)  # sortable by time


def _or(values: Any) -> int:
    total = 0
    for value in values:
        total |= value
    return total


# -- creating a journal -------------------------------------------------------------------------


def test_create_makes_the_folders_and_an_empty_file_and_syncs_both_folders(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    synced: list[tuple[int, int]] = []
    real_fsync = os.fsync

    def fsync(fd: int) -> None:
        info = os.fstat(fd)
        synced.append((info.st_dev, info.st_ino))
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", fsync)
    folder = tmp_path / "state" / "runs"  # neither exists yet
    journal = Journal.create(folder, "r1")
    try:
        assert journal.path == folder / "r1" / JOURNAL_NAME
        assert journal.path.is_file() and journal.path.stat().st_size == 0
        if os.name != "nt":
            for entry in (folder / "r1", folder):
                info = entry.stat()
                assert (info.st_dev, info.st_ino) in synced, f"{entry} was not fsync'd"
        journal.write(HEADER)
    finally:
        journal.close()
    assert read_journal(journal.path).header == HEADER


def test_a_second_run_with_the_same_id_is_refused_and_the_first_journal_is_intact(
    tmp_path: Path,
) -> None:
    first = Journal.create(tmp_path, "same")
    first.write(HEADER)
    first.write(planned(0))
    before = first.path.read_bytes()
    with pytest.raises(JournalError, match=r"already exists.*left as it is") as refused:
        Journal.create(tmp_path, "same")
    assert "same" in str(refused.value)
    assert first.path.read_bytes() == before
    first.write(planned(1))  # the first run goes on writing its own journal
    first.close()
    assert sorted(read_journal(first.path).rows) == [0, 1]


def test_a_journal_file_is_never_opened_for_append(tmp_path: Path) -> None:
    existing = tmp_path / JOURNAL_NAME
    existing.write_text(json.dumps(HEADER) + "\n", encoding="utf-8")
    with pytest.raises(FileExistsError):
        Journal(existing)
    assert read_journal(existing).header == HEADER


@pytest.mark.parametrize("bad", ["", ".", "..", "a/b"])
def test_a_run_id_must_be_one_folder_name(tmp_path: Path, bad: str) -> None:
    with pytest.raises(ValueError):
        Journal.create(tmp_path, bad)


# -- reading ------------------------------------------------------------------------------------


def journal_file(tmp_path: Path, body: bytes) -> Path:
    path = tmp_path / JOURNAL_NAME
    path.write_bytes(body)
    return path


def lines(*records: dict[str, Any]) -> bytes:
    return b"".join(json.dumps(r).encode() + b"\n" for r in records)


@pytest.mark.parametrize(
    "tail",
    [
        json.dumps(planned(1)).encode()[:20],  # cut mid-record
        json.dumps(planned(1)).encode()[:-1] + b"\n",  # cut before its brace, newline present
        '{"type":"planned","body":{"name":"Zoë'.encode()[:-1],  # a character cut in two
        b"\x00\x00\x00\x00",  # a block of zeros, as some filesystems leave after a power cut
    ],
)
def test_a_torn_last_line_is_dropped(tmp_path: Path, tail: bytes) -> None:
    path = journal_file(tmp_path, lines(HEADER, planned(0)) + tail)
    record = read_journal(path)
    assert list(record.rows) == [0] and not record.finished


def test_a_whole_last_record_without_its_newline_is_kept(tmp_path: Path) -> None:
    path = journal_file(tmp_path, lines(HEADER, planned(0)) + json.dumps(planned(1)).encode())
    assert sorted(read_journal(path).rows) == [0, 1]


def test_blank_lines_are_fine(tmp_path: Path) -> None:
    path = journal_file(tmp_path, b"\n" + lines(HEADER) + b"\n  \n" + lines(planned(0)) + b"\n")
    assert list(read_journal(path).rows) == [0]


@pytest.mark.parametrize("damage", [b'{"type":"planned","ind', b"not json", b"[1, 2]"])
def test_a_damaged_line_before_the_last_is_refused_with_its_number(
    tmp_path: Path, damage: bytes
) -> None:
    path = journal_file(tmp_path, lines(HEADER, planned(0)) + damage + b"\n" + lines(planned(1)))
    with pytest.raises(JournalError) as refused:
        read_journal(path)
    message = str(refused.value)
    assert message.startswith(f"Line 3 of {path} is damaged")
    assert "cannot be trusted for rollback" in message


def test_a_damaged_journal_is_left_out_of_the_list_of_runs(tmp_path: Path) -> None:
    good = Journal.create(tmp_path, "20260101-000000-good")
    good.write(HEADER)
    good.close()
    bad = tmp_path / "20260101-000001-bad"
    bad.mkdir()
    journal_file(bad, lines(HEADER) + b"garbage\n" + lines(planned(0)))
    assert [r.path for r in list_runs(tmp_path)] == [good.path]


def test_two_runs_started_in_one_second_are_listed_newest_first(tmp_path: Path) -> None:
    """A rerun right after a kill starts in the same second: its random id part must not
    decide which is the newer (this sorted by chance before)."""
    second = "2026-12-06T09:10:52"
    for run_id, micro in (("20261206-091052-ffff", ".100000"), ("20261206-091052-0000", ".900000")):
        journal = Journal.create(tmp_path, run_id)
        journal.write({**HEADER, "run_id": run_id, "started_at": f"{second}{micro}+00:00"})
        journal.close()
    assert [r.run_id for r in list_runs(tmp_path)] == [
        "20261206-091052-0000",  # started at .9 s: the newer, though its id sorts first
        "20261206-091052-ffff",
    ]


# -- write failures -----------------------------------------------------------------------------


class FullDisk:
    """The journal's file on a disk that fills up after ``room`` more bytes."""

    def __init__(self, raw: Any, room: int = 0) -> None:
        self.raw = raw
        self.room = room

    def write(self, data: Any) -> int:
        if self.room <= 0:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        taken = self.raw.write(bytes(data[: self.room]))
        self.room -= taken
        return taken

    def fileno(self) -> int:
        return self.raw.fileno()

    def close(self) -> None:
        self.raw.close()


def test_a_failed_write_raises_cuts_the_partial_record_and_closes_the_journal(
    tmp_path: Path,
) -> None:
    journal = Journal.create(tmp_path, "full")
    journal.write(HEADER)
    journal.write(planned(0))
    whole = journal.path.read_bytes()
    journal._file = FullDisk(journal._file, room=25)  # type: ignore[assignment]
    with pytest.raises(JournalWriteError) as failed:
        journal.write_many([planned(1), planned(2)])
    assert failed.value.reason == os.strerror(errno.ENOSPC)
    assert str(journal.path) in str(failed.value)
    assert journal.path.read_bytes() == whole  # the 25 bytes of a partial record are gone
    journal._file.room = 10**6  # space is back: still nothing is appended after a failure
    journal.write({"type": "footer"})
    journal.close()
    assert journal.path.read_bytes() == whole
    assert list(read_journal(journal.path).rows) == [0]


def fail_journal_once(monkeypatch: pytest.MonkeyPatch, after: str) -> None:
    """From now on, a run's disk is full as soon as a record of type ``after`` is on it."""
    real = Journal.write_many

    def write_many(self: Journal, records: Any) -> None:
        records = list(records)
        if getattr(self, "_armed", False) and not isinstance(self._file, FullDisk):
            self._file = FullDisk(self._file)  # type: ignore[assignment]
        real(self, records)
        if any(r.get("type") == after for r in records):
            self._armed = True  # type: ignore[attr-defined]

    monkeypatch.setattr(Journal, "write_many", write_many)


def sheet_renaming(sb: Sandbox, tmp_path: Path, count: int) -> tuple[Path, dict[int, str]]:
    names = {s["id"]: f"{s['name']} (renamed)" for s in sb.segments()[:count]}
    path = write_csv(tmp_path / "edits.csv", ["id", "name"], [[i, n] for i, n in names.items()])
    return path, names


def name(sb: Sandbox, segment_id: int) -> str:
    segment = sb.segment(segment_id)
    assert segment is not None
    return str(segment["name"])


@pytest.mark.parametrize("concurrency", [1, 4])
def test_a_journal_that_fails_mid_run_stops_it_and_answered_rows_keep_their_outcome(
    sandbox: Sandbox,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    concurrency: int,
) -> None:
    seed = {s["id"]: s["name"] for s in sandbox.segments()}
    sheet, names = sheet_renaming(sandbox, tmp_path, 20)
    settings = settings_for(sandbox, tmp_path, **{"rate_limit.max_concurrency": concurrency})
    fail_journal_once(monkeypatch, after="result")
    with caplog.at_level(logging.WARNING):
        run = pipeline.sync(sheet, settings)

    assert run.exit_code == 3
    assert run.aborted is not None and "journal could not be written" in run.aborted
    assert os.strerror(errno.ENOSPC) in run.aborted
    puts = sandbox.counters.snapshot().puts_by_id
    outcomes = {row.segment_id: row.outcome.value for row in run.rows}
    # the journal held one result when it failed: at most one request per worker left after it
    assert 2 <= sum(puts.values()) <= 1 + concurrency
    for segment_id, wanted in names.items():
        if segment_id in puts:
            assert outcomes[segment_id] == "updated"
            assert name(sandbox, segment_id) == wanted
        else:
            assert outcomes[segment_id] == "not_attempted"
            assert name(sandbox, segment_id) == seed[segment_id]
    assert list(outcomes.values()).count("not_attempted") >= 20 - 1 - concurrency
    failures = [r for r in caplog.records if getattr(r, "event", None) == "journal_write_failed"]
    assert len(failures) == 1 and failures[0].exc_info is None
    assert not [r for r in caplog.records if r.exc_info]  # no worker logged a traceback

    # what reached the disk is a whole, readable journal that covers every PUT for rollback
    record = read_journal(Path(run.journal_path or ""))
    assert not record.finished
    assert {h.segment_id for h in record.rows.values()} == set(names)
    monkeypatch.undo()  # the disk has room again
    undo = pipeline.rollback(run.run_id, settings)
    assert undo.exit_code == 0, undo.counts()
    assert {s["id"]: s["name"] for s in sandbox.segments()} == seed


def test_a_journal_that_cannot_take_the_planned_records_sends_nothing(
    sandbox: Sandbox, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    seed = {s["id"]: s["name"] for s in sandbox.segments()}
    sheet, _ = sheet_renaming(sandbox, tmp_path, 5)
    settings = settings_for(sandbox, tmp_path)
    fail_journal_once(monkeypatch, after="header")
    run = pipeline.sync(sheet, settings)
    assert run.exit_code == 3
    assert "journal could not be written" in (run.aborted or "")
    assert sandbox.counters.snapshot().count("PUT") == 0
    assert {row.outcome.value for row in run.rows} == {"not_attempted"}
    assert {s["id"]: s["name"] for s in sandbox.segments()} == seed
    # the journal says so: a header, no planned record, no footer
    record = read_journal(Path(run.journal_path or ""))
    assert not record.rows and not record.finished
