"""The flags of ``segsync web`` about people: ``--trusted-user-header`` and ``--trusted-proxy``."""

from __future__ import annotations

import ipaddress
from typing import Any

import click

from segsync.cli.options import option_group
from segsync.errors import ConfigError
from segsync.web.teamstate import TeamOptions

team_web_options = option_group(
    click.option(
        "--trusted-user-header",
        metavar="NAME",
        help="Take the signed-in person from this header set by a reverse proxy (single "
        "sign-on, e.g. X-Forwarded-User); needs --trusted-proxy.",
    ),
    click.option(
        "--trusted-proxy",
        "trusted_proxies",
        metavar="ADDRESS",
        multiple=True,
        help="The proxy's address or network (repeatable); the header is ignored from others.",
    ),
)


def team_options(opts: dict[str, Any]) -> TeamOptions:
    """The team flags as ``TeamOptions``; refuses a header without a proxy, or a bad address."""
    header = (opts.get("trusted_user_header") or "").strip() or None
    proxies = tuple(p.strip() for p in opts.get("trusted_proxies") or () if p.strip())
    for proxy in proxies:
        try:
            ipaddress.ip_network(proxy, strict=False)
        except ValueError:
            raise ConfigError(
                f"--trusted-proxy {proxy[:60]} is not an IP address or network (such as "
                "10.0.0.5 or 10.0.0.0/24)."
            ) from None
    if header and not proxies:
        raise ConfigError(
            "--trusted-user-header needs --trusted-proxy ADDRESS: the header is believed only "
            "from the reverse proxy that sets it."
        )
    if proxies and not header:
        raise ConfigError("--trusted-proxy needs --trusted-user-header NAME.")
    return TeamOptions(header, proxies)
