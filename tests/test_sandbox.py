"""The Raise-compatible sandbox, exercised over real loopback TCP with httpx.

Every test starts its own server (``sandbox`` / ``make_sandbox`` in conftest.py) so state, counters
and the seeded fault stream are fresh. Nothing sleeps to synchronise: startup returns once the port
listens, and concurrency is created by server-side latency, not by client-side waiting.
"""

from __future__ import annotations

import asyncio
import csv
import logging
import re
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from segsync.model import EDITABLE_FIELDS
from segsync.sandbox import (
    DEFAULT_MAX_TAKE,
    DEFAULT_TAKE,
    DEMO_TOKEN,
    FaultOptions,
    RateLimitOptions,
    Sandbox,
    SandboxOptions,
    run_sandbox,
)
from segsync.sandbox.ratelimit import TokenBucket, retry_after_header

SEGMENT_FIELDS = {
    "id",
    "campaignId",
    "campaignName",
    "name",
    "description",
    "code",
    "externalIdentifier",
    "totalDonors",
    "totalGifts",
    "totalGiftAmount",
    "averageGiftAmount",
    "medianGiftAmount",
    "highestGiftAmount",
    "totalVisitors",
    "conversionRate",
    "createdDateTime",
    "modifiedDateTime",
}
PROBLEM_FIELDS = {"type", "title", "status", "detail", "instance"}
MONEY = re.compile(r"^\$\d{1,3}(,\d{3})*\.\d{2}$")
PERCENT = re.compile(r"^\d+\.\d{2}%$")
FIRST_ID = 100001
SAMPLES_CSV = Path(__file__).resolve().parent.parent / "samples" / "segments.csv"

# The fixture factories' types (see conftest.py; conftest is not importable as a module).
MakeSandbox = Callable[..., Sandbox]
MakeClient = Callable[..., httpx.Client]


def body_of(segment: dict[str, Any], **changes: Any) -> dict[str, Any]:
    """A complete PUT body: the segment's editable fields with ``changes`` laid over."""
    return {**{f: segment[f] for f in EDITABLE_FIELDS}, **changes}


def cents(money: str) -> int:
    return int(money.lstrip("$").replace(",", "").replace(".", ""))


def assert_problem(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status
    assert response.headers["content-type"].startswith("application/problem+json")
    problem = response.json()
    assert problem["status"] == status
    assert problem["type"].startswith("https://tools.ietf.org/html/")
    return problem


def assert_validation(response: httpx.Response) -> dict[str, list[str]]:
    problem = assert_problem(response, 400)
    assert problem["title"] == "One or more validation errors occurred."
    assert problem["type"] == "https://tools.ietf.org/html/rfc9110#section-15.5.1"
    assert problem["traceId"]
    return problem["errors"]


# -- GET /api/Segment/{id} ----------------------------------------------------------------------


def test_get_segment_returns_the_full_model(client: httpx.Client) -> None:
    response = client.get(f"/api/Segment/{FIRST_ID}")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/json")
    segment = response.json()
    assert set(segment) == SEGMENT_FIELDS
    assert segment["id"] == FIRST_ID
    assert segment["campaignId"] == 5001
    assert segment["campaignName"] == "Spring Appeal 2026"
    assert segment["code"] == "00025"  # leading zeros survive CSV → SQLite → JSON
    assert segment["description"] is None  # blank CSV cell
    for name in ("totalDonors", "totalGifts", "totalVisitors"):
        assert isinstance(segment[name], int)
    for name in ("totalGiftAmount", "averageGiftAmount", "medianGiftAmount", "highestGiftAmount"):
        assert MONEY.match(segment[name]), segment[name]
    assert PERCENT.match(segment["conversionRate"])
    for name in ("createdDateTime", "modifiedDateTime"):
        parsed = datetime.fromisoformat(segment[name])
        assert parsed.utcoffset() is not None
    assert segment["modifiedDateTime"] >= segment["createdDateTime"]


def test_statistics_are_consistent_and_deterministic(
    sandbox: Sandbox, make_sandbox: MakeSandbox
) -> None:
    segments = sandbox.segments()
    for s in segments:
        gifts, total = s["totalGifts"], cents(s["totalGiftAmount"])
        assert s["totalDonors"] <= gifts
        assert s["totalDonors"] <= s["totalVisitors"]
        if gifts:
            assert abs(cents(s["averageGiftAmount"]) - total / gifts) <= 1
            assert cents(s["medianGiftAmount"]) <= cents(s["highestGiftAmount"]) <= total
            rate = 100 * s["totalDonors"] / s["totalVisitors"]
            assert s["conversionRate"] == f"{rate:.2f}%"
        else:
            assert total == 0
    assert len({s["totalGiftAmount"] for s in segments}) > 150  # varied, not one template
    assert make_sandbox().segments() == segments  # same seed → same numbers and dates
    assert make_sandbox(seed=7).segments() != segments


def test_get_unknown_id_is_a_404_problem(client: httpx.Client) -> None:
    problem = assert_problem(client.get("/api/Segment/999"), 404)
    assert set(problem) >= PROBLEM_FIELDS
    assert problem["title"] == "Not Found"
    assert problem["instance"] == "/api/Segment/999"
    assert "999" in problem["detail"]


@pytest.mark.parametrize("bad_id", ["abc", "1.5", "9223372036854775808", "-9223372036854775809"])
def test_non_int64_id_in_path_is_a_400(client: httpx.Client, bad_id: str) -> None:
    assert "id" in assert_validation(client.get(f"/api/Segment/{bad_id}"))
    assert "id" in assert_validation(client.put(f"/api/Segment/{bad_id}", json={}))


# -- auth ---------------------------------------------------------------------------------------


def test_missing_token_is_401_with_empty_body(sandbox: Sandbox, make_client: MakeClient) -> None:
    anonymous = make_client(sandbox, auth=False)
    for method, path in [
        ("GET", f"/api/Segment/{FIRST_ID}"),
        ("PUT", f"/api/Segment/{FIRST_ID}"),
        ("GET", "/api/Segment/list"),
        ("GET", "/api/Campaign/list"),
    ]:
        response = anonymous.request(method, path)
        assert response.status_code == 401
        assert response.content == b""
        assert response.headers["www-authenticate"] == "Bearer"
    assert sandbox.counters.snapshot().count(status=401) == 4


@pytest.mark.parametrize("header", ["Bearer wrong-token", "Basic c2FuZGJveA==", "Bearer", "x"])
def test_wrong_token_is_401_with_empty_body(sandbox: Sandbox, header: str) -> None:
    response = httpx.get(
        f"{sandbox.base_url}/api/Segment/{FIRST_ID}",
        headers={"Authorization": header},
        trust_env=False,
    )
    assert response.status_code == 401
    assert response.content == b""
    assert response.headers["www-authenticate"].startswith("Bearer")


def test_revoke_and_set_token(sandbox: Sandbox, make_client: MakeClient) -> None:
    assert sandbox.token == DEMO_TOKEN
    client = make_client(sandbox)
    assert client.get(f"/api/Segment/{FIRST_ID}").status_code == 200
    sandbox.revoke_token()
    assert sandbox.token is None
    assert client.get(f"/api/Segment/{FIRST_ID}").status_code == 401
    sandbox.set_token("rotated")
    assert client.get(f"/api/Segment/{FIRST_ID}").status_code == 401
    assert make_client(sandbox, token="rotated").get(f"/api/Segment/{FIRST_ID}").status_code == 200


def test_custom_token_and_forbidden_switch(
    make_sandbox: MakeSandbox, make_client: MakeClient
) -> None:
    sb = make_sandbox(token="org-42")
    client = make_client(sb)
    assert client.get(f"/api/Segment/{FIRST_ID}").status_code == 200
    assert make_client(sb, token=DEMO_TOKEN).get("/api/Segment/list").status_code == 401
    sb.set_forbidden()
    problem = assert_problem(client.get(f"/api/Segment/{FIRST_ID}"), 403)
    assert problem["title"] == "Forbidden"


# -- PUT /api/Segment/{id} ----------------------------------------------------------------------


def test_put_is_a_full_replacement(sandbox: Sandbox, client: httpx.Client) -> None:
    segment_id = 100006  # has a description and no external identifier
    before = sandbox.segment(segment_id)
    assert before is not None and before["description"]
    body = {"campaignId": before["campaignId"], "name": "Major Donors $1k+ · QR", "code": "00149"}
    response = client.put(f"/api/Segment/{segment_id}", json=body)
    assert response.status_code == 200
    after = response.json()
    assert set(after) == SEGMENT_FIELDS
    assert after["name"] == "Major Donors $1k+ · QR"
    assert after["description"] is None  # omitted → null, as ASP.NET binds it
    assert after["externalIdentifier"] is None
    assert after["totalGiftAmount"] == before["totalGiftAmount"]  # read-only values untouched
    assert sandbox.segment(segment_id) == after
    assert client.get(f"/api/Segment/{segment_id}").json() == after


def test_put_ignores_read_only_fields_and_binds_names_case_insensitively(
    sandbox: Sandbox, client: httpx.Client
) -> None:
    before = sandbox.segment(FIRST_ID)
    assert before is not None
    body = {**before, "Name": "Renamed", "totalDonors": 1, "campaignName": "x"}
    del body["name"]
    after = client.put(f"/api/Segment/{FIRST_ID}", json=body).json()
    assert after["name"] == "Renamed"
    assert after["totalDonors"] == before["totalDonors"]
    assert after["campaignName"] == before["campaignName"]


@pytest.mark.parametrize(
    ("changes", "field", "message"),
    [
        ({"name": ""}, "name", "The name field is required."),
        ({"name": None}, "name", "The name field is required."),
        ({"code": None}, "code", "The code field is required."),
        ({"code": ""}, "code", "The code field is required."),
        (
            {"campaignId": "5001"},
            "campaignId",
            "The JSON value could not be converted to System.Int64.",
        ),
        (
            {"campaignId": 2**63},
            "campaignId",
            "The JSON value could not be converted to System.Int64.",
        ),
        ({"campaignId": None}, "campaignId", "The campaignId field is required."),
        ({"name": 12}, "name", "The JSON value could not be converted to System.String."),
    ],
)
def test_put_validation_messages_per_field(
    sandbox: Sandbox, client: httpx.Client, changes: dict[str, Any], field: str, message: str
) -> None:
    before = sandbox.segment(FIRST_ID)
    assert before is not None
    errors = assert_validation(
        client.put(f"/api/Segment/{FIRST_ID}", json=body_of(before, **changes))
    )
    assert errors == {field: [message]}
    assert sandbox.segment(FIRST_ID) == before


def test_put_missing_code_field_is_reported_by_name(sandbox: Sandbox, client: httpx.Client) -> None:
    body = {"campaignId": 5001, "name": "No code here"}
    errors = assert_validation(client.put(f"/api/Segment/{FIRST_ID}", json=body))
    assert errors == {"code": ["The code field is required."]}


@pytest.mark.parametrize("raw", [b"{not json", b'{"name": "x",}', b"\xff\xfe", b"[1, 2]", b""])
def test_put_malformed_body_is_a_400(client: httpx.Client, raw: bytes) -> None:
    response = client.put(
        f"/api/Segment/{FIRST_ID}", content=raw, headers={"Content-Type": "application/json"}
    )
    assert assert_validation(response)


def test_put_non_json_content_type_is_a_415(client: httpx.Client) -> None:
    response = client.put(f"/api/Segment/{FIRST_ID}", content=b"name=x")
    assert_problem(response, 415)


def test_put_unknown_id_is_a_404(client: httpx.Client) -> None:
    body = {"campaignId": 5001, "name": "Ghost", "code": "G-1"}
    problem = assert_problem(client.put("/api/Segment/123", json=body), 404)
    assert problem["instance"] == "/api/Segment/123"


def test_modified_datetime_moves_only_on_a_real_change(
    sandbox: Sandbox, client: httpx.Client
) -> None:
    before = sandbox.segment(FIRST_ID)
    assert before is not None
    same = client.put(f"/api/Segment/{FIRST_ID}", json=body_of(before)).json()
    assert same == before  # identical PUT: nothing moves
    changed = client.put(f"/api/Segment/{FIRST_ID}", json=body_of(before, code="00026")).json()
    assert changed["modifiedDateTime"] > before["modifiedDateTime"]
    assert changed["createdDateTime"] == before["createdDateTime"]
    again = client.put(f"/api/Segment/{FIRST_ID}", json=body_of(changed)).json()
    assert again["modifiedDateTime"] == changed["modifiedDateTime"]
    # Another user's edit through the back door also moves it, and the API shows it.
    other = sandbox.modify(FIRST_ID, name="Edited elsewhere")
    assert other["modifiedDateTime"] > changed["modifiedDateTime"]
    assert client.get(f"/api/Segment/{FIRST_ID}").json() == other


def test_moving_a_segment_between_campaigns(sandbox: Sandbox, client: httpx.Client) -> None:
    before = sandbox.segment(FIRST_ID)
    assert before is not None
    unknown = client.put(f"/api/Segment/{FIRST_ID}", json=body_of(before, campaignId=9999))
    errors = assert_validation(unknown)
    assert list(errors) == ["campaignId"] and "9999" in errors["campaignId"][0]
    moved = client.put(f"/api/Segment/{FIRST_ID}", json=body_of(before, campaignId=5002))
    assert moved.status_code == 200
    assert moved.json()["campaignId"] == 5002
    assert moved.json()["campaignName"] == "Giving Tuesday 2026"


def test_deny_campaign_move_switch(sandbox: Sandbox, client: httpx.Client) -> None:
    sandbox.configure(allow_campaign_move=False)
    before = sandbox.segment(FIRST_ID)
    assert before is not None
    errors = assert_validation(
        client.put(f"/api/Segment/{FIRST_ID}", json=body_of(before, campaignId=5002))
    )
    assert list(errors) == ["campaignId"]
    same_campaign = client.put(f"/api/Segment/{FIRST_ID}", json=body_of(before, name="Still here"))
    assert same_campaign.status_code == 200
    assert sandbox.segment(FIRST_ID)["campaignId"] == 5001  # type: ignore[index]


def test_reject_duplicate_codes_switch(make_sandbox: MakeSandbox, make_client: MakeClient) -> None:
    lenient = make_sandbox()
    first, second = lenient.segment(100001), lenient.segment(100002)
    assert first and second and first["campaignId"] == second["campaignId"]
    duplicate = body_of(second, code=first["code"])
    assert make_client(lenient).put("/api/Segment/100002", json=duplicate).status_code == 200

    strict = make_sandbox(reject_duplicate_codes=True)
    client = make_client(strict)
    errors = assert_validation(client.put("/api/Segment/100002", json=duplicate))
    assert list(errors) == ["code"] and "100001" in errors["code"][0]
    assert strict.segment(100002) == second
    # Its own code, and a code used only in another campaign, are fine.
    assert client.put("/api/Segment/100002", json=body_of(second)).status_code == 200
    elsewhere = next(s for s in strict.segments() if s["campaignId"] != first["campaignId"])
    assert client.put(
        "/api/Segment/100002", json=body_of(second, code=elsewhere["code"])
    ).is_success


# -- GET /api/Segment/list ----------------------------------------------------------------------


def test_list_envelope_default_take_and_total(client: httpx.Client) -> None:
    page = client.get("/api/Segment/list").json()
    assert set(page) == {"items", "total"}
    assert page["total"] == 200
    assert len(page["items"]) == DEFAULT_TAKE
    assert set(page["items"][0]) == SEGMENT_FIELDS
    ids = [s["id"] for s in page["items"]]
    assert ids == sorted(ids) and ids[0] == FIRST_ID


def test_list_take_is_clamped(
    client: httpx.Client, make_sandbox: MakeSandbox, make_client: MakeClient
) -> None:
    page = client.get("/api/Segment/list", params={"Take": 1000}).json()
    assert len(page["items"]) == DEFAULT_MAX_TAKE and page["total"] == 200
    small = make_client(make_sandbox(max_take=7))
    assert len(small.get("/api/Segment/list", params={"Take": 50}).json()["items"]) == 7


def test_paging_reaches_every_row_exactly_once(sandbox: Sandbox, client: httpx.Client) -> None:
    seen: list[int] = []
    skip = 0
    while True:
        page = client.get("/api/Segment/list", params={"Skip": skip, "Take": 30}).json()
        if not page["items"]:
            break
        seen += [s["id"] for s in page["items"]]
        skip += len(page["items"])
        if skip >= page["total"]:
            break
    assert seen == [s["id"] for s in sandbox.segments()]
    assert len(seen) == 200


def test_lowercase_query_names_are_ignored(client: httpx.Client) -> None:
    page = client.get("/api/Segment/list", params={"skip": 190, "take": 5}).json()
    assert len(page["items"]) == DEFAULT_TAKE
    assert page["items"][0]["id"] == FIRST_ID


def test_sorting(sandbox: Sandbox, client: httpx.Client) -> None:
    params = {"SortBy": "name", "Descending": "true", "Take": 100}
    names = [s["name"] for s in client.get("/api/Segment/list", params=params).json()["items"]]
    expected = sorted((s["name"] for s in sandbox.segments()), key=str.casefold, reverse=True)
    assert [n.casefold() for n in names] == [n.casefold() for n in expected[:100]]
    params = {"SortBy": "modifiedDateTime", "Descending": "false", "Take": 100}
    stamps = [
        s["modifiedDateTime"]
        for s in client.get("/api/Segment/list", params=params).json()["items"]
    ]
    assert stamps == sorted(stamps)


@pytest.mark.parametrize(
    ("params", "key"),
    [
        ({"SortBy": "donors"}, "SortBy"),
        ({"Descending": "yes"}, "Descending"),
        ({"Skip": "-1"}, "Skip"),
        ({"Take": "many"}, "Take"),
        ({"CampaignId": "Spring"}, "CampaignId"),
    ],
)
def test_bad_list_parameters_are_400(
    client: httpx.Client, params: dict[str, str], key: str
) -> None:
    assert key in assert_validation(client.get("/api/Segment/list", params=params))


def test_filter_is_a_case_insensitive_substring_of_name_or_code(
    sandbox: Sandbox, client: httpx.Client
) -> None:
    page = client.get("/api/Segment/list", params={"Filter": "QUÉBEC", "Take": 100}).json()
    expected = [s["id"] for s in sandbox.segments() if "québec" in s["name"].casefold()]
    assert expected and [s["id"] for s in page["items"]] == expected
    assert page["total"] == len(expected)
    by_code = client.get("/api/Segment/list", params={"Filter": "007-dm"}).json()
    assert {s["code"] for s in by_code["items"]} == {"007-DM", "007-DMB"}


def test_campaign_filter_accepts_several_campaigns(sandbox: Sandbox, client: httpx.Client) -> None:
    params = [("CampaignId", "5002"), ("CampaignId", "5004"), ("Take", "100")]
    page = client.get("/api/Segment/list", params=params).json()
    expected = [s["id"] for s in sandbox.segments() if s["campaignId"] in (5002, 5004)]
    assert page["total"] == len(expected) == 76
    assert [s["id"] for s in page["items"]] == expected[:76]
    one = client.get("/api/Segment/list", params={"CampaignId": 5005, "Filter": "brick"}).json()
    assert [s["code"] for s in one["items"]] == ["BRK-001"]


def test_campaign_list(client: httpx.Client) -> None:
    page = client.get("/api/Campaign/list").json()
    assert page["total"] == 5
    assert page["items"][0] == {"id": 5001, "name": "Spring Appeal 2026"}
    assert {c["name"] for c in page["items"]} >= {"Giving Tuesday 2026", "Year-End Match 2026"}


# -- rate limit ---------------------------------------------------------------------------------


def test_rate_limit_answers_429_with_retry_after(
    make_sandbox: MakeSandbox, make_client: MakeClient
) -> None:
    sb = make_sandbox(rate_limit=RateLimitOptions(rps=5, burst=2))
    client = make_client(sb)
    responses = [client.get(f"/api/Segment/{FIRST_ID}") for _ in range(10)]
    statuses = [r.status_code for r in responses]
    assert statuses[:2] == [200, 200]
    limited = [r for r in responses if r.status_code == 429]
    assert len(limited) >= 3  # 10 requests take far less than the 1.6 s needed to refill 8
    for r in limited:
        assert_problem(r, 429)
        assert int(r.headers["retry-after"]) >= 1
    # Every request is counted, the refused ones too; campaign lists are throttled as well.
    assert sb.counters.snapshot().count(status=429) == len(limited)
    assert client.get("/api/Campaign/list").status_code == 429
    sb.set_rate_limit(None)
    assert client.get(f"/api/Segment/{FIRST_ID}").status_code == 200


def test_token_bucket_refill_and_retry_after_rounding() -> None:
    now = [0.0]
    bucket = TokenBucket(rps=2, burst=2, clock=lambda: now[0])
    assert bucket.acquire() == 0.0 and bucket.acquire() == 0.0
    assert bucket.acquire() == pytest.approx(0.5)
    now[0] = 0.5
    assert bucket.acquire() == 0.0
    assert retry_after_header(0.01) == "1"
    assert retry_after_header(1.2) == "2"


# -- faults -------------------------------------------------------------------------------------


def _hit(client: httpx.Client, method: str, segment: dict[str, Any], n: int) -> int:
    """Send ``n`` requests; return the number of transport errors (resets)."""
    errors = 0
    for i in range(n):
        try:
            if method == "PUT":
                client.put(f"/api/Segment/{segment['id']}", json=body_of(segment, name=f"n{i}"))
            else:
                client.get(f"/api/Segment/{segment['id']}")
        except httpx.TransportError:
            errors += 1
    return errors


@pytest.mark.parametrize(
    ("faults", "method", "status"),
    [
        (FaultOptions(p_503=0.2), "GET", 503),
        (FaultOptions(p_429=0.2, retry_after_s=3), "GET", 429),
        (FaultOptions(p_500_after_write=0.2), "PUT", 500),
        (FaultOptions(p_reset=0.2), "GET", None),
    ],
    ids=["503", "429", "500-after-write", "reset"],
)
def test_fault_fires_at_its_configured_rate(
    make_sandbox: MakeSandbox,
    make_client: MakeClient,
    faults: FaultOptions,
    method: str,
    status: int | None,
) -> None:
    sb = make_sandbox(faults=faults, seed=11)
    client = make_client(sb)
    segment = sb.segment(FIRST_ID)
    assert segment is not None
    resets = _hit(client, method, segment, 400)
    snapshot = sb.counters.snapshot()
    fired = snapshot.count(method, status)
    assert 0.12 <= fired / 400 <= 0.28, fired
    assert snapshot.count(method, 200) == 400 - fired
    if status is None:
        assert resets == fired  # httpx saw each one as a transport error
    # each answer was the injected fault, counted as such (no token-bucket 429 among them)
    fault = {503: "503", 429: "429", 500: "500_after_write", None: "reset"}[status]
    assert snapshot.faults == {fault: fired}


def test_injected_429_carries_the_configured_retry_after(
    make_sandbox: MakeSandbox, make_client: MakeClient
) -> None:
    sb = make_sandbox(faults=FaultOptions(p_429=1.0, retry_after_s=7))
    response = make_client(sb).get(f"/api/Segment/{FIRST_ID}")
    assert_problem(response, 429)
    assert response.headers["retry-after"] == "7"


def test_500_after_write_leaves_the_write_applied(
    make_sandbox: MakeSandbox, make_client: MakeClient
) -> None:
    sb = make_sandbox(faults=FaultOptions(p_500_after_write=1.0))
    client = make_client(sb)
    before = sb.segment(FIRST_ID)
    assert before is not None
    assert_problem(client.put(f"/api/Segment/{FIRST_ID}", json=body_of(before, name="Saved")), 500)
    assert sb.segment(FIRST_ID)["name"] == "Saved"  # type: ignore[index]
    assert client.get(f"/api/Segment/{FIRST_ID}").status_code == 200  # GETs are unaffected
    # A rejected PUT is not turned into a 500: nothing was written.
    assert client.put(f"/api/Segment/{FIRST_ID}", json=body_of(before, name="")).status_code == 400
    snapshot = sb.counters.snapshot()
    assert snapshot.writes_by_id == {FIRST_ID: 1}
    assert snapshot.faults == {"500_after_write": 1}


def test_reset_is_a_transport_error_and_logs_nothing(
    make_sandbox: MakeSandbox, make_client: MakeClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="aiohttp")
    caplog.set_level(logging.DEBUG, logger="asyncio")
    sb = make_sandbox(faults=FaultOptions(p_reset=1.0))
    client = make_client(sb)
    for _ in range(20):
        with pytest.raises(httpx.TransportError):
            client.get(f"/api/Segment/{FIRST_ID}")
    assert client.get("/api/Campaign/list").status_code == 200  # faults: segment endpoints only
    sb.set_faults(FaultOptions())
    assert client.get(f"/api/Segment/{FIRST_ID}").status_code == 200  # the server survived
    assert sb.counters.snapshot().requests[("GET", None)] == 20
    noisy = [r for r in caplog.records if r.levelno >= logging.WARNING or r.exc_info]
    assert noisy == []


@pytest.mark.slow
def test_stall_outlasts_a_client_timeout(
    make_sandbox: MakeSandbox, make_client: MakeClient
) -> None:
    sb = make_sandbox(faults=FaultOptions(p_stall=1.0, stall_s=0.5))
    client = make_client(sb, timeout=0.1)
    with pytest.raises(httpx.ReadTimeout):  # the client gave up before the server answered
        client.get(f"/api/Segment/{FIRST_ID}")
    patient = make_client(sb, timeout=5.0)
    assert patient.get(f"/api/Segment/{FIRST_ID}").status_code == 200  # answered after the stall
    # both were held for the whole stall, then answered (the first after its client had gone)
    held = sb.counters.snapshot().arrivals
    assert [a.status for a in held] == [200, 200]
    assert all(a.answered_at is not None and a.answered_at - a.at >= 0.5 for a in held)


@pytest.mark.slow
def test_stall_fires_at_its_configured_rate(
    make_sandbox: MakeSandbox, make_client: MakeClient
) -> None:
    stall_s = 0.01
    sb = make_sandbox(faults=FaultOptions(p_stall=0.2, stall_s=stall_s), seed=3)
    client = make_client(sb)
    slow = 0
    for _ in range(100):
        started = time.perf_counter()
        assert client.get(f"/api/Segment/{FIRST_ID}").status_code == 200
        slow += time.perf_counter() - started >= stall_s
    stalled = sb.counters.snapshot().faults["stall"]
    assert 8 <= stalled <= 35
    assert slow >= stalled  # every stalled request took at least stall_s


@pytest.mark.slow
def test_latency_and_jitter_are_measurable(
    make_sandbox: MakeSandbox, make_client: MakeClient
) -> None:
    sb = make_sandbox(faults=FaultOptions(latency_ms=40, jitter_ms=40))
    client = make_client(sb)
    elapsed = []
    for _ in range(8):
        started = time.perf_counter()
        client.get(f"/api/Segment/{FIRST_ID}")
        elapsed.append(time.perf_counter() - started)
    assert min(elapsed) >= 0.04
    assert max(elapsed) - min(elapsed) > 0.002  # the jitter varies
    # not a segment endpoint: no added latency (a long one, so the check has a wide margin)
    sb.set_faults(FaultOptions(latency_ms=2000))
    assert client.get("/api/Campaign/list").status_code == 200
    (listed,) = [a for a in sb.counters.snapshot().arrivals if a.method == "GET"][-1:]
    assert listed.answered_at is not None and listed.answered_at - listed.at < 1.0


def test_same_seed_gives_the_same_fault_sequence(
    make_sandbox: MakeSandbox, make_client: MakeClient
) -> None:
    faults = FaultOptions(p_503=0.3, p_429=0.2)

    def sequence(seed: int) -> list[int]:
        client = make_client(make_sandbox(faults=faults, seed=seed))
        return [client.get(f"/api/Segment/{FIRST_ID}").status_code for _ in range(60)]

    first = sequence(5)
    assert set(first) == {200, 429, 503}
    assert sequence(5) == first
    assert sequence(6) != first


def test_fault_options_are_validated() -> None:
    with pytest.raises(ValueError, match="sum"):
        FaultOptions(p_503=0.6, p_429=0.6)
    with pytest.raises(ValueError, match="probability"):
        FaultOptions(p_reset=1.5)
    with pytest.raises(ValueError):
        RateLimitOptions(rps=0)


# -- counters -----------------------------------------------------------------------------------


def test_counters_count_requests_puts_and_rate(sandbox: Sandbox, client: httpx.Client) -> None:
    segment = sandbox.segment(FIRST_ID)
    assert segment is not None
    for _ in range(7):
        client.get(f"/api/Segment/{FIRST_ID}")
    client.put(f"/api/Segment/{FIRST_ID}", json=body_of(segment, name="A"))
    client.put(f"/api/Segment/{FIRST_ID}", json=body_of(segment, name=""))
    client.put("/api/Segment/100002", json=body_of(segment, name="B"))  # code dup allowed
    snapshot = sandbox.counters.snapshot()
    assert snapshot.requests == {("GET", 200): 7, ("PUT", 200): 2, ("PUT", 400): 1}
    assert snapshot.total == 10
    assert snapshot.puts_by_id == {FIRST_ID: 2, 100002: 1}
    assert snapshot.writes_by_id == {FIRST_ID: 1, 100002: 1}
    assert snapshot.max_per_second == 10  # all ten arrived within one second
    assert snapshot.max_in_flight == 1  # one sequential client
    sandbox.counters.reset()
    cleared = sandbox.counters.snapshot()
    assert cleared.total == 0 and cleared.max_per_second == 0 and cleared.puts_by_id == {}


def test_max_in_flight_sees_concurrent_requests(make_sandbox: MakeSandbox) -> None:
    sb = make_sandbox(faults=FaultOptions(latency_ms=300))

    async def burst() -> list[int]:
        headers = {"Authorization": f"Bearer {sb.token}"}
        async with httpx.AsyncClient(base_url=sb.base_url, headers=headers, trust_env=False) as c:
            responses = await asyncio.gather(
                *(c.get(f"/api/Segment/{FIRST_ID + i}") for i in range(6))
            )
        return [r.status_code for r in responses]

    assert asyncio.run(burst()) == [200] * 6
    snapshot = sb.counters.snapshot()
    assert snapshot.max_in_flight == 6
    assert snapshot.in_flight == 0


# -- lifecycle ----------------------------------------------------------------------------------


def test_state_survives_a_restart_with_the_same_db_file(tmp_path: Path) -> None:
    db = tmp_path / "sandbox.sqlite"
    options = SandboxOptions(db=db, seed_csv=SAMPLES_CSV)
    with run_sandbox(options) as sb:
        before = sb.segment(FIRST_ID)
        assert before is not None
        headers = {"Authorization": f"Bearer {sb.token}"}
        url = f"{sb.base_url}/api/Segment/{FIRST_ID}"
        changed = httpx.put(
            url, json=body_of(before, name="Kept"), headers=headers, trust_env=False
        )
        assert changed.status_code == 200
    with run_sandbox(options) as sb:
        assert sb.segment(FIRST_ID) == changed.json()
        assert len(sb.segments()) == 200
    with run_sandbox(options, seed_rows=3, seed_csv=None) as sb:  # existing data is never reseeded
        assert len(sb.segments()) == 200
    with run_sandbox(options, reset=True) as sb:
        assert sb.segment(FIRST_ID) == before


def test_generated_rows_are_deterministic() -> None:
    with run_sandbox(seed_rows=30, seed=9) as a, run_sandbox(seed_rows=30, seed=9) as b:
        assert len(a.segments()) == 30
        assert a.segments() == b.segments()
        assert len(a.campaigns()) >= 2


@pytest.mark.slow
def test_shutdown_is_fast_even_with_a_stalled_request(make_client: MakeClient) -> None:
    with run_sandbox(faults=FaultOptions(p_stall=1.0, stall_s=30)) as sb:
        with pytest.raises(httpx.ReadTimeout):
            make_client(sb, timeout=0.2).get(f"/api/Segment/{FIRST_ID}")
        assert sb.counters.snapshot().in_flight == 1
        started = time.perf_counter()
    # far less than the 30 s the stalled request would have held a shutdown that waited for it
    assert time.perf_counter() - started < 10.0


def test_port_in_use_raises_at_startup(sandbox: Sandbox) -> None:
    port = int(sandbox.base_url.rsplit(":", 1)[1])
    with pytest.raises(OSError), run_sandbox(port=port):
        pass


def test_cli_prints_url_and_token_and_stops_on_sigterm() -> None:
    args = ["--port", "0", "--seed-csv", str(SAMPLES_CSV), "--no-access-log"]
    process = subprocess.Popen(
        [sys.executable, "-m", "segsync", "sandbox", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        url = re.search(r"http://127\.0\.0\.1:\d+", process.stdout.readline())
        token_line = process.stdout.readline()
        assert url and DEMO_TOKEN in token_line
        response = httpx.get(
            f"{url.group(0)}/api/Segment/list",
            headers={"Authorization": f"Bearer {DEMO_TOKEN}"},
            trust_env=False,
        )
        assert response.json()["total"] == 200
    finally:
        process.terminate()
        assert process.wait(timeout=10) == 0
    assert process.stderr is not None and "Traceback" not in process.stderr.read()


# -- the sample file ----------------------------------------------------------------------------


def test_sample_csv_is_realistic_and_well_formed() -> None:
    with open(SAMPLES_CSV, encoding="utf-8", newline="") as handle:
        reader = csv.reader(handle)
        header = next(reader)
        rows = [dict(zip(header, r, strict=True)) for r in reader]
    assert header == [
        "id",
        "campaignId",
        "campaignName",
        "name",
        "code",
        "description",
        "externalIdentifier",
    ]
    assert 180 <= len(rows) <= 220
    assert len({r["campaignId"] for r in rows}) in (4, 5)
    codes = [(r["campaignId"], r["code"].casefold()) for r in rows]
    assert len(set(codes)) == len(codes)  # unique within a campaign
    assert any(r["code"].startswith("0") for r in rows)
    assert any(not r["description"] for r in rows)
    assert any(not r["externalIdentifier"] for r in rows)
    names = " ".join(r["name"] for r in rows)
    for fragment in ("Québec", "Müller", "$1k+", "&"):
        assert fragment in names
    assert not re.search(r"Segment \d+", names)
