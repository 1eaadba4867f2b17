"""Send a plan's rows: a fixed pool of workers, the journal, the abort rules, one outcome a row.

The pool caps requests in flight (a task per row costs far more at 100k rows); pacing is the
client's shared limiter. A 401/403, ``abort.consecutive_failures`` rows failing in a row after
every retry, a stop from outside, or a journal that cannot be written all stop the run through
its ``RunControl``: nothing new leaves, rows never sent end ``not_attempted``. A row whose PUT
was answered keeps its true outcome even if its result record is lost: its ``planned`` record,
written before the first PUT, is all rollback needs.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import Callable
from typing import Any

from segsync.api.client import RaiseClient
from segsync.engine.progress import Progress
from segsync.errors import (
    FatalApiError,
    JournalWriteError,
    PermanentApiError,
    RunAborted,
    TransientApiError,
)
from segsync.journal import Journal, attempt_record, planned_record, result_record
from segsync.model import EDITABLE_FIELDS, Segment
from segsync.outcomes import Outcome, RowResult
from segsync.plan.differ import RowPlan

# named as before this module moved into segsync/engine/: JSON logs and log filters use it
log = logging.getLogger("segsync.updater")

IN_FLIGHT_WHEN_CANCELLED = (
    "interrupted while the request was in flight: the server may or may not have applied it; "
    "rerun the same sheet to reconcile"
)


class Updater:
    """Sends the ``to_send`` rows of a plan and produces their ``RowResult``s."""

    def __init__(
        self,
        client: RaiseClient,
        *,
        concurrency: int,
        circuit_breaker: int,
        journal: Journal | None = None,
        progress: Progress | None = None,
    ) -> None:
        self.client = client
        self.concurrency = concurrency
        self.circuit_breaker = circuit_breaker
        self.journal = journal
        self.progress = progress
        self.results: dict[int, RowResult] = {}
        #: called after each row's result is recorded (the live results file listens)
        self.on_result: Callable[[], None] | None = None
        self._consecutive_failures = 0
        #: rows whose request has left (or may have): what a hard stop must call "in flight"
        self._sending: set[int] = set()
        self._workers: list[asyncio.Task[None]] = []
        #: why the journal stopped accepting records (the run was stopped then), else None
        self.journal_failure: str | None = None

    def stop(self, reason: str) -> None:
        """Graceful stop: send nothing new, let requests in flight finish."""
        self.client.control.stop(reason)

    @property
    def aborted(self) -> str | None:
        return self.client.control.reason

    @property
    def retries(self) -> int:
        """Attempts beyond the first, over the rows finished so far."""
        return sum(max(0, r.attempts - 1) for r in self.results.values())

    async def run(self, rows: list[RowPlan]) -> dict[int, RowResult]:
        """Send ``rows`` (rows of a plan with a body); every one ends with a result."""
        # every PUT must be undoable: its planned record is durable before the first one leaves
        if self._journal(lambda journal: journal.write_many(planned_record(r) for r in rows)):
            pending = iter(rows)
            count = max(1, min(self.concurrency, len(rows)))
            self._workers = [asyncio.create_task(self._worker(pending)) for _ in range(count)]
            self.client.control.guard(self._workers)  # a hard stop abandons requests in flight
            try:
                await asyncio.gather(*self._workers, return_exceptions=True)
            finally:
                self.client.control.release(self._workers)
        for row in rows:
            if row.edit.index not in self.results:
                reason = self.aborted or "the run stopped before this row"
                self._finish(row, Outcome.NOT_ATTEMPTED, error=f"not sent: {reason}")
        return self.results

    async def _worker(self, pending: Any) -> None:
        for row in pending:
            if self.client.control.stopped:
                return
            try:
                await self._send(row)
            except asyncio.CancelledError:
                if row.edit.index not in self.results:
                    self._abandon(row)
                raise
            except Exception as exc:  # a bug or a local failure: the row still gets an outcome
                log.exception("row %s: unexpected error", row.edit.source_row)
                if row.edit.index not in self.results:
                    self._finish(
                        row,
                        Outcome.FAILED,
                        error=f"internal error ({type(exc).__name__}: {exc}); state unknown, "
                        "rerun the same sheet to reconcile",
                    )
            finally:
                self._sending.discard(row.edit.index)

    def _abandon(self, row: RowPlan) -> None:
        """A hard stop caught this row: failed if its request may have left, else not sent."""
        if row.edit.index in self._sending:
            self._finish(row, Outcome.FAILED, error=IN_FLIGHT_WHEN_CANCELLED)
        else:
            reason = self.aborted or "interrupted"
            self._finish(row, Outcome.NOT_ATTEMPTED, error=f"not sent: {reason}")

    async def _send(self, row: RowPlan) -> None:
        assert row.body is not None and row.edit.segment_id is not None
        sid = row.edit.segment_id
        try:
            answer, attempts = await self.client.put_segment(
                sid,
                row.body,
                on_attempt=self._attempt_hook(row),
                on_send=lambda: self._sending.add(row.edit.index),
            )
        except RunAborted as exc:
            self._finish(row, Outcome.NOT_ATTEMPTED, error=f"not sent: {exc.reason}")
            return
        except FatalApiError as exc:
            self._finish(row, Outcome.FAILED, exc=exc)
            return
        except PermanentApiError as exc:
            outcome = {404: Outcome.NOT_FOUND, 409: Outcome.CONFLICT}.get(
                exc.status or 0, Outcome.FAILED
            )
            self._consecutive_failures = 0
            self._finish(row, outcome, exc=exc)
            return
        except TransientApiError as exc:
            self._finish(row, Outcome.FAILED, exc=exc)
            self._consecutive_failures += 1
            if self._consecutive_failures >= self.circuit_breaker:
                self.stop(
                    f"circuit breaker open: {self._consecutive_failures} rows in a row failed "
                    "after every retry; the API looks unavailable, try again later"
                )
            return
        self._consecutive_failures = 0
        sent = row.body.to_json()
        if answer is None:  # confirmed without a body: show what was sent over the old stats
            shown = dataclasses.replace(row.before, **sent) if row.before else None  # type: ignore[arg-type]
            self._finish(row, Outcome.UPDATED, status=200, attempts=attempts, segment=shown)
            return
        segment = answer
        got = segment.editable()
        differences = [f for f in EDITABLE_FIELDS if got.get(f) != sent.get(f)]
        outcome = Outcome.UPDATED_WITH_DIFFERENCES if differences else Outcome.UPDATED
        error = None
        if differences:
            error = "the API stored different values for: " + ", ".join(
                f"{f} (sent {sent.get(f)!r}, stored {got.get(f)!r})" for f in differences
            )
        self._finish(
            row,
            outcome,
            status=200,
            attempts=attempts,
            segment=segment,
            differences=differences,
            error=error,
            answered=True,
        )

    def _attempt_hook(self, row: RowPlan) -> Any:
        if self.journal is None:
            return None

        def hook(kind: str, attempt: int, status: int | None, error: str | None) -> None:
            # never raises: the answer to this PUT must reach the row whatever the journal does
            record = attempt_record(row.edit.index, row.edit.segment_id, attempt, status, error)
            self._journal(lambda journal: journal.write(record))

        return hook

    def _journal(self, write: Callable[[Journal], None]) -> bool:
        """Run one journal write; on failure stop the run. False if nothing could be written.

        True also when there is no journal (a dry run or a test): there is nothing to lose.
        """
        if self.journal is None:
            return True
        if self.journal_failure is not None:
            return False  # already stopped; a record after a lost one would mislead
        try:
            write(self.journal)
        except (OSError, JournalWriteError) as exc:
            why = getattr(exc, "reason", None) or getattr(exc, "strerror", None) or str(exc)
            self.journal_failure = (
                f"the run journal could not be written ({why}): "
                "stopped so that every write stays undoable"
            )
            log.error(
                "%s; no new request is sent (journal: %s)",
                self.journal_failure,
                self.journal.path,
                extra={"event": "journal_write_failed", "path": str(self.journal.path)},
            )
            self.client.control.stop(self.journal_failure)
            return False
        return True

    def _finish(
        self,
        row: RowPlan,
        outcome: Outcome,
        *,
        exc: Any = None,
        status: int | None = None,
        attempts: int = 0,
        segment: Segment | None = None,
        differences: list[str] | None = None,
        error: str | None = None,
        answered: bool = False,
    ) -> None:
        """Record the row's outcome (and journal it); ``answered``: ``segment`` is the API's."""
        if exc is not None:
            status, attempts, error = exc.status, exc.attempts, exc.message
        result = RowResult(
            index=row.edit.index,
            source_row=row.edit.source_row,
            segment_id=row.edit.segment_id,
            outcome=outcome,
            changes=row.changes,
            http_status=status,
            attempts=attempts,
            error=error,
            segment=segment or row.before,
            differences=differences or [],
            extras=row.edit.extras,
        )
        self.results[row.edit.index] = result  # the true outcome, journaled or not
        record = result_record(result, after=segment if answered else None)
        self._journal(lambda journal: journal.write(record))
        if self.progress is not None:
            self.progress.advance()
        if self.on_result is not None:
            self.on_result()
