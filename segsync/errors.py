"""Every exception segsync raises, in one place.

Library code raises these; only ``segsync/cli.py`` turns them into sentences and exit codes.
The tree::

    SegsyncError                      base of everything below
    ├── ConfigError                   config.yaml / env / flags are invalid          (exit 2)
    │   └── SecretError               the token is missing, literal in a file, or unsafe to send
    ├── InputError                    the edits file as a whole cannot be used       (exit 2)
    │   ├── UnsupportedFileError      wrong type, corrupt, encrypted, legacy .xls
    │   ├── FileTooLargeError         over input.max_file_mb / input.max_rows / a zip bomb
    │   ├── NoDataError               empty file, header only, no id column
    │   │   ├── UnplacedColumnsError  a column looks like a field but is not one (map it)
    │   │   ├── HiddenDataError       hidden rows or columns hold data (--hidden skip|include)
    │   │   └── SheetChoiceError      more than one sheet could be the edits (--sheet)
    │   ├── StrictModeError           --strict and at least one row is invalid
    │   └── PlanError                 a saved plan is not a plan, too old, or edited by hand
    ├── ApiError                      an HTTP exchange that did not give a usable answer
    │   ├── PermanentApiError         400/404/409/422: a row outcome, never retried
    │   ├── TransientApiError         429/5xx/connect/timeout after the retry budget ran out
    │   └── FatalApiError             401/403: aborts the whole run at once      (exit 3)
    ├── RunRefused                    refused before the first request; nothing sent  (exit 2)
    │   ├── RunLockedError            another run is writing to the same API
    │   ├── OutputPathError           the results file could not be written
    │   ├── TargetMismatchError       rollback/apply aimed at another server than the run's
    │   ├── UnsafeFolderError         a private folder (the run lock's) is another user's
    │   └── GuardrailError            more changes than --max-changes / --max-change-ratio
    ├── RunAborted                    the run stopped early (auth, circuit breaker, signal)
    └── JournalError                  a run journal is missing or unreadable (rollback/resume)
        └── JournalWriteError         a journal record could not be written: the run stops (exit 3)

``ApiError`` carries the HTTP status (``None`` for network failures), the number of attempts made
and a readable message built from the ProblemDetails body. Messages never contain the token:
``segsync.secrets.redact`` is applied where text leaves the process.
"""

from __future__ import annotations


class SegsyncError(Exception):
    """Base class: anything segsync raises on purpose."""


class ConfigError(SegsyncError):
    """The effective configuration is invalid; nothing was sent."""


class SecretError(ConfigError):
    """The API token is missing, stored where it must not be, or would travel unprotected."""


class InputError(SegsyncError):
    """The edits file cannot be used as a whole; nothing was sent."""


class UnsupportedFileError(InputError):
    """The file is not a spreadsheet segsync can read (wrong type, corrupt, encrypted)."""


class FileTooLargeError(InputError):
    """The file or sheet is over a configured size limit, or inflates suspiciously."""


class NoDataError(InputError):
    """The file has no usable header, no id column, or no data rows."""


class UnplacedColumnsError(NoDataError):
    """Columns that look like segment fields but are not one: the person must say what each
    is. ``columns`` holds ``(letter, header, probable field or None)`` for each, and ``headers``
    every header of the sheet in order (the web page's mapping step asks about them)."""

    def __init__(
        self,
        message: str,
        columns: list[tuple[str, str, str | None]],
        headers: list[tuple[str, str, str]] | None = None,
    ) -> None:
        super().__init__(message)
        self.columns = columns
        #: (letter, header, what segsync made of it) for every header of the sheet
        self.headers = headers or []


class HiddenDataError(NoDataError):
    """Hidden rows or columns hold data, and the person has not said whether to send them."""


class SheetChoiceError(NoDataError):
    """More than one sheet could hold the edits, or not the first one: ``--sheet`` says which."""

    def __init__(self, message: str, sheets: list[str]) -> None:
        super().__init__(message)
        self.sheets = sheets


class StrictModeError(InputError):
    """``--strict`` was given and at least one row is invalid."""


class ApiError(SegsyncError):
    """An API exchange failed; ``status`` is None when no HTTP answer arrived."""

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        attempts: int = 1,
        field_errors: dict[str, list[str]] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.attempts = attempts
        self.field_errors = field_errors or {}


class PermanentApiError(ApiError):
    """The server refused this request for a reason a retry cannot fix (400/404/409/422)."""


class TransientApiError(ApiError):
    """A transient failure (429/5xx/network) that outlasted the retry budget."""


class FatalApiError(ApiError):
    """Authentication or permission refused (401/403): the run must stop at once."""


class RunRefused(SegsyncError):
    """The run was refused before its first request: nothing was sent."""


class RunLockedError(RunRefused):
    """Another run holds the lock for this API on this machine."""


class OutputPathError(RunRefused):
    """The results file cannot be written where it was asked for."""


class TargetMismatchError(RunRefused):
    """A rollback (or apply) was pointed at a server other than the one its run wrote to."""


class UnsafeFolderError(RunRefused):
    """A folder for private files (the run lock's) is a symlink, another account's, or open
    to others; it is refused, never used. ``folder`` names it."""

    def __init__(self, message: str, *, folder: object = None) -> None:
        super().__init__(message)
        self.folder = folder


class RunAborted(SegsyncError):
    """The run stopped before every row was attempted; see ``reason``."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class JournalError(SegsyncError):
    """A run journal cannot be found or read."""


class JournalWriteError(JournalError):
    """A journal record could not be written durably (disk full, I/O error, folder removed).

    The run stops at once, so that every write it made stays undoable. ``reason`` is the
    operating system's short explanation (e.g. "No space left on device").
    """

    def __init__(self, message: str, *, reason: str) -> None:
        super().__init__(message)
        self.reason = reason


class PlanError(InputError):
    """A saved plan cannot be applied as it is: not a plan, too old, or changed since made."""


class GuardrailError(RunRefused):
    """The run would change more than a configured guardrail allows; nothing was sent."""
