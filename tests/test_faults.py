"""Faults with real processes and the real broker (TLS, ACLs): the centre ends with every
reading exactly once after kill -9 of the hub, a broker restart mid-drain, a network cut or
stall, and a centre that was down while 100 000 readings piled up."""

from __future__ import annotations

import asyncio
import random
import sqlite3
from datetime import datetime, timedelta

import pytest

from hub.config import load_config
from hub.devices.blood_pressure import build_blood_pressure_measurement
from testbed.home import SimulatedHome
from testbed.outage import fill_outbox
from testbed.peripherals.cuff import EmulatedCuff
from testbed.peripherals.device import Behaviour
from testbed.proxy import FlakyLink
from tests.conftest import eventually, pair

FIRST = datetime(2026, 11, 22, 8, 0, 0)
KILLS = 50


def centre_rows(home: SimulatedHome) -> list[tuple[int, str]]:
    """(seq, raw_hex) of every reading the centre holds, read from its database directly."""
    path = home.centre_state / "centre.sqlite"
    if not path.exists():
        return []
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        return db.execute("SELECT seq, raw_hex FROM readings ORDER BY seq").fetchall()
    except sqlite3.OperationalError:
        return []  # the centre has not created its tables yet
    finally:
        db.close()


def assert_exactly_once(rows: list[tuple[int, str]], n: int) -> None:
    seqs = [seq for seq, _ in rows]
    assert seqs == list(range(1, n + 1)), "every sequence number once, none missing"
    assert len({raw for _, raw in rows}) == n, "no reading stored twice under two numbers"


async def drained(home: SimulatedHome, n: int, within: float = 180) -> list[tuple[int, str]]:
    rows: list[tuple[int, str]] = await eventually(
        lambda: len(r := centre_rows(home)) >= n and home.hub_status()["pending"] == 0 and r,
        within=within,
        what=f"{n} readings at the centre and an empty outbox",
    )
    return rows


async def test_kill_9_of_the_hub_fifty_times_while_readings_arrive_and_sync_runs(
    home: SimulatedHome,
) -> None:
    rng = random.Random(4)
    home.configure_hub(sync={"batch_max": 3, "batch_max_age_s": 0.0})
    home.start_centre()
    hub = home.start_hub()
    # The cuff keeps its records and sends them all on every connection (as Omron cuffs do):
    # a reading lost in a crash before it was stored comes again; the hub stores each once.
    cuff = EmulatedCuff(behaviour=Behaviour(keeps_records=True))
    await cuff.start()
    taken = 0

    def measure() -> None:
        nonlocal taken
        taken += 1
        stamp = FIRST + timedelta(minutes=taken)
        cuff.take_measurement(build_blood_pressure_measurement(90 + taken, 60, 70, timestamp=stamp))

    try:
        await pair(home, cuff)
        for _ in range(KILLS):
            for _ in range(rng.randint(1, 3)):
                measure()
            await asyncio.sleep(rng.uniform(0.0, 1.5))
            hub.kill()  # SIGKILL: no clean-up of any kind
            hub = await asyncio.to_thread(home.start_hub)
        # What the cuff sent just before the last kill may never have been stored, and the
        # cuff no longer advertises it (the hub's stack acknowledged it). As after every
        # earlier kill, the patient's next measurement brings it back with the rest.
        measure()
        rows = await drained(home, taken, within=240)
    finally:
        await cuff.stop()
    assert_exactly_once(rows, taken)
    systolics = sorted(r["values"]["systolic"] for r in home.centre_readings())
    assert systolics == [90.0 + i for i in range(1, taken + 1)]
    with sqlite3.connect(load_config(home.hub_config).db_path) as db:
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"


async def test_broker_restarted_during_a_drain(home: SimulatedHome) -> None:
    n = 20_000
    fill_outbox(home.hub_config, n)
    home.start_centre()
    home.start_hub()
    await eventually(
        lambda: len(centre_rows(home)) >= 2_000, within=120, what="the drain to be under way"
    )
    home.broker.stop()
    await asyncio.sleep(2)
    assert home.hub_status()["pending"] > 0
    home.broker.start()  # same ports: hub and centre reconnect on their own
    assert_exactly_once(await drained(home, n), n)


@pytest.mark.parametrize("fault", ["cut", "stall"])
async def test_network_cut_or_stalled_mid_drain(home: SimulatedHome, fault: str) -> None:
    n = 5_000
    link = FlakyLink(home.broker.port)
    try:
        # The hub reaches the broker through the home's (flaky) network; keep-alive short so
        # that a stall is noticed within seconds.
        home.configure_hub(
            mqtt={"port": link.port, "keepalive_s": 5},
            sync={"batch_max": 100, "ack_timeout_s": 3.0},
        )
        fill_outbox(home.hub_config, n)
        home.start_centre()
        home.start_hub()
        await eventually(
            lambda: len(centre_rows(home)) >= 500, within=120, what="the drain to be under way"
        )
        getattr(link, fault)()
        await asyncio.sleep(8)
        held = len(centre_rows(home))
        assert held < n, "the fault came too late to test anything"
        link.restore()
        assert_exactly_once(await drained(home, n), n)
    finally:
        link.close()


async def test_centre_down_while_100000_readings_pile_up_then_a_full_drain(
    home: SimulatedHome,
) -> None:
    n = 100_000
    fill_outbox(home.hub_config, n)
    home.start_hub()
    # The hub sends into the void (no centre subscribed) and waits for acks that never come.
    await asyncio.sleep(5)
    status = home.hub_status()
    assert status["pending"] == n and status["broker_connected"]
    home.start_centre()
    assert_exactly_once(await drained(home, n, within=300), n)


async def test_two_centre_workers_share_a_drain_through_the_shared_subscription(
    home: SimulatedHome,
) -> None:
    n = 5_000
    fill_outbox(home.hub_config, n)
    workers = [home.start_centre(1), home.start_centre(2)]
    await eventually(
        lambda: all("subscribing" in w.tail() for w in workers), what="both workers to subscribe"
    )
    home.start_hub()
    assert_exactly_once(await drained(home, n), n)
    for worker in workers:
        assert worker.tail(400).count("stored batch") > 0, f"{worker.name} got no batch"


async def test_kill_9_of_the_hub_fifty_times_with_urgent_readings_mixed_into_a_backlog(
    home: SimulatedHome,
) -> None:
    """Issue 11's fault campaign: every batch with an urgent reading jumps a backlog, so its
    numbers have gaps, while the hub dies mid-batch again and again."""
    from hub.core.reading import URGENT, NewReading
    from hub.store import ReadingStore
    from hub.wire.sealing import ItemSealer

    rng = random.Random(11)
    backlog = 3_000
    fill_outbox(home.hub_config, backlog)
    config = load_config(home.hub_config)
    home.configure_hub(sync={"batch_max": 50})
    home.start_centre()
    hub = home.start_hub()
    urgent = 0
    for _ in range(KILLS):
        await asyncio.sleep(rng.uniform(0.0, 1.0))
        hub.kill()
        # Between the kill and the restart nobody else writes: the store is ours for a moment.
        store = ReadingStore(
            config.db_path, sealer=ItemSealer(config.hub_id, config.centre.encryption)
        )
        for _ in range(rng.randint(0, 2)):
            urgent += 1
            store.add(
                NewReading(
                    kind="blood_pressure",
                    characteristic="00002a35-0000-1000-8000-00805f9b34fb",
                    device_address="00:BB:00:00:00:02",
                    device_time=None,
                    received_at=f"2026-11-23T10:00:{urgent % 60:02d}.{urgent:03d}+00:00",
                    raw_hex=f"1e{urgent:06x}",
                    values={"systolic": 200.0},
                    outcome="flagged",
                    problems=("systolic_above_care_plan",),
                    priority=URGENT,
                )
            )
        store.close()
        hub = await asyncio.to_thread(home.start_hub)
    assert urgent > 10, "the campaign mixed in too few urgent readings to test anything"
    assert_exactly_once(await drained(home, backlog + urgent, within=300), backlog + urgent)
