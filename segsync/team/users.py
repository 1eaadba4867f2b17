"""The users file: who may use the page, with which role, and their password hashes.

A JSON file (format ``segsync-users``, version 1), mode 0600, replaced atomically on every change
under a lock file, so two ``segsync users`` commands cannot lose each other's change. Its path is
``web.users_file`` (default: ``users.json`` in the user's segsync config folder,
``$XDG_CONFIG_HOME/segsync`` or ``~/.config/segsync``).

Passwords are stored as scrypt hashes (``hashlib.scrypt``, standard library) in the PHC string
form ``$scrypt$ln=15,r=8,p=1$<salt>$<hash>``: a random 16-byte salt per password, and the cost
parameters stored with the hash, so they can be raised later without breaking old hashes. A
check of an unknown name still computes one hash, so the time taken does not tell which names
exist. Names are matched case-insensitively (single sign-on sends ``Alice@Example.org`` as well
as ``alice@example.org``) and kept as first written.

Roles, each with everything of the roles before it:

``viewer``    previews, runs, downloads
``operator``  also upload, apply, stop and roll back
``approver``  also approve (or reject) other people's plans
``admin``     also manage users (from the command line) and read the audit trail on the page
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import re
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import IntEnum
from pathlib import Path
from typing import Any

from filelock import FileLock

from segsync.errors import ConfigError
from segsync.private_files import read_strict, replace_file

FORMAT = "segsync-users"
VERSION = 1
#: scrypt cost: N = 2**LOG_N, r, p (32 MiB and about a tenth of a second per check)
LOG_N, BLOCK_SIZE, PARALLELISM = 15, 8, 1
SALT_BYTES, KEY_BYTES = 16, 32
MIN_PASSWORD = 8
MAX_PASSWORD = 1024
#: the stored "hash" of a person who signs in only through the proxy: matches no password
NO_PASSWORD = "!"
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@+-]{0,127}$")
_HASH = re.compile(
    r"^\$scrypt\$ln=(\d{1,2}),r=(\d{1,3}),p=(\d{1,3})\$([A-Za-z0-9+/=]+)\$([A-Za-z0-9+/=]+)$"
)


class UsersError(ConfigError):
    """A users command cannot do what was asked (unknown name, weak password, bad file)."""


class Role(IntEnum):
    """Ordered: a role may do everything the roles below it may."""

    VIEWER = 1
    OPERATOR = 2
    APPROVER = 3
    ADMIN = 4

    @property
    def label(self) -> str:
        return self.name.lower()

    @classmethod
    def parse(cls, text: str) -> Role:
        try:
            return cls[text.strip().upper()]
        except KeyError:
            names = ", ".join(r.label for r in cls)
            raise UsersError(f"'{text}' is not a role; roles are {names}.") from None


ROLE_NAMES: tuple[str, ...] = tuple(r.label for r in Role)


@dataclass(frozen=True)
class User:
    name: str
    role: Role
    password_hash: str
    created_at: str
    password_changed_at: str

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "role": self.role.label,
            "password": self.password_hash,
            "created_at": self.created_at,
            "password_changed_at": self.password_changed_at,
        }


def default_users_file() -> Path:
    """``users.json`` in the user's segsync config folder."""
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base).expanduser() / "segsync" / "users.json"


# -- hashing -------------------------------------------------------------------------------------


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii").rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.b64decode(text + "=" * (-len(text) % 4))


def _scrypt(password: str, salt: bytes, log_n: int, r: int, p: int) -> bytes:
    n = 1 << log_n
    return hashlib.scrypt(
        password.encode("utf-8", "surrogatepass"),
        salt=salt,
        n=n,
        r=r,
        p=p,
        maxmem=256 * n * r * p + (1 << 20),
        dklen=KEY_BYTES,
    )


def hash_password(password: str) -> str:
    """A new salted scrypt hash of ``password`` in PHC string form."""
    salt = secrets.token_bytes(SALT_BYTES)
    key = _scrypt(password, salt, LOG_N, BLOCK_SIZE, PARALLELISM)
    return f"$scrypt$ln={LOG_N},r={BLOCK_SIZE},p={PARALLELISM}${_b64(salt)}${_b64(key)}"


def verify_password(password: str, stored: str) -> bool:
    """Whether ``password`` matches ``stored`` (constant-time comparison)."""
    match = _HASH.match(stored)
    if match is None:
        return False
    log_n, r, p = (int(match.group(i)) for i in (1, 2, 3))
    if not (10 <= log_n <= 22 and 1 <= r <= 32 and 1 <= p <= 16):
        return False
    key = _scrypt(password, _unb64(match.group(4)), log_n, r, p)
    return hmac.compare_digest(key, _unb64(match.group(5)))


_DUMMY_HASH: str | None = None


def _dummy_hash() -> str:
    global _DUMMY_HASH
    if _DUMMY_HASH is None:
        _DUMMY_HASH = hash_password(secrets.token_urlsafe(16))
    return _DUMMY_HASH


def check_password_rules(password: str) -> None:
    if len(password) < MIN_PASSWORD:
        raise UsersError(f"The password is too short: use at least {MIN_PASSWORD} characters.")
    if len(password) > MAX_PASSWORD:
        raise UsersError(f"The password is too long: use at most {MAX_PASSWORD} characters.")


def check_name(name: str) -> str:
    name = name.strip()
    if not _NAME.match(name):
        raise UsersError(
            f"'{name[:60]}' cannot be a user name: use letters, digits and . _ @ + - "
            "(an e-mail address works), starting with a letter or digit, at most 128 characters."
        )
    return name


# -- the file ------------------------------------------------------------------------------------


class UsersFile:
    """The users file at ``path``: read it, look people up, and change it under its lock."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path).expanduser()

    @property
    def exists(self) -> bool:
        return self.path.is_file()

    def users(self) -> list[User]:
        """Every user, in the order they were added (none when the file does not exist)."""
        raw = read_strict(self.path)
        if raw is None:
            return []
        try:
            data = json.loads(raw.decode("utf-8"))
            if data.get("format") != FORMAT or data.get("version") != VERSION:
                raise ValueError("not a users file")
            return [
                User(
                    name=str(u["name"]),
                    role=Role.parse(str(u["role"])),
                    password_hash=str(u["password"]),
                    created_at=str(u.get("created_at") or ""),
                    password_changed_at=str(u.get("password_changed_at") or ""),
                )
                for u in data["users"]
            ]
        except (ValueError, KeyError, TypeError, AttributeError, UsersError):
            raise UsersError(
                f"{self.path} is not a segsync users file (or was damaged); move it away and "
                "add the users again with 'segsync users add'."
            ) from None

    def find(self, name: str) -> User | None:
        wanted = name.strip().casefold()
        return next((u for u in self.users() if u.name.casefold() == wanted), None)

    def check(self, name: str, password: str) -> User | None:
        """The user ``name`` if ``password`` is theirs, else None (same cost either way)."""
        user = self.find(name) if _NAME.match(name.strip()) else None
        ok = verify_password(password, user.password_hash if user else _dummy_hash())
        return user if ok and user is not None else None

    # -- changes (each under the lock, written atomically) ------------------------------------

    def add(self, name: str, role: Role, password: str | None) -> User:
        """Add ``name``; ``password`` None: signs in only through a trusted proxy's header."""
        name = check_name(name)
        if password is not None:
            check_password_rules(password)
        hashed = hash_password(password) if password is not None else NO_PASSWORD
        with self._locked():
            users = self.users()
            if any(u.name.casefold() == name.casefold() for u in users):
                raise UsersError(
                    f"There is already a user '{name}'; change the password with "
                    f"'segsync users passwd {name}' or remove the user first."
                )
            now = _now()
            user = User(name, role, hashed, now, now)
            self._write([*users, user])
        return user

    def remove(self, name: str) -> User:
        with self._locked():
            users = self.users()
            user = self._existing(users, name)
            self._write([u for u in users if u is not user])
        return user

    def set_password(self, name: str, password: str) -> User:
        check_password_rules(password)
        hashed = hash_password(password)
        with self._locked():
            users = self.users()
            user = self._existing(users, name)
            changed = User(user.name, user.role, hashed, user.created_at, _now())
            self._write([changed if u is user else u for u in users])
        return changed

    def set_role(self, name: str, role: Role) -> User:
        with self._locked():
            users = self.users()
            user = self._existing(users, name)
            changed = User(
                user.name, role, user.password_hash, user.created_at, user.password_changed_at
            )
            self._write([changed if u is user else u for u in users])
        return changed

    def _existing(self, users: list[User], name: str) -> User:
        wanted = name.strip().casefold()
        for user in users:
            if user.name.casefold() == wanted:
                return user
        raise UsersError(f"There is no user '{name.strip()[:60]}' in {self.path}.")

    def _locked(self) -> FileLock:
        self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        return FileLock(str(self.path.with_name(self.path.name + ".lock")), mode=0o600)

    def _write(self, users: list[User]) -> None:
        data = {"format": FORMAT, "version": VERSION, "users": [u.to_json() for u in users]}
        text = json.dumps(data, indent=2, ensure_ascii=False) + "\n"
        replace_file(self.path, text.encode("utf-8"), strict=True)


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")
