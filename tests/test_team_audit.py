"""The audit trail and the person behind each run: ``--actor``, ``segsync runs``, the results'
Summary and Run details, ``segsync audit [--since] [--json]``; the file is 0600 and append-only.
"""

from __future__ import annotations

import json
import stat
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from segsync.team.audit import AuditLog, parse_since, read_audit
from tests.helpers import read_summary, run_cli, write_config, write_csv


def renames(sb: Any, path: Path, n: int = 3) -> Path:
    rows = [[s["id"], f"Audited {s['id']}"] for s in sb.segments()[:n]]
    return write_csv(path, ["id", "name"], rows)


def test_a_job_run_is_recorded_under_its_actor_everywhere(sandbox: Any, tmp_path: Path) -> None:
    cfg = write_config(sandbox, tmp_path)
    sheet = renames(sandbox, tmp_path / "edits.csv")
    plan = run_cli("plan", str(sheet), "--out", str(tmp_path / "p.json"), "--config", str(cfg))
    assert plan.returncode == 0, plan.stderr
    applied = run_cli(
        "apply", str(tmp_path / "p.json"), "--actor", "nightly-job", "--config", str(cfg), "--json"
    )
    assert applied.returncode == 0, applied.stderr
    out = json.loads(applied.stdout)

    summary = [[str(c) for c in row] for row in read_summary(out["results"])]
    assert ["Run by", "nightly-job"] in [row[:2] for row in summary]

    runs = run_cli("runs", "--config", str(cfg))
    assert f"{out['run_id']}  apply     " in runs.stdout
    assert "by nightly-job" in runs.stdout

    audit_file = tmp_path / "audit.jsonl"  # beside the journal folder (tmp/runs)
    assert stat.S_IMODE(audit_file.stat().st_mode) == 0o600
    listed = run_cli("audit", "--json", "--config", str(cfg))
    entries = json.loads(listed.stdout)["entries"]
    assert [e["action"] for e in entries] == ["plan", "apply"]
    plan_line, apply_line = entries
    assert apply_line["person"] == "nightly-job" and apply_line["via"] == "cli"
    assert apply_line["os_user"] and apply_line["os_user"] != "nightly-job"
    assert "os_user" not in plan_line  # no --actor: the person is the account
    assert apply_line["run_id"] == out["run_id"]
    assert apply_line["counts"] == {"updated": 3}
    assert apply_line["exit_code"] == 0
    assert apply_line["file"].endswith("edits.csv")
    assert apply_line["file_sha256"] == plan_line["file_sha256"]
    plan_sha = json.loads((tmp_path / "p.json").read_text())["sha256"]
    assert apply_line["plan_sha256"] == plan_sha
    assert sandbox.token not in audit_file.read_text()

    text = run_cli("audit", "--config", str(cfg))
    assert "nightly-job  apply  run " in text.stdout and "updated 3" in text.stdout
    later = run_cli("audit", "--since", "2999-01-01", "--json", "--config", str(cfg))
    assert json.loads(later.stdout)["entries"] == []
    bad = run_cli("audit", "--since", "last tuesday", "--config", str(cfg))
    assert bad.returncode == 2 and "is not a date" in bad.stderr


def test_a_refused_run_is_an_audit_line_too(sandbox: Any, tmp_path: Path) -> None:
    cfg = write_config(sandbox, tmp_path)
    sheet = renames(sandbox, tmp_path / "edits.csv", n=5)
    refused = run_cli("sync", str(sheet), "--max-changes", "2", "--config", str(cfg))
    assert refused.returncode == 2
    (line,) = read_audit(tmp_path / "audit.jsonl")
    assert line["action"] == "sync" and line["exit_code"] == 2
    assert "max-changes" in line["refused"] or "2" in line["refused"]


def test_lines_are_appended_never_rewritten(tmp_path: Path) -> None:
    path = tmp_path / "trail" / "audit.jsonl"
    log = AuditLog(path)
    assert log.record("sign-in", "alice", via="web")
    first = path.read_bytes()
    assert log.record("approve", "bob", via="web", plan_sha256="ab" * 32)
    assert path.read_bytes().startswith(first)
    with open(path, "ab") as handle:
        handle.write(b'{"torn":')  # a crash mid-line
    lines = read_audit(path)
    assert [(e["person"], e["action"]) for e in lines] == [("alice", "sign-in"), ("bob", "approve")]
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700


def test_since_reads_dates_times_and_spans() -> None:
    now = datetime(2026, 12, 6, 12, 0, tzinfo=UTC)
    assert parse_since("7d", now) == now - timedelta(days=7)
    assert parse_since("12h", now) == now - timedelta(hours=12)
    assert parse_since("2026-12-01T08:00+00:00") == datetime(2026, 12, 1, 8, tzinfo=UTC)
