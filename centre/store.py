"""The centre's store: enrolled hubs, readings (idempotent on hub id + sequence), rejections."""

from __future__ import annotations

import contextlib
import hashlib
import json
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import sqlite_utils

from centre.errors import CentreError
from hub.core.reading import WIRE_FIELDS
from hub.files import private_file

SCHEMA = [
    """CREATE TABLE IF NOT EXISTS hubs (
        hub_id TEXT PRIMARY KEY, signing_key TEXT NOT NULL, enrolled_at TEXT NOT NULL)""",
    """CREATE TABLE IF NOT EXISTS readings (
        hub_id TEXT NOT NULL, seq INTEGER NOT NULL, kind TEXT NOT NULL,
        characteristic TEXT NOT NULL, device_address TEXT NOT NULL, device_time TEXT,
        received_at TEXT NOT NULL, raw_hex TEXT NOT NULL, values_json TEXT NOT NULL,
        measured_at TEXT NOT NULL, time_source TEXT NOT NULL, clock_correction_s REAL,
        hub_clock_synced INTEGER NOT NULL, hub_clock_offset_s REAL, outcome TEXT NOT NULL,
        problems_json TEXT NOT NULL,
        batch_id TEXT NOT NULL, stored_at TEXT NOT NULL,
        PRIMARY KEY (hub_id, seq))""",
    """CREATE TABLE IF NOT EXISTS rejections (
        id INTEGER PRIMARY KEY, at TEXT NOT NULL, topic TEXT NOT NULL, hub_id TEXT,
        reason TEXT NOT NULL)""",
    # Every batch accepted, so that the same batch arriving again is recognised as a replay.
    """CREATE TABLE IF NOT EXISTS batches (
        hub_id TEXT NOT NULL, batch_id TEXT NOT NULL, stored_at TEXT NOT NULL,
        PRIMARY KEY (hub_id, batch_id))""",
    # Every document sent to a hub (care plans, messages, key notices), by version.
    """CREATE TABLE IF NOT EXISTS downlink (
        hub_id TEXT NOT NULL, doc_type TEXT NOT NULL, version INTEGER NOT NULL,
        issued_at TEXT NOT NULL, content_json TEXT NOT NULL,
        PRIMARY KEY (hub_id, doc_type, version))""",
]

REJECTIONS_KEPT = 10_000
"""The rejections table keeps the newest this many: a misconfigured hub re-sends forever."""


# A reading's columns, derived from its wire fields (hub/core/reading.py), then the centre's own.
_ITEM_COLUMNS = tuple(f.column for f in WIRE_FIELDS)
_INSERT_READING = (
    f"INSERT INTO readings (hub_id, {', '.join(_ITEM_COLUMNS)}, batch_id, stored_at,"
    f" content_digest) VALUES ({', '.join('?' * (len(_ITEM_COLUMNS) + 4))})"
)


def _content(device_address: str, received_at: str, characteristic: str, raw_hex: str) -> str:
    """What makes two readings the same reading: which bytes the hub received when, from which
    device and characteristic."""
    text = "\x00".join((device_address, received_at, characteristic, raw_hex))
    return hashlib.sha256(text.encode()).hexdigest()


@dataclass(frozen=True)
class StoredBatch:
    """What storing a batch did: how many readings were new, which of its sequence numbers the
    centre now holds with this batch's reading, and which hold a different one."""

    new: int
    held: tuple[int, ...]
    conflicts: tuple[int, ...]


class ReplayedBatch(CentreError, ValueError):
    """A batch the centre accepted before arrived again (a replay, or the broker's redelivery)."""


def now_utc() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


class CentreStore:
    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        private_file(path)  # health data: the centre's user alone, whatever the umask
        conn = sqlite3.connect(path, isolation_level=None, timeout=10)
        self.db = sqlite_utils.Database(conn)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=FULL")
        for statement in SCHEMA:
            self.db.execute(statement)
        self._add_hub_encryption_columns()
        self._add_certificate_columns()
        self._add_content_digests()
        self._contiguous: dict[str, int] = {}

    def enrol(self, hub_id: str, signing_key: str) -> None:
        self.db.execute(
            "INSERT INTO hubs (hub_id, signing_key, enrolled_at) VALUES (?, ?, ?)"
            " ON CONFLICT (hub_id) DO UPDATE SET signing_key = excluded.signing_key",
            [hub_id, signing_key, now_utc()],
        )

    def _add_hub_encryption_columns(self) -> None:
        """Downlink sealing (issue 11): the key each hub's documents are sealed to. Hubs enrolled
        before it have none (NULL) and get nothing until they are enrolled again."""
        self._add_columns("hubs", ("encryption_key TEXT", "encryption_suite TEXT"))

    def _add_columns(self, table: str, columns: tuple[str, ...]) -> bool:
        """Add the columns a table lacks (a centre store made by an older version); True if
        any was added."""
        have = {row[1] for row in self.db.execute(f"PRAGMA table_info({table})")}
        added = False
        for column in columns:
            if column.split()[0] not in have:
                try:
                    self.db.execute(f"ALTER TABLE {table} ADD COLUMN {column}")
                    added = True
                except sqlite3.OperationalError as exc:  # another process added it just now
                    if "duplicate column" not in str(exc):
                        raise
        return added

    def _add_content_digests(self) -> None:
        """Issue 11: each reading's content digest, so the same reading is never stored twice
        under two numbers, found by an index (not a scan inside the write lock)."""
        if self._add_columns("readings", ("content_digest TEXT",)):
            self.db.conn.create_function("dho_content", 4, _content, deterministic=True)
            self.db.execute(
                "UPDATE readings SET content_digest = dho_content(device_address,"
                " received_at, characteristic, raw_hex)"
            )
        self.db.execute(
            "CREATE INDEX IF NOT EXISTS readings_content ON readings (hub_id, content_digest)"
        )

    def set_hub_encryption_key(self, hub_id: str, suite: str, key: str) -> None:
        """Record the public key a hub's care plans and messages are sealed to."""
        self.db.execute(
            "UPDATE hubs SET encryption_key = ?, encryption_suite = ? WHERE hub_id = ?",
            [key, suite, hub_id],
        )

    def hub_encryption_key(self, hub_id: str) -> tuple[str, str] | None:
        """(suite, base64 public key) of a hub; None if it has none (or is not enrolled)."""
        row = self.db.execute(
            "SELECT encryption_suite, encryption_key FROM hubs WHERE hub_id = ?", [hub_id]
        ).fetchone()
        return (row[0], row[1]) if row and row[1] else None

    def hub_signing_key(self, hub_id: str) -> str | None:
        """The key a hub's batches must be signed with; None if not enrolled or revoked."""
        row = self.db.execute(
            "SELECT signing_key FROM hubs WHERE hub_id = ? AND revoked_at IS NULL", [hub_id]
        ).fetchone()
        return row[0] if row else None

    # Revocation (issue 11): each hub's current certificate, and every certificate revoked.

    def _add_certificate_columns(self) -> None:
        """The serial of each hub's current TLS certificate and when the hub was revoked (NULL:
        not revoked). Hubs enrolled before have no serial recorded (NULL)."""
        self.db.execute(
            "CREATE TABLE IF NOT EXISTS revoked_certificates (serial TEXT PRIMARY KEY,"
            " hub_id TEXT NOT NULL, revoked_at TEXT NOT NULL, reason TEXT NOT NULL)"
        )
        self._add_columns("hubs", ("cert_serial TEXT", "revoked_at TEXT"))

    @contextlib.contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        """One write transaction under the write lock (BEGIN IMMEDIATE): all of it or none."""
        conn = self.db.conn
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield conn
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")

    def record_certificate(self, hub_id: str, serial: str) -> str | None:
        """Make `serial` the hub's certificate (and the hub no longer revoked); the certificate
        it replaces is revoked, so a copy of the old one (a stolen hub) no longer connects.
        Returns the replaced serial, if any."""
        with self._transaction() as conn:
            row = conn.execute("SELECT cert_serial FROM hubs WHERE hub_id = ?", [hub_id]).fetchone()
            if row is None:
                raise KeyError(f"hub {hub_id} is not enrolled")
            old: str | None = row[0] if row[0] != serial else None
            if old:
                conn.execute(
                    "INSERT INTO revoked_certificates (serial, hub_id, revoked_at,"
                    " reason) VALUES (?, ?, ?, 'superseded') ON CONFLICT DO NOTHING",
                    [old, hub_id, now_utc()],
                )
            conn.execute(
                "UPDATE hubs SET cert_serial = ?, revoked_at = NULL WHERE hub_id = ?",
                [serial, hub_id],
            )
        return old

    def revoke(self, hub_id: str) -> str | None:
        """Revoke a hub: its batches are refused and its current certificate (serial returned,
        None if none was recorded) goes on the revocation list. Raises KeyError if the hub id
        was never enrolled."""
        with self._transaction() as conn:
            row = conn.execute(
                "SELECT cert_serial, revoked_at FROM hubs WHERE hub_id = ?", [hub_id]
            ).fetchone()
            if row is None:
                raise KeyError(f"hub {hub_id} is not enrolled")
            at = row[1] or now_utc()
            if row[0]:
                conn.execute(
                    "INSERT INTO revoked_certificates (serial, hub_id, revoked_at,"
                    " reason) VALUES (?, ?, ?, 'revoked') ON CONFLICT DO NOTHING",
                    [row[0], hub_id, at],
                )
            conn.execute("UPDATE hubs SET revoked_at = ? WHERE hub_id = ?", [at, hub_id])
        serial: str | None = row[0]
        return serial

    def is_revoked(self, hub_id: str) -> bool:
        row = self.db.execute("SELECT revoked_at FROM hubs WHERE hub_id = ?", [hub_id]).fetchone()
        return bool(row and row[0])

    def hub_certificate(self, hub_id: str) -> str | None:
        """The serial of the hub's current certificate (None: not enrolled or not recorded)."""
        row = self.db.execute("SELECT cert_serial FROM hubs WHERE hub_id = ?", [hub_id]).fetchone()
        return row[0] if row else None

    def revoked_certificates(self) -> list[tuple[str, str]]:
        """(serial, revoked_at) of every certificate revoked, oldest first."""
        return [
            (r[0], r[1])
            for r in self.db.execute(
                "SELECT serial, revoked_at FROM revoked_certificates ORDER BY revoked_at, serial"
            )
        ]

    def store_batch(self, hub_id: str, batch_id: str, items: list[dict[str, Any]]) -> StoredBatch:
        """Store every item once, in one transaction; a re-sent item changes nothing.

        An item under a sequence number that already holds a *different* reading (the hub's
        counter went back: a lost write, a restored SD card) is not stored and is named in
        `conflicts`, so the hub can renumber it, unless the centre holds that same reading
        under another number (then it is held); the rest of the batch is stored. Raises
        ReplayedBatch, storing nothing, for a batch id accepted before (a hub re-sends under a
        new batch id).
        """
        at = now_utc()
        with self._transaction() as conn:
            seen = conn.execute(
                "INSERT INTO batches (hub_id, batch_id, stored_at) VALUES (?, ?, ?)"
                " ON CONFLICT DO NOTHING",
                [hub_id, batch_id, at],
            )
            if seen.rowcount == 0:
                raise ReplayedBatch(
                    f"batch {batch_id} from {hub_id} was accepted before (a replay, or the broker "
                    "delivering it twice); not stored or acknowledged again"
                )
            new, held, conflicts = 0, list[int](), list[int]()
            for item in items:
                outcome = self._store_item(conn, hub_id, batch_id, at, item)
                new += outcome == "new"
                (conflicts if outcome == "conflict" else held).append(item["seq"])
        return StoredBatch(new, tuple(held), tuple(conflicts))

    @staticmethod
    def _store_item(
        conn: sqlite3.Connection, hub_id: str, batch_id: str, at: str, item: dict[str, Any]
    ) -> str:
        """Store one item: "new"; "held" (this reading, under this number or another); or
        "conflict" (another reading under this number)."""
        digest = _content(
            item["device_address"], item["received_at"], item["characteristic"], item["raw_hex"]
        )
        under = conn.execute(
            "SELECT content_digest FROM readings WHERE hub_id = ? AND seq = ?",
            [hub_id, item["seq"]],
        ).fetchone()
        if under is not None and under[0] == digest:
            return "held"
        if (
            conn.execute(
                "SELECT 1 FROM readings WHERE hub_id = ? AND content_digest = ?", [hub_id, digest]
            ).fetchone()
            is not None
        ):
            return "held"  # renumbered by the hub after a lost write, and held already
        if under is not None:
            return "conflict"
        conn.execute(
            _INSERT_READING,
            [
                hub_id,
                *(f.to_column(item[f.name]) for f in WIRE_FIELDS),
                batch_id,
                at,
                digest,
            ],
        )
        return "new"

    def highest_held(self, hub_id: str) -> int:
        row = self.db.execute(
            "SELECT coalesce(max(seq), 0) FROM readings WHERE hub_id = ?", [hub_id]
        ).fetchone()
        return int(row[0])

    def highest_contiguous(self, hub_id: str) -> int:
        """The highest n such that every sequence number 1..n of this hub is stored.

        Readings are never deleted, so the answer only grows: it is walked forward from the
        last one, which keeps a 100 000-reading drain linear."""
        through = self._contiguous.get(hub_id, 0)
        while True:
            seqs = [
                r[0]
                for r in self.db.execute(
                    "SELECT seq FROM readings WHERE hub_id = ? AND seq > ? ORDER BY seq LIMIT 1000",
                    [hub_id, through],
                )
            ]
            for seq in seqs:
                if seq != through + 1:
                    break
                through = seq
            else:
                if len(seqs) == 1000:
                    continue
            break
        self._contiguous[hub_id] = through
        return through

    def record_document(
        self, hub_id: str, doc_type: str, issued_at: str, content: dict[str, Any]
    ) -> int:
        """Give the next document of a type for a hub its version (one more than the last)."""
        with self._transaction() as conn:
            version: int = conn.execute(
                "SELECT coalesce(max(version), 0) + 1 FROM downlink"
                " WHERE hub_id = ? AND doc_type = ?",
                [hub_id, doc_type],
            ).fetchone()[0]
            conn.execute(
                "INSERT INTO downlink (hub_id, doc_type, version, issued_at, content_json)"
                " VALUES (?, ?, ?, ?, ?)",
                [hub_id, doc_type, version, issued_at, json.dumps(content)],
            )
        return version

    def enrolled_hubs(self) -> list[str]:
        return [r[0] for r in self.db.execute("SELECT hub_id FROM hubs ORDER BY hub_id")]

    def reject(self, topic: str, hub_id: str | None, reason: str) -> None:
        self.db.execute(
            "INSERT INTO rejections (at, topic, hub_id, reason) VALUES (?, ?, ?, ?)",
            [now_utc(), topic, hub_id, reason],
        )
        self.db.execute(
            "DELETE FROM rejections WHERE id <= (SELECT max(id) FROM rejections) - ?",
            [REJECTIONS_KEPT],
        )

    def readings(self) -> list[dict[str, Any]]:
        keys = (
            "hub_id",
            "seq",
            "kind",
            "device_address",
            "device_time",
            "measured_at",
            "time_source",
            "clock_correction_s",
            "hub_clock_synced",
            "hub_clock_offset_s",
            "received_at",
            "outcome",
            "problems_json",
            "values_json",
            "batch_id",
            "stored_at",
        )
        rows = self.db.execute(
            f"SELECT {', '.join(keys)} FROM readings ORDER BY hub_id, seq"
        ).fetchall()
        out = []
        for row in rows:
            reading = dict(zip(keys, row, strict=True))
            reading["hub_clock_synced"] = bool(reading["hub_clock_synced"])
            reading["problems"] = json.loads(reading.pop("problems_json"))
            reading["values"] = json.loads(reading.pop("values_json"))
            out.append(reading)
        return out

    def rejections(self) -> list[dict[str, Any]]:
        rows = self.db.execute("SELECT at, topic, hub_id, reason FROM rejections ORDER BY id")
        return [dict(zip(("at", "topic", "hub_id", "reason"), r, strict=True)) for r in rows]
