"""What the page knows about a team: who is signed in, with which role, and which big plans
wait for (or have) a second person's approval.

In force when the users file (``web.users_file``) holds anyone, or ``--trusted-user-header`` is
given. Then ``TeamGate`` takes the place of the shared-password gate: a session belongs to one
person, who signed in with a user name and password (or whom a trusted reverse proxy named), and
it ends when it expires, sits idle, signs out, or the person is removed from the users file (the
file is re-read when it changes, so a new role holds from the next request).

``Approvals`` keeps, per preview, who asked for approval, who approved or rejected it, and the
sha256 of the exact plan approved: a plan that differs (another preview, another sheet) is not
approved, and an approval ends with its preview (``plan.max_age_hours``).
"""

from __future__ import annotations

import ipaddress
import logging
import secrets
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from aiohttp import web

from segsync.config import Settings
from segsync.outcomes import Outcome
from segsync.plan.planfile import canonical_sha256, plan_digest, read_plan
from segsync.team.audit import AuditLog
from segsync.team.users import Role, User, UsersFile, default_users_file
from segsync.web.state import Preview
from segsync.web.throttle import LoginThrottle

log = logging.getLogger("segsync.web")

#: the request key of the signed-in ``User``, and of the page context the layout reads
_REQUEST_KEY: Any = getattr(web, "RequestKey", None)
PERSON: Any = _REQUEST_KEY("segsync_person", User) if _REQUEST_KEY else "segsync_person"
TEAM_CONTEXT: Any = (
    _REQUEST_KEY("segsync_team_context", dict) if _REQUEST_KEY else "segsync_team_context"
)


@dataclass(frozen=True)
class TeamOptions:
    """What ``segsync web`` says about people: the single-sign-on header and its proxies."""

    #: the request header a reverse proxy names the signed-in person in (None: not used)
    trusted_user_header: str | None = None
    #: the proxy addresses (or networks) that header is accepted from
    trusted_proxies: tuple[str, ...] = ()

    def trusts(self, remote: str | None) -> bool:
        if not remote:
            return False
        try:
            address = ipaddress.ip_address(remote.split("%", 1)[0])
        except ValueError:
            return False
        for proxy in self.trusted_proxies:
            try:
                if address in ipaddress.ip_network(proxy, strict=False):
                    return True
            except ValueError:
                continue
        return False


class _People:
    """The users file, re-read only when it changed (a new file: every change replaces it)."""

    def __init__(self, file: UsersFile) -> None:
        self.file = file
        self._stamp: tuple[int, int, int] | None = None
        self._by_name: dict[str, User] = {}
        self._lock = threading.Lock()

    def get(self, name: str) -> User | None:
        return self._all().get(name.strip().casefold())

    def count(self) -> int:
        return len(self._all())

    def _all(self) -> dict[str, User]:
        try:
            info = self.file.path.stat()
            stamp: tuple[int, int, int] | None = (info.st_ino, info.st_mtime_ns, info.st_size)
        except OSError:
            stamp = None
        with self._lock:
            if stamp != self._stamp:
                users = self.file.users() if stamp is not None else []
                self._by_name = {u.name.casefold(): u for u in users}
                self._stamp = stamp
            return self._by_name


@dataclass
class _Session:
    name: str
    expires: float
    last_seen: float


class TeamGate:
    """The sign-in of named people; in place of the shared-password gate (same methods)."""

    required = True
    password_mode = True
    token: str | None = None

    def __init__(self, users: UsersFile, lifetime_s: float, idle_s: float | None = None) -> None:
        self.people = _People(users)
        self.lifetime_s = lifetime_s
        self.idle_s = idle_s
        self._sessions: dict[str, _Session] = {}
        #: wrong sign-ins slow their own address down, as wrong shared passwords do
        self.throttle = LoginThrottle()
        self._noted: dict[str, float] = {}
        self._lock = threading.Lock()

    def person(self, sid: str | None) -> User | None:
        """The person signed in on session ``sid`` (None: nobody, expired, idle, removed)."""
        if not sid:
            return None
        now = time.monotonic()
        with self._lock:
            session = self._sessions.get(sid)
            if session is None:
                return None
            idle = self.idle_s is not None and now - session.last_seen > self.idle_s
            if session.expires < now or idle:
                del self._sessions[sid]
                return None
            session.last_seen = now
            name = session.name
        user = self.people.get(name)
        if user is None:
            self.sign_out(sid)
        return user

    def allows(self, sid: str | None) -> bool:
        return self.person(sid) is not None

    def sign_in_person(self, sid: str, name: str) -> None:
        now = time.monotonic()
        with self._lock:
            for old in [s for s, v in self._sessions.items() if v.expires < now]:
                del self._sessions[old]
            self._sessions[sid] = _Session(name, now + self.lifetime_s, now)

    def sign_in(self, sid: str) -> None:
        """The shared-password sign-in: never a person, so nothing (kept for its callers)."""

    def sign_out(self, sid: str | None) -> None:
        with self._lock:
            self._sessions.pop(sid or "", None)

    def check(self, given: str) -> bool:
        return False  # there is no shared password in this mode

    def check_token(self, given: str) -> bool:
        return False

    def first_in_a_while(self, key: str, every_s: float = 60.0) -> bool:
        """True at most once per ``every_s`` for ``key`` (to log a repeated refusal once)."""
        now = time.monotonic()
        with self._lock:
            last = self._noted.get(key)
            if last is not None and now - last < every_s:
                return False
            if len(self._noted) > 10_000:
                self._noted.clear()
            self._noted[key] = now
            return True


# -- approvals ---------------------------------------------------------------------------------


def changes_of(preview: Preview) -> int:
    """Segments the preview would update: its view's count (the rows themselves are let go
    once the view is built, see ``jobs``)."""
    view = preview.job.view
    if view is None:
        return 0
    return sum(c.count for c in view.counts if c.outcome == Outcome.WOULD_UPDATE.value)


def preview_digest(preview: Preview) -> str:
    """The sha256 an approval is bound to: the plan's own, or a rollback's planned changes.

    Worked out once per plan object and kept on the preview (a finished preview's plan never
    changes), so checking an approval on every page view costs nothing for a plan of many rows,
    and the digest goes when its preview does.
    """
    subject = preview.job.plan if preview.job.plan is not None else preview.job.result
    known = preview.digest_of
    if known is not None and known[0] is subject:
        return known[1]
    digest = _preview_digest(preview)
    preview.digest_of = (subject, digest)
    return digest


def _preview_digest(preview: Preview) -> str:
    plan = preview.job.plan
    if plan is not None:
        if plan.path is not None and not plan.rows:
            # the page keeps a saved plan's rows in its file only: the digest is the file's
            # own, as the apply that reads it back records it
            plan = read_plan(plan.path)
        return plan_digest(plan)
    return canonical_sha256(
        {"rollback_of": preview.rollback_of, "changes": preview.job.changes_sha256}
    )


def author_of(preview: Preview) -> str | None:
    result = preview.job.result
    return result.actor if result is not None else None


@dataclass
class Approval:
    """One request for a second pair of eyes on one preview's exact plan."""

    id: str
    preview: Preview
    plan_sha256: str
    author: str
    changes: int
    requested_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    #: waiting | approved | rejected
    state: str = "waiting"
    decided_by: str | None = None
    decided_at: datetime | None = None
    reason: str | None = None


class Approvals:
    """Approvals by preview id, in memory: they live as long as their previews."""

    def __init__(self) -> None:
        self._by_preview: dict[str, Approval] = {}
        self._lock = threading.Lock()

    def get(self, preview: Preview) -> Approval | None:
        with self._lock:
            return self._by_preview.get(preview.id)

    def request(self, preview: Preview, author: str) -> Approval:
        approval = Approval(
            secrets.token_urlsafe(9), preview, preview_digest(preview), author, changes_of(preview)
        )
        with self._lock:
            self._by_preview[preview.id] = approval
        return approval

    def decide(self, approval: Approval, state: str, who: str, reason: str | None) -> None:
        with self._lock:
            approval.state, approval.decided_by, approval.reason = state, who, reason
            approval.decided_at = datetime.now(UTC)

    def approved(self, preview: Preview) -> Approval | None:
        """The approval that lets ``preview`` be applied (its exact plan, by someone else)."""
        approval = self.get(preview)
        if approval is None or approval.state != "approved":
            return None
        if approval.plan_sha256 != preview_digest(preview):
            return None
        return approval

    def listed(self, previews: dict[str, Preview]) -> list[Approval]:
        """Approvals whose previews still exist: waiting first, then the newest decisions."""
        with self._lock:
            for pid in [p for p in self._by_preview if p not in previews]:
                del self._by_preview[pid]  # expired with its preview
            items = list(self._by_preview.values())
        waiting = sorted((a for a in items if a.state == "waiting"), key=lambda a: a.requested_at)
        decided = sorted(
            (a for a in items if a.state != "waiting"),
            key=lambda a: a.decided_at or a.requested_at,
            reverse=True,
        )
        return waiting + decided


@dataclass
class TeamState:
    """The team part of one app: settings, options, the gate, approvals, the audit log."""

    settings: Settings
    options: TeamOptions
    gate: TeamGate
    audit: AuditLog
    approvals: Approvals = field(default_factory=Approvals)

    @property
    def threshold(self) -> int | None:
        return self.settings.web.approval_required_over

    def needs_approval(self, preview: Preview) -> bool:
        limit = self.threshold
        return limit is not None and changes_of(preview) > limit


TEAM: web.AppKey[TeamState] = web.AppKey("segsync_team", TeamState)


def users_path(settings: Settings) -> Path:
    return Path(settings.web.users_file or default_users_file()).expanduser()


def team_wanted(settings: Settings, options: TeamOptions) -> bool:
    """Named people are in force: someone is in the users file, or a proxy names people."""
    if options.trusted_user_header:
        return True
    return bool(UsersFile(users_path(settings)).users())


def run_people(request: web.Request, preview: Preview | None = None) -> dict[str, Any]:
    """The ``actor`` / ``approved_by`` / ``via`` of a run started by ``request``."""
    who: dict[str, Any] = {"via": "web"}
    person = request.get(PERSON)
    if isinstance(person, User):
        who["actor"] = person.name
        team = request.app.get(TEAM)
        if preview is not None and team is not None:
            approval = team.approvals.approved(preview)
            if approval is not None:
                who["approved_by"] = approval.decided_by
    return who


def role_at_least(person: User | None, role: Role) -> bool:
    return person is not None and person.role >= role


def notify_job(settings: Settings) -> Any:
    """An ``on_done`` for a job that writes: its notice, as the CLI sends one (``notify:``)."""
    from segsync.team.notify import notify_run
    from segsync.web.jobs import Job, JobState

    def done(job: Job) -> None:
        result, view = job.result, job.view  # the rows are let go once the view is built
        codes = {JobState.ABORTED: 3, JobState.REFUSED: 2, JobState.FAILED: 4}
        code = None
        if job.state is JobState.FINISHED and result is not None:
            code = view.exit_code if view is not None else result.exit_code
        if code is None:
            code = codes.get(job.state, 3)
        notify_run(settings, job.kind.value, code, result, error=job.error, view=view)

    return done
