"""Storing a batch at the centre (centre/store.py store_batch) on SQLite and PostgreSQL alike:
every reading once by (hub, seq) and by content, replays refused, what is stored is what came,
time stamps as the moments they name."""

from __future__ import annotations

import random
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from centre.store import (
    CentreStore,
    ReplayedBatch,
    RevokedHub,
    UnknownHub,
    _sqlite_utc_text,
    _stamp,
)
from tests.test_envelope import item

HUB = "hub-0001"
B = [f"00000000-0000-4000-8000-{n:012d}" for n in range(10)]


def reading(seq: int, **changes: Any) -> dict[str, Any]:
    return {**item(seq, 120.0 + seq), **changes}


@pytest.fixture
def store(centre_db: str) -> CentreStore:
    centre = CentreStore(centre_db)
    centre.enrol(HUB, "key-text")
    return centre


# (stamp on the wire, the moment the centre gives it back: UTC, milliseconds)
STAMPS = [
    ("2026-11-22T10:00:00+00:00", "2026-11-22T10:00:00.000+00:00"),
    ("2026-11-22T10:00:00.123456+01:00", "2026-11-22T09:00:00.123+00:00"),
    ("2026-11-22T00:30:00.5-05:30", "2026-11-22T06:00:00.500+00:00"),
    ("2026-01-01T00:30:00+02:00", "2025-12-31T22:30:00.000+00:00"),  # across a year
    ("1900-01-01T12:00:00+00:00", "1900-01-01T12:00:00.000+00:00"),
    ("2200-12-31T11:00:00Z", "2200-12-31T11:00:00.000+00:00"),
]


def test_what_is_stored_is_what_came(store: CentreStore) -> None:
    items = [
        reading(
            n + 1,
            measured_at=wire,
            received_at=wire,
            hub_clock_synced=n % 2 == 0,
            clock_correction_s=None if n % 2 else 1.5,
            device_time=None if n % 2 else "2026-11-22T10:00",
            problems=[] if n % 2 else ["clock reset", "<script>alert(1)</script>"],
            values={"text": "æøå \u2028 \U0001f600", "n": [1, 2.5, None, True]},
        )
        for n, (wire, _) in enumerate(STAMPS)
    ]
    stored = store.store_batch(HUB, B[0], items)
    assert (stored.new, stored.held, stored.conflicts) == (len(items), (1, 2, 3, 4, 5, 6), ())
    rows = store.readings()
    for row, sent, (_, moment) in zip(rows, items, STAMPS, strict=True):
        assert row["measured_at"] == row["received_at"] == moment
        for name in ("seq", "kind", "device_address", "device_time", "time_source", "outcome"):
            assert row[name] == sent[name]
        assert row["clock_correction_s"] == sent["clock_correction_s"]
        assert row["hub_clock_synced"] is sent["hub_clock_synced"]
        assert row["hub_clock_offset_s"] == sent["hub_clock_offset_s"]
        assert (row["problems"], row["values"]) == (sent["problems"], sent["values"])
        assert (row["hub_id"], row["batch_id"]) == (HUB, B[0])


def test_each_reading_is_stored_once_by_number_and_content(store: CentreStore) -> None:
    assert store.store_batch(HUB, B[0], [reading(1), reading(2)]).new == 2
    again = store.store_batch(HUB, B[1], [reading(1), reading(2), reading(3)])
    assert (again.new, again.held, again.conflicts) == (1, (1, 2, 3), ())
    # Under a number that holds another reading: a conflict. The same reading renumbered
    # (the hub's counter went back): held, not stored twice.
    other = store.store_batch(
        HUB, B[2], [reading(2, raw_hex="ff"), {**reading(3), "seq": 9}, reading(4)]
    )
    assert (other.new, other.held, other.conflicts) == (1, (9, 4), (2,))
    assert [(r["seq"], r["batch_id"]) for r in store.readings()] == [
        (1, B[0]),
        (2, B[0]),
        (3, B[1]),
        (4, B[2]),
    ]


def test_a_batch_holding_one_reading_twice_stores_it_once(store: CentreStore) -> None:
    stored = store.store_batch(HUB, B[0], [reading(1), {**reading(1), "seq": 2}, reading(3)])
    assert (stored.new, stored.held, stored.conflicts) == (2, (1, 2, 3), ())


def test_a_large_batch_is_checked_against_what_is_held_in_every_part(store: CentreStore) -> None:
    held = [reading(n) for n in range(1, 1201, 7)]  # spread over every chunk of the query
    store.store_batch(HUB, B[0], held)
    renumbered = {**reading(8), "seq": 1300}  # the content of 8, held, under a new number
    stored = store.store_batch(
        HUB, B[1], [reading(n) for n in range(1, 1201)] + [reading(1, raw_hex="00ff")]
    )
    assert stored.new == 1200 - len(held)
    assert stored.conflicts == (1,)  # the last item: another reading under 1, in the batch
    clash = store.store_batch(HUB, B[2], [reading(600, raw_hex="ab"), renumbered])
    assert (clash.new, clash.held, clash.conflicts) == (0, (1300,), (600,))
    assert [r["seq"] for r in store.readings()] == list(range(1, 1201))


def test_a_batch_accepted_before_is_refused_and_changes_nothing(store: CentreStore) -> None:
    store.store_batch(HUB, B[0], [reading(1)])
    with pytest.raises(ReplayedBatch, match=f"batch {B[0]} from {HUB} was accepted before"):
        store.store_batch(HUB, B[0], [reading(2)])
    assert [r["seq"] for r in store.readings()] == [1]
    assert store.store_batch(HUB, B[1], [reading(2)]).new == 1  # the store still works


def test_a_hub_never_enrolled_stores_nothing(store: CentreStore) -> None:
    with pytest.raises(UnknownHub):
        store.store_batch("hub-0404", B[0], [reading(1)])
    assert store.readings() == []


def test_a_hub_revoked_after_its_batch_was_opened_stores_nothing(store: CentreStore) -> None:
    # A group's batches are opened first, then stored: `centre revoke` may come in between.
    store.revoke(HUB)
    with pytest.raises(RevokedHub):
        store.store_batch(HUB, B[0], [reading(1)])
    assert store.readings() == []
    presence = store.presence(HUB)
    assert presence is not None and presence["seen_at"] is None  # not heard from either


def test_the_batch_signing_key_says_enrolled_revoked_or_unknown(store: CentreStore) -> None:
    assert store.batch_signing_key(HUB) == ("key-text", False)
    store.revoke(HUB)
    assert store.batch_signing_key(HUB) == ("key-text", True)
    assert store.batch_signing_key("hub-0404") is None


@pytest.mark.parametrize("wire", [s for s, _ in STAMPS] + ["2026-06-30T23:59:59.999999+14:00"])
def test_a_stamp_goes_to_sqlite_as_django_writes_it(tmp_path: Path, wire: str) -> None:
    from django.db import connections

    store = CentreStore(tmp_path / "centre.sqlite", migrate=True)
    ops = connections[store.alias].ops
    assert _sqlite_utc_text(wire) == ops.adapt_datetimefield_value(_stamp(wire))
    assert datetime.fromisoformat(_sqlite_utc_text(wire)).replace(tzinfo=UTC) == _stamp(wire)


def test_the_highest_numbers_held_are_told_as_readings_come(store: CentreStore) -> None:
    assert (store.highest_held(HUB), store.highest_contiguous(HUB)) == (0, 0)
    store.store_batch(HUB, B[0], [reading(n) for n in (1, 2, 3, 5)])
    assert (store.highest_held(HUB), store.highest_contiguous(HUB)) == (5, 3)
    store.store_batch(HUB, B[1], [reading(n) for n in range(4, 2600) if n != 2500])
    assert (store.highest_held(HUB), store.highest_contiguous(HUB)) == (2599, 2499)
    assert store.highest_contiguous("hub-0404") == store.highest_held("hub-0404") == 0


def test_only_readings_stored_under_their_number_advance_the_contiguous_count(
    store: CentreStore,
) -> None:
    """The trap: a batch's `held` also names numbers whose reading the centre holds under
    another number (renumbered after a lost write); those are not stored, and must not make
    1..n look whole. `stored` names only what was stored."""
    store.store_batch(HUB, B[0], [reading(1), reading(2)])
    moved = store.store_batch(HUB, B[1], [reading(3, raw_hex=reading(1)["raw_hex"])])
    assert (moved.held, moved.stored) == ((3,), ())
    assert store.highest_contiguous(HUB, moved.stored) == 2
    clash = store.store_batch(HUB, B[2], [reading(4), reading(2, raw_hex="ffff"), reading(5)])
    assert (clash.held, clash.conflicts, clash.stored) == ((4, 5), (2,), (4, 5))
    assert store.highest_contiguous(HUB, clash.stored) == 2  # 3 is still missing
    filled = store.store_batch(HUB, B[3], [reading(3, raw_hex="0333"), reading(7)])
    assert filled.stored == (3, 7)
    assert store.highest_contiguous(HUB, filled.stored) == 5


@pytest.mark.parametrize("seed", range(3))
def test_the_contiguous_count_walked_from_what_was_stored_is_the_databases(
    centre_db: str, seed: int
) -> None:
    """Differential: after each random batch (gaps, repeats, readings renumbered, numbers
    clashing), the count walked from `stored` is the one a fresh store reads from the
    database alone."""
    rng = random.Random(seed)
    store = CentreStore(centre_db)
    store.enrol(HUB, "key-text")
    for n in range(12):
        items: list[dict[str, Any]] = []
        for seq in rng.sample(range(1, 60), rng.randrange(1, 12)):
            kind = rng.random()
            if kind < 0.2:  # the reading of another number, renumbered
                items.append(reading(seq, raw_hex=reading(rng.randrange(1, 60))["raw_hex"]))
            elif kind < 0.3:  # another reading under this number
                items.append(reading(seq, raw_hex=f"{rng.randrange(256):02x}"))
            else:
                items.append(reading(seq))
        done = store.store_batch(HUB, f"00000000-0000-4000-8000-{seed:06d}{n:06d}", items)
        assert set(done.stored) <= set(done.held)
        assert store.highest_contiguous(HUB, done.stored) == CentreStore(
            centre_db
        ).highest_contiguous(HUB)


def _as_before(text: str) -> str:
    """The conversion _sqlite_utc_text replaced: parse, to UTC, make the text again."""
    return datetime.fromisoformat(text).astimezone(UTC).isoformat(" ")[:-6]


HUB_SHAPED = [
    f"{day}T{time}{fraction}+00:00"
    for day in ("2026-11-22", "2024-02-29", "1900-01-01", "2200-12-31")
    for time in ("00:00:00", "10:07:09", "23:59:59")
    for fraction in ("", ".000", ".001", ".010", ".100", ".999", ".500")
]


@pytest.mark.parametrize(
    "wire",
    [
        *HUB_SHAPED,
        "2026-11-22T10:00:00.000000+00:00",  # six digits: not cut from the text
        "2026-11-22T10:00:00.000001+00:00",
        "2026-11-22T10:00:00.12+00:00",
        "2026-11-22T10:00:00.000Z",
        "2026-11-22T10:00:00.000-00:00",
        "2026-11-22T10:00:00.000+00:01",
        "2026-11-22 10:00:00.000+00:00",
        "2026-11-22T10:00+00:00",
    ],
)
def test_a_stamp_cut_from_the_text_is_the_one_made_before(wire: str) -> None:
    assert _sqlite_utc_text(wire) == _as_before(wire)


@pytest.mark.parametrize(
    "wire",
    [
        "2026-02-30T10:00:00.000+00:00",  # the hub's shape, no such day
        "2026-11-22T24:00:00+00:00",
        "2026-11-22T10:00:60.000+00:00",
        "\u0662026-11-22T10:00:00.000+00:00",  # a digit that is not ASCII
        "2026-11-22T10:00:00.000+00:00 ",
    ],
)
def test_a_stamp_that_is_none_is_refused_as_before(wire: str) -> None:
    with pytest.raises(ValueError):
        _as_before(wire)
    with pytest.raises(ValueError):
        _sqlite_utc_text(wire)


def test_a_batch_notes_the_hub_heard_from_and_a_refused_one_notes_nothing(
    store: CentreStore,
) -> None:
    """The note and the batch's acceptance (one statement on PostgreSQL): a replay leaves the
    note as the batch it replays made it, and a hub never enrolled gets no row."""
    store.store_batch(HUB, B[0], [reading(1)])
    presence = store.presence(HUB)
    assert presence is not None and presence["seen_at"] is not None
    with pytest.raises(ReplayedBatch):
        store.store_batch(HUB, B[0], [reading(2)])
    assert store.presence(HUB) == presence
    with pytest.raises(UnknownHub):
        store.store_batch("hub-0404", B[1], [reading(1)])
    assert store.presence("hub-0404") is None and store.enrolled_hubs() == [HUB]
    assert store.store_batch(HUB, B[1], [reading(2)]).new == 1
    later = store.presence(HUB)
    assert later is not None and later["seen_at"] >= presence["seen_at"]
