"""Reading a results file back: which outcome each source row had (for ``--only-failed``).

The reverse of ``segsync.output.results.write_results``, for both the xlsx and the CSV form;
it finds its columns by the headers of ``segsync.output.rows``.
"""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

from segsync.output.csv_files import is_csv
from segsync.output.rows import RESULTS_SHEET


def read_outcomes(path: str | Path) -> list[tuple[int, str]]:
    """(source row, outcome) pairs from a results workbook or CSV segsync wrote.

    Rows whose source row is not a number are skipped.
    """
    target = Path(path)
    if is_csv(target):
        with open(target, encoding="utf-8-sig", newline="") as handle:
            table: list[list[Any]] = list(csv.reader(handle))
    else:
        from python_calamine import CalamineWorkbook

        book = CalamineWorkbook.from_path(str(target))
        table = book.get_sheet_by_name(RESULTS_SHEET).to_python()
    if not table:
        return []
    header = [str(h).strip() for h in table[0]]
    row_col, out_col = header.index("source row"), header.index("outcome")
    pairs = []
    for line in table[1:]:
        try:
            pairs.append((int(float(str(line[row_col]).lstrip("'"))), str(line[out_col])))
        except (ValueError, IndexError):
            continue
    return pairs
