"""The results workbook written while a run sends, so the run ends soon after its last answer.

Writing a results row costs about a tenth of a millisecond; at 5,000 rows that is most of a
second, which used to come after the last request. Here each row goes into the workbook as soon
as its outcome is final (``Assembly.settled``: in input order, up to the first row still being
sent), a few dozen rows at a time between the event loop's other work, so request pacing is
not disturbed. What is left at the end (the rows still open, the summary and the other sheets)
is written by ``ResultsWorkbook.finish``.

Writing here is a convenience, never a reason to stop a run: on any fault the streamed file is
dropped (the fault logged) and the run writes its results whole at the end, as it always could.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from pathlib import Path

from segsync.engine.assemble import Assembly
from segsync.input.editset import EditSet
from segsync.outcomes import RunResult
from segsync.output.csv_files import is_csv
from segsync.output.results import ResultsWorkbook, write_results
from segsync.output.rows import ResultsLayout
from segsync.output.workbook import XLSX_MAX_ROWS

# named as before this module moved into segsync/engine/: JSON logs and log filters use it
log = logging.getLogger("segsync.live_results")

#: Rows written before the event loop gets a turn: about 2 ms of work.
SLICE_ROWS = 16


class LiveResults:
    """Feeds ``book`` from ``assembly`` while the run's event loop runs; ``notify`` after each
    answer, ``stop`` when sending is over, then ``book`` (or None after a fault) to finish."""

    @classmethod
    def begin(cls, target: Path | None, editset: EditSet, assembly: Assembly) -> LiveResults | None:
        """Start writing ``target`` in the running event loop; None when it is not written
        live (no results file, a CSV, more rows than a sheet holds, or no room to start)."""
        if target is None or is_csv(target) or len(editset.rows) + 1 > XLSX_MAX_ROWS:
            return None
        try:
            book = ResultsWorkbook(target, ResultsLayout(editset.rows))
        except Exception as exc:  # e.g. no room for scratch files: written at the end then
            _warn("the results file cannot be written during the run", exc)
            return None
        live = cls(book, assembly)
        live._task = asyncio.get_running_loop().create_task(live._pump())
        return live

    def __init__(self, book: ResultsWorkbook, assembly: Assembly) -> None:
        self._book: ResultsWorkbook | None = book
        self._assembly = assembly
        self._wake = asyncio.Event()
        self._wake.set()  # the rows settled already go first
        self._task: asyncio.Task[None] | None = None

    def notify(self) -> None:
        """A row got its outcome: the rows up to the next open one can be written."""
        self._wake.set()

    def stop(self) -> ResultsWorkbook | None:
        """Stop writing (rows not written yet stay for ``finish``); the workbook to finish, or
        None if streaming failed and the results must be written whole.

        Not a coroutine, so that no cancellation can land in it: the writer is suspended
        while this runs, and a cancelled task resumes only to raise, never to add a row.
        """
        if self._task is not None:
            self._task.cancel()
        book, self._book = self._book, None
        return book

    async def _pump(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            try:
                for written, row in enumerate(self._assembly.settled(), start=1):
                    book = self._book
                    if book is None:
                        return
                    book.add(row)
                    if written % SLICE_ROWS == 0:
                        await asyncio.sleep(0)  # let requests and answers through
            except Exception as exc:
                self._give_up(exc)
                return

    def _give_up(self, exc: Exception) -> None:
        _warn("the results file could not be written as the run went", exc)
        book, self._book = self._book, None
        if book is not None:
            with contextlib.suppress(Exception):
                book.discard()


def finish_results(book: ResultsWorkbook | None, result: RunResult, target: Path) -> Path:
    """Finish the workbook written during the run, or (none, or it failed) write the results
    whole; return the file's path."""
    if book is not None:
        try:
            return book.finish(result)
        except Exception as exc:  # that file is gone: write it whole, as without streaming
            _warn("the results file written during the run could not be finished", exc)
    return write_results(result, target)


def _warn(what: str, exc: Exception) -> None:
    log.warning(
        "%s (%s: %s); it is written whole at the end",
        what,
        type(exc).__name__,
        exc,
        extra={"event": "live_results_failed"},
    )
