"""The HTML report of a huge run lists the first rows of each kind and says where the rest are.

A million-row run once made a report of 400 MB that took a minute to write and no browser
could open. Now each list (problems, changed fields, unchanged rows) holds the first
``REPORT_LIMIT`` in input order; the counts stay whole, and each capped list names the results
workbook that holds every row. Below the limit, every row is listed and nothing says "first".
"""

from __future__ import annotations

from pathlib import Path

from segsync.model import Segment
from segsync.outcomes import FieldChange, Outcome, RowResult, RunResult
from segsync.output.html_report import REPORT_LIMIT, write_html_report
from tests.test_html_report import cell_text, parse, table_rows
from tests.test_report import run_result


def big_result(per_kind: int, *, results_path: str | None = "edits_results.xlsx") -> RunResult:
    """``per_kind`` rows that changed a name, then as many invalid, then as many unchanged."""
    rows: list[RowResult] = []
    for kind in ("changed", "invalid", "unchanged"):
        for _ in range(per_kind):
            i = len(rows)
            seg = Segment(id=100_000 + i, campaignId=7, name=f"Segment {i}", code=f"{i:05d}")
            row = RowResult(index=i, source_row=i + 2, segment_id=seg.id, outcome=Outcome.UPDATED)
            if kind == "changed":
                row.changes = [FieldChange("name", f"Segment {i}", f"Segment {i} new")]
                row.segment = seg
            elif kind == "invalid":
                row.outcome, row.error = Outcome.INVALID, f"Edits!C{i + 2} (name): contains a tab"
            else:
                row.outcome, row.segment = Outcome.UNCHANGED, seg
            rows.append(row)
    return run_result(rows, results_path=results_path)


def test_a_big_run_lists_the_first_rows_and_names_the_workbook_for_the_rest(
    tmp_path: Path,
) -> None:
    more = 7
    result = big_result(REPORT_LIMIT + more)
    page = parse(write_html_report(result, tmp_path / "r.html").read_text(encoding="utf-8"))
    for section in ("problems", "changes"):
        listed = table_rows(page.root, section)
        assert len(listed) == REPORT_LIMIT
    # the first rows of each kind, in input order
    problems = table_rows(page.root, "problems")
    assert cell_text(problems[0][0]) == str(REPORT_LIMIT + more + 2)
    changes = table_rows(page.root, "changes")
    assert [cell_text(r[0]) for r in changes[:2]] == ["2", "3"]
    unchanged = page.root.find("section", id="unchanged")
    assert len(list(unchanged.find("tbody").iter("tr"))) == REPORT_LIMIT

    capped = {
        n.attrs["data-testid"]: " ".join(n.text.split())
        for n in page.root.iter("p")
        if "capped" in n.classes
    }
    total = f"{REPORT_LIMIT + more:,}"
    first = f"Showing the first {REPORT_LIMIT:,} of {total}"
    rest = f"the other {more} are in the results workbook, edits_results.xlsx, which lists"
    rest += " every row."
    assert capped == {
        "problems-capped": f"{first} problems; {rest}",
        "changes-capped": f"{first} changes; {rest}",
        "unchanged-capped": f"{first} unchanged rows; {rest}",
    }
    # the counts are whole
    counts = {cell_text(r[0]): cell_text(r[1]) for r in table_rows(page.root, "summary")[:3]}
    assert set(counts.values()) == {total}


def test_a_run_within_the_limit_lists_every_row_and_says_nothing_of_a_cap(
    tmp_path: Path,
) -> None:
    result = big_result(REPORT_LIMIT)
    text = write_html_report(result, tmp_path / "r.html").read_text(encoding="utf-8")
    page = parse(text)
    assert len(table_rows(page.root, "problems")) == REPORT_LIMIT
    assert len(table_rows(page.root, "changes")) == REPORT_LIMIT
    assert "capped" not in text and "Showing the first" not in text
