"""How one run behaves: what the library functions and the web page choose before a run starts.

Kept apart from ``Run`` because it is plain data that callers build (``segsync.engine.pipeline``
makes one per ``sync``, ``plan``, ``apply`` or ``rollback``) while ``Run`` is what carries it out.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from segsync.engine.guardrails import Guardrails


@dataclass
class RunOptions:
    """How a run behaves; ``command`` names it in logs, the journal and the results."""

    command: str
    dry_run: bool = False
    force: bool = False
    #: compare the sheet's modifiedDateTime with the server's (an export's conflict check)
    check_modified: bool = True
    strict: bool = False
    guardrails: Guardrails = field(default_factory=Guardrails)
    rollback_of: str | None = None
    handle_signals: bool = False
    #: show a progress bar when stderr is a terminal (the CLI; not the web server)
    progress_bar: bool = True
    #: extra header fields for the journal (e.g. the plan file an apply sends)
    journal_extra: dict[str, Any] = field(default_factory=dict)
    #: the person running it (None: the OS user) and who approved its plan, if anyone
    actor: str | None = None
    approved_by: str | None = None
    #: where it was started (``cli`` or ``web``) and more fields for its audit line
    via: str = "cli"
    audit_extra: dict[str, Any] = field(default_factory=dict)
