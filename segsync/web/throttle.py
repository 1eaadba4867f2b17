"""Login throttling: growing delays per client address, under a global ceiling that never
locks everyone out.

A wrong password costs its address nothing for the first ``FREE_FAILURES``; after that each
one makes the address wait twice as long as the last (1 s, 2 s, 4 s ... up to
``MAX_DELAY_S``) before its next try is even checked, so guessing from one address goes
nowhere, while a person who mistyped a few times never notices. An address's record is
forgotten ``FORGET_S`` after its last failure, and cleared by a right password. IPv6
addresses count by their /64, which one attacker usually holds whole.

Above that, a ceiling on all wrong passwords together (``GLOBAL_CEILING`` in
``GLOBAL_WINDOW_S``) stops many addresses guessing at once. It only holds back addresses that
have already failed: an address with a clean record may always try, so no flood of wrong
passwords from elsewhere can keep the right person out (the review's finding: a global counter
alone let 200 wrong passwords lock out everyone).
"""

from __future__ import annotations

import ipaddress
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

FREE_FAILURES = 5
MAX_DELAY_S = 300.0
FORGET_S = 15 * 60.0
GLOBAL_CEILING = 100
GLOBAL_WINDOW_S = 60.0
#: addresses remembered at most (the oldest records go first); bounds memory under a flood
MAX_ADDRESSES = 10_000


@dataclass
class _Record:
    failures: int = 0
    last: float = 0.0
    #: the monotonic time before which this address's tries are not checked
    until: float = 0.0


def address_key(address: str | None) -> str:
    """The unit an address is counted by: an IPv4 address, or an IPv6 /64."""
    text = (address or "unknown").split("%", 1)[0]
    try:
        ip = ipaddress.ip_address(text)
    except ValueError:
        return text
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.IPv6Network(f"{ip}/64", strict=False))
    return str(ip)


class LoginThrottle:
    """Failure records per address and in total; see the module docstring."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._records: dict[str, _Record] = {}
        self._recent: deque[float] = deque()
        self._lock = threading.Lock()

    def wait_s(self, address: str | None) -> float:
        """Seconds ``address`` must wait before its next try is checked (0: try now)."""
        now = self._clock()
        with self._lock:
            record = self._record(address_key(address), now)
            if record is None:
                return 0.0
            wait = max(0.0, record.until - now)
            if wait == 0.0 and self._global_full(now):
                wait = max(0.0, self._recent[0] + GLOBAL_WINDOW_S - now)
            return wait

    def failed(self, address: str | None) -> None:
        """A wrong password from ``address``: count it, and set its next delay."""
        now = self._clock()
        key = address_key(address)
        with self._lock:
            record = self._record(key, now) or _Record()
            record.failures += 1
            record.last = now
            extra = record.failures - FREE_FAILURES
            if extra > 0:
                record.until = now + min(MAX_DELAY_S, 2.0 ** (extra - 1))
            self._records.pop(key, None)
            self._records[key] = record  # most recent last: the oldest is evicted first
            while len(self._records) > MAX_ADDRESSES:
                del self._records[next(iter(self._records))]
            self._recent.append(now)
            self._global_full(now)  # drops what left the window

    def succeeded(self, address: str | None) -> None:
        with self._lock:
            self._records.pop(address_key(address), None)

    def _record(self, key: str, now: float) -> _Record | None:
        record = self._records.get(key)
        if record is not None and now - record.last > FORGET_S:
            del self._records[key]
            return None
        return record

    def _global_full(self, now: float) -> bool:
        while self._recent and self._recent[0] <= now - GLOBAL_WINDOW_S:
            self._recent.popleft()
        return len(self._recent) >= GLOBAL_CEILING
