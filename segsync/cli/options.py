"""Flags shared by several commands, declared once so they read the same everywhere."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import click

from segsync.errors import ConfigError

Decorator = Callable[[Callable[..., Any]], Callable[..., Any]]


def option_group(*options: Decorator) -> Decorator:
    """One decorator for several click options, applied in the order written (used by the
    CLI's commands and by the web's team options)."""

    def apply(fn: Callable[..., Any]) -> Callable[..., Any]:
        for option in reversed(options):
            fn = option(fn)
        return fn

    return apply


config_option = click.option(
    "--config", type=click.Path(dir_okay=False), help="Config file (default ./config.yaml)."
)

#: ``--config --base-url --token-env``: the same on every command that talks to the API
connection_options = option_group(
    config_option,
    click.option("--base-url", help="API base URL, or 'sandbox' for the embedded local server."),
    click.option("--token-env", help="Environment variable that holds the API token."),
)

log_options = option_group(
    click.option("--log-format", type=click.Choice(["text", "json"]), help="Log line format."),
    click.option("--log-file", type=click.Path(dir_okay=False), help="Also write logs here."),
    click.option(
        "--log-level", type=click.Choice(["debug", "info", "warning", "error"]), help="Log level."
    ),
)

rate_options = option_group(
    click.option(
        "--rps", type=click.FloatRange(min=0, min_open=True), help="Requests per second (all)."
    ),
    click.option(
        "--burst", type=click.IntRange(min=1), help="Most requests in any burst/rps seconds."
    ),
    click.option("--concurrency", type=click.IntRange(1, 256), help="Requests in flight at most."),
)

guardrail_options = option_group(
    click.option(
        "--max-changes",
        type=click.IntRange(min=0),
        help="Refuse the run (exit 2, nothing sent) if it would change more segments.",
    ),
    click.option(
        "--max-change-ratio",
        type=click.FloatRange(0, 1),
        help="Refuse the run if it would change more than this share (0..1) of all segments.",
    ),
    click.option(
        "--canary",
        type=click.IntRange(min=0),
        help="Apply this many rows first, read them back, go on only if all were stored exactly.",
    ),
)

json_option = click.option(
    "--json",
    "as_json",
    is_flag=True,
    help="Print one JSON object on stdout at the end (the summary goes to stderr).",
)

out_option = click.option(
    "--out", type=click.Path(dir_okay=False), help="Results file (.xlsx or .csv)."
)


def settings_overrides(opts: dict[str, Any]) -> dict[str, Any]:
    """Dotted config keys for whichever of the shared flags this command has."""
    keys = {
        "base_url": "api.base_url",
        "token_env": "api.token_env",
        "rps": "rate_limit.requests_per_second",
        "burst": "rate_limit.burst",
        "concurrency": "rate_limit.max_concurrency",
        "log_format": "logging.format",
        "log_file": "logging.file",
        "log_level": "logging.level",
    }
    return {dotted: opts.get(flag) for flag, dotted in keys.items() if flag in opts}


def log_flags(opts: dict[str, Any]) -> dict[str, Any]:
    return {key: opts.get(key) for key in ("log_format", "log_file", "log_level")}


report_option = click.option(
    "--report",
    type=click.Path(dir_okay=False),
    help="Also write a one-file HTML report of the run (open it in a browser, print it).",
)


#: ``--map``, ``--ignore-column``, ``--hidden``: what the person says about the sheet's columns
#: and hidden cells (README, "The edits sheet"); merged over the config's ``input.columns``.
mapping_options = option_group(
    click.option(
        "--map",
        "column_map",
        multiple=True,
        metavar='"HEADER=FIELD"',
        help="Say what a column is: a field (name, code, ...), 'note' or 'ignore'. Repeatable.",
    ),
    click.option(
        "--ignore-column",
        "ignore_columns",
        multiple=True,
        metavar="HEADER",
        help="Leave this column out entirely. Repeatable.",
    ),
    click.option(
        "--hidden",
        type=click.Choice(["refuse", "skip", "include"]),
        help="Hidden rows/columns with data: refuse (default), skip them, or include them.",
    ),
)


def mapping_overrides(opts: dict[str, Any], columns: dict[str, str]) -> dict[str, Any]:
    """Dotted overrides for the mapping flags, merged over ``columns`` (the config's)."""
    said = dict(columns)
    for item in opts.get("column_map") or ():
        header, sep, target = str(item).rpartition("=")
        if not sep or not header.strip() or not target.strip():
            raise ConfigError(
                f"--map '{item}' is not HEADER=FIELD (for example --map \"Source Code=code\")."
            )
        said[header.strip()] = target.strip()
    for header in opts.get("ignore_columns") or ():
        said[str(header).strip()] = "ignore"
    overrides: dict[str, Any] = {}
    if said != columns:
        overrides["input.columns"] = said
    if opts.get("hidden"):
        overrides["input.hidden"] = opts["hidden"]
    return overrides
