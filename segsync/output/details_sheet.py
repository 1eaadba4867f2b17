"""The Run details sheet, last in a results workbook: everything else about the run.

Each section of ``segsync.output.summary.summary_items`` (the same facts as the
``<stem>.summary.csv`` of a CSV run) as a heading over ``key | value`` rows: counts per outcome
by their Results names, requests by kind, HTTP statuses, the run's facts, the warnings and the
effective configuration (never the token); then the time zone of the workbook's local times.
"""

from __future__ import annotations

import xlsxwriter
from xlsxwriter.worksheet import Worksheet

from segsync.outcomes import Outcome, RunResult
from segsync.output.styles import styles
from segsync.output.summary import DRY_RUN_BANNER, summary_items
from segsync.output.workbook import (
    LINE_HEIGHT,
    MAX_ROW_HEIGHT,
    set_print_layout,
    text_lines,
    write_cell,
)
from segsync.output.xlsx_safety import auto_cell, write_text

DETAILS_SHEET = "Run details"
KEY_WIDTH, VALUE_WIDTH = 36, 70

_OUTCOME_VALUES: frozenset[str] = frozenset(o.value for o in Outcome)


def write_details_sheet(
    workbook: xlsxwriter.Workbook,
    sheet: Worksheet,
    result: RunResult,
    *,
    title: str,
    local_zone: str,
) -> None:
    """Title (``Sync results: run details``), banner, then ``section`` headings over
    ``key | value`` rows."""
    look = styles(workbook)
    sheet.set_column(0, 0, KEY_WIDTH, look.top)
    sheet.set_column(1, 1, VALUE_WIDTH, look.wrap)
    heading = f"{title}: run details"
    set_print_layout(sheet, title=heading, landscape=False)
    write_text(sheet, 0, 0, heading, look.title)
    row = 1
    if result.dry_run:
        write_text(sheet, row, 0, DRY_RUN_BANNER, look.banner)
        row += 1
    if result.aborted:
        write_text(sheet, row, 0, f"Run aborted: {result.aborted}", look.alarm)
        row += 1
    section = None
    items = list(summary_items(result))
    last_run = max((i for i, item in enumerate(items) if item[0] == "run"), default=len(items) - 1)
    items.insert(last_run + 1, ("run", "local times in this workbook", local_zone))
    for item_section, key, value in items:
        if item_section != section:
            section = item_section
            row += 1
            write_text(sheet, row, 0, section, look.section)
            sheet.write_blank(row, 1, None, look.section)
            row += 1
        is_outcome = section == "outcomes" and key in _OUTCOME_VALUES
        fmt = look.outcome[Outcome(key)] if is_outcome else None
        if value is not None and value != "":
            cell = auto_cell(value)
            if type(cell) is str and (lines := text_lines(cell, VALUE_WIDTH)) > 1:
                sheet.set_row(row, min(LINE_HEIGHT * lines, MAX_ROW_HEIGHT))
            # Numbers left-aligned, next to their key, like the text around them.
            number = look.left_decimal if type(value) is float else look.left_number
            write_cell(sheet, row, 1, cell, None if type(cell) is str else number)
        write_text(sheet, row, 0, key, fmt)
        row += 1
