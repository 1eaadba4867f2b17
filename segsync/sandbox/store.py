"""The sandbox's state: segments and campaigns in SQLite (a file, or ``:memory:``).

SQLite rather than a dict so state survives a restart when a file is given (a run that crashed
can be resumed against the same server state), and so listing, filtering and sorting behave like a
database-backed API. One connection guarded by a lock: the server thread and the test thread (which
peeks and edits "as another user") share it.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from segsync import private_files
from segsync.model import EDITABLE_FIELDS
from segsync.sandbox.seeding import SeedRow
from segsync.sandbox.stats import SegmentStats, created_for, stats_for

_SCHEMA = """
CREATE TABLE IF NOT EXISTS campaigns (
    id   INTEGER PRIMARY KEY,
    name TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS segments (
    id                  INTEGER PRIMARY KEY,
    campaign_id         INTEGER NOT NULL,
    name                TEXT NOT NULL,
    code                TEXT NOT NULL,
    description         TEXT,
    external_identifier TEXT,
    donors              INTEGER NOT NULL,
    gifts               INTEGER NOT NULL,
    total_cents         INTEGER NOT NULL,
    median_cents        INTEGER NOT NULL,
    highest_cents       INTEGER NOT NULL,
    visitors            INTEGER NOT NULL,
    created             TEXT NOT NULL,
    modified            TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS segments_campaign ON segments (campaign_id);
"""

#: API field → SQL column, for the editable fields.
_COLUMNS: dict[str, str] = {
    "campaignId": "campaign_id",
    "name": "name",
    "code": "code",
    "description": "description",
    "externalIdentifier": "external_identifier",
}

#: ``SortBy`` value (matched case-insensitively) → ORDER BY expression.
SORT_KEYS: dict[str, str] = {
    "id": "s.id",
    "name": "fold(s.name)",
    "code": "fold(s.code)",
    "campaignid": "s.campaign_id",
    "modifieddatetime": "s.modified",
}

_SELECT = """
SELECT s.id, s.campaign_id, c.name AS campaign_name, s.name, s.description, s.code,
       s.external_identifier, s.donors, s.gifts, s.total_cents, s.median_cents, s.highest_cents,
       s.visitors, s.created, s.modified
FROM segments s LEFT JOIN campaigns c ON c.id = s.campaign_id
"""


def timestamp(moment: datetime) -> str:
    """The API's datetime format; always microseconds and offset, so text order is time order."""
    return moment.astimezone(UTC).isoformat(timespec="microseconds")


def _fold(text: str | None) -> str | None:
    # Unicode-aware case folding: SQLite's own LIKE/NOCASE only fold ASCII ("Québec" ≠ "QUÉBEC").
    return None if text is None else text.casefold()


def _to_json(row: sqlite3.Row) -> dict[str, Any]:
    stats = SegmentStats(
        donors=row["donors"],
        gifts=row["gifts"],
        total_cents=row["total_cents"],
        median_cents=row["median_cents"],
        highest_cents=row["highest_cents"],
        visitors=row["visitors"],
    )
    return {
        "id": row["id"],
        "campaignId": row["campaign_id"],
        "campaignName": row["campaign_name"],
        "name": row["name"],
        "description": row["description"],
        "code": row["code"],
        "externalIdentifier": row["external_identifier"],
        **stats.to_json(),
        "createdDateTime": row["created"],
        "modifiedDateTime": row["modified"],
    }


@dataclass(frozen=True, slots=True)
class ListQuery:
    """A validated ``GET /api/Segment/list`` query."""

    skip: int = 0
    take: int = 25
    sort_by: str = "id"
    descending: bool = False
    filter: str | None = None
    campaign_ids: tuple[int, ...] = ()


def _create_private(path: Path) -> None:
    """Create a new database file 0600 (folders 0700) before SQLite opens it: SQLite makes
    files 0644, and gives its -wal and -shm files the database file's mode."""
    private_files.make_dirs(path.parent)
    # an existing database (or a symlink to one the person made) is opened as it is
    with contextlib.suppress(FileExistsError):
        os.close(private_files.create_fd(path))


class SegmentStore:
    """Thread-safe access to the sandbox's segments and campaigns."""

    def __init__(self, path: str | Path = ":memory:") -> None:
        self._lock = threading.RLock()
        if str(path) != ":memory:" and not str(path).startswith("file:"):
            _create_private(Path(path))
        self._conn = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None)
        self._conn.row_factory = sqlite3.Row
        self._conn.create_function("fold", 1, _fold, deterministic=True)
        with self._lock:
            self._conn.executescript(_SCHEMA)
            if str(path) != ":memory:":
                self._conn.execute("PRAGMA journal_mode=WAL")

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    # -- seeding -----------------------------------------------------------------------------

    def count(self) -> int:
        with self._lock:
            return int(self._conn.execute("SELECT count(*) FROM segments").fetchone()[0])

    def seed(self, rows: Iterable[SeedRow], *, seed: int, reset: bool = False) -> bool:
        """Insert ``rows`` into an empty store (or after wiping it when ``reset``).

        Returns False, touching nothing, when the store already holds segments and ``reset`` is
        false: a restart on the same db file must keep what earlier runs wrote.
        """
        with self._lock:
            if not reset and self.count() > 0:
                return False
            with self._transaction():
                self._conn.execute("DELETE FROM segments")
                self._conn.execute("DELETE FROM campaigns")
                for row in rows:
                    self._conn.execute(
                        "INSERT OR IGNORE INTO campaigns (id, name) VALUES (?, ?)",
                        (row.campaign_id, row.campaign_name),
                    )
                    stats = stats_for(seed, row.id)
                    created, modified = created_for(seed, row.id)
                    self._conn.execute(
                        "INSERT INTO segments VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                        (
                            row.id,
                            row.campaign_id,
                            row.name,
                            row.code,
                            row.description,
                            row.external_identifier,
                            stats.donors,
                            stats.gifts,
                            stats.total_cents,
                            stats.median_cents,
                            stats.highest_cents,
                            stats.visitors,
                            timestamp(created),
                            timestamp(modified),
                        ),
                    )
            return True

    def _transaction(self) -> _Transaction:
        return _Transaction(self._conn)

    # -- reads -------------------------------------------------------------------------------

    def get(self, segment_id: int) -> dict[str, Any] | None:
        with self._lock:
            row = self._conn.execute(_SELECT + "WHERE s.id = ?", (segment_id,)).fetchone()
        return None if row is None else _to_json(row)

    def all(self) -> list[dict[str, Any]]:
        with self._lock:
            rows = self._conn.execute(_SELECT + "ORDER BY s.id").fetchall()
        return [_to_json(r) for r in rows]

    def page(self, query: ListQuery) -> tuple[list[dict[str, Any]], int]:
        """One page of matching segments and the number of matches before paging."""
        where: list[str] = []
        params: list[Any] = []
        if query.filter:
            where.append("(instr(fold(s.name), ?) > 0 OR instr(fold(s.code), ?) > 0)")
            needle = query.filter.casefold()
            params += [needle, needle]
        if query.campaign_ids:
            where.append(f"s.campaign_id IN ({','.join('?' * len(query.campaign_ids))})")
            params += list(query.campaign_ids)
        clause = f"WHERE {' AND '.join(where)} " if where else ""
        direction = "DESC" if query.descending else "ASC"
        order = f"ORDER BY {SORT_KEYS[query.sort_by.lower()]} {direction}, s.id {direction} "
        with self._lock:
            total = self._conn.execute(
                f"SELECT count(*) FROM segments s {clause}", params
            ).fetchone()[0]
            rows = self._conn.execute(
                _SELECT + clause + order + "LIMIT ? OFFSET ?", [*params, query.take, query.skip]
            ).fetchall()
        return [_to_json(r) for r in rows], int(total)

    def campaigns(self) -> list[dict[str, Any]]:
        with self._lock:
            rows = self._conn.execute("SELECT id, name FROM campaigns ORDER BY id").fetchall()
        return [{"id": r["id"], "name": r["name"]} for r in rows]

    def campaign_exists(self, campaign_id: int) -> bool:
        with self._lock:
            row = self._conn.execute("SELECT 1 FROM campaigns WHERE id = ?", (campaign_id,))
            return row.fetchone() is not None

    def code_owner(self, campaign_id: int, code: str, *, exclude_id: int) -> int | None:
        """The id of another segment of the campaign using ``code`` (case-insensitively)."""
        with self._lock:
            row = self._conn.execute(
                "SELECT id FROM segments WHERE campaign_id = ? AND fold(code) = ? AND id != ? "
                "ORDER BY id LIMIT 1",
                (campaign_id, code.casefold(), exclude_id),
            ).fetchone()
        return None if row is None else int(row["id"])

    # -- writes ------------------------------------------------------------------------------

    def replace(
        self, segment_id: int, values: dict[str, Any]
    ) -> tuple[dict[str, Any], bool] | None:
        """Store the complete editable ``values`` (PUT semantics); None when the id is unknown.

        Returns the segment and whether anything changed: ``modifiedDateTime`` moves only then,
        so an identical PUT is invisible to a later conflict check.
        """
        with self._lock, self._transaction():
            return self._update(segment_id, {f: values.get(f) for f in EDITABLE_FIELDS}, False)

    def modify(self, segment_id: int, fields: dict[str, Any]) -> dict[str, Any]:
        """Change some fields as another user would; ``modifiedDateTime`` always moves."""
        unknown = set(fields) - set(EDITABLE_FIELDS)
        if unknown:
            raise ValueError(f"not editable: {', '.join(sorted(unknown))}")
        with self._lock, self._transaction():
            result = self._update(segment_id, fields, True)
        if result is None:
            raise KeyError(segment_id)
        return result[0]

    def _update(
        self, segment_id: int, fields: dict[str, Any], force: bool
    ) -> tuple[dict[str, Any], bool] | None:
        row = self._conn.execute("SELECT * FROM segments WHERE id = ?", (segment_id,)).fetchone()
        if row is None:
            return None
        changes = {_COLUMNS[f]: v for f, v in fields.items() if row[_COLUMNS[f]] != v}
        changed = bool(changes)
        if changed or force:
            previous = datetime.fromisoformat(row["modified"])
            # Strictly later than before, even within one clock tick, so a change is always seen.
            moment = max(datetime.now(UTC), previous + timedelta(microseconds=1))
            changes["modified"] = timestamp(moment)
            assignments = ", ".join(f"{column} = ?" for column in changes)
            self._conn.execute(
                f"UPDATE segments SET {assignments} WHERE id = ?", [*changes.values(), segment_id]
            )
        current = self.get(segment_id)
        assert current is not None
        return current, changed

    def add_campaign(self, campaign_id: int, name: str) -> None:
        with self._lock:
            self._conn.execute(
                "INSERT OR REPLACE INTO campaigns (id, name) VALUES (?, ?)", (campaign_id, name)
            )

    def delete(self, segment_id: int) -> bool:
        with self._lock:
            cursor = self._conn.execute("DELETE FROM segments WHERE id = ?", (segment_id,))
            return cursor.rowcount > 0

    def ids(self) -> Sequence[int]:
        with self._lock:
            return [r[0] for r in self._conn.execute("SELECT id FROM segments ORDER BY id")]


class _Transaction:
    """BEGIN/COMMIT around a block, ROLLBACK on error (the connection is in autocommit mode)."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn
        self._outer = False

    def __enter__(self) -> None:
        self._outer = not self._conn.in_transaction
        if self._outer:
            self._conn.execute("BEGIN IMMEDIATE")

    def __exit__(self, exc_type: object, *_: object) -> None:
        if not self._outer:
            return
        self._conn.execute("ROLLBACK" if exc_type else "COMMIT")
