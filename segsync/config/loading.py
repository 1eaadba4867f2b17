"""Loading settings: built-in defaults, then config.yaml, then the environment, then flags.

Relative paths in the file are relative to the file; each layer is validated as a whole, so
an error names the layer it came from (the file, ``The environment``, ``command-line options``).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from segsync.config.env import env_overrides
from segsync.config.settings import Settings, validate_settings
from segsync.errors import ConfigError

__all__ = ["load_settings"]


def _merge(base: dict[str, Any], update: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in update.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = value
    return out


def _resolve_paths(data: dict[str, Any], base: Path) -> None:
    """Make relative paths in the file relative to the file, not the working directory."""
    for section, key in (
        ("api", "token_file"),
        ("api", "ca_bundle"),
        ("output", "dir"),
        ("journal", "dir"),
        ("logging", "file"),
        ("sandbox", "db"),
        ("sandbox", "seed_csv"),
        ("web", "users_file"),
        ("audit", "file"),
    ):
        node = data.get(section)
        if isinstance(node, dict) and isinstance(node.get(key), str):
            path = Path(node[key]).expanduser()
            node[key] = str(path if path.is_absolute() else base / path)


def load_settings(
    path: str | Path | None = None,
    *,
    overrides: dict[str, Any] | None = None,
    environ: dict[str, str] | None = None,
) -> Settings:
    """Read the config file (``path``, else ``./config.yaml`` if present, else defaults),
    apply ``SEGSYNC_*`` variables from ``environ`` (default ``os.environ``; ``env_overrides``
    says how values are read), then ``overrides`` (dotted keys, None = unset).
    """
    environ = dict(os.environ if environ is None else environ)
    data: dict[str, Any] = {}
    origin = "the built-in defaults"
    candidate = Path(path) if path else Path("config.yaml")
    if path and not candidate.is_file():
        raise ConfigError(f"The config file {candidate} does not exist.")
    if candidate.is_file():
        origin = str(candidate)
        try:
            loaded = yaml.safe_load(candidate.read_text(encoding="utf-8"))
        except yaml.YAMLError as exc:
            raise ConfigError(f"{candidate} is not valid YAML: {exc}") from None
        if loaded is not None and not isinstance(loaded, dict):
            raise ConfigError(f"{candidate} must be a mapping of sections such as api: and input:.")
        data = loaded or {}
        _resolve_paths(data, candidate.resolve().parent)
    settings = validate_settings(data, origin)
    env, env_names = env_overrides(environ)
    if env:
        merged = _merge(settings.model_dump(), env)
        settings = validate_settings(merged, "The environment (SEGSYNC_* variables)", env_names)
    if overrides:
        settings = settings.with_overrides(overrides)
    return settings
