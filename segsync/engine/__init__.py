"""Carrying a run out: check, lock, journal, read the server, send, stop, write the results.

``pipeline`` is the library API (``segsync.sync``, ``plan``, ``apply`` … resolve to it); each
of its runs is a ``run.Run`` (set up by ``run_options``), which reaches its ``decisions`` with
``segsync.plan`` and sends them with the ``updater``; ``run_records`` keeps its journal and
writes its results, ``signals`` turns Ctrl-C into a stop. Around it: ``preflight`` (the files
a run promises can be written), ``runlock`` (one run per API at a time), ``guardrails``
(limits and the canary), ``runcontrol`` (the one switch that stops a run), ``progress``,
``assemble`` (one result per input row, whatever happened) and ``live_results`` (the results
workbook written as answers arrive).

Deciding what to send is ``segsync.plan``'s; talking HTTP is ``segsync.api``'s. Nothing is
re-exported here: ``segsync --version`` and ``--help`` must not load the engine, and importing
this package alone loads nothing else.
"""
