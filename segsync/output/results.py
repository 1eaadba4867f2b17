"""The results file of a run (also the preview of a dry run and the record of a rollback).

xlsx, sheets in this order: **Summary** (``summary_sheet``: status, what to do next, the
counts with a chart, the run's facts), **Problems** and **Changes** (``tables``: the rows that
need a person, one line per changed field), **Results** (``results_sheet``: one row per input
row, in input order) and **Run details** (``details_sheet``: requests, statuses, the
configuration). Every sheet is streamed (each reads the run's rows once, in order), so memory
stays flat however many rows a run has.

CSV (a path ending in ``.csv``): the Results columns under the API's names
(``ResultsLayout.csv_headers``), the values as text with the formula guard, and the summary in
a sibling ``<stem>.summary.csv`` of ``section,key,value`` rows: the form machines read.

Written atomically; ``default_results_path`` names the file. A run writes the xlsx form while
it sends (``ResultsWorkbook``: the Results rows as each settles), so that little is left to do
after the last answer; ``write_results`` writes a whole result in one go, through the same
code.
"""

from __future__ import annotations

import contextlib
from datetime import datetime
from pathlib import Path

import xlsxwriter

from segsync.outcomes import RowResult, RunResult
from segsync.output.atomic import atomic_file
from segsync.output.csv_files import is_csv, write_csv
from segsync.output.details_sheet import DETAILS_SHEET, write_details_sheet
from segsync.output.plural import counted
from segsync.output.results_sheet import ResultsSheet
from segsync.output.rows import RESULTS_SHEET, ResultsLayout
from segsync.output.stats import local_zone_name
from segsync.output.summary import DRY_RUN_BANNER, summary_items, title
from segsync.output.summary_sheet import SUMMARY_SHEET, write_summary_sheet
from segsync.output.tables import (
    CHANGES_SHEET,
    PROBLEMS_SHEET,
    write_changes_sheet,
    write_problems_sheet,
)
from segsync.output.views import summary_view
from segsync.output.workbook import XLSX_MAX_ROWS, streaming_workbook

RESULT_KINDS: tuple[str, ...] = ("results", "preview", "rollback")
SHEET_ORDER: tuple[str, ...] = (
    SUMMARY_SHEET,
    PROBLEMS_SHEET,
    CHANGES_SHEET,
    RESULTS_SHEET,
    DETAILS_SHEET,
)


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
    losing a finished run's report over a file name is worse than an odd name). Raises
    ``ValueError`` when the rows do not fit in an xlsx sheet (write a CSV instead).
    """
    target = Path(path)
    if is_csv(target):
        layout = ResultsLayout(result.rows)
        # Rows first: if rendering one fails, neither file has been replaced.
        rows = (layout.values(r) for r in result.rows)
        write_csv(target, layout.csv_headers, rows, guard=True)
        summary = target.with_name(f"{target.stem}.summary.csv")
        write_csv(summary, ["section", "key", "value"], summary_items(result), guard=True)
        return target
    _check_fits(result)
    return ResultsWorkbook(target, ResultsLayout(result.rows)).finish(result)


class ResultsWorkbook:
    """The xlsx results file, written as a run goes: ``add`` each row, in input order, once
    its outcome is final; ``finish`` writes the rows still missing and the other sheets.

    Nothing appears at ``path`` before ``finish`` succeeds (the zip is assembled then, by
    ``atomic_file``); an error in ``finish``, or ``discard``, leaves no file behind.
    Every input row must carry the extras ``layout`` was made from.
    """

    def __init__(self, path: Path, layout: ResultsLayout) -> None:
        self.path = path
        self.written = 0
        self._files = contextlib.ExitStack()
        try:
            self._workbook = workbook = self._files.enter_context(streaming_workbook(None))
            # every sheet now, in the order a person reads them; their rows come later
            self._sheets = {name: workbook.add_worksheet(name) for name in SHEET_ORDER}
            self._results = ResultsSheet(workbook, self._sheets[RESULTS_SHEET], layout)
        except BaseException as exc:
            self._close(exc)
            raise

    def add(self, row: RowResult) -> None:
        """The next row of the Results sheet (rows must come in input order)."""
        self._results.add(row)
        self.written += 1

    def finish(self, result: RunResult) -> Path:
        """The rest of ``result.rows`` (the first ``written`` must be the rows added), then
        Summary, Problems, Changes and Run details; the file is in place when this returns."""
        try:
            _check_fits(result)
            for row in result.rows[self.written :]:
                self.add(row)
            workbook, sheets = self._workbook, self._sheets
            zone = local_zone_name()
            view = summary_view(result)
            heading = view.title
            _set_properties(workbook, result)
            write_summary_sheet(workbook, sheets[SUMMARY_SHEET], view, local_zone=zone)
            write_problems_sheet(workbook, sheets[PROBLEMS_SHEET], result, title=heading)
            write_changes_sheet(workbook, sheets[CHANGES_SHEET], result, title=heading)
            self._results.finish(title=heading)
            details = sheets[DETAILS_SHEET]
            write_details_sheet(workbook, details, result, title=heading, local_zone=zone)
        except BaseException as exc:
            self._close(exc)
            raise
        # the zip is assembled now, into a temp file that becomes the target once complete
        with atomic_file(self.path) as fh:
            workbook.filename = fh
            self._close(None)
        return self.path

    def discard(self) -> None:
        """Give up this file: its scratch files go, nothing is written at ``path``."""
        self._close(RuntimeError("the results workbook was discarded"))

    def _close(self, error: BaseException | None) -> None:
        if error is None:
            self._files.close()
        else:
            self._files.__exit__(type(error), error, error.__traceback__)


def _check_fits(result: RunResult) -> None:
    changes = sum(len(r.changes) for r in result.rows)
    if max(len(result.rows), changes) + 1 > XLSX_MAX_ROWS:
        raise ValueError(
            f"{counted(len(result.rows), 'row')} ({counted(changes, 'changed field')}) do not "
            "fit in an xlsx "
            "sheet; write the results as .csv"
        )


def _set_properties(workbook: xlsxwriter.Workbook, result: RunResult) -> None:
    workbook.set_properties(
        {
            "title": title(result),
            "subject": DRY_RUN_BANNER if result.dry_run else f"segsync {result.command}",
            "comments": f"run {result.run_id}",
        }
    )
