"""segsync: change Raise campaign segments in bulk from a spreadsheet, safely.

The library API (what the CLI calls)::

    import segsync
    settings = segsync.load_settings("config.yaml")
    result = segsync.sync("edits.xlsx", settings, dry_run=True)   # or a pandas DataFrame
    print(result.counts(), result.results_path)
    frame = result.to_dataframe()

``sync``, ``validate``, ``export``, ``rollback`` and ``runs`` live in ``segsync.pipeline`` and are
imported on first use, so ``import segsync.model`` stays light.
"""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"
__all__ = ["export", "load_settings", "rollback", "runs", "sync", "validate"]


def __getattr__(name: str) -> Any:
    if name in {"sync", "validate", "export", "rollback", "runs"}:
        from segsync import pipeline

        return getattr(pipeline, name)
    if name == "load_settings":
        from segsync.config import load_settings

        return load_settings
    raise AttributeError(f"module 'segsync' has no attribute {name!r}")
