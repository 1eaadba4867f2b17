"""What is checked before the first request: that the files a run promises can be written.

A run whose results would be lost after its writes is worse than a run that never starts, so
the results workbook, the HTML report and a plan file are each proven writable first.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from segsync.config import OutputSettings
from segsync.errors import OutputPathError
from segsync.output.results import default_results_path
from segsync.private_files import make_dirs

#: the results formats a person can open
RESULT_SUFFIXES = (".xlsx", ".csv")


def check_results_path(target: Path) -> Path:
    """Refuse, before anything is sent, a results path that cannot be written.

    The suffix must be ``.xlsx`` or ``.csv``, the folder must exist or be creatable, and a file
    must be creatable in it: a run whose results would be lost after its writes is worse than a
    run that never starts.
    """
    if target.suffix.lower() not in RESULT_SUFFIXES:
        raise OutputPathError(
            f"The results file {target} must end in .xlsx or .csv; nothing was sent."
        )
    if target.is_dir():
        raise OutputPathError(f"The results path {target} is a folder; nothing was sent.")
    folder = target.parent
    try:
        make_dirs(folder)
        with tempfile.NamedTemporaryFile(dir=folder, prefix=".segsync-probe-", delete=True):
            pass
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise OutputPathError(
            f"Cannot write the results to {target} ({reason}); nothing was sent. "
            "Choose another --out or output.dir."
        ) from None
    return target


def check_results_target(
    out: str | Path | bool | None,
    *,
    source: str,
    command: str,
    dry_run: bool,
    output: OutputSettings,
) -> Path | None:
    """Where a run's results go, proven writable before the first request (None: nowhere).

    ``out`` is what the caller asked for: a path, False for no results file, or None (or True)
    for the default name, made from the input file ``source`` (a DataFrame or a rollback has
    no file: the current folder then) and the kind of run, in ``output.dir`` if set.
    """
    if out is False:
        return None
    if out is None or out is True:
        kind = "rollback" if command == "rollback" else "preview" if dry_run else "results"
        input_path = Path(source)
        target = default_results_path(
            input_path if input_path.is_file() else None,
            out_dir=output.dir,
            kind=kind,
            fmt=output.format,
        )
    else:
        target = Path(out)
    return check_results_path(target)


def check_report_path(target: Path) -> Path:
    """An HTML report path, proven writable before the first request (like the results)."""
    if target.suffix.lower() not in (".html", ".htm"):
        raise OutputPathError(f"The report {target} must end in .html; nothing was sent.")
    check_results_path(target.with_suffix(".xlsx"))
    return target


def check_plan_path(path: Path) -> Path:
    """A plan file must be ``.json`` in a writable folder."""
    if path.suffix.lower() != ".json":
        raise OutputPathError(f"The plan file {path} must end in .json; nothing was read.")
    check_results_path(path.with_suffix(".xlsx"))
    return path
