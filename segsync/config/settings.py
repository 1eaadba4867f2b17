"""The settings' shape, and the one validation every source of settings goes through.

One frozen pydantic model per section with its defaults beside each key; unknown keys are
errors (a typo never silently falls back to a default), and a key that would hold the token is
refused with a sentence that says where tokens go. ``segsync.config.loading`` feeds it the file,
``segsync.config.env`` the environment; ``Settings.with_overrides`` the flags.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from segsync.errors import ConfigError, SecretError

PRODUCTION_BASE_URL = "https://prod-api.raisedonors.com"
#: ``api.base_url: sandbox`` starts an embedded sandbox server for the run.
SANDBOX = "sandbox"
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_LOOKS_LIKE_TOKEN = re.compile(r"^(eyJ[\w-]+\.[\w-]+\.[\w-]*|[A-Za-z0-9_\-+/=.]{32,})$")
#: keys that would hold the token itself; refused in the file, the environment and flags
TOKEN_KEYS = frozenset({"token", "api_token", "bearer", "password"})


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ApiPaths(_Section):
    """Paths are configuration: the Raise reference documents only the PUT."""

    segment: str = "/api/Segment/{id}"
    segment_list: str = "/api/Segment/list"
    #: read once when a sheet moves segments, to check the campaign ids (paged like segments)
    campaign_list: str = "/api/Campaign/list"


class ApiSettings(_Section):
    #: ``sandbox`` (the default: a local demo server) or Raise's URL, chosen explicitly
    base_url: str = SANDBOX
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
    #: the largest answer read (MiB, after decompression); a bigger one is a transient failure
    max_body_mib: float = Field(64.0, gt=0)
    #: seconds one request may take from its send to the last byte of its answer
    request_deadline_s: float = Field(60.0, gt=0)

    @field_validator("token_env")
    @classmethod
    def _env_name(cls, value: str) -> str:
        if _LOOKS_LIKE_TOKEN.match(value) and not _ENV_NAME.match(value):
            raise SecretError(
                "api.token_env must name an environment variable, but it looks like a token. "
                "Remove the token from the configuration and export it instead."
            )
        if not _ENV_NAME.match(value):
            raise ValueError("must be an environment variable name such as RAISE_API_TOKEN")
        return value


class RateLimitSettings(_Section):
    requests_per_second: float = Field(1.0, gt=0)
    burst: int = Field(1, ge=1)
    max_concurrency: int = Field(4, ge=1, le=256)
    #: on 429, cut the rate by the evidence and recover once the 429s stop
    adaptive: bool = True
    min_requests_per_second: float = Field(0.2, gt=0)
    #: share of the rate kept free for arrival jitter (0.02 = pace at 98% of the rate)
    headroom: float = Field(0.02, ge=0, lt=0.5)


class RetrySettings(_Section):
    max_attempts: int = Field(5, ge=1)
    max_total_s: float = Field(120.0, gt=0)
    backoff_base_s: float = Field(0.5, ge=0)
    backoff_max_s: float = Field(30.0, ge=0)
    retry_after_cap_s: float = Field(120.0, ge=0)
    #: how many 500 answers a PUT may get before it is given up (PUT is idempotent, but a 500
    #: is not known to be transient); other faults before them do not count
    put_500_max_attempts: int = Field(2, ge=1)


class AbortSettings(_Section):
    #: consecutive rows that failed transiently after all retries before the run stops
    consecutive_failures: int = Field(10, ge=1)


#: Words people type to mean "clear"; never written literally (see README, "Clear words").
CLEAR_WORDS: tuple[str, ...] = ("n/a", "-", "--", "\u2013", "\u2014", "none", "null")


class InputSettings(_Section):
    clear_marker: str = Field("#CLEAR", min_length=1)
    max_file_mb: float = Field(50, gt=0)
    max_rows: int = Field(1_000_000, ge=1)
    sheet: str | None = None
    #: header → field | note | ignore: what the person says a column is (see README)
    columns: dict[str, str] = Field(default_factory=dict)
    #: rows and columns hidden in the workbook: refuse (name them), skip them, or include them
    hidden: Literal["refuse", "skip", "include"] = "refuse"
    #: words that mean "clear" when typed in a cell: refused unless the server holds them
    clear_words: tuple[str, ...] = CLEAR_WORDS


class SyncSettings(_Section):
    #: compare the sheet's modifiedDateTime (as an export carries) with the server's
    conflict_check: bool = True
    force: bool = False


class GuardrailSettings(_Section):
    """Limits a nightly run checks before its first write (see README, "A nightly job")."""

    #: refuse a run that would change more segments than this (None: no limit)
    max_changes: int | None = Field(None, ge=0)
    #: refuse a run that would change more than this share of the server's segments (0..1)
    max_change_ratio: float | None = Field(None, ge=0, le=1)
    #: apply this many rows first, re-read them, and go on only if all were stored exactly
    canary: int = Field(0, ge=0)


class PlanSettings(_Section):
    #: a saved plan older than this is refused by ``apply`` (unless --force)
    max_age_hours: float = Field(24.0, gt=0)


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


class FilesSettings(_Section):
    """Modes of the files and folders segsync creates (journals, plans, results, reports,
    logs, the sandbox database). Private by default; a team sharing a results folder through a
    group may widen them (``"0640"`` / ``"0750"``). Octal text, as ``chmod`` takes it."""

    file_mode: str = "0600"
    dir_mode: str = "0700"

    @field_validator("file_mode", "dir_mode")
    @classmethod
    def _octal(cls, value: str) -> str:
        from segsync.private_files import parse_mode

        return f"{parse_mode(value, 'a mode'):04o}"

    def apply(self) -> None:
        """Use these modes for everything this process creates from now on."""
        from segsync.private_files import configure

        configure(int(self.file_mode, 8), int(self.dir_mode, 8))


class SandboxSettings(_Section):
    """Only used when ``api.base_url`` is ``sandbox``."""

    db: Path = Path(".segsync/sandbox.sqlite3")
    #: a fresh sandbox's segments; None = the sample segments shipped with segsync (the same
    #: seed ``segsync sandbox`` starts from), unless ``seed_rows`` asks for generated ones
    seed_csv: Path | None = None
    seed_rows: int = Field(0, ge=0)


class WebSettings(_Section):
    """Named people on ``segsync web`` (README, "For a team")."""

    #: the users file (None: users.json in the user's segsync config folder); with users in
    #: it, the page asks for a user name and password
    users_file: Path | None = None
    #: a plan (or rollback) changing more segments than this waits for a different approver
    approval_required_over: int | None = Field(None, ge=0)


class AuditSettings(_Section):
    """The audit trail: one JSON line per action (README, "For a team")."""

    #: the JSON Lines file (None: audit.jsonl beside the journal folder)
    file: Path | None = None
    enabled: bool = True


class NotifySettings(_Section):
    """Alerts after a run through Apprise URLs (README, "For a team")."""

    #: Apprise URLs (slack://, msteams://, mailto://, ntfy://, json:// ...)
    urls: list[str] = Field(default_factory=list)
    #: an environment variable holding more URLs (space-separated), for URLs with a secret
    urls_env: str | None = None
    #: always; problems (exit code not 0); failure (exit code 2 or more: nothing or not all sent)
    when: Literal["always", "problems", "failure"] = "problems"


class Settings(_Section):
    api: ApiSettings = ApiSettings()
    rate_limit: RateLimitSettings = RateLimitSettings()
    retries: RetrySettings = RetrySettings()
    abort: AbortSettings = AbortSettings()
    input: InputSettings = InputSettings()
    sync: SyncSettings = SyncSettings()
    guardrails: GuardrailSettings = GuardrailSettings()
    plan: PlanSettings = PlanSettings()
    output: OutputSettings = OutputSettings()
    journal: JournalSettings = JournalSettings()
    logging: LoggingSettings = LoggingSettings()
    sandbox: SandboxSettings = SandboxSettings()
    files: FilesSettings = FilesSettings()
    web: WebSettings = WebSettings()
    audit: AuditSettings = AuditSettings()
    notify: NotifySettings = NotifySettings()

    @property
    def uses_embedded_sandbox(self) -> bool:
        return self.api.base_url.strip().lower() == SANDBOX

    def summary(self) -> dict[str, Any]:
        """The effective configuration as flat ``section.key: value`` pairs, without secrets."""
        flat: dict[str, Any] = {}
        for section, values in self.model_dump(mode="json").items():
            _flatten(section, values, flat)
        # Apprise URLs may carry a service's token: only their kind is shown
        flat["notify.urls"] = [url.split("://", 1)[0] + "://…" for url in self.notify.urls]
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


def set_dotted(data: dict[str, Any], dotted: str, value: Any) -> None:
    *parents, leaf = dotted.split(".")
    node = data
    for part in parents:
        node = node.setdefault(part, {})
    node[leaf] = value


def token_refusal(origin: str, where: str) -> SecretError:
    return SecretError(
        f"{origin} holds a token at '{where}'. Tokens never go in settings: "
        "export it in the environment variable named by api.token_env "
        "(default RAISE_API_TOKEN), or point api.token_file at a secrets file."
    )


def validate_settings(
    data: dict[str, Any], origin: str, names: Mapping[str, str] | None = None
) -> Settings:
    """Validate ``data``; errors become one ConfigError sentence. ``names`` maps a dotted key
    to the name the user wrote it under (an environment variable) for the message."""
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
                if where.split(".")[-1] in TOKEN_KEYS:
                    raise token_refusal(origin, where) from None
            problems.append(f"{(names or {}).get(where, where)}: {msg}")
        raise ConfigError(f"{origin} is not valid: " + "; ".join(problems) + ".") from None


def _with_overrides_from(settings: Settings, overrides: dict[str, Any], origin: str) -> Settings:
    data = settings.model_dump()
    for dotted, value in overrides.items():
        set_dotted(data, dotted, value)
    return validate_settings(data, origin)
