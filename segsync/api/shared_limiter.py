"""The process's one limiter per API target (a normalised base URL).

Every run against the same API in this process paces through the same ``RateLimiter``: the
web page's parallel previews and runs, and a CLI run's fetch and send, on whatever thread and
event loop they run. Ten previews at once then share one rate instead of making ten times it.
"""

from __future__ import annotations

import threading

from segsync.api.limiter import RateLimiter

_registry: dict[str, RateLimiter] = {}
_registry_lock = threading.Lock()


def shared_limiter(
    target: str,
    rate: float,
    burst: int = 1,
    *,
    adaptive: bool = True,
    min_rate: float = 0.2,
    headroom: float = 0.0,
) -> RateLimiter:
    """The process's one limiter for ``target`` (a normalised base URL), made on first use.

    Every run against the same API in this process paces through it, so parallel runs share
    one rate and a run that starts right after another does not start with a fresh burst. A
    run bringing a changed configuration for the target changes the shared limiter.
    """
    with _registry_lock:
        limiter = _registry.get(target)
        if limiter is None:
            limiter = _registry[target] = RateLimiter(
                rate, burst, adaptive=adaptive, min_rate=min_rate, headroom=headroom
            )
        elif not limiter.same_configuration(rate, burst, adaptive, min_rate, headroom):
            limiter.configure(rate, burst, adaptive=adaptive, min_rate=min_rate, headroom=headroom)
        return limiter


def known_limiter(target: str) -> RateLimiter | None:
    """The shared limiter of ``target`` if one was made (benchmarks read its ``stats``)."""
    with _registry_lock:
        return _registry.get(target)
