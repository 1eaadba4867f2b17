"""Routes and handlers of the Raise-compatible API: segment GET/PUT/list and a campaign list.

Handlers only translate HTTP to store calls and back; validation uses ``segsync.model`` so the
server refuses exactly what the client's own checks refuse, with ASP.NET's wording. Behaviour the
Raise reference leaves open follows the switches in ``SandboxOptions``.
"""

from __future__ import annotations

import json
from functools import partial
from typing import Any

from aiohttp import web

from segsync.model import EDITABLE_FIELDS, INT64_MAX, INT64_MIN, field_errors
from segsync.sandbox.middlewares import (
    STATE_KEY,
    authenticate,
    count_requests,
    inject_faults,
    parse_int64,
    rate_limit,
)
from segsync.sandbox.problems import problem, validation_problem
from segsync.sandbox.state import SandboxState
from segsync.sandbox.store import SORT_KEYS, ListQuery

SEGMENT_PATH = "/api/Segment/{id}"
SEGMENT_LIST_PATH = "/api/Segment/list"
CAMPAIGN_LIST_PATH = "/api/Campaign/list"

_INT32_MAX = 2**31 - 1
_SORT_NAMES = "id, name, code, campaignId, modifiedDateTime"
_json_response = partial(web.json_response, dumps=partial(json.dumps, ensure_ascii=False))


def _state(request: web.Request) -> SandboxState:
    return request.app[STATE_KEY]


class _BadQuery(Exception):
    def __init__(self, errors: dict[str, list[str]]) -> None:
        super().__init__(errors)
        self.errors = errors


def _path_id(request: web.Request) -> int | None:
    return parse_int64(request.match_info["id"])


def _bad_id(request: web.Request) -> web.Response:
    value = request.match_info["id"]
    return validation_problem(request, {"id": [f"The value '{value}' is not valid."]})


def _not_found(request: web.Request, segment_id: int) -> web.Response:
    return problem(request, 404, f"Segment {segment_id} was not found.")


# -- GET /api/Segment/{id} ------------------------------------------------------------------


async def get_segment(request: web.Request) -> web.Response:
    segment_id = _path_id(request)
    if segment_id is None:
        return _bad_id(request)
    segment = _state(request).store.get(segment_id)
    if segment is None:
        return _not_found(request, segment_id)
    return _json_response(segment)


# -- PUT /api/Segment/{id} ------------------------------------------------------------------


def _reject_constant(name: str) -> Any:
    raise ValueError(f"'{name}' is an invalid JSON literal")


def _conversion_errors(values: dict[str, Any]) -> dict[str, list[str]]:
    """Type mismatches, worded as System.Text.Json reports them before any rule runs."""
    errors: dict[str, list[str]] = {}
    cid = values.get("campaignId")
    if cid is not None and (
        isinstance(cid, bool) or not isinstance(cid, int) or not INT64_MIN <= cid <= INT64_MAX
    ):
        errors["campaignId"] = ["The JSON value could not be converted to System.Int64."]
    for name in ("name", "code", "description", "externalIdentifier"):
        value = values.get(name)
        if value is not None and not isinstance(value, str):
            errors[name] = ["The JSON value could not be converted to System.String."]
    return errors


def _bind(body: dict[str, Any]) -> dict[str, Any]:
    """Bind the request model like ASP.NET's web defaults: property names case-insensitively,
    unknown and read-only properties ignored, omitted ones null (PUT replaces everything)."""
    by_lower = {field.lower(): field for field in EDITABLE_FIELDS}
    values: dict[str, Any] = dict.fromkeys(EDITABLE_FIELDS)
    for key, value in body.items():
        field = by_lower.get(key.lower())
        if field is not None:
            values[field] = value
    return values


async def _read_body(request: web.Request) -> dict[str, Any] | web.Response:
    content_type = request.content_type
    if content_type != "application/json" and not content_type.endswith("+json"):
        return problem(request, 415, "The request body must be application/json.")
    raw = await request.read()
    if not raw.strip():
        return validation_problem(request, {"": ["A non-empty request body is required."]})
    try:
        body = json.loads(raw.decode("utf-8"), parse_constant=_reject_constant)
    except (UnicodeDecodeError, ValueError) as exc:
        return validation_problem(request, {"$": [f"The JSON value is malformed: {exc}."]})
    if not isinstance(body, dict):
        return validation_problem(
            request, {"$": ["The JSON value could not be converted to SegmentRequestModel."]}
        )
    return body


def _business_errors(
    state: SandboxState, segment_id: int, current: dict[str, Any], values: dict[str, Any]
) -> dict[str, list[str]]:
    """Rules that need the store: campaign moves, unknown campaigns, duplicate codes."""
    errors: dict[str, list[str]] = {}
    campaign_id = values["campaignId"]
    options = state.options
    if campaign_id != current["campaignId"] and not options.allow_campaign_move:
        errors["campaignId"] = ["A segment cannot be moved to another campaign."]
    elif not state.store.campaign_exists(campaign_id):
        errors["campaignId"] = [f"The campaign {campaign_id} does not exist."]
    elif options.reject_duplicate_codes:
        owner = state.store.code_owner(campaign_id, values["code"], exclude_id=segment_id)
        if owner is not None:
            errors["code"] = [
                f"The code '{values['code']}' is already used by segment {owner} "
                f"in campaign {campaign_id}."
            ]
    return errors


async def put_segment(request: web.Request) -> web.Response:
    state = _state(request)
    segment_id = _path_id(request)
    if segment_id is None:
        return _bad_id(request)
    body = await _read_body(request)
    if isinstance(body, web.Response):
        return body
    state.counters.received(segment_id, body)
    values = _bind(body)
    errors = {**field_errors(values), **_conversion_errors(values)}
    if errors:
        return validation_problem(request, errors)
    current = state.store.get(segment_id)
    if current is None:
        return _not_found(request, segment_id)
    errors = _business_errors(state, segment_id, current, values)
    if errors:
        return validation_problem(request, errors)
    limit = state.options.truncate_text_at
    if limit is not None:
        values = {k: v[:limit] if isinstance(v, str) else v for k, v in values.items()}
    result = state.store.replace(segment_id, values)
    if result is None:  # deleted between the read and the write
        return _not_found(request, segment_id)
    state.counters.write(segment_id)
    return _json_response(result[0])


# -- GET /api/Segment/list and /api/Campaign/list -------------------------------------------


def _int_param(request: web.Request, name: str, default: int) -> int:
    text = request.query.get(name, "").strip()
    if not text:
        return default
    value = parse_int64(text)
    if value is None or value > _INT32_MAX:
        raise _BadQuery({name: [f"The value '{text}' is not valid for {name}."]})
    if value < 0:
        raise _BadQuery({name: [f"The field {name} must be between 0 and {_INT32_MAX}."]})
    return value


def _paging(request: web.Request) -> tuple[int, int]:
    """``Skip``/``Take`` (PascalCase only, as on Raise); ``Take`` is clamped to ``max_take``."""
    options = _state(request).options
    skip = _int_param(request, "Skip", 0)
    take = _int_param(request, "Take", options.default_take)
    return skip, min(take, options.max_take)


def _list_query(request: web.Request) -> ListQuery:
    skip, take = _paging(request)
    sort_by = request.query.get("SortBy", "").strip() or "id"
    if sort_by.lower() not in SORT_KEYS:
        raise _BadQuery(
            {
                "SortBy": [
                    f"The value '{sort_by}' is not valid for SortBy. Use one of {_SORT_NAMES}."
                ]
            }
        )
    descending_text = request.query.get("Descending", "").strip()
    if descending_text.lower() not in ("", "true", "false"):
        raise _BadQuery(
            {"Descending": [f"The value '{descending_text}' is not valid for Descending."]}
        )
    campaign_ids: list[int] = []
    for text in request.query.getall("CampaignId", []):
        value = parse_int64(text)
        if value is None:
            raise _BadQuery({"CampaignId": [f"The value '{text}' is not valid for CampaignId."]})
        campaign_ids.append(value)
    return ListQuery(
        skip=skip,
        take=take,
        sort_by=sort_by,
        descending=descending_text.lower() == "true",
        filter=request.query.get("Filter") or None,
        campaign_ids=tuple(campaign_ids),
    )


async def list_segments(request: web.Request) -> web.Response:
    try:
        query = _list_query(request)
    except _BadQuery as exc:
        return validation_problem(request, exc.errors)
    items, total = _state(request).store.page(query)
    return _json_response({"items": items, "total": total})


async def list_campaigns(request: web.Request) -> web.Response:
    try:
        skip, take = _paging(request)
    except _BadQuery as exc:
        return validation_problem(request, exc.errors)
    campaigns = _state(request).store.campaigns()
    return _json_response({"items": campaigns[skip : skip + take], "total": len(campaigns)})


# -- the application ------------------------------------------------------------------------


async def _wake_stalled(app: web.Application) -> None:
    app[STATE_KEY].closing.set()


def create_app(state: SandboxState) -> web.Application:
    """The aiohttp application serving ``state``; the list route precedes ``{id}``."""
    app = web.Application(middlewares=[count_requests, authenticate, rate_limit, inject_faults])
    app[STATE_KEY] = state
    app.router.add_get(SEGMENT_LIST_PATH, list_segments, name="segment_list")
    app.router.add_get(SEGMENT_PATH, get_segment, name="segment")
    app.router.add_put(SEGMENT_PATH, put_segment, name="segment")
    app.router.add_get(CAMPAIGN_LIST_PATH, list_campaigns, name="campaign_list")
    app.on_shutdown.append(_wake_stalled)
    return app
