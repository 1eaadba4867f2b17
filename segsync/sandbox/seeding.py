"""Where a fresh sandbox's segments come from: a CSV file or a seeded generator.

Both produce the same plain ``SeedRow`` list, so the store has one insert path. CSV cells are read
as text and kept as text (codes such as ``00123`` keep their zeros); a blank description or external
identifier means null, as it would after a PUT that omitted it.
"""

from __future__ import annotations

import csv
import io
import random
from dataclasses import dataclass
from importlib.resources import files
from importlib.resources.abc import Traversable
from pathlib import Path

from segsync.model import INT64_MAX, INT64_MIN

#: The columns a seed CSV must have, in this order.
CSV_COLUMNS: tuple[str, ...] = (
    "id",
    "campaignId",
    "campaignName",
    "name",
    "code",
    "description",
    "externalIdentifier",
)


#: The seed shipped inside the package: the 200 sample segments (the repository's
#: ``samples/segments.csv``, byte for byte). The embedded sandbox and ``segsync sandbox`` both
#: start from it unless told otherwise, so an installed segsync works in any folder.
PACKAGED_SEED: Traversable = files("segsync.sandbox") / "data" / "segments.csv"


@dataclass(frozen=True, slots=True)
class SeedRow:
    """One segment as first stored, before anyone edits it."""

    id: int
    campaign_id: int
    campaign_name: str
    name: str
    code: str
    description: str | None
    external_identifier: str | None


def _int64(text: str, column: str, line: int) -> int:
    try:
        value = int(text.strip())
    except ValueError:
        raise ValueError(f"line {line}: {column} {text!r} is not an integer") from None
    if not INT64_MIN <= value <= INT64_MAX:
        raise ValueError(f"line {line}: {column} {text!r} is outside int64")
    return value


def read_csv(path: str | Path | Traversable) -> list[SeedRow]:
    """Read seed rows from a UTF-8 CSV (a BOM is tolerated) with exactly ``CSV_COLUMNS``.

    ``path`` may be a packaged resource (``PACKAGED_SEED``), read without assuming it is a file
    on disk (a zipped installation).
    """
    rows: list[SeedRow] = []
    source = Path(path) if isinstance(path, str) else path
    # bytes, then text without newline translation: a quoted cell keeps its own line breaks
    with io.StringIO(source.read_bytes().decode("utf-8-sig"), newline="") as handle:
        reader = csv.reader(handle)
        header = next(reader, None)
        if header is None or tuple(h.strip() for h in header) != CSV_COLUMNS:
            raise ValueError(f"{path}: header must be {','.join(CSV_COLUMNS)}, got {header!r}")
        seen: set[int] = set()
        for line, cells in enumerate(reader, start=2):
            if not any(c.strip() for c in cells):
                continue
            if len(cells) != len(CSV_COLUMNS):
                raise ValueError(
                    f"line {line}: expected {len(CSV_COLUMNS)} cells, got {len(cells)}"
                )
            sid, cid, cname, name, code, description, external = cells
            row = SeedRow(
                id=_int64(sid, "id", line),
                campaign_id=_int64(cid, "campaignId", line),
                campaign_name=cname,
                name=name,
                code=code,
                description=description if description.strip() else None,
                external_identifier=external if external.strip() else None,
            )
            if not row.name or not row.code:
                raise ValueError(f"line {line}: name and code are required")
            if row.id in seen:
                raise ValueError(f"line {line}: duplicate id {row.id}")
            seen.add(row.id)
            rows.append(row)
    return rows


_CAMPAIGNS: tuple[str, ...] = (
    "Spring Appeal",
    "Giving Tuesday",
    "Year-End Match",
    "Summer Camp Scholarships",
    "Capital Campaign – New Library",
)
_AUDIENCES: tuple[str, ...] = (
    "Monthly Donors",
    "Lapsed Donors (24 mo)",
    "Major Donors $1k+",
    "First-Time Givers",
    "Board & Volunteers",
    "Donateurs réguliers – Québec",
    "Alumni Class of '98",
    "Corporate Matching",
    "Mid-Level $250–$999",
    "Legacy Society",
    "Event Attendees",
    "Newsletter Subscribers",
)
_CHANNELS: tuple[tuple[str, str], ...] = (
    ("Email", "EM"),
    ("Direct Mail", "DM"),
    ("SMS", "SMS"),
    ("Facebook", "FB"),
    ("Landing Page", "LP"),
    ("Phone", "TEL"),
)


def generate_rows(count: int, seed: int) -> list[SeedRow]:
    """``count`` plausible segments over five campaigns, the same for the same ``seed``.

    Ids start at 100001 and campaign ids at 5001, like the sample CSV, so examples carry over.
    Codes are unique within a campaign and some start with zeros, to exercise text handling.
    """
    rng = random.Random(f"segsync-sandbox-rows:{seed}")
    year = 2026
    rows: list[SeedRow] = []
    used: set[tuple[int, str]] = set()
    for index in range(count):
        campaign_index = rng.randrange(len(_CAMPAIGNS))
        campaign_id = 5001 + campaign_index
        audience = rng.choice(_AUDIENCES)
        channel, prefix = rng.choice(_CHANNELS)
        code = f"{prefix}-{rng.randint(1, 999):03d}"
        if rng.random() < 0.25:
            code = f"{rng.randint(1, 9999):05d}"
        while (campaign_id, code) in used:
            code = f"{code}-{rng.randint(2, 9)}"
        used.add((campaign_id, code))
        rows.append(
            SeedRow(
                id=100001 + index,
                campaign_id=campaign_id,
                campaign_name=f"{_CAMPAIGNS[campaign_index]} {year}",
                name=f"{audience} – {channel}",
                code=code,
                description=(
                    None
                    if rng.random() < 0.3
                    else f"{channel} audience for {_CAMPAIGNS[campaign_index]}: {audience.lower()}."
                ),
                external_identifier=(
                    None if rng.random() < 0.4 else f"SF-{rng.randint(10_000, 99_999)}"
                ),
            )
        )
    return rows
