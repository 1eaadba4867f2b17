"""Where the API token may come from, where it may go, and scrubbing it from all text.

The token is read only from the environment variable named by ``api.token_env`` or from the
file at ``api.token_file`` (container secrets). Every token segsync reads is registered here, and
``redact`` replaces it in any text that leaves the process: log records (a logging filter),
error messages, journal records and reports. It is never sent over plain ``http://`` unless the
host is loopback, where nothing leaves the machine.
"""

from __future__ import annotations

import ipaddress
import logging
import os
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from segsync.errors import SecretError

if TYPE_CHECKING:  # only for annotations: the CLI's --help must not load pydantic
    from segsync.config import Settings

REDACTED = "***"
_secrets: set[str] = set()


def register_secret(value: str) -> None:
    """Remember a secret so that ``redact`` removes it from any text from now on."""
    if value and len(value) >= 4:
        _secrets.add(value)


def redact(text: str) -> str:
    """Replace every registered secret in ``text``."""
    for secret in _secrets:
        if secret in text:
            text = text.replace(secret, REDACTED)
    return text


class RedactingFilter(logging.Filter):
    """A logging filter that scrubs secrets from the message and its arguments."""

    def filter(self, record: logging.LogRecord) -> bool:
        if _secrets:
            record.msg = redact(record.getMessage())
            record.args = None
            if record.exc_info and record.exc_info[1] is not None:
                record.exc_text = redact(logging.Formatter().formatException(record.exc_info))
                record.exc_info = None
        return True


def read_token(settings: Settings, environ: Mapping[str, str] | None = None) -> str:
    """The API token for ``settings``, from the environment or the token file."""
    environ = os.environ if environ is None else environ
    api = settings.api
    token: str | None = None
    if api.token_file is not None:
        try:
            token = Path(api.token_file).read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise SecretError(
                f"The token file {api.token_file} cannot be read ({exc.strerror})."
            ) from None
    else:
        token = (environ.get(api.token_env) or "").strip()
    if not token:
        raise SecretError(
            f"No API token for {api.base_url}: set the environment variable {api.token_env} "
            "(or api.token_file in the config) to a Raise API token, or use --base-url sandbox "
            "to try segsync on the local sandbox first."
        )
    if any(ch.isspace() for ch in token) or not token.isprintable():
        raise SecretError(
            f"The API token in {api.token_env} contains spaces or control characters; "
            "copy it again without the 'Bearer ' prefix."
        )
    register_secret(token)
    return token


def is_loopback(host: str) -> bool:
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_base_url(base_url: str) -> None:
    """Refuse a base URL that would carry the token in clear text over a network."""
    parts = urlsplit(base_url)
    if parts.scheme not in {"http", "https"} or not parts.hostname:
        raise SecretError(
            f"api.base_url '{base_url}' is not an http(s) URL (or 'sandbox' for the local one)."
        )
    if parts.scheme == "http" and not is_loopback(parts.hostname):
        raise SecretError(
            f"api.base_url uses plain http:// to {parts.hostname}, which would send the API "
            "token unencrypted. Use https://, or http:// only to a loopback address."
        )
