"""Header row → which column holds which field.

Header names match case-, whitespace-, underscore- and hyphen-insensitively, with aliases.
Known read-only columns are ignored; unknown ones are carried through as text; a column with
values but no header is ignored with a warning.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from segsync.errors import NoDataError
from segsync.input.cells import (
    make_datetime_parser,
    make_int_parser,
    make_text_parser,
    text_of,
)
from segsync.input.columns import FieldRule
from segsync.input.messages import quoted, shown
from segsync.input.table import Table
from segsync.model import EDITABLE_FIELDS, READ_ONLY_FIELDS

MODIFIED: Final = "modifiedDateTime"

_ALIASES: Final[dict[str, tuple[str, ...]]] = {
    "id": ("segmentid",),
    "campaignId": (),
    "name": ("segmentname",),
    "code": ("segmentcode",),
    "description": ("segmentdescription",),
    "externalIdentifier": ("externalid", "segmentexternalid", "segmentexternalidentifier"),
    MODIFIED: ("modified", "modifieddate", "lastmodified", "lastmodifieddatetime", "modifiedat"),
    "createdDateTime": ("created", "createddate", "createdat"),
}


def normalise_header(header: str) -> str:
    """Header text → match key: case-folded, without whitespace, underscores or hyphens."""
    return "".join(header.split()).replace("_", "").replace("-", "").casefold()


def _build_header_index() -> dict[str, str]:
    index: dict[str, str] = {}
    for name in ("id", *EDITABLE_FIELDS, *READ_ONLY_FIELDS):
        index[normalise_header(name)] = name
        for alias in _ALIASES.get(name, ()):
            index[alias] = name
    return index


_HEADER_INDEX: Final = _build_header_index()


def header_to_field(header: str) -> str | None:
    """The field a column header names (``"Segment ID"`` → ``"id"``), or None if unknown.

    Read-only fields (``"Total Donors"`` → ``"totalDonors"``) are known fields too.
    """
    return _HEADER_INDEX.get(normalise_header(str(header)))


@dataclass(slots=True)
class Columns:
    """Where each field's column is, and what to do with the others."""

    id_j: int
    id_header: str
    #: (j, field, header, rule) for id (first), the editable fields and modifiedDateTime
    plan: list[tuple[int, str, str, FieldRule]]
    extras: list[tuple[int, str]]  # (j, key in RowEdit.extras)
    headerless: dict[int, str]  # j → why the column has no header (for the warning)
    width: int  # header width (last non-blank header + 1)
    code_j: int | None  # where the code column is (spreadsheet damage to codes is checked)
    columns: dict[str, str]  # field → header as written
    extra_columns: list[str]
    warnings: list[str]


def _parsers(marker: str) -> dict[str, FieldRule]:
    folded = marker.strip().casefold()  # as each per-cell parser compares the marker

    def text(*, nullable: bool, multiline: bool = False) -> FieldRule:
        parse = make_text_parser(marker, nullable=nullable, multiline=multiline)
        return FieldRule("text", parse, folded, nullable=nullable, multiline=multiline)

    return {
        "id": FieldRule("int", make_int_parser("id", marker, what="a segment id"), folded),
        "campaignId": FieldRule(
            "int", make_int_parser("campaignId", marker, what="a campaign id"), folded
        ),
        "name": text(nullable=False),
        "code": text(nullable=False),
        "description": text(nullable=True, multiline=True),
        "externalIdentifier": text(nullable=True),
        MODIFIED: FieldRule("datetime", make_datetime_parser(MODIFIED, marker), folded),
    }


def map_columns(table: Table, marker: str) -> Columns:
    """Map the header row; two columns for one field, or no id column, refuse the sheet."""
    texts = [text_of(cell) for cell in table.header]
    width = max((j + 1 for j, text in enumerate(texts) if text), default=0)
    parsers = _parsers(marker)
    seen: dict[str, tuple[int, str]] = {}
    columns: dict[str, str] = {}
    used: list[tuple[int, str, str, FieldRule]] = []
    extras: list[tuple[int, str]] = []
    headerless: dict[int, str] = {}
    warnings: list[str] = []
    # a workbook's rows are as wide as its used range: columns right of the last header hold
    # values nobody named (often under a merged header cell). CSV rows that are longer than
    # the header are row errors instead (see rows.py).
    for j in range(len(texts) if not table.strict_width else width):
        text = texts[j]
        if not text:
            headerless[j] = _headerless_reason(table, j)
            continue
        name = header_to_field(text)
        if name is None:
            key = text if text not in {k for _, k in extras} else f"{text} ({table.letter(j)})"
            extras.append((j, key))
            warnings.append(
                f"column '{shown(text)}' ({table.letter(j)}) is not a segment field; it is ignored "
                "and carried through to the results."
            )
            continue
        if name in seen and (name in parsers):
            first_j, first_text = seen[name]
            raise NoDataError(
                f"{table.where()} has two columns for {name}: '{shown(first_text)}' (column "
                f"{table.letter(first_j)}) and '{shown(text)}' (column {table.letter(j)}); "
                "delete one of them."
            )
        seen.setdefault(name, (j, text))
        columns.setdefault(name, text)
        if name in parsers and name != "id":
            used.append((j, name, text, parsers[name]))
    if "id" not in seen:
        raise NoDataError(_no_id_message(table, texts[:width]))
    id_j, id_header = seen["id"]
    if not any(name in EDITABLE_FIELDS for _, name, _, _ in used):
        warnings.append(
            f"{table.where()} has no editable columns ({', '.join(EDITABLE_FIELDS)}); "
            "no segment would change."
        )
    return Columns(
        id_j=id_j,
        id_header=id_header,
        plan=[(id_j, "id", id_header, parsers["id"]), *used],
        extras=extras,
        headerless=headerless,
        width=width,
        code_j=next((j for j, name, _, _ in used if name == "code"), None),
        columns=columns,
        extra_columns=[key for _, key in extras],
        warnings=warnings,
    )


def _headerless_reason(table: Table, j: int) -> str:
    if j in table.flags.get(table.header_row, {}):
        return "its header cell shows an Excel error or a formula without a saved value"
    for r1, c1, r2, c2 in table.merged:
        if r1 <= table.header_row <= r2 and c1 <= j <= c2 and (r1, c1) != (table.header_row, j):
            span = f"{table.letter(c1)}{r1}:{table.letter(c2)}{r2}"
            return f"it is covered by the merged header cell {span}"
    return "its header cell is empty"


def _no_id_message(table: Table, texts: list[str]) -> str:
    found = quoted(t for t in texts if t) or (
        "only Excel errors or formulas without saved values"
        if table.flags.get(table.header_row)
        else "nothing"
    )
    message = (
        f"{table.where()} has no id column; expected a header such as 'id' or 'Segment ID' "
        f"in its header row (row {table.header_row}, which holds {found})."
    )
    for k, row in enumerate(table.rows[:20]):
        if any(header_to_field(text_of(cell)) == "id" for cell in row):
            message += (
                f" Row {table.first_row + k} looks like the real header: delete the rows above it."
            )
            break
    return message
