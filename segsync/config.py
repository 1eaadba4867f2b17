"""One validated, frozen settings object from config.yaml, then the environment, then flags.

Precedence (later wins): built-in defaults → the YAML file → ``SEGSYNC_<SECTION>__<KEY>``
environment variables (e.g. ``SEGSYNC_RATE_LIMIT__REQUESTS_PER_SECOND=5``) → command-line
flags. Unknown keys anywhere are errors, so a typo never silently falls back to a default.
Relative paths in the file are resolved against the file's own folder, so a config works
from any working directory. The token itself is never part of the settings (see
``segsync.secrets``).
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from segsync.errors import ConfigError, SecretError

PRODUCTION_BASE_URL = "https://prod-api.raisedonors.com"
#: ``api.base_url: sandbox`` starts an embedded sandbox server for the run.
SANDBOX = "sandbox"
ENV_PREFIX = "SEGSYNC_"
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_LOOKS_LIKE_TOKEN = re.compile(r"^(eyJ[\w-]+\.[\w-]+\.[\w-]*|[A-Za-z0-9_\-+/=.]{32,})$")


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ApiPaths(_Section):
    """Paths are configuration because only the PUT is documented (shared/raise-api.md)."""

    segment: str = "/api/Segment/{id}"
    segment_list: str = "/api/Segment/list"
    campaign_list: str = "/api/Campaign/list"


class ApiSettings(_Section):
    base_url: str = PRODUCTION_BASE_URL
    token_env: str = "RAISE_API_TOKEN"
    token_file: Path | None = None
    timeout_s: float = Field(30.0, gt=0)
    connect_timeout_s: float = Field(10.0, gt=0)
    ca_bundle: Path | None = None
    paths: ApiPaths = ApiPaths()
    list_enabled: bool = True
    list_page_size: int = Field(100, ge=1, le=10_000)
    #: query parameter the list endpoint takes to filter by campaign
    list_campaign_param: str = "CampaignId"

    @field_validator("token_env")
    @classmethod
    def _env_name(cls, value: str) -> str:
        if _LOOKS_LIKE_TOKEN.match(value) and not _ENV_NAME.match(value):
            raise SecretError(
                "api.token_env must name an environment variable, but it looks like a token. "
                "Remove the token from the config file and export it instead."
            )
        if not _ENV_NAME.match(value):
            raise ValueError("must be an environment variable name such as RAISE_API_TOKEN")
        return value


class RateLimitSettings(_Section):
    requests_per_second: float = Field(1.0, gt=0)
    burst: int = Field(1, ge=1)
    max_concurrency: int = Field(4, ge=1, le=256)
    #: cut the rate on 429 and recover gradually (AIMD)
    adaptive: bool = True
    min_requests_per_second: float = Field(0.2, gt=0)


class RetrySettings(_Section):
    max_attempts: int = Field(5, ge=1)
    max_total_s: float = Field(120.0, gt=0)
    backoff_base_s: float = Field(0.5, ge=0)
    backoff_max_s: float = Field(30.0, ge=0)
    retry_after_cap_s: float = Field(120.0, ge=0)
    #: attempts for a PUT answered 500 (PUT is idempotent, but 500 is not known transient)
    put_500_max_attempts: int = Field(2, ge=1)


class AbortSettings(_Section):
    #: consecutive rows that failed transiently after all retries before the run stops
    consecutive_failures: int = Field(10, ge=1)


class InputSettings(_Section):
    clear_marker: str = Field("#CLEAR", min_length=1)
    max_file_mb: float = Field(50, gt=0)
    max_rows: int = Field(1_000_000, ge=1)
    sheet: str | None = None


class SyncSettings(_Section):
    #: compare the sheet's modifiedDateTime (as an export carries) with the server's
    conflict_check: bool = True
    force: bool = False


class OutputSettings(_Section):
    #: folder for results; default: next to the input file
    dir: Path | None = None
    format: Literal["xlsx", "csv"] = "xlsx"


class JournalSettings(_Section):
    dir: Path = Path(".segsync/runs")


class LoggingSettings(_Section):
    format: Literal["text", "json"] = "text"
    level: Literal["debug", "info", "warning", "error"] = "info"
    file: Path | None = None
    #: seconds between progress log lines when stderr is not a terminal
    progress_interval_s: float = Field(5.0, gt=0)


class SandboxSettings(_Section):
    """Only used when ``api.base_url`` is ``sandbox``."""

    db: Path = Path(".segsync/sandbox.sqlite3")
    seed_csv: Path | None = Path("samples/segments.csv")
    seed_rows: int = Field(0, ge=0)


class Settings(_Section):
    api: ApiSettings = ApiSettings()
    rate_limit: RateLimitSettings = RateLimitSettings()
    retries: RetrySettings = RetrySettings()
    abort: AbortSettings = AbortSettings()
    input: InputSettings = InputSettings()
    sync: SyncSettings = SyncSettings()
    output: OutputSettings = OutputSettings()
    journal: JournalSettings = JournalSettings()
    logging: LoggingSettings = LoggingSettings()
    sandbox: SandboxSettings = SandboxSettings()

    @property
    def uses_embedded_sandbox(self) -> bool:
        return self.api.base_url.strip().lower() == SANDBOX

    def summary(self) -> dict[str, Any]:
        """The effective configuration as flat ``section.key: value`` pairs, without secrets."""
        flat: dict[str, Any] = {}
        for section, values in self.model_dump(mode="json").items():
            _flatten(section, values, flat)
        return flat

    def with_overrides(self, overrides: dict[str, Any]) -> Settings:
        """A copy with dotted-key overrides (``{"rate_limit.burst": 2}``) applied and validated."""
        present = {k: v for k, v in overrides.items() if v is not None}
        return _with_overrides_from(self, present, "command-line options")


def _flatten(prefix: str, value: Any, out: dict[str, Any]) -> None:
    if isinstance(value, dict):
        for key, inner in value.items():
            _flatten(f"{prefix}.{key}", inner, out)
    else:
        out[prefix] = value


def _set_dotted(data: dict[str, Any], dotted: str, value: Any) -> None:
    *parents, leaf = dotted.split(".")
    node = data
    for part in parents:
        node = node.setdefault(part, {})
    node[leaf] = value


def _validate(data: dict[str, Any], origin: str) -> Settings:
    try:
        return Settings.model_validate(data)
    except SecretError:
        raise
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            where = ".".join(str(p) for p in err["loc"])
            msg = err["msg"]
            if err["type"] == "extra_forbidden":
                msg = "is not a known setting"
                if where.split(".")[-1] in {"token", "api_token", "bearer", "password"}:
                    raise SecretError(
                        f"{origin} holds a token at '{where}'. Tokens never go in files: "
                        "export it in the environment variable named by api.token_env "
                        "(default RAISE_API_TOKEN), or point api.token_file at a secrets file."
                    ) from None
            problems.append(f"{where}: {msg}")
        raise ConfigError(f"{origin} is not valid: " + "; ".join(problems)) from None


def _env_overrides(environ: dict[str, str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, value in environ.items():
        if not name.startswith(ENV_PREFIX) or "__" not in name:
            continue
        dotted = name[len(ENV_PREFIX) :].lower().replace("__", ".")
        out[dotted] = yaml.safe_load(value) if value.strip() else value
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
    apply ``SEGSYNC_*`` environment variables, then ``overrides`` (dotted keys, None = unset).
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
    settings = _validate(data, origin)
    env = _env_overrides(environ)
    if env:
        settings = _with_overrides_from(settings, env, "SEGSYNC_* environment variables")
    if overrides:
        settings = settings.with_overrides(overrides)
    return settings


def _with_overrides_from(settings: Settings, overrides: dict[str, Any], origin: str) -> Settings:
    data = settings.model_dump()
    for dotted, value in overrides.items():
        _set_dotted(data, dotted, value)
    return _validate(data, origin)
