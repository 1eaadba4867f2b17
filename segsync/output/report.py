"""The results, preview, rollback and export files: one xlsx (or CSV) writer for each.

Everything here reads plain data (``RunResult``, ``Segment``) and writes one file; nothing here
decides an outcome. Three properties hold for every file written:

* **Atomic**: the file is written to a hidden temp file next to the target, fsynced, then
  ``os.replace``-d over it. A crash or an exception mid-write leaves the old file (or none),
  never half a file; a SIGKILL may leave a ``.<name>.<random>.tmp`` behind, never a torn target.
* **Inert and exact**: see ``segsync.output.xlsx_safety``. Text is always a text cell, so a segment
  named ``=HYPERLINK(...)`` is shown, not run; codes keep their leading zeros.
* **Streaming**: xlsxwriter's ``constant_memory`` mode, rows rendered one at a time and written
  strictly top to bottom, left to right (that mode drops anything written out of order). Memory
  stays flat however many rows a run has.

Results layout (sheet ``Results``, one row per input row, in input order)::

    source row | id | outcome | changed fields | before | after | HTTP status | attempts | error
    | differences | campaignName … modifiedDateTime (the API's stats)
    | current name | current code | current campaignId | current description
    | current externalIdentifier | <unknown input columns, carried through>

``before``/``after`` hold one ``field: value`` line per changed field (``(empty)`` for null).
The ``current …`` columns are the values the API last showed; cells of changed fields are
highlighted. They are deliberately *not* named like the API fields, so feeding a results file
back into ``segsync sync`` can never send anything (only ``id`` and the stats are recognised).

CSV variants (a path ending in ``.csv``):

* results: the same columns, UTF-8 with a BOM (Excel then reads accents right), OWASP
  CSV-injection guard (``'`` before text starting with ``=``, ``+``, ``-``, ``@``, tab or CR;
  plain numbers exempt). The summary goes to a sibling ``<stem>.summary.csv`` with
  ``section,key,value`` rows.
* export: written *without* the ``'`` guard, because the export is meant to be read back and a
  prefix would become part of the value (and be sent). A CSV export is for machines; open the
  xlsx export in a spreadsheet. A warning is logged when the CSV holds formula-like text.
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import logging
import os
import secrets
import stat
import tempfile
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from itertools import chain, islice
from operator import attrgetter
from pathlib import Path
from typing import IO, Any

import xlsxwriter
from xlsxwriter.format import Format
from xlsxwriter.worksheet import Worksheet

from segsync.model import EDITABLE_FIELDS, STAT_FIELDS, FieldValue, Segment
from segsync.outcomes import Outcome, RowResult, RunResult
from segsync.output.xlsx_safety import (
    csv_cell,
    exact_number,
    looks_like_formula,
    text_problem,
    write_text,
)

log = logging.getLogger(__name__)

RESULTS_SHEET = "Results"
SUMMARY_SHEET = "Summary"
EXPORT_SHEET = "Segments"
ABOUT_SHEET = "About"

DRY_RUN_BANNER = "Preview (dry run): nothing was sent"
RESULT_KINDS: tuple[str, ...] = ("results", "preview", "rollback")

#: Options every workbook is created with: stream rows, and never reinterpret text.
XLSX_OPTIONS: dict[str, Any] = {
    "constant_memory": True,
    "strings_to_formulas": False,
    "strings_to_urls": False,
    "strings_to_numbers": False,
}

#: Excel's sheet height; a longer sheet would silently lose rows.
XLSX_MAX_ROWS = 1_048_576

#: Rows looked at to size columns (the rest are streamed unseen).
WIDTH_SAMPLE_ROWS = 200
MIN_WIDTH, MAX_WIDTH = 6, 60

CellValue = Any  # str | int | float | None, plus whatever an extras dict smuggles in
CellWriter = Callable[[Worksheet, int, int, CellValue, "Format | None"], None]

FIXED_HEADERS: tuple[str, ...] = (
    "source row",
    "id",
    "outcome",
    "changed fields",
    "before",
    "after",
    "HTTP status",
    "attempts",
    "error",
    "differences",
)
#: Editable fields in the order a person reads a segment (the brief's order, not the API's).
CURRENT_FIELDS: tuple[str, ...] = (
    "name",
    "code",
    "campaignId",
    "description",
    "externalIdentifier",
)
CURRENT_HEADERS: tuple[str, ...] = tuple(f"current {f}" for f in CURRENT_FIELDS)
#: Stats shown as numbers when Excel can hold them exactly (the API may send text decimals).
NUMERIC_STATS: frozenset[str] = frozenset(STAT_FIELDS) - {"campaignName", "modifiedDateTime"}
AMOUNT_STATS: frozenset[str] = frozenset(
    {"totalGiftAmount", "averageGiftAmount", "medianGiftAmount", "highestGiftAmount"}
)
#: Editable fields that are text for the API: always text cells, typed-in values stay text.
TEXT_FIELDS: frozenset[str] = frozenset({"name", "code", "description", "externalIdentifier"})

#: The export's editable columns: the API's order, right after ``id``.
EXPORT_EDITABLE: tuple[str, ...] = EDITABLE_FIELDS
EXPORT_READ_ONLY: tuple[str, ...] = (
    "modifiedDateTime",
    *(f for f in STAT_FIELDS if f != "modifiedDateTime"),
    "createdDateTime",
)
EXPORT_HEADERS: tuple[str, ...] = ("id", *EXPORT_EDITABLE, *EXPORT_READ_ONLY)

#: (background, font) per outcome: green done, grey nothing to do, blue preview, red failed,
#: orange needs a look, yellow never tried.
OUTCOME_COLOURS: dict[Outcome, tuple[str, str]] = {
    Outcome.UPDATED: ("#C6EFCE", "#006100"),
    Outcome.UNCHANGED: ("#EDEDED", "#3A3838"),
    Outcome.DUPLICATE: ("#EDEDED", "#3A3838"),
    Outcome.WOULD_UPDATE: ("#DDEBF7", "#1F4E78"),
    Outcome.FAILED: ("#FFC7CE", "#9C0006"),
    Outcome.INVALID: ("#FFC7CE", "#9C0006"),
    Outcome.NOT_FOUND: ("#FFC7CE", "#9C0006"),
    Outcome.CONFLICT: ("#F8CBAD", "#843C0C"),
    Outcome.UPDATED_WITH_DIFFERENCES: ("#F8CBAD", "#843C0C"),
    Outcome.NOT_ATTEMPTED: ("#FFEB9C", "#9C5700"),
}

_OUTCOME_VALUES: frozenset[str] = frozenset(o.value for o in Outcome)


# ---------------------------------------------------------------------------------------------
# public API


def default_results_path(
    input_path: str | Path | None,
    *,
    out_dir: Path | None,
    kind: str,
    fmt: str = "xlsx",
    now: datetime | None = None,
) -> Path:
    """``<input stem>_<kind>_<YYYYmmdd-HHMMSS>.<fmt>`` next to the input, or in ``out_dir``.

    Named after the input so a folder of edits keeps each file's results beside it; ``segsync``
    stands in when there is no input file. Local time, because people read it. When a run in
    the same second already took the name, ``-2``, ``-3``… is appended rather than overwrite it.
    """
    if kind not in RESULT_KINDS:
        raise ValueError(f"kind must be one of {', '.join(RESULT_KINDS)}, not {kind!r}")
    fmt = fmt.lstrip(".").lower()
    source = Path(input_path) if input_path is not None else None
    folder = out_dir if out_dir is not None else (source.parent if source else Path.cwd())
    stem = source.stem if source and source.stem else "segsync"
    stamp = (now or datetime.now()).strftime("%Y%m%d-%H%M%S")
    candidate = folder / f"{stem}_{kind}_{stamp}.{fmt}"
    n = 2
    while candidate.exists():
        candidate = folder / f"{stem}_{kind}_{stamp}-{n}.{fmt}"
        n += 1
    return candidate


def write_results(result: RunResult, path: str | Path) -> Path:
    """Write the results (or preview, or rollback) file for ``result``; return its path.

    xlsx unless ``path`` ends in ``.csv`` (any other suffix still gets xlsx content, because
    losing a finished run's report over a file name is worse than an odd name). See the module
    docstring for the layout, the CSV rules and the atomicity guarantee.
    """
    target = Path(path)
    layout = _ResultsLayout(result.rows)
    if _is_csv(target):
        # Rows first: if rendering one fails, neither file has been replaced.
        rows = (layout.values(r) for r in result.rows)
        _write_csv(target, layout.headers, rows, guard=True)
        summary = target.with_name(f"{target.stem}.summary.csv")
        _write_csv(summary, ["section", "key", "value"], _summary_items(result), guard=True)
        return target
    if len(result.rows) + 1 > XLSX_MAX_ROWS:
        raise ValueError(
            f"{len(result.rows):,} rows do not fit in an xlsx sheet; write the results as .csv"
        )
    with _atomic_file(target) as fh, _streaming_workbook(fh) as workbook:
        _set_properties(workbook, result)
        _write_results_sheet(workbook, layout, result.rows)
        _write_summary_sheet(workbook, result)
    return target


def read_outcomes(path: str | Path) -> list[tuple[int, str]]:
    """(source row, outcome) pairs from a results workbook or CSV this module wrote.

    The reverse of ``write_results`` for ``--only-failed``: kept here, beside the layout it
    reads, so the two cannot drift apart.
    """
    target = Path(path)
    if _is_csv(target):
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


def write_export(
    segments: Iterable[Segment], path: str | Path, *, clear_marker: str = "#CLEAR"
) -> Path:
    """Write the ``export`` workbook (sheet ``Segments`` + ``About``); return its path.

    Headers are exactly the API's field names, so the file goes back into ``segsync sync``
    unchanged. Editable text columns are text-formatted, so a code typed as ``00456`` stays
    text. ``modifiedDateTime`` is written as the API's exact string: the loader compares it to
    detect that someone changed the segment since the export. A value a cell cannot hold
    exactly (over 32,767 characters, broken Unicode) is left blank, which means *keep* on the
    way back in, and logged. A ``.csv`` path writes a machine-faithful CSV instead (no
    formula guard; see the module docstring).
    """
    target = Path(path)
    if _is_csv(target):
        return _write_export_csv(segments, target)
    with _atomic_file(target) as fh, _streaming_workbook(fh) as workbook:
        workbook.set_properties({"title": "Raise segments export", "comments": "segsync export"})
        _write_segments_sheet(workbook, segments)
        _write_about_sheet(workbook, clear_marker)
    return target


# ---------------------------------------------------------------------------------------------
# the results rows


class _ResultsLayout:
    """Column headers and per-row values of the results sheet (shared by xlsx and CSV).

    Values are produced one row at a time and never kept, which is what keeps a 100,000-row
    report flat in memory.
    """

    def __init__(self, rows: Sequence[RowResult]) -> None:
        self.extra_keys = _extra_keys(rows)
        self.headers: list[str] = [
            *FIXED_HEADERS,
            *STAT_FIELDS,
            *CURRENT_HEADERS,
            *_unique_headers(
                self.extra_keys, taken=[*FIXED_HEADERS, *STAT_FIELDS, *CURRENT_HEADERS]
            ),
        ]
        self.first_stat = len(FIXED_HEADERS)
        self.first_current = self.first_stat + len(STAT_FIELDS)
        self.current_column = {f: self.first_current + i for i, f in enumerate(CURRENT_FIELDS)}
        self._segment_values = attrgetter(*STAT_FIELDS, *CURRENT_FIELDS)
        self._no_segment: list[None] = [None] * (len(STAT_FIELDS) + len(CURRENT_FIELDS))

    def values(self, row: RowResult) -> list[CellValue]:
        """One results row, left to right; None is a blank cell."""
        changes = row.changes
        values: list[CellValue] = [
            row.source_row,
            row.segment_id,
            row.outcome.value,
            ", ".join(c.field for c in changes) if changes else None,
            "\n".join(f"{c.field}: {_show(c.before)}" for c in changes) if changes else None,
            "\n".join(f"{c.field}: {_show(c.after)}" for c in changes) if changes else None,
            row.http_status,
            row.attempts,
            row.error or None,
            ", ".join(row.differences) if row.differences else None,
        ]
        if row.segment is None:
            values.extend(self._no_segment)
        else:
            values.extend(self._segment_values(row.segment))
        if self.extra_keys:
            extras = row.extras
            values.extend([extras.get(k) for k in self.extra_keys])
        return values

    def writers(self) -> list[CellWriter]:
        """How each column turns a value into a cell (chosen once, not per cell)."""
        stat_writers = [
            _put_number_or_text if f in NUMERIC_STATS else _put_auto for f in STAT_FIELDS
        ]
        current = [_put_text if f in TEXT_FIELDS else _put_auto for f in CURRENT_FIELDS]
        fixed: list[CellWriter] = [_put_auto] * len(FIXED_HEADERS)
        return [*fixed, *stat_writers, *current, *([_put_auto] * len(self.extra_keys))]


def _show(value: FieldValue) -> str:
    return "(empty)" if value is None else str(value)


def _extra_keys(rows: Iterable[RowResult]) -> list[str]:
    """Union of the rows' unknown input columns, in first-seen order."""
    seen: dict[str, None] = {}
    for row in rows:
        if row.extras:
            seen.update(dict.fromkeys(row.extras))
    return list(seen)


def _unique_headers(keys: Iterable[str], *, taken: Iterable[str]) -> list[str]:
    """Extras headers that cannot be confused with segsync's own columns."""
    used = {h.casefold() for h in taken}
    headers = []
    for key in keys:
        header = key or "(unnamed)"
        if header.casefold() in used:
            header = f"{header} (input)"
        base, n = header, 2
        while header.casefold() in used:
            header, n = f"{base} {n}", n + 1
        used.add(header.casefold())
        headers.append(header)
    return headers


# ---------------------------------------------------------------------------------------------
# cell writers: one per kind of column, all formula-safe


def _put_text(sheet: Worksheet, row: int, col: int, value: CellValue, fmt: Format | None) -> None:
    write_text(sheet, row, col, value if type(value) is str else str(value), fmt)


def _put_auto(sheet: Worksheet, row: int, col: int, value: CellValue, fmt: Format | None) -> None:
    """Text stays text (``00123`` too); real numbers become numbers when Excel holds them."""
    kind = type(value)
    if kind is str:
        write_text(sheet, row, col, value, fmt)
    elif (kind is int or kind is float) and (number := exact_number(value)) is not None:
        sheet.write_number(row, col, number, fmt)
    else:
        write_text(sheet, row, col, str(value), fmt)


def _put_number_or_text(
    sheet: Worksheet, row: int, col: int, value: CellValue, fmt: Format | None
) -> None:
    """Stats: numbers, including decimal text such as ``"1234.50"``; anything else as text."""
    number = exact_number(value)
    if number is not None:
        sheet.write_number(row, col, number, fmt)
    else:
        write_text(sheet, row, col, value if type(value) is str else str(value), fmt)


# ---------------------------------------------------------------------------------------------
# xlsx: results and summary sheets


class _Styles:
    """The handful of formats a results workbook uses, created once per workbook."""

    def __init__(self, workbook: xlsxwriter.Workbook) -> None:
        self.header = workbook.add_format(
            {"bold": True, "bg_color": "#D9E1F2", "bottom": 1, "valign": "top"}
        )
        self.wrap = workbook.add_format({"text_wrap": True, "valign": "top"})
        self.amount = workbook.add_format({"num_format": "#,##0.00"})
        self.integer = workbook.add_format({"num_format": "#,##0"})
        self.text = workbook.add_format({"num_format": "@"})
        self.changed = workbook.add_format({"bg_color": "#FFF2CC", "bold": True})
        self.different = workbook.add_format({"bg_color": "#F8CBAD", "bold": True})
        self.title = workbook.add_format({"bold": True, "font_size": 14})
        self.banner = workbook.add_format({"bold": True, "font_color": "#1F4E78"})
        self.alarm = workbook.add_format({"bold": True, "font_color": "#9C0006"})
        self.section = workbook.add_format({"bold": True, "bg_color": "#D9E1F2"})
        self.decimal = workbook.add_format({"num_format": "0.00"})
        self.read_only_header = workbook.add_format(
            {"bold": True, "bg_color": "#EDEDED", "font_color": "#595959", "bottom": 1}
        )
        self.read_only = workbook.add_format({"font_color": "#595959"})
        self.outcome = {
            o: workbook.add_format({"bg_color": bg, "font_color": fg})
            for o, (bg, fg) in OUTCOME_COLOURS.items()
        }


def _set_properties(workbook: xlsxwriter.Workbook, result: RunResult) -> None:
    workbook.set_properties(
        {
            "title": _title(result),
            "subject": DRY_RUN_BANNER if result.dry_run else f"segsync {result.command}",
            "comments": f"run {result.run_id}",
        }
    )


def _write_results_sheet(
    workbook: xlsxwriter.Workbook, layout: _ResultsLayout, rows: Sequence[RowResult]
) -> None:
    """Header, then one row per result, strictly in order (constant_memory needs that)."""
    styles = _styles(workbook)
    sheet = workbook.add_worksheet(RESULTS_SHEET)
    headers = layout.headers
    sample = (layout.values(r) for r in islice(rows, WIDTH_SAMPLE_ROWS))
    widths = _column_widths(headers, sample)
    column_formats = _results_column_formats(styles, headers)
    for col, width in enumerate(widths):
        sheet.set_column(col, col, width, column_formats.get(col))
    sheet.freeze_panes(1, 3)
    sheet.autofilter(0, 0, len(rows), len(headers) - 1)
    for col, header in enumerate(headers):
        write_text(sheet, 0, col, header, styles.header)

    writers = layout.writers()
    outcome_col = FIXED_HEADERS.index("outcome")
    current = layout.current_column
    outcome_formats = styles.outcome
    for r, row in enumerate(rows, start=1):
        values = layout.values(row)
        formats: dict[int, Format] = {outcome_col: outcome_formats[row.outcome]}
        for change in row.changes:
            if change.field in current:
                formats[current[change.field]] = styles.changed
        for name in row.differences:
            if name in current:
                formats[current[name]] = styles.different
        for c, value in enumerate(values):
            fmt = formats.get(c)
            if value is None or value == "":
                if fmt is not None:  # a cleared field is still a changed cell
                    sheet.write_blank(r, c, None, fmt)
                continue
            writers[c](sheet, r, c, value, fmt)


def _results_column_formats(styles: _Styles, headers: Sequence[str]) -> dict[int, Format]:
    """Column-wide formats: wrapped multi-line text, number formats for the stats."""
    formats: dict[int, Format] = {}
    for col, header in enumerate(headers):
        if header in ("before", "after", "error"):
            formats[col] = styles.wrap
        elif header in AMOUNT_STATS:
            formats[col] = styles.amount
        elif header in NUMERIC_STATS and header != "conversionRate":
            formats[col] = styles.integer
    return formats


def _write_summary_sheet(workbook: xlsxwriter.Workbook, result: RunResult) -> None:
    """Title, banner, then ``section`` headings over ``key | value`` rows."""
    styles = _styles(workbook)
    sheet = workbook.add_worksheet(SUMMARY_SHEET)
    sheet.set_column(0, 0, 34)
    sheet.set_column(1, 1, 70)
    write_text(sheet, 0, 0, _title(result), styles.title)
    row = 1
    if result.dry_run:
        write_text(sheet, row, 0, DRY_RUN_BANNER, styles.banner)
        row += 1
    if result.aborted:
        write_text(sheet, row, 0, f"Run aborted: {result.aborted}", styles.alarm)
        row += 1
    section = None
    for item_section, key, value in _summary_items(result):
        if item_section != section:
            section = item_section
            row += 1
            write_text(sheet, row, 0, section, styles.section)
            sheet.write_blank(row, 1, None, styles.section)
            row += 1
        key_format = _summary_key_format(styles, item_section, key)
        write_text(sheet, row, 0, key, key_format)
        if value is not None and value != "":
            fmt = styles.decimal if type(value) is float else None
            _put_auto(sheet, row, 1, value, fmt)
        row += 1


def _summary_key_format(styles: _Styles, section: str, key: str) -> Format | None:
    if section == "outcomes" and key in _OUTCOME_VALUES:
        return styles.outcome[Outcome(key)]
    return None


def _title(result: RunResult) -> str:
    kind = result.command or "sync"
    noun = "preview" if result.dry_run else "results"
    return f"segsync {kind} {noun}"


def _summary_items(result: RunResult) -> Iterator[tuple[str, str, CellValue]]:
    """Every summary fact as ``(section, key, value)``: one source for the xlsx and CSV."""
    counts = result.counts()
    for outcome, count in counts.items():
        yield "outcomes", outcome, count
    yield "outcomes", "total rows", len(result.rows)

    for kind, count in sorted(result.requests.items()):
        yield "requests", kind, count
    yield "requests", "total requests", result.total_requests
    for status, count in sorted(result.statuses.items()):
        yield "HTTP statuses", str(status), count
    yield "HTTP statuses", "throttled (429)", result.throttled

    yield "run", "achieved rate (requests/s)", round(result.achieved_rate, 2)
    if result.lowest_rate is not None:
        yield "run", "lowest adaptive rate (requests/s)", round(result.lowest_rate, 2)
    yield "run", "duration (s)", round(result.duration_s, 1)
    yield "run", "fetch strategy", result.fetch_strategy or None
    yield "run", "run id", result.run_id
    yield "run", "command", result.command
    yield "run", "dry run", "yes" if result.dry_run else "no"
    yield "run", "aborted", result.aborted or "no"
    yield "run", "exit code", result.exit_code
    yield "run", "started at", result.started_at.isoformat()
    yield "run", "finished at", result.finished_at.isoformat() if result.finished_at else None
    yield "run", "input file", result.source
    yield "run", "input sha256", result.sha256
    yield "run", "sheet", result.sheet
    yield "run", "journal", result.journal_path

    for n, warning in enumerate(result.warnings, start=1):
        yield "warnings", str(n), warning
    for key, value in _flatten(result.config_summary):
        yield "configuration", key, value


def _flatten(mapping: dict[str, Any], prefix: str = "") -> Iterator[tuple[str, CellValue]]:
    """Nested config as dotted ``key: value`` rows; lists and odd types as JSON text."""
    for key, value in mapping.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            yield from _flatten(value, f"{name}.")
        elif isinstance(value, bool):
            yield name, "true" if value else "false"
        elif value is None or isinstance(value, int | float | str):
            yield name, value
        else:
            yield name, json.dumps(value, default=str, ensure_ascii=False)


# ---------------------------------------------------------------------------------------------
# xlsx: export sheets


def _export_values(segment: Segment) -> list[CellValue]:
    return [getattr(segment, f) for f in EXPORT_HEADERS]


def _write_segments_sheet(workbook: xlsxwriter.Workbook, segments: Iterable[Segment]) -> None:
    """The editable export, streamed; the first rows are buffered only to size the columns."""
    styles = _styles(workbook)
    sheet = workbook.add_worksheet(EXPORT_SHEET)
    iterator = iter(segments)
    head = list(islice(iterator, WIDTH_SAMPLE_ROWS))
    widths = _column_widths(EXPORT_HEADERS, (_export_values(s) for s in head))
    first_read_only = 1 + len(EXPORT_EDITABLE)
    for col, (header, width) in enumerate(zip(EXPORT_HEADERS, widths, strict=True)):
        if header in TEXT_FIELDS or header in ("modifiedDateTime", "createdDateTime"):
            fmt = styles.text  # typed-in codes stay text; dates stay the API's exact string
        elif col >= first_read_only:
            fmt = styles.read_only
        else:
            fmt = None
        sheet.set_column(col, col, width, fmt)
    sheet.freeze_panes(1, 1)
    for col, header in enumerate(EXPORT_HEADERS):
        fmt = styles.header if col < first_read_only else styles.read_only_header
        write_text(sheet, 0, col, header, fmt)

    writers = [_export_writer(h) for h in EXPORT_HEADERS]
    editable = frozenset(range(1, first_read_only))
    row = 0
    for row, segment in enumerate(chain(head, iterator), start=1):
        for c, value in enumerate(_export_values(segment)):
            if value is None or value == "":
                continue
            if c in editable and type(value) is str and (problem := text_problem(value)):
                log.warning(
                    "segment %s: %s left blank in the export (keep): %s",
                    segment.id,
                    EXPORT_HEADERS[c],
                    problem,
                )
                continue
            writers[c](sheet, row, c, value, None)
    sheet.autofilter(0, 0, max(row, 1), len(EXPORT_HEADERS) - 1)


def _export_writer(header: str) -> CellWriter:
    """Text fields and dates always as text; stats as numbers; ids as numbers when exact."""
    if header in TEXT_FIELDS or header.endswith("DateTime"):
        return _put_text
    if header in NUMERIC_STATS:
        return _put_number_or_text
    return _put_auto


def _about_lines(clear_marker: str) -> list[tuple[str, str]]:
    return [
        ("title", "How to edit this export and send it back"),
        ("", ""),
        ("text", "Edit the columns campaignId … externalIdentifier on Segments, then run:"),
        ("code", "    segsync sync <this file> --dry-run     (preview, nothing is sent)"),
        ("code", "    segsync sync <this file>               (send the changes)"),
        ("", ""),
        ("head", "Rules"),
        ("text", "• id names the segment; do not change it."),
        ("text", "• Editable: campaignId, name, code, description, externalIdentifier."),
        ("text", "• A blank cell (or a deleted column) means: keep the current value."),
        (
            "text",
            f"• {clear_marker} in description or externalIdentifier clears it "
            "(name, code and campaignId cannot be cleared).",
        ),
        ("text", "• Codes are text: 00123 stays 00123. Keep those columns formatted as text."),
        ("text", "• Grey columns (modifiedDateTime and the statistics) are read-only and ignored."),
        (
            "text",
            "• modifiedDateTime tells segsync when you exported: if someone changed a segment "
            "since, its row is reported as a conflict and not written.",
        ),
        ("text", "• Rows you do not want to change can stay: identical rows cost nothing."),
        ("text", "• Header names must stay as they are (they are the API's field names)."),
    ]


def _write_about_sheet(workbook: xlsxwriter.Workbook, clear_marker: str) -> None:
    styles = _styles(workbook)
    sheet = workbook.add_worksheet(ABOUT_SHEET)
    sheet.set_column(0, 0, 110)
    kinds = {"title": styles.title, "head": styles.section}
    for row, (kind, text) in enumerate(_about_lines(clear_marker)):
        if text:
            write_text(sheet, row, 0, text, kinds.get(kind))


# ---------------------------------------------------------------------------------------------
# CSV


def _is_csv(path: Path) -> bool:
    return path.suffix.lower() == ".csv"


def _csv_text(value: CellValue, *, guard: bool) -> str:
    if value is None:
        return ""
    text = value if type(value) is str else str(value)
    return csv_cell(text) if guard else text


def _write_csv(
    target: Path, headers: Sequence[str], rows: Iterable[Sequence[CellValue]], *, guard: bool
) -> Path:
    """UTF-8 with BOM, ``\\r\\n`` rows, minimal quoting; ``guard`` applies the ``'`` prefix."""
    with _atomic_file(target) as fh:
        text = io.TextIOWrapper(fh, encoding="utf-8-sig", newline="", errors="replace")
        try:
            writer = csv.writer(text)
            writer.writerow([_csv_text(h, guard=guard) for h in headers])
            for row in rows:
                writer.writerow([_csv_text(v, guard=guard) for v in row])
            text.flush()
        finally:
            text.detach()  # the atomic writer owns (fsyncs and closes) the binary file
    return target


def _write_export_csv(segments: Iterable[Segment], target: Path) -> Path:
    """The export as a machine-faithful CSV (no ``'`` prefix: it would be read back)."""
    risky = 0

    def rows() -> Iterator[list[CellValue]]:
        nonlocal risky
        for segment in segments:
            values = _export_values(segment)
            risky += any(type(v) is str and looks_like_formula(v) for v in values)
            yield values

    _write_csv(target, EXPORT_HEADERS, rows(), guard=False)
    if risky:
        log.warning(
            "%s: %d segment(s) have values a spreadsheet would run as a formula; "
            "open the xlsx export in a spreadsheet, not this CSV",
            target,
            risky,
        )
    return target


# ---------------------------------------------------------------------------------------------
# shared plumbing


def _column_widths(headers: Sequence[str], rows: Iterable[Sequence[CellValue]]) -> list[int]:
    """Widths from the header and a sample of rows (longest line), clamped to a sane range."""
    widths = [len(h) for h in headers]
    for values in rows:
        for col, value in enumerate(values):
            if value is None:
                continue
            text = value if type(value) is str else str(value)
            longest = max(map(len, text.split("\n"))) if "\n" in text else len(text)
            if longest > widths[col]:
                widths[col] = longest
    return [min(max(w + 2, MIN_WIDTH), MAX_WIDTH) for w in widths]


_STYLES_ATTR = "_segsync_styles"


def _styles(workbook: xlsxwriter.Workbook) -> _Styles:
    """The workbook's formats, created on first use (xlsxwriter formats are per workbook)."""
    styles = getattr(workbook, _STYLES_ATTR, None)
    if styles is None:
        styles = _Styles(workbook)
        setattr(workbook, _STYLES_ATTR, styles)
    return styles


@contextmanager
def _streaming_workbook(fh: IO[bytes]) -> Iterator[xlsxwriter.Workbook]:
    """A constant_memory workbook writing into ``fh``, with its scratch files in a private
    temp folder that is removed whatever happens (xlsxwriter leaves them on an exception)."""
    with tempfile.TemporaryDirectory(prefix="segsync-xlsx-", ignore_cleanup_errors=True) as tmp:
        workbook = xlsxwriter.Workbook(fh, {**XLSX_OPTIONS, "tmpdir": tmp})
        try:
            yield workbook
        except BaseException:
            _discard(workbook)
            raise
        workbook.close()


def _discard(workbook: xlsxwriter.Workbook) -> None:
    """Close a failed workbook's row-data scratch files without assembling a file."""
    for sheet in workbook.worksheets():
        handle = getattr(sheet, "row_data_fh", None)
        if handle is not None:
            with contextlib.suppress(Exception):
                handle.close()


@contextmanager
def _atomic_file(target: Path) -> Iterator[IO[bytes]]:
    """A binary file that becomes ``target`` only if the block finishes.

    Hidden temp file in the same folder (so ``os.replace`` is a rename, atomic on POSIX and
    Windows), created with the process umask (and the old file's mode when replacing one),
    fsynced before the rename and the folder fsynced after it, so a power cut cannot leave a
    renamed-but-empty file. Any exception removes the temp file and leaves ``target`` alone.
    """
    target.parent.mkdir(parents=True, exist_ok=True)
    temp = target.with_name(f".{target.name}.{secrets.token_hex(4)}.tmp")
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)
    fd = os.open(temp, flags, 0o666)
    try:
        with os.fdopen(fd, "wb") as fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
        with contextlib.suppress(OSError):
            os.chmod(temp, stat.S_IMODE(target.stat().st_mode))
        os.replace(temp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            temp.unlink()
        raise
    _fsync_folder(target.parent)


def _fsync_folder(folder: Path) -> None:
    """Persist the rename itself (POSIX); a no-op where folders cannot be opened (Windows)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
