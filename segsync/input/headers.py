"""Header row → which column holds which field.

Each header is placed (:mod:`~segsync.input.placement`): a field, a read-only field (its cells
are compared with the server's, never sent), the id, a note (carried through as text), or
ignored by the person's say-so. A header that looks like a field but is not one refuses the
sheet, as does a hidden column holding a field unless the person said what to do with hidden
cells. A column with values but no header is ignored with a warning.
"""

from __future__ import annotations

from dataclasses import dataclass

from segsync.errors import HiddenDataError, NoDataError, UnplacedColumnsError
from segsync.input.cells import (
    make_datetime_parser,
    make_int_parser,
    make_text_parser,
    text_of,
)
from segsync.input.columns import FieldRule
from segsync.input.messages import quoted, shown
from segsync.input.placement import (
    MODIFIED,
    Placement,
    Unplaced,
    header_to_field,
    normalise_header,
    place,
)
from segsync.input.table import Table
from segsync.model import EDITABLE_FIELDS

__all__ = ["MODIFIED", "Columns", "header_to_field", "map_columns", "normalise_header"]


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
    #: every header, in order, and what segsync does with it
    placements: list[Placement]
    #: (j, field, header) of the read-only columns: compared with the server, never sent
    read_only: list[tuple[int, str, str]]


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


def map_columns(
    table: Table,
    marker: str,
    mapping: dict[str, str] | None = None,
    hidden: str = "refuse",
) -> Columns:
    """Place every header; refuse the sheet for a column that looks like a field but is not
    one, two columns for one field, a hidden field column (unless ``hidden`` says), or no id.

    ``mapping`` is the person's say-so by normalised header
    (:func:`~segsync.input.placement.read_mapping`).
    """
    texts = [text_of(cell) for cell in table.header]
    width = max((j + 1 for j, text in enumerate(texts) if text), default=0)
    parsers = _parsers(marker)
    said = mapping or {}
    seen: dict[str, tuple[int, str]] = {}
    columns: dict[str, str] = {}
    used: list[tuple[int, str, str, FieldRule]] = []
    read_only: list[tuple[int, str, str]] = []
    extras: list[tuple[int, str]] = []
    headerless: dict[int, str] = {}
    warnings: list[str] = []
    placements: list[Placement] = []
    unplaced: list[Unplaced] = []
    hidden_fields: list[tuple[int, str]] = []
    # a workbook's rows are as wide as its used range: columns right of the last header hold
    # values nobody named (often under a merged header cell). CSV rows that are longer than
    # the header are row errors instead (see rows.py).
    for j in range(len(texts) if not table.strict_width else width):
        text = texts[j]
        if not text:
            headerless[j] = _headerless_reason(table, j)
            continue
        letter = table.letter(j)
        placed = place(text, said)
        if isinstance(placed, Unplaced):
            unplaced.append(Unplaced(letter, text, placed.guess))
            continue
        kind, name, how = placed
        if kind in ("field", "read-only") and j in table.hidden_cols and hidden != "include":
            if hidden == "skip":
                placements.append(Placement(letter, text, "ignored", name, "hidden"))
                continue
            hidden_fields.append((j, text))
        if kind == "ignored":
            placements.append(Placement(letter, text, "ignored", None, how))
            continue
        if kind == "note" or name is None:
            key = text if text not in {k for _, k in extras} else f"{text} ({letter})"
            extras.append((j, key))
            placements.append(Placement(letter, text, "note", None, how))
            continue
        if name in seen:
            first_j, first_text = seen[name]
            raise NoDataError(
                f"{table.where()} has two columns for {name}: '{shown(first_text)}' (column "
                f"{table.letter(first_j)}) and '{shown(text)}' (column {letter}); "
                "delete one of them."
            )
        seen[name] = (j, text)
        columns[name] = text
        placements.append(Placement(letter, text, kind, name, how))
        if name in parsers and name != "id":
            used.append((j, name, text, parsers[name]))
        elif kind == "read-only":
            read_only.append((j, name, text))
    if "id" not in seen:
        raise NoDataError(_no_id_message(table, texts[:width]))
    if unplaced:
        raise _unplaced_error(table, unplaced, placements)
    if hidden_fields:
        raise _hidden_columns_error(table, hidden_fields)
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
        placements=placements,
        read_only=read_only,
    )


def _unplaced_error(
    table: Table, unplaced: list[Unplaced], placements: list[Placement]
) -> UnplacedColumnsError:
    """One sentence for every column that looks like a field, with the flags that settle it."""
    parts = []
    for col in unplaced:
        guess = f"did you mean {col.guess}?" if col.guess else "it is not a segment field"
        parts.append(f"'{shown(col.header)}' (column {col.letter}: {guess})")
    first = unplaced[0]
    header = shown(first.header).replace('"', "'")
    field = first.guess or "FIELD"
    several = len(unplaced) > 1
    message = (
        f"{table.where()}: {'columns' if several else 'column'} {', '.join(parts)} "
        f"{'look like segment fields but are' if several else 'looks like a segment field but is'}"
        " not; nothing was sent. Say what each is: "
        f'--map "{header}={field}", or keep it as a note with --map "{header}=note", or '
        f'--ignore-column "{header}" (or in the config, under input.columns).'
    )
    headers = [(p.letter, p.header, p.describe()) for p in placements]
    headers += [(u.letter, u.header, "?") for u in unplaced]
    headers.sort(key=lambda h: (len(h[0]), h[0]))
    return UnplacedColumnsError(message, [(u.letter, u.header, u.guess) for u in unplaced], headers)


def _hidden_columns_error(table: Table, hidden: list[tuple[int, str]]) -> HiddenDataError:
    listed = ", ".join(f"{table.letter(j)} ('{shown(text)}')" for j, text in hidden)
    several = len(hidden) > 1
    return HiddenDataError(
        f"{table.where()}: hidden {'columns' if several else 'column'} {listed} "
        f"{'hold segment fields' if several else 'holds a segment field'}; nothing was sent. "
        f"Unhide and check {'them' if several else 'it'}, or say what to do: "
        "--hidden skip leaves hidden rows and columns out, --hidden include sends them too "
        "(config input.hidden)."
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
