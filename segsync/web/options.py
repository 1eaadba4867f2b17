"""What the command line decides about the web app; everything else comes from ``Settings``."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from segsync.secrets import is_loopback

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8080


@dataclass(frozen=True)
class WebOptions:
    """How the app is served and guarded.

    The page always needs a secret. ``password`` (from ``--password-env``) turns on the login
    page; it is required for any ``host`` that is not loopback (the command refuses to start
    otherwise). Without one, a random ``token`` is made at start and printed in the URL.
    ``results_dir`` is where results workbooks and HTML reports of runs started from the page
    are kept (default: ``output.dir``, else a ``results`` folder beside the journal folder), so
    the runs page can offer them after a restart. ``work_dir`` is the parent of the app's
    private folder for uploads and previews (default: the system temp folder).
    """

    host: str = DEFAULT_HOST
    port: int = DEFAULT_PORT
    password: str | None = field(default=None, repr=False)
    tls_cert: Path | None = None
    tls_key: Path | None = None
    results_dir: Path | None = None
    work_dir: Path | None = None
    #: how long a login (and the session cookie) lasts
    session_hours: float = 12.0
    #: a session unused this long is signed out (None: only ``session_hours`` ends it)
    idle_minutes: float | None = 60.0
    #: the secret of the printed URL without a password (default: a new random one per start)
    token: str | None = field(default=None, repr=False)
    #: previews (reading a sheet, planning it) in progress at once; one more is refused
    max_previews: int = 2
    #: disk for uploads and preview workbooks; the oldest unused are removed to make room
    storage_mb: float = 500.0
    #: seconds between two polls of a run's status by the page
    poll_interval_s: float = 1.0

    @property
    def loopback(self) -> bool:
        return is_loopback(self.host)

    @property
    def tls(self) -> bool:
        return self.tls_cert is not None

    @property
    def scheme(self) -> str:
        return "https" if self.tls else "http"
