"""The bad-input corpus through the real command: exit 2, one sentence, nothing sent.

File-level problems always stop the run before any request; row-level problems do too under
``--strict``. The sandbox's counters prove that nothing reached the API.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from segsync.sandbox import SandboxOptions, run_sandbox
from tests.helpers import run_cli
from tests.test_input_corpus import FILE_LEVEL
from tests.test_real_files import REFUSALS as REAL_REFUSALS

REPO = Path(__file__).parent.parent
DATA = Path(__file__).parent / "data"
SEED = REPO / "samples" / "segments.csv"

#: corpus files whose problems are row-level: refused whole under --strict, before any request
ROW_LEVEL = [
    "bad_ids.xlsx",
    "clear_required.xlsx",
    "campaign_id_text.xlsx",
    "nul_bytes.xlsx",
    "nul_bytes.csv",
    "odd_text_cells.xlsx",  # a date in a code cell: refused whatever the server holds
    "formula_uncached.xlsx",
    "formula_error.xlsx",
    "merged_data.xlsx",
    "ragged.csv",
]
#: content rules (length, line break) hold only for values the user changed, so --strict reads
#: the server's values first: refused before any write, after the GETs that decide it
CONTENT_RULES = ["long_cell.csv"]


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Any, Path]]:
    tmp = tmp_path_factory.mktemp("corpus_cli")
    with run_sandbox(SandboxOptions(seed_csv=SEED)) as sb:
        token = tmp / "token"
        token.write_text(sb.token or "")
        config = tmp / "config.yaml"
        config.write_text(
            yaml.safe_dump(
                {
                    "api": {"base_url": sb.base_url, "token_file": str(token)},
                    "journal": {"dir": str(tmp / "runs")},
                    "output": {"dir": str(tmp / "out")},
                }
            )
        )
        yield sb, config


def run_sync(config: Path, name: str, *flags: str, env: dict[str, str] | None = None) -> Any:
    return run_cli("sync", str(DATA / name), "--config", str(config), *flags, env=env)


@pytest.mark.parametrize(
    ("name", "settings", "pattern"),
    [(name, settings, pattern) for name, settings, _, pattern in FILE_LEVEL],
    ids=[f"{name}{'+limit' if settings else ''}" for name, settings, _, _ in FILE_LEVEL],
)
def test_file_level_problem(
    api: tuple[Any, Path], name: str, settings: dict[str, Any], pattern: str
) -> None:
    sb, config = api
    sb.counters.reset()
    env = {f"SEGSYNC_INPUT__{key.upper()}": str(value) for key, value in settings.items()}
    proc = run_sync(config, name, env=env)
    assert proc.returncode == 2, proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("segsync: ")
    assert re.search(pattern.lstrip("^"), lines[0].removeprefix("segsync: "))
    assert "Traceback" not in proc.stderr and proc.stdout == ""
    assert sb.counters.snapshot().total == 0


@pytest.mark.parametrize("name", ROW_LEVEL)
def test_row_level_problem_under_strict(api: tuple[Any, Path], name: str) -> None:
    sb, config = api
    sb.counters.reset()
    proc = run_sync(config, name, "--strict")
    assert proc.returncode == 2, proc.stderr
    assert "--strict" in proc.stderr and "nothing was sent" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert sb.counters.snapshot().total == 0


@pytest.mark.parametrize("name", CONTENT_RULES)
def test_content_rule_problem_under_strict_sends_no_write(api: tuple[Any, Path], name: str) -> None:
    sb, config = api
    sb.counters.reset()
    proc = run_sync(config, name, "--strict")
    assert proc.returncode == 2, proc.stderr
    assert "--strict" in proc.stderr and "nothing was sent" in proc.stderr
    assert "Traceback" not in proc.stderr
    snap = sb.counters.snapshot()
    assert snap.count("PUT") == 0 and snap.total == snap.count("GET")


@pytest.mark.parametrize("name", sorted(REAL_REFUSALS))
def test_real_file_refusal_sends_nothing(api: tuple[Any, Path], name: str) -> None:
    """The shapes of real files from other programs (tests/data/real/): one line, nothing sent."""
    sb, config = api
    sb.counters.reset()
    proc = run_sync(config, f"real/{name}")
    assert proc.returncode == 2, proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("segsync: "), proc.stderr
    assert re.search(REAL_REFUSALS[name][1], lines[0].removeprefix("segsync: "))
    assert sb.counters.snapshot().total == 0
