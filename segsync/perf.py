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
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()
