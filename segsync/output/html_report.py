"""The HTML report of a run (``--report FILE.html``): one self-contained file a browser opens.

The report is ``segsync/templates/report.html`` rendered from a ``RunView``
(``segsync.output.views``); the web page renders the same partials (``partials/summary.html``,
``problems.html``, ``changes.html``, ``unchanged.html``) from the same view, through
``template_env``. Jinja2 escapes every value (autoescape on for every template), and an
undefined name is an error rather than a blank, so a typo in a template fails the tests.

The file has no script and loads nothing: styles are inline, the only links are ``#section``
anchors, and a Content-Security-Policy forbids every fetch, so it opens from disk, from a mail
attachment or a file share the same way, and prints cleanly.
"""

from __future__ import annotations

import dataclasses
from functools import cache
from pathlib import Path

from jinja2 import Environment, PackageLoader, StrictUndefined

from segsync.outcomes import RunResult
from segsync.output.atomic import atomic_file
from segsync.output.plural import counted
from segsync.output.views import RunView, build_view

__all__ = ["REPORT_LIMIT", "render_report", "template_env", "write_html_report"]

REPORT_TEMPLATE = "report.html"
#: problems, changed fields and unchanged rows the report lists at most (each list in input
#: order; the counts stay whole, and the results workbook lists every row): a report of a
#: million-row run stays a page a browser opens at once, not hundreds of megabytes
REPORT_LIMIT = 1_000


def template_env() -> Environment:
    """A new Jinja2 environment over ``segsync/templates``: autoescaped, strict undefined.

    The web page builds its own from this (e.g. adding a loader for its pages) and includes
    the partials, each of which needs only ``view``, a ``RunView``.
    """
    env = Environment(
        loader=PackageLoader("segsync", "templates"),
        autoescape=True,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        auto_reload=False,
    )
    env.filters["counted"] = counted  # ``{{ n|counted("row") }}``: 1 row, 12 rows
    return env


@cache
def _shared_env() -> Environment:
    return template_env()


def render_report(view: RunView) -> str:
    """The report of ``view`` as one HTML document."""
    return _shared_env().get_template(REPORT_TEMPLATE).render(view=view)


def write_html_report(
    result: RunResult, path: str | Path, *, plan_path: str | Path | None = None
) -> Path:
    """Write the HTML report of ``result`` to ``path`` atomically; returns the path.

    ``plan_path`` is the plan file a ``plan`` run saved (named in "what to do next"). Each
    list holds the first ``REPORT_LIMIT`` rows and says where the others are.
    """
    target = Path(path)
    view = build_view(result, plan_path=plan_path, limit=REPORT_LIMIT)
    if result.results_path:
        view = dataclasses.replace(view, full_list_in=Path(result.results_path).name)
    html = render_report(view)
    with atomic_file(target) as handle:
        handle.write(html.encode("utf-8"))
    return target
