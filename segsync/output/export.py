"""The export: current segments as an editable workbook (or CSV) that goes back into ``sync``.

xlsx: sheet ``Segments`` (headers exactly the API's field names, editable columns first) and
sheet ``About`` (how to edit and send it back). A ``.csv`` path writes a machine-faithful CSV
*without* the ``'`` formula guard, because the export is meant to be read back and a prefix
would become part of the value (and be sent); a warning is logged when it holds formula-like
text. Written atomically, streamed.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator
from itertools import chain, islice
from pathlib import Path
from typing import Any

import xlsxwriter

from segsync.model import EDITABLE_FIELDS, STAT_FIELDS, Segment
from segsync.output.atomic import atomic_file
from segsync.output.csv_files import is_csv, write_csv
from segsync.output.field_kinds import NUMERIC_STATS, TEXT_FIELDS
from segsync.output.styles import styles
from segsync.output.workbook import (
    WIDTH_SAMPLE_ROWS,
    column_widths,
    streaming_workbook,
)
from segsync.output.xlsx_safety import (
    CellRule,
    auto_cell,
    looks_like_formula,
    number_or_text_cell,
    text_cell,
    text_problem,
    write_storable_text,
    write_text,
)

log = logging.getLogger(__name__)

EXPORT_SHEET = "Segments"
ABOUT_SHEET = "About"

#: The export's editable columns: the API's order, right after ``id``.
EXPORT_EDITABLE: tuple[str, ...] = EDITABLE_FIELDS
EXPORT_READ_ONLY: tuple[str, ...] = (
    "modifiedDateTime",
    *(f for f in STAT_FIELDS if f != "modifiedDateTime"),
    "createdDateTime",
)
EXPORT_HEADERS: tuple[str, ...] = ("id", *EXPORT_EDITABLE, *EXPORT_READ_ONLY)


def write_export(
    segments: Iterable[Segment], path: str | Path, *, clear_marker: str = "#CLEAR"
) -> Path:
    """Write the ``export`` workbook (sheet ``Segments`` + ``About``); return its path.

    Headers are exactly the API's field names, so the file goes back into ``segsync sync``
    unchanged. Editable text columns are text-formatted, so a code typed as ``00456`` stays
    text. ``modifiedDateTime`` is written as the API's exact string: the loader compares it to
    detect that someone changed the segment since the export. A value a cell cannot hold
    exactly (over 32,767 characters, broken Unicode) is left blank, which means *keep* on the
    way back in, and logged. A ``.csv`` path writes a machine-faithful CSV instead (no
    formula guard; see the module docstring).
    """
    target = Path(path)
    if is_csv(target):
        return _write_export_csv(segments, target)
    with atomic_file(target) as fh, streaming_workbook(fh) as workbook:
        workbook.set_properties({"title": "Raise segments export", "comments": "segsync export"})
        _write_segments_sheet(workbook, segments)
        _write_about_sheet(workbook, clear_marker)
    return target


def export_values(segment: Segment) -> list[Any]:
    """One export row: the segment's values in ``EXPORT_HEADERS`` order; None is blank."""
    return [getattr(segment, f) for f in EXPORT_HEADERS]


def _cell_rule(header: str) -> CellRule:
    """Text fields and dates always as text; stats as numbers; ids as numbers when exact."""
    if header in TEXT_FIELDS or header.endswith("DateTime"):
        return text_cell
    if header in NUMERIC_STATS:
        return number_or_text_cell
    return auto_cell


def _write_segments_sheet(workbook: xlsxwriter.Workbook, segments: Iterable[Segment]) -> None:
    """The editable export, streamed; the first rows are buffered only to size the columns."""
    look = styles(workbook)
    sheet = workbook.add_worksheet(EXPORT_SHEET)
    iterator = iter(segments)
    head = list(islice(iterator, WIDTH_SAMPLE_ROWS))
    widths = column_widths(EXPORT_HEADERS, (export_values(s) for s in head))
    first_read_only = 1 + len(EXPORT_EDITABLE)
    for col, (header, width) in enumerate(zip(EXPORT_HEADERS, widths, strict=True)):
        if header in TEXT_FIELDS or header in ("modifiedDateTime", "createdDateTime"):
            fmt = look.text  # typed-in codes stay text; dates stay the API's exact string
        elif col >= first_read_only:
            fmt = look.read_only
        else:
            fmt = None
        sheet.set_column(col, col, width, fmt)
    sheet.freeze_panes(1, 1)
    for col, header in enumerate(EXPORT_HEADERS):
        fmt = look.header if col < first_read_only else look.read_only_header
        write_text(sheet, 0, col, header, fmt)

    rules = [_cell_rule(h) for h in EXPORT_HEADERS]
    editable = frozenset(range(1, first_read_only))
    write_number = sheet.write_number
    row = 0
    for row, segment in enumerate(chain(head, iterator), start=1):
        for c, value in enumerate(export_values(segment)):
            if value is None or value == "":
                continue
            if c in editable and type(value) is str and (problem := text_problem(value)):
                log.warning(
                    "segment %s: %s left blank in the export (keep): %s",
                    segment.id,
                    EXPORT_HEADERS[c],
                    problem,
                )
                continue
            cell = rules[c](value)
            if type(cell) is str:
                write_storable_text(sheet, row, c, cell)
            else:
                write_number(row, c, cell)
    sheet.autofilter(0, 0, max(row, 1), len(EXPORT_HEADERS) - 1)


def _about_lines(clear_marker: str) -> list[tuple[str, str]]:
    return [
        ("title", "How to edit this export and send it back"),
        ("", ""),
        ("text", "Edit the columns campaignId … externalIdentifier on Segments, then run:"),
        ("code", "    segsync sync <this file> --dry-run     (preview, nothing is sent)"),
        ("code", "    segsync sync <this file>               (send the changes)"),
        ("", ""),
        ("head", "Rules"),
        ("text", "• id names the segment; do not change it."),
        ("text", "• Editable: campaignId, name, code, description, externalIdentifier."),
        ("text", "• A blank cell (or a deleted column) means: keep the current value."),
        (
            "text",
            f"• {clear_marker} in description or externalIdentifier clears it "
            "(name, code and campaignId cannot be cleared).",
        ),
        ("text", "• Codes are text: 00123 stays 00123. Keep those columns formatted as text."),
        ("text", "• Grey columns (modifiedDateTime and the statistics) are read-only and ignored."),
        (
            "text",
            "• modifiedDateTime tells segsync when you exported: if someone changed a segment "
            "since, its row is reported as a conflict and not written.",
        ),
        ("text", "• Rows you do not want to change can stay: identical rows cost nothing."),
        ("text", "• Header names must stay as they are (they are the API's field names)."),
    ]


def _write_about_sheet(workbook: xlsxwriter.Workbook, clear_marker: str) -> None:
    look = styles(workbook)
    sheet = workbook.add_worksheet(ABOUT_SHEET)
    sheet.set_column(0, 0, 110)
    kinds = {"title": look.title, "head": look.section}
    for row, (kind, text) in enumerate(_about_lines(clear_marker)):
        if text:
            write_text(sheet, row, 0, text, kinds.get(kind))


def _write_export_csv(segments: Iterable[Segment], target: Path) -> Path:
    """The export as a machine-faithful CSV (no ``'`` prefix: it would be read back)."""
    risky = 0

    def rows() -> Iterator[list[Any]]:
        nonlocal risky
        for segment in segments:
            values = export_values(segment)
            risky += any(type(v) is str and looks_like_formula(v) for v in values)
            yield values

    write_csv(target, EXPORT_HEADERS, rows(), guard=False)
    if risky:
        log.warning(
            "%s: %d segment(s) have values a spreadsheet would run as a formula; "
            "open the xlsx export in a spreadsheet, not this CSV",
            target,
            risky,
        )
    return target
