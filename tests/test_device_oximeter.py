"""Pulse oximeter end to end: bleak on BlueZoo against the emulated oximeter, the real hub
daemon and its SQLite store. Spot-check records (stored, re-sent, stamped by an unset clock),
a continuous-only oximeter sampled into one reading per session, status values, garbage and
bonding."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any, Literal

from hub.devices.ieee11073 import SpecialValue
from hub.devices.pulse_oximeter import build_plx_spot_check
from testbed.bluetooth import DEVICE_ADAPTERS
from testbed.home import SimulatedHome
from testbed.peripherals.device import Behaviour, DeviceClock, local_now
from testbed.peripherals.oximeter import FINGER_OUT, EmulatedOximeter
from tests.conftest import (
    close_to_now,
    devices,
    eventually,
    hub_log,
    pair,
    readings,
    session_noted,
)

OXIMETER = DEVICE_ADAPTERS["hci2"]
NAN = SpecialValue.NAN


async def started(
    home: SimulatedHome, mode: Literal["spot_check", "continuous"] = "spot_check", **behaviour: Any
) -> EmulatedOximeter:
    oximeter = EmulatedOximeter(behaviour=Behaviour(**behaviour), mode=mode)
    await oximeter.start()
    home.start_hub()
    await pair(home, oximeter)
    return oximeter


async def test_stored_spot_checks_arrive_in_one_session_with_device_time(
    home: SimulatedHome,
) -> None:
    oximeter = await started(home, clock_unset=True)
    try:
        assert oximeter.clock.written, "pairing must set the oximeter's clock"
        (device,) = devices(home)
        assert (device["address"], device["profile"]) == (OXIMETER, "pulse_oximeter")
        for spo2, pulse in ((97, 64), (96, 71), (98, 58)):
            oximeter.measure(spo2, pulse)
        rows = await readings(home, 3)
        await session_noted(home)
    finally:
        await oximeter.stop()
    assert oximeter.connections == 1  # all three in one session
    assert [(r["values"]["spo2"], r["values"]["pulse_rate"]) for r in rows] == [
        (97.0, 64.0),
        (96.0, 71.0),
        (98.0, 58.0),
    ]
    for row in rows:
        assert (row["kind"], row["outcome"], row["problems"]) == ("spo2", "ok", [])
        assert row["values"]["type"] == "plx_spot_check"
        assert row["values"]["pulse_amplitude_index"] == 4.2
        assert row["values"]["device_clock_not_set"] is False
        assert row["time_source"] == "device" and row["device_time"] == row["values"]["timestamp"]
        assert close_to_now(row["measured_at"])


async def test_spot_check_stamped_by_an_unset_clock_is_corrected(home: SimulatedHome) -> None:
    # Batteries changed: the clock restarts at 2000-01-01 and the oximeter flags its spot check
    # "device clock not set". The hub still reads the clock (Current Time) on connecting, before
    # setting it, so it knows how far that same clock is behind: the stamp plus that offset is
    # when the measurement was taken. So "device_corrected", not "hub_received" (which would
    # put the measurement at transfer time, possibly hours later).
    oximeter = await started(home)
    try:
        oximeter.clock = DeviceClock(unset=True)
        assert oximeter.clock_not_set
        oximeter.measure(95, 77)
        (row,) = await readings(home, 1)
    finally:
        await oximeter.stop()
    assert row["values"]["device_clock_not_set"] is True
    assert row["device_time"].startswith("2000-01-01T00:0")
    assert row["time_source"] == "device_corrected"
    assert row["clock_correction_s"] > 26 * 365 * 24 * 3600
    assert close_to_now(row["measured_at"])
    assert not oximeter.clock_not_set  # and the hub set the clock
    assert abs(oximeter.clock.now() - local_now()) < timedelta(seconds=5)


async def test_clock_not_set_flag_alone_is_not_trusted(home: SimulatedHome) -> None:
    # An oximeter without a clock service the hub can read: the stamp looks plausible (today),
    # but the device says its clock was never set, so the stamp counts from wherever it began.
    # With no measured offset to correct it, the hub uses its own receive time: "hub_received".
    oximeter = await started(home, clock="none")
    try:
        oximeter.take_measurement(
            build_plx_spot_check(
                94, 81, timestamp=local_now() - timedelta(hours=3), device_clock_not_set=True
            )
        )
        (row,) = await readings(home, 1)
    finally:
        await oximeter.stop()
    assert row["values"]["device_clock_not_set"] is True
    assert row["time_source"] == "hub_received" and row["clock_correction_s"] is None
    assert row["measured_at"] == row["received_at"].split(".")[0] + "+00:00"
    assert (row["values"]["spo2"], row["outcome"]) == (94.0, "ok")


async def test_continuous_only_oximeter_stores_the_last_valid_sample_once_per_session(
    home: SimulatedHome,
) -> None:
    # The hub samples a continuous-only oximeter for a window (30 s by default; 5 s here),
    # ignoring invalid samples, and stores the last valid one: one reading, not a stream.
    home.configure_hub(bluetooth={"continuous_window_s": 5.0})
    oximeter = await started(home, mode="continuous", garbage_first=True)
    try:
        first = oximeter.finger_in(96, 70, settled=4)
        (row,) = await readings(home, 1)
        ended = await session_noted(home)
        # The session is over and noted after its values: exactly one reading from it.
        assert len(home.hub_readings()) == 1
        sent_first = list(oximeter.delivered)
        second = oximeter.finger_in(93, 88, settled=3)
        rows = await readings(home, 2)
        await session_noted(home, after=ended)
    finally:
        await oximeter.stop()
    assert len(home.hub_readings()) == 2
    # The stream really had invalid and early samples first and finger-out samples after the
    # last valid one: the hub kept neither the first, nor the last sample, but the last valid.
    assert sent_first.index(first[0]) == 3  # after two NaN and one early estimate
    assert sent_first[-1] == FINGER_OUT
    assert len(set(first)) == 4 and first[0] != first[-1]
    assert row["raw_hex"] == first[-1].hex()
    assert rows[1]["raw_hex"] == second[-1].hex()
    for stored, (spo2, pulse) in ((rows[0], (96.0, 70.0)), (rows[1], (93.0, 88.0))):
        values = stored["values"]
        assert (values["type"], values["spo2"], values["pulse_rate"]) == (
            "plx_continuous",
            spo2,
            pulse,
        )
        assert (stored["kind"], stored["outcome"]) == ("spo2", "ok")
        assert stored["time_source"] == "hub_received"  # continuous samples carry no stamp
        assert close_to_now(stored["measured_at"])
    log = hub_log(home)
    assert "unreadable continuous sample" in log and "(raw: ff)" in log
    assert next(p for p in home.processes if p.name == "hub").alive()


async def test_status_values_are_stored_as_failed_or_flagged(home: SimulatedHome) -> None:
    oximeter = await started(home)
    try:
        oximeter.measure(92, 80, status=("invalid_measurement_detected",))
        oximeter.measure(
            NAN,
            NAN,
            status=("measurement_unavailable",),
            device_status=("sensor_disconnected",),
            pai=None,
        )
        oximeter.measure(95, 62, device_status=("low_perfusion_detected",), pai=0.3)
        invalid, unavailable, low_perfusion = await readings(home, 3)
    finally:
        await oximeter.stop()
    assert invalid["outcome"] == "failed"
    assert invalid["problems"] == ["invalid_measurement_detected"]
    assert unavailable["outcome"] == "failed"
    assert unavailable["problems"] == [
        "spo2_NaN",
        "measurement_unavailable",
        "pulse_rate_NaN",
        "sensor_disconnected",
    ]
    assert unavailable["values"]["spo2"] == "NaN"
    assert low_perfusion["outcome"] == "flagged"
    assert low_perfusion["problems"] == ["low_perfusion_detected"]
    assert (low_perfusion["values"]["spo2"], low_perfusion["values"]["pulse_amplitude_index"]) == (
        95.0,
        0.3,
    )


async def test_garbage_is_logged_and_the_session_carries_on(home: SimulatedHome) -> None:
    oximeter = await started(home, garbage_first=True)
    try:
        oximeter.measure(97, 66)
        (row,) = await readings(home, 1)
        oximeter.measure(98, 67)  # the next session too sends garbage first
        rows = await readings(home, 2)
    finally:
        await oximeter.stop()
    assert (row["values"]["spo2"], rows[1]["values"]["spo2"]) == (97.0, 98.0)
    log = hub_log(home)
    assert log.count("unreadable value from") >= 2 and "(raw: ff)" in log
    assert next(p for p in home.processes if p.name == "hub").alive()


async def test_oximeter_that_requires_a_bond_is_bonded_again_after_forgetting_it(
    home: SimulatedHome,
) -> None:
    oximeter = await started(home, needs_bonding=True)
    try:
        oximeter.measure(96, 73)
        ended = await session_noted(home)  # (session_noted is after the reading is stored)
        await readings(home, 1)
        await oximeter.forget_bonds()  # reset: the bond the hub holds is stale
        oximeter.measure(95, 74)
        rows = await readings(home, 2)
        await session_noted(home, after=ended)
    finally:
        await oximeter.stop()
    assert [r["values"]["spo2"] for r in rows] == [96.0, 95.0]
    log = hub_log(home)
    assert "refuses our bond" in log and "without a bond" in log
    assert log.count("bonding with") >= 2  # at pairing, and again after the reset


async def test_spot_checks_sent_again_on_every_connection_are_stored_once(
    home: SimulatedHome,
) -> None:
    oximeter = await started(home, keeps_records=True)
    try:
        oximeter.measure(97, 60)
        oximeter.measure(96, 61)
        await readings(home, 2)
        await session_noted(home)
        first_connections = oximeter.connections
        await asyncio.sleep(1.1)  # a later device time stamp, as on a later check
        oximeter.measure(95, 62)  # the oximeter now sends all three again
        await readings(home, 3)
        await eventually(
            lambda: "stored before; not stored again" in hub_log(home),
            what="the hub to recognise the re-sent records",
        )
    finally:
        await oximeter.stop()
    assert oximeter.connections > first_connections
    assert len(oximeter.delivered) >= 5  # 2, then 3 again
    rows = home.hub_readings()
    assert [r["values"]["spo2"] for r in rows] == [97.0, 96.0, 95.0]
    assert [r["seq"] for r in rows] == [1, 2, 3]
