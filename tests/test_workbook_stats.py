"""``segsync.output.stats``: the API's statistics as numbers, datetimes or its own text."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pytest

from segsync.output.stats import (
    AMOUNT_FORMAT,
    COUNT_FORMAT,
    DATETIME_FORMAT,
    PERCENT_FORMAT,
    local_zone_name,
    parse_stat,
)


@pytest.mark.parametrize(
    ("value", "number", "number_format"),
    [
        ("$19,478.17", 19478.17, f'"$"{AMOUNT_FORMAT}'),
        ("€1,200.50", 1200.5, f'"€"{AMOUNT_FORMAT}'),
        ("£3.00", 3.0, f'"£"{AMOUNT_FORMAT}'),
        ("-$12.00", -12.0, f'"$"{AMOUNT_FORMAT}'),
        ("$-12.00", -12.0, f'"$"{AMOUNT_FORMAT}'),
        ("12.00 €", 12.0, f'{AMOUNT_FORMAT}" €"'),
        ("CHF 1,200.00", 1200.0, f'"CHF "{AMOUNT_FORMAT}'),
        ("$0.00", 0.0, f'"$"{AMOUNT_FORMAT}'),
        ("$1,234", 1234, f'"$"{AMOUNT_FORMAT}'),
        ("1234.50", 1234.5, AMOUNT_FORMAT),  # no currency: the number, two decimals
        (" 41.15 ", 41.15, AMOUNT_FORMAT),
        (1234.5, 1234.5, AMOUNT_FORMAT),
        (12, 12, AMOUNT_FORMAT),
    ],
)
def test_amounts_become_numbers_with_their_currency(
    value: Any, number: float, number_format: str
) -> None:
    cell, shown = parse_stat("totalGiftAmount", value)
    assert cell == number and type(cell) is type(number)
    assert shown == number_format


@pytest.mark.parametrize(
    "value",
    [
        "1.234,56 €",  # a decimal comma: not guessed
        "($12.00)",
        "$12.00 €",  # two currencies
        "-$-12.00",
        "$1,23.00",  # not thousands
        "twelve dollars",
        "$",
        "1234567890123456.5",  # more digits than Excel keeps
        "¤12.00",  # a symbol we do not know
        float("nan"),
    ],
)
def test_amounts_that_do_not_parse_stay_the_apis_text(value: Any) -> None:
    assert parse_stat("averageGiftAmount", value) == (str(value), None)


@pytest.mark.parametrize(
    ("value", "number", "number_format"),
    [
        ("16.36%", 0.1636, PERCENT_FORMAT),
        ("0.5%", 0.005, PERCENT_FORMAT),
        ("100%", 1.0, PERCENT_FORMAT),
        ("-2.25 %", -0.0225, PERCENT_FORMAT),
        ("0.1636", 0.1636, None),  # no "%": the number as sent, not guessed to be a fraction
        (0.03, 0.03, None),
    ],
)
def test_conversion_rate(value: Any, number: float, number_format: str | None) -> None:
    assert parse_stat("conversionRate", value) == (number, number_format)


def test_conversion_rate_text_that_does_not_parse() -> None:
    assert parse_stat("conversionRate", "n/a") == ("n/a", None)
    assert parse_stat("conversionRate", "16,36%") == ("16,36%", None)


@pytest.mark.parametrize(
    ("value", "number", "number_format"),
    [
        (12, 12, COUNT_FORMAT),
        ("1,234", 1234, COUNT_FORMAT),
        ("40", 40, COUNT_FORMAT),
        (3.0, 3.0, COUNT_FORMAT),
        ("2.5", 2.5, None),
        (10**16, str(10**16), None),  # more digits than Excel keeps: text
        ("many", "many", None),
    ],
)
def test_counts(value: Any, number: Any, number_format: str | None) -> None:
    for field in ("totalDonors", "totalGifts", "totalVisitors"):
        assert parse_stat(field, value) == (number, number_format)


@pytest.mark.usefixtures("new_york")
@pytest.mark.parametrize(
    ("value", "local"),
    [
        # winter: UTC-5, to the millisecond (Excel keeps no more)
        ("2024-01-15T12:00:00.123456Z", datetime(2024, 1, 15, 7, 0, 0, 123000)),
        # summer: UTC-4
        ("2024-07-01T12:00:00+00:00", datetime(2024, 7, 1, 8, 0, 0)),
        ("2024-07-01T14:00:00+02:00", datetime(2024, 7, 1, 8, 0, 0)),
        # .NET's seven decimals; a space for the T
        ("2024-07-01T12:00:00.1234567Z", datetime(2024, 7, 1, 8, 0, 0, 123000)),
        ("2024-07-01 12:00:00Z", datetime(2024, 7, 1, 8, 0, 0)),
        # no zone: the API's times are UTC
        ("2024-07-01T12:00:00", datetime(2024, 7, 1, 8, 0, 0)),
        # the night the clocks go back: 05:30 and 06:30 UTC are both 01:30 local
        ("2024-11-03T05:30:00Z", datetime(2024, 11, 3, 1, 30)),
        ("2024-11-03T06:30:00Z", datetime(2024, 11, 3, 1, 30)),
        ("2024-11-03T07:30:00Z", datetime(2024, 11, 3, 2, 30)),
    ],
)
def test_times_become_local_datetimes(value: str, local: datetime) -> None:
    assert parse_stat("modifiedDateTime", value) == (local, DATETIME_FORMAT)


@pytest.mark.parametrize(
    "value", ["2024-07-01", "yesterday", "2024-13-01T10:00:00Z", "1899-12-31T10:00:00Z", ""]
)
def test_times_that_do_not_parse_stay_the_apis_text(value: str) -> None:
    assert parse_stat("modifiedDateTime", value) == (value, None)


@pytest.mark.usefixtures("new_york")
def test_zone_name() -> None:
    assert local_zone_name(datetime(2024, 1, 15, 12)) == "EST (UTC-05:00)"
    assert local_zone_name(datetime(2024, 7, 1, 12)) == "EDT (UTC-04:00)"


def test_other_stats_are_text() -> None:
    assert parse_stat("campaignName", "=1+1") == ("=1+1", None)
    assert parse_stat("campaignName", 42) == ("42", None)
    assert parse_stat("campaignName", "bad \udcff") == ("bad \ufffd", None)
