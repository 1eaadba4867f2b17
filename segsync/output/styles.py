"""The look of segsync's workbooks: cell formats and the colour of each outcome.

xlsxwriter formats belong to one workbook, so ``styles(workbook)`` creates them on first use
and hands the same set to every sheet writer of that workbook.
"""

from __future__ import annotations

import xlsxwriter

from segsync.outcomes import Outcome

#: (background, font) per outcome: green done, grey nothing to do, blue preview, red failed,
#: orange needs a look, yellow never tried.
OUTCOME_COLOURS: dict[Outcome, tuple[str, str]] = {
    Outcome.UPDATED: ("#C6EFCE", "#006100"),
    Outcome.UNCHANGED: ("#EDEDED", "#3A3838"),
    Outcome.DUPLICATE: ("#EDEDED", "#3A3838"),
    Outcome.WOULD_UPDATE: ("#DDEBF7", "#1F4E78"),
    Outcome.FAILED: ("#FFC7CE", "#9C0006"),
    Outcome.INVALID: ("#FFC7CE", "#9C0006"),
    Outcome.NOT_FOUND: ("#FFC7CE", "#9C0006"),
    Outcome.CONFLICT: ("#F8CBAD", "#843C0C"),
    Outcome.UPDATED_WITH_DIFFERENCES: ("#F8CBAD", "#843C0C"),
    Outcome.NOT_ATTEMPTED: ("#FFEB9C", "#9C5700"),
}

_STYLES_ATTR = "_segsync_styles"


class Styles:
    """The handful of formats segsync's workbooks use, created once per workbook."""

    def __init__(self, workbook: xlsxwriter.Workbook) -> None:
        self.header = workbook.add_format(
            {"bold": True, "bg_color": "#D9E1F2", "bottom": 1, "valign": "top"}
        )
        self.wrap = workbook.add_format({"text_wrap": True, "valign": "top"})
        self.amount = workbook.add_format({"num_format": "#,##0.00"})
        self.integer = workbook.add_format({"num_format": "#,##0"})
        self.text = workbook.add_format({"num_format": "@"})
        self.changed = workbook.add_format({"bg_color": "#FFF2CC", "bold": True})
        self.different = workbook.add_format({"bg_color": "#F8CBAD", "bold": True})
        self.title = workbook.add_format({"bold": True, "font_size": 14})
        self.banner = workbook.add_format({"bold": True, "font_color": "#1F4E78"})
        self.alarm = workbook.add_format({"bold": True, "font_color": "#9C0006"})
        self.section = workbook.add_format({"bold": True, "bg_color": "#D9E1F2"})
        self.decimal = workbook.add_format({"num_format": "0.00"})
        self.read_only_header = workbook.add_format(
            {"bold": True, "bg_color": "#EDEDED", "font_color": "#595959", "bottom": 1}
        )
        self.read_only = workbook.add_format({"font_color": "#595959"})
        self.outcome = {
            o: workbook.add_format({"bg_color": bg, "font_color": fg})
            for o, (bg, fg) in OUTCOME_COLOURS.items()
        }


def styles(workbook: xlsxwriter.Workbook) -> Styles:
    """The workbook's formats, created on first use (xlsxwriter formats are per workbook)."""
    found = getattr(workbook, _STYLES_ATTR, None)
    if found is None:
        found = Styles(workbook)
        setattr(workbook, _STYLES_ATTR, found)
    return found
