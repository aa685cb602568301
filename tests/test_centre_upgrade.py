"""Upgrading a centre from before issue 13: its `centre.sqlite` was made by plain SQL under the
table names the models use now. `centre migrate` converts it in one transaction, every row kept;
the other commands refuse it with what to run; a row it cannot convert leaves it as it was."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from centre.records.legacy import REFUSAL, content_digest, parse_time
from centre.store import CentreStore, ReplayedBatch, _content

# The old store's tables, as centre/store.py made them at f426380 (SCHEMA, then the columns
# and the table issue 11 added to stores made before it).
OLD_SCHEMA = [
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
    """CREATE TABLE IF NOT EXISTS batches (
        hub_id TEXT NOT NULL, batch_id TEXT NOT NULL, stored_at TEXT NOT NULL,
        PRIMARY KEY (hub_id, batch_id))""",
    """CREATE TABLE IF NOT EXISTS downlink (
        hub_id TEXT NOT NULL, doc_type TEXT NOT NULL, version INTEGER NOT NULL,
        issued_at TEXT NOT NULL, content_json TEXT NOT NULL,
        PRIMARY KEY (hub_id, doc_type, version))""",
]
ISSUE_11 = [
    "ALTER TABLE hubs ADD COLUMN encryption_key TEXT",
    "ALTER TABLE hubs ADD COLUMN encryption_suite TEXT",
    "CREATE TABLE IF NOT EXISTS revoked_certificates (serial TEXT PRIMARY KEY,"
    " hub_id TEXT NOT NULL, revoked_at TEXT NOT NULL, reason TEXT NOT NULL)",
    "ALTER TABLE hubs ADD COLUMN cert_serial TEXT",
    "ALTER TABLE hubs ADD COLUMN revoked_at TEXT",
    "ALTER TABLE readings ADD COLUMN content_digest TEXT",
    "CREATE INDEX IF NOT EXISTS readings_content ON readings (hub_id, content_digest)",
]

T0 = "2026-11-22T10:00:00.000+00:00"
T1 = "2026-11-22T10:05:00.000+00:00"
T2 = "2026-11-22T10:10:00.000+00:00"


def reading(seq: int, raw_hex: str, *, received_at: str = T0, **changed: Any) -> dict[str, Any]:
    """A reading as a hub sends it (the wire's fields)."""
    return {
        "seq": seq,
        "kind": "spo2",
        "characteristic": "2a5f",
        "device_address": "AA:BB:CC:DD:EE:01",
        "device_time": "2026-11-22T09:59:58",
        "measured_at": received_at,
        "time_source": "device",
        "clock_correction_s": 1.5,
        "hub_clock_synced": True,
        "hub_clock_offset_s": -0.25,
        "received_at": received_at,
        "outcome": "ok",
        "problems": [],
        "raw_hex": raw_hex,
        "values": {"spo2": 97, "pulse": 64},
        **changed,
    }


# hub-0001: readings 1..3 and 5 (a gap at 4), one of them stored before digests (NULL), one
# received at +01:00; hub-0002: revoked, one reading, no certificate recorded for it now.
READINGS = {
    ("hub-0001", 1): (reading(1, "0a61"), "b-1", True),
    ("hub-0001", 2): (reading(2, "0a62", received_at=T1), "b-1", False),
    ("hub-0001", 3): (
        reading(3, "0a63", received_at="2026-11-22T11:10:00.000+01:00", kind="weight"),
        "b-2",
        True,
    ),
    ("hub-0001", 5): (reading(5, "0a65", received_at=T2, hub_clock_synced=False), "b-2", False),
    ("hub-0002", 1): (reading(1, "0b61", problems=["low battery"]), "b-9", True),
}
REJECTIONS = [
    (3, T0, "dho/v1/hub/hub-0001/batch", "hub-0001", "bad signature"),
    (7, T1, "dho/v1/hub/nobody/batch", None, "not enrolled"),
    (9, T2, "dho/v1/hub/x/batch", "<script>alert(1)</script>", "not a hub id"),
]
DOWNLINK = [
    ("hub-0001", "care_plan", 1, T0, '{"schedule": []}'),
    ("hub-0001", "care_plan", 2, T1, '{"schedule": ["08:00"]}'),
    ("hub-0001", "message", 1, T2, '{"text": "Hei"}'),
]
REVOKED = [
    ("0F0E", "hub-0001", T0, "superseded"),
    ("1A2B", "hub-0002", T1, "revoked"),
]


def legacy_store(path: Path, *, issue_11: bool = True) -> None:
    """An old centre's store, by the old SQL (`issue_11` False: from before issue 11, without
    digests, certificates or encryption keys)."""
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    for statement in OLD_SCHEMA + (ISSUE_11 if issue_11 else []):
        conn.execute(statement)
    if issue_11:
        conn.executemany(
            "INSERT INTO hubs (hub_id, signing_key, enrolled_at, encryption_key,"
            " encryption_suite, cert_serial, revoked_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
            [
                ("hub-0001", "sign-1", T0, "enc-1", "x25519", "3C4D", None),
                ("hub-0002", "sign-2", T0, None, None, None, T2),
                ("hub-0003", "sign-3", "2026-11-22T10:00:00", None, None, None, None),
            ],
        )
        conn.executemany("INSERT INTO revoked_certificates VALUES (?, ?, ?, ?)", REVOKED)
    else:
        conn.executemany(
            "INSERT INTO hubs VALUES (?, ?, ?)",
            [("hub-0001", "sign-1", T0), ("hub-0002", "sign-2", T0), ("hub-0003", "sign-3", T0)],
        )
    for (hub_id, _), (item, batch_id, digested) in READINGS.items():
        columns = ["hub_id", "batch_id", "stored_at"] + [_column(k) for k in item]
        values = [hub_id, batch_id, T2] + [_value(k, v) for k, v in item.items()]
        if issue_11:
            columns.append("content_digest")
            values.append(_digest(item) if digested else None)
        conn.execute(
            f"INSERT INTO readings ({', '.join(columns)}) VALUES ({', '.join('?' * len(values))})",
            values,
        )
    conn.executemany("INSERT INTO rejections VALUES (?, ?, ?, ?, ?)", REJECTIONS)
    conn.executemany(
        "INSERT INTO batches VALUES (?, ?, ?)",
        [("hub-0001", "b-1", T1), ("hub-0001", "b-2", T2), ("hub-0002", "b-9", T0)],
    )
    conn.executemany("INSERT INTO downlink VALUES (?, ?, ?, ?, ?)", DOWNLINK)
    conn.close()


def _column(key: str) -> str:
    return f"{key}_json" if key in ("problems", "values") else key


def _value(key: str, value: Any) -> Any:
    import json

    if key in ("problems", "values"):
        return json.dumps(value)
    return int(value) if key == "hub_clock_synced" else value


def _digest(item: dict[str, Any]) -> str:
    return _content(
        item["device_address"], item["received_at"], item["characteristic"], item["raw_hex"]
    )


def centre(tmp_path: Path) -> tuple[list[str], Path]:
    """The command line of a centre whose state folder is `tmp_path`, and its store."""
    config = tmp_path / "centre.toml"
    config.write_text(f'state_dir = "{tmp_path}"\n')
    return [sys.executable, "-m", "centre.cli", "--config", str(config)], tmp_path / "centre.sqlite"


def run(command: list[str], timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command, capture_output=True, text=True, timeout=timeout)


def tables(path: Path) -> set[str]:
    with sqlite3.connect(path) as conn:
        return {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}


def old_rows(path: Path) -> dict[str, list[tuple[Any, ...]]]:
    with sqlite3.connect(path) as conn:
        names = ("hubs", "readings", "rejections", "batches", "downlink")
        return {t: conn.execute(f"SELECT * FROM {t} ORDER BY rowid").fetchall() for t in names}


def iso_utc(text: str) -> str:
    return parse_time(text).isoformat(timespec="milliseconds")


@pytest.mark.parametrize("issue_11", [True, False], ids=["issue-11-store", "older-store"])
def test_centre_migrate_converts_an_old_store_and_keeps_every_row(
    tmp_path: Path, issue_11: bool
) -> None:
    command, path = centre(tmp_path)
    legacy_store(path, issue_11=issue_11)

    done = run([*command, "migrate"])
    assert done.returncode == 0, done.stderr
    assert "converted the centre's store from before issue 13" in done.stderr
    assert not {t for t in tables(path) if t.startswith("legacy_")}

    store = CentreStore(path)
    assert store.enrolled_hubs() == ["hub-0001", "hub-0002", "hub-0003"]
    got = {(r["hub_id"], r["seq"]): r for r in store.readings()}
    assert set(got) == set(READINGS)
    for key, (item, batch_id, _) in READINGS.items():
        row = got[key]
        assert row["values"] == item["values"] and row["problems"] == item["problems"]
        assert row["received_at"] == iso_utc(item["received_at"])
        assert row["measured_at"] == iso_utc(item["measured_at"])
        assert row["hub_clock_synced"] is item["hub_clock_synced"]
        assert (row["kind"], row["device_time"], row["batch_id"], row["stored_at"]) == (
            item["kind"],
            item["device_time"],
            batch_id,
            T2,
        )
    assert _digests_and_bytes(store) == {
        key: (item["raw_hex"], _digest(item)) for key, (item, _, _) in READINGS.items()
    }
    assert store.rejections() == [
        {"at": at, "topic": topic, "hub_id": hub_id, "reason": reason}
        for _, at, topic, hub_id, reason in REJECTIONS
    ]
    assert store.highest_contiguous("hub-0001") == 3
    assert store.highest_contiguous("hub-0002") == 1
    assert store.record_document("hub-0001", "care_plan", T2, {"schedule": []}) == 3
    with pytest.raises(ReplayedBatch):
        store.store_batch("hub-0001", "b-2", [])
    if issue_11:
        assert store.hub_certificate("hub-0001") == "3C4D"
        assert store.hub_encryption_key("hub-0001") == ("x25519", "enc-1")
        assert store.revoked_certificates() == [(s, at) for s, _, at, _ in REVOKED]
        assert store.is_revoked("hub-0002") and not store.is_revoked("hub-0001")
    else:
        assert store.hub_certificate("hub-0001") is None
        assert store.revoked_certificates() == []

    # A hub re-sending an old reading under its old number: held, digested or not; another
    # reading under an old number: a conflict.
    stored = store.store_batch(
        "hub-0001",
        "b-3",
        [
            READINGS[("hub-0001", 1)][0],
            READINGS[("hub-0001", 2)][0],
            reading(3, "ffff", received_at=T2),
            reading(4, "0a64", received_at=T2),
        ],
    )
    assert (stored.new, stored.held, stored.conflicts) == (1, (1, 2, 4), (3,))
    assert store.highest_contiguous("hub-0001") == 5

    secret = tmp_path / "keys" / "web-secret"
    assert secret.stat().st_mode & 0o777 == 0o600 and len(secret.read_text().strip()) >= 50
    again = run([*command, "migrate"])  # nothing to convert a second time, nothing changed
    assert again.returncode == 0, again.stderr
    assert len(CentreStore(path).readings()) == len(READINGS) + 1


def _digests_and_bytes(store: CentreStore) -> dict[tuple[str, int], tuple[str, str]]:
    from centre.records.models import Reading

    rows = Reading.objects.using(store.alias).values_list(
        "hub_id", "seq", "raw_hex", "content_digest"
    )
    return {(hub, seq): (raw, digest) for hub, seq, raw, digest in rows}


@pytest.mark.parametrize("what", ["readings", "serve"])
def test_an_old_store_is_refused_with_what_to_run_and_left_alone(tmp_path: Path, what: str) -> None:
    command, path = centre(tmp_path)
    legacy_store(path)
    before = old_rows(path)
    refused = run([*command, what], timeout=120)
    assert refused.returncode == 2, refused.stderr
    assert REFUSAL in refused.stderr and "no tables yet" not in refused.stderr
    assert "Traceback" not in refused.stderr
    assert old_rows(path) == before and "django_migrations" not in tables(path)


@pytest.mark.parametrize(
    ("table", "column", "key", "bad"),
    [
        ("readings", "measured_at", "hub_id = 'hub-0001' AND seq = 2", "<script>x</script>"),
        ("hubs", "enrolled_at", "hub_id = 'hub-0003'", "x" * 100_000),
        ("rejections", "at", "id = 7", "2026-13-45T99:00:00"),
    ],
    ids=["reading-script", "hub-huge", "rejection-no-such-day"],
)
def test_a_row_that_cannot_be_converted_leaves_the_old_store_as_it_was(
    tmp_path: Path, table: str, column: str, key: str, bad: str
) -> None:
    command, path = centre(tmp_path)
    legacy_store(path)
    with sqlite3.connect(path) as conn:
        good = conn.execute(f"SELECT {column} FROM {table} WHERE {key}").fetchone()[0]
        conn.execute(f"UPDATE {table} SET {column} = ? WHERE {key}", [bad])
    before, names = old_rows(path), tables(path)

    failed = run([*command, "migrate"])
    assert failed.returncode == 2
    assert "not a time" in failed.stderr and "Nothing was changed" in failed.stderr
    assert "Traceback" not in failed.stderr and len(failed.stderr) < 2000
    assert old_rows(path) == before and tables(path) == names  # the old software runs on it

    with sqlite3.connect(path) as conn:  # the technician puts the row right
        conn.execute(f"UPDATE {table} SET {column} = ? WHERE {key}", [good])
    done = run([*command, "migrate"])
    assert done.returncode == 0, done.stderr
    store = CentreStore(path)
    assert len(store.readings()) == len(READINGS) and len(store.rejections()) == len(REJECTIONS)


def test_a_reading_of_a_hub_never_enrolled_is_named_and_nothing_changes(tmp_path: Path) -> None:
    command, path = centre(tmp_path)
    legacy_store(path)
    with sqlite3.connect(path) as conn:
        conn.execute("UPDATE readings SET hub_id = 'hub-gone' WHERE hub_id = 'hub-0002'")
    before = old_rows(path)
    failed = run([*command, "migrate"])
    assert failed.returncode == 2 and "hub-gone" in failed.stderr
    assert "Nothing was changed" in failed.stderr and "Traceback" not in failed.stderr
    assert old_rows(path) == before


def test_an_old_store_a_failed_migrate_left_half_done_is_converted(tmp_path: Path) -> None:
    """What `centre migrate` of before this did: Django's own apps' tables made, then `table
    "hubs" already exists`."""
    from django.core.management import call_command

    from centre.web.runtime import database_alias

    command, path = centre(tmp_path)
    legacy_store(path)
    alias = database_alias(f"sqlite:///{path}")
    call_command("migrate", "auth", database=alias, verbosity=0)
    from django.db import connections

    connections[alias].close()
    assert "django_migrations" in tables(path)

    refused = run([*command, "readings"], timeout=120)
    assert refused.returncode == 2 and REFUSAL in refused.stderr
    done = run([*command, "migrate"])
    assert done.returncode == 0, done.stderr
    assert len(CentreStore(path).readings()) == len(READINGS)


def test_a_new_store_is_not_taken_for_an_old_one(tmp_path: Path) -> None:
    from django.db import connections

    from centre.records.legacy import is_legacy

    store = CentreStore(tmp_path / "new.sqlite", migrate=True)
    assert not is_legacy(connections[store.alias])
    store.enrol("hub-0001", "sign-1")
    assert store.enrolled_hubs() == ["hub-0001"]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (T0, T0),
        ("2026-11-22T11:00:00.000+01:00", T0),
        ("2026-11-22T10:00:00", T0),  # no offset: the old store wrote UTC
        ("2026-11-22T10:00:00Z", T0),
    ],
)
def test_old_times_are_read_as_utc(text: str, expected: str) -> None:
    assert iso_utc(text) == expected


@pytest.mark.parametrize("text", ["", "not a time", "<script>", "9" * 10_000, 1700000000, None])
def test_what_is_not_a_time_is_refused(text: Any) -> None:
    with pytest.raises(ValueError):
        parse_time(text)


@pytest.mark.parametrize(
    "fields",
    [
        ("AA:BB", T0, "2a5f", "0a61"),
        ("", "", "", ""),
        ("é\x00", "<script>", "2a5f", "ff" * 5000),
    ],
)
def test_a_digest_computed_in_the_conversion_is_the_stores(fields: tuple[str, ...]) -> None:
    assert content_digest(*fields) == _content(*fields)
