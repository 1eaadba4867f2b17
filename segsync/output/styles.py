"""The look of segsync's workbooks: cell formats and the colour of each outcome.

xlsxwriter formats belong to one workbook, so ``styles(workbook)`` creates them on first use
and hands the same set to every sheet writer of that workbook.
"""

from __future__ import annotations

import xlsxwriter
from xlsxwriter.format import Format

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


#: Bar colours of the Summary chart: the outcome colours, strong enough to read as bars.
CHART_COLOURS: dict[Outcome, str] = {
    Outcome.UPDATED: "#70AD47",
    Outcome.UNCHANGED: "#A5A5A5",
    Outcome.DUPLICATE: "#C9C9C9",
    Outcome.WOULD_UPDATE: "#5B9BD5",
    Outcome.FAILED: "#C00000",
    Outcome.INVALID: "#E15759",
    Outcome.NOT_FOUND: "#FF7C80",
    Outcome.CONFLICT: "#ED7D31",
    Outcome.UPDATED_WITH_DIFFERENCES: "#F4B183",
    Outcome.NOT_ATTEMPTED: "#FFC000",
}

#: Every cell of a table is top-aligned, so a row with a wrapped cell reads from its top.
_TOP: dict[str, object] = {"valign": "top"}
#: Number-format padding the width of ")" after a right-aligned number (Excel's idiom).
PAD = "_)"


class Styles:
    """The handful of formats segsync's workbooks use, created once per workbook."""

    def __init__(self, workbook: xlsxwriter.Workbook) -> None:
        self._workbook = workbook
        self._numbers: dict[str, Format] = {}
        self.header = workbook.add_format(
            {"bold": True, "bg_color": "#D9E1F2", "bottom": 1, "valign": "top"}
        )
        #: a table's header: wrapped, so a long name takes two lines rather than a wide column
        self.table_header = workbook.add_format(
            {"bold": True, "bg_color": "#D9E1F2", "bottom": 1, "valign": "top", "text_wrap": True}
        )
        self.top = workbook.add_format(_TOP)
        self.wrap = workbook.add_format({"text_wrap": True, "valign": "top"})
        self.indent = workbook.add_format({"indent": 1, "align": "left", **_TOP})
        #: a table's wrapped text, a little away from the number on its left
        self.wrap_indent = workbook.add_format(
            {"text_wrap": True, "valign": "top", "indent": 1, "align": "left"}
        )
        self.muted = workbook.add_format({"font_color": "#595959", "valign": "top"})
        #: "(empty)" in a table's wrapped column
        self.empty_value = workbook.add_format(
            {"font_color": "#595959", "italic": True, "indent": 1, "align": "left", **_TOP}
        )
        self.count = workbook.add_format({"num_format": f"#,##0{PAD}", "valign": "top"})
        self.total_label = workbook.add_format({"bold": True, "top": 1})
        self.total = workbook.add_format({"bold": True, "top": 1, "num_format": f"#,##0{PAD}"})
        self.note = workbook.add_format({"italic": True, "font_color": "#595959"})
        self.header_indent = workbook.add_format(
            {
                "bold": True,
                "bg_color": "#D9E1F2",
                "bottom": 1,
                "valign": "top",
                "indent": 1,
                "align": "left",
            }
        )
        self.header_right = workbook.add_format(
            {"bold": True, "bg_color": "#D9E1F2", "bottom": 1, "valign": "top", "align": "right"}
        )
        #: text merged across a page and wrapped (the Summary's sentences), by kind
        wrapped: dict[str, object] = {"text_wrap": True, "valign": "top"}
        kinds: dict[str, dict[str, object]] = {
            "text": {},
            "headline": {"bold": True, "font_size": 12},
            "alarm": {"bold": True, "font_color": "#9C0006"},
            "code": {"font_name": "Consolas", "font_color": "#1F4E78"},
            "note": {"italic": True, "font_color": "#595959"},
        }
        self.paragraph: dict[str, Format] = {
            kind: workbook.add_format({**wrapped, **props}) for kind, props in kinds.items()
        }
        #: the run's status word (Done, Needs attention, Stopped early, Preview)
        self.status: dict[str, Format] = {
            kind: workbook.add_format(
                {"bold": True, "font_size": 12, "bg_color": bg, "font_color": fg, **_TOP}
            )
            for kind, (bg, fg) in {
                "ok": OUTCOME_COLOURS[Outcome.UPDATED],
                "preview": OUTCOME_COLOURS[Outcome.WOULD_UPDATE],
                "problem": OUTCOME_COLOURS[Outcome.FAILED],
            }.items()
        }
        self.text = workbook.add_format({"num_format": "@"})
        self.changed = workbook.add_format({"bg_color": "#FFF2CC", "bold": True, **_TOP})
        self.different = workbook.add_format({"bg_color": "#F8CBAD", "bold": True, **_TOP})
        #: the formats of one-line text columns, wrapped: for a value that holds a line break
        #: (a description written on two lines), whose second line would be hidden otherwise
        self.wrapped_variant: dict[Format | None, Format] = {
            None: self.wrap,
            self.indent: self.wrap_indent,
            self.changed: workbook.add_format(
                {"bg_color": "#FFF2CC", "bold": True, "text_wrap": True, **_TOP}
            ),
            self.different: workbook.add_format(
                {"bg_color": "#F8CBAD", "bold": True, "text_wrap": True, **_TOP}
            ),
        }
        self.left_number = workbook.add_format({"align": "left", **_TOP})
        self.left_decimal = workbook.add_format({"align": "left", "num_format": "0.00", **_TOP})
        self.muted_indent = workbook.add_format(
            {"font_color": "#595959", "indent": 1, "align": "left", **_TOP}
        )
        self.title = workbook.add_format({"bold": True, "font_size": 14})
        self.banner = workbook.add_format({"bold": True, "font_color": "#1F4E78"})
        self.alarm = workbook.add_format({"bold": True, "font_color": "#9C0006"})
        self.section = workbook.add_format({"bold": True, "bg_color": "#D9E1F2"})
        self.read_only_header = workbook.add_format(
            {"bold": True, "bg_color": "#EDEDED", "font_color": "#595959", "bottom": 1}
        )
        self.read_only = workbook.add_format({"font_color": "#595959"})
        self.outcome = {
            o: workbook.add_format({"bg_color": bg, "font_color": fg, **_TOP})
            for o, (bg, fg) in OUTCOME_COLOURS.items()
        }
        #: the same colours, wrapped (the outcome words of the Problems and Changes sheets)
        self.outcome_wrap = {
            o: workbook.add_format(
                {"bg_color": bg, "font_color": fg, "text_wrap": True, "indent": 1, **_TOP}
            )
            for o, (bg, fg) in OUTCOME_COLOURS.items()
        }

    def number(self, num_format: str) -> Format:
        """A top-aligned format showing numbers as ``num_format``, one per format string:
        numbers padded on the right, dates and times centred."""
        found = self._numbers.get(num_format)
        if found is None:
            if "yy" in num_format:
                props: dict[str, object] = {"num_format": num_format, "align": "center"}
            else:
                props = {"num_format": f"{num_format}{PAD}"}
            found = self._workbook.add_format({**props, **_TOP})
            self._numbers[num_format] = found
        return found


def styles(workbook: xlsxwriter.Workbook) -> Styles:
    """The workbook's formats, created on first use (xlsxwriter formats are per workbook)."""
    found = getattr(workbook, _STYLES_ATTR, None)
    if found is None:
        found = Styles(workbook)
        setattr(workbook, _STYLES_ATTR, found)
    return found
