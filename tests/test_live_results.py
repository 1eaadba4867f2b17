"""The results workbook written while a run sends (``segsync.engine.live_results``).

A sync writes its Results rows as their outcomes settle, so the run ends soon after its last
answer. What must hold: the file is the very file ``write_results`` writes in one go for the
same result, rows really are written before the last request, and a fault while streaming
never costs the run its results file.
"""

from __future__ import annotations

import logging
import signal
import tempfile
from pathlib import Path
from typing import Any

import openpyxl
import pytest

from segsync.config import InputSettings
from segsync.engine import pipeline
from segsync.engine.assemble import Assembly
from segsync.input.loader import load_edits
from segsync.model import Segment
from segsync.outcomes import Outcome, RowResult
from segsync.output import scratch
from segsync.output.results import ResultsWorkbook, write_results
from segsync.plan.differ import diff
from segsync.sandbox import SandboxOptions, run_sandbox
from tests.helpers import (
    read_results,
    run_cli,
    settings_for,
    start_cli,
    wait_for_puts,
    write_config,
    write_seed,
    write_xlsx,
)

SEGMENTS = 400
HEADER = ["id", "name", "description", "Note"]


@pytest.fixture
def sb(tmp_path: Path) -> Any:
    rows = [
        [200001 + i, 5001, "Spring", f"Segment {i:03d}", f"C{i:03d}", "", ""]
        for i in range(SEGMENTS)
    ]
    seed = write_seed(tmp_path / "seed.csv", rows)
    with run_sandbox(SandboxOptions(seed_csv=seed)) as sandbox:
        yield sandbox


def edit_rows() -> tuple[list[list[Any]], dict[int, str]]:
    """Every third segment renamed (one with a long description: a tall row after the first
    200), unchanged rows between, a cleared name (invalid) and an unknown id (not found)."""
    rows: list[list[Any]] = []
    renamed: dict[int, str] = {}
    for i in range(SEGMENTS):
        sid = 200001 + i
        if i % 3 == 0:
            renamed[sid] = f"Segment {i:03d} renamed"
            description = "a long description " * 12 if i == 300 else None
            rows.append([sid, renamed[sid], description, f"note {i}"])
        else:
            rows.append([sid, f"Segment {i:03d}", None, None])
    rows[250] = [200251, "#CLEAR", None, "cleared by mistake"]
    rows.insert(120, [999999, "Nobody", None, None])
    return rows, renamed


def cells(path: Path) -> dict[str, Any]:
    """Everything a person sees in a workbook: values, formats, widths, heights, order."""
    book = openpyxl.load_workbook(path)
    seen: dict[str, Any] = {"sheets": book.sheetnames}
    for ws in book.worksheets:
        seen[ws.title] = [
            (
                c.coordinate,
                c.value,
                c.number_format,
                c.font.color.rgb if c.font and c.font.color else None,
                c.fill.fgColor.rgb if c.fill and c.fill.fill_type else None,
                c.alignment.wrap_text,
            )
            for row in ws.iter_rows()
            for c in row
        ]
        seen[f"{ws.title} widths"] = {k: d.width for k, d in ws.column_dimensions.items()}
        seen[f"{ws.title} heights"] = {
            k: d.height for k, d in ws.row_dimensions.items() if d.height
        }
        seen[f"{ws.title} layout"] = (
            ws.freeze_panes,
            ws.auto_filter.ref,
            ws.print_title_rows,
            ws.page_setup.orientation,
            ws.oddHeader.left.text,
        )
    return seen


def test_the_live_workbook_is_the_workbook_written_whole(
    sb: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    rows, renamed = edit_rows()
    sheet = write_xlsx(tmp_path / "edits.xlsx", HEADER, rows)
    # when each Results row reached the workbook: how many PUTs the server had seen by then
    puts_at_add: list[int] = []
    add = ResultsWorkbook.add

    def spy(book: ResultsWorkbook, row: RowResult) -> None:
        puts_at_add.append(sb.counters.snapshot().count("PUT"))
        add(book, row)

    monkeypatch.setattr(ResultsWorkbook, "add", spy)
    settings = settings_for(
        sb, tmp_path, **{"rate_limit.requests_per_second": 150, "rate_limit.max_concurrency": 4}
    )
    out = tmp_path / "live.xlsx"
    caplog.set_level(logging.WARNING)

    result = pipeline.sync(sheet, settings, out=out)

    for sid, name in renamed.items():
        assert sb.segment(sid)["name"] == name
    counts = result.counts()
    assert counts == {
        "updated": len(renamed),
        "unchanged": SEGMENTS - len(renamed) - 1,
        "invalid": 1,
        "not_found": 1,
    }
    assert not [r for r in caplog.records if getattr(r, "event", "") == "live_results_failed"]
    # rows went into the workbook while requests were still to come, not all at the end
    assert len(puts_at_add) == len(rows)
    assert sum(1 for n in puts_at_add if n < len(renamed)) >= 200
    # and the file is exactly the one written in one go from the same result
    monkeypatch.setattr(ResultsWorkbook, "add", add)
    result.results_path = None  # as when the run wrote its file (the Summary names it after)
    whole = write_results(result, tmp_path / "whole.xlsx")
    assert cells(out) == cells(whole)
    table = read_results(out)
    assert [int(r["source row"]) for r in table] == list(range(2, 2 + len(rows)))
    assert {r["outcome"] for r in table if int(r["id"]) in renamed} == {"updated"}
    assert [t.name for t in tmp_path.glob(".*.tmp")] == []


@pytest.mark.parametrize("fault", ["add", "finish"])
def test_a_fault_while_writing_live_still_leaves_the_whole_results_file(
    sb: Any,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    fault: str,
) -> None:
    rows, renamed = edit_rows()
    sheet = write_xlsx(tmp_path / "edits.xlsx", HEADER, rows)
    original = getattr(ResultsWorkbook, fault)
    calls = {"n": 0}

    def failing(book: ResultsWorkbook, *args: Any) -> Any:
        calls["n"] += 1
        if calls["n"] == 250 or (fault == "finish" and calls["n"] == 1):
            raise OSError(28, "No space left on device")
        return original(book, *args)

    monkeypatch.setattr(ResultsWorkbook, fault, failing)
    caplog.set_level(logging.WARNING)
    out = tmp_path / "results.xlsx"

    result = pipeline.sync(sheet, settings_for(sb, tmp_path), out=out)

    warned = [r for r in caplog.records if getattr(r, "event", "") == "live_results_failed"]
    assert len(warned) == 1 and "No space left on device" in warned[0].getMessage()
    assert result.counts()["updated"] == len(renamed)
    for sid, name in renamed.items():
        assert sb.segment(sid)["name"] == name
    table = read_results(out)
    assert len(table) == len(rows)
    assert [r["outcome"] for r in table] == [r.outcome.value for r in result.rows]
    assert [t.name for t in tmp_path.glob(".*.tmp")] == []


def test_settled_rows_come_in_input_order_up_to_the_first_open_one(tmp_path: Path) -> None:
    rows = [[200001 + i, f"Segment {i} new" if i in (1, 3) else f"Segment {i}"] for i in range(5)]
    editset = load_edits(write_xlsx(tmp_path / "e.xlsx", ["id", "name"], rows), InputSettings())
    current = {
        200001 + i: Segment(id=200001 + i, campaignId=5001, name=f"Segment {i}", code=f"C{i}")
        for i in range(5)
    }
    plan = diff(editset, current)
    sent: dict[int, RowResult] = {}
    assembly = Assembly(editset, plan, sent, dry_run=False)

    assert [r.outcome for r in assembly.settled()] == [Outcome.UNCHANGED]  # row 1 is open
    to_send = {p.edit.index: p for p in plan.to_send}
    assert sorted(to_send) == [1, 3]
    sent[3] = RowResult(3, 5, 200004, Outcome.UPDATED, changes=to_send[3].changes)
    assert list(assembly.settled()) == []  # still waiting for row 1
    sent[1] = RowResult(
        1, 3, 200002, Outcome.FAILED, changes=to_send[1].changes, error="503", http_status=503
    )
    settled = list(assembly.settled())
    assert [r.outcome for r in settled] == [
        Outcome.FAILED,
        Outcome.UNCHANGED,
        Outcome.UPDATED,
        Outcome.UNCHANGED,
    ]
    assert settled[0].cell == "Edits!B3"  # a problem row names its cell: the changed name
    everything = assembly.rows(aborted=None)
    assert everything[1:] == settled and everything[1] is sent[1]


def test_an_open_row_at_the_end_is_not_attempted(tmp_path: Path) -> None:
    rows = [[200001, "Segment 0 new"], [200002, "Segment 1"]]
    editset = load_edits(write_xlsx(tmp_path / "e.xlsx", ["id", "name"], rows), InputSettings())
    current = {
        200001 + i: Segment(id=200001 + i, campaignId=5001, name=f"Segment {i}", code=f"C{i}")
        for i in range(2)
    }
    assembly = Assembly(editset, diff(editset, current), {}, dry_run=False)
    assert list(assembly.settled()) == []
    first, second = assembly.rows(aborted="stopped by the user")
    assert first.outcome is Outcome.NOT_ATTEMPTED
    assert first.error == "not sent: stopped by the user"
    assert second.outcome is Outcome.UNCHANGED


@pytest.mark.slow
def test_a_run_killed_mid_way_leaves_no_partial_file_and_the_rerun_cleans_up(
    sb: Any, tmp_path: Path
) -> None:
    """The streamed workbook lives in scratch files until it is finished: a kill -9 leaves
    neither a torn results file nor a temp file beside the sheet; the rerun finishes the job
    and removes the scratch folder the killed run left."""
    rows, renamed = edit_rows()
    sheet = write_xlsx(tmp_path / "edits.xlsx", HEADER, rows)
    config = write_config(sb, tmp_path, rate_limit={"requests_per_second": 40})
    proc = start_cli("sync", str(sheet), "--config", str(config), cwd=tmp_path)
    try:
        wait_for_puts(sb, proc, 80)  # past the first 200 rows: the Results sheet is streaming
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
    assert sb.counters.snapshot().count("PUT") < len(renamed)  # killed before the end
    partial = [p.name for p in tmp_path.iterdir() if p.suffix in (".tmp", ".xlsx")]
    assert partial == ["edits.xlsx"]
    orphans = list(Path(tempfile.gettempdir()).glob(f"{scratch.PREFIX}{proc.pid}-*"))
    assert len(orphans) == 1
    # the Results rows written so far (about 1 kB each), in the killed run's scratch files
    assert sum(f.stat().st_size for f in orphans[0].iterdir()) > 50_000

    rerun = run_cli("sync", str(sheet), "--config", str(config), cwd=tmp_path)

    assert rerun.returncode == 1, rerun.stderr  # the invalid and not-found rows need a person
    assert not orphans[0].exists()
    for sid, name in renamed.items():
        assert sb.segment(sid)["name"] == name
    (results,) = tmp_path.glob("edits_results_*.xlsx")
    assert len(read_results(results)) == len(rows)


@pytest.mark.slow
def test_ctrl_c_while_streaming_finishes_the_file_with_every_row(sb: Any, tmp_path: Path) -> None:
    rows, renamed = edit_rows()
    sheet = write_xlsx(tmp_path / "edits.xlsx", HEADER, rows)
    config = write_config(sb, tmp_path, rate_limit={"requests_per_second": 40})
    out = tmp_path / "interrupted.xlsx"
    proc = start_cli("sync", str(sheet), "--config", str(config), "--out", str(out), cwd=tmp_path)
    wait_for_puts(sb, proc, 80)  # past the first 200 rows: the Results sheet is streaming
    proc.send_signal(signal.SIGINT)
    stdout, stderr = proc.communicate(timeout=60)

    assert proc.returncode == 3, (stdout, stderr)
    table = read_results(out)
    assert [int(r["source row"]) for r in table] == list(range(2, 2 + len(rows)))
    by_id = {int(r["id"]): r["outcome"] for r in table}
    sent = {sid for sid, name in renamed.items() if sb.segment(sid)["name"] == name}
    assert 80 <= len(sent) < len(renamed)
    assert {by_id[sid] for sid in sent} == {"updated"}
    assert {by_id[sid] for sid in set(renamed) - sent} == {"not_attempted"}
    assert [p.name for p in tmp_path.glob(".*.tmp")] == []


def test_scratch_folders_of_finished_processes_are_removed_and_no_others(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    orphan = tmp_path / f"{scratch.PREFIX}999-abc"  # its lock file, locked by nobody
    orphan.mkdir()
    (orphan / scratch.LOCK_NAME).touch()
    (orphan / "rows").write_text("segment data")
    unlocked_yet = tmp_path / f"{scratch.PREFIX}998-new"  # being made: no lock file yet
    unlocked_yet.mkdir()
    odd = tmp_path / f"{scratch.PREFIX}99999999999999999999-x"
    odd.mkdir()
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / scratch.LOCK_NAME).touch()
    (tmp_path / f"{scratch.PREFIX}1-link").symlink_to(elsewhere)
    (tmp_path / f"{scratch.PREFIX}2-file").write_text("not a folder")

    with scratch.scratch_folder() as mine:
        assert not orphan.exists()
        assert scratch.remove_orphans(tmp_path) == []  # mine is locked while in use
        assert Path(mine).is_dir()
        with scratch.scratch_folder() as second:  # another writer meanwhile: both stay
            assert Path(mine).is_dir() and Path(second).is_dir()
    assert not Path(mine).exists()
    assert unlocked_yet.is_dir() and odd.is_dir()
    assert (elsewhere / scratch.LOCK_NAME).exists()
    assert (tmp_path / f"{scratch.PREFIX}2-file").exists()
