"""Alerts: after a run, its headline, counts, exit code and problem count to the team's services.

Through Apprise (one URL per service: ``slack://``, ``msteams://``, ``mailto://``, ``ntfy://``,
``json://`` for a webhook ...). The URLs are ``notify.urls`` in the config, the space-separated
URLs in the environment variable ``notify.urls_env`` (for URLs that carry a service's secret),
and ``--notify URL`` flags. ``notify.when`` chooses which runs are told: ``always``, ``problems``
(exit code not 0, the default) or ``failure`` (exit code 2 or more: nothing, or not everything,
was sent).

A notice says only what the run's summary says at the top: its headline, rows per outcome, exit
code, problem count, run id and input file name. Never a row's values, never the token. A
notice that cannot be delivered is a warning in the log and on stderr; it never changes the
run's exit code.
"""

from __future__ import annotations

import logging
import os
import threading
import warnings
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from segsync.secrets import redact

if TYPE_CHECKING:
    from segsync.config import Settings
    from segsync.outcomes import RunResult
    from segsync.output.views import RunView

log = logging.getLogger("segsync.notify")

#: seconds a notice may take per service before it counts as not delivered
TIMEOUT_S = 15


@dataclass(frozen=True)
class Notice:
    """What is sent: a title, a body, and how serious it is (Apprise's notify type)."""

    title: str
    body: str
    #: info | success | warning | failure
    kind: str
    exit_code: int
    facts: dict[str, Any] = field(default_factory=dict)


def notify_urls(settings: Settings | None, extra: Iterable[str] = ()) -> list[str]:
    """The config's URLs, those in ``notify.urls_env``, then ``extra`` (``--notify``)."""
    urls: list[str] = []
    if settings is not None:
        urls += settings.notify.urls
        if settings.notify.urls_env:
            urls += os.environ.get(settings.notify.urls_env, "").split()
    urls += [u for u in extra if u]
    return list(dict.fromkeys(u.strip() for u in urls if u.strip()))


def wanted(when: str, exit_code: int) -> bool:
    """Whether a run that exits ``exit_code`` is told under ``notify.when``."""
    if when == "always":
        return True
    if when == "failure":
        return exit_code >= 2
    return exit_code != 0


def run_notice(
    command: str,
    exit_code: int,
    result: RunResult | None = None,
    *,
    error: str | None = None,
    who: str | None = None,
    view: RunView | None = None,
) -> Notice:
    """The notice of a run that ended with ``result``, or was refused with ``error``.

    The page passes its ``view`` of the result as well: it lets a finished job's rows go once
    the view is built, and the view's counts are whole."""
    from segsync.outcomes import PROBLEM_OUTCOMES, Outcome

    if view is not None:
        headline = view.headline
        tally = {c.outcome: c.count for c in view.counts}
        counts = {o.value: tally[o.value] for o in Outcome if tally.get(o.value)}
        problems = view.problem_total
        source = Path(view.source).name if view.source else None
        run_id = view.run_id if view.journal_path else None
        who = who or (result.actor if result is not None else None)
    elif result is not None:
        from segsync.output.views import summary_view

        headline = summary_view(result).headline
        counts = result.counts()
        problems = sum(1 for r in result.rows if r.outcome in PROBLEM_OUTCOMES)
        source = Path(result.source).name if result.source else None
        run_id = result.run_id if result.journal_path else None
        who = who or result.actor
    else:
        headline = f"Nothing was sent: {error or 'the run was refused'}"
        counts, problems, source, run_id = {}, 0, None, None
    state = {0: "done", 1: "needs attention", 2: "refused", 3: "stopped early"}.get(
        exit_code, "failed"
    )
    title = f"segsync {command} {state} (exit code {exit_code})"
    lines = [headline]
    if counts:
        lines.append("Rows: " + ", ".join(f"{k} {v:,}" for k, v in counts.items()))
    lines.append(f"Problems: {problems:,}")
    lines.append(f"Exit code: {exit_code}")
    if run_id:
        lines.append(f"Run: {run_id}")
    if source:
        lines.append(f"File: {source}")
    if who:
        lines.append(f"By: {who}")
    kind = "success" if exit_code == 0 else ("warning" if exit_code == 1 else "failure")
    facts = {"counts": counts, "problems": problems, "run_id": run_id}
    return Notice(redact(title), redact("\n".join(lines)), kind, exit_code, facts)


def send(notice: Notice, urls: Sequence[str]) -> list[str]:
    """Send ``notice`` to every URL; returns one warning sentence per URL that failed."""
    if not urls:
        return []
    apprise = import_apprise()

    # Apprise logs its own failures with details of the service; ours says it in one sentence
    apprise_log = logging.getLogger("apprise")
    level = apprise_log.level
    apprise_log.setLevel(logging.CRITICAL)
    try:
        warnings = _send_each(apprise, notice, urls)
    finally:
        apprise_log.setLevel(level)
    for warning in warnings:
        log.warning("%s", warning, extra={"event": "notify_failed"})
    return warnings


#: what Python 3.11 and 3.12 warn when Apprise's PGP helper imports ``imghdr``
IMGHDR_WARNING = r"'imghdr' is deprecated"
_APPRISE: Any = None
_APPRISE_LOCK = threading.Lock()


def import_apprise() -> Any:
    """Apprise with its plugins loaded, without the one DeprecationWarning that causes on
    Python 3.11 and 3.12.

    Apprise imports its plugins on first use; the e-mail plugin's PGP helper imports the
    standard library's ``imghdr`` (deprecated, gone in 3.13, where Apprise shims it) only to
    check it exists. That warning is about Apprise's code, not the person's run, so it is
    ignored here, exactly: that message, that category, from Apprise's modules, while Apprise
    and its plugins are imported (the loading the first notice would do anyway). Every other
    warning still shows.
    """
    global _APPRISE
    # once per process, under a lock: catch_warnings swaps the process-wide filters, and
    # notices are sent from worker threads
    with _APPRISE_LOCK:
        if _APPRISE is not None:
            return _APPRISE
        with warnings.catch_warnings():
            warnings.filterwarnings(
                "ignore", message=IMGHDR_WARNING, category=DeprecationWarning, module=r"apprise\."
            )
            import apprise

            # Apprise 1.7 and later load plugins lazily, through the one manager; 1.6 loads
            # them with the import above
            manager = getattr(apprise, "NotificationManager", None)
            if manager is not None:
                manager().load_modules()
        _APPRISE = apprise
        return apprise


def _send_each(apprise: Any, notice: Notice, urls: Sequence[str]) -> list[str]:
    warnings: list[str] = []
    for url in urls:
        shown = url.split("://", 1)[0] + "://…"
        sender = apprise.Apprise()
        if not sender.add(url):
            warnings.append(f"the notification URL {shown} is not one Apprise knows; not sent")
            continue
        try:
            ok = bool(
                sender.notify(
                    body=notice.body,
                    title=notice.title,
                    notify_type=notice.kind,
                )
            )
        except Exception as exc:  # a plugin's own error must not end the run
            ok = False
            log.debug("notification to %s raised %s", shown, type(exc).__name__)
        if not ok:
            warnings.append(f"the notification to {shown} could not be delivered")
    return warnings


def notify_run(
    settings: Settings | None,
    command: str,
    exit_code: int,
    result: RunResult | None = None,
    *,
    error: str | None = None,
    extra_urls: Iterable[str] = (),
    who: str | None = None,
    view: RunView | None = None,
) -> list[str]:
    """Tell the configured services about a run if ``notify.when`` wants it; the warnings."""
    urls = notify_urls(settings, extra_urls)
    when = settings.notify.when if settings is not None else "problems"
    if not urls or not wanted(when, exit_code):
        return []
    return send(run_notice(command, exit_code, result, error=error, who=who, view=view), urls)
