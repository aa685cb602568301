"""Blood pressure cuff end to end: bleak on BlueZoo against the emulated cuff, the real hub
daemon and its SQLite store. Pairing, stored records, re-sent records, bonding, clocks, error
values, garbage, dropped links and a neighbour's cuff."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

from hub.devices.blood_pressure import build_blood_pressure_measurement
from hub.devices.ieee11073 import SpecialValue
from testbed.bluetooth import DEVICE_ADAPTERS
from testbed.home import SimulatedHome
from testbed.peripherals.cuff import EmulatedCuff
from testbed.peripherals.device import Behaviour, DeviceClock, local_now
from tests.conftest import close_to_now, devices, eventually, hub_log, pair, readings

CUFF = DEVICE_ADAPTERS["hci1"]


async def started(home: SimulatedHome, **behaviour: Any) -> EmulatedCuff:
    unit = behaviour.pop("unit", "mmHg")
    cuff = EmulatedCuff(behaviour=Behaviour(**behaviour), unit=unit)
    await cuff.start()
    home.start_hub()
    await pair(home, cuff)
    return cuff


async def test_pairing_records_the_device_and_sets_its_clock(home: SimulatedHome) -> None:
    cuff = await started(home, clock_unset=True)
    try:
        assert cuff.clock.written, "pairing must set the cuff's clock"
        assert abs(cuff.clock.now() - local_now()) < timedelta(seconds=5)
        (device,) = devices(home)
        assert (device["address"], device["profile"], device["name"]) == (
            CUFF,
            "blood_pressure",
            "DHO sim BP cuff",
        )
        assert device["bonded"] is True
    finally:
        await cuff.stop()


async def test_stored_records_arrive_in_one_session_with_device_time(
    home: SimulatedHome,
) -> None:
    cuff = await started(home)
    try:
        for systolic in (121, 132, 143):
            cuff.measure(systolic, 80, 66)
            await asyncio.sleep(1.1)  # distinct device time stamps, as over a morning
        rows = await readings(home, 3)
    finally:
        await cuff.stop()
    assert [r["values"]["systolic"] for r in rows] == [121.0, 132.0, 143.0]
    for row in rows:
        assert row["kind"] == "blood_pressure" and row["outcome"] == "ok"
        assert row["time_source"] == "device" and row["hub_clock_synced"] is True
        assert close_to_now(row["measured_at"])
        assert row["device_time"] == row["values"]["timestamp"]
    # When the session ends, the hub notes it with the battery level it read.
    device = await eventually(
        lambda: (d := devices(home)[0])["last_connected_at"] and d, what="the session to be noted"
    )
    assert device["battery_level"] == 87


async def test_records_sent_again_on_every_connection_are_stored_once(
    home: SimulatedHome,
) -> None:
    cuff = await started(home, keeps_records=True)
    try:
        cuff.measure(125, 81, 60)
        await asyncio.sleep(1.1)
        cuff.measure(127, 82, 61)
        await readings(home, 2)
        await eventually(lambda: devices(home)[0]["last_connected_at"], what="session end")
        first_connections = cuff.connections
        await asyncio.sleep(1.1)
        cuff.measure(129, 83, 62)  # the cuff now sends all three again
        rows = await readings(home, 3)
        await eventually(
            lambda: "stored before; not stored again" in hub_log(home),
            what="the hub to recognise the re-sent records",
        )
    finally:
        await cuff.stop()
    assert cuff.connections > first_connections
    assert len(cuff.delivered) >= 5  # 2, then 3 again
    assert [r["values"]["systolic"] for r in home.hub_readings()] == [125.0, 127.0, 129.0]
    assert [r["seq"] for r in rows] == [1, 2, 3]


async def test_cuff_that_requires_a_bond_is_bonded_again_after_forgetting_it(
    home: SimulatedHome,
) -> None:
    cuff = await started(home, needs_bonding=True)
    try:
        cuff.measure(131, 85, 70)
        await readings(home, 1)
        await eventually(lambda: devices(home)[0]["last_connected_at"], what="session end")
        # The cuff is reset (or rotates its keys): the bond the hub holds is stale.
        await cuff.forget_bonds()
        cuff.measure(133, 86, 71)
        rows = await readings(home, 2)
    finally:
        await cuff.stop()
    assert rows[1]["values"]["systolic"] == 133.0
    log = hub_log(home)
    assert "refuses our bond" in log and "without a bond" in log
    assert log.count("bonding with") >= 2  # at pairing, and again after the reset


async def test_records_stamped_after_a_clock_reset_are_corrected(home: SimulatedHome) -> None:
    cuff = await started(home)
    try:
        cuff.clock = DeviceClock(unset=True)  # batteries changed: the clock restarts in 2000
        cuff.measure(138, 88, 72)
        (row,) = await readings(home, 1)
    finally:
        await cuff.stop()
    assert row["device_time"].startswith("2000-01-01T00:0")
    assert row["time_source"] == "device_corrected"
    assert close_to_now(row["measured_at"])
    assert row["clock_correction_s"] > 26 * 365 * 24 * 3600
    assert abs(cuff.clock.now() - local_now()) < timedelta(seconds=5)  # and it was set again


async def test_write_only_date_time_clock_is_set_but_old_stamps_are_not_trusted(
    home: SimulatedHome,
) -> None:
    # A&D style: Date Time (0x2A08) inside the profile service, write-only, so the hub cannot
    # read how wrong the clock was. A stamp from before the hub was built is not believed.
    cuff = await started(home, clock="date_time", clock_unset=True)
    try:
        assert cuff.clock.written
        cuff.clock = DeviceClock(unset=True)
        cuff.measure(140, 90, 75)
        (row,) = await readings(home, 1)
    finally:
        await cuff.stop()
    assert row["device_time"].startswith("2000-01-01")
    assert row["time_source"] == "hub_received"
    assert row["measured_at"] == row["received_at"].split(".")[0] + "+00:00"
    assert abs(cuff.clock.now() - local_now()) < timedelta(seconds=5)


async def test_error_values_are_stored_as_failed_or_flagged_never_as_numbers(
    home: SimulatedHome,
) -> None:
    cuff = await started(home, unit="kPa")
    try:
        cuff.take_measurement(
            build_blood_pressure_measurement(
                SpecialValue.NAN,
                SpecialValue.NAN,
                SpecialValue.NAN,
                unit="kPa",
                timestamp=cuff.clock.now(),
                measurement_status=["cuff_too_loose"],
            )
        )
        await asyncio.sleep(1.1)
        cuff.measure(17.1, 10.9, 72, status=("body_movement_detected", "pulse_rate_within_range"))
        failed, flagged = await readings(home, 2)
    finally:
        await cuff.stop()
    assert failed["outcome"] == "failed"
    assert failed["problems"] == [
        "systolic_NaN",
        "diastolic_NaN",
        "mean_arterial_pressure_NaN",
        "cuff_too_loose",
    ]
    assert failed["values"]["systolic"] == "NaN"
    assert flagged["outcome"] == "flagged"
    assert flagged["problems"] == ["body_movement_detected"]
    assert (flagged["values"]["systolic"], flagged["values"]["unit"]) == (17.1, "kPa")


async def test_garbage_is_logged_and_the_session_carries_on(home: SimulatedHome) -> None:
    cuff = await started(home, garbage_first=True)
    try:
        cuff.measure(126, 79, 64)
        (row,) = await readings(home, 1)
        cuff.measure(128, 80, 65)  # the next session too sends garbage first
        rows = await readings(home, 2)
    finally:
        await cuff.stop()
    assert (row["values"]["systolic"], rows[1]["values"]["systolic"]) == (126.0, 128.0)
    log = hub_log(home)
    assert log.count("unreadable value from") >= 2 and "(raw: ff)" in log
    assert next(p for p in home.processes if p.name == "hub").alive()


async def test_dropped_link_delivers_the_rest_on_the_next_connection(
    home: SimulatedHome,
) -> None:
    cuff = await started(home, drop_after=1, send_interval_s=0.3)
    try:
        for systolic in (150, 151, 152):
            cuff.measure(systolic, 95, 80)
            await asyncio.sleep(1.1)
        rows = await readings(home, 3)
    finally:
        await cuff.stop()
    assert [r["values"]["systolic"] for r in rows] == [150.0, 151.0, 152.0]
    assert cuff.connections >= 3


async def test_a_neighbours_cuff_is_never_connected(home: SimulatedHome) -> None:
    neighbour = EmulatedCuff(
        adapter="hci2", name="Neighbour's cuff", base_path="/no/dho/sim/neighbour"
    )
    await neighbour.start()
    try:
        cuff = await started(home)
        try:
            neighbour.measure(180, 110, 90)
            cuff.measure(122, 78, 61)
            (row,) = await readings(home, 1)
            await asyncio.sleep(3)  # the neighbour keeps advertising its reading meanwhile
        finally:
            await cuff.stop()
    finally:
        await neighbour.stop()
    assert row["device_address"] == CUFF
    assert [r["device_address"] for r in home.hub_readings()] == [CUFF]
    assert neighbour.connections == 0 and len(neighbour.pending) == 1
