"""The hub's reading store on real files, including a real kill -9 mid-write."""

from __future__ import annotations

import os
import signal
import sqlite3
import stat
import subprocess
import sys
import textwrap
from dataclasses import replace
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from hub.core.reading import URGENT, NewReading
from hub.store import MIGRATIONS, ReadingStore, StoreError
from hub.wire.sealing import ItemSealer, open_item, open_segment
from hub.wire.suites import x25519_pair

CENTRE = x25519_pair(X25519PrivateKey.generate())


def sealing_store(path: Path) -> ReadingStore:
    return ReadingStore(path, sealer=ItemSealer("hub-0001", CENTRE.public))


def outbox_seqs(store: ReadingStore) -> list[int]:
    return [i.seq for i in store.outbox(1000, 1 << 30)[0]]


def reading(systolic: float = 128.0) -> NewReading:
    return NewReading(
        kind="blood_pressure",
        characteristic="00002a35-0000-1000-8000-00805f9b34fb",
        device_address="00:BB:00:00:00:02",
        device_time="2026-11-22T10:40:00",
        received_at="2026-11-22T10:40:01.000+00:00",
        raw_hex="00",
        values={"systolic": systolic},
    )


def test_sequence_numbers_are_dense_and_survive_reopen(tmp_path: Path) -> None:
    store = sealing_store(tmp_path / "hub.sqlite")
    assert [store.add(reading()) for _ in range(3)] == [1, 2, 3]
    store.close()
    store = sealing_store(tmp_path / "hub.sqlite")
    assert store.add(reading()) == 4
    assert outbox_seqs(store) == [1, 2, 3, 4]


def test_settle_only_touches_the_acknowledged_items(tmp_path: Path) -> None:
    store = sealing_store(tmp_path / "hub.sqlite")
    for _ in range(4):
        store.add(reading())
    assert store.settle([2, 3], [], 0, "2026-11-22T10:41:00+00:00").synced == 2
    assert store.settle([2, 3], [], 0, "2026-11-22T10:42:00+00:00").synced == 0  # a re-sent ack
    assert outbox_seqs(store) == [1, 4]
    assert store.pending_count() == 2
    assert {r.seq: r.synced_at for r in store.all()}[2] == "2026-11-22T10:41:00+00:00"


def test_the_last_delivery_is_known_again_after_a_restart(tmp_path: Path) -> None:
    """`hub status` after the daemon restarted: the last delivery is the newest acknowledgement
    the store holds (issue 15: it said "unknown" until the next ack)."""
    store = sealing_store(tmp_path / "hub.sqlite")
    assert store.last_synced_at() is None
    for _ in range(3):
        store.add(reading())
    store.settle([1], [], 0, "2026-11-22T10:41:00+00:00")
    store.settle([2], [], 0, "2026-11-22T10:43:00+00:00")
    store.close()
    assert sealing_store(tmp_path / "hub.sqlite").last_synced_at() == "2026-11-22T10:43:00+00:00"


def test_durability_settings(tmp_path: Path) -> None:
    store = ReadingStore(tmp_path / "hub.sqlite")
    assert store.db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert store.db.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL
    assert store.db.execute("PRAGMA user_version").fetchone()[0] == len(MIGRATIONS)


def test_newer_schema_is_refused_with_advice(tmp_path: Path) -> None:
    path = tmp_path / "hub.sqlite"
    ReadingStore(path).close()
    conn = sqlite3.connect(path)
    conn.execute(f"PRAGMA user_version = {len(MIGRATIONS) + 1}")
    conn.close()
    with pytest.raises(StoreError, match="newer than this hub software"):
        ReadingStore(path)


def test_unwritable_location_is_a_store_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(StoreError, match="cannot open reading store"):
        ReadingStore(blocker / "hub.sqlite")


def test_readonly_view_sees_committed_rows_and_cannot_write(tmp_path: Path) -> None:
    path = tmp_path / "hub.sqlite"
    writer = ReadingStore(path)
    writer.add(reading(131.0))
    view = ReadingStore(path, readonly=True)
    assert [r.values["systolic"] for r in view.all()] == [131.0]
    with pytest.raises(StoreError):
        view.add(reading())


WRITER = textwrap.dedent("""
    import sys
    from pathlib import Path
    from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
    from hub.store import ReadingStore
    from hub.core.reading import NewReading
    from hub.wire.sealing import ItemSealer
    from hub.wire.suites import x25519_pair
    sealer = ItemSealer("hub-0001", x25519_pair(X25519PrivateKey.generate()).public)
    store = ReadingStore(Path(sys.argv[1]), sealer=sealer)
    n = 0
    while True:
        n += 1
        seq = store.add(NewReading("blood_pressure", "2a35", "dev", None, "t", "00",
                                   {"systolic": float(n)}))
        print(seq, flush=True)
""")


def test_kill_9_loses_no_committed_reading(tmp_path: Path) -> None:
    path = tmp_path / "hub.sqlite"
    for _ in range(3):
        proc = subprocess.Popen(
            [sys.executable, "-c", WRITER, str(path)], stdout=subprocess.PIPE, text=True
        )
        assert proc.stdout is not None
        acknowledged = [int(proc.stdout.readline()) for _ in range(50)]
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        proc.stdout.close()
        view = ReadingStore(path, readonly=True)
        seqs = [r.seq for r in view.all()]
        assert set(acknowledged) <= set(seqs), "a reading reported stored was lost"
        assert seqs == list(range(1, len(seqs) + 1)), "sequence numbers must stay dense"
        assert outbox_seqs(view) == seqs, "every stored reading is sealed in the same commit"
        view.close()
    store = ReadingStore(path)
    assert store.db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    last = len(store.all())
    assert store.add(reading()) == last + 1  # never reused after a crash


def test_resent_record_is_stored_once_and_takes_no_sequence_number(tmp_path: Path) -> None:
    store = ReadingStore(tmp_path / "hub.sqlite")
    first = NewReading(**{**reading().__dict__, "record_key": "00:BB|2a35|2026-11-22T10:40|ab"})
    assert store.add(first) == 1
    assert store.add(first) is None
    assert store.add(reading()) == 2  # no key: nothing to recognise it by, so it is kept
    assert [r.seq for r in store.all()] == [1, 2]


def test_outcome_and_timing_round_trip(tmp_path: Path) -> None:
    store = ReadingStore(tmp_path / "hub.sqlite")
    store.add(
        NewReading(
            **{
                **reading().__dict__,
                "outcome": "failed",
                "problems": ("systolic_NaN",),
                "measured_at": "2026-11-22T09:40:00+00:00",
                "time_source": "device_corrected",
                "clock_correction_s": 3600.0,
                "hub_clock_synced": True,
            }
        )
    )
    (row,) = store.all()
    wire = row.to_wire()
    assert (wire["outcome"], wire["problems"], wire["measured_at"], wire["time_source"]) == (
        "failed",
        ["systolic_NaN"],
        "2026-11-22T09:40:00+00:00",
        "device_corrected",
    )
    assert (wire["clock_correction_s"], wire["hub_clock_synced"]) == (3600.0, True)
    assert "synced" not in wire


def test_last_record_number_per_device(tmp_path: Path) -> None:
    store = ReadingStore(tmp_path / "hub.sqlite")
    assert store.last_record_number("00:BB", "glucose") is None
    for n in (3, 5, 4):
        store.add(
            NewReading(
                **{
                    **reading().__dict__,
                    "kind": "glucose",
                    "device_address": "00:BB",
                    "values": {"sequence_number": n},
                }
            )
        )
    assert store.last_record_number("00:BB", "glucose") == 5
    assert store.last_record_number("00:CC", "glucose") is None
    # Record 7 arrived but 6 was lost in the transfer: ask again from after 5.
    store.add(
        NewReading(
            **{
                **reading().__dict__,
                "kind": "glucose",
                "device_address": "00:BB",
                "values": {"sequence_number": 7},
            }
        )
    )
    assert store.last_record_number("00:BB", "glucose") == 5


def test_known_devices(tmp_path: Path) -> None:
    from hub.core.reading import KnownDevice

    store = ReadingStore(tmp_path / "hub.sqlite")
    store.save_device(KnownDevice("00:BB", "blood_pressure", "cuff", "2026-11-22T10:00:00Z", True))
    store.note_connection("00:BB", "2026-11-22T11:00:00Z", clock_set=True, battery_level=80)
    store.note_connection("00:BB", "2026-11-22T12:00:00Z", clock_set=False, battery_level=None)
    (device,) = store.devices()
    assert (device.last_connected_at, device.clock_set_at, device.battery_level) == (
        "2026-11-22T12:00:00Z",
        "2026-11-22T11:00:00Z",
        80,
    )
    assert store.forget_device("00:BB") and store.devices() == []
    assert not store.forget_device("00:BB")


def test_what_pairing_learnt_of_a_device_is_kept(tmp_path: Path) -> None:
    """`hub pair` then `hub devices`: the clock set at pairing, its battery and connection show
    at once (issue 15: clock_set_at was null until the next connection). Paired again, what the
    second pairing did not learn is kept."""
    from hub.core.reading import KnownDevice

    store = ReadingStore(tmp_path / "hub.sqlite")
    paired = KnownDevice(
        "00:BB", "blood_pressure", "cuff", "2026-11-22T10:00:00Z", True,
        last_connected_at="2026-11-22T10:00:01Z", clock_set_at="2026-11-22T10:00:01Z",
        battery_level=64,
    )  # fmt: skip
    store.save_device(paired)
    assert store.devices() == [paired]
    again = KnownDevice("00:BB", "blood_pressure", "cuff", "2026-11-23T09:00:00Z", True)
    store.save_device(again)
    (device,) = store.devices()
    assert device.paired_at == "2026-11-23T09:00:00Z"
    assert (device.last_connected_at, device.clock_set_at, device.battery_level) == (
        "2026-11-22T10:00:01Z",
        "2026-11-22T10:00:01Z",
        64,
    )


def test_v1_database_upgrades_in_place(tmp_path: Path) -> None:
    path = tmp_path / "hub.sqlite"
    conn = sqlite3.connect(path, isolation_level=None)
    import sqlite_utils

    MIGRATIONS[0](sqlite_utils.Database(conn))
    conn.execute("PRAGMA user_version = 1")
    conn.execute("UPDATE hub_sequence SET last = 1")
    conn.execute(
        "INSERT INTO readings (seq, kind, characteristic, device_address, received_at, raw_hex,"
        " values_json, stored_at) VALUES (1, 'blood_pressure', '2a35', '00:BB',"
        " '2026-11-22T10:00:00+00:00', '00', '{}', '2026-11-22T10:00:00+00:00')"
    )
    conn.close()
    store = ReadingStore(path)
    (old,) = store.all()
    assert (old.measured_at, old.outcome, old.time_source) == (
        "2026-11-22T10:00:00+00:00",
        "ok",
        "hub_received",
    )
    assert store.add(reading()) == 2


def test_outbox_holds_only_sealed_items_the_centre_can_open(tmp_path: Path) -> None:
    store = sealing_store(tmp_path / "hub.sqlite")
    store.add(reading(141.0))
    (item,), more = store.outbox(10, 1 << 20)
    assert not more and b"141" not in item.sealed and b"systolic" not in item.sealed
    (segment,) = store.segments({item.segment_id})
    key = open_segment("hub-0001", segment, CENTRE.private)
    opened = open_item(key, "hub-0001", item.segment_id, 1, item.sealed)
    assert opened["values"] == {"systolic": 141.0} and opened == store.all()[0].to_wire()
    # Nothing in the file itself says 141 outside the plaintext window's table.
    store.prune_plaintext("9999-01-01T00:00:00+00:00")
    store.close()
    assert b"systolic" not in (tmp_path / "hub.sqlite").read_bytes()


def test_urgent_items_go_first_and_batches_respect_size(tmp_path: Path) -> None:
    store = sealing_store(tmp_path / "hub.sqlite")
    for _ in range(3):
        store.add(reading())
    store.add(NewReading(**{**reading(190.0).__dict__, "priority": URGENT}))
    assert outbox_seqs(store) == [4, 1, 2, 3]
    first, more = store.outbox(2, 1 << 20)
    assert [i.seq for i in first] == [4, 1] and more
    one_item = len(first[0].sealed)
    by_size, more = store.outbox(10, one_item * 2 + 1)
    assert [i.seq for i in by_size] == [4, 1] and more
    skipping, more = store.outbox(10, 1 << 20, skip=frozenset({4, 1}))
    assert [i.seq for i in skipping] == [2, 3] and not more


def test_plaintext_is_pruned_but_sealed_copies_and_resend_memory_stay(tmp_path: Path) -> None:
    store = sealing_store(tmp_path / "hub.sqlite")
    keyed = NewReading(**{**reading().__dict__, "record_key": "00:BB|2a35|2026-11-22T10:40|ab"})
    assert store.add(keyed) == 1
    assert store.prune_plaintext("2000-01-01T00:00:00+00:00") == 0  # nothing that old
    assert store.prune_plaintext("9999-01-01T00:00:00+00:00") == 1
    assert store.all() == [] and outbox_seqs(store) == [1] and store.pending_count() == 1
    assert store.add(keyed) is None  # the device re-sends it: still recognised
    assert store.settle([1], [], 0, "2026-11-22T10:41:00+00:00").synced == 1
    assert store.pending_count() == 0


def test_acknowledged_segments_are_dropped_but_the_current_one_kept(tmp_path: Path) -> None:
    sealer = ItemSealer("hub-0001", CENTRE.public, segment_items=2)
    store = ReadingStore(tmp_path / "hub.sqlite", sealer=sealer)
    for _ in range(3):
        store.add(reading())
    count = "SELECT count(*) FROM outbox_segments"
    assert store.db.execute(count).fetchone()[0] == 2
    store.settle([1, 2, 3], [], 0, "2026-11-22T10:41:00+00:00")
    ids = [r[0] for r in store.db.execute("SELECT segment_id FROM outbox_segments").fetchall()]
    assert ids == [sealer.current_segment_id]


def test_v3_readings_not_yet_sent_are_sealed_after_the_upgrade(tmp_path: Path) -> None:
    import sqlite_utils

    path = tmp_path / "hub.sqlite"
    conn = sqlite3.connect(path, isolation_level=None)
    db = sqlite_utils.Database(conn)
    for step in MIGRATIONS[:3]:
        step(db)
    conn.execute("PRAGMA user_version = 3")
    for seq, synced in ((1, "2026-11-22T10:01:00+00:00"), (2, None)):
        conn.execute(
            "INSERT INTO readings (seq, kind, characteristic, device_address, received_at,"
            " raw_hex, values_json, stored_at, synced_at, measured_at, record_key)"
            " VALUES (?, 'blood_pressure', '2a35', '00:BB', '2026-11-22T10:00:00+00:00', '00',"
            " '{}', '2026-11-22T10:00:00+00:00', ?, '2026-11-22T10:00:00+00:00', ?)",
            [seq, synced, f"key-{seq}"],
        )
    conn.execute("UPDATE hub_sequence SET last = 2")
    conn.close()
    store = sealing_store(path)
    assert store.pending_count() == 1 and outbox_seqs(store) == []
    assert store.seal_backlog() == 1
    assert outbox_seqs(store) == [2] and store.pending_count() == 1
    assert store.seal_backlog() == 0
    # Record keys became digests: re-sent records are still recognised.
    assert store.add(NewReading(**{**reading().__dict__, "record_key": "key-1"})) is None
    assert store.add(reading()) == 3


def test_history_keeps_every_day_however_long_one_stream_was(tmp_path: Path) -> None:
    store = sealing_store(tmp_path / "hub.sqlite")
    # A morning's oximeter stream: 600 readings within one hour, eleven days ago ...
    for n in range(600):
        store.add(
            replace(
                reading(),
                kind="spo2",
                values={"spo2": 90 + n % 8},
                measured_at=f"2026-11-11T08:{n // 60:02d}:{n % 60:02d}.000+00:00",
            )
        )
    # ... a failed reading, and one blood pressure a day since, the newest today.
    store.add(replace(reading(0), outcome="failed", measured_at="2026-11-22T09:30:00+00:00"))
    for day in range(12, 23):
        store.add(replace(reading(120 + day), measured_at=f"2026-11-{day}T07:00:00+00:00"))
    history = store.history("2026-11-08T00:00:00+00:00")
    spo2 = [r for r in history if r.kind == "spo2"]
    assert [r.values for r in spo2] == [{"spo2": 90 + 599 % 8}]  # the hour's last
    pressures = [r.values["systolic"] for r in history if r.kind == "blood_pressure"]
    assert pressures == [120.0 + day for day in range(12, 23)]  # today included, not the failed
    assert [r.measured_at for r in history] == sorted(r.measured_at for r in history)
    assert store.history("2026-11-20T00:00:00+00:00")[0].measured_at.startswith("2026-11-20")


def test_settle_moves_the_counter_past_what_the_centre_holds_and_renumbers_conflicts(
    tmp_path: Path,
) -> None:
    """Issue 11, finding 7: a hub whose counter went back (lost WAL tail, restored card)."""
    store = sealing_store(tmp_path / "hub.sqlite")
    for _ in range(3):
        store.add(reading())
    settled = store.settle([1], [2], 50, "2026-11-22T10:41:00+00:00")
    assert (settled.synced, settled.renumbered) == (1, {2: 51})
    assert outbox_seqs(store) == [3, 51]
    assert [r.seq for r in store.all()] == [1, 3, 51]
    assert store.add(reading()) == 52  # no new reading takes a number the centre holds
    again = store.settle([], [2], 50, "2026-11-22T10:42:00+00:00")  # the same ack again
    assert (again.synced, again.renumbered) == (0, {})
    assert store.pending_count() == 3


def test_a_conflicting_item_without_plaintext_is_kept_but_not_sent_again(
    tmp_path: Path,
) -> None:
    store = sealing_store(tmp_path / "hub.sqlite")
    store.add(reading())
    store.add(reading())
    assert store.prune_plaintext("9999-01-01T00:00:00+00:00") == 2
    assert store.settle([], [1], 9, "2026-11-22T10:41:00+00:00").renumbered == {}
    items, _ = store.outbox(10, 1 << 20)
    assert [i.seq for i in items] == [2]
    assert store.pending_count() == 2  # kept, and counted as waiting


def test_the_store_is_private_whatever_the_umask(tmp_path: Path) -> None:
    """Issue 11, finding 9: the database, its WAL and shared memory are 0600."""
    old = os.umask(0o022)
    try:
        store = sealing_store(tmp_path / "hub.sqlite")
        store.add(reading())
    finally:
        os.umask(old)
    for name in ("hub.sqlite", "hub.sqlite-wal", "hub.sqlite-shm"):
        assert stat.S_IMODE((tmp_path / name).stat().st_mode) == 0o600, name
    store.close()
    (tmp_path / "hub.sqlite").chmod(0o644)  # an older hub's file is made private at start
    sealing_store(tmp_path / "hub.sqlite").close()
    assert stat.S_IMODE((tmp_path / "hub.sqlite").stat().st_mode) == 0o600


def test_pruned_plaintext_is_gone_from_the_file_and_its_wal(tmp_path: Path) -> None:
    """Issue 11, finding 9: the plaintext stayed in hub.sqlite-wal while the daemon ran."""
    store = sealing_store(tmp_path / "hub.sqlite")
    marker = "5ec2e7da7a5ec2e7"
    store.add(NewReading(**{**reading().__dict__, "raw_hex": marker * 8}))
    store.db.execute("PRAGMA wal_checkpoint(PASSIVE)")  # some of it reaches the main file too
    store.add(NewReading(**{**reading().__dict__, "raw_hex": marker * 8}))
    assert store.prune_plaintext("9999-01-01T00:00:00+00:00") == 2
    for name in ("hub.sqlite", "hub.sqlite-wal"):
        path = tmp_path / name
        assert not path.exists() or marker.encode() not in path.read_bytes(), name
    assert store.pending_count() == 2  # the sealed copies still wait for the centre


def keyed_reading(
    record_key: str,
    received_at: str = "2026-11-22T10:40:01.000+00:00",
    measured_at: str = "2026-11-22T09:40:00+00:00",
) -> NewReading:
    return NewReading(
        **{
            **reading().__dict__,
            "record_key": record_key,
            "received_at": received_at,
            "measured_at": measured_at,
        }
    )


def test_record_digests_are_keyed_so_the_readings_cannot_be_guessed_back(
    tmp_path: Path,
) -> None:
    """Issue 11, finding 9: unsalted SHA-256 of a thermometer's few possible records gave all
    25 readings back in a second. Keyed, the same guess matches nothing."""
    import hashlib

    store = ReadingStore(tmp_path / "hub.sqlite", digest_key=b"k" * 32)
    guesses = [f"00:BB|2a1c|{n}|2026-11-22T10:{n:02d}:00|{n:016x}" for n in range(25)]
    for record in guesses:
        assert store.add(keyed_reading(record)) is not None
    held = {r[0] for r in store.db.execute("SELECT digest FROM record_digests")}
    assert len(held) == 25
    assert not held & {hashlib.sha256(g.encode()).hexdigest() for g in guesses}
    assert store.add(keyed_reading(guesses[3])) is None  # the device re-sends: recognised
    other_key = ReadingStore(tmp_path / "other.sqlite", digest_key=b"x" * 32)
    other_key.add(keyed_reading(guesses[3]))
    theirs = other_key.db.execute("SELECT digest FROM record_digests").fetchone()[0]
    assert theirs not in held


def test_record_digests_are_forgotten_when_no_device_can_send_the_record_again(
    tmp_path: Path,
) -> None:
    from datetime import UTC, datetime, timedelta

    store = ReadingStore(tmp_path / "hub.sqlite", record_memory_days=30)
    now = datetime.now(UTC)
    recent = (now - timedelta(days=1)).isoformat(timespec="milliseconds")
    older = (now - timedelta(days=20)).isoformat(timespec="milliseconds")
    assert store.add(keyed_reading("recent", recent)) is not None
    assert store.add(keyed_reading("older", older)) is not None
    assert store.forget_old_records(now) == 0
    assert store.forget_old_records(now + timedelta(days=15)) == 1  # "older" is past 30 days
    count = store.db.execute("SELECT count(*) FROM record_digests").fetchone()[0]
    assert count == 1
    assert store.add(keyed_reading("recent", recent)) is None  # still recognised


def test_a_record_whose_device_clock_says_it_is_old_is_still_stored(tmp_path: Path) -> None:
    """A cuff whose clock went back to January after a battery change: its new reading is
    stored (the review of issue 11 found it dropped), and recognised if it comes again."""
    store = ReadingStore(tmp_path / "hub.sqlite", record_memory_days=30)
    old_clock = keyed_reading(
        "cuff|2a35|7|2026-01-01T08:00:00|ab",
        received_at="2026-12-02T08:00:00.000+00:00",
        measured_at="2026-01-01T07:00:00+00:00",
    )
    assert store.add(old_clock) is not None
    assert store.add(old_clock) is None


def test_unkeyed_digests_of_an_older_hub_are_still_recognised_then_expire(
    tmp_path: Path,
) -> None:
    import hashlib

    path = tmp_path / "hub.sqlite"
    store = ReadingStore(path)
    store.db.execute("DELETE FROM record_digests")
    store.db.execute(
        "INSERT INTO record_digests (digest, expires_at, keyed) VALUES (?, ?, 0)",
        [hashlib.sha256(b"legacy").hexdigest(), "2027-03-01T00:00:00+00:00"],
    )
    assert store.add(keyed_reading("legacy")) is None
    assert store.add(keyed_reading("new")) is not None
