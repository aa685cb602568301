"""The store's answers to the screen's every-second `status` (latest of each kind, pending
count, trends) are the ones the plain queries they replace give, whatever happened to the
readings, and are never stale after a write (issue 12: those queries read every reading kept)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from hub.core.answers import to_receipt_reading
from hub.core.reading import URGENT, NewReading
from hub.store import MIGRATIONS, ReadingStore, _v9
from hub.wire.sealing import ItemSealer
from hub.wire.suites import x25519_pair

CENTRE = x25519_pair(X25519PrivateKey.generate())
START = datetime(2026, 11, 1, 0, 0, tzinfo=UTC)

# The queries of schema v8, each a scan of every reading kept: the reference.
OLD_LATEST = "WHERE seq IN (SELECT max(seq) FROM readings GROUP BY kind) ORDER BY seq DESC"
OLD_HISTORY = (
    "WHERE seq IN (SELECT max(seq) FROM readings"
    " WHERE measured_at >= ? AND outcome != 'failed'"
    " GROUP BY kind, substr(measured_at, 1, 13)) ORDER BY measured_at, seq"
)
OLD_PENDING = (
    "SELECT (SELECT count(*) FROM outbox)"
    " + (SELECT count(*) FROM readings WHERE sealed = 0 AND synced_at IS NULL)"
)


def at(offset: timedelta) -> str:
    return (START + offset).isoformat(timespec="milliseconds")


def spot(kind: str, measured: timedelta, outcome: str = "ok") -> NewReading:
    return NewReading(
        kind=kind,
        characteristic="00002a35-0000-1000-8000-00805f9b34fb",
        device_address="00:BB:00:00:00:02",
        device_time=None,
        received_at=at(measured + timedelta(seconds=1)),
        raw_hex="00",
        values={"v": measured.total_seconds()},
        measured_at=at(measured),
        outcome=outcome,
        problems=("implausible",) if outcome == "flagged" else (),
    )


def fill(store: ReadingStore) -> None:
    """Twenty days of spot readings of four kinds (some failed or flagged, some out of order,
    some in the same second), forty minutes of a 1 Hz oximeter across an hour's turn, and
    receipts of messages read."""
    kinds = ("blood_pressure", "weight", "temperature", "glucose")
    for day in range(20):
        for i in range(10):
            outcome = ("ok", "ok", "ok", "failed", "flagged")[(day + i) % 5]
            store.add(spot(kinds[i % 4], timedelta(days=day, hours=7 + i, minutes=i), outcome))
        # a device's stored record, measured before the ones already stored
        store.add(spot("blood_pressure", timedelta(days=day, hours=6, minutes=59)))
        store.add(spot("weight", timedelta(days=day, hours=12)))  # the same second as another
    for s in range(40 * 60):
        store.add(spot("spo2", timedelta(days=19, hours=13, minutes=40, seconds=s)))
    for version in range(1, 4):
        store.add(to_receipt_reading(version, at(timedelta(days=19, hours=20 + version))))
    store.add(spot("blood_pressure", timedelta(days=19, hours=21, minutes=30), "failed"))


def untouched(store: ReadingStore) -> None:
    pass


def renumbered(store: ReadingStore) -> None:
    """The centre holds other readings under some numbers: they move to new, higher ones."""
    moved = store.settle([], [5, 17, 300, 2000], 0, at(timedelta(days=30))).renumbered
    assert len(moved) == 4


def delivered_and_pruned(store: ReadingStore) -> None:
    """Some readings delivered, set aside or stranded; the plaintext of every sealed one
    stored before the latest minute deleted; then some more readings."""
    store.settle(range(1, 150), [], 0, at(timedelta(days=30)), refused=[160, 161])
    rows = store.db.execute("SELECT seq FROM readings WHERE seq % 3 = 0").fetchall()
    store.db.execute(
        "UPDATE readings SET stored_at = '2000-01-01T00:00:00+00:00'"
        f" WHERE seq IN ({','.join(str(r[0]) for r in rows)})"
    )
    assert store.prune_plaintext("2001-01-01T00:00:00+00:00") > 0
    store.add(spot("temperature", timedelta(days=19, hours=23)))


def urgent_and_unsealed(store: ReadingStore) -> None:
    """Readings stored without a sealer (an older hub) wait unsealed; one urgent reading."""
    plain = ReadingStore(store.path)
    plain.add(spot("glucose", timedelta(days=19, hours=22)))
    plain.add(spot("weight", timedelta(days=2)))  # measured long ago, stored last
    plain.close()
    store.add(
        replace(spot("blood_pressure", timedelta(days=19, hours=22, minutes=5)), priority=URGENT)
    )


CASES: dict[str, Callable[[ReadingStore], None]] = {
    "untouched": untouched,
    "renumbered": renumbered,
    "delivered_and_pruned": delivered_and_pruned,
    "urgent_and_unsealed": urgent_and_unsealed,
}

SINCE = [
    timedelta(0),  # before everything
    timedelta(days=5, hours=9),  # on an hour's turn
    timedelta(days=5, hours=9, minutes=30),  # inside an hour: its earlier readings fall out
    timedelta(days=19, hours=13, minutes=40, seconds=1),  # inside the oximeter's first hour
    timedelta(days=19, hours=14, minutes=19, seconds=59),  # inside its last hour
    timedelta(days=19, hours=21, minutes=30),  # only a failed reading is later
    timedelta(days=40),  # after everything
]


def old_answers(store: ReadingStore) -> dict[str, object]:
    return {
        "latest": store._select(OLD_LATEST, []),
        "pending": store.db.execute(OLD_PENDING).fetchone()[0],
        **{f"history {s}": store._select(OLD_HISTORY, [at(s)]) for s in SINCE},
    }


def new_answers(store: ReadingStore) -> dict[str, object]:
    return {
        "latest": store.latest_per_kind(),
        "pending": store.pending_count(),
        **{f"history {s}": store.history(at(s)) for s in SINCE},
    }


@pytest.fixture(scope="module")
def filled(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("filled") / "hub.sqlite"
    store = ReadingStore(path, sealer=ItemSealer("hub-0001", CENTRE.public))
    fill(store)
    store.close()
    return path


@pytest.mark.parametrize("case", CASES)
def test_the_answers_are_the_plain_queries_answers(filled: Path, tmp_path: Path, case: str) -> None:
    path = tmp_path / "hub.sqlite"
    path.write_bytes(filled.read_bytes())
    store = ReadingStore(path, sealer=ItemSealer("hub-0001", CENTRE.public))
    assert new_answers(store) == old_answers(store)  # asked once: kept
    CASES[case](store)
    old = old_answers(store)
    assert len(old["latest"]) >= 5  # type: ignore[arg-type]
    assert new_answers(store) == old
    assert new_answers(store) == old  # asked again, nothing changed


def test_an_answer_kept_is_never_stale(filled: Path, tmp_path: Path) -> None:
    path = tmp_path / "hub.sqlite"
    path.write_bytes(filled.read_bytes())
    store = ReadingStore(path, sealer=ItemSealer("hub-0001", CENTRE.public))
    since = at(timedelta(days=19, hours=23, minutes=30))
    assert store.history(since) == []
    before = store.pending_count()
    # written through the same store
    seq = store.add(spot("weight", timedelta(days=19, hours=23, minutes=31)))
    assert [r.seq for r in store.history(since)] == [seq]
    assert store.latest_per_kind()[0].seq == seq
    assert store.pending_count() == before + 1
    # written by another connection (a technician's tool): seen too
    other = ReadingStore(path, sealer=ItemSealer("hub-0001", CENTRE.public))
    later = other.add(spot("pulse", timedelta(days=19, hours=23, minutes=45)))
    other.save_document("message", 7, at(timedelta(days=19)), {"text": "hei"})
    other.close()
    assert [r.seq for r in store.history(since)] == [seq, later]
    assert [r.kind for r in store.latest_per_kind()][:2] == ["pulse", "weight"]
    assert store.pending_count() == before + 2
    assert store.held_version("message") == 7
    assert [m["version"] for m in store.patient_messages()] == [7]
    # a caller changing what it was given changes nothing kept
    store.latest_per_kind().clear()
    store.patient_messages()[0]["text"] = "changed"
    assert len(store.latest_per_kind()) == len(store._select(OLD_LATEST, []))
    assert store.patient_messages()[0]["text"] == "hei"


def test_the_indexes_come_with_the_upgrade(filled: Path, tmp_path: Path) -> None:
    """A store of schema v8 gains the indexes; the answers are the same after it."""
    path = tmp_path / "hub.sqlite"
    path.write_bytes(filled.read_bytes())
    store = ReadingStore(path)
    store.db.execute("DROP INDEX readings_kind_seq")
    store.db.execute("DROP INDEX readings_trend")
    store.db.execute("DROP TABLE call_requests")  # the step after the indexes (v10)
    store.db.execute(f"PRAGMA user_version = {MIGRATIONS.index(_v9)}")
    store.close()
    store = ReadingStore(path)
    indexes = {r[0] for r in store.db.execute("SELECT name FROM sqlite_master WHERE type='index'")}
    assert {"readings_kind_seq", "readings_trend"} <= indexes
    assert new_answers(store) == old_answers(store)


def test_the_screen_s_questions_seek_instead_of_scanning(filled: Path) -> None:
    """The plans use the indexes: no SCAN of readings in any of them."""
    store = ReadingStore(filled, readonly=True)
    from hub import store as module

    for sql in (
        f"WITH RECURSIVE {module._KINDS} SELECT (SELECT max(seq) FROM readings"
        " WHERE kind = k.kind) FROM k",
        f"WITH RECURSIVE {module._BUCKETS} SELECT (SELECT max(seq) FROM readings"
        f" WHERE outcome != 'failed' AND kind = b.kind AND {module._HOUR} = b.hour) FROM b",
    ):
        plan = [r[3] for r in store.db.execute(f"EXPLAIN QUERY PLAN {sql}", {"hour": "2026"})]
        assert not [step for step in plan if step.startswith("SCAN readings")], plan
        assert any("readings_" in step for step in plan), plan
