"""Compatibility names for the output stage's public API (it lives in the modules named below).

New code imports from the modules themselves: ``segsync.output.results`` (results, preview and
rollback files), ``segsync.output.export`` (the export), ``segsync.output.read_back`` (reading
a results file back) and ``segsync.output.rows`` (the results columns).
"""

from __future__ import annotations

from segsync.output.export import EXPORT_HEADERS, write_export
from segsync.output.read_back import read_outcomes
from segsync.output.results import RESULT_KINDS, default_results_path, write_results
from segsync.output.rows import CURRENT_HEADERS, FIXED_HEADERS, RESULTS_SHEET
from segsync.output.summary import DRY_RUN_BANNER

__all__ = [
    "CURRENT_HEADERS",
    "DRY_RUN_BANNER",
    "EXPORT_HEADERS",
    "FIXED_HEADERS",
    "RESULTS_SHEET",
    "RESULT_KINDS",
    "default_results_path",
    "read_outcomes",
    "write_export",
    "write_results",
]
