"""Unit behaviour of the loader: header mapping, cell normalisation, duplicates, and the
guarantee that a workbook, a CSV and a DataFrame with the same content give the same edits.

Files are built in ``tmp_path`` with xlsxwriter (numbers stay numbers, as Excel stores them);
the committed bad-input corpus is exercised in test_input_corpus.py.
"""

from __future__ import annotations

import codecs
import csv
import datetime as dt
import io
import math
import struct
import zipfile
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import xlsxwriter

from segsync.config import InputSettings
from segsync.errors import FileTooLargeError, NoDataError, SheetChoiceError, UnsupportedFileError
from segsync.input import decoding, delimited, xls
from segsync.input.editset import EditSet
from segsync.input.loader import edits_from_dataframe, header_to_field, load_edits

SETTINGS = InputSettings()
DATA = Path(__file__).resolve().parent / "data"


def xlsx(
    path: Path, rows: Sequence[Sequence[object]], *, sheet: str = "Edits", at: str = "A1"
) -> Path:
    """Write rows from cell ``at``; None/"" cells are left empty, dates get a date format."""
    wb = xlsxwriter.Workbook(path)
    ws = wb.add_worksheet(sheet)
    date_fmt = wb.add_format({"num_format": "yyyy-mm-dd hh:mm"})
    row0, col0 = xlsxwriter.utility.xl_cell_to_rowcol(at)
    for r, row in enumerate(rows):
        for c, value in enumerate(row):
            if value is None or value == "":
                continue
            if isinstance(value, dt.datetime):
                ws.write_datetime(row0 + r, col0 + c, value, date_fmt)
            elif isinstance(value, bool):
                ws.write_boolean(row0 + r, col0 + c, value)
            elif isinstance(value, int | float):
                ws.write_number(row0 + r, col0 + c, value)
            else:
                ws.write_string(row0 + r, col0 + c, value)
    wb.close()
    return path


def csv_file(path: Path, text: str, encoding: str = "utf-8") -> Path:
    path.write_bytes(text.encode(encoding))
    return path


def comparable(edits: EditSet) -> list[tuple[object, ...]]:
    """Everything about the rows except the sheet name in cell references."""
    return [
        (
            r.index,
            r.source_row,
            r.segment_id,
            r.values,
            r.expected_modified,
            r.duplicate_of,
            r.extras,
            [(e.message, e.cell and (e.cell.row, e.cell.column, e.cell.header)) for e in r.errors],
        )
        for r in edits.rows
    ]


# ----------------------------------------------------------------------------- header mapping


@pytest.mark.parametrize(
    ("header", "field"),
    [
        ("Segment ID", "id"),
        ("segment_id", "id"),
        ("ID", "id"),
        ("id", "id"),
        ("  Segment\nID ", "id"),
        ("Campaign ID", "campaignId"),
        ("campaign_id", "campaignId"),
        ("campaign-id", "campaignId"),
        ("Segment Name", "name"),
        ("Name", "name"),
        ("Segment Code", "code"),
        ("CODE", "code"),
        ("Description", "description"),
        ("External ID", "externalIdentifier"),
        ("External Identifier", "externalIdentifier"),
        ("externalIdentifier", "externalIdentifier"),
        ("Modified", "modifiedDateTime"),
        ("modifiedDateTime", "modifiedDateTime"),
        ("Modified Date Time", "modifiedDateTime"),
        ("Last Modified", "modifiedDateTime"),
        ("Total Donors", "totalDonors"),
        ("campaignName", "campaignName"),
        ("Created Date Time", "createdDateTime"),
        ("Conversion Rate", "conversionRate"),
        ("Notes", None),
        ("Campaign", None),
        ("", None),
    ],
)
def test_header_to_field(header: str, field: str | None) -> None:
    assert header_to_field(header) == field


def test_columns_map_fields_to_headers_as_written(tmp_path: Path) -> None:
    path = xlsx(tmp_path / "e.xlsx", [["Segment ID", "Total Donors", "NAME"], [1, 5, "x"]])
    edits = load_edits(path, SETTINGS)
    assert edits.columns == {"id": "Segment ID", "totalDonors": "Total Donors", "name": "NAME"}
    assert edits.rows[0].values == {"name": "x"}  # read-only column never becomes a value


def test_unknown_columns_with_the_same_header_keep_both(tmp_path: Path) -> None:
    path = xlsx(tmp_path / "e.xlsx", [["id", "Notes", "Notes"], [1, "a", "b"]])
    edits = load_edits(path, SETTINGS)
    assert edits.rows[0].extras == {"Notes": "a", "Notes (C)": "b"}


def test_no_editable_columns_warns(tmp_path: Path) -> None:
    path = xlsx(tmp_path / "e.xlsx", [["id", "Total Donors"], [1, 5]])
    assert any("no editable columns" in w for w in load_edits(path, SETTINGS).warnings)


# --------------------------------------------------------------------------- normalisation


def test_cells_are_text_first(tmp_path: Path) -> None:
    rows = [
        ["id", "campaignId", "name", "code", "description", "externalIdentifier"],
        [123.0, 5001.0, "NA", 123.0, "null", 1.5e-07],
        ["  000124 ", " 42 ", "N/A", "00123", "None", 1e21],
        [125, "5001.0", True, False, "\u00a0 padded \u00a0", "#N/A"],
    ]
    edits = load_edits(xlsx(tmp_path / "e.xlsx", rows), SETTINGS)
    assert not edits.invalid_rows
    assert [(r.segment_id, r.values) for r in edits.rows] == [
        (
            123,
            {
                "campaignId": 5001,
                "name": "NA",
                "code": "123",
                "description": "null",
                "externalIdentifier": "0.00000015",
            },
        ),
        (
            124,
            {
                "campaignId": 42,
                "name": "N/A",
                "code": "00123",
                "description": "None",
                "externalIdentifier": "1000000000000000000000",
            },
        ),
        (
            125,
            {
                "campaignId": 5001,
                "name": "TRUE",
                "code": "FALSE",
                "description": "padded",
                "externalIdentifier": "#N/A",
            },
        ),
    ]


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("abc", "id must be a whole number, got 'abc'"),
        ("1e20", "id must be a whole number, got '1e20'"),
        ("1,234", "id must be a whole number, got '1,234'"),
        ("-5", "id must be a positive whole number, got '-5'"),
        ("0", "id must be a positive whole number, got '0'"),
        ("١٢٣", "id must be a whole number"),  # Arabic-Indic digits: int() would accept them
        ("1_000", "id must be a whole number"),  # so would it these
        ("9223372036854775808", "is larger than any possible id"),
        (12.5, "id must be a whole number, got 12.5"),
        (2.0**53, "too large to be stored exactly as an Excel number"),
        ("#clear", "the segment id cannot be cleared"),
        (dt.datetime(2024, 1, 2), "is a date, not a segment id (2024-01-02"),
        (True, "id must be a whole number, got TRUE"),
        ("", "the segment id is blank; every row needs one"),
    ],
)
def test_bad_ids(tmp_path: Path, value: object, message: str) -> None:
    path = xlsx(tmp_path / "e.xlsx", [["id", "name"], [value, "x"]])
    (row,) = load_edits(path, SETTINGS).rows
    assert row.segment_id is None
    assert len(row.errors) == 1
    assert message in str(row.errors[0])
    assert str(row.errors[0]).startswith("Edits!A2 (id): ")


def test_largest_int64_id_is_accepted_as_text(tmp_path: Path) -> None:
    path = csv_file(tmp_path / "e.csv", "id,name\n9223372036854775807,x\n")
    assert load_edits(path, SETTINGS).rows[0].segment_id == 2**63 - 1


def test_row_error_reads_like_a_cell_reference(tmp_path: Path) -> None:
    rows: list[list[object]] = [["id", "code", "name"]]
    rows += [[100000 + n, f"C{n}", f"N{n}"] for n in range(2, 17)]
    rows.append([100017, "C17", "#CLEAR"])
    (bad,) = load_edits(xlsx(tmp_path / "e.xlsx", rows), SETTINGS).invalid_rows
    assert [str(e) for e in bad.errors] == ["Edits!C17 (name): a required field cannot be cleared"]


def test_cell_references_use_real_sheet_positions(tmp_path: Path) -> None:
    path = xlsx(tmp_path / "e.xlsx", [["id", "name"], [1, "ok"], [], [2, "#clear"]], at="C3")
    edits = load_edits(path, SETTINGS)
    assert [r.source_row for r in edits.rows] == [4, 6]  # the empty row 5 is skipped
    assert str(edits.rows[1].errors[0]) == "Edits!D6 (name): a required field cannot be cleared"


def test_clear_marker_is_configurable_and_case_insensitive(tmp_path: Path) -> None:
    rows = [["id", "description", "externalIdentifier"], [1, " <clear> ", "#CLEAR"]]
    settings = InputSettings(clear_marker="<CLEAR>")
    (row,) = load_edits(xlsx(tmp_path / "e.xlsx", rows), settings).rows
    assert row.values == {"description": None, "externalIdentifier": "#CLEAR"}


def test_text_guards(tmp_path: Path) -> None:
    rows = [
        ["id", "name", "description", "code"],
        [1, "tab\there", "ok\r\nline\rthree", "bell\x07"],
        [2, "x" * 32_767, "y" * 32_768, "Cafe\u0301"],
    ]
    text = io.StringIO()
    csv.writer(text).writerows(rows)
    edits = load_edits(csv_file(tmp_path / "e.csv", text.getvalue()), SETTINGS)
    first, second = edits.rows
    assert [str(e) for e in first.errors] == [
        "e!B2 (name): contains a tab character (at position 4)",
        "e!D2 (code): contains the control character U+0007 at position 5; retype the value",
    ]
    # soft: each keeps the cell's text, for the differ to compare with the server's value
    assert [(e.field, e.held) for e in first.errors] == [
        ("name", "tab\there"),
        ("code", "bell\x07"),
    ]
    assert first.values == {"description": "ok\nline\nthree"}
    assert [str(e) for e in second.errors] == [
        "e!C3 (description): is 32,768 characters long; segsync sends at most 32,767"
    ]
    assert second.values["name"] == "x" * 32_767  # Excel's maximum, what an export writes
    assert second.values["code"] == "Caf\u00e9"  # sent in NFC


def test_modified_date_time(tmp_path: Path) -> None:
    rows = [
        ["id", "Modified"],
        [1, "2024-03-01T10:15:00.1234567+00:00"],
        [2, dt.datetime(2024, 3, 1, 10, 15)],
        [3, "yesterday"],
        [4, ""],
    ]
    edits = load_edits(xlsx(tmp_path / "e.xlsx", rows), SETTINGS)
    assert [r.expected_modified for r in edits.rows] == [
        "2024-03-01T10:15:00.1234567+00:00",
        "2024-03-01T10:15:00",
        None,
        None,
    ]
    assert "modifiedDateTime must be an ISO date-time" in str(edits.rows[2].errors[0])
    assert all(r.values == {} for r in edits.rows)


def test_csv_excel_text_idiom_and_cp1252_control_bytes(tmp_path: Path) -> None:
    text = 'id,code,name\r\n1,="00123",ok\r\n2,x,bad\x81\r\n'
    edits = load_edits(csv_file(tmp_path / "e.csv", text, "latin-1"), SETTINGS)
    assert edits.rows[0].values == {"code": "00123", "name": "ok"}
    assert "U+0081" in str(edits.rows[1].errors[0])  # cp1252 leaves 0x81 undefined
    assert any("Windows-1252" in w for w in edits.warnings)


# ------------------------------------------------------------------------------- duplicates


def test_identical_repeats_point_at_the_first_row(tmp_path: Path) -> None:
    rows = [["id", "name"], [7, "Same"], [8, "Other"], [7, " Same "], [7.0, "Same"]]
    edits = load_edits(xlsx(tmp_path / "e.xlsx", rows), SETTINGS)
    assert [(r.source_row, r.duplicate_of, r.valid) for r in edits.rows] == [
        (2, None, True),
        (3, None, True),
        (4, 2, True),
        (5, 2, True),
    ]


def test_differing_repeats_are_all_errors(tmp_path: Path) -> None:
    rows = [["id", "name"], [7, "A"], [7, "A"], [7, "B"]]
    edits = load_edits(xlsx(tmp_path / "e.xlsx", rows), SETTINGS)
    assert [str(e) for r in edits.rows for e in r.errors] == [
        "Edits!A2 (id): segment 7 also appears on rows 3 and 4 with different values",
        "Edits!A3 (id): segment 7 also appears on rows 2 and 4 with different values",
        "Edits!A4 (id): segment 7 also appears on rows 2 and 3 with different values",
    ]
    assert all(r.duplicate_of is None for r in edits.rows)


def test_repeats_differing_only_in_modified_are_errors(tmp_path: Path) -> None:
    rows = [["id", "name", "modified"], [7, "A", "2024-01-01T00:00:00Z"], [7, "A", ""]]
    assert len(load_edits(xlsx(tmp_path / "e.xlsx", rows), SETTINGS).invalid_rows) == 2


# -------------------------------------------------------------------- one pipeline, 3 inputs

SAME_HEADER = ["Segment ID", "Campaign ID", "Name", "Code", "Description", "Notes", "Modified"]
SAME_ROWS: list[list[object]] = [
    [100001, 5001, "Spring", "00123", "NA", "a", "2024-03-01T10:15:00Z"],
    [100002, "", "  Summer ", "", "#CLEAR", "", ""],
    [100003, 5002, "#clear", "X", "", "3", ""],
    [100001, 5001, "Spring", "00123", "NA", "a", "2024-03-01T10:15:00Z"],
    ["", "", "orphan", "", "", "", ""],
]


def csv_of(rows: list[list[object]]) -> str:
    return "".join(",".join(str(v) for v in row) + "\r\n" for row in rows)


def test_xlsx_csv_and_dataframe_give_the_same_edits(tmp_path: Path) -> None:
    from_xlsx = load_edits(xlsx(tmp_path / "e.xlsx", [SAME_HEADER, *SAME_ROWS]), SETTINGS)
    from_csv = load_edits(csv_file(tmp_path / "e.csv", csv_of([SAME_HEADER, *SAME_ROWS])), SETTINGS)
    frame = pd.DataFrame(
        {
            "Segment ID": [100001, 100002, 100003, 100001, math.nan],
            "Campaign ID": [5001.0, math.nan, 5002.0, 5001.0, None],
            "Name": ["Spring", "  Summer ", "#clear", "Spring", "orphan"],
            "Code": ["00123", None, "X", "00123", pd.NA],
            "Description": ["NA", "#CLEAR", None, "NA", None],
            "Notes": ["a", None, 3, "a", None],
            "Modified": ["2024-03-01T10:15:00Z", None, None, "2024-03-01T10:15:00Z", None],
        }
    )
    from_frame = edits_from_dataframe(frame, SETTINGS, source="nightly")
    assert comparable(from_xlsx) == comparable(from_csv) == comparable(from_frame)
    assert (from_xlsx.sheet, from_csv.sheet, from_frame.sheet) == ("Edits", "e", "DataFrame")
    assert from_xlsx.columns == from_csv.columns == from_frame.columns
    assert (
        from_xlsx.extra_columns == from_csv.extra_columns == from_frame.extra_columns == ["Notes"]
    )
    rows = {r.source_row: r for r in from_frame.rows}
    assert rows[2].values == {
        "campaignId": 5001,
        "name": "Spring",
        "code": "00123",
        "description": "NA",
    }
    assert rows[3].values == {"name": "Summer", "description": None}
    assert rows[5].duplicate_of == 2
    assert str(rows[4].errors[0]) == "DataFrame!C4 (Name): a required field cannot be cleared"
    assert "blank" in str(rows[6].errors[0])


def test_dataframe_numpy_and_pandas_scalars() -> None:
    frame = pd.DataFrame(
        {
            "id": pd.array([1, 2, None], dtype="Int64"),
            "campaignId": pd.Series([np.int64(7), np.int64(8), np.float64(9.0)], dtype=object),
            "Modified": [pd.Timestamp("2024-03-01 10:15"), pd.NaT, pd.Timestamp("2024-03-02")],
        }
    )
    edits = edits_from_dataframe(frame, SETTINGS)
    assert [(r.segment_id, r.values, r.expected_modified) for r in edits.rows[:2]] == [
        (1, {"campaignId": 7}, "2024-03-01T10:15:00"),
        (2, {"campaignId": 8}, None),
    ]
    assert "blank" in str(edits.rows[2].errors[0])


def test_dataframe_without_rows_or_columns() -> None:
    with pytest.raises(NoDataError, match="has no columns"):
        edits_from_dataframe(pd.DataFrame(), SETTINGS, source="job")
    with pytest.raises(NoDataError, match="job has a header row but no data rows"):
        edits_from_dataframe(pd.DataFrame({"id": []}), SETTINGS, source="job")


# ---------------------------------------------------------------------------------- sheets


def test_sheet_selection(tmp_path: Path) -> None:
    path = tmp_path / "two.xlsx"
    wb = xlsxwriter.Workbook(path)
    for name, sid in (("First", 1), ("Second", 2)):
        ws = wb.add_worksheet(name)
        ws.write_row(0, 0, ["id"])
        ws.write_row(1, 0, [sid])
    wb.close()
    # two sheets that could both be the edits: chosen, not guessed (issue 18)
    with pytest.raises(SheetChoiceError, match=r"2 sheets with segment edits \('First', 'Second'"):
        load_edits(path, SETTINGS)
    assert load_edits(path, SETTINGS, sheet="first").rows[0].segment_id == 1
    assert load_edits(path, SETTINGS, sheet="second").rows[0].segment_id == 2
    assert load_edits(path, InputSettings(sheet="Second")).sheet == "Second"
    with pytest.raises(
        NoDataError, match="has no sheet named 'Third'; its sheets are 'First', 'Second'"
    ):
        load_edits(path, SETTINGS, sheet="Third")


def test_max_rows_boundary(tmp_path: Path) -> None:
    path = xlsx(tmp_path / "e.xlsx", [["id"], [1], [], [2], [3]])
    assert len(load_edits(path, InputSettings(max_rows=3)).rows) == 3
    with pytest.raises(FileTooLargeError, match="has 3 data rows, over the limit of 2"):
        load_edits(path, InputSettings(max_rows=2))


def test_missing_file_is_a_sentence(tmp_path: Path) -> None:
    with pytest.raises(UnsupportedFileError, match="cannot be read: there is no such file"):
        load_edits(tmp_path / "nope.xlsx", SETTINGS)


def test_unreadable_sheet_xml_is_a_sentence(tmp_path: Path) -> None:
    path = rewrite_sheet(xlsx(tmp_path / "e.xlsx", [["id"], [1]]), lambda xml: xml[:-40])
    with pytest.raises(UnsupportedFileError, match=r"^e\.xlsx could not be read as a workbook \("):
        load_edits(path, SETTINGS)


# ------------------------------------------------------------------------- sheet XML scanning


def rewrite_sheet(path: Path, change: object, member: str = "xl/worksheets/sheet1.xml") -> Path:
    """Rewrite one part of an xlsx in place (to build spellings xlsxwriter never writes)."""
    src = zipfile.ZipFile(io.BytesIO(path.read_bytes()))
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for info in src.infolist():
            data = src.read(info.filename)
            if info.filename == member:
                data = change(data)  # type: ignore[operator]
            zf.writestr(info.filename, data)
    return path


def sheet_xml(body: bytes, prefix: bytes = b"") -> bytes:
    ns = b"http://schemas.openxmlformats.org/spreadsheetml/2006/main"
    decl = b' xmlns:x="' + ns + b'"' if prefix else b' xmlns="' + ns + b'"'
    return (
        b"<"
        + prefix
        + b"worksheet"
        + decl
        + b"><"
        + prefix
        + b"sheetData>"
        + body
        + b"</"
        + prefix
        + b"sheetData></"
        + prefix
        + b"worksheet>"
    )


HEADER_ROW = b'<row r="1"><c r="A1" t="inlineStr"><is><t>id</t></is></c></row>'


@pytest.mark.parametrize(
    ("far_cell", "error"),
    [
        (b'<c r="XFD1048576"><v>1</v></c>', FileTooLargeError),
        (b"<c r = 'XFD1048576'><v>1</v></c>", FileTooLargeError),
        (b'<c\ns="0"\nr="XFD1048576"><v>1</v></c>', FileTooLargeError),
        (b'<c r="xfd1048576"><v>1</v></c>', FileTooLargeError),
        (b'<c s="0" note="a>b" r="XFD1048576"><v>1</v></c>', FileTooLargeError),
        # formatted but empty: calamine skips it, so the estimate is confirmed by a full parse
        (b'<c r="A1048576"><v>7</v></c><c r="XFD1048576" s="1"/>', None),
        # calamine takes the last of two r attributes; expat calls the file malformed
        (b'<c r="A2" r="XFD1048576"><v>1</v></c>', UnsupportedFileError),
        (b'<c note="a<b" r="XFD1048576"><v>1</v></c>', UnsupportedFileError),
    ],
)
def test_sparse_range_bomb_is_refused_in_any_spelling(
    tmp_path: Path, far_cell: bytes, error: type[Exception] | None
) -> None:
    body = HEADER_ROW + b'<row r="1048576">' + far_cell + b"</row>"
    path = rewrite_sheet(xlsx(tmp_path / "e.xlsx", [["id"], [1]]), lambda _: sheet_xml(body))
    if error is None:
        (row,) = load_edits(path, SETTINGS).rows
        assert (row.source_row, row.segment_id) == (1048576, 7)
        return
    with pytest.raises(error, match=r"spans 1,048,576 rows × 16,384 columns|not well-formed"):
        load_edits(path, SETTINGS)


def test_prefixed_cells_and_cells_without_references_still_load(tmp_path: Path) -> None:
    body = (
        b'<x:row r="1"><x:c t="inlineStr"><x:is><x:t>id</x:t></x:is></x:c>'
        b'<x:c t="inlineStr"><x:is><x:t>name</x:t></x:is></x:c></x:row>'
        b'<x:row r="2"><x:c><x:v>5</x:v></x:c><x:c t="inlineStr"><x:is><x:t>Five</x:t></x:is>'
        b"</x:c></x:row>"
    )
    path = xlsx(tmp_path / "e.xlsx", [["id"], [1]])
    rewrite_sheet(path, lambda _: sheet_xml(body, prefix=b"x:"))
    (row,) = load_edits(path, SETTINGS).rows
    assert (row.segment_id, row.values) == (5, {"name": "Five"})


def big_sheet(rows: int, odd: dict[int, bytes]) -> bytes:
    """A sheet of ``rows`` canonical rows (id, name), several MB of XML once inflated, where
    ``odd`` cells take the place of some rows' name cells: past the first bytes and blocks."""
    body = [
        b'<row r="1"><c r="A1" t="inlineStr"><is><t>id</t></is></c>'
        b'<c r="B1" t="inlineStr"><is><t>name</t></is></c></row>'
    ]
    for r in range(2, rows + 2):
        name = b'<c r="B%d" s="1" t="inlineStr"><is><t>Segment %d, a longish name</t></is></c>'
        body.append(
            b'<row r="%d"><c r="A%d"><v>%d</v></c>%s</row>' % (r, r, r, odd.get(r, name % (r, r)))
        )
    return sheet_xml(b"".join(body))


@pytest.mark.parametrize(
    ("odd", "expected"),
    [
        ({30_000: b'<c r="B30000"><f>1+1</f></c>'}, "the formula in this cell has no saved"),
        ({30_000: b'<c r="B30000" t="e"><v>#N/A</v></c>'}, "shows the Excel error #N/A"),
        ({30_000: b"<c r='B30000'><f>1+1</f></c>"}, "the formula in this cell has no saved"),
        ({30_000: b'<c r="B30000" s="1"><f>1+1</f></c>'}, "the formula in this cell has no saved"),
        ({30_000: b'<c r="XFD30000"><v>1</v></c>'}, FileTooLargeError),
        ({30_000: b'<c r="B30000" r="XFD1048576"><v>1</v></c>'}, UnsupportedFileError),
        ({30_000: b'<x:c r="XFD1048576"><x:v>1</x:v></x:c>'}, FileTooLargeError),
        ({30_000: b'<c r="C30000"><v>1</v></c>'}, "column C has no header"),
        ({60_000: b'<c r="C999999"><v>1</v></c>'}, "column C has no header"),
    ],
)
def test_the_scan_sees_odd_cells_deep_in_a_large_sheet(
    tmp_path: Path, odd: dict[int, bytes], expected: object
) -> None:
    """Most of a large sheet passes the scan in one search per block; what is not plain, far
    past the first bytes and blocks, still gets the full look."""
    path = xlsx(tmp_path / "e.xlsx", [["id"], [1]])
    rewrite_sheet(path, lambda _: big_sheet(60_000, odd))
    if isinstance(expected, type):
        with pytest.raises(expected):
            load_edits(path, SETTINGS)
        return
    edits = load_edits(path, SETTINGS)
    found = [str(e) for r in edits.rows for e in r.errors] + edits.warnings
    assert any(expected in text for text in found), found[:3]


def test_a_wide_sheet_of_short_rows_needs_no_second_pass(tmp_path: Path) -> None:
    """An export has 17 columns: rows under 100,000 bound the extent without counting them."""
    header = ["id", *(f"c{n}" for n in range(16))]
    rows = [header, *([i, *range(16)] for i in range(1, 3000))]
    path = xlsx(tmp_path / "e.xlsx", rows)
    assert len(load_edits(path, SETTINGS).rows) == 2999


def test_wide_sheet_counts_rows_before_refusing(tmp_path: Path) -> None:
    """Columns A..AZ (52) pass while rows are few: the second pass proves it."""
    header = ["id", *(f"c{n}" for n in range(51))]
    path = xlsx(tmp_path / "e.xlsx", [header, [1, *range(51)]])
    assert load_edits(path, SETTINGS).rows[0].segment_id == 1


# ------------------------------------------------------------------- decoding and containers


@pytest.mark.parametrize(
    ("text", "default", "expected"),
    [
        ("id,name,code\n1,a;b;c;d,x\n", ",", ","),
        ("id;name;code\n1;a, b, c, d;x\n", ",", ";"),
        ("id\tname\n1\tx\n", ",", "\t"),
        ("id|name\n", ",", "|"),
        ('"a,b";c;d\n', ",", ";"),
        ("id\n1\n", "\t", "\t"),
        ("\n\nid;name\n", ",", ";"),
    ],
)
def test_sniff_delimiter(text: str, default: str, expected: str) -> None:
    assert delimited.sniff_delimiter(text, default) == expected


@pytest.mark.parametrize(
    ("data", "text", "label"),
    [
        (b"\xef\xbb\xbfid", "id", "UTF-8 with BOM"),
        ("id,é".encode("utf-16"), "id,é", "UTF-16"),
        ("id,é".encode("utf-16-le"), "id,é", "UTF-16"),
        ("id,é".encode(), "id,é", "UTF-8"),
        ("id,é€".encode("cp1252"), "id,é€", "Windows-1252"),
    ],
)
def test_decode_text(data: bytes, text: str, label: str) -> None:
    assert decoding.decode_text(data) == (text, label)


def test_biff_extents_cover_every_cell_record() -> None:
    def record(kind: int, *fields: int, tail: bytes = b"") -> bytes:
        body = struct.pack(f"<{len(fields)}H", *fields) + tail
        return struct.pack("<HH", kind, len(body)) + body

    bof = record(0x0809, 0x0600, 0x0010, 0, 0)
    stream = (
        bof
        + record(0x00FD, 0, 0, 15, tail=b"\0\0\0\0")  # LABELSST at A1
        + record(0x00BD, 9, 2, tail=b"\0" * 12 + struct.pack("<H", 3))  # MULRK C10:D10
        + bof
        + record(0x0203, 4, 7, 15, tail=b"\0" * 8)  # NUMBER at H5 on a second sheet
    )
    assert list(xls.biff_extents(stream)) == [(0, 0), (10, 4), (1, 1)]


def test_cp1252_is_decoded_without_a_global_codec_handler() -> None:
    assert decoding.decode_cp1252(b"caf\xe9 \x80 \x81") == "café € \x81"
    with pytest.raises(LookupError):
        codecs.lookup_error("segsync-c1")


def test_legacy_xls_workbook_stream_is_found() -> None:
    (stream,) = xls.read_workbook_streams(DATA / "legacy.xls", "legacy.xls")
    assert stream[:2] == b"\x09\x08"  # BIFF8 BOF


def rename_ole2_stream(path: Path, old: str, new: str, *, mention: bool = False) -> Path:
    """legacy.xls with its workbook stream renamed (same length) in the OLE2 directory."""
    data = (DATA / "legacy.xls").read_bytes()
    assert len(old) == len(new) and data.count(old.encode("utf-16-le")) == 1
    data = data.replace(old.encode("utf-16-le"), new.encode("utf-16-le"))
    if mention:  # the old name as content, in a sector no directory entry points to
        data += old.encode("utf-16-le").ljust(512, b"\0")
    path.write_bytes(data)
    return path


def test_ole2_container_is_judged_by_its_directory(tmp_path: Path) -> None:
    path = rename_ole2_stream(tmp_path / "e.xls", "Workbook", "Workbooz", mention=True)
    with pytest.raises(UnsupportedFileError, match="not an Excel workbook \\(no Workbook stream"):
        load_edits(path, SETTINGS)


def test_extent_guard_reads_a_workbook_stream_named_in_any_case(tmp_path: Path) -> None:
    path = rename_ole2_stream(tmp_path / "e.xls", "Workbook", "WORKBOOK")
    (stream,) = xls.read_workbook_streams(path, path.name)
    assert stream[:2] == b"\x09\x08"


def test_zip_directory_caps(tmp_path: Path) -> None:
    path = tmp_path / "big.xlsx"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("[Content_Types].xml", "<Types/>")
        zf.writestr("xl/workbook.xml", b" " * (3 * 1024 * 1024))
    with pytest.raises(FileTooLargeError, match=r"would inflate to 3\.0 MB .* over the 2\.0 MB"):
        load_edits(path, InputSettings(max_file_mb=0.1))


# ----------------------------------------------------------------------------- performance


@pytest.mark.slow
def test_100k_rows_load(tmp_path: Path) -> None:
    """100k rows load whole and right (their speed is bench/bench_pipeline.py's to measure)."""
    path = tmp_path / "big.xlsx"
    wb = xlsxwriter.Workbook(path, {"constant_memory": True})
    ws = wb.add_worksheet("Edits")
    ws.write_row(0, 0, ["Segment ID", "Campaign ID", "Name", "Code", "Description", "External ID"])
    for i in range(1, 100_001):
        ws.write_row(i, 0, [100_000 + i, 5000 + i % 50, f"Segment {i}", f"{i:06d}", "d", f"E{i}"])
    wb.close()
    edits = load_edits(path, SETTINGS)
    assert len(edits.rows) == 100_000 and not edits.invalid_rows
    assert edits.rows[-1].values["code"] == "100000"


# ------------------------------------------------------------------- columns and display names


def test_a_column_reads_exactly_as_its_cells_do() -> None:
    """The column fast paths accept only what the per-cell parser returns unchanged: on any
    mix of cells, every value, blank and error (message and held text) is the per-cell one."""
    import random

    from segsync.input.cells import KEEP, CellError
    from segsync.input.columns import CHUNK, parse_column
    from segsync.input.headers import _parsers

    rng = random.Random(7)
    texts = ["", " ", "a b", "Café", "e\u0301", "#CLEAR", "#clear", "x\ny", "x\r\ny", "t\tb",
             "\x07", "\xa0", "\u200b", "ß", "ſ", "00123", " 12 ", "1.0", "-5", "٣", "x" * 40_000,
             "2024-03-01T10:15:00Z", "9223372036854775808", "\ud800"]  # fmt: skip
    others: list[object] = [
        1.0,
        0.0,
        1.5,
        float("nan"),
        2.0**53,
        7,
        -1,
        True,
        None,
        dt.date.today(),
    ]

    def per_cell(parse: object, cells: list[object]) -> list[tuple[object, ...]]:
        out: list[tuple[object, ...]] = []
        for cell in cells:
            try:
                out.append(("value", parse(cell)))  # type: ignore[operator]
            except CellError as exc:
                out.append(("error", exc.message, exc.held))
        return out

    for marker in ("#CLEAR", "ss", "12"):
        for name, rule in _parsers(marker).items():
            for _ in range(25):
                pool = rng.choice(
                    [texts, [str(n) for n in range(1, 99)], [float(n) for n in range(1, 99)]]
                )
                cells = [rng.choice(pool) for _ in range(rng.choice([1, 40, CHUNK + 5]))]
                for _ in range(rng.choice([0, 0, 1, 3])):
                    cells[rng.randrange(len(cells))] = rng.choice(texts + others)
                expected = per_cell(rule.parse, cells)
                for text in (False, True) if all(type(c) is str for c in cells) else (False,):
                    parsed = parse_column(rule, cells, text=text)  # text: a CSV's cells
                    got = [
                        ("error", parsed.errors[i].message, parsed.errors[i].held)
                        if i in parsed.errors
                        else ("value", KEEP if i in parsed.keep else parsed.values[i])
                        for i in range(len(cells))
                    ]
                    assert got == expected, (marker, name, text)


def test_a_display_name_names_the_file_and_a_csvs_sheet(tmp_path: Path) -> None:
    """The web page stores an upload as upload.csv: messages and cell references use the name
    the person gave it."""
    path = csv_file(tmp_path / "upload.csv", "id,name\n1,ok\nx,y\n")
    edits = load_edits(path, SETTINGS, name="Spring edits.csv")
    assert edits.sheet == "Spring edits"
    assert str(edits.rows[1].errors[0]).startswith("Spring edits!A3 (id): id must be a whole")
    assert load_edits(path, SETTINGS).sheet == "upload"
    empty = csv_file(tmp_path / "upload2.csv", "")
    with pytest.raises(NoDataError, match=r"^Spring edits\.csv is empty\.$"):
        load_edits(empty, SETTINGS, name="Spring edits.csv")
    book = xlsx(tmp_path / "upload.xlsx", [["name"], ["x"]])
    with pytest.raises(NoDataError, match=r"^My book\.xlsx: sheet 'Edits' has no id column"):
        load_edits(book, SETTINGS, name="My book.xlsx")
    with pytest.raises(UnsupportedFileError, match=r"^My book\.xlsx cannot be read: there is no"):
        load_edits(tmp_path / "gone.xlsx", SETTINGS, name="My book.xlsx")
