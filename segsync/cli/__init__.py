"""The ``segsync`` command line (``segsync.cli:main``); the commands live in ``commands``.

Importing this package loads nothing heavy: ``main`` and ``cli`` import the commands on first
use, and the server commands (sandbox, web) import their stack only when run.
"""

from __future__ import annotations

from typing import Any


def main() -> None:
    from segsync.cli.commands import cli

    cli(prog_name="segsync")


def __getattr__(name: str) -> Any:
    if name == "cli":
        from segsync.cli.commands import cli

        return cli
    raise AttributeError(f"module 'segsync.cli' has no attribute {name!r}")
