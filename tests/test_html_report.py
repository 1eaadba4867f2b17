"""The HTML report (``--report FILE.html``) and the views behind it.

The report is read back with the standard library's ``html.parser`` into a small tree, so the
assertions are about elements and attributes (what a browser acts on), not about substrings of
the whole text. Most tests build a ``RunResult`` by hand; one runs a real sync against the
sandbox on 127.0.0.1 with a segment renamed to an HTML payload.
"""

from __future__ import annotations

import html
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
from jinja2 import StrictUndefined, UndefinedError

from segsync.engine import pipeline
from segsync.model import Segment
from segsync.outcomes import PROBLEM_OUTCOMES, FieldChange, Outcome, RowResult, RunResult
from segsync.output.html_report import render_report, template_env, write_html_report
from segsync.output.views import EMPTY, Part, build_view, diff_parts
from tests.helpers import settings_for, write_csv

HOSTILE = "<img src=x onerror=alert(1)>"
SCRIPT = "<script>alert('x')</script>"
STARTED = datetime(2026, 3, 1, 9, 30, 0, tzinfo=UTC)
HEADER = ["id", "campaignId", "name", "code", "description", "externalIdentifier"]
VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "wbr"}


# -- a small DOM from html.parser ------------------------------------------------------------


@dataclass
class Node:
    tag: str
    attrs: dict[str, str | None]
    children: list[Node | str] = field(default_factory=list)

    def iter(self, tag: str | None = None) -> Iterator[Node]:
        if tag is None or self.tag == tag:
            yield self
        for child in self.children:
            if isinstance(child, Node):
                yield from child.iter(tag)

    def find(self, tag: str, **attrs: str) -> Node:
        for node in self.iter(tag):
            if all(node.attrs.get(k) == v for k, v in attrs.items()):
                return node
        raise AssertionError(f"no <{tag} {attrs}>")

    @property
    def text(self) -> str:
        return "".join(c if isinstance(c, str) else c.text for c in self.children)

    @property
    def classes(self) -> set[str]:
        return set((self.attrs.get("class") or "").split())


class TreeBuilder(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.root = Node("#document", {})
        self.stack = [self.root]
        self.tags: list[tuple[str, dict[str, str | None]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        node = Node(tag, dict(attrs))
        self.tags.append((tag, node.attrs))
        self.stack[-1].children.append(node)
        if tag not in VOID:
            self.stack.append(node)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))
        self.stack[-1].children.append(Node(tag, dict(attrs)))

    def handle_endtag(self, tag: str) -> None:
        if tag in VOID:
            return
        assert self.stack[-1].tag == tag, f"</{tag}> closes <{self.stack[-1].tag}>"
        self.stack.pop()

    def handle_data(self, data: str) -> None:
        self.stack[-1].children.append(data)


def parse(text: str) -> TreeBuilder:
    builder = TreeBuilder()
    builder.feed(text)
    builder.close()
    assert builder.stack == [builder.root], "unclosed elements"
    return builder


def table_rows(doc: Node, section_id: str) -> list[list[Node]]:
    """The body rows of the (first) table in a section, as lists of cells (th and td)."""
    section = doc.find("section", id=section_id)
    tbody = next(section.iter("tbody"))
    return [
        [c for c in tr.children if isinstance(c, Node) and c.tag in ("th", "td")]
        for tr in tbody.iter("tr")
    ]


def cell_text(node: Node) -> str:
    return " ".join(node.text.split())


# -- what a page must never do ---------------------------------------------------------------


def assert_self_contained(page: TreeBuilder, raw: str) -> None:
    """No script, nothing fetched: every src/href is data: or #, no URL in any attribute."""
    assert "<script" not in raw.lower()
    for tag, attrs in page.tags:
        assert tag not in {"script", "iframe", "object", "embed", "frame", "base", "form"}, tag
        for name, value in attrs.items():
            assert not name.startswith("on"), f"<{tag} {name}>"
            value = value or ""
            if name in {"src", "href", "srcset", "action", "poster", "data", "xlink:href"}:
                assert value.startswith(("data:", "#")), f"<{tag} {name}={value!r}>"
            assert "http://" not in value and "https://" not in value, f"<{tag} {name}>"
            if name == "style":
                assert "url(" not in value
        if tag == "link":
            assert attrs.get("rel") == "icon", attrs
    for style in page.root.iter("style"):
        css = style.text.lower()
        assert "url(" not in css and "@import" not in css and "http" not in css
    csp = [
        a for t, a in page.tags if t == "meta" and a.get("http-equiv") == "Content-Security-Policy"
    ]
    assert csp and "default-src 'none'" in (csp[0]["content"] or "")


# -- hand-made results -----------------------------------------------------------------------


def segment(seg_id: int, **overrides: Any) -> Segment:
    values: dict[str, Any] = {
        "id": seg_id,
        "campaignId": 5001,
        "name": f"Segment {seg_id}",
        "code": f"C{seg_id}",
        "description": None,
        "externalIdentifier": None,
    }
    values.update(overrides)
    return Segment.from_api(values)


def every_outcome_result(*, dry_run: bool = False, command: str = "sync") -> RunResult:
    """One row of each outcome (would_update only in a preview, updated only in a real run)."""
    rows = [
        RowResult(
            0,
            2,
            101,
            Outcome.WOULD_UPDATE if dry_run else Outcome.UPDATED,
            changes=[FieldChange("name", "Spring Appeal", "Spring Appeal 2")],
            segment=segment(101, name="Spring Appeal" if dry_run else "Spring Appeal 2"),
        ),
        RowResult(
            1,
            3,
            102,
            Outcome.WOULD_UPDATE if dry_run else Outcome.UPDATED,
            changes=[
                FieldChange("name", "Segment 102", HOSTILE),
                FieldChange("description", None, "Line one\nline two"),
            ],
            segment=segment(102, name=HOSTILE),
        ),
        RowResult(2, 4, 103, Outcome.UNCHANGED, segment=segment(103)),
        RowResult(3, 5, 103, Outcome.DUPLICATE, error="same edit as row 4; sent once"),
        RowResult(
            4, 6, 104, Outcome.INVALID, error="Edits!C6 (name):  contains a tab\tcharacter  "
        ),
        RowResult(5, 7, None, Outcome.INVALID, error="Edits!A7 (id): id must be a whole number"),
        RowResult(
            6,
            8,
            999,
            Outcome.NOT_FOUND,
            error="segment 999 does not exist, or this token cannot see it",
        ),
        RowResult(
            7,
            9,
            105,
            Outcome.CONFLICT,
            changes=[FieldChange("code", "A1", "A2")],
            error=f"changed on the server since it was read ({SCRIPT})",
            segment=segment(105, name=SCRIPT),
        ),
        RowResult(8, 10, 106, Outcome.FAILED, http_status=503, attempts=5, error="HTTP 503"),
        RowResult(
            9,
            11,
            107,
            Outcome.UPDATED_WITH_DIFFERENCES,
            changes=[FieldChange("name", "Old", "A very long new name")],
            differences=["name"],
            error="the API stored different values for: name",
            segment=segment(107, name="A very long"),
        ),
        RowResult(10, 12, 108, Outcome.NOT_ATTEMPTED, error="not sent: stopped by the user"),
    ]
    if dry_run:
        rows = [r for r in rows if r.outcome not in {Outcome.UPDATED_WITH_DIFFERENCES}]
    return RunResult(
        run_id="20260301-093000-abcdef",
        command=command,
        dry_run=dry_run,
        source="/data/edits <q>.xlsx",
        sheet="Edits",
        sha256="0" * 64,
        started_at=STARTED,
        finished_at=STARTED + timedelta(seconds=75),
        rows=rows,
        journal_path=None if dry_run else "/runs/20260301-093000-abcdef/journal.jsonl",
        results_path="/data/edits_results.xlsx",
        warnings=[f"a warning about {HOSTILE}"],
    )


def render(result: RunResult, **kwargs: Any) -> tuple[str, TreeBuilder]:
    text = render_report(build_view(result, **kwargs))
    return text, parse(text)


# -- the tests -------------------------------------------------------------------------------


def test_hostile_values_are_shown_as_text() -> None:
    text, page = render(every_outcome_result())
    assert HOSTILE not in text and SCRIPT not in text
    assert html.escape(HOSTILE, quote=False) in text
    assert not [t for t, _ in page.tags if t in {"img", "script"}]
    changes = table_rows(page.root, "changes")
    assert any(cell_text(row[5]) == HOSTILE for row in changes), "the name, as text"
    problems = table_rows(page.root, "problems")
    assert any(SCRIPT in cell_text(row[4]) for row in problems), "the reason, as text"
    assert_self_contained(page, text)


def test_every_problem_row_is_in_the_problems_table() -> None:
    result = every_outcome_result()
    _, page = render(result)
    shown = [(cell_text(row[0]), cell_text(row[1])) for row in table_rows(page.root, "problems")]
    expected = [
        (str(r.source_row), "none" if r.segment_id is None else str(r.segment_id))
        for r in result.rows
        if r.outcome in PROBLEM_OUTCOMES
    ]
    assert shown == expected
    assert {r.outcome for r in result.rows} >= PROBLEM_OUTCOMES, "the fixture covers them all"


def test_problems_name_the_cell_the_reason_and_what_to_do() -> None:
    view = build_view(every_outcome_result())
    by_row = {p.source_row: p for p in view.problems}
    tab = by_row[6]
    assert tab.cell == "Edits!C6"
    assert tab.reason == "name: contains a tab character", "one line, cell moved out"
    assert by_row[7].cell == "Edits!A7" and by_row[7].segment_id is None
    assert by_row[8].cell is None
    assert by_row[8].advice.startswith("Check the id; the segment may have been deleted")
    assert all(p.advice and p.reason and "\n" not in p.reason for p in view.problems)
    assert by_row[10].http_status == 503


def test_a_cell_attribute_wins_over_the_error_text() -> None:
    @dataclass(slots=True)
    class RowWithCell(RowResult):  # what RowResult.cell will be
        cell: str | None = None

    result = every_outcome_result()
    not_found = result.rows[6]
    result.rows[6] = RowWithCell(
        not_found.index,
        not_found.source_row,
        not_found.segment_id,
        not_found.outcome,
        error=not_found.error,
        cell="Edits!A8",
    )
    problem = next(p for p in build_view(result).problems if p.source_row == 8)
    assert problem.cell == "Edits!A8"
    assert problem.reason == not_found.error


def test_the_report_is_one_file_with_no_external_reference(tmp_path: Path) -> None:
    out = tmp_path / "report" / "run.html"
    assert write_html_report(every_outcome_result(), out) == out
    assert sorted(p.name for p in out.parent.iterdir()) == ["run.html"], "no assets, no temp"
    text = out.read_text(encoding="utf-8")
    page = parse(text)
    assert_self_contained(page, text)
    root = page.root.find("html")
    assert root.attrs.get("lang") == "en"
    assert any(a.get("name") == "viewport" for t, a in page.tags if t == "meta")
    assert [t for t, _ in page.tags if t in {"header", "main"}] == ["header", "main"]


def test_the_report_replaces_an_old_file_whole(tmp_path: Path) -> None:
    out = tmp_path / "run.html"
    out.write_text("old", encoding="utf-8")
    write_html_report(every_outcome_result(), out)
    assert out.read_text(encoding="utf-8").startswith("<!DOCTYPE html>")
    assert [p.name for p in tmp_path.iterdir()] == ["run.html"]


def test_secrets_are_redacted_from_reasons_and_warnings(monkeypatch: pytest.MonkeyPatch) -> None:
    from segsync import secrets

    monkeypatch.setattr(secrets, "_secrets", {"tok-8f3a9c2e71"})
    result = every_outcome_result()
    result.rows[8].error = "HTTP 503 from https://api.example/?t=tok-8f3a9c2e71"
    result.warnings.append("token tok-8f3a9c2e71 rejected")
    text, _ = render(result)
    assert "tok-8f3a9c2e71" not in text
    assert "t=***" in text


def test_sections_come_in_order_and_unchanged_is_collapsed() -> None:
    result = every_outcome_result()
    _, page = render(result)
    sections = [n.attrs["id"] for n in page.root.find("main").iter("section")]
    assert sections == ["summary", "problems", "changes", "unchanged"]
    details = page.root.find("section", id="unchanged").find("details")
    assert "open" not in details.attrs
    assert cell_text(details.find("summary")).startswith("1 row unchanged")


def test_summary_counts_match_the_result() -> None:
    result = every_outcome_result()
    _, page = render(result)
    counts = page.root.find("table", **{"class": "counts"})
    shown: dict[str, int] = {}
    for tr in next(counts.iter("tbody")).iter("tr"):
        label, number = (c for c in tr.children if isinstance(c, Node))
        shown[cell_text(label)] = int(cell_text(number).replace(",", ""))
    view = build_view(result)
    assert shown == {c.label: c.count for c in view.counts}
    assert sum(shown.values()) == len(result.rows)
    assert {c.outcome: c.count for c in view.counts} == result.counts()
    first = [c.kind for c in view.counts]
    assert first == sorted(first, key=lambda k: k != "problem"), "problems first"
    total = cell_text(next(counts.iter("tfoot")).find("td"))
    assert total == str(len(result.rows))
    number_cells = [td for td in counts.iter("td") if "num" in td.classes]
    assert len(number_cells) == len(view.counts) + 1, "every count is right-aligned"


def test_next_steps_say_what_to_do() -> None:
    real = build_view(every_outcome_result())
    sentences = [s.sentence for s in real.next_steps]
    problems = sum(r.outcome in PROBLEM_OUTCOMES for r in every_outcome_result().rows)
    assert sentences[0] == f"{problems} rows need fixing: see Problems."
    assert "Undo with: segsync rollback 20260301-093000-abcdef" in sentences
    assert any("--only-failed 20260301-093000-abcdef" in s for s in sentences)

    plan = build_view(every_outcome_result(dry_run=True, command="plan"), plan_path="/p/plan.json")
    assert "Nothing was changed: this is a preview. To send it: segsync apply /p/plan.json" in [
        s.sentence for s in plan.next_steps
    ]
    assert not any("rollback" in s.sentence for s in plan.next_steps)

    clean = every_outcome_result()
    clean.rows = [r for r in clean.rows if r.outcome is Outcome.UNCHANGED]
    view = build_view(clean)
    assert [s.sentence for s in view.next_steps] == ["Nothing to do: no row needs fixing."]
    assert view.status == "ok" and view.problems == ()


def test_changes_one_line_per_field_with_names_and_empty_values() -> None:
    result = every_outcome_result()
    view = build_view(result)
    assert [(c.source_row, c.field) for c in view.changes] == [
        (2, "name"),
        (3, "name"),
        (3, "description"),
        (9, "code"),
        (11, "name"),
    ]
    renamed = view.changes[1]
    assert renamed.segment_name == HOSTILE, "the new name when the name changed"
    assert view.changes[2].before == EMPTY and view.changes[2].before_empty
    assert view.changes[3].segment_name == SCRIPT and view.changes[3].outcome == "conflict"
    assert view.changes[4].stored == "A very long", "what the API kept instead"
    _, page = render(result)
    rows = table_rows(page.root, "changes")
    assert len(rows) == len(view.changes)
    multiline = rows[2][5]
    assert multiline.text == "Line one\nline two", "line breaks kept (the cell is pre-wrap)"


def test_changed_characters_are_marked_exactly() -> None:
    before, after = diff_parts("Spring Appeal", "Spring Appeal 2")
    assert before == (Part("Spring Appeal", False),)
    assert after == (Part("Spring Appeal", False), Part(" 2", True))
    before, after = diff_parts("Code 2025-A", "Code 2026-A")
    assert [p.text for p in before if p.changed] == ["5"]
    assert [p.text for p in after if p.changed] == ["6"]
    # unrelated values: wholly changed, not a scatter of shared letters
    assert diff_parts("Planned Giving (Phone Bank)", HOSTILE) == (
        (Part("Planned Giving (Phone Bank)", True),),
        (Part(HOSTILE, True),),
    )
    assert diff_parts(None, "x") == ((Part(EMPTY, True),), (Part("x", True),))
    # an added sentence is one piece, not "s." matched by chance at the end
    before, after = diff_parts("Gave in the last 60 days.", "Gave in the last 90 days.\nNo majors.")
    assert [p.text for p in after if p.changed] == ["9", "\nNo majors."]
    # long text: only the changed words, whatever the length
    text = "Suppress anyone who gave in the last 60 days; majors go to the phone team. " * 40
    before, after = diff_parts(text, text.replace("phone", "email"))
    assert [p.text for p in before if p.changed] == ["phone"] * 40
    assert "".join(p.text for p in after) == text.replace("phone", "email")

    _, page = render(every_outcome_result())
    first = table_rows(page.root, "changes")[0]
    before_cell, after_cell = first[4], first[5]
    assert list(before_cell.iter("mark")) == []
    assert [m.text for m in after_cell.iter("mark")] == [" 2"]
    assert after_cell.text == "Spring Appeal 2", "no stray whitespace around the marks"


def test_every_partial_renders_from_the_view_alone() -> None:
    env = template_env()
    assert env.undefined is StrictUndefined and env.autoescape is True
    view = build_view(every_outcome_result())
    for name in ("summary", "problems", "changes", "unchanged"):
        text = env.get_template(f"partials/{name}.html").render(view=view)
        page = parse(text)
        assert page.root.find("section", id=name)
        assert HOSTILE not in text
    with pytest.raises(UndefinedError):
        env.get_template("partials/summary.html").render()


def test_empty_and_aborted_runs_render() -> None:
    empty = RunResult("r1", "rollback", True, "run r0", "", None, STARTED)
    text, page = render(empty)
    assert "No problems" in page.root.find("section", id="problems").text
    assert "No changes would be sent" in page.root.find("section", id="changes").text
    assert_self_contained(page, text)

    aborted = every_outcome_result()
    aborted.aborted = "circuit breaker open: the API looks unavailable"
    aborted.finished_at = None
    text, page = render(aborted)
    view = build_view(aborted)
    assert view.status == "aborted" and view.next_steps[0].kind == "problem"
    assert "circuit breaker open" in page.root.find("section", id="summary").text


def test_end_to_end_sync_report_escapes_a_hostile_name(sandbox: Any, tmp_path: Path) -> None:
    sheet = write_csv(
        tmp_path / "edits.csv",
        HEADER,
        [
            [100001, 5001, HOSTILE, "00025", None, "SF-465644"],
            [100002, 5001, "O'Brien Scholarship Circle (Direct Mail) 2", "00116", None, None],
            [999999, 5001, "Nobody", "X1", None, None],
            ["abc", 5001, "Bad id", "X2", None, None],
            [100003, 5001, "Tab\there", "FB69", None, None],
        ],
    )
    result = pipeline.sync(sheet, settings_for(sandbox, tmp_path))
    outcomes = [r.outcome for r in result.rows]
    assert outcomes[:3] == [Outcome.UPDATED, Outcome.UPDATED, Outcome.NOT_FOUND]
    assert outcomes[3:] == [Outcome.INVALID, Outcome.INVALID]

    out = write_html_report(result, tmp_path / "report.html")
    text = out.read_text(encoding="utf-8")
    page = parse(text)
    assert HOSTILE not in text
    assert html.escape(HOSTILE, quote=False) in text
    assert not [t for t, _ in page.tags if t in {"img", "script"}]
    assert_self_contained(page, text)

    problems = table_rows(page.root, "problems")
    shown = {(cell_text(r[0]), cell_text(r[1])) for r in problems}
    for row in result.rows:
        if row.outcome in PROBLEM_OUTCOMES:
            ident = "none" if row.segment_id is None else str(row.segment_id)
            assert (str(row.source_row), ident) in shown
    assert len(problems) == sum(r.outcome in PROBLEM_OUTCOMES for r in result.rows)
    cells = {cell_text(r[0]): cell_text(r[3]) for r in problems}
    assert cells["5"].endswith("!A5") and cells["6"].endswith("!C6"), cells

    changes = table_rows(page.root, "changes")
    hostile = [r for r in changes if cell_text(r[1]) == "100001"]
    assert [cell_text(r[5]) for r in hostile] == [HOSTILE]
    assert cell_text(hostile[0][2]) == HOSTILE, "segment name column: the new name"
    steps = cell_text(page.root.find("section", id="summary").find("ol"))
    assert f"segsync rollback {result.run_id}" in steps
