"""Keeping the stages that touch every row linear in the rows."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def gc_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector while many acyclic objects are made.

    Each collection walks the young objects, and the full ones every object alive: a stage
    that makes hundreds of thousands of rows would pay for the collector again and again,
    more than linearly. Reference counting still frees everything as usual.

    On the way out, what the stage made is handed to the oldest generation as it stands
    (``gc.freeze()`` then ``gc.unfreeze()``: two list splices, no walk). Otherwise the first
    allocation after the pause would trigger one young collection over everything made during
    it, touching every new object and the objects they point to: a pass bound by memory, not
    by the rows, and the part of a 100,000-row stage that grew faster than its rows. Anything
    cyclic is still found by the next full collection. When the application keeps frozen
    objects of its own (``gc.get_freeze_count()``), they are left alone and the young
    collection runs as usual.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            if gc.get_freeze_count() == 0:
                gc.freeze()
                gc.unfreeze()
            gc.enable()
