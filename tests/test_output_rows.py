"""``segsync.output.rows``: one renderer for the Results sheet, the CSV and ``to_dataframe()``."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

import pytest
from python_calamine import CalamineWorkbook

from segsync.outcomes import FieldChange, Outcome, RowResult
from segsync.output.results import write_results
from tests.test_report import run_result, segment, sheet_rows

pd = pytest.importorskip("pandas")


def frame_rows(frame: Any) -> list[list[Any]]:
    return [list(r) for r in frame.itertuples(index=False, name=None)]


def test_dataframe_is_the_results_sheet(tmp_path: Path) -> None:
    result = run_result()  # every outcome, extras in two columns, decimal-text stats
    header, *rows = sheet_rows(write_results(result, tmp_path / "r.xlsx"), "Results")

    frame = result.to_dataframe()

    assert list(frame.columns) == list(header)
    assert frame_rows(frame) == [list(r) for r in rows]
    updated = frame[frame["outcome"] == "updated"].iloc[0]
    assert updated["totalGiftAmount"] == 1234.5  # a number, as in the sheet
    assert updated["current code"] == "00123"  # text, zeros kept
    assert updated["before"] == "name: Old name\ncode: 9"
    invalid = frame[frame["outcome"] == "invalid"].iloc[0]
    assert invalid["id"] is None  # blank is None, not NaN
    assert invalid["totalDonors"] is None


def test_dataframe_text_is_what_the_cells_hold(tmp_path: Path) -> None:
    rows = [
        RowResult(0, 2, 1, Outcome.FAILED, error="server said \udcff\r\nagain"),
        RowResult(1, 3, 2**63 - 1, Outcome.UNCHANGED, segment=segment(2**63 - 1)),
        RowResult(2, 4, 5, Outcome.UPDATED, [FieldChange("description", "x", None)], error=""),
    ]
    result = run_result(rows)
    path = write_results(result, tmp_path / "r.xlsx")
    # calamine: openpyxl does not decode the _x000D_ escapes of inline strings.
    header, *cells = CalamineWorkbook.from_path(str(path)).get_sheet_by_name("Results").to_python()

    frame = result.to_dataframe()

    assert list(frame.columns) == header
    for column in ("error", "id", "after", "current code", "modifiedDateTime (local time)"):
        expected = [None if c == "" else c for c in (line[header.index(column)] for line in cells)]
        assert list(frame[column]) == expected, column
    assert frame["error"][0] == "server said \ufffd\r\nagain"
    assert frame["id"][1] == str(2**63 - 1)  # text in the sheet, so text here


def test_dataframe_of_an_empty_run_has_the_columns(tmp_path: Path) -> None:
    result = run_result([])
    header = sheet_rows(write_results(result, tmp_path / "r.xlsx"), "Results")[0]
    frame = result.to_dataframe()
    assert list(frame.columns) == list(header)
    assert len(frame) == 0


def test_csv_shows_the_same_rows_as_text(tmp_path: Path) -> None:
    result = run_result()
    with write_results(result, tmp_path / "r.csv").open(encoding="utf-8-sig", newline="") as fh:
        header, *records = list(csv.reader(fh))
    frame = result.to_dataframe()
    # The same columns; the CSV keeps the API's name of the time column (and its text).
    assert header == [c.replace(" (local time)", "") for c in frame.columns]
    assert [r[header.index("outcome")] for r in records] == list(frame["outcome"])
    assert [r[header.index("id")] for r in records] == [
        "" if i is None else str(i) for i in frame["id"]
    ]
    # The CSV keeps the API's text for stats; the sheet and the frame hold the number.
    assert records[0][header.index("totalGiftAmount")] == "1234.50"
    assert frame["totalGiftAmount"][0] == 1234.5
