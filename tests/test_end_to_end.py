"""One blood-pressure reading from an emulated cuff, through bleak on BlueZoo, SQLite and
Mosquitto, to the centre; nothing of bleak, paho or sqlite is mocked."""

from __future__ import annotations

import asyncio
import json
from datetime import datetime
from typing import Any

from hub import ipc
from hub.config import load_config
from hub.devices.blood_pressure import build_blood_pressure_measurement
from testbed.home import SimulatedHome
from testbed.peripherals.cuff import EmulatedCuff
from tests.conftest import eventually, pair

MEASURED_AT = datetime(2026, 11, 22, 10, 40, 0)


def cuff_value(systolic: int, diastolic: int, pulse: int) -> bytes:
    return build_blood_pressure_measurement(
        systolic,
        diastolic,
        round(diastolic + (systolic - diastolic) / 3),
        timestamp=MEASURED_AT,
        pulse_rate=pulse,
        user_id=1,
    )


def at_centre(home: SimulatedHome, n: int) -> list[dict[str, Any]] | None:
    rows = home.centre_readings()
    return rows if len(rows) >= n else None


async def test_indicated_value_reaches_centre_and_hub_shows_it_synced(home: SimulatedHome) -> None:
    home.start_centre()
    home.start_hub()
    cuff = EmulatedCuff()
    await cuff.start()
    try:
        await pair(home, cuff)
        cuff.take_measurement(cuff_value(128, 82, 70))
        rows = await eventually(lambda: at_centre(home, 1), what="the reading at the centre")
    finally:
        await cuff.stop()

    assert len(rows) == 1
    row = rows[0]
    assert row["hub_id"] == home.hub_id
    assert row["seq"] == 1
    assert row["kind"] == "blood_pressure"
    assert row["device_time"] == "2026-11-22T10:40:00"
    values = row["values"]
    assert (values["systolic"], values["diastolic"], values["mean_arterial_pressure"]) == (
        128.0,
        82.0,
        97.0,
    )
    assert values["pulse_rate"] == 70.0
    assert values["unit"] == "mmHg"

    socket_path = load_config(home.hub_config).socket_path

    def synced_status() -> dict[str, Any] | None:
        # What the patient screen asks the daemon for.
        status = ipc.request_blocking(socket_path, "status")
        latest = status["readings"]
        return status if latest and latest[0]["synced"] else None

    status = await eventually(synced_status, what="the hub to show the reading synced")
    assert status["pending"] == 0
    assert status["readings"][0]["values"]["systolic"] == 128.0
    # The screen's 14-day trend comes from the same answer.
    assert [h["values"]["systolic"] for h in status["history"]] == [128.0]
    hub_rows = home.hub_readings()
    assert [(r["seq"], r["synced"]) for r in hub_rows] == [(1, True)]
    # The technician's command shows the same.
    listing = json.loads(home.hub_cli("readings", "--json").stdout)
    assert listing == hub_rows
    devices = home.hub_devices()
    assert json.loads(home.hub_cli("devices", "--json").stdout) == devices
    address = devices[0]["address"]
    assert address in home.hub_cli("devices").stdout
    refused = home.hub_cli("forget", "00:BB:00:00:00:99")
    assert refused.returncode == 2 and "is not a device of this hub" in refused.stderr
    forgot = home.hub_cli("forget", address.lower())
    assert forgot.returncode == 0 and f"{address} is no longer paired" in forgot.stdout
    assert home.hub_devices() == []


async def test_reading_taken_while_broker_is_down_arrives_exactly_once(home: SimulatedHome) -> None:
    home.broker.stop()
    home.start_centre()
    home.start_hub()
    cuff = EmulatedCuff()
    await cuff.start()
    try:
        await pair(home, cuff)
        cuff.take_measurement(cuff_value(141, 91, 77))
        cuff.take_measurement(cuff_value(139, 88, 75))
        stored = await eventually(
            lambda: len(rows := home.hub_readings()) == 2 and rows, what="both readings stored"
        )
        assert [r["synced"] for r in stored] == [False, False]
        assert home.centre_readings() == []

        home.broker.start()  # same port: the hub and the centre reconnect by themselves
        rows = await eventually(lambda: at_centre(home, 2), what="readings at the centre")
        await eventually(
            lambda: all(r["synced"] for r in home.hub_readings()),
            what="the hub to see both acknowledged",
        )
    finally:
        await cuff.stop()

    assert [(r["seq"], r["values"]["systolic"]) for r in rows] == [(1, 141.0), (2, 139.0)]
    # Give any duplicate delivery time to land, then check again: still exactly once.
    await asyncio.sleep(2)
    assert [r["seq"] for r in home.centre_readings()] == [1, 2]


async def test_hub_learns_its_clock_error_from_acks_and_records_it(home: SimulatedHome) -> None:
    home.start_centre()
    home.start_hub()
    cuff = EmulatedCuff()
    await cuff.start()
    try:
        await pair(home, cuff)
        cuff.take_measurement(cuff_value(130, 85, 72))
        await eventually(lambda: at_centre(home, 1), what="the first reading at the centre")
        await eventually(lambda: home.hub_readings()[0]["synced"], what="the first ack")
        cuff.take_measurement(
            build_blood_pressure_measurement(
                131, 86, 101, timestamp=MEASURED_AT.replace(minute=41), pulse_rate=73
            )
        )
        rows = await eventually(lambda: at_centre(home, 2), what="the second reading")
    finally:
        await cuff.stop()
    first, second = rows
    assert first["hub_clock_offset_s"] is None  # no ack had come back yet
    # Hub and centre share this machine's clock: the estimate is within the round trip.
    assert second["hub_clock_offset_s"] is not None
    assert abs(second["hub_clock_offset_s"]) < 1.0
    status = ipc.request_blocking(load_config(home.hub_config).socket_path, "status")
    assert abs(status["hub_clock_offset_s"]) < 1.0
