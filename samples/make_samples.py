"""Regenerate ``samples/segment_edits.xlsx`` and ``.csv`` (same content) from ``segments.csv``.

The edits show every kind of row an ops person produces: real changes, rows equal to the current
state, a partial row, a cleared description, and the usual mistakes (an unknown id, the clear
marker on a required field, one id twice with different values). Run: ``python
samples/make_samples.py``; the sample files are committed, this keeps them reproducible. The
package ships copies (``segsync/sandbox/data/``: the sandbox's seed and the sheet ``segsync init``
writes); this refreshes them too, and a test checks they are the same bytes.
"""

from __future__ import annotations

import csv
import shutil
from pathlib import Path

import xlsxwriter

HERE = Path(__file__).parent
PACKAGED = HERE.parent / "segsync" / "sandbox" / "data"
HEADER = ["Segment ID", "Campaign ID", "Name", "Code", "Description", "External ID", "Note"]


def current() -> dict[int, dict[str, str]]:
    with open(HERE / "segments.csv", encoding="utf-8", newline="") as handle:
        return {int(r["id"]): r for r in csv.DictReader(handle)}


def rows() -> list[list[str]]:
    seg = current()

    def same(i: int, note: str) -> list[str]:
        s = seg[i]
        return [
            str(i),
            s["campaignId"],
            s["name"],
            s["code"],
            s["description"],
            s["externalIdentifier"],
            note,
        ]

    return [
        [str(100001), "", "Planned Giving Prospects – Phone Bank", "", "", "", "rename"],
        [str(100002), "", "", "00116-DM", "", "", "new code, leading zeros kept"],
        [
            str(100004),
            "",
            "Email: Rural Route Mailing – Zone 3 (2nd drop)",
            "081-EM2",
            "Second drop; suppress gifts in the last 30 days.",
            "SF-683294-B",
            "several fields",
        ],
        same(100006, "equal to current state"),
        same(100007, "equal to current state"),
        [str(100008), "", "", "", "", "", "partial row: nothing to change"],
        [str(100009), "", "", "", "#CLEAR", "", "clear the description"],
        [str(100010), "", "", "", "", "#CLEAR", "clear the external id"],
        [str(100012), "", "Email: Reactivated Donors (B)", "", "", "", "partial row: name only"],
        [str(100013), "", "Crypto & Stock Gifts – SMS", "", "Text-to-give follow-up.", "", ""],
        [str(100014), "", "Église & Faith Partners – Landing Page", "", "", "", "accents"],
        [str(999999), "", "Does not exist", "X1", "", "", "mistake: unknown id"],
        [str(100020), "", "#CLEAR", "", "", "", "mistake: clearing a required field"],
        [str(100021), "", "Church & Faith – Google Ads", "", "", "", "mistake: id twice (1)"],
        [str(100021), "", "Church & Faith – Ad Grants", "", "", "", "mistake: id twice (2)"],
    ]


def main() -> None:
    data = rows()
    with open(HERE / "segment_edits.csv", "w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(HEADER)
        writer.writerows(data)
    book = xlsxwriter.Workbook(
        str(HERE / "segment_edits.xlsx"),
        {"strings_to_numbers": False, "strings_to_formulas": False, "strings_to_urls": False},
    )
    sheet = book.add_worksheet("Edits")
    bold = book.add_format({"bold": True})
    sheet.write_row(0, 0, HEADER, bold)
    for r, row in enumerate(data, start=1):
        for c, value in enumerate(row):
            if c in (0, 1) and value:
                sheet.write_number(r, c, float(value))  # Excel stores ids as numbers: 100001.0
            elif value:
                sheet.write_string(r, c, value)
    sheet.set_column(0, 1, 12)
    sheet.set_column(2, 2, 46)
    sheet.set_column(3, 3, 12)
    sheet.set_column(4, 4, 48)
    sheet.set_column(5, 6, 30)
    sheet.freeze_panes(1, 0)
    book.close()
    for name in ("segments.csv", "segment_edits.xlsx"):
        shutil.copyfile(HERE / name, PACKAGED / name)


if __name__ == "__main__":
    main()
