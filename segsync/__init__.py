"""segsync: change Raise campaign segments in bulk from a spreadsheet, safely.

The library API (what the CLI calls)::

    import segsync
    settings = segsync.load_settings("config.yaml")
    planned = segsync.plan("edits.xlsx", settings)       # or a pandas DataFrame; sends nothing
    result = segsync.apply(planned.plan, settings)       # sends exactly that plan
    print(result.counts(), result.results_path)

``sync`` (plan and apply in one go), ``plan``, ``apply``, ``validate``, ``export``, ``rollback``,
``runs`` and ``prune_runs`` live in ``segsync.engine.pipeline`` and are imported on first use.
"""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"
_PIPELINE = ("apply", "export", "plan", "prune_runs", "rollback", "runs", "sync", "validate")
__all__ = [*_PIPELINE, "load_settings"]


def __getattr__(name: str) -> Any:
    if name in _PIPELINE:
        from segsync.engine import pipeline

        return getattr(pipeline, name)
    if name == "load_settings":
        from segsync.config import load_settings

        return load_settings
    raise AttributeError(f"module 'segsync' has no attribute {name!r}")
