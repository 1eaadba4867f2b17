"""RFC 7807 ProblemDetails responses shaped like ASP.NET Core's.

The client parses these into row outcomes and messages, so the sandbox sends the same keys, titles
and ``type`` links a real ASP.NET API does, including the ``traceId`` extension and the
``application/problem+json`` content type.
"""

from __future__ import annotations

import json
import secrets
from typing import Any

from aiohttp import web

PROBLEM_JSON = "application/problem+json"

_TYPES: dict[int, tuple[str, str]] = {
    400: ("https://tools.ietf.org/html/rfc9110#section-15.5.1", "Bad Request"),
    403: ("https://tools.ietf.org/html/rfc9110#section-15.5.4", "Forbidden"),
    404: ("https://tools.ietf.org/html/rfc9110#section-15.5.5", "Not Found"),
    415: ("https://tools.ietf.org/html/rfc9110#section-15.5.16", "Unsupported Media Type"),
    429: ("https://tools.ietf.org/html/rfc6585#section-4", "Too Many Requests"),
    500: (
        "https://tools.ietf.org/html/rfc9110#section-15.6.1",
        "An error occurred while processing your request.",
    ),
    503: ("https://tools.ietf.org/html/rfc9110#section-15.6.4", "Service Unavailable"),
}

VALIDATION_TITLE = "One or more validation errors occurred."


def trace_id() -> str:
    """A W3C traceparent-style id, as ASP.NET puts in ``traceId``."""
    return f"00-{secrets.token_hex(16)}-{secrets.token_hex(8)}-00"


def _respond(body: dict[str, Any], status: int, headers: dict[str, str] | None) -> web.Response:
    return web.Response(
        status=status,
        body=json.dumps(body, ensure_ascii=False).encode("utf-8"),
        content_type=PROBLEM_JSON,
        charset="utf-8",
        headers=headers,
    )


def problem(
    request: web.Request,
    status: int,
    detail: str | None = None,
    *,
    headers: dict[str, str] | None = None,
) -> web.Response:
    """A plain ProblemDetails: ``type, title, status, detail, instance, traceId``."""
    type_, title = _TYPES.get(status, ("about:blank", "Error"))
    body: dict[str, Any] = {"type": type_, "title": title, "status": status}
    if detail is not None:
        body["detail"] = detail
    body["instance"] = request.path
    body["traceId"] = trace_id()
    return _respond(body, status, headers)


def validation_problem(request: web.Request, errors: dict[str, list[str]]) -> web.Response:
    """HttpValidationProblemDetails: a 400 with ``errors`` keyed by camelCase field."""
    body = {
        "type": _TYPES[400][0],
        "title": VALIDATION_TITLE,
        "status": 400,
        "errors": errors,
        "traceId": trace_id(),
    }
    return _respond(body, 400, None)
