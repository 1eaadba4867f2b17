"""Deciding what a run would send: the sheet's rows against the server's state, and the saved plan.

Everything here answers "what would be written, and why (not)?" and nothing here writes to the
server, so a dry run and a real run reach the same decisions by the same code:

- ``differ``: each row against its segment's current state, the complete PUT body it needs;
- ``intent``: edits that would not do what the person meant (read-only columns, "N/A" …);
- ``server_checks``: the rules that need more of the server than one segment (campaigns, codes);
- ``planfile``: a plan written to a file so that ``apply`` sends exactly that, or nothing.

Carrying a plan out (locks, the journal, sending, stopping, results) is ``segsync.engine``'s;
what every layer shares (``config``, ``errors``, ``model``, ``outcomes``, ``perf``,
``secrets``, ``private_files``) stays at the top of ``segsync``. Nothing is re-exported here:
import the module you need, so importing this package costs nothing.
"""
