"""``segsync.output.xlsx_safety``: the rules that keep cell values inert and exact."""

from __future__ import annotations

from typing import Any

import pytest

from segsync.output.xlsx_safety import (
    EXCEL_MAX_TEXT,
    TRUNCATION_MARK,
    auto_cell,
    csv_cell,
    exact_number,
    number_or_text_cell,
    repair_text,
    text_cell,
    text_problem,
    write_text,
)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("=1+1", "'=1+1"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("+cmd", "'+cmd"),
        ("-1+2", "'-1+2"),
        ("\tx", "'\tx"),
        ("\rx", "'\rx"),
        ("-2", "-2"),
        ("+3.50", "+3.50"),
        ("plain", "plain"),
        ("a=b", "a=b"),
    ],
)
def test_csv_cell(text: str, expected: str) -> None:
    assert csv_cell(text) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (5, 5),
        (-(10**15) + 1, -(10**15) + 1),
        (10**15, None),
        (1.5, 1.5),
        (float("nan"), None),
        ("1234.50", 1234.5),
        ("-7", -7),
        ("1234567890123456", None),
        ("1e5", None),
        ("00123", 123),
        (True, None),
        (None, None),
    ],
)
def test_exact_number(value: Any, expected: Any) -> None:
    assert exact_number(value) == expected


def test_repair_text() -> None:
    assert text_problem("fine ✓") is None
    assert text_problem("bad \ud800") is not None
    assert repair_text("bad \ud800") == "bad \ufffd"
    long = "😀" * EXCEL_MAX_TEXT  # two UTF-16 units each
    assert text_problem(long) is not None
    repaired = repair_text(long)
    assert repaired.endswith(TRUNCATION_MARK)
    assert len(repaired.encode("utf-16-le")) // 2 <= EXCEL_MAX_TEXT


@pytest.mark.parametrize(
    ("value", "auto", "number_or_text", "text"),
    [
        ("00123", "00123", 123, "00123"),
        ("1234.50", "1234.50", 1234.5, "1234.50"),
        (7, 7, 7, "7"),
        (2**63 - 1, str(2**63 - 1), str(2**63 - 1), str(2**63 - 1)),
        (1.5, 1.5, 1.5, "1.5"),
        (float("inf"), "inf", "inf", "inf"),
        (True, "True", "True", "True"),
        ("=1+1", "=1+1", "=1+1", "=1+1"),
        ("bad \ud800", "bad \ufffd", "bad \ufffd", "bad \ufffd"),
    ],
)
def test_cell_rules(value: Any, auto: Any, number_or_text: Any, text: str) -> None:
    assert auto_cell(value) == auto
    assert type(auto_cell(value)) is type(auto)
    assert number_or_text_cell(value) == number_or_text
    assert type(number_or_text_cell(value)) is type(number_or_text)
    assert text_cell(value) == text


class RecordingSheet:
    """Records how ``write_text`` wrote each cell."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, tuple[Any, ...]]] = []

    def write_string(self, row: int, col: int, string: str, cell_format: Any = None) -> int:
        self.calls.append(("string", (row, col, string, cell_format)))
        return 0

    def write_rich_string(self, row: int, col: int, *args: Any) -> int:
        self.calls.append(("rich", (row, col, *args)))
        return 0


def test_write_text_escapes_pre_rendered_rich_strings() -> None:
    sheet = RecordingSheet()
    write_text(sheet, 1, 2, "<r><t>x</t></r>", "fmt")
    write_text(sheet, 1, 3, "=1+1")
    assert sheet.calls == [
        ("rich", (1, 2, "<", "r", "><t>x</t></r>", "fmt")),
        ("string", (1, 3, "=1+1", None)),
    ]
