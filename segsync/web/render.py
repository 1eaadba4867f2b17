"""The page templates: the HTML report's Jinja2 environment with the web's pages added.

``make_env`` takes the report's environment (``segsync.output.html_report.template_env``:
autoescape on, undefined names are errors) and puts a loader for ``segsync/web/templates`` in
front of its own, so a web page includes the report's partials (``partials/summary.html``,
``problems.html``, ``changes.html``, ``unchanged.html``, ``macros.html``) unchanged.

Styles: the page's Content-Security-Policy allows no inline style or script. The report keeps
its CSS inline in ``partials/style.html`` (a report is one self-contained file), so the app
renders that partial once at start-up and serves its CSS as ``/static/report.css``; the web's
own additions are ``static/web.css``. One source for the report's look, no ``unsafe-inline``.
"""

from __future__ import annotations

import dataclasses
import re
from datetime import datetime
from importlib import resources
from typing import Any

from jinja2 import ChoiceLoader, Environment, PackageLoader

from segsync.outcomes import RunResult
from segsync.output.html_report import template_env
from segsync.output.views import NextStep, ProblemView, RunView, build_view

#: problems, changed fields and unchanged rows listed on a page at most
PAGE_LIMIT = 500
#: static files served from the package, with their content types
STATIC_FILES = {
    "web.css": "text/css",
    "progress.js": "text/javascript",
    "dropzone.js": "text/javascript",
    "mapping.css": "text/css",
}
_STYLE_TAG = re.compile(r"^\s*<style[^>]*>(?P<css>.*)</style>\s*$", re.DOTALL)
#: facts of the report that name files the page offers as downloads instead
_DOWNLOAD_FACTS = frozenset({"Preview file", "Results file", "Plan file"})
#: the library's hint to a terminal user, at the end of a conflict's reason
_CLI_HINT = re.compile(r"\s*\((?:make a new plan, or )?(?:apply|run|sync) with --force[^)]*\)")
CONFLICT_ADVICE = (
    "Someone changed this segment after it was read, so your change was not sent. Upload the "
    "sheet again: the new preview shows their change, and you can decide whether yours still "
    "applies."
)


def make_env() -> Environment:
    """The report's environment with the web's templates in front (names do not overlap)."""
    env = template_env()
    base_loader = env.loader
    assert base_loader is not None
    env.loader = ChoiceLoader([PackageLoader("segsync.web", "templates"), base_loader])
    env.filters["when"] = when
    env.filters["seconds"] = seconds
    return env


def report_css(env: Environment) -> str:
    """The CSS of the report's ``partials/style.html``, without its ``<style>`` element."""
    html = env.get_template("partials/style.html").render()
    match = _STYLE_TAG.match(html)
    if match is None:
        raise RuntimeError("partials/style.html is no longer one <style> element")
    return match.group("css").strip() + "\n"


def static_files(env: Environment) -> dict[str, tuple[bytes, str]]:
    """Every asset the pages load, in memory: name → (bytes, content type)."""
    files = {"report.css": (report_css(env).encode("utf-8"), "text/css")}
    folder = resources.files("segsync.web") / "static"
    for name, kind in STATIC_FILES.items():
        files[name] = ((folder / name).read_bytes(), kind)
    return files


def web_view(result: RunResult, limit: int | None = None, *, applied: bool = False) -> RunView:
    """The report's view of ``result``, with "what to do next" said in the page's terms.

    The report tells a terminal user which command to type; the page has buttons for the same
    things, and offers the files as downloads instead of naming their paths. It lists the
    first ``PAGE_LIMIT`` problems, changes and unchanged rows (the counts are whole; the page
    says "showing N of M" and the workbook has them all), so a page stays a page at a million
    rows. A preview that was ``applied`` since no longer says that nothing was sent.
    """
    view = build_view(result, limit=PAGE_LIMIT if limit is None else limit)
    steps = tuple(_web_step(step, view) for step in view.next_steps)
    hidden = _DOWNLOAD_FACTS | ({"Run id"} if view.dry_run else set())  # a preview is no run
    facts = tuple(f for f in view.facts if f.label not in hidden)
    problems = tuple(_web_problem(p) for p in view.problems)
    view = dataclasses.replace(view, next_steps=steps, facts=facts, problems=problems)
    return applied_view(view) if applied else view


def applied_view(view: RunView) -> RunView:
    """``view`` (a page's preview, from ``web_view``) once the preview was applied: it no longer
    says that nothing was sent. The view is built once, in the job's thread; this only rewords."""
    return dataclasses.replace(
        view,
        headline="This preview was applied. The run's page says what was sent and what "
        "happened to each row.",
        next_steps=tuple(_web_step(step, view, applied=True) for step in view.next_steps),
    )


def _web_problem(problem: ProblemView) -> ProblemView:
    """A problem worded for the page, which has no ``--force`` and no plan files."""
    if problem.outcome != "conflict":
        return problem
    return dataclasses.replace(
        problem,
        reason=_CLI_HINT.sub("", problem.reason),
        advice=CONFLICT_ADVICE,
    )


def _web_step(step: NextStep, view: RunView, *, applied: bool = False) -> NextStep:
    if view.dry_run and applied and step.text.startswith("Nothing was changed"):
        return NextStep("This preview was applied: see the run for what was sent.", kind="info")
    if step.command is None:
        return step
    if step.command.startswith("segsync rollback"):
        return NextStep("To undo this run, roll it back from the Runs page.", kind="info")
    if "--only-failed" in step.command:
        return NextStep(
            "To send the failed and unsent rows again, upload the same sheet again: rows "
            "already applied are unchanged and are not sent twice.",
            kind="action",
        )
    if view.dry_run:
        verb = "roll it back" if view.command == "rollback" else "apply it"
        return NextStep(
            f"Nothing was changed: this is a preview. To send it, review and {verb}.",
            kind="action",
        )
    return NextStep(step.text.rstrip(":") + ".", kind=step.kind)


def when(moment: Any) -> str:
    """A time as people read it here: this computer's time to the second, with its zone
    (``2026-12-06 04:20:25 UTC``, ``2026-12-05 23:20:25 -0500``), as the report says it."""
    if isinstance(moment, str):
        try:
            moment = datetime.fromisoformat(moment)
        except ValueError:
            return moment
    if not isinstance(moment, datetime):
        return ""
    if moment.tzinfo is None:
        return moment.strftime("%Y-%m-%d %H:%M:%S")
    local = moment.astimezone()
    text = local.strftime("%Y-%m-%d %H:%M:%S")
    return f"{text} UTC" if not local.utcoffset() else f"{text} {local.strftime('%z')}"


def seconds(value: Any) -> str:
    """``95`` → ``1 min 35 s``; None → ``–``."""
    if value is None:
        return "–"
    total = round(float(value))
    if total < 60:
        return f"{total} s"
    minutes, secs = divmod(total, 60)
    if minutes < 60:
        return f"{minutes} min {secs:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"
