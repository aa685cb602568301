"""Thermometer end to end: bleak on BlueZoo against the emulated thermometer, the real hub
daemon and its SQLite store. Celsius and Fahrenheit, special FLOAT values, stored and re-sent
records, bonding, a reset clock, garbage, a slow device and Intermediate Temperature (0x2A1E),
which the hub neither subscribes to nor stores."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any
from zoneinfo import ZoneInfo

from hub.core.pipeline import to_reading
from hub.core.reading import now_utc
from hub.core.timing import ClockCheck
from hub.devices.events import DeviceValue
from hub.devices.ieee11073 import SpecialValue
from hub.devices.thermometer import build_temperature_measurement
from testbed.bluetooth import DEVICE_ADAPTERS
from testbed.home import SimulatedHome
from testbed.peripherals.device import Behaviour, DeviceClock, local_now
from testbed.peripherals.thermometer import (
    INTERMEDIATE_TEMPERATURE,
    TEMPERATURE_MEASUREMENT,
    EmulatedThermometer,
)
from tests.conftest import (
    close_to_now,
    devices,
    eventually,
    hub_log,
    pair,
    readings,
    session_noted,
)

THERMOMETER = DEVICE_ADAPTERS["hci4"]


async def started(
    home: SimulatedHome, before_pairing: tuple[float, ...] = (), **behaviour: Any
) -> EmulatedThermometer:
    """Start a thermometer and the hub and pair them; ``before_pairing`` are temperatures the
    patient took (1 s apart) before the hub ever connected."""
    thermometer = EmulatedThermometer(behaviour=Behaviour(**behaviour))
    await thermometer.start()
    for temperature in before_pairing:
        thermometer.measure(temperature)
        await asyncio.sleep(1.1)  # distinct device time stamps
    home.start_hub()
    await pair(home, thermometer)
    return thermometer


def temperatures(rows: list[dict[str, Any]]) -> list[Any]:
    return [r["values"]["temperature"] for r in rows]


async def test_celsius_and_fahrenheit_readings_arrive_with_device_time(
    home: SimulatedHome,
) -> None:
    thermometer = await started(home)
    try:
        thermometer.measure(37.25, temperature_type="mouth")
        (celsius,) = await readings(home, 1)
        thermometer.measure(99.14, unit="F")  # the patient switched the display to Fahrenheit
        rows = await readings(home, 2)
    finally:
        await thermometer.stop()
    (device,) = devices(home)
    assert (device["address"], device["profile"], device["name"]) == (
        THERMOMETER,
        "thermometer",
        "DHO sim thermometer",
    )
    assert celsius["kind"] == "temperature" and celsius["outcome"] == "ok"
    assert celsius["characteristic"] == TEMPERATURE_MEASUREMENT
    assert celsius["values"]["temperature"] == 37.25 and celsius["values"]["unit"] == "C"
    assert celsius["values"]["temperature_type"] == "mouth"
    fahrenheit = rows[1]
    assert (fahrenheit["values"]["temperature"], fahrenheit["values"]["unit"]) == (99.14, "F")
    assert fahrenheit["values"]["temperature_type"] is None  # the site is on 0x2A1D instead
    assert fahrenheit["outcome"] == "ok"
    for row in rows:
        assert row["time_source"] == "device" and row["hub_clock_synced"] is True
        assert row["device_time"] == row["values"]["timestamp"]
        assert close_to_now(row["measured_at"])
        assert row["device_address"] == THERMOMETER


async def test_special_float_values_are_stored_as_failed_never_as_numbers(
    home: SimulatedHome,
) -> None:
    thermometer = await started(home)
    try:
        thermometer.measure(SpecialValue.NAN)  # probe not in the ear long enough
        thermometer.measure(SpecialValue.POSITIVE_INFINITY)  # beyond what it can measure
        thermometer.measure(36.9)
        nan, infinity, good = await readings(home, 3)
    finally:
        await thermometer.stop()
    assert nan["outcome"] == "failed" and nan["problems"] == ["temperature_NaN"]
    assert nan["values"]["temperature"] == "NaN"
    assert infinity["outcome"] == "failed" and infinity["problems"] == ["temperature_+INF"]
    assert infinity["values"]["temperature"] == "+INF"
    assert good["outcome"] == "ok" and good["values"]["temperature"] == 36.9
    assert all(r["kind"] == "temperature" for r in (nan, infinity, good))


async def test_records_stored_before_the_hub_came_arrive_in_one_session(
    home: SimulatedHome,
) -> None:
    thermometer = await started(home, before_pairing=(37.1, 37.6, 38.2))
    try:
        rows = await readings(home, 3)
        await session_noted(home)
    finally:
        await thermometer.stop()
    assert temperatures(rows) == [37.1, 37.6, 38.2]
    assert thermometer.connections == 1 and not thermometer.pending
    stamps = [r["device_time"] for r in rows]
    assert stamps == sorted(stamps) and len(set(stamps)) == 3
    assert all(r["time_source"] == "device" for r in rows)
    assert devices(home)[0]["battery_level"] == 87


async def test_records_sent_again_on_every_connection_are_stored_once(
    home: SimulatedHome,
) -> None:
    thermometer = await started(home, keeps_records=True)
    try:
        thermometer.measure(36.8)
        await asyncio.sleep(1.1)
        thermometer.measure(37.0)
        await readings(home, 2)
        await session_noted(home)
        first = devices(home)[0]["last_connected_at"]
        first_connections = thermometer.connections
        thermometer.measure(37.3)  # it now indicates all three again
        rows = await readings(home, 3)
        await session_noted(home, after=first)
        await eventually(
            lambda: "stored before; not stored again" in hub_log(home),
            what="the hub to recognise the re-sent records",
        )
    finally:
        await thermometer.stop()
    assert thermometer.connections > first_connections
    assert len(thermometer.delivered) >= 5  # 2, then 3 again
    assert temperatures(home.hub_readings()) == [36.8, 37.0, 37.3]
    assert [r["seq"] for r in rows] == [1, 2, 3]


async def test_thermometer_that_requires_a_bond_is_bonded_again_after_forgetting_it(
    home: SimulatedHome,
) -> None:
    thermometer = await started(home, needs_bonding=True)
    try:
        assert devices(home)[0]["bonded"] is True
        thermometer.measure(37.4)
        await readings(home, 1)
        await session_noted(home)
        await thermometer.forget_bonds()  # reset: the bond the hub holds is stale
        thermometer.measure(37.7)
        rows = await readings(home, 2)
    finally:
        await thermometer.stop()
    assert temperatures(rows) == [37.4, 37.7]
    log = hub_log(home)
    assert "refuses our bond" in log and "without a bond" in log
    assert log.count("bonding with") >= 2  # at pairing, and again after the reset


async def test_records_stamped_while_the_clock_was_unset_are_corrected(
    home: SimulatedHome,
) -> None:
    thermometer = await started(home, clock_unset=True)
    try:
        assert thermometer.clock.written, "pairing must set the thermometer's clock"
        thermometer.clock = DeviceClock(unset=True)  # batteries changed: back to 2000
        # Both taken before the hub connects (it would set the clock in between otherwise).
        thermometer.measure(37.2)
        thermometer.measure(37.5)
        rows = await readings(home, 2)
    finally:
        await thermometer.stop()
    assert temperatures(rows) == [37.2, 37.5]
    for row in rows:
        assert row["device_time"].startswith("2000-01-01T00:00:0")
        assert row["time_source"] == "device_corrected"
        assert close_to_now(row["measured_at"])
        assert row["clock_correction_s"] > 26 * 365 * 24 * 3600
    assert rows[0]["measured_at"] <= rows[1]["measured_at"]
    assert thermometer.clock.written, "the session sets the reset clock again"
    assert abs(thermometer.clock.now() - local_now()) < timedelta(seconds=5)


async def test_garbage_is_logged_and_the_session_carries_on(home: SimulatedHome) -> None:
    thermometer = await started(home, garbage_first=True)
    try:
        thermometer.measure(36.6)
        (row,) = await readings(home, 1)
        thermometer.measure(36.7)  # the next session too sends garbage first
        rows = await readings(home, 2)
    finally:
        await thermometer.stop()
    assert (row["values"]["temperature"], rows[1]["values"]["temperature"]) == (36.6, 36.7)
    log = hub_log(home)
    assert log.count("unreadable value from") >= 2 and "(raw: ff)" in log
    assert "Temperature Measurement (0x2A1C)" in log
    assert next(p for p in home.processes if p.name == "hub").alive()


async def test_a_slow_thermometer_still_delivers_everything(home: SimulatedHome) -> None:
    thermometer = await started(home, before_pairing=(36.5, 36.9, 37.3, 37.8), send_interval_s=0.5)
    try:
        rows = await readings(home, 4)
        await session_noted(home)
    finally:
        await thermometer.stop()
    assert temperatures(rows) == [36.5, 36.9, 37.3, 37.8]
    assert thermometer.connections == 1 and not thermometer.pending  # in one session
    assert all(r["outcome"] == "ok" for r in rows)


async def test_intermediate_temperatures_reach_the_screen_but_are_not_stored(
    home: SimulatedHome,
) -> None:
    thermometer = await started(home)
    try:
        thermometer.measure(37.9, intermediates=(36.4, 37.0, 37.5, 37.8))
        await readings(home, 1)
        await session_noted(home)
        rows = home.hub_readings()
        live = home.ask_hub("live")
    finally:
        await thermometer.stop()
    # The hub follows 0x2A1E before it subscribes to 0x2A1C (which starts the stream), so every
    # intermediate value reaches the measuring screen's state ...
    assert thermometer.connections == 1
    assert len(thermometer.intermediate_streamed) == 4
    assert thermometer.intermediate_delivered == thermometer.intermediate_streamed
    (session,) = live["sessions"]
    assert session["profile"] == "thermometer" and session["progress_count"] == 4
    assert session["progress"] == {"temperature": 37.8, "unit": "C"}
    assert [r["values"]["temperature"] for r in session["results"]] == [37.9]
    # ... and only the finished measurement is stored.
    (row,) = rows
    assert row["values"]["temperature"] == 37.9
    assert row["values"]["type"] == "temperature_measurement"
    assert "unexpected characteristic" not in hub_log(home)
    # And a 0x2A1E value that reached the daemon anyway would be dropped, not stored.
    stray = DeviceValue(
        THERMOMETER,
        INTERMEDIATE_TEMPERATURE,
        build_temperature_measurement(37.5, intermediate=True),
        now_utc(),
        ClockCheck(),
        hub_clock_synced=True,
    )
    assert to_reading(stray, ZoneInfo("Europe/Oslo")) is None
