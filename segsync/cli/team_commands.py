"""``segsync users`` and ``segsync audit``: the people of the page and the trail of what they did.

Thin, as every command: parse, call ``segsync.team``, print. Passwords come from a hidden prompt
(typed twice) or from ``--password-env NAME``; without a terminal and without that flag the
command says so and exits 2, never waiting for input nobody can give.
"""

from __future__ import annotations

import json
import os
import sys
from typing import Any

import click

from segsync.cli.commands import guarded, load
from segsync.cli.exit_codes import ExitCode
from segsync.cli.options import config_option, json_option, log_options
from segsync.cli.output import echo
from segsync.config import Settings
from segsync.engine.runlock import current_user
from segsync.team.audit import AuditLog, audit_path, parse_since, read_audit
from segsync.team.users import ROLE_NAMES, Role, UsersError, UsersFile, default_users_file


def users_file(settings: Settings) -> UsersFile:
    return UsersFile(settings.web.users_file or default_users_file())


def _password(opts: dict[str, Any], name: str) -> str:
    env = opts.get("password_env")
    if env:
        value = os.environ.get(env)
        if not value:
            raise UsersError(
                f"--password-env names {env}, but that environment variable is not set or is "
                "empty; export the password in it first."
            )
        return value
    if not sys.stdin.isatty():
        raise UsersError(
            f"No password for '{name}': there is no terminal to ask on. Give --password-env "
            "NAME (an environment variable holding the password)."
        )
    return str(
        click.prompt(f"Password for {name}", hide_input=True, confirmation_prompt=True, err=True)
    )


password_env_option = click.option(
    "--password-env",
    metavar="NAME",
    help="Environment variable holding the password (default: ask, hidden, twice).",
)


@click.group()
def users() -> None:
    """Manage the people who may use the web page, and their roles."""


def _audit(settings: Settings, action: str, **fields: Any) -> None:
    AuditLog.for_settings(settings).record(action, current_user(), via="cli", **fields)


@users.command("add")
@click.argument("name")
@click.option(
    "--role", type=click.Choice(ROLE_NAMES), required=True, help="What the person may do."
)
@password_env_option
@click.option(
    "--no-password",
    is_flag=True,
    help="No password: the person signs in only through the single sign-on proxy.",
)
@config_option
@log_options
def users_add(name: str, role: str, **opts: Any) -> None:
    """Add the person NAME with a role and a password."""

    def run() -> int:
        settings = load(opts)
        file = users_file(settings)
        password = None if opts["no_password"] else _password(opts, name)
        user = file.add(name, Role.parse(role), password)
        _audit(settings, "user-add", user=user.name, role=user.role.label)
        echo(f"Added {user.name} ({user.role.label}) to {file.path}.")
        return ExitCode.OK

    guarded(run, opts)


@users.command("list")
@config_option
@json_option
@log_options
def users_list(**opts: Any) -> None:
    """List the people and their roles (never their passwords)."""

    def run() -> int:
        file = users_file(load(opts))
        people = file.users()
        if opts["as_json"]:
            rows = [
                {"name": u.name, "role": u.role.label, "created_at": u.created_at} for u in people
            ]
            echo(json.dumps({"users_file": str(file.path), "users": rows}, ensure_ascii=False))
            return ExitCode.OK
        if not people:
            echo(f"No users in {file.path}; add one with 'segsync users add NAME --role ROLE'.")
        for user in people:
            echo(f"{user.name:30}  {user.role.label:9}  added {user.created_at}")
        return ExitCode.OK

    guarded(run, opts)


@users.command("remove")
@click.argument("name")
@config_option
@log_options
def users_remove(name: str, **opts: Any) -> None:
    """Remove the person NAME (their next request on the page is refused)."""

    def run() -> int:
        settings = load(opts)
        file = users_file(settings)
        user = file.remove(name)
        _audit(settings, "user-remove", user=user.name)
        echo(f"Removed {user.name} from {file.path}.")
        return ExitCode.OK

    guarded(run, opts)


@users.command("passwd")
@click.argument("name")
@password_env_option
@config_option
@log_options
def users_passwd(name: str, **opts: Any) -> None:
    """Set a new password for NAME."""

    def run() -> int:
        settings = load(opts)
        file = users_file(settings)
        if file.find(name) is None:
            raise UsersError(f"There is no user '{name.strip()[:60]}' in {file.path}.")
        user = file.set_password(name, _password(opts, name))
        _audit(settings, "user-passwd", user=user.name)
        echo(f"Changed the password of {user.name}.")
        return ExitCode.OK

    guarded(run, opts)


@users.command("role")
@click.argument("name")
@click.argument("role", type=click.Choice(ROLE_NAMES))
@config_option
@log_options
def users_role(name: str, role: str, **opts: Any) -> None:
    """Give NAME another ROLE."""

    def run() -> int:
        settings = load(opts)
        user = users_file(settings).set_role(name, Role.parse(role))
        _audit(settings, "user-role", user=user.name, role=user.role.label)
        echo(f"{user.name} is now {user.role.label}.")
        return ExitCode.OK

    guarded(run, opts)


@click.command()
@click.option(
    "--since",
    metavar="DATE",
    help="Only actions from DATE on: 2026-12-01, 2026-12-01T08:00, or 7d / 12h / 30m ago.",
)
@config_option
@json_option
@log_options
def audit(since: str | None, **opts: Any) -> None:
    """Show the audit trail: who signed in, previewed, approved, applied, rolled back."""

    def run() -> int:
        settings = load(opts)
        path = audit_path(settings)
        lines = read_audit(path, parse_since(since) if since else None)
        if opts["as_json"]:
            echo(json.dumps({"audit_file": str(path), "entries": lines}, ensure_ascii=False))
            return ExitCode.OK
        if not lines:
            echo(f"No actions in {path}" + (f" since {since}." if since else "."))
        for line in lines:
            echo(describe(line))
        return ExitCode.OK

    guarded(run, opts)


def describe(line: dict[str, Any]) -> str:
    """One audit line as a person reads it in a terminal."""
    parts = [str(line.get("time", ""))[:19].replace("T", " ") + " UTC", str(line.get("person"))]
    parts.append(str(line.get("action")))
    if line.get("run_id"):
        parts.append(f"run {line['run_id']}")
    if line.get("plan_sha256"):
        parts.append(f"plan {str(line['plan_sha256'])[:12]}")
    if line.get("file"):
        parts.append(str(line["file"]))
    counts = line.get("counts")
    if isinstance(counts, dict) and counts:
        parts.append(", ".join(f"{k} {v}" for k, v in counts.items()))
    for key in ("approved_by", "os_user", "user", "role", "reason", "refused"):
        if line.get(key):
            parts.append(f"{key.replace('_', ' ')}: {line[key]}")
    return "  ".join(parts)
