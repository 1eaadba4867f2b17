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
never interleave, and fsync'd; the page's lines are written on one thread of their own, off the
event loop, in the order they were asked for, each on disk before the page answers the action.
The path is ``audit.file`` (default ``audit.jsonl`` beside the journal folder). A line that
cannot be written is a logged warning: it never fails a run that
already sent its changes.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import re
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from segsync.errors import ConfigError
from segsync.private_files import PrivateFileError, append_fd, open_strict, read_strict
from segsync.secrets import redact

if TYPE_CHECKING:
    from segsync.config import Settings
    from segsync.outcomes import RunResult

log = logging.getLogger("segsync.audit")
AUDIT_NAME = "audit.jsonl"
_write_lock = threading.Lock()
#: guards the making of the writer thread only: ``_write_lock`` is held through an fsync, and
#: the event loop must never wait for one
_writer_lock = threading.Lock()
_WRITER: ThreadPoolExecutor | None = None


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
        return self._write(action, _line(action, person, via, fields))

    async def record_async(
        self, action: str, person: str | None, *, via: str = "web", **fields: Any
    ) -> bool:
        """``record`` for the event loop: the line is made here (its time is when it was asked
        for), written and fsync'd on the one audit writer thread, so the loop keeps serving
        while the disk syncs. Lines are written in the order they were asked for, and the
        await ends once the line is on disk: answer the action it records after it."""
        if not self.enabled:
            return True
        data = _line(action, person, via, fields)
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(_writer(), self._write, action, data)

    def _write(self, action: str, data: bytes) -> bool:
        try:
            with _write_lock:
                fd = append_fd(self.path, strict=True)
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


def _line(action: str, person: str | None, via: str, fields: dict[str, Any]) -> bytes:
    """One audit line, as the bytes written (secrets redacted, no field that is None)."""
    line: dict[str, Any] = {
        "time": datetime.now(UTC).isoformat(timespec="milliseconds"),
        "person": person or "unknown",
        "action": action,
        "via": via,
    }
    line.update({k: v for k, v in fields.items() if v is not None})
    return (redact(json.dumps(line, ensure_ascii=False, default=str)) + "\n").encode("utf-8")


def _writer() -> ThreadPoolExecutor:
    """The one thread that writes the lines the event loop asks for, first asked first written
    (a pool of one keeps their order; the default executor's threads would not)."""
    global _WRITER
    with _writer_lock:
        if _WRITER is None:
            _WRITER = ThreadPoolExecutor(max_workers=1, thread_name_prefix="segsync-audit")
        return _WRITER


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
    raw = read_strict(path)
    if raw is None:
        return
    for number, text in enumerate(raw.decode("utf-8", "replace").splitlines(), start=1):
        line = _parsed(text, path, f"line {number}")
        if line is None:
            continue
        if since is not None and datetime.fromisoformat(str(line["time"])) < since:
            continue
        yield line


def _parsed(text: str, path: Path, where: str) -> dict[str, Any] | None:
    """One audit line, or None (and a warning unless it is blank) when it is not one."""
    if not text.strip():
        return None
    try:
        line = json.loads(text)
        datetime.fromisoformat(str(line["time"]))
    except (ValueError, KeyError, TypeError):
        log.warning("%s %s is not an audit line; skipped", path, where)
        return None
    return line if isinstance(line, dict) else None


#: bytes read from the end of the file at a time, and at most for one page of lines
TAIL_BLOCK = 64 * 1024
TAIL_MAX = 32 * 1024 * 1024


@dataclass(frozen=True)
class AuditPage:
    """Up to ``limit`` audit lines, newest first, that end before a byte offset of the file.

    ``older`` is the offset to ask for the page before this one (None: this page reaches the
    start of the file); ``end`` is where this page's lines end (the file's size for the newest).
    """

    lines: list[dict[str, Any]]
    older: int | None
    end: int


def read_audit_page(path: Path, limit: int, before: int | None = None) -> AuditPage:
    """The newest ``limit`` lines of the audit file that end at or before byte ``before``
    (default: the end of the file), read backwards from there: the cost is the page's, not the
    file's, however long the trail has grown."""
    fd = open_strict(path)
    if fd is None:
        return AuditPage([], None, 0)
    try:
        size = os.fstat(fd).st_size
        end = size if before is None else max(0, min(before, size))
        found, start = _tail_lines(fd, end, limit)
    finally:
        os.close(fd)
    lines = []
    for offset, raw in found:
        line = _parsed(raw.decode("utf-8", "replace"), path, f"at byte {offset}")
        if line is not None:
            lines.append(line)
    return AuditPage(lines, start if start > 0 else None, end)


def _tail_lines(fd: int, end: int, limit: int) -> tuple[list[tuple[int, bytes]], int]:
    """The last ``limit`` lines of the bytes before ``end`` as (offset, bytes), newest first,
    and the offset where the oldest of them starts (0: the start of the file was reached)."""
    found: list[tuple[int, bytes]] = []
    tail = b""  # the bytes after the last line break seen, not yet a whole line
    pos = end
    while len(found) < limit and pos > 0 and end - pos < TAIL_MAX:
        block = min(TAIL_BLOCK, pos)
        pos -= block
        data = os.pread(fd, block, pos) + tail
        parts = data.split(b"\n")
        tail = parts[0]  # may continue in the block before this one
        offset = pos + len(data)
        for part in reversed(parts[1:]):
            offset -= len(part) + 1
            if part.strip():
                found.append((offset + 1, part))
                if len(found) == limit:
                    return found, offset + 1
    if pos == 0:  # the start of the file: its first line is whole
        if tail.strip():
            found.append((0, tail))
        return found, 0
    # TAIL_MAX read: the page before this one ends at the first line break seen (or, in a file
    # with none in all that, where the reading stopped)
    start = pos + len(tail)
    return found, start if start < end else pos
