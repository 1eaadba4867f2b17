"""Load edits: a file or a pandas DataFrame → a validated :class:`EditSet`.

A file is checked (:mod:`~segsync.input.sniff`) before a reader turns it into a
:class:`~segsync.input.table.Table`; one row builder then applies the same rules to every
source, so a workbook, a CSV and a DataFrame with the same content give the same edits.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from segsync.config import InputSettings
from segsync.errors import InputError, NoDataError
from segsync.input.delimited import read_text
from segsync.input.editset import EditSet
from segsync.input.headers import header_to_field
from segsync.input.messages import one_line
from segsync.input.rows import build_edit_set
from segsync.input.sniff import FileKind, inspect_file
from segsync.input.table import Table
from segsync.input.workbook import read_workbook
from segsync.perf import gc_paused

__all__ = ["edits_from_dataframe", "header_to_field", "load_edits"]


def load_edits(
    path: str | Path,
    settings: InputSettings,
    *,
    sheet: str | None = None,
    name: str | None = None,
) -> EditSet:
    """Read and validate an edits file (workbook or delimited text) into an :class:`EditSet`.

    ``sheet`` (else ``settings.sheet``) names the worksheet; by default the first visible,
    non-empty one. ``name`` is how messages name the file (default: the file's own name), for
    a caller that stored it under another one, such as an upload; a CSV's single sheet, which
    cell references name (``edits!B2``), is that name without its extension. File-level
    problems raise :class:`UnsupportedFileError`, :class:`FileTooLargeError` or
    :class:`NoDataError` with a sentence naming the file; row problems are collected in
    ``RowEdit.errors``.
    """
    with _one_line_messages():
        file_path = Path(path)
        info = inspect_file(file_path, settings.max_file_mb, name=name or file_path.name)
        wanted = sheet if sheet is not None else settings.sheet
        with gc_paused():
            if info.kind is FileKind.TEXT:
                table = read_text(info)
                if wanted is not None:
                    table.warnings.append(
                        f"{info.name} is a text file with no sheets; sheet ignored."
                    )
            else:
                table = read_workbook(info, wanted)
            table.warnings[:0] = list(info.warnings)
            table.sha256 = info.sha256
            edits = build_edit_set(table, settings)
        edits.warnings[:] = [one_line(warning) for warning in edits.warnings]
        return edits


def edits_from_dataframe(
    df: Any, settings: InputSettings, *, source: str = "<DataFrame>"
) -> EditSet:
    """Validate a pandas DataFrame of edits exactly as a sheet with the same header would be.

    Column labels are the headers. Missing values (NaN, None, ``pd.NA``, ``NaT``) are blank
    cells (keep). Numpy scalars become Python ones, so ``123.0`` in an id column is 123. Row
    numbers are reported as if a header row preceded the data (position + 2).
    """
    header = [str(label) for label in df.columns]
    if not header:
        raise NoDataError(f"{source} has no columns.")
    with _one_line_messages(), gc_paused():
        columns = [_dataframe_column(df.iloc[:, j]) for j in range(len(header))]
        rows = list(zip(*columns, strict=True))
        table = Table(
            name=source,
            source=source,
            sheet="DataFrame",
            header_row=1,
            header=header,
            rows=rows,
            first_row=2,
            has_sheets=False,
        )
        return build_edit_set(table, settings)


@contextmanager
def _one_line_messages() -> Iterator[None]:
    """The last safety net behind ``messages.shown``: a file-level message is one line.

    Each reader already quotes file content through ``shown``; should one slip through, its
    control characters are escaped here rather than spill a refusal over several lines.
    """
    try:
        yield
    except InputError as exc:
        message = str(exc)
        if not message.isprintable():
            exc.args = (one_line(message), *exc.args[1:])
        raise


def _dataframe_column(series: Any) -> list[object]:
    values = series.tolist()
    missing = series.isna().tolist()
    out: list[object] = []
    for value, is_missing in zip(values, missing, strict=True):
        if is_missing:
            out.append("")
        elif type(value).__module__ == "numpy":
            out.append(value.item())
        elif hasattr(value, "to_pydatetime"):
            out.append(value.to_pydatetime())
        else:
            out.append(value)
    return out
