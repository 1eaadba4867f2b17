"""``segsync init``: a commented config.yaml and a sample edits sheet in the current folder.

An installed segsync works with no file at all (the embedded sandbox); ``init`` is the step to a
folder that is set up for Raise: every line to switch to production is there, commented, with
the rate Raise asks for. It never overwrites: a file already there is named and nothing is
written, so running it twice, or in a folder with a real config, is harmless.
"""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

import click

from segsync.cli.exit_codes import ExitCode
from segsync.cli.logs import fail
from segsync.cli.output import echo

CONFIG_NAME = "config.yaml"
SAMPLE_NAME = "segment_edits.xlsx"

#: the config ``init`` writes; a test loads it and checks every value it promises
CONFIG_TEMPLATE = """\
# segsync configuration, written by `segsync init`.
# Precedence: this file < SEGSYNC_<SECTION>__<KEY> environment variables < command-line flags.
# Unknown keys are errors. Relative paths are relative to this file's folder.
# The API token is NEVER written here: it comes from the environment variable named by
# api.token_env (or the file at api.token_file), and is never printed or logged.

api:
  # "sandbox": a local Raise-compatible server started for each run, with demo data (state in
  # sandbox.db below). Nothing reaches Raise. Try every sheet here first.
  base_url: sandbox
  # To change segments in Raise, use this line instead of the one above, and export the
  # organisation's API token (a JWT from the Raise web app) in RAISE_API_TOKEN:
  # base_url: https://prod-api.raisedonors.com
  token_env: RAISE_API_TOKEN
  # Or read the token from a file (container secrets); wins over token_env when set.
  token_file: null
  # Seconds to wait for an answer to one request.
  timeout_s: 30

rate_limit:
  # One shared limit for every request (reads and writes). Raise asks for about 1 request per
  # second per organisation: keep 1 against production.
  requests_per_second: 1
  # Requests allowed ahead of the steady rate (1 = strictly paced).
  burst: 1
  # Requests in flight at once.
  max_concurrency: 4

guardrails:
  # A nightly job's safety net: refuse (exit 2, nothing sent) a run that would change more
  # than max_changes segments or more than max_change_ratio (0..1) of them. null = no limit.
  max_changes: null
  max_change_ratio: null
  # Apply this many rows first, read them back, go on only if each was stored exactly. 0 = off.
  canary: 0

output:
  # Folder for results workbooks; null = next to the input file.
  dir: null
  # xlsx or csv
  format: xlsx

journal:
  # One folder per run (rollback, --only-failed and `segsync runs` read it).
  dir: .segsync/runs

logging:
  # text (for people) or json (one object per line, for log shippers)
  format: text
  level: info

sandbox:
  # Only used when api.base_url is "sandbox". Delete this file to start from the seed again.
  db: .segsync/sandbox.sqlite3
  # null = the 200 sample segments shipped with segsync (those `segsync sandbox` serves).
  seed_csv: null
"""


@click.command("init")
@click.option(
    "--dir",
    "folder",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("."),
    show_default=True,
    help="Folder to write into.",
)
def init(folder: Path) -> None:
    """Write a commented config.yaml and a sample edits sheet here; never overwrite."""
    config, sample = folder / CONFIG_NAME, folder / SAMPLE_NAME
    present = [str(path) for path in (config, sample) if path.exists()]
    if present:
        fail(
            f"{' and '.join(present)} already exist{'s' if len(present) == 1 else ''}; "
            f"nothing was written. Move {'it' if len(present) == 1 else 'them'} away "
            "(or use --dir FOLDER) to write fresh ones.",
            ExitCode.INVALID_INPUT,
        )
    sheet = (files("segsync.sandbox") / "data" / SAMPLE_NAME).read_bytes()
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with open(config, "x", encoding="utf-8", newline="\n") as handle:
            handle.write(CONFIG_TEMPLATE)
        with open(sample, "xb") as handle:
            handle.write(sheet)
    except OSError as exc:
        fail(f"Cannot write into {folder} ({exc.strerror or exc}).", ExitCode.INVALID_INPUT)
    echo(f"Wrote {config}: runs go to the embedded sandbox (demo data, not Raise).")
    echo(f"Wrote {sample}: sample edits, with deliberate mistakes to show how problems read.")
    echo("Next:")
    echo(f"  segsync sync {SAMPLE_NAME} --dry-run   # what would change; sends nothing")
    echo(f"  segsync sync {SAMPLE_NAME}             # apply it to the sandbox")
    echo("  segsync export --out segments.xlsx    # the segments, to edit and sync back")
    echo(
        "To use Raise: in config.yaml swap the two api.base_url lines, and export "
        "RAISE_API_TOKEN=... (the organisation's API token)."
    )
