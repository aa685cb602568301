"""Directed scenarios from the outside review of issue 11: each one broke delivery before it was
fixed (a reading blocked for ever, stored twice, or a hub wedged), on the same real parts as the
model-based test (tests/test_delivery_model.py), step by step."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from hub.core.reading import NewReading
from hub.wire.envelope import open_ack
from tests.conftest import centre_sql
from tests.test_delivery_model import (
    CENTRE_SIGNING,
    EPOCH,
    HUB_ID,
    TOPIC,
    DeliveryProtocol,
    new_reading,
)


@pytest.fixture
def m() -> Iterator[DeliveryProtocol]:
    machine = DeliveryProtocol()
    yield machine
    machine.teardown()  # heals the network and checks that everything arrived exactly once


def send(m: DeliveryProtocol, size: int = 50) -> bytes:
    before = len(m.to_centre)
    m.hub_sends_a_batch(size)
    assert len(m.to_centre) == before + 1, "the hub had nothing to send"
    return m.to_centre.pop()


def deliver(m: DeliveryProtocol, envelope: bytes) -> bytes:
    reply = m.centre.handle(TOPIC, envelope)
    assert reply is not None, m.centre.store.rejections()[-1:]
    return reply.payload


def acknowledge(m: DeliveryProtocol, payload: bytes) -> None:
    ack = open_ack(payload, CENTRE_SIGNING.public_key(), HUB_ID)
    m.delivery.acknowledged(ack, datetime.now(UTC).isoformat(timespec="milliseconds"))


def add(m: DeliveryProtocol, count: int, urgent: bool = False) -> None:
    for _ in range(count):
        m.readings_arrive(urgent, 1)


def test_a_deep_questionnaire_answer_is_delivered(m: DeliveryProtocol) -> None:
    """The local socket takes requests 64 deep; the centre read items only 32 deep, refused the
    batch, and the hub sent the same batch first for ever."""
    nested: object = "ja"
    for _ in range(60):
        nested = [nested]
    m.taken += 1
    m.store.add(NewReading(**{**new_reading(m.taken, False).__dict__, "values": {"item": nested}}))
    add(m, 2, urgent=True)
    acknowledge(m, deliver(m, send(m)))
    assert m.store.pending_count() == 0


def test_an_item_the_centre_cannot_store_is_set_aside_and_never_blocks_the_rest(
    m: DeliveryProtocol,
) -> None:
    m.taken += 1
    bad = m.taken  # a device address longer than the protocol allows: the centre refuses it
    m.store.add(NewReading(**{**new_reading(bad, False).__dict__, "device_address": "x" * 100}))
    add(m, 3)
    add(m, 1, urgent=True)
    acknowledge(m, deliver(m, send(m)))
    at_centre = {raw for _, raw in m._centre_rows()}
    assert at_centre == {f"{n:08x}" for n in range(2, 6)}
    assert m.store.pending_count() == 1  # kept on the hub, counted, not lost
    assert m.store.outbox(10, 1 << 20)[0] == []  # and not sent again
    (rejection,) = [r for r in m.centre.store.rejections() if "sets it aside" in r["reason"]]
    assert "device_address" in rejection["reason"]
    m.lost_by_fault.add(bad)  # for the final check: it is set aside, not delivered


def test_a_device_clock_centuries_off_does_not_block_delivery(m: DeliveryProtocol) -> None:
    m.taken += 1
    m.store.add(
        NewReading(
            **{
                **new_reading(m.taken, False).__dict__,
                "time_source": "device_corrected",
                "clock_correction_s": 13_472_246_459.0,
            }
        )
    )
    add(m, 1, urgent=True)
    acknowledge(m, deliver(m, send(m)))
    assert m.store.pending_count() == 0


def test_a_reading_renumbered_twice_across_two_lost_writes_is_held_once(
    m: DeliveryProtocol,
) -> None:
    add(m, 3)
    m.hub_copy_taken()  # what the first lost write will bring back
    add(m, 2)
    acknowledge(m, deliver(m, send(m, 5)))  # the centre holds 1..5
    m.hub_loses_its_latest_writes()  # back to 3
    add(m, 1)  # reading 6 takes seq 4, which the centre holds with reading 4
    m.hub_copy_taken()
    acknowledge(m, deliver(m, send(m, 4)))  # conflict: reading 6 renumbered to 6
    delayed = send(m, 5)  # reading 6 under seq 6, held up by the broker
    m.hub_loses_its_latest_writes()  # the renumbering is lost: reading 6 at seq 4 again
    add(m, 2)
    early = deliver(m, send(m, 5))
    deliver(m, delayed)  # reading 6 stored under 6 (its ack is for a run that is gone)
    acknowledge(m, early)
    acknowledge(m, deliver(m, send(m, 5)))
    raws = [raw for _, raw in m._centre_rows()]
    assert len(raws) == len(set(raws)), "a reading held twice under two numbers"


def test_a_forged_highest_number_does_not_wedge_the_hub(m: DeliveryProtocol) -> None:
    """A holder of the hub's key stores a reading at 2**53 - 1; every ack then says so. The hub
    does not believe it (it would have jumped past the largest number the protocol allows)."""
    forged = json.loads(json.dumps(m.centre.store.highest_held(HUB_ID)))
    assert forged == 0
    centre_sql(
        m.centre.store,
        "INSERT INTO readings (hub_id, seq, kind, characteristic, device_address, received_at,"
        " raw_hex, values_json, measured_at, time_source, hub_clock_synced, outcome,"
        " problems_json, batch_id, stored_at, content_digest) VALUES (%s, %s, 'x', 'x', 'x', %s,"
        " 'ff', '{}', %s, 'hub_received', 0, 'ok', '[]', 'forged', %s, 'forged')",
        [HUB_ID, 2**53 - 1, EPOCH.isoformat(), EPOCH.isoformat(), EPOCH.isoformat()],
    )
    add(m, 2)
    acknowledge(m, deliver(m, send(m)))
    add(m, 1, urgent=True)
    assert m.store.db.execute("SELECT last FROM hub_sequence").fetchone()[0] == 3
    acknowledge(m, deliver(m, send(m)))
    assert m.store.pending_count() == 0
    centre_sql(m.centre.store, "DELETE FROM readings WHERE batch_id = 'forged'")
