"""The differ on plain data: merge rules, conflicts, duplicate-code warnings."""

from __future__ import annotations

from segsync.input.editset import EditSet, RowEdit
from segsync.model import Segment
from segsync.outcomes import Outcome
from segsync.plan.differ import diff, same_instant


def seg(sid: int, **kw: object) -> Segment:
    base = {"id": sid, "campaignId": 1, "name": f"n{sid}", "code": f"c{sid}"}
    base.update(kw)
    return Segment.from_api(base)


def edits(*rows: RowEdit) -> EditSet:
    return EditSet(source="t", sheet="s", rows=list(rows))


def row(i: int, sid: int, **values: object) -> RowEdit:
    return RowEdit(index=i, source_row=i + 2, segment_id=sid, values=dict(values))


def test_body_is_complete_merge_and_blank_keeps() -> None:
    current = {1: seg(1, description="d", externalIdentifier="x")}
    plan = diff(edits(row(0, 1, name="new")), current)
    (r,) = plan.rows
    assert r.to_send
    assert r.body is not None
    assert r.body.to_json() == {
        "campaignId": 1,
        "name": "new",
        "code": "c1",
        "description": "d",
        "externalIdentifier": "x",
    }
    assert [(c.field, c.before, c.after) for c in r.changes] == [("name", "n1", "new")]


def test_clear_unchanged_not_found_and_invalid_merge() -> None:
    current = {1: seg(1, description="d"), 2: seg(2), 3: seg(3, code=None)}
    plan = diff(
        edits(
            row(0, 1, description=None),
            row(1, 2, name="n2"),
            row(2, 9, name="x"),
            row(3, 3, name="y"),  # the server's own code is empty: cannot be sent as is
        ),
        current,
    )
    assert [r.outcome for r in plan.rows] == [
        None,
        Outcome.UNCHANGED,
        Outcome.NOT_FOUND,
        Outcome.INVALID,
    ]
    assert plan.rows[0].body is not None and plan.rows[0].body.description is None


def test_conflict_on_modified_time_and_force() -> None:
    current = {1: seg(1, modifiedDateTime="2026-01-02T00:00:00+00:00")}
    stale = row(0, 1, name="x")
    stale.expected_modified = "2026-01-01T00:00:00Z"
    assert diff(edits(stale), current).rows[0].outcome is Outcome.CONFLICT
    assert diff(edits(stale), current, force=True).rows[0].to_send
    fresh = row(0, 1, name="x")
    fresh.expected_modified = "2026-01-02T00:00:00Z"  # same instant, other spelling
    assert diff(edits(fresh), current).rows[0].to_send


def test_expected_state_conflict_for_rollback() -> None:
    current = {1: seg(1, name="someone else")}
    undo = row(0, 1, name="original")
    undo.expected_state = {**seg(1, name="what the run wrote").editable()}
    assert diff(edits(undo), current).rows[0].outcome is Outcome.CONFLICT


def test_a_code_another_segment_of_the_campaign_holds_is_refused() -> None:
    """Shared codes are decided after the differ (segsync/plan/server_checks.py), only within the
    campaign written to, and only for rows that change a code or a campaign."""
    from segsync.api.fetch import CurrentState
    from segsync.plan.server_checks import _shared_codes

    current = {1: seg(1, code="A"), 2: seg(2, code="B"), 3: seg(3, campaignId=2, code="A")}
    state = CurrentState(current, "list", complete=True)
    sheet = edits(row(0, 2, code="a"))
    plan = diff(sheet, current)
    assert _shared_codes(plan, state, sheet, None) == []
    assert plan.rows[0].outcome is Outcome.INVALID
    assert "code 'a' is already held by segment 1" in (plan.rows[0].error or "")
    sheet = edits(row(0, 2, name="x"))
    plan = diff(sheet, current)
    assert _shared_codes(plan, state, sheet, None) == [] and plan.rows[0].to_send


def test_same_instant() -> None:
    assert same_instant("2026-01-01T10:00:00+01:00", "2026-01-01T09:00:00Z")
    assert same_instant("2026-01-01T09:00:00", "2026-01-01T09:00:00+00:00")
    assert not same_instant("2026-01-01T09:00:00", "later")


def test_same_instant_tolerates_a_spreadsheets_millisecond_rounding() -> None:
    assert same_instant("2026-01-01T10:00:00.123456Z", "2026-01-01T10:00:00.123")
    assert not same_instant("2026-01-01T10:00:00.123456Z", "2026-01-01T10:00:00.125")
