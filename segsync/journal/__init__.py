"""The run journal: what a run meant to write, what it did, and how to undo or finish it.

One folder per run, ``<journal.dir>/<run-id>/journal.jsonl``, one JSON object a line, each write
fsync'd before the next request goes out, so a crash or ``kill -9`` loses at most the answer to
a request in flight. ``records`` defines the format, ``writer`` writes it, ``reader`` reads it
back, and ``edits`` turns a past run into a rollback or a retry.
"""

from segsync.journal.edits import RETRY_OUTCOMES, rollback_edits, rows_to_retry
from segsync.journal.reader import RowHistory, RunRecord, find_journal, list_runs, read_journal
from segsync.journal.records import (
    attempt_record,
    footer_record,
    header_record,
    planned_record,
    result_record,
)
from segsync.journal.writer import JOURNAL_NAME, Journal, new_run_id

__all__ = [
    "JOURNAL_NAME",
    "RETRY_OUTCOMES",
    "Journal",
    "RowHistory",
    "RunRecord",
    "attempt_record",
    "find_journal",
    "footer_record",
    "header_record",
    "list_runs",
    "new_run_id",
    "planned_record",
    "read_journal",
    "result_record",
    "rollback_edits",
    "rows_to_retry",
]
