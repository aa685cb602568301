"""The hub's reading store: one SQLite file, owned and written by the daemon alone.

A reading is committed (WAL, synchronous=FULL) together with its per-hub sequence number
before anything else happens to it; sync only ever reads committed rows.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import hmac
import json
import logging
import sqlite3
from collections.abc import Callable, Collection, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Protocol, TypeVar, cast

import sqlite_utils

from hub.core.call_request import KIND as CALL_KIND
from hub.core.call_request import CallRequest, decide
from hub.core.health import KIND as HEALTH_KIND
from hub.core.outbox import OutboxItem, SealedSegment
from hub.core.reading import (
    READING_COLUMNS,
    ROUTINE,
    KnownDevice,
    NewReading,
    StoredReading,
    now_utc,
)
from hub.core.technician_pin import KeptLockout
from hub.errors import HubError
from hub.files import private_file

log = logging.getLogger(__name__)
_T = TypeVar("_T")


class StoreError(HubError, RuntimeError):
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


def _v2(db: sqlite_utils.Database) -> None:
    """Issue 3: when a reading was taken, whether it succeeded, re-sent records, known devices."""
    for column in (
        "measured_at TEXT",
        "time_source TEXT NOT NULL DEFAULT 'hub_received'",
        "clock_correction_s REAL",
        "hub_clock_synced INTEGER NOT NULL DEFAULT 0",
        "outcome TEXT NOT NULL DEFAULT 'ok'",
        "problems_json TEXT NOT NULL DEFAULT '[]'",
        "record_key TEXT",
    ):
        db.execute(f"ALTER TABLE readings ADD COLUMN {column}")
    db.execute("UPDATE readings SET measured_at = received_at")
    # A record a device sends again (same device, stamp, sequence number, bytes) is stored once.
    db.execute(
        "CREATE UNIQUE INDEX readings_record_key ON readings (record_key)"
        " WHERE record_key IS NOT NULL"
    )
    db.execute(
        """CREATE TABLE devices (
            address TEXT PRIMARY KEY,
            profile TEXT NOT NULL,
            name TEXT,
            paired_at TEXT NOT NULL,
            bonded INTEGER NOT NULL,
            last_connected_at TEXT,
            clock_set_at TEXT,
            battery_level INTEGER
        )"""
    )


def _v3(db: sqlite_utils.Database) -> None:
    """Issue 4: the hub's clock error as estimated from the centre's acks, per reading."""
    db.execute("ALTER TABLE readings ADD COLUMN hub_clock_offset_s REAL")


def _v4(db: sqlite_utils.Database) -> None:
    """Issue 4: the outbox holds readings sealed to the centre; plaintext is only kept for the
    patient screen's window. Re-sent records are recognised by a digest that outlives it."""
    db.execute(
        """CREATE TABLE outbox_segments (
            segment_id TEXT PRIMARY KEY,
            centre_key_id TEXT NOT NULL,
            suite TEXT NOT NULL,
            sealed_key BLOB NOT NULL,
            created_at TEXT NOT NULL
        )"""
    )
    db.execute(
        """CREATE TABLE outbox (
            seq INTEGER PRIMARY KEY,
            segment_id TEXT NOT NULL REFERENCES outbox_segments (segment_id),
            sealed BLOB NOT NULL,
            priority INTEGER NOT NULL,
            stored_at TEXT NOT NULL
        )"""
    )
    db.execute("CREATE INDEX outbox_lane ON outbox (priority, seq)")
    db.execute("CREATE INDEX outbox_segment ON outbox (segment_id)")
    db.execute("ALTER TABLE readings ADD COLUMN sealed INTEGER NOT NULL DEFAULT 0")
    db.execute("CREATE TABLE record_digests (digest TEXT PRIMARY KEY)")
    keys = [
        row[0]
        for row in db.execute(
            "SELECT record_key FROM readings WHERE record_key IS NOT NULL"
        ).fetchall()
    ]
    db.conn.executemany(
        "INSERT OR IGNORE INTO record_digests (digest) VALUES (?)", [(_digest(k),) for k in keys]
    )
    db.execute("DROP INDEX readings_record_key")
    db.execute("UPDATE readings SET record_key = NULL")
    # Readings stored unsealed before the upgrade and not yet sent: sealed by the daemon at start.
    db.execute("CREATE INDEX readings_unsealed ON readings (seq) WHERE sealed = 0")


def _v5(db: sqlite_utils.Database) -> None:
    """Issue 4: what the centre sent (care plan, centre key), and messages for the patient."""
    db.execute(
        """CREATE TABLE downlink (
            doc_type TEXT PRIMARY KEY,
            version INTEGER NOT NULL,
            issued_at TEXT NOT NULL,
            content_json TEXT NOT NULL,
            received_at TEXT NOT NULL
        )"""
    )
    db.execute(
        """CREATE TABLE patient_messages (
            version INTEGER PRIMARY KEY,
            text TEXT NOT NULL,
            issued_at TEXT NOT NULL,
            received_at TEXT NOT NULL
        )"""
    )


def _v6(db: sqlite_utils.Database) -> None:
    """Issue 5: when the patient read each message (a receipt goes back to the centre)."""
    db.execute("ALTER TABLE patient_messages ADD COLUMN read_at TEXT")


def _v7(db: sqlite_utils.Database) -> None:
    """Issue 5: the screen's trends read readings by when they were measured, every second."""
    db.execute("CREATE INDEX readings_measured ON readings (measured_at)")


def _v8(db: sqlite_utils.Database) -> None:
    """Issue 11: record digests are keyed and forgotten once a device can no longer resend the
    record; the unkeyed ones already held expire after the default memory (90 days)."""
    db.execute("ALTER TABLE record_digests ADD COLUMN expires_at TEXT")
    db.execute("ALTER TABLE record_digests ADD COLUMN keyed INTEGER NOT NULL DEFAULT 0")
    until = (datetime.now(UTC) + timedelta(days=90)).isoformat(timespec="seconds")
    db.execute("UPDATE record_digests SET expires_at = ?", [until])
    db.execute("CREATE INDEX record_digests_expiry ON record_digests (expires_at)")


def _v9(db: sqlite_utils.Database) -> None:
    """Issue 12: the screen asks for the latest reading of each kind and the trends every
    second; these indexes let both be answered by a seek per kind and per hour instead of a
    scan of every reading kept."""
    db.execute("CREATE INDEX readings_kind_seq ON readings (kind, seq)")
    db.execute(
        "CREATE INDEX readings_trend ON readings (kind, substr(measured_at, 1, 13), seq)"
        " WHERE outcome != 'failed'"
    )


def _v10(db: sqlite_utils.Database) -> None:
    """Ring meg ("call me"): the patient's requests to be called, and when the centre answered
    each."""
    db.execute(
        """CREATE TABLE call_requests (
            request_id TEXT PRIMARY KEY,
            asked_at TEXT NOT NULL,
            acknowledged_at TEXT
        )"""
    )
    db.execute("CREATE INDEX call_requests_asked ON call_requests (asked_at)")


def _v11(db: sqlite_utils.Database) -> None:
    """Ring meg: when the centre acknowledged the batch that carried each request. Until then
    the screen must not say the nurse has been told (the hub may be offline); kept here, not
    looked up in the readings, whose plaintext is deleted after the screen's window."""
    db.execute("ALTER TABLE call_requests ADD COLUMN delivered_at TEXT")
    db.execute(
        "UPDATE call_requests SET delivered_at = (SELECT max(synced_at) FROM readings"
        " WHERE kind = 'call_request' AND readings.synced_at IS NOT NULL"
        " AND json_extract(values_json, '$.request_id') = call_requests.request_id)"
    )


def _v12(db: sqlite_utils.Database) -> None:
    """Issue 15 review: the technician PIN's wrong tries in a row and the end of its lock (wall
    clock, Unix seconds), one row, so that a restart of the daemon (pulling the plug) lifts
    neither (hub/core/technician_pin.py KeptLockout). IF NOT EXISTS: tests that make an older
    store out of a new one (by undoing the later steps) leave this table, which changes
    nothing of theirs."""
    db.execute(
        """CREATE TABLE IF NOT EXISTS technician_lockout (
            id INTEGER PRIMARY KEY CHECK (id = 1),
            failures INTEGER NOT NULL,
            locked_until REAL
        )"""
    )


# The newest call request is the one stored last, not the one with the latest asked_at: a
# request asked while the hub's clock ran ahead would stay "newest" after the clock was put
# right, and the screen would show it instead of the one she just made. (The rowid keeps the
# order rows were stored in: none is ever deleted, and the hub never runs VACUUM, which may
# renumber a table without an INTEGER PRIMARY KEY.)
_NEWEST_CALL = "ORDER BY rowid DESC LIMIT 1"

# The hour a reading was measured in, as the trends group them ('YYYY-MM-DDTHH'), spelled
# as readings_trend indexes it.
_HOUR = "substr(measured_at, 1, 13)"

# Append only: a hub in the field upgrades through every step in order.
# The readings table's columns come from the one reading schema (hub/core/reading.py).
_INSERT_READING = (
    f"INSERT INTO readings ({', '.join(READING_COLUMNS)})"
    f" VALUES ({', '.join('?' * len(READING_COLUMNS))})"
)
_SELECT_READINGS = f"SELECT {', '.join(READING_COLUMNS)} FROM readings"

MIGRATIONS: list[Callable[[sqlite_utils.Database], None]] = [
    _v1,
    _v2,
    _v3,
    _v4,
    _v5,
    _v6,
    _v7,
    _v8,
    _v9,
    _v10,
    _v11,
    _v12,
]

# The kinds present, one index seek each (readings_kind_seq): DISTINCT or GROUP BY would
# read every reading kept.
_KINDS = (
    "k(kind) AS (SELECT min(kind) FROM readings"
    " UNION ALL SELECT (SELECT min(kind) FROM readings WHERE kind > k.kind)"
    " FROM k WHERE k.kind IS NOT NULL)"
)
# The (kind, hour) buckets of good readings from an hour on, one seek each (readings_trend).
_BUCKETS = (
    "g(kind) AS (SELECT min(kind) FROM readings WHERE outcome != 'failed'"
    " UNION ALL SELECT (SELECT min(kind) FROM readings WHERE outcome != 'failed'"
    " AND kind > g.kind) FROM g WHERE g.kind IS NOT NULL),"
    f" b(kind, hour) AS (SELECT kind, (SELECT min({_HOUR}) FROM readings"
    f" WHERE outcome != 'failed' AND kind = g.kind AND {_HOUR} >= :hour)"
    " FROM g WHERE g.kind IS NOT NULL"
    f" UNION ALL SELECT kind, (SELECT min({_HOUR}) FROM readings"
    f" WHERE outcome != 'failed' AND kind = b.kind AND {_HOUR} > b.hour)"
    " FROM b WHERE b.hour IS NOT NULL)"
)

_SET_ASIDE = "set_aside:"  # downlink rows the daemon stopped using: they no longer validated
STRANDED = 9  # kept, never sent again: the centre cannot take it (see settle)
# How far the centre's highest number may be ahead of the hub's own counter and still be
# believed: more readings than a hub takes in years, fewer than wrap past 2**53.
MAX_COUNTER_JUMP = 10_000_000


def _digest(record_key: str) -> str:
    """The unkeyed digest of schema v4 to v7, still recognised until it expires."""
    return hashlib.sha256(record_key.encode()).hexdigest()


def keyed_digest(key: bytes, record_key: str) -> str:
    """What identifies a re-sent record without saying anything about it, to anyone without
    the hub's key (record contents are few enough to guess one by one)."""
    return hmac.new(key, record_key.encode(), hashlib.sha256).hexdigest()


@dataclass(frozen=True)
class Settled:
    """What an acknowledgement changed: items delivered, and readings given new numbers."""

    synced: int
    renumbered: dict[int, int]


def _chunks(seqs: list[int], size: int = 500) -> Iterator[list[int]]:
    for start in range(0, len(seqs), size):
        yield seqs[start : start + size]


class Sealer(Protocol):
    """Seals a reading for the outbox as it is stored (hub/wire/sealing.py's ItemSealer)."""

    @property
    def current_segment_id(self) -> str: ...

    def seal(self, seq: int, item: dict[str, Any]) -> tuple[SealedSegment, bytes]: ...


class ReadingStore:
    def __init__(
        self,
        path: Path,
        readonly: bool = False,
        sealer: Sealer | None = None,
        digest_key: bytes = b"",
        record_memory_days: float = 90.0,
    ) -> None:
        """Open the store; `readonly` is for technician tools beside the running daemon.

        `sealer` seals each reading into the outbox as it is stored; without one (tests, tools)
        readings are stored unsealed and `seal_backlog` seals them later. `digest_key` keys the
        digests that recognise a record a device sends again (the daemon's is derived from its
        signing key), remembered for `record_memory_days`."""
        self.path = path  # before the upgrade: a step that fails names the file
        self.sealer = sealer
        self.digest_key = digest_key
        self.record_memory = timedelta(days=record_memory_days)
        try:
            if readonly:
                conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, isolation_level=None)
                # No sqlite-utils plugins: none may change the hub's connection, and finding
                # them reads every installed package's metadata.
                self.db = sqlite_utils.Database(conn, execute_plugins=False)
            else:
                path.parent.mkdir(parents=True, exist_ok=True)
                private_file(path)
                conn = sqlite3.connect(path, isolation_level=None, timeout=10)
                self.db = sqlite_utils.Database(conn, execute_plugins=False)
                self.db.execute("PRAGMA journal_mode=WAL")
                self.db.execute("PRAGMA synchronous=FULL")
                # Deleted plaintext is overwritten, not left in free pages of the file.
                self.db.execute("PRAGMA secure_delete=ON")
                self._migrate()
        except (sqlite3.Error, OSError) as exc:
            raise StoreError(f"cannot open reading store {path}: {exc}") from exc
        # Answers kept until the store changes (see _memo), one per question.
        self._memo_state: tuple[int, int] = (-1, -1)
        self._memos: dict[str, tuple[tuple[str, ...], Any]] = {}

    def _migrate(self) -> None:
        current = self.db.execute("PRAGMA user_version").fetchone()[0]
        if current > len(MIGRATIONS):
            raise StoreError(
                f"database schema v{current} is newer than this hub software "
                f"(v{len(MIGRATIONS)}); install the newer version again"
            )
        for version, step in enumerate(MIGRATIONS[current:], start=current + 1):
            with self._transaction(f"upgrade to schema v{version}"):
                step(self.db)
                self.db.execute(f"PRAGMA user_version = {version}")

    @contextlib.contextmanager
    def _transaction(self, what: str = "write to") -> Iterator[None]:
        """One write transaction; any SQLite failure becomes a StoreError saying what to check.

        BEGIN IMMEDIATE so that a sequence number is taken under the write lock.
        """
        conn = self.db.conn
        try:
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield
            except BaseException:
                with contextlib.suppress(sqlite3.Error):
                    conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")
        except sqlite3.Error as exc:
            with contextlib.suppress(sqlite3.Error):
                conn.execute("ROLLBACK")
            raise StoreError(f"could not {what} {self.path}: {_explain(exc)}") from exc

    def add(self, reading: NewReading) -> int | None:
        """Commit one reading, sealed into the outbox in the same transaction, and return its
        per-hub sequence number.

        Returns None, storing nothing and taking no sequence number, when a reading with the
        same record key (a record the device sent before) is already stored.
        """
        with self._transaction("store a reading in"):
            return self._add(reading)

    def _add(self, r: NewReading) -> int | None:
        """`add`, inside the caller's transaction."""
        if r.record_key is not None and not self._remember(r):
            return None
        seq: int = self.db.execute(
            "UPDATE hub_sequence SET last = last + 1 WHERE id = 1 RETURNING last"
        ).fetchone()[0]
        stored = r.stored(seq, now_utc())
        self.db.execute(_INSERT_READING, stored.to_columns())
        if self.sealer is not None:
            self._seal(stored, r.priority)
        return seq

    def ask_call(self, request_id: str, reading: NewReading) -> tuple[CallRequest, bool]:
        """The patient asks to be called: store the request's item and note it open, in one
        transaction; True if it was stored now. The same request again gives its state; while
        another is open, that one is given back and nothing is stored
        (hub/core/call_request.py's `decide`)."""
        with self._transaction("store a call request in"):
            known = self._call("WHERE request_id = ?", [request_id])
            latest = self._call(_NEWEST_CALL, [])
            match decide(request_id, latest, known, datetime.now(UTC)):
                case "known":
                    assert known is not None
                    return known, False
                case "open":
                    assert latest is not None
                    return latest, False
            # Its item goes the readings' way (and may be renumbered on the way): the request
            # is kept here by its id alone.
            self._add(reading)
            self.db.execute(
                "INSERT INTO call_requests (request_id, asked_at) VALUES (?, ?)",
                [request_id, reading.received_at],
            )
        return CallRequest(request_id, reading.received_at), True

    def latest_call(self) -> CallRequest | None:
        """The newest call request (open or answered), for the screen's status."""
        return self._memo(("call",), lambda: self._call(_NEWEST_CALL, []))

    def _call(self, tail: str, params: list[Any]) -> CallRequest | None:
        row = self.db.execute(
            f"SELECT request_id, asked_at, acknowledged_at, delivered_at FROM call_requests {tail}",
            params,
        ).fetchone()
        return None if row is None else CallRequest(*row)

    def _remember(self, r: NewReading) -> bool:
        """Note a device record's digest until the device can no longer send it again; False
        if it was stored before."""
        assert r.record_key is not None
        # Remembered from when the hub received it: a record whose device clock says it is old
        # is still stored (never dropped), and a device keeps resending what it holds for some
        # time after the hub first got it.
        received = datetime.fromisoformat(r.received_at)
        if received.tzinfo is None:
            received = received.replace(tzinfo=UTC)
        expires = received + self.record_memory
        keyed = keyed_digest(self.digest_key, r.record_key)
        if self.db.execute(
            "SELECT 1 FROM record_digests WHERE digest IN (?, ?)", [keyed, _digest(r.record_key)]
        ).fetchone():
            return False
        self.db.execute(
            "INSERT INTO record_digests (digest, expires_at, keyed) VALUES (?, ?, 1)",
            [keyed, expires.isoformat(timespec="seconds")],
        )
        return True

    def forget_old_records(self, now: datetime) -> int:
        """Delete the digests of records no device can send again any more."""
        with self._transaction("forget old record digests in"):
            cursor = self.db.execute(
                "DELETE FROM record_digests WHERE expires_at < ?",
                [now.isoformat(timespec="seconds")],
            )
        return cursor.rowcount

    def _seal(self, reading: StoredReading, priority: int) -> None:
        """Put a reading into the outbox, sealed (inside the caller's transaction)."""
        assert self.sealer is not None
        segment, sealed = self.sealer.seal(reading.seq, reading.to_wire())
        self.db.execute(
            "INSERT INTO outbox_segments (segment_id, centre_key_id, suite, sealed_key,"
            " created_at) VALUES (?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
            [
                segment.segment_id,
                segment.centre_key_id,
                segment.suite,
                segment.sealed_key,
                now_utc(),
            ],
        )
        self.db.execute(
            "INSERT INTO outbox (seq, segment_id, sealed, priority, stored_at)"
            " VALUES (?, ?, ?, ?, ?)",
            [reading.seq, segment.segment_id, sealed, priority, reading.stored_at],
        )
        self.db.execute("UPDATE readings SET sealed = 1 WHERE seq = ?", [reading.seq])

    def seal_backlog(self) -> int:
        """Seal readings stored before this hub sealed at rest (schema v3 and older)."""
        backlog = self._select("WHERE sealed = 0 AND synced_at IS NULL ORDER BY seq", [])
        with self._transaction("seal stored readings in"):
            for reading in backlog:
                self._seal(reading, ROUTINE)
        return len(backlog)

    def last_record_number(self, device_address: str, kind: str) -> int | None:
        """The device record (sequence) number up to which every record from this device is
        stored, counting from the lowest stored; None if none is. A record lost in a transfer
        leaves a gap, and the hub asks again from there (re-sent records are stored once)."""
        row = self.db.execute(
            "WITH numbers AS (SELECT DISTINCT json_extract(values_json, '$.sequence_number') AS n"
            " FROM readings WHERE device_address = ? AND kind = ? AND n IS NOT NULL)"
            " SELECT min(n) FROM numbers WHERE n + 1 NOT IN (SELECT n FROM numbers)",
            [device_address, kind],
        ).fetchone()
        return None if row[0] is None else int(row[0])

    def last_synced_at(self) -> str | None:
        """When the centre last acknowledged a reading still kept here (None: none kept): the
        last delivery, as `hub status` tells it after a restart. Once, at the daemon's start."""
        row = self.db.execute("SELECT max(synced_at) FROM readings").fetchone()
        return None if row[0] is None else str(row[0])

    def save_device(self, device: KnownDevice) -> None:
        """Record a device as paired, with what pairing learnt (its connection, whether its
        clock was set, its battery); what pairing did not learn is kept from before."""
        with self._transaction("record the paired device in"):
            self.db.execute(
                "INSERT INTO devices (address, profile, name, paired_at, bonded,"
                " last_connected_at, clock_set_at, battery_level)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (address) DO UPDATE SET"
                " profile = excluded.profile, name = excluded.name,"
                " paired_at = excluded.paired_at, bonded = excluded.bonded,"
                " last_connected_at = coalesce(excluded.last_connected_at, last_connected_at),"
                " clock_set_at = coalesce(excluded.clock_set_at, clock_set_at),"
                " battery_level = coalesce(excluded.battery_level, battery_level)",
                [
                    device.address,
                    device.profile,
                    device.name,
                    device.paired_at,
                    int(device.bonded),
                    device.last_connected_at,
                    device.clock_set_at,
                    device.battery_level,
                ],
            )

    def forget_device(self, address: str) -> bool:
        with self._transaction("forget the device in"):
            cursor = self.db.execute("DELETE FROM devices WHERE address = ?", [address])
        return cursor.rowcount > 0

    def note_connection(
        self, address: str, at: str, clock_set: bool, battery_level: int | None
    ) -> None:
        with self._transaction("note the connection in"):
            self.db.execute(
                "UPDATE devices SET last_connected_at = ?,"
                " clock_set_at = CASE WHEN ? THEN ? ELSE clock_set_at END,"
                " battery_level = coalesce(?, battery_level) WHERE address = ?",
                [at, int(clock_set), at, battery_level, address],
            )

    def pin_lockout(self) -> KeptLockout:
        """The technician PIN's lockout as last kept (none kept: no wrong tries)."""
        row = self.db.execute(
            "SELECT failures, locked_until FROM technician_lockout WHERE id = 1"
        ).fetchone()
        return KeptLockout() if row is None else KeptLockout(int(row[0]), row[1])

    def keep_pin_lockout(self, kept: KeptLockout) -> None:
        with self._transaction("keep the technician PIN's lockout in"):
            self.db.execute(
                "INSERT INTO technician_lockout (id, failures, locked_until) VALUES (1, ?, ?)"
                " ON CONFLICT (id) DO UPDATE SET failures = excluded.failures,"
                " locked_until = excluded.locked_until",
                [kept.failures, kept.locked_until],
            )

    def devices(self) -> list[KnownDevice]:
        rows = self.db.execute(
            "SELECT address, profile, name, paired_at, bonded, last_connected_at, clock_set_at,"
            " battery_level FROM devices ORDER BY paired_at"
        ).fetchall()
        return [KnownDevice(r[0], r[1], r[2], r[3], bool(r[4]), *r[5:]) for r in rows]

    def outbox(
        self,
        limit: int,
        max_bytes: int,
        skip: frozenset[int] = frozenset(),
        after: dict[int, int] | None = None,
    ) -> tuple[list[OutboxItem], bool]:
        """The next items to send: urgent ones first, then by sequence number; at most `limit`
        items and (beyond the first) `max_bytes` of sealed payload. `skip`: items in flight.
        `after`: per lane, a sequence number up to which every item is in flight (the sender's
        cursor): the read starts past it, so a full window in flight is not read again on
        every send; `skip` then needs only the items in flight past it. Also says whether more
        items wait beyond these (the batch is full)."""
        after = after or {}
        items: list[OutboxItem] = []
        size = 0
        lane = -1
        # Lane by lane (one index seek each on outbox_lane), so each lane starts at its cursor.
        while True:
            lane = self.db.execute(
                "SELECT min(priority) FROM outbox WHERE priority > ? AND priority < ?",
                [lane, STRANDED],
            ).fetchone()[0]
            if lane is None:
                return items, False
            rows = self.db.execute(
                "SELECT seq, segment_id, sealed, priority, stored_at FROM outbox"
                " WHERE priority = ? AND seq > ? ORDER BY seq LIMIT ?",
                [lane, after.get(lane, -1), limit - len(items) + len(skip) + 1],
            ).fetchall()
            for row in rows:
                if row[0] in skip:
                    continue
                size += len(row[2])
                if len(items) >= limit or (items and size > max_bytes):
                    return items, True
                items.append(OutboxItem(*row))

    def segments(self, segment_ids: set[str]) -> list[SealedSegment]:
        marks = ",".join("?" * len(segment_ids))
        rows = self.db.execute(
            "SELECT segment_id, centre_key_id, suite, sealed_key FROM outbox_segments"
            f" WHERE segment_id IN ({marks})",
            sorted(segment_ids),
        ).fetchall()
        return [SealedSegment(*row) for row in rows]

    def settle(
        self,
        held: Collection[int],
        conflicts: Collection[int],
        highest_held: int,
        at: str,
        refused: Collection[int] = (),
    ) -> Settled:
        """Apply what the centre said of a batch, in one transaction: drop the items it holds
        from the outbox (noting it on the patient's plaintext); give the items it holds a
        *different* reading under a new sequence number, sealed again; and move the sequence
        counter past the highest number the centre holds (it went back: a lost write, a
        restored SD card), so no new reading takes a number the centre has used. Items the centre
        refused (it cannot store them) are set aside: kept, counted as pending, not sent again;
        a refused health report is dropped instead (the next one replaces it).
        A `highest_held` far beyond this hub's own counter is not believed (only a holder of
        this hub's key could have put it there) and moves nothing."""
        with self._transaction("record the centre's acknowledgement in"):
            last = self.db.execute("SELECT last FROM hub_sequence WHERE id = 1").fetchone()[0]
            if highest_held > last + MAX_COUNTER_JUMP:
                log.error(
                    "the centre says it holds sequence number %d, far beyond this hub's "
                    "%d: not believed; tell the centre (a forged reading?)",
                    highest_held,
                    last,
                )
            elif highest_held > last:
                self.db.execute("UPDATE hub_sequence SET last = ? WHERE id = 1", [highest_held])
            for chunk in _chunks(sorted(refused)):
                self._drop_refused_health(chunk)
                self.db.execute(
                    f"UPDATE outbox SET priority = ? WHERE seq IN ({','.join('?' * len(chunk))})",
                    [STRANDED, *chunk],
                )
            synced = 0
            for chunk in _chunks(sorted(held)):
                marks = ",".join("?" * len(chunk))
                synced += self.db.execute(
                    f"DELETE FROM outbox WHERE seq IN ({marks})", chunk
                ).rowcount
                self.db.execute(
                    f"UPDATE readings SET synced_at = ? WHERE seq IN ({marks})"
                    " AND synced_at IS NULL",
                    [at, *chunk],
                )
                # A call request among them has reached the centre (by its id: the item may
                # have been renumbered on the way).
                self.db.execute(
                    "UPDATE call_requests SET delivered_at = coalesce(delivered_at, ?)"
                    " WHERE request_id IN (SELECT json_extract(values_json, '$.request_id')"
                    f" FROM readings WHERE kind = ? AND seq IN ({marks}))",
                    [at, CALL_KIND, *chunk],
                )
            renumbered = {
                old: new for old in sorted(conflicts) if (new := self._renumber(old)) is not None
            }
            self.db.execute(
                "DELETE FROM outbox_segments WHERE segment_id != ? AND NOT EXISTS"
                " (SELECT 1 FROM outbox WHERE outbox.segment_id = outbox_segments.segment_id)",
                [self.sealer.current_segment_id if self.sealer else ""],
            )
        return Settled(synced, renumbered)

    def _drop_refused_health(self, refused: Sequence[int]) -> None:
        """Health reports among items the centre refused leave the outbox (inside the caller's
        transaction): a report says how the hub was then, and the next one replaces it. Kept,
        it would count as waiting for good, as if it were one of the patient's readings."""
        marks = ",".join("?" * len(refused))
        dropped = [
            seq
            for (seq,) in self.db.execute(
                f"SELECT seq FROM readings WHERE kind = ? AND seq IN ({marks})",
                [HEALTH_KIND, *refused],
            )
        ]
        if dropped:
            marks = ",".join("?" * len(dropped))
            self.db.execute(f"DELETE FROM outbox WHERE seq IN ({marks})", dropped)
            log.warning(
                "the centre refused health report(s) %s: dropped, the next replaces", dropped
            )

    def _renumber(self, old: int) -> int | None:
        """Move an unsent reading to the next sequence number (inside the caller's transaction).
        Without its plaintext it cannot be sealed again: it is set aside in the outbox, kept
        and counted as pending, and not sent again (docs/protocol.md)."""
        row = self.db.execute("SELECT priority FROM outbox WHERE seq = ?", [old]).fetchone()
        if row is None or row[0] == STRANDED:
            return None  # delivered or renumbered already (a repeated ack)
        found = self._select("WHERE seq = ?", [old])
        if not found:
            self.db.execute("UPDATE outbox SET priority = ? WHERE seq = ?", [STRANDED, old])
            return None
        new: int = self.db.execute(
            "UPDATE hub_sequence SET last = last + 1 WHERE id = 1 RETURNING last"
        ).fetchone()[0]
        self.db.execute("DELETE FROM outbox WHERE seq = ?", [old])
        self.db.execute("UPDATE readings SET seq = ?, sealed = 0 WHERE seq = ?", [new, old])
        if self.sealer is not None:
            self._seal(dataclasses.replace(found[0], seq=new), row[0])
        return new

    def prune_plaintext(self, stored_before: str) -> int:
        """Delete the plaintext of readings stored before `stored_before` (the patient screen's
        window has passed); their sealed copies stay in the outbox until acknowledged."""
        with self._transaction("delete old plaintext from"):
            cursor = self.db.execute(
                "DELETE FROM readings WHERE stored_at < ?"
                " AND (sealed = 1 OR synced_at IS NOT NULL)",
                [stored_before],
            )
        if cursor.rowcount:
            # The pages that held it live on in the WAL until a checkpoint empties it.
            try:
                self.db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            except sqlite3.Error as exc:
                raise StoreError(
                    f"could not empty the write-ahead log of {self.path}: {_explain(exc)}"
                ) from exc
        return cursor.rowcount

    def held_version(self, doc_type: str) -> int:
        return self._memo(("held", doc_type), lambda: self._held_version(doc_type))

    def _held_version(self, doc_type: str) -> int:
        row = self.db.execute(
            "SELECT version FROM downlink WHERE doc_type = ?", [doc_type]
        ).fetchone()
        return int(row[0]) if row else 0

    def version_floor(self, doc_type: str) -> int:
        """What a new document of a type must be newer than: the held version, or, after one
        was set aside, one less than its version (the centre's genuine document under that
        number is taken again, older ones are not)."""
        row = self.db.execute(
            "SELECT version FROM downlink WHERE doc_type = ?", [_SET_ASIDE + doc_type]
        ).fetchone()
        return max(self.held_version(doc_type), int(row[0]) - 1 if row else 0)

    def set_aside_document(self, doc_type: str) -> int | None:
        """Stop using a held document that no longer validates; keep it, renamed, for the
        technician. Returns its version (None if none was held)."""
        with self._transaction("set aside a document in"):
            row = self.db.execute(
                "SELECT version FROM downlink WHERE doc_type = ?", [doc_type]
            ).fetchone()
            if row is None:
                return None
            self.db.execute("DELETE FROM downlink WHERE doc_type = ?", [_SET_ASIDE + doc_type])
            self.db.execute(
                "UPDATE downlink SET doc_type = ? WHERE doc_type = ?",
                [_SET_ASIDE + doc_type, doc_type],
            )
        return int(row[0])

    def save_document(
        self, doc_type: str, version: int, issued_at: str, content: dict[str, Any]
    ) -> None:
        """Keep the newest document of a type from the centre; messages are all kept; a call
        acknowledgement answers its request."""
        at = now_utc()
        with self._transaction("keep what the centre sent in"):
            self.db.execute(
                "INSERT INTO downlink (doc_type, version, issued_at, content_json, received_at)"
                " VALUES (?, ?, ?, ?, ?) ON CONFLICT (doc_type) DO UPDATE SET"
                " version = excluded.version, issued_at = excluded.issued_at,"
                " content_json = excluded.content_json, received_at = excluded.received_at",
                [doc_type, version, issued_at, json.dumps(content), at],
            )
            if doc_type == "message":
                self.db.execute(
                    "INSERT INTO patient_messages (version, text, issued_at, received_at)"
                    " VALUES (?, ?, ?, ?)",
                    [version, content["text"], issued_at, at],
                )
            elif doc_type == "call_ack":
                # The nurse's answer, at the centre's time; the first answer stands. One for a
                # request this hub does not hold (its store was replaced) changes nothing.
                self.db.execute(
                    "UPDATE call_requests SET acknowledged_at = coalesce(acknowledged_at, ?)"
                    " WHERE request_id = ?",
                    [issued_at, content["request_id"]],
                )

    def document(self, doc_type: str) -> dict[str, Any] | None:
        row = self.db.execute(
            "SELECT content_json FROM downlink WHERE doc_type = ?", [doc_type]
        ).fetchone()
        return json.loads(row[0]) if row else None

    def patient_messages(self, limit: int = 20) -> list[dict[str, Any]]:
        """The newest messages first; fresh dicts each time (a caller may change them)."""
        keys = ("version", "text", "issued_at", "received_at", "read_at")
        rows = self._memo(
            ("messages", str(limit)),
            lambda: self.db.execute(
                f"SELECT {', '.join(keys)} FROM patient_messages ORDER BY version DESC LIMIT ?",
                [limit],
            ).fetchall(),
        )
        return [dict(zip(keys, r, strict=True)) for r in rows]

    def mark_message_read(self, version: int, at: str) -> bool:
        """Note when the patient read a message; False if there is no such message."""
        with self._transaction("note a message read in"):
            cursor = self.db.execute(
                "UPDATE patient_messages SET read_at = coalesce(read_at, ?) WHERE version = ?",
                [at, version],
            )
        return cursor.rowcount > 0

    def outbox_bytes(self) -> int:
        size: int = self.db.execute(
            "SELECT coalesce(sum(length(sealed)), 0) FROM outbox"
        ).fetchone()[0]
        return size

    def all(self) -> list[StoredReading]:
        return self._select("ORDER BY seq", [])

    def history(self, measured_since: str) -> list[StoredReading]:
        """Good readings measured since then (for the screen's trends), oldest first: the last
        of each kind in each hour, so an oximeter's stream of hundreds cannot crowd out the
        other days (at most 24 a day per kind).

        Asked every second with a `measured_since` one second later: the hours' latest are
        kept until the store changes or the hour turns, and only the first hour, which
        `measured_since` cuts, is looked at again."""
        hour = measured_since[:13]
        latest = self._memo(("trend", hour), lambda: self._trend_from(hour))
        trend = []
        for r in latest:
            # Only in the first hour can an hour's latest be measured before `measured_since`:
            # then the latest of that hour measured since then, if any, stands in for it.
            if r.measured_at is not None and r.measured_at >= measured_since:
                trend.append(r)
            else:
                trend.extend(
                    self._select(
                        "WHERE seq = (SELECT max(seq) FROM readings WHERE outcome != 'failed'"
                        f" AND kind = ? AND {_HOUR} = ? AND measured_at >= ?)",
                        [r.kind, hour, measured_since],
                    )
                )
        trend.sort(key=lambda r: (r.measured_at or "", r.seq))
        return trend

    def _trend_from(self, hour: str) -> list[StoredReading]:
        """The latest good reading of each kind in each hour from `hour` on."""
        return self._select(
            f"WHERE seq IN (WITH RECURSIVE {_BUCKETS} SELECT (SELECT max(seq) FROM readings"
            f" WHERE outcome != 'failed' AND kind = b.kind AND {_HOUR} = b.hour)"
            " FROM b WHERE b.hour IS NOT NULL)",
            {"hour": hour},
        )

    def latest_per_kind(self) -> list[StoredReading]:
        """The newest reading (highest number) of each kind, newest first."""
        return list(
            self._memo(
                ("latest",),
                lambda: self._select(
                    f"WHERE seq IN (WITH RECURSIVE {_KINDS} SELECT (SELECT max(seq)"
                    " FROM readings WHERE kind = k.kind) FROM k WHERE k.kind IS NOT NULL)"
                    " ORDER BY seq DESC",
                    [],
                ),
            )
        )

    def health_report_waiting(self) -> int | None:
        """The number of the newest health report if it still waits for the centre: not
        acknowledged, and not refused (a refused item is set aside and never sent again; were
        it counted as waiting, no report would be made until it is pruned)."""
        newest = next((r for r in self.latest_per_kind() if r.kind == HEALTH_KIND), None)
        if newest is None or newest.synced_at is not None:
            return None
        # Waiting: still to be sealed, or sealed and in the outbox's lanes. Sealed and gone
        # from the outbox unacknowledged, or set aside there: the centre refused it.
        sealed, lane = self.db.execute(
            "SELECT r.sealed, o.priority FROM readings r LEFT JOIN outbox o ON o.seq = r.seq"
            " WHERE r.seq = ?",
            [newest.seq],
        ).fetchone()
        waiting = not sealed or (lane is not None and lane != STRANDED)
        return newest.seq if waiting else None

    def pending_count(self) -> int:
        """Readings the centre has not acknowledged (sealed or still to be sealed)."""
        return self._memo(("pending",), self._count_pending)

    def _count_pending(self) -> int:
        count: int = self.db.conn.execute(
            "SELECT (SELECT count(*) FROM outbox)"
            " + (SELECT count(*) FROM readings WHERE sealed = 0 AND synced_at IS NULL)"
        ).fetchone()[0]
        return count

    def changes(self) -> tuple[int, int]:
        """A mark that differs whenever the store may have changed since it was taken: rows
        written through this connection (total_changes) or a commit by another (data_version).
        The daemon's status answer is kept while it stays the same."""
        version: int = self.db.conn.execute("PRAGMA data_version").fetchone()[0]
        return self.db.conn.total_changes, version

    def _memo(self, key: tuple[str, ...], compute: Callable[[], _T]) -> _T:
        """An answer kept until the store changes: the screen asks for the same ones every
        second. Any row written through this connection (total_changes) or committed by another
        (data_version) makes every kept answer stale; a changed key replaces its answer."""
        state = self.changes()
        if state != self._memo_state:
            self._memos.clear()
            self._memo_state = state
        kept = self._memos.get(key[0])
        if kept is not None and kept[0] == key:
            return cast(_T, kept[1])
        value = compute()
        self._memos[key[0]] = (key, value)
        return value

    def _select(self, tail: str, params: list[Any] | dict[str, Any]) -> list[StoredReading]:
        rows = self.db.conn.execute(f"{_SELECT_READINGS} {tail}", params).fetchall()
        return [StoredReading.from_columns(row) for row in rows]

    def close(self) -> None:
        self.db.conn.close()


def _explain(exc: sqlite3.Error) -> str:
    if getattr(exc, "sqlite_errorname", "") == "SQLITE_FULL":
        return (
            f"{exc}: the disk is full. Readings wait in memory and are stored as soon as "
            "space is freed"
        )
    return str(exc)
