"""The journal against the server: what the run wrote down is what the server received.

Rollback and ``--only-failed`` trust the journal, so it must agree with the server request by
request, with and without faults: every PUT body the server received is the body journaled as
planned for that segment (written before the first PUT); the attempt records of a row are the
PUTs the server saw for it, in order and with the same statuses (None for a reset
connection on both sides); a row's result counts those attempts and carries the state the
server ended with.
"""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path
from typing import Any

import pytest

from segsync.engine import pipeline
from segsync.sandbox import FaultOptions
from tests.conftest import MakeSandbox
from tests.helpers import editable, settings_for, write_csv

FAULTS = {
    "no faults": FaultOptions(),
    "faults": FaultOptions(
        p_503=0.12, p_500_after_write=0.08, p_reset=0.06, p_429=0.02, methods=("PUT",)
    ),
}


def journal_records(folder: Path) -> list[dict[str, Any]]:
    (journal,) = folder.glob("*/journal.jsonl")
    return [json.loads(line) for line in journal.read_text(encoding="utf-8").splitlines()]


@pytest.mark.parametrize("faults", FAULTS.values(), ids=FAULTS.keys())
def test_the_journal_matches_what_the_server_received(
    make_sandbox: MakeSandbox, tmp_path: Path, faults: FaultOptions
) -> None:
    sandbox = make_sandbox(faults=faults, seed=3)
    segments = sandbox.segments()[:40]
    rows = [[s["id"], f"{s['name']} (journaled)", f"J-{s['id']}"] for s in segments]
    sheet = write_csv(tmp_path / "edits.csv", ["id", "name", "externalIdentifier"], rows)
    settings = settings_for(
        sandbox,
        tmp_path,
        **{"retries.backoff_base_s": 0.005, "retries.backoff_max_s": 0.02},
    )

    result = pipeline.sync(sheet, settings, out=False)

    assert {r.outcome.value for r in result.rows} == {"updated"}
    snap = sandbox.counters.snapshot()
    if faults.any:  # the faults really happened, each kind
        assert {"503", "500_after_write", "reset"} <= set(snap.faults), snap.faults
    records = journal_records(tmp_path / "runs")
    kinds = [r["type"] for r in records]
    assert kinds[0] == "header" and kinds[-1] == "footer"
    # every planned record comes before the first attempt
    assert max(i for i, k in enumerate(kinds) if k == "planned") < kinds.index("attempt")

    planned = {r["id"]: r for r in records if r["type"] == "planned"}
    assert sorted(planned) == sorted(s["id"] for s in segments)
    # 1. every body the server received is the body journaled as planned for that segment
    assert set(snap.bodies_by_id) == set(planned)
    for sid, bodies in snap.bodies_by_id.items():
        assert bodies and all(body == planned[sid]["body"] for body in bodies), sid
    # ... and the planned before-state is what the server held before the run
    for s in segments:
        assert {f: planned[s["id"]]["before"][f] for f in editable(s)} == editable(s)

    # 2. the attempt records of each row are the PUTs the server saw for it, in order
    journaled: defaultdict[int, list[int | None]] = defaultdict(list)
    for r in records:
        if r["type"] == "attempt":
            journaled[r["id"]].append(r["status"])
    seen: defaultdict[int, list[int | None]] = defaultdict(list)
    for a in snap.arrivals:
        if a.method == "PUT" and a.put_id is not None:
            seen[a.put_id].append(a.status)
    assert dict(journaled) == dict(seen)
    assert sum(map(len, seen.values())) == snap.count("PUT")
    if faults.any:
        assert any(len(statuses) > 1 for statuses in seen.values())  # retries were journaled

    # 3. each result counts its attempts and carries the state the server now holds
    results = {r["id"]: r for r in records if r["type"] == "result"}
    assert set(results) == set(planned)
    for sid, record in results.items():
        assert record["attempts"] == len(seen[sid]) == snap.puts_by_id[sid]
        assert record["status"] == 200 == seen[sid][-1]
        server = sandbox.segment(sid)
        assert editable(record["after"]) == editable(server), sid
