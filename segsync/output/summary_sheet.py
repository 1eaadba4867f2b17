"""The Summary sheet, first in a results (or preview, or rollback) workbook: the run at a glance.

From the top: the title; the status and the headline; what to do next; the rows per outcome as
a table with a bar chart of it; the facts of the run (run id, input, duration, rate, …); the
warnings; where the rest is. Every sentence comes from ``segsync.output.views`` (through
``segsync.output.sheet_views.summary_view``), as in the HTML report and the web page. The
configuration, requests and HTTP statuses are on the last sheet, Run details.

Columns: A labels, B numbers, C the outcome as the Results sheet names it, the chart to the
right of the table (E…). Long sentences are merged across the page and wrapped.
"""

from __future__ import annotations

import math

import xlsxwriter
from xlsxwriter.worksheet import Worksheet

from segsync.outcomes import Outcome
from segsync.output.styles import CHART_COLOURS, Styles, styles
from segsync.output.views import SummaryView
from segsync.output.workbook import LINE_HEIGHT, set_print_layout, text_lines
from segsync.output.xlsx_safety import write_text

SUMMARY_SHEET = "Summary"

#: Column widths: labels, rows, outcome name, a gap, then the chart's columns.
WIDTHS: tuple[float, ...] = (36, 10, 26, 2, 10, 10, 10, 10, 10, 10)
LAST_COL = len(WIDTHS) - 1
CHART_COL = 4
CHART_WIDTH_PX = 480
#: Default row height in pixels (15 points).
ROW_PX = 20

#: views' run status → the colour of its word; a next step's kind → how its sentence looks.
STATUS_KINDS = {"ok": "ok", "preview": "preview", "problems": "problem", "aborted": "problem"}
_STEP_KINDS = {"problem": "alarm"}


def write_summary_sheet(
    workbook: xlsxwriter.Workbook, sheet: Worksheet, view: SummaryView, *, local_zone: str
) -> None:
    """Write the Summary sheet of ``view`` (``sheet_views.summary_view(result)``);
    ``local_zone`` names the zone of the workbook's local times."""
    look = styles(workbook)
    for col, width in enumerate(WIDTHS):
        sheet.set_column(col, col, width)
    set_print_layout(sheet, title=view.title, landscape=False)
    sheet.hide_gridlines(2)

    write_text(sheet, 0, 0, view.title, look.title)
    write_text(sheet, 1, 0, view.status_label, look.status[STATUS_KINDS[view.status]])
    row = _paragraph(sheet, look, 1, view.headline, "headline", first_col=1)
    row += 2

    row = _section(sheet, look, row, "What to do next")
    for step in view.next_steps:
        row = _paragraph(sheet, look, row, step.text, _STEP_KINDS.get(step.kind, "text")) + 1
        if step.command:
            row = _paragraph(sheet, look, row, f"    {step.command}", "code") + 1
    row += 1

    row = _counts(workbook, sheet, look, row, view)
    row += 1

    row = _section(sheet, look, row, "About this run")
    for fact in view.facts:
        write_text(sheet, row, 0, fact.label, look.muted)
        row = _paragraph(sheet, look, row, fact.value, "text", first_col=1) + 1
    if view.warnings:
        row += 1
        title = "Warning" if len(view.warnings) == 1 else "Warnings"
        row = _section(sheet, look, row, title)
        for warning in view.warnings:
            row = _paragraph(sheet, look, row, f"• {warning}", "text") + 1
    row += 1
    where = (
        f"Times in the Results sheet are local times of the computer that wrote this file "
        f"({local_zone}). The configuration, requests and HTTP statuses are on the sheet "
        "Run details."
    )
    row = _paragraph(sheet, look, row, where, "note")
    sheet.print_area(0, 0, row, LAST_COL)


def _section(sheet: Worksheet, look: Styles, row: int, title: str) -> int:
    """A heading band across the page; returns the next row."""
    write_text(sheet, row, 0, title, look.section)
    for col in range(1, LAST_COL + 1):
        sheet.write_blank(row, col, None, look.section)
    return row + 1


def _paragraph(
    sheet: Worksheet, look: Styles, row: int, text: str, kind: str, *, first_col: int = 0
) -> int:
    """``text`` merged from ``first_col`` to the page's right edge, wrapped; returns its row."""
    lines = text_lines(text, sum(WIDTHS[first_col:]))
    fmt = look.paragraph[kind]
    if lines > 1:
        sheet.set_row(row, LINE_HEIGHT * lines)
    sheet.merge_range(row, first_col, row, LAST_COL, "", fmt)
    write_text(sheet, row, first_col, text, fmt)
    return row


def _counts(
    workbook: xlsxwriter.Workbook, sheet: Worksheet, look: Styles, row: int, view: SummaryView
) -> int:
    """The rows-per-outcome table and its chart; returns the row after both."""
    header = row
    write_text(sheet, row, 0, "Outcome", look.header)
    write_text(sheet, row, 1, "Rows", look.header_right)
    write_text(sheet, row, 2, "outcome in Results", look.header_indent)
    row += 1
    first = row
    for count in view.counts:
        outcome = Outcome(count.outcome)
        write_text(sheet, row, 0, count.label, look.outcome[outcome])
        sheet.write_number(row, 1, count.count, look.count)
        write_text(sheet, row, 2, count.outcome, look.muted_indent)
        row += 1
    last = row - 1
    if not view.counts:
        write_text(sheet, row, 0, "The sheet had no rows.", look.note)
        row += 1
    write_text(sheet, row, 0, "All rows", look.total_label)
    sheet.write_number(row, 1, view.total_rows, look.total)
    sheet.write_blank(row, 2, None, look.total_label)
    row += 1
    if not view.counts:
        return row
    height = max(150, 70 + 26 * len(view.counts))
    chart = workbook.add_chart({"type": "bar"})
    assert chart is not None
    chart.add_series(
        {
            "name": "Rows",
            "categories": [SUMMARY_SHEET, first, 0, last, 0],
            "values": [SUMMARY_SHEET, first, 1, last, 1],
            "points": [{"fill": {"color": CHART_COLOURS[Outcome(c.outcome)]}} for c in view.counts],
            "data_labels": {"value": True, "num_format": "#,##0"},
            "gap": 50,
        }
    )
    chart.set_title({"name": "Rows by outcome", "name_font": {"size": 11, "bold": True}})
    chart.set_legend({"none": True})
    # First outcome on top; the values then cross at the last category, i.e. at the bottom.
    chart.set_y_axis({"reverse": True, "crossing": "max", "num_font": {"size": 9}})
    chart.set_x_axis({"min": 0, "num_format": "#,##0", "num_font": {"size": 9}})
    chart.set_size({"width": CHART_WIDTH_PX, "height": height})
    chart.set_chartarea({"border": {"none": True}})
    sheet.insert_chart(header, CHART_COL, chart, {"x_offset": 4, "y_offset": 0})
    return max(row, header + math.ceil(height / ROW_PX) + 1)
