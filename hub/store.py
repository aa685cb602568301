"""The hub's reading store: one SQLite file, owned and written by the daemon alone.

A reading is committed (WAL, synchronous=FULL) together with its per-hub sequence number
before anything else happens to it; sync only ever reads committed rows.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import sqlite_utils


class StoreError(RuntimeError):
    """The reading store cannot be opened or written; says what to check."""


def _v1(db: sqlite_utils.Database) -> None:
    db.execute("CREATE TABLE hub_sequence (id INTEGER PRIMARY KEY CHECK (id = 1), last INTEGER)")
    db.execute("INSERT INTO hub_sequence (id, last) VALUES (1, 0)")
    db.execute(
        """CREATE TABLE readings (
            seq INTEGER PRIMARY KEY,
            kind TEXT NOT NULL,
            characteristic TEXT NOT NULL,
            device_address TEXT NOT NULL,
            device_time TEXT,
            received_at TEXT NOT NULL,
            raw_hex TEXT NOT NULL,
            values_json TEXT NOT NULL,
            stored_at TEXT NOT NULL,
            synced_at TEXT
        )"""
    )
    db.execute("CREATE INDEX readings_unsynced ON readings (seq) WHERE synced_at IS NULL")


# Append only: a hub in the field upgrades through every step in order.
MIGRATIONS: list[Callable[[sqlite_utils.Database], None]] = [_v1]


@dataclass(frozen=True)
class NewReading:
    kind: str
    characteristic: str
    device_address: str
    device_time: str | None
    received_at: str
    raw_hex: str
    values: dict[str, Any]


@dataclass(frozen=True)
class StoredReading:
    seq: int
    kind: str
    characteristic: str
    device_address: str
    device_time: str | None
    received_at: str
    raw_hex: str
    values: dict[str, Any]
    stored_at: str
    synced_at: str | None

    def to_json(self) -> dict[str, Any]:
        return {
            "seq": self.seq, "kind": self.kind, "characteristic": self.characteristic,
            "device_address": self.device_address, "device_time": self.device_time,
            "received_at": self.received_at, "raw_hex": self.raw_hex, "values": self.values,
            "stored_at": self.stored_at, "synced": self.synced_at is not None,
            "synced_at": self.synced_at,
        }

    def to_wire(self) -> dict[str, Any]:
        """What the centre receives for this reading (sync state is the hub's own business)."""
        wire = self.to_json()
        del wire["stored_at"], wire["synced"], wire["synced_at"]
        return wire


def now_utc() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


class ReadingStore:
    def __init__(self, path: Path, readonly: bool = False) -> None:
        """Open the store; `readonly` is for technician tools beside the running daemon."""
        try:
            if readonly:
                conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, isolation_level=None)
                self.db = sqlite_utils.Database(conn)
            else:
                path.parent.mkdir(parents=True, exist_ok=True)
                conn = sqlite3.connect(path, isolation_level=None, timeout=10)
                self.db = sqlite_utils.Database(conn)
                self.db.execute("PRAGMA journal_mode=WAL")
                self.db.execute("PRAGMA synchronous=FULL")
                self._migrate()
        except (sqlite3.Error, OSError) as exc:
            raise StoreError(f"cannot open reading store {path}: {exc}") from exc
        self.path = path

    def _migrate(self) -> None:
        current = self.db.execute("PRAGMA user_version").fetchone()[0]
        if current > len(MIGRATIONS):
            raise StoreError(
                f"database schema v{current} is newer than this hub software "
                f"(v{len(MIGRATIONS)}); install the newer version again"
            )
        for version, step in enumerate(MIGRATIONS[current:], start=current + 1):
            with self._transaction():
                step(self.db)
                self.db.execute(f"PRAGMA user_version = {version}")

    def _transaction(self) -> _Commit:
        # BEGIN IMMEDIATE so the sequence number is taken under the write lock.
        self.db.conn.execute("BEGIN IMMEDIATE")
        return _Commit(self.db.conn)

    def add(self, reading: NewReading) -> int:
        """Commit one reading and return its per-hub sequence number."""
        try:
            with self._transaction():
                seq: int = self.db.execute(
                    "UPDATE hub_sequence SET last = last + 1 WHERE id = 1 RETURNING last"
                ).fetchone()[0]
                self.db.execute(
                    "INSERT INTO readings (seq, kind, characteristic, device_address, device_time,"
                    " received_at, raw_hex, values_json, stored_at)"
                    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    [seq, reading.kind, reading.characteristic, reading.device_address,
                     reading.device_time, reading.received_at, reading.raw_hex,
                     json.dumps(reading.values), now_utc()],
                )
        except sqlite3.Error as exc:
            raise StoreError(f"could not store reading in {self.path}: {exc}") from exc
        return seq

    def unsynced(self, limit: int) -> list[StoredReading]:
        return self._select("WHERE synced_at IS NULL ORDER BY seq LIMIT ?", [limit])

    def mark_synced(self, seq_first: int, seq_last: int, at: str) -> int:
        """Mark readings in [seq_first, seq_last] synced; returns how many changed."""
        with self._transaction():
            cursor = self.db.execute(
                "UPDATE readings SET synced_at = ? WHERE seq BETWEEN ? AND ?"
                " AND synced_at IS NULL",
                [at, seq_first, seq_last],
            )
        return cursor.rowcount

    def all(self) -> list[StoredReading]:
        return self._select("ORDER BY seq", [])

    def latest_per_kind(self) -> list[StoredReading]:
        return self._select(
            "WHERE seq IN (SELECT max(seq) FROM readings GROUP BY kind) ORDER BY seq DESC", []
        )

    def pending_count(self) -> int:
        count: int = self.db.execute(
            "SELECT count(*) FROM readings WHERE synced_at IS NULL"
        ).fetchone()[0]
        return count

    def _select(self, tail: str, params: list[Any]) -> list[StoredReading]:
        rows = self.db.execute(
            "SELECT seq, kind, characteristic, device_address, device_time, received_at,"
            f" raw_hex, values_json, stored_at, synced_at FROM readings {tail}",
            params,
        ).fetchall()
        return [
            StoredReading(r[0], r[1], r[2], r[3], r[4], r[5], r[6], json.loads(r[7]), r[8], r[9])
            for r in rows
        ]

    def close(self) -> None:
        self.db.conn.close()


class _Commit:
    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn

    def __enter__(self) -> sqlite3.Connection:
        return self.conn

    def __exit__(self, exc_type: object, *_: object) -> None:
        self.conn.execute("ROLLBACK" if exc_type else "COMMIT")
