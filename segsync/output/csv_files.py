"""CSV files for people and for machines: UTF-8 with a BOM, written atomically.

The BOM makes Excel read accents right. ``guard=True`` applies the CSV-injection guard of
``segsync.output.xlsx_safety.csv_cell`` (a ``'`` before formula-like text; plain numbers
exempt); files meant to be read back (the export) are written without it.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from segsync.output.atomic import atomic_file
from segsync.output.xlsx_safety import csv_cell


def is_csv(path: Path) -> bool:
    """True when ``path`` asks for a CSV (by its suffix, any case)."""
    return path.suffix.lower() == ".csv"


def csv_text(value: Any, *, guard: bool) -> str:
    """A value as CSV text: None is empty, anything else its ``str``, guarded on request."""
    if value is None:
        return ""
    text = value if type(value) is str else str(value)
    return csv_cell(text) if guard else text


def write_csv(
    target: Path, headers: Sequence[str], rows: Iterable[Sequence[Any]], *, guard: bool
) -> Path:
    """UTF-8 with BOM, ``\\r\\n`` rows, minimal quoting; ``guard`` applies the ``'`` prefix."""
    with atomic_file(target) as fh:
        text = io.TextIOWrapper(fh, encoding="utf-8-sig", newline="", errors="replace")
        try:
            writer = csv.writer(text)
            writer.writerow([csv_text(h, guard=guard) for h in headers])
            for row in rows:
                writer.writerow([csv_text(v, guard=guard) for v in row])
            text.flush()
        finally:
            text.detach()  # the atomic writer owns (fsyncs and closes) the binary file
    return target
