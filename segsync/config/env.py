"""``SEGSYNC_<SECTION>__<KEY>`` environment variables as settings, read by pydantic-settings.

Each variable names one setting; one naming an unknown setting, or a whole section, is an
error that names the variable, and a token-like key is refused without repeating its value.
How values are read is in ``env_overrides``' docstring (and the README).
"""

from __future__ import annotations

import types
from collections.abc import Mapping
from typing import Any, Union, get_args, get_origin

from pydantic import BaseModel, create_model
from pydantic_settings import BaseSettings, EnvSettingsSource, SettingsConfigDict, SettingsError

from segsync.config.settings import TOKEN_KEYS, Settings, set_dotted, token_refusal
from segsync.errors import ConfigError

__all__ = ["ENV_PREFIX", "env_overrides"]

ENV_PREFIX = "SEGSYNC_"
_ENV_DELIMITER = "__"


class _EnvConfig(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX,
        env_nested_delimiter=_ENV_DELIMITER,
        case_sensitive=False,
    )


#: the shape of Settings as a BaseSettings class, only so pydantic-settings knows which
#: nested names exist; it is never instantiated (Settings validates the merged values).
_EnvShape = create_model(  # type: ignore[call-overload]
    "_EnvShape",
    __base__=_EnvConfig,
    **{name: (field.annotation, field) for name, field in Settings.model_fields.items()},
)


class _EnvSource(EnvSettingsSource):
    """pydantic-settings' environment source over a given mapping instead of ``os.environ``."""

    def __init__(self, environ: Mapping[str, str]) -> None:
        self._environ = environ
        super().__init__(_EnvShape)

    def _load_env_vars(self) -> Mapping[str, str | None]:
        return {name.lower(): value for name, value in self._environ.items()}


def _is_setting_var(name: str) -> bool:
    return name.upper().startswith(ENV_PREFIX) and _ENV_DELIMITER in name[len(ENV_PREFIX) :]


def _accepts_none(annotation: Any) -> bool:
    origin = get_origin(annotation)
    return (origin is Union or origin is types.UnionType) and type(None) in get_args(annotation)


def _env_setting(name: str) -> tuple[str, bool]:
    """The dotted key a ``SEGSYNC_A__B`` variable names, and whether it may be ``None``."""
    parts = name[len(ENV_PREFIX) :].lower().split(_ENV_DELIMITER)
    model: type[BaseModel] | None = Settings
    field = None
    for depth, part in enumerate(parts):
        dotted = ".".join(parts[: depth + 1])
        field = model.model_fields.get(part) if model is not None else None
        if field is None:
            if part in TOKEN_KEYS:
                raise token_refusal(f"The environment variable {name}", dotted)
            if not part:
                raise ConfigError(
                    f"The environment variable {name} is not a known setting: "
                    f"its name has an empty part between '{_ENV_DELIMITER}'."
                )
            if model is None:
                raise ConfigError(
                    f"The environment variable {name} is not a known setting: "
                    f"{'.'.join(parts[:depth])} is a single setting with no sub-settings."
                )
            raise ConfigError(
                f"The environment variable {name} is not a known setting ({dotted}). "
                f"Names look like {ENV_PREFIX}RATE_LIMIT__REQUESTS_PER_SECOND "
                "for rate_limit.requests_per_second; config.yaml lists every setting."
            )
        annotation = field.annotation
        is_section = isinstance(annotation, type) and issubclass(annotation, BaseModel)
        model = annotation if is_section else None  # type: ignore[assignment]
    if model is not None:
        raise ConfigError(
            f"The environment variable {name} names the section {'.'.join(parts)}, not a setting: "
            f"set one variable per setting, e.g. {name}{_ENV_DELIMITER}<KEY>."
        )
    assert field is not None
    return ".".join(parts), _accepts_none(field.annotation)


def env_overrides(environ: Mapping[str, str]) -> tuple[dict[str, Any], dict[str, str]]:
    """The settings given by ``SEGSYNC_<SECTION>__<KEY>`` variables as a nested dict, and the
    variable name behind each dotted key (for messages). Values are never printed.

    Environment variables are read by pydantic-settings (prefix ``SEGSYNC_``, nested delimiter
    ``__``, names case-insensitive) and are *not* parsed as YAML or JSON:

    - A text setting gets the value exactly as given: ``SEGSYNC_INPUT__CLEAR_MARKER=#CLEAR`` is the
      text ``#CLEAR``, ``SEGSYNC_INPUT__SHEET=2024`` the sheet named ``2024``, ``00123`` keeps its
      zeros and surrounding spaces are kept. Numbers, booleans and choices are converted by the
      setting's type as pydantic does (``5`` → 5.0, ``false``/``0``/``no`` → False).
    - An empty value (``SEGSYNC_OUTPUT__DIR=``) counts as not set: the file's value or the default
      stays. (An empty path would otherwise silently mean "the working directory".)
    - ``null`` unsets a setting that may be empty (``SEGSYNC_API__TOKEN_FILE=null``,
      ``SEGSYNC_OUTPUT__DIR=null``, ``SEGSYNC_INPUT__SHEET=null``), as ``null`` does in the file.
      For a setting that must hold text it stays the text ``null``.
    - Relative paths from the environment or flags are relative to the working directory.
    - Each variable names one setting; a variable naming an unknown setting, or a whole section,
      is an error naming the variable. Variables without ``__`` after the prefix (``SEGSYNC_HOME``)
      are not settings and are ignored. A token-like key (``SEGSYNC_API__TOKEN``) is refused
      without repeating its value.
    """
    chosen: dict[str, str] = {}
    names: dict[str, str] = {}
    unset: list[str] = []
    for name, value in environ.items():
        if not _is_setting_var(name):
            continue
        dotted, nullable = _env_setting(name)
        if value == "":  # empty = not set (see the docstring)
            continue
        if dotted in names and names[dotted] != name:
            raise ConfigError(
                f"The environment variables {names[dotted]} and {name} both set {dotted}; "
                "unset one of them."
            )
        names[dotted] = name
        chosen[name] = value
        if nullable and value == "null":
            unset.append(dotted)
    if not chosen:
        return {}, {}
    try:
        data = _EnvSource(chosen)()
    except SettingsError:
        raise ConfigError(
            "The SEGSYNC_* environment variables could not be read: "
            + ", ".join(sorted(chosen))
            + "."
        ) from None
    for dotted in unset:
        set_dotted(data, dotted, None)
    return data, names
