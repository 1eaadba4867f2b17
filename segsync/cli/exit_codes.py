"""The exit codes every command ends with: what a batch job alerts on (README, "A nightly job")."""

from __future__ import annotations

from enum import IntEnum


class ExitCode(IntEnum):
    #: every row fine, or nothing to do
    OK = 0
    #: some rows invalid, not found, in conflict, failed, or not attempted
    ROW_PROBLEMS = 1
    #: invalid input, config, plan or results path; the lock is held; a guardrail tripped.
    #: Nothing was sent.
    INVALID_INPUT = 2
    #: the run stopped early: token refused, circuit breaker, interrupted, journal unwritable,
    #: canary failed
    ABORTED = 3
    #: a bug in segsync (please report it)
    INTERNAL_ERROR = 4
