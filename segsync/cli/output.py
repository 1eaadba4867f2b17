"""What a command prints: a summary for people, or (``--json``) one object for a machine.

With ``--json`` the JSON object is the only thing on stdout and the human summary goes to
stderr, so a nightly job can parse stdout and still log what a person would read. The keys are
documented in the README ("Machine-readable result"). A closed stdout (``| head``) ends the
output quietly: the reader has gone, which is not the command's failure.
"""

from __future__ import annotations

import io
import json
import os
import sys
from typing import TYPE_CHECKING, Any

import click

from segsync.output.plural import counted
from segsync.secrets import redact

if TYPE_CHECKING:
    from segsync.outcomes import RowResult, RunResult

#: problems listed in the terminal before "... and N more"
SHOWN_PROBLEMS = 10


class Stdout:
    """Whether stdout was closed by its reader (reset by each command)."""

    closed = False


def echo(text: str, *, err: bool = False) -> None:
    """Print a line; a closed stdout silences the rest (the Python docs' SIGPIPE recipe)."""
    if err:
        click.echo(text, err=True)
        return
    if Stdout.closed:
        return
    try:
        click.echo(text)
    except BrokenPipeError:
        _stdout_to_devnull()


def _stdout_to_devnull() -> None:
    Stdout.closed = True
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError, io.UnsupportedOperation):
        pass  # not a real file descriptor (an in-process test runner): nothing to flush later


_TITLES = {"rollback": "Rollback", "apply": "Apply", "plan": "Plan", "sync": "Sync"}


def summary_lines(result: RunResult, *, plan_path: str | None = None) -> list[str]:
    """The terminal summary: counts, the first problems, requests, where the files are."""
    from segsync.outcomes import PROBLEM_OUTCOMES

    title = _TITLES.get(result.command, "Sync")
    if result.dry_run:
        title += " preview (nothing was sent)" if result.command != "plan" else ""
    sheet = f", sheet '{shown_line(result.sheet_label)}'" if result.sheet_label else ""
    source = result.source
    if result.command == "rollback":  # "rollback of run X (file)": the title says "Rollback"
        source = source.removeprefix("rollback of ")
    lines = [f"{title} of {source}{sheet}: {counted(len(result.rows), 'row')}"]
    if result.command == "rollback":
        from segsync.output.views import headline

        lines.append(f"  {headline(result)}")
    if result.columns:
        lines.append("  columns: " + "; ".join(shown_line(c) for c in result.column_lines()))
    lines += [f"  {outcome:26} {count}" for outcome, count in result.counts().items()]
    if result.moves:
        verb = "would move" if result.dry_run else "moved"
        lines.append(f"  {'(' + verb + ' campaign)':26} {result.moves}")
    problems = [r for r in result.rows if r.outcome in PROBLEM_OUTCOMES]
    if problems:
        lines.append("  problems:")
        for row in problems[:SHOWN_PROBLEMS]:
            lines.append(f"    {problem_text(row, result.sheet)}")
        if len(problems) > SHOWN_PROBLEMS:
            more = len(problems) - SHOWN_PROBLEMS
            lines.append(f"    ... and {more:,} more in the Problems sheet")
    requests = ", ".join(f"{k} {v}" for k, v in sorted(result.requests.items())) or "none"
    lines.append(
        f"  requests: {requests} ({result.throttled} throttled), "
        f"{result.achieved_rate:.1f}/s, {result.duration_s:.1f}s"
    )
    if result.fetch_strategy:
        lines.append(f"  current state: {result.fetch_strategy}")
    lines += [f"  warning: {warning}" for warning in result.warnings]
    if result.aborted:
        lines.append(f"  ABORTED: {result.aborted}")
    lines += server_lines(result.config_summary.get("api.base_url"))
    if result.journal_path:
        wrote = any(r.outcome.value.startswith("updated") for r in result.rows)
        undo = f" (undo with: segsync rollback {result.run_id})" if wrote else ""
        lines.append(f"  run id: {result.run_id}{undo}")
    if plan_path:
        lines.append(f"  plan: {plan_path} (send it with: segsync apply {plan_path})")
    lines.append(f"  {'preview' if result.dry_run else 'results'}: {result.results_path}")
    return [redact(line) for line in lines]


def shown_line(text: str) -> str:
    """File text (a header) on one line, escaped as every message escapes it."""
    from segsync.input.messages import shown

    return shown(text, 120)


def server_lines(base_url: Any) -> list[str]:
    """Where the run went, and for the embedded sandbox how to point segsync at Raise."""
    from segsync.config import SANDBOX

    if not isinstance(base_url, str) or base_url.strip().lower() != SANDBOX:
        return [f"  server: {base_url}"]
    return [
        "  server: the embedded sandbox (demo data on this computer, not Raise)",
        f"  to use Raise: {RAISE_HINT}",
    ]


#: how to point segsync at Raise, wherever the sandbox is named
RAISE_HINT = (
    "export RAISE_API_TOKEN=... and add --base-url https://prod-api.raisedonors.com "
    "(or set api.base_url in config.yaml: segsync init writes one)"
)


def problem_text(row: RowResult, sheet: str) -> str:
    """``Edits!C17 id 100021: name: contains a tab ...`` on one line (row number if no cell)."""
    from segsync.output.views import problem_view

    view = problem_view(row, sheet)
    where = view.cell or f"row {row.source_row}"
    ident = f"id {row.segment_id}" if row.segment_id is not None else "no id"
    return f"{where} {ident}: {view.reason}"


def result_json(
    result: RunResult,
    exit_code: int,
    *,
    plan_path: str | None = None,
    report_path: str | None = None,
) -> dict[str, Any]:
    """The ``--json`` object (keys documented in the README)."""
    from segsync.outcomes import PROBLEM_OUTCOMES
    from segsync.output.views import problem_view

    problems = [r for r in result.rows if r.outcome in PROBLEM_OUTCOMES]
    return {
        "command": result.command,
        "dry_run": result.dry_run,
        "base_url": result.config_summary.get("api.base_url"),
        "run_id": result.run_id if result.journal_path else None,
        "exit_code": exit_code,
        "source": result.source,
        "sheet": result.sheet,
        "columns": result.column_map,
        "rows": len(result.rows),
        "counts": result.counts(),
        "moves": result.moves,
        "results": result.results_path,
        "plan": plan_path,
        "report": report_path,
        "journal": result.journal_path,
        "duration_s": round(result.duration_s, 3),
        "requests": dict(result.requests),
        "requests_total": result.total_requests,
        "throttled": result.throttled,
        "aborted": result.aborted,
        "warnings": list(result.warnings),
        "problems_total": len(problems),
        "problems": [
            {
                "row": r.source_row,
                "id": r.segment_id,
                "cell": (view := problem_view(r, result.sheet)).cell,
                "outcome": r.outcome.value,
                "reason": view.reason,
            }
            for r in problems[:SHOWN_PROBLEMS]
        ],
    }


def fatal_json(message: str, exit_code: int) -> dict[str, Any]:
    """The ``--json`` object of a command that ended in an error before it had a result."""
    context = click.get_current_context(silent=True)
    return {
        "command": context.info_name if context else None,
        "exit_code": exit_code,
        "error": message,
    }


def print_result(
    result: RunResult,
    exit_code: int,
    *,
    as_json: bool,
    plan_path: str | None = None,
    report_path: str | None = None,
) -> None:
    """The summary on stdout, or with ``as_json`` the summary on stderr and JSON on stdout."""
    lines = summary_lines(result, plan_path=plan_path)
    if report_path:
        lines.append(f"  report: {report_path}")
    echo("\n".join(lines), err=as_json)
    if as_json:
        data = result_json(result, exit_code, plan_path=plan_path, report_path=report_path)
        echo(redact(json.dumps(data, ensure_ascii=False, default=str)))
