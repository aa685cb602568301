"""The centre's ingest on a real SQLite file: replays refused, rejections bounded, enrolment
checked. (Through a real broker: tests/test_centre_rejects.py.)"""

from __future__ import annotations

import contextlib
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

import centre.store
from centre.ingest import GROUP_MESSAGES, Ingest, Message, Reply, group_size, readings_in
from centre.store import CentreStore, GroupNotStored
from hub.wire.envelope import Ack, open_ack
from hub.wire.public_keys import public_text
from tests.test_envelope import CENTRE, HUB_KEY, header, item, sealed

TOPIC = "dho/v1/hub/hub-0001/batch"
B1, B2 = "00000000-0000-4000-8000-000000000001", "00000000-0000-4000-8000-000000000002"


def envelope(batch_id: str) -> bytes:
    return sealed(
        header(batch_id=batch_id, seq_first=1, seq_last=2), [item(1, 128.0), item(2, 131.0)]
    )


@pytest.fixture
def ingest(tmp_path: Path) -> Ingest:
    store = CentreStore(tmp_path / "centre.sqlite", migrate=True)
    store.enrol("hub-0001", public_text(HUB_KEY.public_key()))
    return Ingest(store, {CENTRE.public.key_id: CENTRE}, Ed25519PrivateKey.generate())


def test_a_batch_arriving_again_is_refused_as_a_replay(ingest: Ingest) -> None:
    first = envelope(B1)
    assert ingest.handle(TOPIC, first) is not None
    assert ingest.handle(TOPIC, first) is None  # replayed byte for byte: no second ack
    (rejection,) = ingest.store.rejections()
    assert f"{B1} from hub-0001 was accepted before" in rejection["reason"]
    assert [r["seq"] for r in ingest.store.readings()] == [1, 2]
    # The hub's own re-send of the same readings comes under a new batch id, and is acked.
    assert ingest.handle(TOPIC, envelope(B2)) is not None
    assert [r["seq"] for r in ingest.store.readings()] == [1, 2]


def test_a_batch_sealed_to_a_key_the_centre_no_longer_has_is_refused_and_logged(
    ingest: Ingest,
    caplog: pytest.LogCaptureFixture,
) -> None:
    ingest.keyring = {}  # the key was deleted (or never was this centre's)
    assert ingest.handle(TOPIC, envelope(B1)) is None
    (rejection,) = ingest.store.rejections()
    assert f"sealed to unknown centre key id {CENTRE.public.key_id}" in rejection["reason"]
    assert "sealed to unknown centre key id" in caplog.text
    assert ingest.store.readings() == []


def test_rejections_keep_only_the_newest(ingest: Ingest, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(centre.store, "REJECTIONS_KEPT", 3)
    for n in range(6):
        ingest.handle(TOPIC, b"garbage %d" % n)
    kept = ingest.store.rejections()
    assert len(kept) == 3
    assert all(r["topic"] == TOPIC for r in kept)


def test_enrolling_an_invalid_hub_id_says_why(tmp_path: Path) -> None:
    from centre.admin import init_centre

    config = tmp_path / "centre.toml"
    init_centre(config, tmp_path / "state", "127.0.0.1", 8884, "127.0.0.1", 8883)
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "centre.cli",
            "--config",
            str(config),
            "enrol",
            "Hub 1",
            "--out",
            str(tmp_path / "bundle.json"),
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert "hub id 'Hub 1' is not valid" in result.stderr and "Traceback" not in result.stderr
    assert not (tmp_path / "bundle.json").exists()


def test_highest_contiguous_walks_past_a_filled_gap(tmp_path: Path) -> None:
    store = CentreStore(tmp_path / "centre.sqlite", migrate=True)
    store.enrol("hub-0001", public_text(HUB_KEY.public_key()))
    assert store.highest_contiguous("hub-0001") == 0
    store.store_batch("hub-0001", "b-1", [item(n, 120.0) for n in range(1, 1501) if n != 1201])
    assert store.highest_contiguous("hub-0001") == 1200
    store.store_batch("hub-0001", "b-2", [item(1201, 120.0)])
    assert store.highest_contiguous("hub-0001") == 1500
    # Another worker's store (its own memory of the watermark) agrees.
    assert CentreStore(tmp_path / "centre.sqlite").highest_contiguous("hub-0001") == 1500
    assert store.highest_contiguous("hub-0002") == 0


def test_the_centre_store_is_private_whatever_the_umask(tmp_path: Path) -> None:
    import os
    import stat

    old = os.umask(0o022)
    try:
        store = CentreStore(tmp_path / "centre.sqlite", migrate=True)
        store.enrol("hub-0001", public_text(HUB_KEY.public_key()))
    finally:
        os.umask(old)
    for name in ("centre.sqlite", "centre.sqlite-wal", "centre.sqlite-shm"):
        assert stat.S_IMODE((tmp_path / name).stat().st_mode) == 0o600, name


# -- a group of messages in one transaction (centre/serve.py hands over those waiting) --------

B3, B4 = "00000000-0000-4000-8000-000000000003", "00000000-0000-4000-8000-000000000004"


def batch_of(batch_id: str, first: int) -> bytes:
    """A batch of two readings, numbered from `first`."""
    items = [item(first, 120.0 + first), item(first + 1, 121.0 + first)]
    return sealed(header(batch_id=batch_id, seq_first=first, seq_last=first + 1), items)


def acked(ingest: Ingest, reply: Reply | None) -> Ack:
    assert reply is not None
    return open_ack(reply.payload, ingest.signing_key.public_key(), "hub-0001")


def test_a_group_stores_each_batch_once_and_refuses_each_bad_message_alone(
    ingest: Ingest, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert ingest.handle(TOPIC, batch_of(B1, 1)) is not None
    real = centre.store._insert_readings

    def failing(*args: Any) -> None:
        real(*args)  # written, then undone by the batch's savepoint
        if args[3] == B4:
            raise RuntimeError("disk on fire")

    monkeypatch.setattr(centre.store, "_insert_readings", failing)
    replies = ingest.handle_group(
        [
            Message(TOPIC, batch_of(B2, 3)),
            Message(TOPIC, batch_of(B1, 1)),  # a replay
            Message(TOPIC, b"garbage"),
            Message(TOPIC, batch_of(B4, 7)),  # fails in the store: its savepoint undoes it
            Message(TOPIC, batch_of(B3, 5)),
        ]
    )
    assert [r is not None for r in replies] == [True, False, False, False, True]
    assert [r["seq"] for r in ingest.store.readings()] == [1, 2, 3, 4, 5, 6]
    reasons = [r["reason"] for r in ingest.store.rejections()]
    assert len(reasons) == 3
    assert any(f"{B1} from hub-0001 was accepted before" in r for r in reasons)
    assert any("RuntimeError: disk on fire" in r for r in reasons)
    first, last = acked(ingest, replies[0]), acked(ingest, replies[4])
    assert (first.batch_id, first.held, last.batch_id, last.held) == (B2, ((3, 4),), B3, ((5, 6),))
    # Sent after the commit: what the centre then holds, the whole group's readings.
    assert first.highest_contiguous == last.highest_contiguous == 6
    assert first.highest_held == last.highest_held == 6
    # B4 was not accepted: the hub's re-send under that id is stored.
    monkeypatch.setattr(centre.store, "_insert_readings", real)
    assert acked(ingest, ingest.handle(TOPIC, batch_of(B4, 7))).held == ((7, 8),)


def test_an_ack_that_cannot_be_made_after_the_commit_costs_no_other_and_raises_nothing(
    ingest: Ingest, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    real, failures = ingest.store.highest_held, [OSError("the connection dropped")]

    def failing_once(hub_id: str) -> int:
        if failures:
            raise failures.pop()
        return real(hub_id)

    monkeypatch.setattr(ingest.store, "highest_held", failing_once)
    replies = ingest.handle_group(
        [Message(TOPIC, batch_of(B1, 1)), Message(TOPIC, batch_of(B2, 3))]
    )
    assert replies[0] is None, "stored, but no ack: the hub sends the readings again"
    assert acked(ingest, replies[1]).held == ((3, 4),)
    assert [r["seq"] for r in ingest.store.readings()] == [1, 2, 3, 4]
    assert "is stored but its ack could not be made" in caplog.text
    # The hub's re-send of the first batch's readings, under a new batch id, is acknowledged
    assert acked(ingest, ingest.handle(TOPIC, batch_of(B3, 1))).held == ((1, 2),)


@pytest.mark.parametrize(
    ("payload", "counts"),
    [
        (b"garbage", 1),
        (b"x" * (16 * 1024 * 1024), 16 * 1024),  # a header that cannot be read, 16 MiB
        (b"{}" + b" " * 300_000, 292),
    ],
)
def test_a_message_counts_in_a_group_for_its_size_whatever_its_header_claims(
    payload: bytes, counts: int
) -> None:
    assert readings_in(payload) == counts


def test_a_big_message_goes_alone_and_a_group_holds_a_bounded_number_of_bytes() -> None:
    assert readings_in(batch_of(B1, 1)) == 2
    assert group_size([16 * 1024, 2, 2]) == 1
    assert group_size([2, 16 * 1024, 2]) == 1
    assert group_size([2] * 20) == GROUP_MESSAGES


def test_a_group_whose_transaction_fails_is_stored_batch_by_batch(
    ingest: Ingest, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = ingest.store.group
    failures = [GroupNotStored("the commit failed")]

    @contextlib.contextmanager
    def group_failing_once() -> Iterator[None]:
        with real():
            yield
            if failures:
                raise failures.pop()

    monkeypatch.setattr(ingest.store, "group", group_failing_once)
    replies = ingest.handle_group(
        [Message(TOPIC, batch_of(B1, 1)), Message(TOPIC, batch_of(B2, 3))]
    )
    assert [acked(ingest, r).held for r in replies] == [((1, 2),), ((3, 4),)]
    assert [r["seq"] for r in ingest.store.readings()] == [1, 2, 3, 4]
    assert ingest.store.rejections() == []


def test_a_batch_that_fails_again_alone_is_refused_and_the_others_stored(
    ingest: Ingest, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken() -> Iterator[None]:
        raise GroupNotStored("the database is gone")
        yield  # a generator: a context manager

    real = centre.store._insert_readings

    def failing(*args: Any) -> None:
        if args[3] == B2:
            raise RuntimeError("the disk is full")
        real(*args)

    monkeypatch.setattr(ingest.store, "group", contextlib.contextmanager(broken))
    monkeypatch.setattr(centre.store, "_insert_readings", failing)
    replies = ingest.handle_group(
        [Message(TOPIC, batch_of(B1, 1)), Message(TOPIC, batch_of(B2, 3))]
    )
    assert acked(ingest, replies[0]).held == ((1, 2),) and replies[1] is None
    assert [r["seq"] for r in ingest.store.readings()] == [1, 2]
    (rejection,) = ingest.store.rejections()
    assert "RuntimeError: the disk is full" in rejection["reason"]
