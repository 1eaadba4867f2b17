"""Sentences for file-level problems that several readers report the same way."""

from __future__ import annotations

from collections.abc import Iterable

from segsync.input.limits import MB


def human_size(size: float) -> str:
    """A byte count for people: 63.2 MB, 5.4 KB, 512 bytes."""
    if size >= MB / 10:
        return f"{size / MB:,.1f} MB"
    if size >= 1024:
        return f"{size / 1024:,.1f} KB"
    return f"{int(size):,} bytes"


def corrupt_message(name: str, detail: str = "") -> str:
    return (
        f"{name} is damaged or incomplete and cannot be read as a workbook"
        + (f" ({detail})" if detail else "")
        + "; was a download or copy interrupted? Open it in Excel and save it again."
    )


def password_message(name: str) -> str:
    return (
        f"{name} is password-protected; remove the password in Excel "
        "(File ▸ Info ▸ Protect Workbook) and save again."
    )


def quoted(items: Iterable[object]) -> str:
    """``'a', 'b'``: names as a message lists them."""
    return ", ".join(f"'{item}'" for item in items)
