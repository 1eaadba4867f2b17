"""A count beside its noun, in the right number: ``1 row``, ``12 rows``, ``1,234 segments``.

Every sentence segsync shows that puts a number beside a noun goes through ``counted`` (the
terminal, the results workbook, the HTML report and, as the Jinja2 filter ``counted``, every
template), so none of them says "1 rows" and the thousands are grouped the same way everywhere.
"""

from __future__ import annotations

__all__ = ["counted"]


def counted(n: int, singular: str, plural: str | None = None) -> str:
    """``n`` with ``singular`` for exactly one, else ``plural`` (default: ``singular`` + "s").

    >>> counted(1, "row"), counted(0, "row"), counted(2_500, "day"), counted(2, "was", "were")
    ('1 row', '0 rows', '2,500 days', '2 were')
    """
    word = singular if n == 1 else (plural if plural is not None else f"{singular}s")
    return f"{n:,} {word}"
