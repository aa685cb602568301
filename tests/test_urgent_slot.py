"""An urgent reading goes out at once even when routine batches fill the window and await their
acks: the window's last slot is kept for urgent items (hub/sync/delivery.py). Real broker, real
centre (stopped with SIGSTOP so that it takes batches and acknowledges none), real cuff."""

from __future__ import annotations

import asyncio
import os
import queue
import signal
from datetime import UTC, datetime
from pathlib import Path

import paho.mqtt.client as mqtt

from hub.core.outbox import OutboxItem
from hub.core.reading import ROUTINE, URGENT
from hub.devices.blood_pressure import build_blood_pressure_measurement
from hub.store import ReadingStore
from hub.sync.delivery import Delivery
from hub.wire.envelope import BatchHeader, read_header
from testbed.home import SimulatedHome
from testbed.outage import fill_outbox
from testbed.peripherals.cuff import EmulatedCuff
from tests.conftest import eventually, pair
from tests.test_care_plan import PLAN, send_care_plan
from tests.test_faults import assert_exactly_once, drained

WAIT_S = 60.0  # a bound on each wait for a batch, not a timing under test


def watch_batches(home: SimulatedHome) -> tuple[mqtt.Client, queue.Queue[BatchHeader]]:
    """Every batch any hub publishes, seen by a second subscriber with the centre's identity
    (the broker hands it a copy; it acknowledges nothing)."""
    headers: queue.Queue[BatchHeader] = queue.Queue()
    subscribed: queue.Queue[bool] = queue.Queue()
    client = home.mqtt_client(home.centre.ingest_name, client_id="observer", centre_side=True)
    client.on_message = lambda _c, _u, msg: headers.put(read_header(bytes(msg.payload))[0])
    client.on_subscribe = lambda *_: subscribed.put(True)
    client.loop_start()
    client.subscribe("dho/v1/hub/+/batch", qos=1)
    subscribed.get(timeout=WAIT_S)
    return client, headers


async def next_batch(headers: queue.Queue[BatchHeader]) -> BatchHeader:
    return await asyncio.to_thread(headers.get, timeout=WAIT_S)


async def test_an_urgent_reading_takes_the_kept_slot_while_routine_batches_await_acks(
    home: SimulatedHome, short_tmp: Path
) -> None:
    # Two slots, one of them kept for urgent items; batches of 5; no ack times out meanwhile.
    home.configure_hub(
        sync={"window": 2, "batch_max": 5, "batch_max_age_s": 0.0, "ack_timeout_s": 3600.0}
    )
    backlog = 20
    fill_outbox(home.hub_config, backlog)
    centre = home.start_centre(taking_batches=True)
    send_care_plan(home, PLAN, short_tmp)  # retained at the broker: the hub takes it at start
    observer, headers = watch_batches(home)
    os.killpg(centre.pid, signal.SIGSTOP)  # the centre takes batches and acknowledges none
    cuff = EmulatedCuff()
    try:
        home.start_hub()
        first = await next_batch(headers)
        assert (first.seq_first, first.seq_last) == (1, 5), "the oldest routine readings"
        await eventually(
            lambda: home.hub_status()["care_plan_version"] == 1, what="the care plan at the hub"
        )
        await cuff.start()
        await pair(home, cuff)
        cuff.take_measurement(build_blood_pressure_measurement(178, 96, 123))  # above 160
        urgent = await next_batch(headers)
        # Not the next routine batch (6 to 10), which waits for the first one's ack: the urgent
        # reading alone, in the slot kept for it, while batch 1 to 5 is still unacknowledged.
        assert (urgent.seq_first, urgent.seq_last, urgent.count) == (backlog + 1, backlog + 1, 1)
        assert headers.empty(), "nothing else went out: the window is full"
    finally:
        os.killpg(centre.pid, signal.SIGCONT)
        observer.loop_stop()
        observer.disconnect()
        await cuff.stop()
    assert_exactly_once(await drained(home, backlog + 1), backlog + 1)


def item(seq: int, priority: int = ROUTINE) -> OutboxItem:
    return OutboxItem(seq, "segment", b"sealed", priority, "2026-11-22T08:00:00.000+00:00")


def test_routine_batches_leave_the_last_slot_free_and_a_window_of_one_keeps_none(
    tmp_path: Path,
) -> None:
    store = ReadingStore(tmp_path / "hub.sqlite")  # the window's bookkeeping reads no store
    at = datetime(2026, 11, 22, 8, 0, tzinfo=UTC)
    delivery = Delivery(store, window=3, ack_timeout_s=10.0)
    assert not delivery.urgent_only()
    delivery.sent("a", [item(1)], at, 0.0)
    delivery.sent("b", [item(2)], at, 0.0)
    assert delivery.urgent_only() and not delivery.full()
    delivery.sent("c", [item(3, URGENT)], at, 0.0)
    assert delivery.full()
    delivery.expire(10.0)  # every ack overdue: every slot free again
    assert not delivery.urgent_only()
    alone = Delivery(store, window=1, ack_timeout_s=10.0)
    alone.sent("a", [item(1)], at, 0.0)
    assert alone.urgent_only() and alone.full()
    store.close()
