"""The page's column mapping: what the person said about a sheet's columns, and saving it.

An upload whose sheet has a column segsync cannot place is not refused: the page asks, one row
per column (``mapping_page``). The answer is kept on the upload and laid over the config's
``input.columns`` for every read of that file (another sheet of it too). "Remember" saves it in
``column-mappings.json`` beside the journal folder (``journal.dir``'s parent, ``.segsync/`` by
default, mode 0600), keyed by the sheet's headers in order: the next file with the same headers
is read with it at once, and the preview shows the mapping it used.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

from segsync.config import Settings
from segsync.engine import pipeline
from segsync.errors import UnplacedColumnsError
from segsync.input.editset import EditSet
from segsync.input.placement import normalise_header
from segsync.output.atomic import atomic_file
from segsync.web.uploads import Upload

log = logging.getLogger(__name__)

SAVED_NAME = "column-mappings.json"


def mapped(settings: Settings, mapping: dict[str, str], hidden: str = "") -> Settings:
    """``settings`` with ``mapping`` laid over ``input.columns`` (and ``hidden``, when the
    person chose, as ``input.hidden``)."""
    overrides: dict[str, object] = {}
    if mapping:
        overrides["input.columns"] = {**settings.input.columns, **mapping}
    if hidden:
        overrides["input.hidden"] = hidden
    return settings.with_overrides(overrides) if overrides else settings


def validate_mapped(upload: Upload, settings: Settings, sheet: str | None) -> EditSet:
    """Load the upload with its mapping; a sheet with unplaced columns is read once more with
    the mapping saved for its headers, when there is one."""
    try:
        return pipeline.validate(
            upload.path,
            mapped(settings, upload.mapping, upload.hidden),
            sheet=sheet,
            name=upload.name,
        )
    except UnplacedColumnsError as exc:
        saved = saved_mapping(settings, exc.headers)
        if not saved or upload.mapping:
            raise
        upload.mapping = saved
        editset = pipeline.validate(
            upload.path, mapped(settings, saved, upload.hidden), sheet=sheet, name=upload.name
        )
        editset.warnings.insert(0, "the column mapping saved for these headers was used.")
        return editset


def saved_path(settings: Settings) -> Path:
    return settings.journal.dir.expanduser().parent / SAVED_NAME


def signature(headers: list[tuple[str, str, str]]) -> str:
    """A sheet's headers in order, as their match keys: the saved mapping's key."""
    return "\x1f".join(normalise_header(header) for _, header, _ in headers)


def saved_mapping(settings: Settings, headers: list[tuple[str, str, str]]) -> dict[str, str]:
    """The mapping saved for exactly these headers ({} if none, or the file is unreadable)."""
    path = saved_path(settings)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    found = data.get(signature(headers)) if isinstance(data, dict) else None
    if not isinstance(found, dict):
        return {}
    return {str(k): str(v) for k, v in found.items()}


def save_mapping(
    settings: Settings, headers: list[tuple[str, str, str]], mapping: dict[str, str]
) -> Path:
    """Remember ``mapping`` for files with these headers; written whole (``atomic_file``),
    with the modes of every file segsync makes (``files.file_mode``, 0600 by default)."""
    path = saved_path(settings)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        if not isinstance(data, dict):
            data = {}
    except (OSError, ValueError):
        data = {}
    data[signature(headers)] = mapping
    with atomic_file(path) as handle:
        handle.write(json.dumps(data, ensure_ascii=False, indent=1).encode("utf-8"))
    return path
