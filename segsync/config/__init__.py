"""One validated, frozen settings object: built-in defaults, then config.yaml, then the
``SEGSYNC_<SECTION>__<KEY>`` environment, then flags. Unknown keys anywhere are errors, so a
typo never silently falls back to a default; the token itself is never a setting.

The built-in target is the embedded sandbox, seeded from data shipped in the package: with no
config file segsync works in any folder and cannot write to Raise by accident. Production is
always chosen explicitly (``--base-url``, ``api.base_url`` in config.yaml, or
``SEGSYNC_API__BASE_URL``).

The package's parts, each with one job: ``settings`` (the shape and its validation), ``env``
(the ``SEGSYNC_*`` variables) and ``loading`` (the layers, in order). Every name the code base
imports is importable from ``segsync.config`` itself.
"""

from __future__ import annotations

from segsync.config.env import ENV_PREFIX
from segsync.config.loading import load_settings
from segsync.config.settings import (
    CLEAR_WORDS,
    PRODUCTION_BASE_URL,
    SANDBOX,
    AbortSettings,
    ApiPaths,
    ApiSettings,
    AuditSettings,
    FilesSettings,
    GuardrailSettings,
    InputSettings,
    JournalSettings,
    LoggingSettings,
    NotifySettings,
    OutputSettings,
    PlanSettings,
    RateLimitSettings,
    RetrySettings,
    SandboxSettings,
    Settings,
    SyncSettings,
    WebSettings,
)

__all__ = [
    "CLEAR_WORDS",
    "ENV_PREFIX",
    "PRODUCTION_BASE_URL",
    "SANDBOX",
    "AbortSettings",
    "ApiPaths",
    "ApiSettings",
    "AuditSettings",
    "FilesSettings",
    "GuardrailSettings",
    "InputSettings",
    "JournalSettings",
    "LoggingSettings",
    "NotifySettings",
    "OutputSettings",
    "PlanSettings",
    "RateLimitSettings",
    "RetrySettings",
    "SandboxSettings",
    "Settings",
    "SyncSettings",
    "WebSettings",
    "load_settings",
]
