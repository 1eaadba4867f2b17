"""The saved plan: what ``plan`` decided, written so that ``apply`` sends exactly that, or nothing.

A JSON file (format ``segsync-plan``, version 1; the README documents every key). Per input row
it records the outcome the plan reached; per row to send, the full PUT body and the server state
it was computed from. Nothing in it is secret. ``read_plan`` refuses, before any request, a
file that is not a plan, of another version, or changed by hand since it was made: every body
must be exactly the editable fields, pass the field rules, and match its recorded sha256, and
the file as a whole must match its own digest.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from xlsxwriter.utility import xl_cell_to_rowcol

from segsync.errors import PlanError
from segsync.input.editset import CellRef, EditSet, RowEdit, RowError
from segsync.input.placement import Placement
from segsync.model import EDITABLE_FIELDS, Segment, SegmentRequest, field_errors
from segsync.outcomes import FieldChange, Outcome
from segsync.output.atomic import atomic_file
from segsync.plan.differ import Plan, RowPlan

#: ``Sheet!C14 (header): message``: how a loader error with a cell reads (``RowError.__str__``)
_CELL_TEXT = re.compile(
    r"^(?P<sheet>[^!]+)!(?P<a1>[A-Z]{1,3}[1-9][0-9]*) \((?P<header>[^()]*)\): (?P<message>.*)$",
    re.DOTALL,
)
FORMAT = "segsync-plan"
VERSION = 1
#: the state a planned row was computed from: every editable field and the modification time
STATE_FIELDS: tuple[str, ...] = (*EDITABLE_FIELDS, "modifiedDateTime")


def canonical_sha256(value: Any) -> str:
    """sha256 of ``value`` as canonical JSON (sorted keys, no spaces): stable across writers.

    A plan's ``rows`` are hashed one row at a time: the same bytes as ``json.dumps`` of the
    whole, without a string of the whole plan in memory (hundreds of MB at a million rows).
    """
    digest = hashlib.sha256()
    for chunk in _canonical_chunks(value):
        digest.update(chunk.encode("utf-8"))
    return digest.hexdigest()


def _canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def _canonical_chunks(value: Any) -> Iterator[str]:
    """``_canonical(value)`` in pieces: a dict's ``rows`` list row by row."""
    if not isinstance(value, dict) or not isinstance(value.get("rows"), list):
        yield _canonical(value)
        return
    yield "{"
    for i, key in enumerate(sorted(value)):
        yield ("," if i else "") + _canonical(key) + ":"
        if key == "rows":
            yield "["
            for j, row in enumerate(value[key]):
                yield ("," if j else "") + _canonical(row)
            yield "]"
        else:
            yield _canonical(value[key])
    yield "}"


def plan_digest(saved: SavedPlan) -> str:
    """The plan's own sha256 (the ``sha256`` key of its file): what an approval is bound to."""
    return str(saved.to_json()["sha256"])


@dataclass
class SavedPlan:
    """A plan as read from (or about to be written to) a plan file."""

    created_at: datetime
    base_url: str
    target: str
    source: str
    sheet: str
    sha256: str | None
    rows: list[dict[str, Any]]
    warnings: list[str] = field(default_factory=list)
    fetch_strategy: str = ""
    #: segments on the server when the plan was made (None: unknown)
    server_total: int | None = None
    path: Path | None = None
    #: the sheet's columns (field → 0-based index, header), so ``apply`` names a problem's cell
    #: (``Edits!A13``) as the preview did
    cells: dict[str, tuple[int, str]] = field(default_factory=dict)
    #: every column of the sheet and what the preview did with it (the mapping), so ``apply``
    #: shows the same mapping
    columns: list[Placement] = field(default_factory=list)
    #: campaign id → name as the preview saw them (moves are shown by name)
    campaign_names: dict[int, str] = field(default_factory=dict)

    @property
    def to_send(self) -> list[dict[str, Any]]:
        return [r for r in self.rows if r.get("body") is not None]

    def age(self, now: datetime | None = None) -> timedelta:
        return (now or datetime.now(UTC)) - self.created_at

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "format": FORMAT,
            "version": VERSION,
            "created_at": self.created_at.isoformat(),
            "base_url": self.base_url,
            "target": self.target,
            "input": {
                "path": self.source,
                "sha256": self.sha256,
                "sheet": self.sheet,
                "cells": {k: list(v) for k, v in self.cells.items()},
                "columns": [dataclasses.asdict(p) for p in self.columns],
            },
            "campaign_names": {str(k): v for k, v in self.campaign_names.items()},
            "server_total": self.server_total,
            "fetch_strategy": self.fetch_strategy,
            "counts": _counts(self.rows),
            "warnings": self.warnings,
            "rows": self.rows,
        }
        data["sha256"] = canonical_sha256(data)
        return data

    def editset(self) -> EditSet:
        """The plan's rows as input rows (what the results must be 1:1 with)."""
        rows = [
            RowEdit(
                index=r["index"],
                source_row=r["source_row"],
                segment_id=r.get("id"),
                extras=dict(r.get("extras") or {}),
                errors=[self._row_error(r["error"])]
                if r["outcome"] == Outcome.INVALID.value
                else [],
            )
            for r in self.rows
        ]
        return EditSet(
            source=self.source,
            sheet=self.sheet,
            rows=rows,
            sha256=self.sha256,
            cells=dict(self.cells),
            placements=list(self.columns),
        )

    def _row_error(self, text: str) -> RowError:
        """An invalid row's error as the loader made it, its cell read back from the text
        (``Edits!C14 (Name): …``), so the results name the cell the preview named."""
        found = _CELL_TEXT.match(text)
        if found is None or found.group("sheet") != self.sheet:
            return RowError(text)
        row, column = xl_cell_to_rowcol(found.group("a1"))
        cell = CellRef(self.sheet, row + 1, column, found.group("header"))
        return RowError(found.group("message"), cell=cell)

    def row_plans(self, editset: EditSet) -> Plan:
        """Every row as the differ left it: outcomes, and for rows to send the planned body.

        ``before`` of a row to send is the state the plan was computed from; ``apply`` replaces
        it with the state it reads now, after checking that the two agree.
        """
        plans = []
        for edit, row in zip(editset.rows, self.rows, strict=True):
            outcome = None if row.get("body") is not None else Outcome(row["outcome"])
            before = row.get("before")
            plans.append(
                RowPlan(
                    edit,
                    outcome,
                    before=_segment(edit.segment_id, before) if before else None,
                    body=SegmentRequest.from_values(row["body"]) if outcome is None else None,
                    changes=[
                        FieldChange(c["field"], c["before"], c["after"])
                        for c in row.get("changes") or []
                    ],
                    error=row.get("error"),
                )
            )
        return Plan(plans, list(self.warnings))


def _segment(segment_id: int | None, state: dict[str, Any]) -> Segment:
    return Segment.from_api({"id": segment_id, **state})


def _counts(rows: list[dict[str, Any]]) -> dict[str, int]:
    tally: dict[str, int] = {}
    for row in rows:
        tally[row["outcome"]] = tally.get(row["outcome"], 0) + 1
    return tally


def plan_rows(plan: Plan) -> list[dict[str, Any]]:
    """The rows of a plan file, one per input row, from the differ's decisions."""
    rows = []
    for row in plan.rows:
        edit = row.edit
        outcome = Outcome.WOULD_UPDATE if row.outcome is None else row.outcome
        record: dict[str, Any] = {
            "index": edit.index,
            "source_row": edit.source_row,
            "id": edit.segment_id,
            "outcome": outcome.value,
        }
        if row.error:
            record["error"] = row.error
        if row.changes:
            record["changes"] = [
                {"field": c.field, "before": c.before, "after": c.after} for c in row.changes
            ]
        if row.body is not None and row.before is not None:
            body = row.body.to_json()
            record["before"] = {f: getattr(row.before, f) for f in STATE_FIELDS}
            record["body"] = body
            record["body_sha256"] = canonical_sha256(body)
        if edit.extras:
            record["extras"] = edit.extras
        rows.append(record)
    return rows


def write_plan(saved: SavedPlan, path: Path) -> Path:
    """Write the plan file atomically (temp file, fsync, rename), private (``atomic_file``).

    One key per line, and one row per line under ``rows``, written row by row (no string of
    the whole plan in memory).
    """
    data = saved.to_json()
    with atomic_file(path) as handle:
        handle.write(b"{\n")
        for i, (key, value) in enumerate(data.items()):
            handle.write(b",\n" if i else b"")
            head = f" {json.dumps(key)}: "
            if key == "rows":
                handle.write(f"{head}[".encode())
                for j, row in enumerate(value):
                    line = json.dumps(row, ensure_ascii=False, separators=(",", ":"))
                    handle.write(f"{',' if j else ''}\n  {line}".encode())
                handle.write(b"\n ]" if value else b"]")
            else:
                handle.write((head + json.dumps(value, ensure_ascii=False)).encode("utf-8"))
        handle.write(b"\n}\n")
    saved.path = path
    return path


def read_plan(path: str | Path) -> SavedPlan:
    """Read and verify a plan file; ``PlanError`` (nothing sent) for anything not trustworthy."""
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise PlanError(f"There is no plan file at {path}.") from None
    except (OSError, ValueError) as exc:
        raise PlanError(f"{path} is not a segsync plan file ({exc}).") from None
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise PlanError(f"{path} is not a segsync plan file (made by 'segsync plan').")
    if data.get("version") != VERSION:
        raise PlanError(
            f"{path} is a version {data.get('version')} plan; this segsync reads version "
            f"{VERSION}. Make the plan again with 'segsync plan'."
        )
    try:
        saved = _from_json(data)
    except (KeyError, TypeError, ValueError) as exc:
        raise PlanError(f"{path} is damaged: {exc!s}. Make the plan again.") from None
    _verify_bodies(path, saved)
    recorded = data.pop("sha256", None)
    if recorded != canonical_sha256(data):
        raise PlanError(
            f"{path} was changed after it was made (its digest does not match); nothing was "
            "sent. Make the plan again with 'segsync plan' instead of editing it."
        )
    saved.path = path
    return saved


def _from_json(data: dict[str, Any]) -> SavedPlan:
    created = datetime.fromisoformat(data["created_at"])
    if created.tzinfo is None:
        created = created.replace(tzinfo=UTC)
    rows = data["rows"]
    if not isinstance(rows, list) or not all(isinstance(r, dict) for r in rows):
        raise ValueError("rows is not a list of rows")
    for row in rows:
        Outcome(row["outcome"])
        int(row["index"]), int(row["source_row"])
    source = data["input"]
    return SavedPlan(
        created_at=created,
        base_url=str(data["base_url"]),
        target=str(data["target"]),
        source=str(source["path"]),
        sheet=str(source.get("sheet") or ""),
        sha256=source.get("sha256"),
        rows=rows,
        warnings=[str(w) for w in data.get("warnings") or []],
        fetch_strategy=str(data.get("fetch_strategy") or ""),
        server_total=data.get("server_total"),
        cells={str(k): (int(v[0]), str(v[1])) for k, v in (source.get("cells") or {}).items()},
        columns=[_placement(p) for p in source.get("columns") or []],
        campaign_names={int(k): str(v) for k, v in (data.get("campaign_names") or {}).items()},
    )


def _placement(data: Any) -> Placement:
    """A column of the plan's mapping, as written by ``to_json``."""
    if not isinstance(data, dict):
        raise ValueError("a column of the mapping is not an object")
    kind = str(data["kind"])
    if kind not in ("id", "field", "read-only", "note", "ignored"):
        raise ValueError(f"a column of the mapping has the kind {kind!r}")
    field_name = data.get("field")
    return Placement(
        letter=str(data["letter"]),
        header=str(data["header"]),
        kind=kind,  # type: ignore[arg-type]
        field=str(field_name) if field_name is not None else None,
        how=str(data.get("how") or "header"),
    )


def _verify_bodies(path: Path, saved: SavedPlan) -> None:
    for row in saved.to_send:
        where = f"{path}: the row for sheet row {row['source_row']} (segment {row.get('id')})"
        body = row["body"]
        if not isinstance(body, dict) or not isinstance(row.get("before"), dict):
            raise PlanError(f"{where} has no valid body; make the plan again.")
        extra = sorted(set(body) - set(EDITABLE_FIELDS))
        if extra:
            raise PlanError(
                f"{where} would send {', '.join(extra)}, which "
                f"{'is not an editable field' if len(extra) == 1 else 'are not editable fields'}"
                "; nothing was sent. Make the plan again with 'segsync plan'."
            )
        missing = [f for f in EDITABLE_FIELDS if f not in body]
        problems = field_errors(body)
        if missing or problems:
            raise PlanError(f"{where} holds an incomplete or invalid body; nothing was sent.")
        if row.get("body_sha256") != canonical_sha256(body):
            raise PlanError(
                f"{where} was edited after the plan was made (its body does not match its "
                "recorded sha256); nothing was sent. Make the plan again with 'segsync plan'."
            )
