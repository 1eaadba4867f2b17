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

Written atomically; ``default_results_path`` names the file.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import xlsxwriter

from segsync.outcomes import RunResult
from segsync.output.atomic import atomic_file
from segsync.output.csv_files import is_csv, write_csv
from segsync.output.details_sheet import write_details_sheet
from segsync.output.results_sheet import write_results_sheet
from segsync.output.rows import ResultsLayout
from segsync.output.stats import local_zone_name
from segsync.output.summary import DRY_RUN_BANNER, summary_items, title
from segsync.output.summary_sheet import write_summary_sheet
from segsync.output.tables import write_changes_sheet, write_problems_sheet
from segsync.output.views import summary_view
from segsync.output.workbook import XLSX_MAX_ROWS, streaming_workbook

RESULT_KINDS: tuple[str, ...] = ("results", "preview", "rollback")


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
    layout = ResultsLayout(result.rows)
    if is_csv(target):
        # Rows first: if rendering one fails, neither file has been replaced.
        rows = (layout.values(r) for r in result.rows)
        write_csv(target, layout.csv_headers, rows, guard=True)
        summary = target.with_name(f"{target.stem}.summary.csv")
        write_csv(summary, ["section", "key", "value"], summary_items(result), guard=True)
        return target
    changes = sum(len(r.changes) for r in result.rows)
    if max(len(result.rows), changes) + 1 > XLSX_MAX_ROWS:
        raise ValueError(
            f"{len(result.rows):,} rows ({changes:,} changed fields) do not fit in an xlsx "
            "sheet; write the results as .csv"
        )
    zone = local_zone_name()
    view = summary_view(result)
    heading = view.title
    with atomic_file(target) as fh, streaming_workbook(fh) as workbook:
        _set_properties(workbook, result)
        write_summary_sheet(workbook, view, local_zone=zone)
        write_problems_sheet(workbook, result, title=heading)
        write_changes_sheet(workbook, result, title=heading)
        write_results_sheet(workbook, layout, result.rows, title=heading)
        write_details_sheet(workbook, result, title=heading, local_zone=zone)
    return target


def _set_properties(workbook: xlsxwriter.Workbook, result: RunResult) -> None:
    workbook.set_properties(
        {
            "title": title(result),
            "subject": DRY_RUN_BANNER if result.dry_run else f"segsync {result.command}",
            "comments": f"run {result.run_id}",
        }
    )
