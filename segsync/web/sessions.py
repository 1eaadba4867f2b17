"""The session cookie, CSRF tokens, the printed token and the password check: stdlib ``hmac``
and ``secrets`` only.

A session id is 32 random bytes (``secrets.token_urlsafe``). The cookie carries
``<id>.<expiry>.<signature>``, the signature an HMAC-SHA256 of ``<id>.<expiry>`` under a secret
made fresh for each app instance, so a cookie cannot be forged or extended, and a restart
signs everyone out. The page always needs a secret (as Jupyter does): the random token in the
URL ``segsync web`` prints, or the password of ``--password-env``. The ids that signed in with
either are kept in memory until they expire, sit idle too long or sign out, and a sign-in
always starts a new id (no session fixation).

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
from collections.abc import Callable
from dataclasses import dataclass

from segsync.errors import ConfigError
from segsync.web.throttle import LoginThrottle

COOKIE_NAME = "segsync_session"
CSRF_FIELD = "csrf_token"
#: the query parameter of the printed URL that carries the token
TOKEN_PARAM = "token"
#: the shortest password the page accepts
MIN_PASSWORD_LENGTH = 12
#: signed-in sessions kept at most (the longest-unused is signed out first)
MAX_SESSIONS = 1000


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


def check_password(password: str) -> None:
    """Refuse (``ConfigError``) a password too short to stand up to guessing."""
    if len(password) < MIN_PASSWORD_LENGTH:
        raise ConfigError(
            f"The web page's password is {len(password)} characters long; it must have at "
            f"least {MIN_PASSWORD_LENGTH} (a phrase of three or four words will do). On this "
            "computer alone, leave --password-env out: the page then prints an address with a "
            "secret token in it."
        )


@dataclass
class _Session:
    expires: float
    last_seen: float


class Gate:
    """Who may use the page: sessions signed in with the printed token or the password.

    Without a password (loopback only) the secret is a random ``token`` that ``segsync web``
    prints in its URL; a visit with ``?token=`` exchanges it for a session cookie. With a
    password, the login page does. Either way every request needs a signed-in session: one
    that has not reached ``lifetime_s`` since it signed in, nor ``idle_s`` since it was last
    used. Wrong passwords are throttled per address (``LoginThrottle``).
    """

    def __init__(
        self,
        password: str | None,
        lifetime_s: float,
        *,
        token: str | None = None,
        idle_s: float | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if password:
            check_password(password)
        self._digest = _digest(password) if password else None
        self.token = None if password else (token or secrets.token_urlsafe(32))
        self._token_digest = _digest(self.token) if self.token else None
        self.lifetime_s = lifetime_s
        self.idle_s = idle_s
        self.throttle = LoginThrottle(clock)
        self._clock = clock
        self._signed_in: dict[str, _Session] = {}
        self._lock = threading.Lock()

    @property
    def required(self) -> bool:
        """A session is always required (kept for the templates' sake)."""
        return True

    @property
    def password_mode(self) -> bool:
        return self._digest is not None

    def allows(self, sid: str | None) -> bool:
        """Whether ``sid`` is signed in, not expired and not idle; counts as a use."""
        if sid is None:
            return False
        now = self._clock()
        with self._lock:
            session = self._signed_in.get(sid)
            if session is None:
                return False
            idle = self.idle_s is not None and now - session.last_seen > self.idle_s
            if session.expires < now or idle:
                del self._signed_in[sid]
                return False
            session.last_seen = now
            return True

    def check_token(self, given: str) -> bool:
        """Whether ``given`` is the printed token (constant time)."""
        if self._token_digest is None or len(given) > 256:
            return False
        return secrets.compare_digest(_digest(given), self._token_digest)

    def check(self, given: str) -> bool:
        """Whether ``given`` is the password (constant time)."""
        if self._digest is None:
            return False
        return secrets.compare_digest(_digest(given), self._digest)

    def sign_in(self, sid: str) -> None:
        with self._lock:
            now = self._clock()
            for old in [s for s, v in self._signed_in.items() if v.expires < now]:
                del self._signed_in[old]
            while len(self._signed_in) >= MAX_SESSIONS:  # the longest-unused goes
                oldest = min(self._signed_in, key=lambda s: self._signed_in[s].last_seen)
                del self._signed_in[oldest]
            self._signed_in[sid] = _Session(now + self.lifetime_s, now)

    def sign_out(self, sid: str | None) -> None:
        with self._lock:
            self._signed_in.pop(sid or "", None)


def _digest(text: str) -> bytes:
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).digest()
