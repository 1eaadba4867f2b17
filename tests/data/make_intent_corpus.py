"""Sheets made the way fundraising ops staff make them, one per class of "what the person meant".

Each case writes one file into a folder; ``tests/test_intent_corpus.py`` runs them through
``validate``, ``sync --dry-run`` and ``sync`` against the sandbox (seeded from
``samples/segments.csv``). Run ``python tests/data/make_intent_corpus.py FOLDER`` to look at
them in a spreadsheet program. The files are made at test time, not committed.

- ``ops_unmapped.xlsx``: ``Segment ID, Segment Name, Source Code, Campaign, Salesforce ID,
  Desc, Notes``: Source Code and Salesforce ID are aliases; Campaign and Desc look like fields.
- ``typos.xlsx``: ``Segmnet Name``, ``Descripton``.
- ``old_new_name.xlsx``: ``Old Name``, ``New Name``.
- ``ext_ref.csv``: ``Ext Ref``.
- ``hidden_rows.xlsx``: an autofilter on Status hides a draft row (code ``XXX``).
- ``hidden_column.xlsx``: a hidden Description column holding ``OLD DRAFT: delete me``.
- ``two_tabs.xlsx``: "Spring Appeal" and "Giving Tuesday", both with ids.
- ``instructions_first.xlsx``: an instructions sheet, then "Edits".
- ``read_only_edit.xlsx``: an export whose campaignName and totalDonors were typed over.
- ``clear_words.xlsx``: ``N/A``, ``null``, ``-`` typed to mean "clear".
- ``invisible.xlsx``: a zero-width space after a name, a non-breaking space inside one.
- ``numeric_codes.xlsx``: codes typed as numbers, ``993.5`` and ``120000``.
- ``moves.xlsx``: a move to another campaign, a move to a campaign that does not exist, and a
  code another segment of the campaign holds.
"""

from __future__ import annotations

import csv
import sys
from collections.abc import Callable
from pathlib import Path

import xlsxwriter

CASES: dict[str, Callable[[Path], None]] = {}
SEED = Path(__file__).resolve().parents[2] / "samples" / "segments.csv"


def case(name: str) -> Callable[[Callable[[Path], None]], Callable[[Path], None]]:
    def register(fn: Callable[[Path], None]) -> Callable[[Path], None]:
        CASES[name] = fn
        return fn

    return register


def seed() -> dict[int, dict[str, str]]:
    with open(SEED, encoding="utf-8", newline="") as handle:
        return {int(row["id"]): row for row in csv.DictReader(handle)}


def _book(path: Path) -> xlsxwriter.Workbook:
    return xlsxwriter.Workbook(
        str(path), {"strings_to_numbers": False, "strings_to_formulas": False}
    )


def _sheet(book: xlsxwriter.Workbook, name: str, rows: list[list[object]]) -> object:
    sheet = book.add_worksheet(name)
    for r, row in enumerate(rows):
        for c, value in enumerate(row):
            if value is None:
                continue
            if isinstance(value, int | float):
                sheet.write_number(r, c, value)
            else:
                sheet.write_string(r, c, str(value))
    return sheet


@case("ops_unmapped.xlsx")
def ops_unmapped(path: Path) -> None:
    book = _book(path)
    _sheet(
        book,
        "Edits",
        [
            [
                "Segment ID",
                "Segment Name",
                "Source Code",
                "Campaign",
                "Salesforce ID",
                "Desc",
                "Notes",
            ],
            [
                100001,
                "Phone Bank – Planned Giving",
                "PG-01",
                "Spring",
                "SF-1001",
                "Calls",
                "ok",
            ],
            [100003, "Facebook Ads – Mid-Level", "FB-70", "Spring", "SF-1003", "Ads", "check"],
        ],
    )
    book.close()


@case("typos.xlsx")
def typos(path: Path) -> None:
    book = _book(path)
    _sheet(
        book,
        "Edits",
        [["Segment ID", "Segmnet Name", "Descripton"], [100001, "Typo name", "Typo description"]],
    )
    book.close()


@case("old_new_name.xlsx")
def old_new_name(path: Path) -> None:
    old = seed()[100001]["name"]
    book = _book(path)
    _sheet(
        book,
        "Edits",
        [["Segment ID", "Old Name", "New Name"], [100001, old, "Planned Giving – Renamed"]],
    )
    book.close()


@case("ext_ref.csv")
def ext_ref(path: Path) -> None:
    with open(path, "w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["id", "Name", "Ext Ref"])
        writer.writerow(["100001", "Ext ref name", "SF-9"])


@case("hidden_rows.xlsx")
def hidden_rows(path: Path) -> None:
    book = _book(path)
    sheet = _sheet(
        book,
        "Edits",
        [
            ["Segment ID", "Segment Name", "Code", "Status"],
            [100001, "Visible rename", None, "ready"],
            [100002, "DRAFT DO NOT SEND – First-Time Donors", "XXX", "draft"],
            [100003, "Visible rename 3", None, "ready"],
        ],
    )
    sheet.autofilter(0, 0, 3, 3)  # type: ignore[attr-defined]
    sheet.filter_column(3, "Status == ready")  # type: ignore[attr-defined]
    sheet.set_row(2, None, None, {"hidden": True})  # type: ignore[attr-defined]
    book.close()


@case("hidden_column.xlsx")
def hidden_column(path: Path) -> None:
    book = _book(path)
    sheet = _sheet(
        book,
        "Edits",
        [
            ["Segment ID", "Segment Name", "Description"],
            [100001, "Visible rename", "OLD DRAFT: delete me"],
        ],
    )
    sheet.set_column(2, 2, None, None, {"hidden": True})  # type: ignore[attr-defined]
    book.close()


@case("two_tabs.xlsx")
def two_tabs(path: Path) -> None:
    book = _book(path)
    _sheet(book, "Spring Appeal", [["Segment ID", "Name"], [100001, "Spring rename"]])
    _sheet(book, "Giving Tuesday", [["Segment ID", "Name"], [100003, "Tuesday rename"]])
    book.close()


@case("instructions_first.xlsx")
def instructions_first(path: Path) -> None:
    book = _book(path)
    _sheet(book, "Instructions", [["How to use this workbook"], ["Edit the next tab."]])
    _sheet(book, "Edits", [["Segment ID", "Name"], [100001, "Renamed from tab 2"]])
    book.close()


@case("read_only_edit.xlsx")
def read_only_edit(path: Path) -> None:
    s = seed()
    book = _book(path)
    _sheet(
        book,
        "Segments",
        [
            ["id", "name", "campaignName", "totalDonors"],
            [100001, "Renamed with campaign", "Giving Tuesday 2026", None],
            [100003, s[100003]["name"], None, 120000],
            [100004, "Renamed fine", s[100004]["campaignName"], None],
        ],
    )
    book.close()


@case("clear_words.xlsx")
def clear_words(path: Path) -> None:
    book = _book(path)
    _sheet(
        book,
        "Edits",
        [
            ["Segment ID", "Name", "Description", "External ID"],
            [100004, None, "N/A", None],
            [100001, None, None, "null"],
            [100003, "-", None, None],
            [100009, None, "#CLEAR", None],
        ],
    )
    book.close()


@case("invisible.xlsx")
def invisible(path: Path) -> None:
    s = seed()
    book = _book(path)
    _sheet(
        book,
        "Edits",
        [
            ["Segment ID", "Name"],
            [100001, s[100001]["name"] + "\u200b"],
            [100003, s[100003]["name"].replace(" ", "\u00a0", 1)],
            [100004, "Plain rename"],
        ],
    )
    book.close()


@case("numeric_codes.xlsx")
def numeric_codes(path: Path) -> None:
    book = _book(path)
    _sheet(
        book,
        "Edits",
        [
            ["Segment ID", "Code"],
            [100001, 993.5],
            [100003, 120000],
            [100002, 116],  # the server holds 00116: spreadsheet damage, kept with a warning
        ],
    )
    book.close()


@case("moves.xlsx")
def moves(path: Path) -> None:
    book = _book(path)
    _sheet(
        book,
        "Edits",
        [
            ["Segment ID", "Campaign ID", "Code"],
            [100001, 5002, None],  # a move to Giving Tuesday 2026
            [100003, 5009, None],  # no such campaign
            [100004, None, "FB69"],  # the code segment 100003 holds in campaign 5001
        ],
    )
    book.close()


def make(name: str, folder: Path) -> Path:
    path = folder / name
    CASES[name](path)
    return path


def main(folder: str) -> None:
    out = Path(folder)
    out.mkdir(parents=True, exist_ok=True)
    for name in CASES:
        print(make(name, out))


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else ".")
