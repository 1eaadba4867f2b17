"""The commands as a user runs them: the demo, rate, paging, export round trip, validate."""

from __future__ import annotations

import math
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from segsync.cli import cli
from segsync.cli.commands import LazyGroup
from segsync.engine import pipeline
from segsync.sandbox import RateLimitOptions, SandboxOptions, run_sandbox
from tests.helpers import (
    editable,
    read_results,
    run_cli,
    run_cli_process,
    settings_for,
    write_config,
    write_xlsx,
)

REPO = Path(__file__).parent.parent
SEED = REPO / "samples" / "segments.csv"


def test_demo_sync_against_embedded_sandbox_twice(tmp_path: Path) -> None:
    """The README's first command, in a copy of the project layout."""
    shutil.copytree(REPO / "samples", tmp_path / "samples")
    shutil.copy(REPO / "config.yaml", tmp_path / "config.yaml")
    for leftover in (tmp_path / "samples").glob("*_results_*"):
        leftover.unlink()

    first = run_cli("sync", "samples/segment_edits.xlsx", cwd=tmp_path)
    assert first.returncode == 1, first.stderr  # the samples include deliberate mistakes
    assert "updated" in first.stdout and "Traceback" not in first.stderr
    results = sorted((tmp_path / "samples").glob("segment_edits_results_*.xlsx"))
    assert len(results) == 1
    table = read_results(results[0])
    assert len(table) == 15
    updated = {r["source row"] for r in table if r["outcome"] == "updated"}
    assert len(updated) == 8
    assert (tmp_path / ".segsync" / "sandbox.sqlite3").is_file()

    second = run_cli("sync", "samples/segment_edits.xlsx", cwd=tmp_path)
    assert second.returncode == 1
    assert len(list((tmp_path / "samples").glob("segment_edits_results_*.xlsx"))) == 2
    second_results = tmp_path / second.stdout.split("results: ")[1].strip()
    assert second_results != results[0] and second_results.is_file()
    again = {r["source row"]: r["outcome"] for r in read_results(second_results)}
    assert all(again[row] == "unchanged" for row in updated)
    assert "PUT" not in second.stdout.split("requests:")[1].split("\n")[0]


@pytest.mark.slow
def test_rate_is_held_without_bursting(tmp_path: Path) -> None:
    """Server enforces 20/s (bucket 2); 200 changed rows at --rps 20 --burst 1."""
    options = SandboxOptions(seed_csv=SEED, rate_limit=RateLimitOptions(rps=20, burst=2))
    with run_sandbox(options) as sb:
        rows = [[s["id"], f"{s['name']} R"] for s in sb.segments()]
        assert len(rows) == 200
        sheet = write_xlsx(tmp_path / "e.xlsx", ["id", "name"], rows)
        settings = settings_for(
            sb,
            tmp_path,
            **{
                "rate_limit.requests_per_second": 20,
                "rate_limit.burst": 1,
                "rate_limit.max_concurrency": 4,
                "api.list_page_size": 100,
            },
        )
        result = pipeline.sync(sheet, settings)
        snap = sb.counters.snapshot()
    assert {r.outcome.value for r in result.rows} == {"updated"}
    assert snap.count(status=429) == 0
    assert snap.max_per_second <= 21
    assert snap.total == 202  # 2 list pages + 200 PUTs
    # how close the run comes to the limit is bench/bench_throttle.py's to measure, not a test's


def test_paging_reads_state_in_few_requests(tmp_path: Path) -> None:
    with run_sandbox(SandboxOptions(seed_rows=1000, seed=3, max_take=100)) as sb:
        ids = [s["id"] for s in sb.segments()]
        assert len(ids) == 1000
        sheet = write_xlsx(tmp_path / "e.xlsx", ["id"], [[i] for i in ids])
        settings = settings_for(sb, tmp_path, **{"api.list_page_size": 500})  # clamped to 100
        result = pipeline.sync(sheet, settings, dry_run=True)
        snap = sb.counters.snapshot()
    assert {r.outcome.value for r in result.rows} == {"unchanged"}
    assert snap.count("GET") <= math.ceil(1000 / 100) + 1
    assert snap.count("PUT") == 0
    assert "list" in result.fetch_strategy


def test_small_sheet_uses_per_id_gets(tmp_path: Path) -> None:
    with run_sandbox(SandboxOptions(seed_rows=1000, seed=3)) as sb:
        ids = [s["id"] for s in sb.segments()][-3:]
        sheet = write_xlsx(tmp_path / "e.xlsx", ["id"], [[i] for i in ids])
        result = pipeline.sync(sheet, settings_for(sb, tmp_path), dry_run=True)
        snap = sb.counters.snapshot()
    assert snap.count("GET") == 1 + 3  # one list page (tells the total), then 3 GETs
    assert "per-id" in result.fetch_strategy


def test_export_feeds_back_unchanged_then_edit(tmp_path: Path) -> None:
    with run_sandbox(SandboxOptions(seed_csv=SEED)) as sb:
        settings = settings_for(sb, tmp_path)
        path = pipeline.export(settings, campaign_ids=[5001], out=tmp_path / "export.xlsx")
        sb.counters.reset()
        back = pipeline.sync(path, settings)
        assert {r.outcome.value for r in back.rows} == {"unchanged"}
        assert len(back.rows) == sum(1 for s in sb.segments() if s["campaignId"] == 5001)
        assert sb.counters.snapshot().count("PUT") == 0
        # a colleague changes one segment after the export: that row is a conflict
        first = back.rows[0].segment_id
        assert first is not None
        before = editable(sb.segment(first))
        sb.modify(first, description="colleague")
        import openpyxl

        book = openpyxl.load_workbook(path)
        ws = book["Segments"]
        header = [c.value for c in ws[1]]
        ws.cell(row=2, column=header.index("name") + 1, value="Edited after export")
        ws.cell(row=3, column=header.index("name") + 1, value="Second edit")
        book.save(path)
        edited = pipeline.sync(path, settings)
        outcomes = [r.outcome.value for r in edited.rows]
        assert outcomes[0] == "conflict" and outcomes[1] == "updated"
        assert editable(sb.segment(first)) == {**before, "description": "colleague"}


def test_validate_is_offline_and_names_cells(tmp_path: Path) -> None:
    sheet = write_xlsx(
        tmp_path / "e.xlsx",
        ["Segment ID", "Name"],
        [[100001, "ok"], [100002, "#CLEAR"], ["x", "y"]],
    )
    proc = run_cli("validate", str(sheet), "--config", str(_empty_config(tmp_path)), cwd=tmp_path)
    assert proc.returncode == 1
    assert "Edits!B3 (Name)" in proc.stdout
    assert "Edits!A4 (Segment ID)" in proc.stdout
    assert "3 rows, 1 valid, 2 invalid" in proc.stdout


def test_file_level_problem_exits_2_with_one_sentence(tmp_path: Path) -> None:
    bad = tmp_path / "edits.xlsx"
    bad.write_text("<html><body>not a workbook</body></html>")
    with run_sandbox(SandboxOptions(seed_csv=SEED)) as sb:
        config = write_config(sb, tmp_path)
        proc = run_cli("sync", str(bad), "--config", str(config), cwd=tmp_path)
        assert sb.counters.snapshot().total == 0
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "edits.xlsx" in lines[0]


def _empty_config(tmp_path: Path) -> Path:
    path = tmp_path / "empty.yaml"
    path.write_text("")
    return path


def test_entry_points(tmp_path: Path) -> None:
    """``python -m segsync`` (a real process) prints its installed version and its commands."""
    from importlib.metadata import version

    proc = run_cli_process("--version", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == f"segsync, version {version('segsync')}\n"
    proc = run_cli_process("--help", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("Usage: segsync [OPTIONS] COMMAND [ARGS]...")
    listed = proc.stdout.split("Commands:", 1)[1].split()
    for command in ("apply", "export", "plan", "rollback", "runs", "sync", "validate", "web"):
        assert command in listed, command


def test_help_lists_every_command_without_loading_the_servers(tmp_path: Path) -> None:
    """``segsync --help`` names the sandbox and web commands by their own first help line,
    without importing aiohttp or Jinja2 (a fresh interpreter, so nothing is loaded already)."""
    probe = (
        "import sys\n"
        "from click.testing import CliRunner\n"
        "from segsync.cli import cli\n"
        "out = CliRunner().invoke(cli, ['--help']).output\n"
        "print(sorted(m for m in ('aiohttp', 'jinja2') if m in sys.modules))\n"
        "print(out)\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", probe], cwd=tmp_path, capture_output=True, text=True, check=True
    )
    loaded, listing = proc.stdout.split("\n", 1)
    assert loaded == "[]"
    from segsync.sandbox.command import sandbox
    from segsync.web.command import web

    for command in (sandbox, web):
        assert command.help is not None
        first_line = command.help.strip().splitlines()[0]
        assert LazyGroup.lazy[command.name or ""][1] == first_line
        assert f"  {command.name} " in listing
    real = CliRunner().invoke(cli, ["web", "--help"])
    assert real.exit_code == 0 and "--password-env" in real.output
