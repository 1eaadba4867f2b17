"""Ops-made sheets (tests/data/make_intent_corpus.py) through the real command: for each class of
"what the person meant", the exit code, the key words of the sentence, and what reached the
sandbox. Refusals of the file send nothing at all; row problems are never written.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from python_calamine import CalamineWorkbook

from segsync.sandbox import SandboxOptions, run_sandbox
from tests.data.make_intent_corpus import make, seed
from tests.helpers import run_cli

REPO = Path(__file__).parent.parent
SEED = REPO / "samples" / "segments.csv"


@pytest.fixture
def api(tmp_path: Path) -> Iterator[tuple[Any, Path]]:
    with run_sandbox(SandboxOptions(seed_csv=SEED)) as sb:
        token = tmp_path / "token"
        token.write_text(sb.token or "")
        config = tmp_path / "config.yaml"
        config.write_text(
            yaml.safe_dump(
                {
                    "api": {"base_url": sb.base_url, "token_file": str(token)},
                    "rate_limit": {"requests_per_second": 500},
                    "journal": {"dir": str(tmp_path / "runs")},
                    "output": {"dir": str(tmp_path / "out")},
                }
            )
        )
        yield sb, config


def sheet(tmp_path: Path, name: str) -> str:
    return str(make(name, tmp_path))


def refused(proc: Any, *words: str) -> str:
    """A one-line refusal (exit 2) holding ``words``."""
    assert proc.returncode == 2, proc.stdout + proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("segsync: "), proc.stderr
    for word in words:
        assert word in lines[0], lines[0]
    assert "nothing was sent" in lines[0]
    return str(lines[0])


# -------------------------------------------------------------------------- columns


@pytest.mark.parametrize(
    ("name", "words"),
    [
        (
            "ops_unmapped.xlsx",
            ["'Campaign' (column D: did you mean campaignId?)", "'Desc' (column F: did you mean"],
        ),
        ("typos.xlsx", ["'Segmnet Name' (column B: did you mean name?)", "description?"]),
        ("old_new_name.xlsx", ["'Old Name'", "'New Name' (column C: did you mean name?)"]),
        ("ext_ref.csv", ["'Ext Ref' (column C: did you mean externalIdentifier?)", "--map"]),
    ],
)
@pytest.mark.parametrize("command", ["validate", "sync --dry-run", "sync", "sync --strict"])
def test_a_column_that_looks_like_a_field_is_refused_before_any_request(
    api: tuple[Any, Path], tmp_path: Path, name: str, words: list[str], command: str
) -> None:
    sb, config = api
    proc = run_cli(*command.split(), sheet(tmp_path, name), "--config", str(config))
    refused(proc, *words, "--ignore-column")
    assert sb.counters.snapshot().total == 0


def test_the_ops_sheet_mapped_sends_every_column_it_meant(
    api: tuple[Any, Path], tmp_path: Path
) -> None:
    sb, config = api
    path = sheet(tmp_path, "ops_unmapped.xlsx")
    flags = ["--config", str(config), "--map", "Desc=description", "--map", "Campaign=note"]
    preview = run_cli("sync", path, "--dry-run", "--json", *flags)
    assert preview.returncode == 0, preview.stderr
    data = json.loads(preview.stdout)
    assert data["sheet"] == "Edits"
    assert data["columns"] == {
        "Segment ID": "id",
        "Segment Name": "name",
        "Source Code": "code",
        "Campaign": "note",
        "Salesforce ID": "externalIdentifier",
        "Desc": "description",
        "Notes": "note",
    }
    assert data["counts"] == {"would_update": 2}
    assert "columns: A 'Segment ID' → id" in preview.stderr.splitlines()[1]
    assert sb.counters.snapshot().count("PUT") == 0
    done = run_cli("sync", path, *flags)
    assert done.returncode == 0, done.stdout
    s1 = sb.segment(100001)
    assert (s1["code"], s1["externalIdentifier"], s1["description"]) == (
        "PG-01",
        "SF-1001",
        "Calls",
    )


def test_a_saved_mapping_in_the_config_settles_the_columns(
    api: tuple[Any, Path], tmp_path: Path
) -> None:
    sb, config = api
    data = yaml.safe_load(config.read_text())
    data["input"] = {"columns": {"New Name": "name", "Old Name": "ignore"}}
    config.write_text(yaml.safe_dump(data))
    proc = run_cli("sync", sheet(tmp_path, "old_new_name.xlsx"), "--config", str(config))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "C 'New Name' → name" in proc.stdout and "B 'Old Name' → ignored" in proc.stdout
    assert sb.segment(100001)["name"] == "Planned Giving – Renamed"


def test_a_mapping_to_no_field_is_a_config_error(api: tuple[Any, Path], tmp_path: Path) -> None:
    _, config = api
    path = sheet(tmp_path, "typos.xlsx")
    proc = run_cli("validate", path, "--config", str(config), "--map", "Descripton=descr")
    assert proc.returncode == 2
    assert "mapped to 'descr', which is not a field" in proc.stderr


# -------------------------------------------------------------------------- hidden cells


def test_hidden_rows_are_refused_skipped_or_included_as_asked(
    api: tuple[Any, Path], tmp_path: Path
) -> None:
    sb, config = api
    path = sheet(tmp_path, "hidden_rows.xlsx")
    draft = sb.segment(100002)
    line = refused(
        run_cli("sync", path, "--config", str(config)),
        "1 hidden row with data",
        "row 3 (id 100002 'DRAFT DO NOT SEND",
        "--hidden skip",
    )
    assert "filter" in line
    assert sb.counters.snapshot().total == 0
    skipped = run_cli("sync", path, "--config", str(config), "--hidden", "skip")
    assert skipped.returncode == 0, skipped.stdout
    assert "was left out (--hidden skip): row 3" in skipped.stdout
    assert sb.segment(100002) == draft  # the hidden row never reached the API
    assert sb.segment(100001)["name"] == "Visible rename"
    included = run_cli("sync", path, "--config", str(config), "--hidden", "include")
    assert included.returncode == 0, included.stdout
    assert sb.segment(100002)["code"] == "XXX"


def test_a_hidden_column_is_never_sent_unless_asked(api: tuple[Any, Path], tmp_path: Path) -> None:
    sb, config = api
    path = sheet(tmp_path, "hidden_column.xlsx")
    before = sb.segment(100001)["description"]
    refused(
        run_cli("sync", path, "--config", str(config)),
        "hidden column C ('Description') holds a segment field",
    )
    assert sb.counters.snapshot().total == 0
    proc = run_cli("sync", path, "--config", str(config), "--hidden", "skip")
    assert proc.returncode == 0, proc.stdout
    assert "C 'Description' → ignored (hidden)" in proc.stdout
    assert sb.segment(100001)["description"] == before
    assert sb.segment(100001)["name"] == "Visible rename"


# -------------------------------------------------------------------------- sheets


def test_two_sheets_with_edits_are_refused_until_one_is_named(
    api: tuple[Any, Path], tmp_path: Path
) -> None:
    sb, config = api
    path = sheet(tmp_path, "two_tabs.xlsx")
    refused(
        run_cli("sync", path, "--config", str(config)),
        "2 sheets with segment edits ('Spring Appeal', 'Giving Tuesday')",
        "--sheet",
    )
    assert sb.counters.snapshot().total == 0
    proc = run_cli("sync", path, "--config", str(config), "--sheet", "Giving Tuesday", "--json")
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["sheet"] == "Giving Tuesday"
    assert "sheet 'Giving Tuesday'" in proc.stderr.splitlines()[0]
    assert sb.segment(100003)["name"] == "Tuesday rename"
    assert sb.segment(100001)["name"] != "Spring rename"


def test_an_instructions_sheet_first_names_the_sheet_with_ids(
    api: tuple[Any, Path], tmp_path: Path
) -> None:
    _sb, config = api
    refused(
        run_cli("validate", sheet(tmp_path, "instructions_first.xlsx"), "--config", str(config)),
        "the first sheet, 'Instructions', has no id column",
        "--sheet 'Edits'",
    )


# -------------------------------------------------------------------------- row problems


@pytest.mark.parametrize(
    ("name", "problems", "sent"),
    [
        (
            "read_only_edit.xlsx",
            [
                "Segments!C2 id 100001: campaignName: read-only in Raise",
                "change campaignId to move a segment",
                "Segments!D3 id 100003: totalDonors: read-only in Raise: the sheet says '120000'",
            ],
            {100004: {"name": "Renamed fine"}},
        ),
        (
            "clear_words.xlsx",
            [
                "Edits!C2 id 100004: Description: 'N/A' looks like a word meant as 'clear'",
                "write #CLEAR to clear it",
                "Edits!D3 id 100001: External ID: 'null'",
                "Edits!B4 id 100003: Name: '-' looks like a word meant as 'clear', but name "
                "cannot be cleared",
            ],
            {100009: {"description": None}},
        ),
        (
            "invisible.xlsx",
            [
                "Edits!B2 id 100001: Name: holds an invisible character, zero width space "
                "(U+200B), at the end",
                "Edits!B3 id 100003: Name: holds an invisible character, no-break space (U+00A0)",
            ],
            {100004: {"name": "Plain rename"}},
        ),
        (
            "numeric_codes.xlsx",
            [
                "Edits!B2 id 100001: Code: holds the number 993.5",
                "format the column as Text",
                "Edits!B3 id 100003: Code: holds the number 120000",
            ],
            {},
        ),
    ],
)
def test_an_edit_that_cannot_mean_what_it_says_is_a_problem_never_sent(
    api: tuple[Any, Path],
    tmp_path: Path,
    name: str,
    problems: list[str],
    sent: dict[int, dict[str, Any]],
) -> None:
    sb, config = api
    path = sheet(tmp_path, name)
    before = {s["id"]: s for s in sb.segments()}
    strict = run_cli("sync", path, "--config", str(config), "--strict")
    assert strict.returncode == 2 and "--strict" in strict.stderr, strict.stderr
    assert sb.counters.snapshot().count("PUT") == 0
    preview = run_cli("sync", path, "--config", str(config), "--dry-run")
    proc = run_cli("sync", path, "--config", str(config))
    for run in (preview, proc):
        assert run.returncode == 1, run.stdout + run.stderr
        for problem in problems:
            assert problem in run.stdout, run.stdout
    after = {s["id"]: s for s in sb.segments()}
    changed = {
        sid: {k: v for k, v in after[sid].items() if before[sid].get(k) != v and k in FIELDS}
        for sid in after
        if any(after[sid].get(k) != before[sid].get(k) for k in FIELDS)
    }
    assert changed == sent


FIELDS = ("campaignId", "name", "code", "description", "externalIdentifier")


def test_an_export_fed_back_unchanged_has_no_read_only_problem(
    api: tuple[Any, Path], tmp_path: Path
) -> None:
    _sb, config = api
    out = tmp_path / "export.xlsx"
    assert run_cli("export", "--config", str(config), "--out", str(out)).returncode == 0
    proc = run_cli("sync", str(out), "--config", str(config), "--dry-run", "--json")
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    assert data["counts"] == {"unchanged": len(seed())}
    assert data["columns"]["totalDonors"] == "read-only (totalDonors)"


# -------------------------------------------------------------------------- server rules


def test_the_preview_checks_campaigns_and_codes_as_the_server_would(
    api: tuple[Any, Path], tmp_path: Path
) -> None:
    sb, config = api
    path = sheet(tmp_path, "moves.xlsx")
    preview = run_cli("sync", path, "--config", str(config), "--dry-run", "--json")
    assert preview.returncode == 1, preview.stderr
    data = json.loads(preview.stdout)
    assert data["counts"] == {"would_update": 1, "invalid": 2} and data["moves"] == 1
    reasons = {p["cell"]: p["reason"] for p in data["problems"]}
    assert "campaign 5009 is not in Raise's campaign list" in reasons["Edits!B3"]
    assert "code 'FB69' is already held by segment 100003" in reasons["Edits!C4"]
    assert "(would move campaign)" in preview.stderr
    assert sb.counters.snapshot().count("PUT") == 0
    changes = CalamineWorkbook.from_path(data["results"]).get_sheet_by_name("Changes")
    move = changes.to_python()[1]
    assert move[3:6] == ["campaignId (move)", "5001 Spring Appeal 2026", "5002 Giving Tuesday 2026"]
    done = run_cli("sync", path, "--config", str(config), "--json")
    assert done.returncode == 1
    assert json.loads(done.stdout)["moves"] == 1
    assert sb.segment(100001)["campaignId"] == 5002
    assert sb.segment(100003)["campaignId"] == 5001 and sb.segment(100004)["code"] == "081-EM"


def test_without_a_campaign_list_the_check_is_said_not_made(
    api: tuple[Any, Path], tmp_path: Path
) -> None:
    _sb, config = api
    data = yaml.safe_load(config.read_text())
    data["api"]["paths"] = {"campaign_list": "/api/NoSuchList/list"}
    config.write_text(yaml.safe_dump(data))
    proc = run_cli("sync", sheet(tmp_path, "moves.xlsx"), "--config", str(config), "--dry-run")
    assert "the campaign list answered 404" in proc.stdout
    assert "campaign ids of the moves were not checked" in proc.stdout
    # 5009 could not be refused; and segment 100003 moving away frees its code FB69 in 5001
    assert proc.returncode == 0, proc.stdout
    assert "would_update               3" in proc.stdout


def test_a_code_held_outside_the_sheet_is_checked_by_reading_the_campaign(
    api: tuple[Any, Path], tmp_path: Path
) -> None:
    """A short sheet is read by id; the campaign's other segments are then listed (one filtered
    list read), and where the list is off the warning says the check was not made."""
    sb, config = api
    path = tmp_path / "code.csv"
    path.write_text("id,code\n100004,EM16\n", encoding="utf-8")  # 100012 holds EM16 (5001)
    proc = run_cli("sync", str(path), "--config", str(config), "--dry-run")
    assert proc.returncode == 1, proc.stdout
    assert "code 'EM16' is already held by segment 100012" in proc.stdout
    data = yaml.safe_load(config.read_text())
    data["api"]["list_enabled"] = False
    config.write_text(yaml.safe_dump(data))
    proc = run_cli("sync", str(path), "--config", str(config), "--dry-run")
    assert proc.returncode == 0, proc.stdout
    assert "new codes were not checked against the other segments of campaign 5001" in (proc.stdout)
    assert sb.counters.snapshot().count("PUT") == 0


def test_a_move_with_the_new_campaign_name_beside_it_is_a_move(
    api: tuple[Any, Path], tmp_path: Path
) -> None:
    sb, config = api
    path = tmp_path / "move.csv"
    path.write_text(
        "id,campaignId,campaignName\n100001,5002,Giving Tuesday 2026\n", encoding="utf-8"
    )
    proc = run_cli("sync", str(path), "--config", str(config))
    assert proc.returncode == 0, proc.stdout
    assert sb.segment(100001)["campaignId"] == 5002


def test_a_saved_plan_keeps_the_mapping_and_the_moves(
    api: tuple[Any, Path], tmp_path: Path
) -> None:
    sb, config = api
    path = sheet(tmp_path, "ops_unmapped.xlsx")
    plan_file = tmp_path / "plan.json"
    flags = ["--config", str(config), "--map", "Desc=description", "--map", "Campaign=note"]
    planned = run_cli("plan", path, *flags, "--out", str(plan_file))
    assert planned.returncode == 0, planned.stdout + planned.stderr
    applied = run_cli("apply", str(plan_file), "--config", str(config), "--json")
    assert applied.returncode == 0, applied.stderr
    data = json.loads(applied.stdout)
    assert data["columns"]["Desc"] == "description" and data["columns"]["Campaign"] == "note"
    assert sb.segment(100001)["description"] == "Calls"
    moves = tmp_path / "moves.csv"
    moves.write_text("id,campaignId\n100001,5002\n", encoding="utf-8")
    plan_file = tmp_path / "moves.json"
    assert (
        run_cli("plan", str(moves), "--config", str(config), "--out", str(plan_file)).returncode
        == 0
    )
    applied = run_cli("apply", str(plan_file), "--config", str(config), "--json")
    data = json.loads(applied.stdout)
    assert data["moves"] == 1 and sb.segment(100001)["campaignId"] == 5002
