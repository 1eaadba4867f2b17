"""Plan → apply: the change a person approved is the change that is made, and guardrails.

Every case runs the real CLI or library against the sandbox and asserts on what the server
received and holds, and on the plan and results files.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from segsync.engine import pipeline
from segsync.errors import GuardrailError, PlanError, TargetMismatchError
from segsync.plan.planfile import canonical_sha256
from segsync.sandbox import SandboxOptions, run_sandbox
from tests.helpers import read_results, run_cli, settings_for, write_config, write_csv

REPO = Path(__file__).parent.parent
SEED = REPO / "samples" / "segments.csv"


def edits_sheet(sandbox: Any, path: Path) -> tuple[Path, list[int]]:
    """Five renames, one unchanged row, one invalid row, one unknown id."""
    segments = sandbox.segments()
    renamed = [s["id"] for s in segments[:5]]
    rows: list[list[Any]] = [[sid, f"Planned {sid}", f"note {n}"] for n, sid in enumerate(renamed)]
    rows.append([segments[5]["id"], segments[5]["name"], "note 5"])  # unchanged
    rows.append([segments[6]["id"], "#CLEAR", "note 6"])  # invalid: name cannot be cleared
    rows.append([999999, "Nobody", "note 7"])  # not found
    return write_csv(path, ["id", "name", "note"], rows), renamed


def test_plan_then_a_colleague_changes_one_segment_then_apply(sandbox: Any, tmp_path: Path) -> None:
    settings = settings_for(sandbox, tmp_path)
    sheet, renamed = edits_sheet(sandbox, tmp_path / "edits.csv")
    planned = pipeline.plan(sheet, settings, out=tmp_path / "edits.plan.json")
    assert planned.path == tmp_path / "edits.plan.json"
    assert sandbox.counters.snapshot().count("PUT") == 0
    data = json.loads(planned.path.read_text())
    assert data["format"] == "segsync-plan" and data["version"] == 1
    assert [r["outcome"] for r in data["rows"]] == [
        *["would_update"] * 5,
        "unchanged",
        "invalid",
        "not_found",
    ]
    assert sandbox.token not in planned.path.read_text()

    moved = renamed[2]
    sandbox.modify(moved, name="A colleague's name")
    result = pipeline.apply(planned.path, settings)
    outcomes = [r.outcome.value for r in result.rows]
    assert outcomes == [
        "updated",
        "updated",
        "conflict",
        "updated",
        "updated",
        "unchanged",
        "invalid",
        "not_found",
    ]
    conflict = result.rows[2]
    assert "changed on the server since the plan was made at" in (conflict.error or "")
    assert 'name now "A colleague\'s name"' in (conflict.error or "")
    assert sandbox.segment(moved)["name"] == "A colleague's name"
    for sid in renamed:
        if sid != moved:
            assert sandbox.segment(sid)["name"] == f"Planned {sid}"
    table = read_results(result.results_path or "")
    assert [r["outcome"] for r in table] == outcomes
    assert [r["note"] for r in table] == [f"note {n}" for n in range(8)]  # carried through
    assert result.exit_code == 1

    puts_before = sandbox.counters.snapshot().count("PUT")
    again = pipeline.apply(planned.path, settings)
    assert sandbox.counters.snapshot().count("PUT") == puts_before
    assert [r.outcome.value for r in again.rows][:5] == [
        "unchanged",
        "unchanged",
        "conflict",
        "unchanged",
        "unchanged",
    ]


def test_apply_sends_exactly_the_planned_bodies(sandbox: Any, tmp_path: Path) -> None:
    settings = settings_for(sandbox, tmp_path)
    sheet, renamed = edits_sheet(sandbox, tmp_path / "edits.csv")
    planned = pipeline.plan(sheet, settings)
    bodies = {r["id"]: r["body"] for r in planned.plan.to_send}
    assert sorted(bodies) == sorted(renamed)
    pipeline.apply(planned.plan, settings)
    snap = sandbox.counters.snapshot()
    assert snap.count("PUT") == len(planned.plan.to_send) == 5
    assert {sid: got for sid, got in snap.bodies_by_id.items()} == {
        sid: [body] for sid, body in bodies.items()
    }


def tampered(path: Path, change: Any) -> Path:
    data = json.loads(path.read_text())
    change(data)
    out = path.with_name("tampered.json")
    out.write_text(json.dumps(data))
    return out


def smuggle(data: dict[str, Any]) -> None:
    row = next(r for r in data["rows"] if r.get("body"))
    row["body"]["totalDonors"] = 5
    row["body_sha256"] = canonical_sha256(row["body"])


def edit_body(data: dict[str, Any]) -> None:
    next(r for r in data["rows"] if r.get("body"))["body"]["name"] = "Sneaky"


def edit_before(data: dict[str, Any]) -> None:
    next(r for r in data["rows"] if r.get("body"))["before"]["name"] = "Sneaky"


@pytest.mark.parametrize(
    ("case", "words"),
    [
        ("expired", "more than"),
        ("other_server", "was made for"),
        ("edited_body", "does not match its recorded sha256"),
        ("smuggled_field", "totalDonors, which is not an editable field"),
        ("edited_before", "was changed after it was made"),
    ],
)
def test_a_plan_that_cannot_be_trusted_is_refused_with_nothing_sent(
    sandbox: Any, tmp_path: Path, case: str, words: str
) -> None:
    config = write_config(sandbox, tmp_path)
    sheet, _ = edits_sheet(sandbox, tmp_path / "edits.csv")
    made = run_cli("plan", str(sheet), "--config", str(config), "--out", str(tmp_path / "p.json"))
    assert made.returncode == 1, made.stderr  # the sheet has deliberate problems
    plan_path = tmp_path / "p.json"
    args = ["apply", str(plan_path), "--config", str(config)]
    env: dict[str, str] = {}
    if case == "expired":
        env["SEGSYNC_PLAN__MAX_AGE_HOURS"] = "0.0000001"
    elif case == "other_server":
        args += ["--base-url", "http://127.0.0.1:9"]
    else:
        change = {"edited_body": edit_body, "smuggled_field": smuggle, "edited_before": edit_before}
        args[1] = str(tampered(plan_path, change[case]))
    sandbox.counters.reset()
    proc = run_cli(*args, env=env)
    assert proc.returncode == 2, proc.stderr
    assert words in proc.stderr and "othing was sent" in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1
    assert sandbox.counters.snapshot().total == 0


def test_library_refusals_raise_typed_errors(sandbox: Any, tmp_path: Path) -> None:
    settings = settings_for(sandbox, tmp_path)
    sheet, _ = edits_sheet(sandbox, tmp_path / "edits.csv")
    planned = pipeline.plan(sheet, settings)
    with pytest.raises(TargetMismatchError):
        pipeline.apply(planned.plan, settings.with_overrides({"api.base_url": "sandbox"}))
    with pytest.raises(PlanError):
        pipeline.apply(planned.plan, settings.with_overrides({"plan.max_age_hours": 1e-9}))
    assert sandbox.counters.snapshot().count("PUT") == 0


@pytest.mark.parametrize(
    "flags", [("--max-changes", "4"), ("--max-change-ratio", "0.02")], ids=["count", "ratio"]
)
def test_guardrails_refuse_before_any_put_and_keep_the_preview(
    sandbox: Any, tmp_path: Path, flags: tuple[str, str]
) -> None:
    config = write_config(sandbox, tmp_path)
    sheet, renamed = edits_sheet(sandbox, tmp_path / "edits.csv")
    out = tmp_path / "guarded.xlsx"
    proc = run_cli("sync", str(sheet), "--config", str(config), "--out", str(out), *flags)
    assert proc.returncode == 2, proc.stderr
    assert "would change 5" in proc.stderr and "Nothing was sent" in proc.stderr
    assert sandbox.counters.snapshot().count("PUT") == 0
    table = read_results(out)
    assert len(table) == 8
    assert all(sandbox.segment(sid)["name"] != f"Planned {sid}" for sid in renamed)
    within = run_cli("sync", str(sheet), "--config", str(config), "--max-changes", "5")
    assert within.returncode == 1, within.stderr
    assert sandbox.counters.snapshot().count("PUT") == 5


def test_guardrail_on_apply(sandbox: Any, tmp_path: Path) -> None:
    settings = settings_for(sandbox, tmp_path)
    sheet, _ = edits_sheet(sandbox, tmp_path / "edits.csv")
    planned = pipeline.plan(sheet, settings)
    with pytest.raises(GuardrailError, match="more than --max-changes 2"):
        pipeline.apply(planned.plan, settings, max_changes=2)
    assert sandbox.counters.snapshot().count("PUT") == 0


def test_canary_stops_when_the_server_does_not_store_what_was_sent(tmp_path: Path) -> None:
    with run_sandbox(SandboxOptions(seed_csv=SEED, truncate_text_at=12)) as sandbox:
        ids = [s["id"] for s in sandbox.segments()[:20]]
        sheet = write_csv(
            tmp_path / "long.csv", ["id", "name"], [[i, f"A much longer name {i}"] for i in ids]
        )
        settings = settings_for(sandbox, tmp_path)
        result = pipeline.sync(sheet, settings, canary=5)
        outcomes = [r.outcome.value for r in result.rows]
        assert outcomes[:5] == ["updated_with_differences"] * 5
        assert outcomes[5:] == ["not_attempted"] * 15
        assert sandbox.counters.snapshot().count("PUT") == 5
        assert result.exit_code == 3 and "canary" in (result.aborted or "")


def test_canary_passes_and_the_run_goes_on(sandbox: Any, tmp_path: Path) -> None:
    sheet, _ = edits_sheet(sandbox, tmp_path / "edits.csv")
    result = pipeline.sync(sheet, settings_for(sandbox, tmp_path), canary=2)
    assert [r.outcome.value for r in result.rows][:5] == ["updated"] * 5
    assert sandbox.counters.snapshot().count("PUT") == 5
    assert result.aborted is None


def results_counts(path: str) -> dict[str, int]:
    tally: dict[str, int] = {}
    for row in read_results(path):
        tally[row["outcome"]] = tally.get(row["outcome"], 0) + 1
    return tally


def test_json_output_of_every_command_matches_the_results(sandbox: Any, tmp_path: Path) -> None:
    config = write_config(sandbox, tmp_path)
    sheet, _ = edits_sheet(sandbox, tmp_path / "edits.csv")

    def run_json(*args: str) -> dict[str, Any]:
        proc = run_cli(*args, "--config", str(config), "--json")
        data = json.loads(proc.stdout)
        assert data["exit_code"] == proc.returncode, proc.stderr
        assert "rows" in proc.stderr  # the human summary went to stderr
        return data

    validated = run_json("validate", str(sheet))
    assert validated["counts"] == {"valid": 7, "invalid": 1}
    assert validated["problems"][0]["row"] == 8

    planned = run_json("plan", str(sheet))
    assert planned["counts"] == results_counts(planned["results"])
    assert planned["plan"] and Path(planned["plan"]).is_file()
    assert planned["problems_total"] == 2 and planned["requests"].get("PUT") is None

    applied = run_json("apply", planned["plan"])
    assert applied["counts"] == results_counts(applied["results"])
    assert applied["counts"]["updated"] == 5 and applied["run_id"]
    assert applied["requests"]["PUT"] == 5 and applied["throttled"] == 0

    synced = run_json("sync", str(sheet))
    assert synced["counts"] == results_counts(synced["results"])
    assert synced["counts"].get("unchanged") == 6

    rolled = run_json("rollback", applied["run_id"])
    assert rolled["counts"] == results_counts(rolled["results"]) == {"updated": 5}


def test_runs_prune_deletes_old_runs_and_their_results(sandbox: Any, tmp_path: Path) -> None:
    config = write_config(sandbox, tmp_path)
    sheet, _ = edits_sheet(sandbox, tmp_path / "edits.csv")
    done = run_cli("sync", str(sheet), "--config", str(config), "--json")
    results = Path(json.loads(done.stdout)["results"])
    assert results.is_file()
    kept = run_cli("runs", "--prune", "1", "--config", str(config))
    assert "Deleted 0 runs" in kept.stdout and results.is_file()
    pruned = run_cli("runs", "--prune", "0", "--config", str(config))
    assert "Deleted 1 run " in pruned.stdout
    assert not results.exists() and not list((tmp_path / "runs").glob("*/journal.jsonl"))
