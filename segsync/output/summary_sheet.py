"""The Summary sheet of a results (or preview, or rollback) workbook.

A title, the dry-run or abort banner, then each section of ``summary_items`` as a heading over
``key | value`` rows.
"""

from __future__ import annotations

import xlsxwriter
from xlsxwriter.format import Format

from segsync.outcomes import Outcome, RunResult
from segsync.output.styles import Styles, styles
from segsync.output.summary import DRY_RUN_BANNER, summary_items, title
from segsync.output.workbook import write_cell
from segsync.output.xlsx_safety import auto_cell, write_text

SUMMARY_SHEET = "Summary"

_OUTCOME_VALUES: frozenset[str] = frozenset(o.value for o in Outcome)


def write_summary_sheet(workbook: xlsxwriter.Workbook, result: RunResult) -> None:
    """Title, banner, then ``section`` headings over ``key | value`` rows."""
    look = styles(workbook)
    sheet = workbook.add_worksheet(SUMMARY_SHEET)
    sheet.set_column(0, 0, 34)
    sheet.set_column(1, 1, 70)
    write_text(sheet, 0, 0, title(result), look.title)
    row = 1
    if result.dry_run:
        write_text(sheet, row, 0, DRY_RUN_BANNER, look.banner)
        row += 1
    if result.aborted:
        write_text(sheet, row, 0, f"Run aborted: {result.aborted}", look.alarm)
        row += 1
    section = None
    for item_section, key, value in summary_items(result):
        if item_section != section:
            section = item_section
            row += 1
            write_text(sheet, row, 0, section, look.section)
            sheet.write_blank(row, 1, None, look.section)
            row += 1
        write_text(sheet, row, 0, key, _key_format(look, item_section, key))
        if value is not None and value != "":
            fmt = look.decimal if type(value) is float else None
            write_cell(sheet, row, 1, auto_cell(value), fmt)
        row += 1


def _key_format(look: Styles, section: str, key: str) -> Format | None:
    if section == "outcomes" and key in _OUTCOME_VALUES:
        return look.outcome[Outcome(key)]
    return None
