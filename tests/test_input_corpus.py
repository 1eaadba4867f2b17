"""Every file in the bad-input corpus (tests/data/, see make_corpus.py) and its outcome.

A corpus case either loads (values asserted), has row-level errors (exactly those rows are
invalid, each message naming its cell), or fails as a whole with a typed file-level error
whose message is one sentence naming the file.
"""

from __future__ import annotations

import re
import sys
import types
from pathlib import Path
from typing import Any

import pytest

from segsync.config import InputSettings
from segsync.errors import FileTooLargeError, NoDataError, UnsupportedFileError
from segsync.input.editset import EditSet
from segsync.input.loader import load_edits

DATA = Path(__file__).resolve().parent / "data"
SETTINGS = InputSettings()


def load(name: str, **settings: object) -> EditSet:
    return load_edits(DATA / name, InputSettings(**settings) if settings else SETTINGS)


def errors_by_row(edits: EditSet) -> dict[int, list[str]]:
    return {row.source_row: [str(e) for e in row.errors] for row in edits.rows if row.errors}


def values_by_id(edits: EditSet) -> dict[int | None, dict[str, object]]:
    return {row.segment_id: row.values for row in edits.rows}


BASIC_VALUES = {
    100001: {
        "campaignId": 5001,
        "name": "Spring appeal",
        "code": "00123",
        "description": "NA",
        "externalIdentifier": "null",
    },
    100002: {"campaignId": 5001, "name": "Café donors", "code": "SPR-02", "description": "N/A"},
    100003: {"name": "Padded name", "description": None, "externalIdentifier": None},
}


# ------------------------------------------------------------------------------------- loads


@pytest.mark.parametrize("name", ["basic.xlsx", "basic.csv", "basic.ods", "first_sheet_empty.xlsx"])
def test_basic_content_loads_identically(name: str) -> None:
    edits = load(name)
    assert values_by_id(edits) == BASIC_VALUES
    assert [r.source_row for r in edits.rows] == [2, 3, 4]
    assert not edits.invalid_rows
    assert edits.columns["id"] == "Segment ID"
    assert edits.sha256 and len(edits.sha256) == 64


def test_first_sheet_empty_reads_the_next_sheet() -> None:
    assert load("first_sheet_empty.xlsx").sheet == "Edits"


def test_hidden_first_sheet_is_skipped_with_a_warning() -> None:
    edits = load("hidden_first_sheet.xlsx")
    assert edits.sheet == "Edits"
    assert values_by_id(edits) == {100001: {"name": "Current"}}
    assert any("'Old'" in w and "hidden" in w for w in edits.warnings)


def test_hidden_sheet_can_be_named() -> None:
    edits = load_edits(DATA / "hidden_first_sheet.xlsx", SETTINGS, sheet="Old")
    assert values_by_id(edits) == {999: {"name": "stale row from last year"}}


def test_trailing_empty_rows_and_columns_are_ignored() -> None:
    edits = load("trailing_empty.xlsx")
    assert values_by_id(edits) == {
        100001: {"name": "One", "code": "C1"},
        100002: {"name": "Two", "code": "C2"},
    }
    assert edits.warnings == []


def test_ragged_csv_rows() -> None:
    edits = load("ragged.csv")
    assert [r.source_row for r in edits.rows] == [2, 3, 4, 5]
    assert values_by_id(edits)[100001] == {"name": "One"}
    assert values_by_id(edits)[100002] == {}
    assert values_by_id(edits)[100004] == {"name": "Four", "code": "C4"}
    errors = errors_by_row(edits)
    assert list(errors) == [4]
    assert errors[4][0].startswith("ragged!D4 (no header): this row has more cells than the header")


def test_unknown_columns_warn_and_carry_through() -> None:
    edits = load("unknown_columns.xlsx")
    assert edits.extra_columns == ["Notes", "Owner"]
    assert [r.extras for r in edits.rows] == [
        {"Notes": "call first", "Owner": "123"},
        {"Notes": "", "Owner": "Pat"},
    ]
    # plain note columns are placed as notes, shown in the mapping, with no warning (issue 18)
    assert edits.warnings == []
    assert {p.header: p.describe() for p in edits.placements if p.kind == "note"} == {
        "Notes": "note",
        "Owner": "note",
    }
    assert values_by_id(edits) == {100001: {"name": "One"}, 100002: {"name": "Two"}}


def test_header_variants_and_read_only_columns() -> None:
    edits = load("header_variants.csv")
    assert edits.columns == {
        "id": "SEGMENT_ID",
        "campaignId": "campaign-id",
        "name": "Segment Name",
        "code": "CODE",
        "externalIdentifier": "External Identifier",
        "modifiedDateTime": "Last Modified",
        "totalDonors": "Total Donors",
        "campaignName": "Campaign Name",
    }
    (row,) = edits.rows
    assert row.values == {
        "campaignId": 5001,
        "name": "One",
        "code": "C1",
        "externalIdentifier": "X-1",
    }
    assert row.expected_modified == "2024-03-01T10:15:00Z"
    assert edits.warnings == []  # read-only columns are expected, not warned about


def test_blank_name_and_code_mean_keep() -> None:
    values = values_by_id(load("blank_name_code.xlsx"))
    assert values[100001] == {"description": "only the description"}
    assert values[100002] == {"description": "spaces and a tab"}
    assert values[100003] == {"name": "Kept", "code": "K-3"}


def test_campaign_id_as_text() -> None:
    edits = load("campaign_id_text.xlsx")
    assert values_by_id(edits)[100001] == {"campaignId": 5001}
    assert values_by_id(edits)[100002] == {"campaignId": 42}
    assert errors_by_row(edits) == {
        4: ["Edits!B4 (campaignId): campaignId must be a whole number, got 'abc'"]
    }


def test_formula_with_cached_value_uses_it() -> None:
    edits = load("formula_cached.xlsx")
    assert values_by_id(edits) == {100001: {"campaignId": 5002, "code": "A-1"}}


def test_merged_header_cell_column_is_ignored_with_a_warning() -> None:
    edits = load("merged_header.xlsx")
    assert values_by_id(edits) == {
        100001: {"code": "C1", "name": "One"},
        100002: {"code": "C2", "name": "Two"},
    }
    assert edits.warnings == [
        "column D has no header (it is covered by the merged header cell C1:D1); "
        "its 2 values are ignored."
    ]


@pytest.mark.parametrize("name", ["cp1252.csv", "utf8_bom.csv", "utf16_tab.txt"])
def test_encodings(name: str) -> None:
    edits = load(name)
    assert edits.columns["id"] == "Segment ID"
    assert values_by_id(edits) == {
        100001: {"name": "Café", "description": "Zürich naïve"},
        100002: {"name": "€5 appeal", "description": "déjà vu"},
    }
    cp1252_warning = any("Windows-1252" in w for w in edits.warnings)
    assert cp1252_warning == (name == "cp1252.csv")


def test_semicolon_delimited() -> None:
    values = values_by_id(load("semicolon.csv"))
    assert values == {
        100001: {"name": "One", "description": "a, b, and c"},
        100002: {"name": "Two", "description": "x,y"},
    }


def test_excel_sep_line() -> None:
    edits = load("excel_sep.csv")
    assert values_by_id(edits) == {100001: {"name": "One, really"}}
    assert edits.rows[0].source_row == 2


def test_quoted_newlines() -> None:
    edits = load("quoted_newlines.csv")
    assert values_by_id(edits)[100001]["description"] == "Line one\nLine two"
    assert [r.source_row for r in edits.rows] == [2, 3]  # records, not physical lines


@pytest.mark.parametrize("name", ["legacy.xls", "legacy_misnamed.xlsx"])
def test_legacy_xls(name: str) -> None:
    edits = load(name)
    assert edits.sheet == "Legacy"
    assert values_by_id(edits)[100001] == {"name": "Spring appeal", "code": "00123"}
    assert values_by_id(edits)[100002] == {"name": "Café", "code": "42"}
    errors = errors_by_row(edits)
    assert list(errors) == [4]
    assert errors[4][0].startswith("Legacy!A4 (Segment ID): is a date, not a segment id")
    assert any("legacy Excel 97-2003" in w for w in edits.warnings) == name.endswith(".xlsx")


# -------------------------------------------------------------------------------- row errors


def test_bad_ids() -> None:
    edits = load("bad_ids.xlsx")
    errors = errors_by_row(edits)
    expected = {
        2: "Edits!A2 (Segment ID): id must be a whole number, got 'abc'",
        3: "Edits!A3 (Segment ID): id must be a positive whole number, got -5",
        4: "Edits!A4 (Segment ID): id must be a positive whole number, got 0",
        5: "Edits!A5 (Segment ID): id 100000000000000000000 is too large",
        6: "Edits!A6 (Segment ID): id must be a whole number, got 12.5",
        7: "Edits!A7 (Segment ID): the segment id is blank; every row needs one",
        8: "Edits!A8 (Segment ID): is a date, not a segment id (2024-01-02)",
        9: "Edits!A9 (Segment ID): segment 100020 also appears on row 10 with different values",
        10: "Edits!A10 (Segment ID): segment 100020 also appears on row 9 with different values",
    }
    assert sorted(errors) == sorted(expected)
    for row, message in expected.items():
        assert len(errors[row]) == 1
        assert errors[row][0].startswith(message), errors[row]
    rows = {r.source_row: r for r in edits.rows}
    assert rows[12].duplicate_of == 11 and rows[12].valid
    assert rows[11].duplicate_of is None
    assert rows[13].valid and rows[13].segment_id == 100040
    assert all(rows[n].segment_id is None for n in range(2, 9))


def test_clear_marker_on_required_fields() -> None:
    edits = load("clear_required.xlsx")
    assert errors_by_row(edits) == {
        2: ["Edits!C2 (name): a required field cannot be cleared"],
        3: ["Edits!D3 (code): a required field cannot be cleared"],
        4: ["Edits!B4 (campaignId): a required field cannot be cleared"],
    }
    assert values_by_id(edits)[100003] == {"name": "Three", "code": "C3", "description": None}


@pytest.mark.parametrize(
    ("name", "message"),
    [
        (
            "long_cell.csv",
            "long_cell!B2 (name): is 50,000 characters long; segsync sends at most 32,767",
        ),
        ("nul_bytes.xlsx", "Edits!B2 (name): contains a NUL byte (U+0000)"),
        ("nul_bytes.csv", "nul_bytes!B2 (name): contains a NUL byte (U+0000)"),
    ],
)
def test_bad_text_cells(name: str, message: str) -> None:
    edits = load(name)
    errors = errors_by_row(edits)
    assert list(errors) == [2]
    assert errors[2][0].startswith(message)
    assert values_by_id(edits)[100002] == {"name": "Short" if "long" in name else "Fine"}


def test_a_cell_of_excels_maximum_length_is_accepted() -> None:
    """32,767 characters is what Excel holds and what an export writes: it can be sent back."""
    edits = load("long_cell.xlsx")
    assert errors_by_row(edits) == {}
    assert len(values_by_id(edits)[100001]["name"]) == 32_767


def test_content_rule_errors_carry_the_cell_text_for_the_differ() -> None:
    """A content rule is soft: the differ lifts it when the server already holds the value."""
    edits = load("odd_text_cells.xlsx")
    line_break = edits.rows[1].errors[0]
    assert line_break.soft and line_break.field == "name" and "\n" in (line_break.held or "")
    date_in_code = edits.rows[0].errors[0]
    assert not date_in_code.soft
    nul = load("nul_bytes.csv").rows[0].errors[0]
    assert not nul.soft


def test_odd_text_cells() -> None:
    edits = load("odd_text_cells.xlsx")
    errors = errors_by_row(edits)
    assert list(errors) == [2, 3]
    assert errors[2][0].startswith("Edits!D2 (code): is a date (2024-03-12), not text")
    assert errors[3][0].startswith("Edits!C3 (name): contains a line break")
    assert values_by_id(edits)[100003] == {
        "description": "line one\nline two\twith a tab",
        "name": "TRUE",
    }


def test_formula_without_cached_value_is_a_row_error() -> None:
    edits = load("formula_uncached.xlsx")
    assert errors_by_row(edits) == {
        3: [
            "Edits!B3 (name): the formula in this cell has no saved value; "
            "open and save the file in Excel"
        ]
    }
    assert values_by_id(edits)[100002] == {"code": "C2"}


def test_formula_error_value_is_a_row_error() -> None:
    edits = load("formula_error.xlsx")
    assert errors_by_row(edits) == {
        3: [
            "Edits!B3 (name): the cell shows the Excel error #N/A; "
            "fix the formula or type the value"
        ]
    }


def test_merged_data_cells_are_row_errors() -> None:
    edits = load("merged_data.xlsx")
    errors = errors_by_row(edits)
    assert list(errors) == [3, 4]
    assert errors[3][0].startswith("Edits!B3 (campaignId): is part of the merged cells B2:B4")
    assert values_by_id(edits)[100001] == {"campaignId": 5001, "name": "One"}


# -------------------------------------------------------------------------------- file-level

FILE_LEVEL = [
    ("empty.csv", {}, NoDataError, r"^empty\.csv is empty\.$"),
    ("empty.xlsx", {}, NoDataError, r"every visible worksheet is empty"),
    ("header_only.xlsx", {}, NoDataError, r"has a header row but no data rows"),
    (
        "no_id_column.xlsx",
        {},
        NoDataError,
        r"has no id column; expected a header such as 'id' or 'Segment ID'",
    ),
    ("title_row.xlsx", {}, NoDataError, r"no id column.*Row 3 looks like the real header"),
    (
        "duplicate_columns.xlsx",
        {},
        NoDataError,
        r"two columns for name: 'Name' \(column B\) and 'Segment Name' \(column D\)",
    ),
    (
        "csv_named.xlsx",
        {},
        UnsupportedFileError,
        r"csv_named\.xlsx is not an Excel workbook; it looks like CSV",
    ),
    (
        "html_named.xlsx",
        {},
        UnsupportedFileError,
        r"html_named\.xlsx is not an Excel workbook.*it looks like HTML.*"
        r"save it as \.xlsx or \.csv",
    ),
    ("truncated.xlsx", {}, UnsupportedFileError, r"truncated\.xlsx is damaged or incomplete"),
    (
        "password.xlsx",
        {},
        UnsupportedFileError,
        r"password\.xlsx is password-protected; remove the password in Excel \(File ▸ Info ▸ "
        r"Protect Workbook\) and save again\.",
    ),
    ("fake.xlsb", {}, UnsupportedFileError, r"\.xlsb.*save it as \.xlsx"),
    ("unclosed_quote.csv", {}, UnsupportedFileError, r"is not valid CSV near line \d+"),
    ("zip_bomb.xlsx", {}, FileTooLargeError, r"zip_bomb\.xlsx looks like a zip bomb"),
    ("lying_zip.xlsx", {}, FileTooLargeError, r"inflates beyond the 2,000 bytes"),
    ("entity_bomb.xlsx", {}, UnsupportedFileError, r"document type declaration"),
    (
        "sparse_bomb.xlsx",
        {},
        FileTooLargeError,
        r"sheet 'Edits' spans 1,048,576 rows × 16,384 columns",
    ),
    ("ods_bomb.ods", {}, FileTooLargeError, r"more than 16,777,216 filled cells"),
    ("xls_bomb.xls", {}, FileTooLargeError, r"spans more than 16,777,216 cells"),
    (
        "basic.xlsx",
        {"max_file_mb": 0.001},
        FileTooLargeError,
        r"basic\.xlsx is 5\.\d KB, over the 0\.001 MB limit \(input\.max_file_mb\)",
    ),
    (
        "basic.xlsx",
        {"max_rows": 2},
        FileTooLargeError,
        r"has 3 data rows, over the limit of 2 \(input\.max_rows\)",
    ),
]


@pytest.mark.parametrize(
    ("name", "settings", "error", "pattern"),
    FILE_LEVEL,
    ids=[f"{case[0]}-{'-'.join(case[1]) or 'default'}" for case in FILE_LEVEL],
)
def test_file_level_errors(
    name: str, settings: dict[str, object], error: type[Exception], pattern: str
) -> None:
    with pytest.raises(error) as caught:
        load(name, **settings)
    message = str(caught.value)
    assert re.search(pattern, message), message
    assert name in message  # names the file
    assert "\n" not in message  # one line


HOSTILE = [
    "zip_bomb.xlsx",
    "lying_zip.xlsx",
    "entity_bomb.xlsx",
    "sparse_bomb.xlsx",
    "ods_bomb.ods",
    "xls_bomb.xls",
    "password.xlsx",
]


@pytest.mark.parametrize("name", HOSTILE)
def test_hostile_files_are_refused_before_calamine_reads_a_sheet(
    name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The guards, not calamine, refuse these: calamine would inflate or allocate first."""
    import python_calamine

    read: list[str] = []

    class Recording:
        """The real workbook, recording which sheets are read."""

        def __init__(self, workbook: Any) -> None:
            self._workbook = workbook

        def __getattr__(self, attr: str) -> Any:
            return getattr(self._workbook, attr)

        def __enter__(self) -> Recording:
            self._workbook.__enter__()
            return self

        def __exit__(self, *exc: object) -> Any:
            return self._workbook.__exit__(*exc)

        def get_sheet_by_name(self, sheet: str) -> Any:
            read.append(sheet)
            return self._workbook.get_sheet_by_name(sheet)

    class Workbook:
        @staticmethod
        def from_filelike(fh: Any) -> Recording:
            return Recording(python_calamine.CalamineWorkbook.from_filelike(fh))

    stub = types.ModuleType("python_calamine")
    stub.__dict__.update(vars(python_calamine), CalamineWorkbook=Workbook)
    monkeypatch.setitem(sys.modules, "python_calamine", stub)
    with pytest.raises((FileTooLargeError, UnsupportedFileError)):
        load(name)
    assert read == []


def test_libreoffice_xlsx_loads_like_its_csv() -> None:
    """A workbook written by LibreOffice (not xlsxwriter/openpyxl) gives the CSV's exact values."""
    saved, source = load("libreoffice.xlsx"), load("libreoffice.csv")
    assert values_by_id(saved) == values_by_id(source)
    assert [r.source_row for r in saved.rows] == [r.source_row for r in source.rows] == [2, 3, 4, 5]
    values = values_by_id(saved)
    assert values[100001]["code"] == "00123" and values[100001]["description"] == "NA"
    assert values[100003]["externalIdentifier"] is None  # #CLEAR
    assert "description" not in values[100003]  # blank keeps
    assert not saved.invalid_rows


def test_every_corpus_file_is_covered() -> None:
    """A new file in tests/data/ needs a case here."""
    covered = {case[0] for case in FILE_LEVEL} | {
        "basic.xlsx",
        "basic.csv",
        "basic.ods",
        "first_sheet_empty.xlsx",
        "hidden_first_sheet.xlsx",
        "trailing_empty.xlsx",
        "ragged.csv",
        "unknown_columns.xlsx",
        "header_variants.csv",
        "blank_name_code.xlsx",
        "campaign_id_text.xlsx",
        "formula_cached.xlsx",
        "merged_header.xlsx",
        "cp1252.csv",
        "utf8_bom.csv",
        "utf16_tab.txt",
        "semicolon.csv",
        "excel_sep.csv",
        "quoted_newlines.csv",
        "legacy.xls",
        "legacy_misnamed.xlsx",
        "bad_ids.xlsx",
        "clear_required.xlsx",
        "long_cell.csv",
        "long_cell.xlsx",
        "nul_bytes.xlsx",
        "nul_bytes.csv",
        "odd_text_cells.xlsx",
        "formula_uncached.xlsx",
        "formula_error.xlsx",
        "merged_data.xlsx",
        "libreoffice.csv",
        "libreoffice.xlsx",
    }
    on_disk = {p.name for p in DATA.iterdir() if p.suffix != ".py" and p.is_file()}
    assert on_disk == covered
