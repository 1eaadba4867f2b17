"""Reading the API's answers: segment bodies, list pages and ProblemDetails errors.

Parsing is defensive because the contract is only partly documented: a body that is not JSON, or
not the shape expected, becomes a sentence on the row instead of an exception from deep inside.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import httpx

from segsync.errors import PermanentApiError
from segsync.model import Segment
from segsync.secrets import redact


@dataclass(frozen=True)
class Page:
    """One page of ``GET /api/Segment/list``."""

    items: list[Segment]
    total: int


def problem_message(response: httpx.Response) -> tuple[str, dict[str, list[str]]]:
    """A readable sentence from a ProblemDetails body (or the status text when it is not JSON)."""
    status_text = f"HTTP {response.status_code} {response.reason_phrase}".strip()
    try:
        body = response.json()
    except (json.JSONDecodeError, UnicodeDecodeError, ValueError):
        body = None
    if not isinstance(body, dict):
        text = redact(response.text.strip()[:200]) if response.content else ""
        return (f"{status_text}: {text}" if text else status_text), {}
    errors = body.get("errors") if isinstance(body.get("errors"), dict) else {}
    field_errors = {
        str(k).removeprefix("$."): [str(m) for m in (v if isinstance(v, list) else [v])]
        for k, v in (errors or {}).items()
    }
    parts = [str(body.get("detail") or body.get("title") or status_text)]
    parts += [f"{name}: {' '.join(msgs)}" for name, msgs in field_errors.items()]
    return redact(" ".join(p.rstrip(".") + "." for p in parts if p)), field_errors


def json_or_empty(response: httpx.Response) -> Any:
    """The JSON body of a successful answer; ``{}`` for an empty one (a 204)."""
    if not response.content:
        return {}
    try:
        return response.json()
    except (json.JSONDecodeError, UnicodeDecodeError, ValueError) as exc:
        raise PermanentApiError(
            f"The API answered HTTP {response.status_code} with a body that is not JSON.",
            status=response.status_code,
        ) from exc


def segment_from(body: Any, what: str) -> Segment:
    """A segment model from an answer, or a row-level error naming the endpoint."""
    if not isinstance(body, dict) or not isinstance(body.get("id"), int):
        raise PermanentApiError(
            f"The API's {what} answer is not a segment (no integer id).", status=200
        )
    return Segment.from_api(body)


def page_from(body: Any) -> Page:
    if not isinstance(body, dict) or not isinstance(body.get("items"), list):
        raise PermanentApiError(
            "The segment list endpoint did not answer with {items, total}.", status=200
        )
    items = [segment_from(item, "list") for item in body["items"]]
    total = body.get("total")
    return Page(items, int(total) if isinstance(total, int) else len(items))
