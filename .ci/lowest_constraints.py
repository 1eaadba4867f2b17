"""Print a pip constraints file pinning every dependency to its declared lower bound.

``pip install -c <this output> <wheel>`` then installs segsync exactly at the minimums its
pyproject.toml promises (the runtime dependencies and the ``pandas`` extra), which CI's packaging
job runs and tests: a lower bound is only true if the code works there.
"""

from __future__ import annotations

import re
import sys
import tomllib
from pathlib import Path

_LOWER = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)\s*(?:\[[^\]]*\])?\s*([^;]*?)\s*(;.*)?$")


def lower_bounds(pyproject: Path) -> list[str]:
    project = tomllib.loads(pyproject.read_text(encoding="utf-8"))["project"]
    requirements = [*project["dependencies"], *project["optional-dependencies"]["pandas"]]
    pins = []
    for requirement in requirements:
        match = _LOWER.match(requirement)
        if match is None:
            raise SystemExit(f"cannot read the requirement {requirement!r}")
        name, specifiers, marker = match.groups()
        minimum = [s.strip()[2:].strip() for s in specifiers.split(",") if s.strip()[:2] == ">="]
        if len(minimum) != 1:
            raise SystemExit(f"{requirement!r} has no single lower bound (>=): declare one")
        pins.append(f"{name}=={minimum[0]}{(' ' + marker) if marker else ''}")
    return pins


if __name__ == "__main__":
    root = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).resolve().parent.parent
    print("\n".join(lower_bounds(root / "pyproject.toml")))
