"""The session cookie, CSRF tokens and the password check: stdlib ``hmac`` and ``secrets`` only.

A session id is 32 random bytes (``secrets.token_urlsafe``). The cookie carries
``<id>.<expiry>.<signature>``, the signature an HMAC-SHA256 of ``<id>.<expiry>`` under a secret
made fresh for each app instance, so a cookie cannot be forged or extended, and a restart
signs everyone out. A session without a password is stateless (nothing is stored per visitor);
with a password, the ids that logged in are kept in memory until they expire or log out, and a
login always starts a new id (no session fixation).

The CSRF token of a session is an HMAC of its id under the same secret: forms carry it in a
hidden ``csrf_token`` field, and a state-changing request whose token does not match its
cookie's session is refused. Passwords are compared as SHA-256 digests with
``secrets.compare_digest`` (constant time, whatever the lengths).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import threading
import time
from collections import deque

COOKIE_NAME = "segsync_session"
CSRF_FIELD = "csrf_token"
#: failed logins allowed in ``FAILURE_WINDOW_S`` before logins are refused for a while
MAX_FAILURES = 10
FAILURE_WINDOW_S = 60.0


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


class SessionCodec:
    """Makes and checks signed session cookies and the CSRF token of each session."""

    def __init__(self, lifetime_s: float, secret: bytes | None = None) -> None:
        self.lifetime_s = lifetime_s
        self._secret = secret or secrets.token_bytes(32)

    def _sign(self, text: str) -> str:
        return _b64(hmac.new(self._secret, text.encode("ascii"), hashlib.sha256).digest())

    def new(self) -> tuple[str, str]:
        """A fresh session: its id and the cookie value that carries it."""
        sid = secrets.token_urlsafe(32)
        expiry = int(time.time() + self.lifetime_s)
        payload = f"{sid}.{expiry}"
        return sid, f"{payload}.{self._sign(payload)}"

    def read(self, cookie: str | None) -> str | None:
        """The session id in ``cookie`` if its signature holds and it has not expired."""
        if not cookie or len(cookie) > 256:
            return None
        parts = cookie.split(".")
        if len(parts) != 3:
            return None
        sid, expiry, signature = parts
        try:
            payload = f"{sid}.{expiry}"
            expected = self._sign(payload)
        except UnicodeEncodeError:
            return None
        if not secrets.compare_digest(expected, signature):
            return None
        if not expiry.isdigit() or int(expiry) < time.time():
            return None
        return sid

    def csrf_token(self, sid: str) -> str:
        return self._sign(f"csrf:{sid}")

    def check_csrf(self, sid: str | None, token: str | None) -> bool:
        if not sid or not token or len(token) > 128:
            return False
        try:
            return secrets.compare_digest(self.csrf_token(sid), token)
        except TypeError:  # non-ASCII text
            return False


class PasswordGate:
    """The login: which sessions are signed in, and a constant-time password check."""

    def __init__(self, password: str | None, lifetime_s: float) -> None:
        self._digest = _digest(password) if password else None
        self.lifetime_s = lifetime_s
        self._signed_in: dict[str, float] = {}
        self._failures: deque[float] = deque()
        self._lock = threading.Lock()

    @property
    def required(self) -> bool:
        return self._digest is not None

    def allows(self, sid: str | None) -> bool:
        """Whether ``sid`` may use the app (always, when no password is set)."""
        if self._digest is None:
            return True
        if sid is None:
            return False
        with self._lock:
            expiry = self._signed_in.get(sid)
            if expiry is None:
                return False
            if expiry < time.monotonic():
                del self._signed_in[sid]
                return False
            return True

    def throttled(self) -> bool:
        """Too many wrong passwords lately: refuse logins for a while."""
        now = time.monotonic()
        with self._lock:
            while self._failures and self._failures[0] < now - FAILURE_WINDOW_S:
                self._failures.popleft()
            return len(self._failures) >= MAX_FAILURES

    def check(self, given: str) -> bool:
        """Whether ``given`` is the password (constant time); counts failures."""
        if self._digest is None:
            return True
        ok = secrets.compare_digest(_digest(given), self._digest)
        if not ok:
            with self._lock:
                self._failures.append(time.monotonic())
        return ok

    def sign_in(self, sid: str) -> None:
        with self._lock:
            now = time.monotonic()
            for old in [s for s, t in self._signed_in.items() if t < now]:
                del self._signed_in[old]
            self._signed_in[sid] = now + self.lifetime_s

    def sign_out(self, sid: str | None) -> None:
        with self._lock:
            self._signed_in.pop(sid or "", None)


def _digest(text: str) -> bytes:
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).digest()
