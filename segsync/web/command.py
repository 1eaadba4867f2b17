"""``segsync web``: serve the upload page for people who don't use a terminal."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import click

from segsync.cli.commands import guarded, load
from segsync.cli.exit_codes import ExitCode
from segsync.cli.options import connection_options, log_options
from segsync.cli.output import echo, server_lines
from segsync.errors import ConfigError
from segsync.secrets import is_loopback
from segsync.web.options import DEFAULT_HOST, DEFAULT_PORT, WebOptions
from segsync.web.sessions import check_password
from segsync.web.teamoptions import team_options, team_web_options
from segsync.web.teamstate import team_wanted


@click.command()
@click.option(
    "--host",
    default=DEFAULT_HOST,
    show_default=True,
    help="Address to listen on. Anything but loopback needs --password-env.",
)
@click.option(
    "--port",
    type=click.IntRange(0, 65535),
    default=DEFAULT_PORT,
    show_default=True,
    help="Port to listen on (0: any free port).",
)
@click.option(
    "--password-env",
    metavar="NAME",
    help="Environment variable holding the password people must type to use the page.",
)
@click.option(
    "--idle-minutes",
    type=click.FloatRange(min=0, min_open=True),
    default=60.0,
    show_default=True,
    help="Sign a browser out after this many minutes without a request.",
)
@click.option(
    "--tls-cert", type=click.Path(dir_okay=False, exists=True), help="Serve HTTPS: PEM chain."
)
@click.option("--tls-key", type=click.Path(dir_okay=False, exists=True), help="Its private key.")
@team_web_options
@connection_options
@log_options
def web(**opts: Any) -> None:
    """Serve the upload page: upload a sheet, preview, apply, watch it run, roll back.

    It prints its URL, with a secret token in it unless --password-env is given or named users
    sign in (segsync users): open that address (the page refuses every request without it).
    With the default config (api.base_url: sandbox) it works at once against the embedded
    sandbox.
    """

    def run() -> int:
        settings = load(opts)
        team = team_options(opts)
        options = web_options(opts, people=team_wanted(settings, team))
        from segsync.api.session import check_credentials
        from segsync.web.app import create_app
        from segsync.web.server import serve

        check_credentials(settings)  # no token, or an unsafe URL: say so now, not at apply
        app = create_app(settings, options, team)
        for line in server_lines(settings.api.base_url):  # sandbox or Raise: said up front
            echo(f"segsync web:{line.removeprefix(' ')}", err=True)
        if not options.loopback:
            echo(
                f"warning: listening on {options.host}: anyone who can reach it and knows the "
                "password can change segments"
                + ("" if options.tls else "; without --tls-cert the password travels unencrypted"),
                err=True,
            )
        try:
            serve(app, options, lambda line: echo(line))
        except OSError as exc:
            raise ConfigError(
                f"Cannot listen on {options.host}:{options.port} ({exc.strerror or exc}); "
                "choose another --port."
            ) from None
        return ExitCode.OK

    guarded(run, opts)


def web_options(opts: dict[str, Any], *, people: bool = False) -> WebOptions:
    """The serving options; refuses a non-loopback host without a password (exit 2) unless
    named ``people`` sign in (``segsync users``, or a trusted proxy's header)."""
    host = str(opts.get("host") or DEFAULT_HOST).strip()
    name = opts.get("password_env")
    password: str | None = None
    if name:
        password = os.environ.get(name) or None
        if password is None:
            raise ConfigError(
                f"--password-env names {name}, but that environment variable is not set or is "
                "empty; export the password in it first."
            )
    if password is not None:
        check_password(password)
    if not is_loopback(host) and password is None and not people:
        raise ConfigError(
            f"--host {host} would let other computers reach this page, which changes segments "
            "with the organisation's API token; give --password-env NAME (an environment "
            "variable holding the password people must type), or keep --host 127.0.0.1."
        )
    cert, key = opts.get("tls_cert"), opts.get("tls_key")
    if key and not cert:
        raise ConfigError("--tls-key needs --tls-cert.")
    return WebOptions(
        host=host,
        port=int(opts.get("port") or 0) if opts.get("port") is not None else DEFAULT_PORT,
        password=password,
        idle_minutes=float(opts.get("idle_minutes") or 60.0),
        tls_cert=Path(cert) if cert else None,
        tls_key=Path(key) if key else None,
    )
