"""The hub's health reports through the real things (issue 15): the hub daemon against BlueZoo,
Mosquitto with TLS and `centre serve` as processes, nothing mocked, reports every 2 s. Each
report reaches the centre exactly once, also when the centre took batches without acknowledging
them and the hub sent them again; while one waits no other is made; the centre holds the
newest, with the emulated cuff's battery; a restarted hub reports again; the patient's screen
is shown none of it. Pure and centre side: tests/test_hub_health.py,
tests/test_hub_health_centre.py."""

from __future__ import annotations

import asyncio
import os
import signal
from collections import Counter
from typing import Any

from centre.store import CentreStore
from hub.core.health import KIND
from testbed.home import SimulatedHome
from testbed.peripherals.cuff import EmulatedCuff
from testbed.peripherals.device import Behaviour
from tests.conftest import eventually, pair
from tests.test_end_to_end import cuff_value
from tests.test_urgent_slot import watch_batches

BATTERY = 42  # the emulated cuff's, read by the hub at each connection
WAIT_S = 120.0  # bounds on waits under a loaded machine, not timings under test


def health_at_hub(home: SimulatedHome) -> list[dict[str, Any]]:
    return [r for r in home.hub_readings() if r["kind"] == KIND]


def waiting(home: SimulatedHome) -> list[int]:
    return [r["seq"] for r in health_at_hub(home) if not r["synced"]]


async def test_health_reports_reach_the_centre_once_each_and_the_newest_is_held(
    home: SimulatedHome,
) -> None:
    home.health_every_s = 2.0
    home.configure_hub(sync={"ack_timeout_s": 2.0})  # a batch not acknowledged goes again soon
    centre = home.start_centre(taking_batches=True)
    home.start_hub()
    store = CentreStore(home.centre.database_url)
    cuff = EmulatedCuff(behaviour=Behaviour(battery_level=BATTERY))
    await cuff.start()
    observer, headers = watch_batches(home)
    try:
        await pair(home, cuff)
        cuff.take_measurement(cuff_value(128, 82, 70))

        def cuff_battery_held() -> dict[str, Any] | None:
            held = store.hub_health(home.hub_id)
            batteries = [d["battery_level"] for d in held["devices"]] if held else []
            return held if batteries == [BATTERY] else None

        held = await eventually(cuff_battery_held, WAIT_S, "a report with the cuff's battery")
        assert held["clock_synced"] is True  # the testbed's hub assumes a synchronised clock
        assert held["software_version"] and held["disk_total_bytes"] > held["disk_free_bytes"] > 0

        # The centre takes batches and acknowledges none: the report waiting is sent again
        # (every ack_timeout_s), and no other is made however many intervals pass.
        os.killpg(centre.pid, signal.SIGSTOP)
        try:
            (pending,) = await eventually(
                lambda: waiting(home) or None, WAIT_S, "a report waiting for the centre"
            )
            carried = 0
            while carried < 2:  # the same report in two batches at least: sent again
                header = await asyncio.to_thread(headers.get, timeout=WAIT_S)
                carried += header.seq_first <= pending <= header.seq_last
            await asyncio.sleep(3 * home.health_every_s)
            assert waiting(home) == [pending], "one report waits; no more are made meanwhile"
        finally:
            os.killpg(centre.pid, signal.SIGCONT)
        await eventually(lambda: not waiting(home), WAIT_S, "the waiting report acknowledged")

        # A restarted hub reports at once, its uptime starting again.
        last = max(health_at_hub(home), key=lambda r: r["seq"])
        before = last["seq"]
        home.processes[-1].stop()
        home.start_hub()
        restarted = await eventually(
            lambda: [r for r in health_at_hub(home) if r["seq"] > before and r["synced"]] or None,
            WAIT_S,
            "a report from the restarted hub, acknowledged",
        )
        assert restarted[0]["values"]["uptime_s"] < last["values"]["uptime_s"]

        # The patient's screen is shown none of it.
        status = home.hub_status()
        assert KIND not in {r["kind"] for r in status["readings"]}
        assert KIND not in {h["kind"] for h in status["history"]}
        assert [r["kind"] for r in status["readings"]] == ["blood_pressure"]
    finally:
        observer.loop_stop()
        observer.disconnect()
        await cuff.stop()

    # Exactly once: every report the hub holds acknowledged is stored once at the centre.
    at_hub = {r["seq"] for r in health_at_hub(home) if r["synced"]}
    home.processes[-1].stop()  # no more reports from here on
    await asyncio.sleep(2)  # any duplicate delivery has landed by now
    at_centre = Counter(r["seq"] for r in home.centre_readings() if r["kind"] == KIND)
    assert set(at_centre) >= at_hub and len(at_hub) >= 3
    assert set(at_centre.values()) == {1}, at_centre
    # The centre holds the newest report (by the hub's time) as the hub's health.
    newest = store.hub_health(home.hub_id)
    history = store.health_history(home.hub_id)
    assert newest is not None and newest["seq"] == max(at_centre)
    assert newest["at"] == max(h["at"] for h in history)
    assert [d["battery_level"] for d in newest["devices"]] == [BATTERY]
    assert not [r for r in store.rejections() if "health" in r["reason"]]
    store.close()


async def test_pairing_sends_a_report_at_once_so_the_centre_shows_the_device(
    home: SimulatedHome,
) -> None:
    """A technician pairs the new patient's cuff: the centre's page lists it from a report sent
    right after the pairing, not hours later at the next interval (found by an outsider
    following docs/operations.md step 7)."""
    home.health_every_s = 3600.0
    home.start_centre(taking_batches=True)
    home.start_hub()
    store = CentreStore(home.centre.database_url)
    first = await eventually(
        lambda: store.hub_health(home.hub_id), WAIT_S, "the report made at the daemon's start"
    )
    assert first["devices"] == []
    cuff = EmulatedCuff(behaviour=Behaviour(battery_level=BATTERY))
    await cuff.start()
    try:
        await pair(home, cuff)

        def listed() -> dict[str, Any] | None:
            held = store.hub_health(home.hub_id)
            return held if held and [d["address"] for d in held["devices"]] else None

        held = await eventually(listed, WAIT_S, "a report naming the paired cuff")
        assert [d["address"] for d in held["devices"]] == [cuff.address]
        home.hub_cli("forget", cuff.address)
        await eventually(
            lambda: (h := store.hub_health(home.hub_id)) and h["devices"] == [] and h,
            WAIT_S,
            "a report without the forgotten cuff",
        )
    finally:
        await cuff.stop()
        store.close()
