"""Limits a nightly run checks before it writes, so a broken upstream sheet cannot rewrite
everything while nobody watches: a maximum number of changes, a maximum share of the server's
segments, and a canary (a few rows applied and read back before the rest)."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from segsync.api.client import RaiseClient
from segsync.config import GuardrailSettings
from segsync.errors import GuardrailError
from segsync.model import EDITABLE_FIELDS
from segsync.outcomes import Outcome, RowResult
from segsync.plan.differ import RowPlan

# named as before this module moved into segsync/engine/: JSON logs and log filters use it
log = logging.getLogger("segsync.guardrails")


@dataclass(frozen=True)
class Guardrails:
    max_changes: int | None = None
    max_change_ratio: float | None = None
    canary: int = 0

    @classmethod
    def from_settings(
        cls,
        settings: GuardrailSettings,
        *,
        max_changes: int | None = None,
        max_change_ratio: float | None = None,
        canary: int | None = None,
    ) -> Guardrails:
        """The configured guardrails with any flags laid over them."""
        return cls(
            max_changes=settings.max_changes if max_changes is None else max_changes,
            max_change_ratio=(
                settings.max_change_ratio if max_change_ratio is None else max_change_ratio
            ),
            canary=settings.canary if canary is None else canary,
        )


def check_guardrails(
    changes: int, server_total: int | None, rails: Guardrails, *, dry_run: bool
) -> None:
    """Refuse (``GuardrailError``) a run over a limit; a dry run only warns."""
    problems = []
    if rails.max_changes is not None and changes > rails.max_changes:
        problems.append(
            f"it would change {changes:,} segments, more than --max-changes {rails.max_changes:,}"
        )
    if rails.max_change_ratio is not None:
        if server_total:
            share = changes / server_total
            if share > rails.max_change_ratio:
                problems.append(
                    f"it would change {changes:,} of the server's {server_total:,} segments "
                    f"({share:.1%}), more than --max-change-ratio {rails.max_change_ratio:g}"
                )
        elif changes:
            log.warning(
                "--max-change-ratio not checked: the server's segment count is unknown "
                "(no list endpoint)",
                extra={"event": "guardrail_unchecked"},
            )
    if not problems:
        return
    message = "; ".join(problems)
    if dry_run:
        log.warning("a real run would be refused: %s", message, extra={"event": "guardrail"})
        return
    raise GuardrailError(
        f"The run was refused: {message}. Nothing was sent; the preview lists every change. "
        "If this is intended, raise the limit for this run."
    )


async def canary_problem(
    rows: list[RowPlan], results: dict[int, RowResult], client: RaiseClient
) -> str | None:
    """Why the canary rows do not prove the run safe (None when they all landed exactly).

    Each must be ``updated``, and a fresh read must show exactly the body that was sent.
    """
    for row in rows:
        result = results.get(row.edit.index)
        if result is None or result.outcome is not Outcome.UPDATED:
            outcome = result.outcome.value if result else "no outcome"
            return (
                f"canary: sheet row {row.edit.source_row} (segment {row.edit.segment_id}) ended "
                f"{outcome}; the rest of the run was not sent"
            )
        assert row.body is not None and row.edit.segment_id is not None
        stored = await client.get_segment(row.edit.segment_id)
        sent = row.body.to_json()
        held = stored.editable() if stored else {}
        wrong = [f for f in EDITABLE_FIELDS if held.get(f) != sent.get(f)]
        if wrong:
            return (
                f"canary: segment {row.edit.segment_id} does not hold what was sent "
                f"({', '.join(wrong)}); the rest of the run was not sent"
            )
    return None
