"""The audit trail: one JSON line per action, appended to a file only its owner reads (0600).

Every line is a JSON object with at least ``time`` (UTC, ISO 8601), ``person``, ``action`` and
``via`` (``cli`` or ``web``); then, where they apply, ``run_id``, ``plan_sha256``, ``file`` and
``file_sha256`` (the input), ``counts`` (rows per outcome), ``exit_code``, ``approved_by`` and
``reason``; a command-line run under ``--actor`` adds ``os_user``, the account it ran as. No
row data, no token. Actions:

- runs (``segsync.engine.run`` writes them, CLI and page alike): ``sync``, ``apply``, ``rollback``,
  ``plan`` and ``preview`` (a dry run); a run refused before it sent anything has ``refused``.
- the page: ``sign-in``, ``sign-in-failed``, ``sign-out``, ``upload``, ``request-approval``,
  ``approve``, ``reject``, ``stop``, ``download``, ``refused`` (an action the role may not do).
- ``segsync users``: ``user-add``, ``user-remove``, ``user-passwd``, ``user-role``.

A line is written with one ``write`` to a file opened ``O_APPEND``, so lines of two processes
never interleave, and fsync'd. The path is ``audit.file`` (default ``audit.jsonl`` beside the
journal folder). A line that cannot be written is a logged warning: it never fails a run that
already sent its changes.
"""

from __future__ import annotations

import json
import logging
import os
import re
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from segsync.errors import ConfigError
from segsync.secrets import redact
from segsync.team.private import PrivateFileError, open_append, read_private

if TYPE_CHECKING:
    from segsync.config import Settings
    from segsync.outcomes import RunResult

log = logging.getLogger("segsync.audit")
AUDIT_NAME = "audit.jsonl"
_write_lock = threading.Lock()


def audit_path(settings: Settings) -> Path:
    """Where ``settings`` keep the audit trail."""
    if settings.audit.file is not None:
        return Path(settings.audit.file).expanduser()
    return Path(settings.journal.dir).expanduser().parent / AUDIT_NAME


class AuditLog:
    """Appends actions to the audit file at ``path`` (``enabled=False``: records nothing)."""

    def __init__(self, path: Path, *, enabled: bool = True) -> None:
        self.path = Path(path)
        self.enabled = enabled

    @classmethod
    def for_settings(cls, settings: Settings) -> AuditLog:
        return cls(audit_path(settings), enabled=settings.audit.enabled)

    def record(self, action: str, person: str | None, *, via: str = "cli", **fields: Any) -> bool:
        """Append one line; False (and a warning in the log) if it could not be written."""
        if not self.enabled:
            return True
        line: dict[str, Any] = {
            "time": datetime.now(UTC).isoformat(timespec="milliseconds"),
            "person": person or "unknown",
            "action": action,
            "via": via,
        }
        line.update({k: v for k, v in fields.items() if v is not None})
        data = (redact(json.dumps(line, ensure_ascii=False, default=str)) + "\n").encode("utf-8")
        try:
            with _write_lock:
                fd = open_append(self.path)
                try:
                    os.write(fd, data)
                    os.fsync(fd)
                finally:
                    os.close(fd)
        except (PrivateFileError, OSError) as exc:
            log.warning(
                "could not write the audit line for %s: %s",
                action,
                exc,
                extra={"event": "audit_write_failed"},
            )
            return False
        return True


def run_action(result: RunResult) -> str:
    """The audit action of a run: its command, or ``preview`` for a dry run."""
    if result.command == "plan":
        return "plan"
    return "preview" if result.dry_run else (result.command or "sync")


def record_run(
    settings: Settings,
    result: RunResult,
    *,
    via: str = "cli",
    refused: str | None = None,
    extra: dict[str, Any] | None = None,
) -> None:
    """The audit line of a run that ended (or was refused before it sent anything)."""
    from segsync.engine.runlock import current_user
    from segsync.outcomes import ExitCode

    exit_code = ExitCode.INVALID_INPUT if refused else result.exit_code
    # a job's --actor names the person; the account it ran under is kept beside it
    os_user = current_user() if via == "cli" else None
    AuditLog.for_settings(settings).record(
        run_action(result),
        result.actor,
        via=via,
        run_id=result.run_id if result.journal_path else None,
        preview_id=result.run_id if result.dry_run else None,
        file=result.source,
        file_sha256=result.sha256,
        sheet=result.sheet or None,
        counts=result.counts(),
        exit_code=int(exit_code),
        aborted=result.aborted,
        refused=refused,
        approved_by=result.approved_by,
        os_user=os_user if os_user != result.actor else None,
        **(extra or {}),
    )


# -- reading it back -----------------------------------------------------------------------------

_RELATIVE = re.compile(r"^\s*(\d+)\s*([dhm])\s*$", re.IGNORECASE)


def parse_since(text: str, now: datetime | None = None) -> datetime:
    """``2026-12-01``, ``2026-12-01T08:00``, or ``7d`` / ``12h`` / ``30m`` ago, as UTC."""
    now = now or datetime.now(UTC)
    relative = _RELATIVE.match(text)
    if relative:
        amount, unit = int(relative.group(1)), relative.group(2).lower()
        span = {"d": timedelta(days=amount), "h": timedelta(hours=amount)}.get(
            unit, timedelta(minutes=amount)
        )
        return now - span
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        raise ConfigError(
            f"--since '{text[:40]}' is not a date: give 2026-12-01, 2026-12-01T08:00 "
            "(this computer's time unless it names a zone), or 7d, 12h, 30m (ago)."
        ) from None
    if moment.tzinfo is None:
        moment = moment.astimezone()  # a person's time is this computer's time
    return moment.astimezone(UTC)


def read_audit(path: Path, since: datetime | None = None) -> list[dict[str, Any]]:
    """The lines of the audit file at ``path``, oldest first, from ``since`` on.

    A line that is not JSON (a torn last line after a crash) is skipped with a warning.
    """
    return list(_lines(path, since))


def _lines(path: Path, since: datetime | None) -> Iterator[dict[str, Any]]:
    raw = read_private(path)
    if raw is None:
        return
    for number, text in enumerate(raw.decode("utf-8", "replace").splitlines(), start=1):
        if not text.strip():
            continue
        try:
            line = json.loads(text)
            when = datetime.fromisoformat(str(line["time"]))
        except (ValueError, KeyError, TypeError):
            log.warning("%s line %d is not an audit line; skipped", path, number)
            continue
        if since is not None and when < since:
            continue
        yield line
