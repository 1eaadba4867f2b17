"""How the CLI logs: text lines for people or JSON objects for log shippers, secrets redacted,
and every fatal error reported exactly once in the format asked for."""

from __future__ import annotations

import json
import logging
import os
import sys
from pathlib import Path
from typing import Any, NoReturn

import click

from segsync import private_files
from segsync.errors import ConfigError
from segsync.secrets import RedactingFilter, redact

log = logging.getLogger("segsync")

#: events the terminal summary already shows; not repeated as text log lines on stderr
SUMMARY_EVENTS = frozenset(
    {"run_started", "run_finished", "input_warning", "plan_warning", "list_unavailable"}
)
#: the event of the one record a fatal error writes (see ``fail``)
FATAL_EVENT = "fatal"


class JsonFormatter(logging.Formatter):
    """One JSON object per line; extra fields given as ``extra=`` ride along."""

    _skip = set(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message"}

    def format(self, record: logging.LogRecord) -> str:
        data: dict[str, Any] = {
            "time": self.formatTime(record, "%Y-%m-%dT%H:%M:%S%z"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        data.update({k: v for k, v in vars(record).items() if k not in self._skip})
        return redact(json.dumps(data, default=str, ensure_ascii=False))


class TextFormatter(logging.Formatter):
    """Plain lines for people; the finished line is scrubbed of secrets like every other."""

    def format(self, record: logging.LogRecord) -> str:
        return redact(super().format(record))


class DropEvents(logging.Filter):
    """Drop records whose ``event`` is one of ``events`` (used on the text stderr handler)."""

    def __init__(self, events: frozenset[str]) -> None:
        super().__init__()
        self.events = events

    def filter(self, record: logging.LogRecord) -> bool:
        return getattr(record, "event", None) not in self.events


class LogState:
    """Whether the current command logs JSON (reset by each command)."""

    json = False


def setup_logging(fmt: str, level: str, file: str | Path | None) -> None:
    """Route log records to stderr (and ``file``) as text lines or JSON objects.

    Text on stderr leaves out what the terminal summary prints anyway (run started/finished)
    and fatal errors (``fail`` prints those as one ``segsync: ...`` line); the log file and
    JSON output keep every record. A log file that cannot be opened is a ``ConfigError``,
    raised after the stderr handler is in place so that it is reported like any other.
    """
    root = logging.getLogger()
    for handler in list(root.handlers):
        root.removeHandler(handler)
        if isinstance(handler, logging.FileHandler):
            handler.close()
    LogState.json = fmt == "json"
    formatter: logging.Formatter = (
        JsonFormatter()
        if LogState.json
        else TextFormatter("%(asctime)s %(levelname)s %(message)s", "%H:%M:%S")
    )
    root.setLevel(level.upper())
    for noisy in ("httpx", "httpcore", "aiohttp.access", "asyncio"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    stderr = logging.StreamHandler(sys.stderr)
    if not LogState.json:
        stderr.addFilter(DropEvents(SUMMARY_EVENTS | {FATAL_EVENT}))
    _add_handler(root, stderr, formatter)
    if file:
        try:
            private_files.make_dirs(Path(file).parent)
            file_handler = PrivateFileHandler(file, encoding="utf-8")
        except OSError as exc:
            raise ConfigError(f"The log file {file} cannot be opened ({exc.strerror}).") from None
        _add_handler(root, file_handler, formatter)


class PrivateFileHandler(logging.FileHandler):
    """The log file, created 0600 (``files.file_mode``) and never opened through a symlink."""

    def _open(self) -> Any:
        fd = private_files.append_fd(Path(self.baseFilename))
        return open(fd, self.mode, encoding=self.encoding, errors=self.errors)


def _add_handler(root: logging.Logger, handler: logging.Handler, fmt: logging.Formatter) -> None:
    handler.setFormatter(fmt)
    handler.addFilter(RedactingFilter())
    root.addHandler(handler)


def early_logging(log_format: str | None, log_file: str | None, log_level: str | None) -> None:
    """Logging before the config is read: the flags, else ``SEGSYNC_LOGGING__*`` variables.

    So a config that cannot be loaded (unknown key, bad YAML) is already reported in the
    requested format and to the requested file; the config's own ``logging:`` section takes
    effect once it has loaded.
    """

    def env(key: str, allowed: tuple[str, ...] | None = None) -> str | None:
        value = os.environ.get(f"SEGSYNC_LOGGING__{key}", "").strip()
        if allowed is not None:
            value = value.lower()
            return value if value in allowed else None
        return value or None

    setup_logging(
        log_format or env("FORMAT", ("text", "json")) or "text",
        log_level or env("LEVEL", ("debug", "info", "warning", "error")) or "info",
        log_file or env("FILE"),
    )


def fail(message: str, code: int) -> NoReturn:
    """Report a fatal error once and exit with ``code``.

    JSON logging: one ``{"level": "error", "event": "fatal", "message", "exit_code", ...}``
    object on stderr and in the log file. Text: one ``segsync: <sentence>`` line on stderr,
    and the same sentence as a log line in the log file, if there is one.
    """
    message = redact(message)
    logging_up = bool(logging.getLogger().handlers)
    if not LogState.json or not logging_up:
        click.echo(f"segsync: {message}", err=True)
    if logging_up:
        log.error("%s", message, extra={"event": FATAL_EVENT, "exit_code": int(code)})
    sys.exit(code)
