"""Benchmark segsync's offline stages against the raw engines underneath them.

Why: segsync's load, diff and write stages wrap fast engines (python-calamine, the ``csv``
module, xlsxwriter in ``constant_memory`` mode) in per-cell validation, normalisation and
formula-safety code. The network phase of a sync is bounded by the API's rate limit, but these
stages run at the user's desk on every ``validate`` and ``--dry-run``, and they decide whether a
100,000-row sheet takes seconds or minutes and whether it fits in memory. Timing each stage next
to the fastest raw engine for the same work, measured in the same run on the same machine, turns
"is this slow?" into a ratio that survives hardware changes: a loader at 3× calamine is doing its
job; one at 30× is spending time somewhere worth looking at.

What it does:

1. Generates ``--rows`` rows (default 100,000) of a realistic edits workbook (sheet
   ``Segments``; columns id, campaignId, name, code, description, externalIdentifier), the same
   content as a UTF-8 CSV (with a BOM, as Excel's "CSV UTF-8" writes it), and the matching
   current state (``dict[int, Segment]`` with stats). Codes are text with leading zeros
   (``000123``), names carry accents, some cells are blank (*keep*), a few names have stray
   spaces (trimmed), a few externalIdentifiers carry the clear marker, and ``--changed``
   (default 30 %) of the rows differ from the current state in one or more fields.
2. Runs every stage in its **own subprocess** (this script re-invoked with ``--stage``), so
   each peak RSS is that stage's alone. The child imports what it needs and loads its inputs,
   resets its RSS high-water mark (Linux ``/proc/self/clear_refs``; elsewhere the setup's peak
   stays in, and the growth is a lower bound), reads ``ru_maxrss`` (the baseline), runs the
   stage once under ``time.perf_counter`` and reads ``ru_maxrss`` again. Both the absolute
   peak and the growth over the baseline are reported. Generating the inputs and checking the
   outputs also run in child processes: ``ru_maxrss`` carries the parent's high-water mark
   across ``fork``/``exec``, so a parent holding 100,000 generated rows would set every
   child's floor.

   ========== ============================================== =====================================
   stage      what is timed                                  raw engine it is compared with
   ========== ============================================== =====================================
   load-xlsx  ``segsync.input.load_edits(edits.xlsx)``       ``raw-calamine``: ``CalamineWorkbook
                                                             .from_path(p).get_sheet_by_index(0)
                                                             .to_python()``
   load-csv   ``segsync.input.load_edits(edits.csv)``        ``raw-csv``: ``list(csv.reader(f))``
   diff       ``segsync.plan.differ.diff(editset, current)``      (none)
   write      ``output.results.write_results(result, p)``    ``raw-xlsxwriter``: the same rows ×
                                                             columns of plain cells, no formats,
                                                             ``constant_memory``
   ========== ============================================== =====================================

   The diff runs on the EditSet the xlsx load produced (pickled between processes); when the
   loader is unavailable or fails, on an EditSet built directly from the generated rows (marked
   *synthetic* in the output). The write runs on a ``RunResult`` built from the plan before the
   clock starts: one ``RowResult`` per row, ``updated`` (HTTP 200, the merged segment) or
   ``unchanged`` (the current segment), with changes and stats.
3. Checks the loader's output against the generated rows (xlsx and CSV must give the same typed
   values) and the diff's outcome counts against the number of rows generated as changed, so a
   fast-but-wrong stage cannot pass unnoticed.

Run::

    python bench/bench_pipeline.py                 # 100,000 rows, table
    python bench/bench_pipeline.py --repeat 5      # each stage in 5 fresh processes, fastest kept
    python bench/bench_pipeline.py --rows 20000 --json > bench.json
    python bench/bench_pipeline.py --profile write --keep

``--repeat N`` reports each stage's fastest of N runs (all runs are listed under the table);
use it for any ratio that matters: on a shared machine one run can be 5 to 10 % slow, and the
10,000-row diff takes about 25 ms. Whether the diff stays linear is read from its
microseconds per row (the line under the table) at ``--rows 10000`` and ``--rows 100000``.

``--profile STAGE`` (repeatable) runs that stage under cProfile and prints the top functions to
stderr; its time then includes the profiler's overhead. ``--keep`` leaves the generated files
(and prints where). A single stage can be re-run by hand on a kept folder::

    python bench/bench_pipeline.py --stage load-xlsx --workdir DIR [--profile load-xlsx]
"""

from __future__ import annotations

import argparse
import contextlib
import cProfile
import csv
import dataclasses
import gc
import io
import json
import os
import pickle
import platform
import pstats
import random
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

from segsync.input.editset import EditSet, RowEdit
from segsync.model import EDITABLE_FIELDS, FieldValue, Segment

HEADERS: tuple[str, ...] = ("id", *EDITABLE_FIELDS)
SHEET = "Segments"
CLEAR_MARKER = "#CLEAR"  # InputSettings' default
XLSX_DATA_ROWS_MAX = 1_048_575

#: File names inside the work folder.
F_XLSX = "edits.xlsx"
F_CSV = "edits.csv"
F_CURRENT = "current.pickle"
F_EDITSET = "editset.pickle"  # the xlsx load's EditSet (or a synthetic one), read by diff
F_EDITSET_CSV = "editset-csv.pickle"  # the CSV load's EditSet, for the parity check only
F_PLAN = "plan.pickle"
F_RESULTS = "results.xlsx"
F_RAW_XLSX = "raw.xlsx"
F_EXPECTED = "expected.pickle"  # what a correct loader returns: (id, values) per row
GENERATED = (
    F_XLSX,
    F_CSV,
    F_CURRENT,
    F_EXPECTED,
    F_EDITSET,
    F_EDITSET_CSV,
    F_PLAN,
    F_RESULTS,
    F_RAW_XLSX,
)

#: Stages in run order; each raw engine runs right after the stage it is compared with.
STAGES: tuple[str, ...] = (
    "load-xlsx",
    "raw-calamine",
    "load-csv",
    "raw-csv",
    "diff",
    "write",
    "raw-xlsxwriter",
)
#: stage → (label, raw engine stage or None)
PAIRS: dict[str, tuple[str, str | None]] = {
    "load-xlsx": ("load xlsx", "raw-calamine"),
    "load-csv": ("load csv", "raw-csv"),
    "diff": ("diff", None),
    "write": ("write xlsx", "raw-xlsxwriter"),
}
#: Helper steps, also in their own processes (so the parent stays small: see ``run_stage``).
HELPERS: tuple[str, ...] = ("generate", "check")
RAW_LABELS: dict[str, str] = {
    "raw-calamine": "calamine to_python",
    "raw-csv": "csv.reader → list",
    "raw-xlsxwriter": "xlsxwriter const_mem",
}

# ---------------------------------------------------------------------------------------------
# data generation

_LABELS = (
    "Donateurs fidèles",
    "Grands donateurs",
    "Relance été",
    "Campaña navideña",
    "Ação de Natal",
    "Spender Großraum",
    "Bénévoles actifs",
    "Anciens élèves",
    "Amis de l'école",
    "Soirée de gala",
    "Zuschüsse Köln",
    "Café solidaire",
    "Nouveaux abonnés",
    "Évènement printemps",
    "Membres d'honneur",
    "Øresund venner",
    "Łódź wsparcie",
    "Çocuklar için",
)
_REGIONS = (
    "Île-de-France",
    "Québec",
    "Genève",
    "Zürich",
    "Bretagne",
    "Provence-Alpes-Côte d'Azur",
    "São Paulo",
    "Málaga",
    "Kraków",
    "Reykjavík",
)


@dataclasses.dataclass(slots=True)
class Generated:
    """The sheet rows as written (cells, ``""`` for blank) and what the loader should make of
    them (typed values, blanks absent), plus the current state and how many rows differ."""

    cells: list[list[int | str]]
    expected: list[tuple[int, dict[str, FieldValue]]]
    current: dict[int, Segment]
    changed: int


def generate(rows: int, changed_fraction: float, seed: int) -> Generated:
    """Deterministic rows; ``changed_fraction`` of them differ from the current state."""
    rng = random.Random(seed)
    cells: list[list[int | str]] = []
    expected: list[tuple[int, dict[str, FieldValue]]] = []
    current: dict[int, Segment] = {}
    changed = 0
    campaigns = max(1, rows // 500)
    for i in range(rows):
        sid = 10_000_000 + 3 * i
        cid = 5_000 + rng.randrange(campaigns)
        region = rng.choice(_REGIONS)
        name = f"{rng.choice(_LABELS)} – {region} {i + 1}"
        code = f"{i + 1:06d}"  # unique, so the differ's shared-code warnings stay quiet
        description = (
            f"Segment {i + 1} : donateurs ciblés en {region}, campagne n°{cid} — relance "
            f"{rng.randrange(1, 5)}"
            if rng.random() < 0.6
            else ""
        )
        roll = rng.random()
        external = (
            CLEAR_MARKER
            if roll < 0.005
            else (f"CRM-{rng.randrange(10**8):08d}" if roll < 0.7 else "")
        )
        sheet_name = f" {name}  " if rng.random() < 0.01 else name  # stray spaces get trimmed

        values: dict[str, FieldValue] = {"campaignId": cid, "name": name, "code": code}
        if description:
            values["description"] = description
        if external:
            values["externalIdentifier"] = None if external == CLEAR_MARKER else external

        state: dict[str, FieldValue] = {f: values.get(f) for f in EDITABLE_FIELDS}
        if not description:  # blank cell: whatever the server holds is kept
            state["description"] = "Ancienne description" if rng.random() < 0.3 else None
        if not external:
            state["externalIdentifier"] = (
                f"CRM-{rng.randrange(10**8):08d}" if rng.random() < 0.5 else None
            )
        is_changed = external == CLEAR_MARKER
        if external == CLEAR_MARKER:
            state["externalIdentifier"] = f"CRM-{rng.randrange(10**8):08d}"
        if rng.random() < changed_fraction:
            is_changed = True
            first = rng.choice(_CHANGE_WEIGHTS)
            fields = [first if first in values else "name"]  # a blank cell cannot change
            if rng.random() < 0.2:  # some rows change two fields
                fields.append("code" if fields[0] != "code" else "name")
            for f in fields:
                state[f] = _old_value(f, values[f], rng)
        changed += is_changed

        cells.append([sid, cid, sheet_name, code, description, external])
        expected.append((sid, values))
        current[sid] = _segment(sid, state, cid, rng)
    return Generated(cells, expected, current, changed)


#: Which field a changed row changes, weighted (name most often, campaignId rarely).
_CHANGE_WEIGHTS: list[str] = (
    ["name"] * 10 + ["description"] * 4 + ["code"] * 3 + ["externalIdentifier"] * 2 + ["campaignId"]
)


def _old_value(field: str, new: FieldValue, rng: random.Random) -> FieldValue:
    """A current value for ``field`` that differs from ``new`` (what the sheet holds)."""
    if field == "campaignId":
        return int(new or 0) + 1
    if field == "code":
        return f"{new}A"
    if field == "name":
        return f"{new} (ancien nom)"
    if new is None:  # the sheet clears it
        return "ancienne valeur"
    return None if rng.random() < 0.3 else f"{new} — ancienne version"


def _segment(sid: int, state: dict[str, FieldValue], cid: int, rng: random.Random) -> Segment:
    donors = rng.randrange(0, 5_000)
    gifts = donors + rng.randrange(0, 2_000)
    total = rng.randrange(0, 10_000_000) / 100
    return Segment(
        id=sid,
        campaignId=state["campaignId"],  # type: ignore[arg-type]
        name=state["name"],  # type: ignore[arg-type]
        code=state["code"],  # type: ignore[arg-type]
        description=state["description"],  # type: ignore[arg-type]
        externalIdentifier=state["externalIdentifier"],  # type: ignore[arg-type]
        campaignName=f"Campagne {cid} – Noël",
        totalDonors=donors,
        totalGifts=gifts,
        totalGiftAmount=f"{total:.2f}",
        averageGiftAmount=f"{total / gifts if gifts else 0:.2f}",
        medianGiftAmount=f"{rng.randrange(500, 20_000) / 100:.2f}",
        highestGiftAmount=f"{rng.randrange(10_000, 500_000) / 100:.2f}",
        totalVisitors=gifts * 3,
        conversionRate=f"{rng.random():.4f}",
        createdDateTime="2023-11-02T09:15:00Z",
        modifiedDateTime=f"2024-{rng.randrange(1, 13):02d}-{rng.randrange(1, 29):02d}T10:00:00Z",
    )


def write_inputs(gen: Generated, workdir: Path) -> None:
    """The edits as xlsx (text-formatted code column, blanks left empty) and CSV, and the
    current state as a pickle."""
    import xlsxwriter

    workbook = xlsxwriter.Workbook(str(workdir / F_XLSX), {"constant_memory": True})
    sheet = workbook.add_worksheet(SHEET)
    bold = workbook.add_format({"bold": True})
    text = workbook.add_format({"num_format": "@"})
    sheet.set_column(2, 2, 40)
    sheet.set_column(3, 3, 10, text)
    sheet.set_column(4, 4, 60)
    for c, header in enumerate(HEADERS):
        sheet.write_string(0, c, header, bold)
    for r, row in enumerate(gen.cells, start=1):
        sheet.write_number(r, 0, row[0])
        sheet.write_number(r, 1, row[1])
        sheet.write_string(r, 2, row[2])  # type: ignore[arg-type]
        sheet.write_string(r, 3, row[3], text)  # type: ignore[arg-type]
        for c in (4, 5):
            if row[c]:
                sheet.write_string(r, c, row[c])  # type: ignore[arg-type]
    workbook.close()

    with open(workdir / F_CSV, "w", encoding="utf-8-sig", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(HEADERS)
        writer.writerows(gen.cells)

    with open(workdir / F_CURRENT, "wb") as fh:
        pickle.dump(gen.current, fh, protocol=pickle.HIGHEST_PROTOCOL)


def synthetic_editset(expected: list[tuple[int, dict[str, FieldValue]]], source: Path) -> EditSet:
    """What a correct loader returns for the generated xlsx (used when the loader cannot run)."""
    rows = [
        RowEdit(index=i, source_row=i + 2, segment_id=sid, values=dict(values))
        for i, (sid, values) in enumerate(expected)
    ]
    return EditSet(source=str(source), sheet=SHEET, rows=rows, columns={h: h for h in HEADERS})


# ---------------------------------------------------------------------------------------------
# child side: one stage, one process


def _maxrss_bytes() -> int:
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak if sys.platform == "darwin" else peak * 1024  # macOS: bytes; Linux: KiB


def _reset_peak_rss() -> bool:
    """Reset this process's RSS high-water mark to its current RSS (Linux ≥ 4.0).

    Without it the baseline would be the setup's peak (unpickling the inputs can briefly hold
    more than it keeps), hiding any stage that stays below it. ``ru_maxrss`` is
    ``max(hiwater of this image, hiwater inherited at exec)``; the inherited part is the
    parent's, which is why the parent generates nothing itself and stays small.
    """
    try:
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")
    except OSError:
        return False
    return True


def _pickle_load(path: Path) -> Any:
    with open(path, "rb") as fh:
        return pickle.load(fh)


def _pickle_dump(obj: Any, path: Path) -> None:
    with open(path, "wb") as fh:
        pickle.dump(obj, fh, protocol=pickle.HIGHEST_PROTOCOL)


Work = Callable[[], Any]
After = Callable[[Any], dict[str, Any]]


def _setup_load(path: Path, dump: Path) -> tuple[Work, After]:
    from segsync.config import InputSettings
    from segsync.input.loader import load_edits

    settings = InputSettings()

    def after(editset: EditSet) -> dict[str, Any]:
        _pickle_dump(editset, dump)
        return {
            "rows": len(editset.rows),
            "invalid_rows": len(editset.invalid_rows),
            "warnings": len(editset.warnings),
            "file_mb": round(path.stat().st_size / 2**20, 2),
        }

    return (lambda: load_edits(path, settings)), after


def _setup_raw_calamine(path: Path) -> tuple[Work, After]:
    from python_calamine import CalamineWorkbook

    def work() -> list[list[Any]]:
        return CalamineWorkbook.from_path(str(path)).get_sheet_by_index(0).to_python()

    return work, lambda rows: {"rows": len(rows) - 1}


def _setup_raw_csv(path: Path) -> tuple[Work, After]:
    def work() -> list[list[str]]:
        with open(path, encoding="utf-8-sig", newline="") as fh:
            return list(csv.reader(fh))

    return work, lambda rows: {"rows": len(rows) - 1}


def _setup_diff(workdir: Path) -> tuple[Work, After]:
    from segsync.plan.differ import Plan, diff

    synthetic = not (workdir / F_EDITSET).exists()
    editset: EditSet = (
        synthetic_editset(_pickle_load(workdir / F_EXPECTED), workdir / F_XLSX)
        if synthetic
        else _pickle_load(workdir / F_EDITSET)
    )
    current: dict[int, Segment] = _pickle_load(workdir / F_CURRENT)

    def after(plan: Plan) -> dict[str, Any]:
        _pickle_dump(plan, workdir / F_PLAN)
        counts = Counter("to_send" if r.to_send else str(r.outcome) for r in plan.rows)
        return {
            "rows": len(plan.rows),
            "outcomes": dict(counts),
            "warnings": len(plan.warnings),
            "editset": "synthetic" if synthetic else "loader (xlsx)",
        }

    return (lambda: diff(editset, current)), after


def _setup_write(workdir: Path) -> tuple[Work, After]:
    from segsync.output.results import write_results

    result = run_result_from_plan(_pickle_load(workdir / F_PLAN))
    target = workdir / F_RESULTS

    def after(path: Path) -> dict[str, Any]:
        return {
            "rows": len(result.rows),
            "outcomes": result.counts(),
            "file_mb": round(Path(path).stat().st_size / 2**20, 2),
        }

    return (lambda: write_results(result, target)), after


def run_result_from_plan(plan: Any) -> Any:
    """The ``RunResult`` a successful run of ``plan`` would produce: rows to send are
    ``updated`` with the merged segment the API would return, the rest keep their outcome."""
    from segsync.outcomes import Outcome, RowResult, RunResult

    now = datetime.now(UTC)
    stamp = now.strftime("%Y-%m-%dT%H:%M:%SZ")
    rows: list[RowResult] = []
    sent = 0
    for rp in plan.rows:
        edit = rp.edit
        if rp.to_send:
            sent += 1
            after = dataclasses.replace(rp.before, **rp.body.to_json(), modifiedDateTime=stamp)
            rows.append(
                RowResult(
                    edit.index,
                    edit.source_row,
                    edit.segment_id,
                    Outcome.UPDATED,
                    changes=rp.changes,
                    http_status=200,
                    attempts=1,
                    segment=after,
                    extras=edit.extras,
                )
            )
        else:
            rows.append(
                RowResult(
                    edit.index,
                    edit.source_row,
                    edit.segment_id,
                    rp.outcome,
                    changes=rp.changes,
                    error=rp.error,
                    segment=rp.before,
                    extras=edit.extras,
                )
            )
    return RunResult(
        run_id=now.strftime("%Y%m%d-%H%M%S-bench"),
        command="sync",
        dry_run=False,
        source=F_XLSX,
        sheet=SHEET,
        sha256=None,
        started_at=now,
        finished_at=now,
        rows=rows,
        requests=Counter({"GET list": max(1, len(rows) // 100), "PUT": sent}),
        statuses=Counter({200: max(1, len(rows) // 100) + sent}),
        network_seconds=sent / 10,
        fetch_strategy="list",
        config_summary={"rate_limit": {"requests_per_second": 10}, "bench": True},
        warnings=list(plan.warnings),
    )


def results_columns() -> int:
    """Columns of the results sheet (without unknown input columns, of which we have none)."""
    from segsync.model import STAT_FIELDS
    from segsync.output.rows import CURRENT_HEADERS, FIXED_HEADERS

    return len(FIXED_HEADERS) + len(STAT_FIELDS) + len(CURRENT_HEADERS)


def _setup_raw_xlsxwriter(workdir: Path, rows: int) -> tuple[Work, After]:
    import xlsxwriter

    cols = results_columns()
    target = workdir / F_RAW_XLSX

    def work() -> Path:
        workbook = xlsxwriter.Workbook(str(target), {"constant_memory": True})
        sheet = workbook.add_worksheet("Results")
        write_string, write_number = sheet.write_string, sheet.write_number
        for c in range(cols):
            write_string(0, c, f"column {c}")
        for r in range(1, rows + 1):
            # A third numbers, the rest short unique text with an accent: like a results row.
            for c in range(cols):
                if c % 3 == 0:
                    write_number(r, c, r * 31 + c)
                else:
                    write_string(r, c, f"valeur é {r}-{c}")
        workbook.close()
        return target

    def after(path: Path) -> dict[str, Any]:
        return {"rows": rows, "columns": cols, "file_mb": round(path.stat().st_size / 2**20, 2)}

    return work, after


def run_helper(args: argparse.Namespace) -> int:
    """Child, unmeasured: generate the inputs, or check the loader's and differ's output."""
    workdir: Path = args.workdir
    if args.stage == "generate":
        start = time.perf_counter()
        gen = generate(args.rows, args.changed, args.seed)
        write_inputs(gen, workdir)
        _pickle_dump(gen.expected, workdir / F_EXPECTED)
        record: dict[str, Any] = {"seconds": time.perf_counter() - start, "changed": gen.changed}
    else:
        expected = _pickle_load(workdir / F_EXPECTED)
        record = {
            "xlsx_vs_generated": parity(expected, workdir / F_EDITSET),
            "csv_vs_generated": parity(expected, workdir / F_EDITSET_CSV),
        }
    print(json.dumps(record, ensure_ascii=False))
    return 0


def run_stage(args: argparse.Namespace) -> int:
    """Child: set up, take the baseline, time the stage once, report one JSON line."""
    workdir: Path = args.workdir
    stage: str = args.stage
    if stage in HELPERS:
        return run_helper(args)
    try:
        if stage == "load-xlsx":
            work, after = _setup_load(args.input or workdir / F_XLSX, workdir / F_EDITSET)
        elif stage == "load-csv":
            work, after = _setup_load(args.input or workdir / F_CSV, workdir / F_EDITSET_CSV)
        elif stage == "raw-calamine":
            work, after = _setup_raw_calamine(args.input or workdir / F_XLSX)
        elif stage == "raw-csv":
            work, after = _setup_raw_csv(args.input or workdir / F_CSV)
        elif stage == "diff":
            work, after = _setup_diff(workdir)
        elif stage == "write":
            work, after = _setup_write(workdir)
        elif stage == "raw-xlsxwriter":
            work, after = _setup_raw_xlsxwriter(workdir, args.rows)
        else:
            raise SystemExit(f"unknown stage {stage!r}")
        gc.collect()
        reset = _reset_peak_rss()
        baseline = _maxrss_bytes()
        profiler = cProfile.Profile() if stage in (args.profile or ()) else None
        start = time.perf_counter()
        output = profiler.runcall(work) if profiler else work()
        seconds = time.perf_counter() - start
        peak = _maxrss_bytes()
        info = after(output)
    except Exception as exc:  # report, let the parent carry on with the other stages
        print(json.dumps({"error": f"{type(exc).__name__}: {exc}"}))
        return 1
    if profiler:
        out = io.StringIO()
        pstats.Stats(profiler, stream=out).sort_stats("cumulative").print_stats(30)
        out.write("--- by own time ---\n")
        pstats.Stats(profiler, stream=out).sort_stats("tottime").print_stats(20)
        print(f"=== cProfile: {stage} ===\n{out.getvalue()}", file=sys.stderr)
    record = {
        "seconds": seconds,
        "peak_rss_mb": peak / 2**20,
        "baseline_rss_mb": baseline / 2**20,
        "growth_mb": (peak - baseline) / 2**20,
        "peak_reset": reset,
        "profiled": profiler is not None,
        "info": info,
    }
    print(json.dumps(record))
    return 0


# ---------------------------------------------------------------------------------------------
# parent side


def run_child(stage: str, args: argparse.Namespace, workdir: Path) -> dict[str, Any]:
    command = [
        sys.executable,
        str(Path(__file__).resolve()),
        "--stage",
        stage,
        "--workdir",
        str(workdir),
        "--rows",
        str(args.rows),
        "--changed",
        str(args.changed),
        "--seed",
        str(args.seed),
    ]
    for name in args.profile or ():
        command += ["--profile", name]
    proc = subprocess.run(command, capture_output=True, text=True, check=False)
    if proc.stderr.strip():
        lines = proc.stderr.rstrip().splitlines()
        shown = lines if args.profile and stage in args.profile else lines[-15:]
        print(f"[{stage}] stderr:\n" + "\n".join(shown), file=sys.stderr)
    last = proc.stdout.strip().splitlines()[-1:] if proc.stdout.strip() else []
    try:
        return json.loads(last[0]) if last else {"error": f"exit {proc.returncode}, no report"}
    except json.JSONDecodeError:
        return {"error": f"exit {proc.returncode}: {last[0][:200]}"}


def best_of(stage: str, args: argparse.Namespace, workdir: Path) -> dict[str, Any]:
    """``--repeat`` runs of a stage, each in a fresh process: the fastest one's record, with
    every run's seconds (``runs``) to show the spread. One run that fails fails the stage."""
    records = [run_child(stage, args, workdir) for _ in range(max(1, args.repeat))]
    failed = [r for r in records if "error" in r]
    if failed:
        return failed[0]
    best = dict(min(records, key=lambda r: r["seconds"]))
    best["runs"] = [r["seconds"] for r in records]
    return best


def parity(expected: list[tuple[int, dict[str, FieldValue]]], path: Path) -> dict[str, Any]:
    """How many rows of a loaded EditSet differ from what the generator wrote."""
    if not path.exists():
        return {"checked": False}
    editset: EditSet = _pickle_load(path)
    mismatches = 0
    example = None
    for (sid, values), row in zip(expected, editset.rows, strict=False):
        got = (row.segment_id, row.values)
        if got != (sid, values) or row.errors:
            mismatches += 1
            if example is None:
                example = {
                    "source_row": row.source_row,
                    "expected": [sid, values],
                    "got": [row.segment_id, row.values],
                    "errors": [str(e) for e in row.errors],
                }
    return {
        "checked": True,
        "rows": len(editset.rows),
        "expected_rows": len(expected),
        "mismatched_rows": mismatches + abs(len(editset.rows) - len(expected)),
        "first_mismatch": example,
    }


def _versions() -> dict[str, str]:
    found = {}
    for dist in ("segsync", "python-calamine", "xlsxwriter"):
        with contextlib.suppress(metadata.PackageNotFoundError):
            found[dist] = metadata.version(dist)
    return found


def _ratio(a: float | None, b: float | None, *, floor: float = 0.0) -> float | None:
    """``a / b``, or None when either is missing or ``b`` is too small to divide by."""
    return a / b if a is not None and b is not None and b > floor else None


def comparisons(stages: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    rows = []
    for stage, (label, raw) in PAIRS.items():
        mine, base = stages.get(stage, {}), stages.get(raw, {}) if raw else {}
        rows.append(
            {
                "stage": stage,
                "label": label,
                "raw": raw,
                "time_ratio": _ratio(mine.get("seconds"), base.get("seconds")),
                "growth_ratio": _ratio(mine.get("growth_mb"), base.get("growth_mb"), floor=5.0),
            }
        )
    return rows


def _per_row_us(stage: dict[str, Any], rows: int) -> float | None:
    """Microseconds per row of a stage's fastest run, or None when it did not run."""
    seconds = stage.get("seconds")
    return None if seconds is None or "error" in stage else seconds / rows * 1e6


def _fmt(value: float | None, spec: str) -> str:
    return "—" if value is None else format(value, spec)


def render_table(report: dict[str, Any]) -> str:
    stages = report["stages"]
    head = (
        f"{'stage':<11} {'s':>7} {'peak MB':>8} {'+MB':>7} │ {'raw engine':<21} {'s':>7} "
        f"{'peak MB':>8} {'+MB':>7} │ {'×time':>6} {'×mem':>6}"
    )
    lines = [
        f"segsync pipeline benchmark: {report['rows']:,} rows, {report['changed_rows']:,} "
        f"changed; Python {report['python']}, {report['cpus']} CPUs; "
        f"generate {report['generate_seconds']:.1f}s",
        head,
        "─" * len(head),
    ]

    def cells(name: str | None, width: int) -> str:
        if name is None:
            return f"{'—':<{width}} {'':>7} {'':>8} {'':>7}"
        s = stages.get(name, {})
        label = PAIRS[name][0] if name in PAIRS else RAW_LABELS[name]
        if "error" in s:
            return f"{label:<{width}} {'error':>7} {'':>8} {'':>7}"
        return (
            f"{label:<{width}} {_fmt(s.get('seconds'), '.3f'):>7} "
            f"{_fmt(s.get('peak_rss_mb'), '.0f'):>8} {_fmt(s.get('growth_mb'), '.0f'):>7}"
        )

    for cmp in report["comparisons"]:
        lines.append(
            f"{cells(cmp['stage'], 11)} │ {cells(cmp['raw'], 21)} │ "
            f"{_fmt(cmp['time_ratio'], '.1f'):>6} {_fmt(cmp['growth_ratio'], '.1f'):>6}"
        )
    lines.append("s: wall seconds; peak MB: ru_maxrss of the stage's process; +MB: over its")
    lines.append("post-import/post-setup baseline; ×: stage ÷ raw engine.")
    if report.get("repeat", 1) > 1:
        spread = ", ".join(
            f"{name} {min(s['runs']):.3f}–{max(s['runs']):.3f}"
            for name, s in stages.items()
            if s.get("runs")
        )
        lines.append(f"fastest of {report['repeat']} runs each; all runs (s): {spread}")
    per_row = report.get("diff_us_per_row")
    if per_row is not None:
        lines.append(
            f"diff: {per_row:.2f} µs per row (compare with another --rows: linear when it holds)"
        )
    for name, s in stages.items():
        if "error" in s:
            lines.append(f"! {name}: {s['error']}")
        elif s.get("profiled"):
            lines.append(f"! {name}: ran under cProfile (time includes profiler overhead)")
    for note in report["notes"]:
        lines.append(f"! {note}")
    return "\n".join(lines)


def run_all(args: argparse.Namespace) -> int:
    if not 1 <= args.rows <= XLSX_DATA_ROWS_MAX:
        raise SystemExit(f"--rows must be between 1 and {XLSX_DATA_ROWS_MAX:,}")
    made_dir = args.workdir is None
    workdir = Path(args.workdir or tempfile.mkdtemp(prefix="segsync-bench-"))
    workdir.mkdir(parents=True, exist_ok=True)
    notes: list[str] = []
    stages: dict[str, dict[str, Any]] = {}
    try:
        _remove(workdir / name for name in GENERATED)  # nothing stale from an earlier --keep
        print("… generate", file=sys.stderr, flush=True)
        generated = run_child("generate", args, workdir)
        if "error" in generated or "changed" not in generated:
            raise SystemExit(f"generating the inputs failed: {generated}")
        generate_seconds, changed = generated["seconds"], generated["changed"]

        for stage in STAGES:
            print(f"… {stage}", file=sys.stderr, flush=True)
            stages[stage] = best_of(stage, args, workdir)
        if stages["diff"].get("info", {}).get("editset") == "synthetic":
            notes.append("diff ran on a synthetic EditSet (the xlsx load did not succeed)")

        checks = run_child("check", args, workdir)
        checks["expected_changed_rows"] = changed
        checks["diff_to_send"] = stages["diff"].get("info", {}).get("outcomes", {}).get("to_send")
        for key in ("xlsx_vs_generated", "csv_vs_generated"):
            check = checks.get(key, {})
            if check.get("checked") and check["mismatched_rows"]:
                notes.append(
                    f"{key}: {check['mismatched_rows']:,} rows differ; first: "
                    f"{json.dumps(check['first_mismatch'], ensure_ascii=False)}"
                )
        if checks["diff_to_send"] is not None and checks["diff_to_send"] != changed:
            notes.append(
                f"diff would send {checks['diff_to_send']:,} rows, generator changed "
                f"{changed:,} (outcomes: {stages['diff']['info']['outcomes']})"
            )
        report: dict[str, Any] = {
            "rows": args.rows,
            "repeat": max(1, args.repeat),
            "changed_rows": changed,
            "seed": args.seed,
            "python": platform.python_version(),
            "platform": platform.platform(),
            "cpus": os.cpu_count(),
            "versions": _versions(),
            "generate_seconds": generate_seconds,
            "files_mb": {
                name: round((workdir / name).stat().st_size / 2**20, 2) for name in (F_XLSX, F_CSV)
            },
            "stages": stages,
            "comparisons": comparisons(stages),
            "diff_us_per_row": _per_row_us(stages.get("diff", {}), args.rows),
            "checks": checks,
            "notes": notes,
            "workdir": str(workdir) if args.keep else None,
        }
        table = render_table(report)
        if args.json:
            print(table, file=sys.stderr)
            print(json.dumps(report, indent=2, ensure_ascii=False))
        else:
            print(table)
        if args.keep:
            print(f"files kept in {workdir}", file=sys.stderr)
    finally:
        if not args.keep:
            if made_dir:
                shutil.rmtree(workdir, ignore_errors=True)
            else:
                _remove(workdir / name for name in GENERATED)
    failed = any("error" in stages.get(s, {}) for s in STAGES)
    return 1 if failed else 0


def _remove(paths: Iterable[Path]) -> None:
    for path in paths:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=100_000, help="data rows (default 100,000)")
    parser.add_argument(
        "--changed", type=float, default=0.3, help="fraction of rows that differ (default 0.3)"
    )
    parser.add_argument("--seed", type=int, default=20240501)
    parser.add_argument("--workdir", type=Path, help="folder for generated files (default: temp)")
    parser.add_argument("--keep", action="store_true", help="keep the generated files")
    parser.add_argument("--json", action="store_true", help="JSON on stdout, table on stderr")
    parser.add_argument(
        "--repeat",
        type=int,
        default=1,
        metavar="N",
        help="run each stage N times (each in a fresh process) and report the fastest",
    )
    parser.add_argument(
        "--profile",
        action="append",
        choices=STAGES,
        metavar="STAGE",
        help=f"run STAGE under cProfile, top functions to stderr (one of: {', '.join(STAGES)})",
    )
    parser.add_argument("--stage", choices=STAGES + HELPERS, help=argparse.SUPPRESS)
    parser.add_argument("--input", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.stage and args.workdir is None:
        parser.error("--stage needs --workdir")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    return run_stage(args) if args.stage else run_all(args)


if __name__ == "__main__":
    sys.exit(main())
