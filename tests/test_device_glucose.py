"""Glucose meter end to end: bleak on BlueZoo against the emulated meter, the real hub daemon and
its SQLite store. Record Access Control Point downloads (all, then only newer records), context
records, a meter re-sending old records, units, time offsets, error values, bonding, clocks,
garbage and "no records found"."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from hub.devices import racp
from hub.devices.glucose import parse_glucose_measurement
from hub.devices.ieee11073 import SpecialValue
from hub.devices.racp import FilterType, OpCode, Operator, RacpRequest, ResponseCode
from testbed.bluetooth import DEVICE_ADAPTERS
from testbed.home import SimulatedHome
from testbed.peripherals.device import Behaviour, DeviceClock, local_now
from testbed.peripherals.glucose_meter import EmulatedGlucoseMeter
from tests.conftest import devices, eventually, hub_log, pair, readings, session_noted

METER = DEVICE_ADAPTERS["hci5"]


async def started(home: SimulatedHome, **behaviour: Any) -> EmulatedGlucoseMeter:
    unit = behaviour.pop("unit", "kg/L")
    name = behaviour.pop("name", "DHO sim glucose meter")
    meter = EmulatedGlucoseMeter(behaviour=Behaviour(**behaviour), unit=unit, name=name)
    await meter.start()
    home.start_hub()
    await pair(home, meter)
    return meter


def reports(meter: EmulatedGlucoseMeter) -> list[RacpRequest]:
    return [r for r in meter.racp_requests if r.op_code == OpCode.REPORT_STORED_RECORDS]


def counts(meter: EmulatedGlucoseMeter) -> list[RacpRequest]:
    return [r for r in meter.racp_requests if r.op_code == OpCode.REPORT_NUMBER_OF_STORED_RECORDS]


async def session_ended(home: SimulatedHome) -> None:
    await session_noted(home)


def records(rows: list[dict[str, Any]]) -> list[tuple[str, int]]:
    """(kind, meter sequence number) of each reading, in record order."""
    return sorted(
        ((r["kind"], r["values"]["sequence_number"]) for r in rows), key=lambda k: (k[1], k[0])
    )


def close_to(iso: str, when: datetime, within: timedelta = timedelta(minutes=1)) -> bool:
    return abs(datetime.fromisoformat(iso) - when) < within


async def test_first_connection_downloads_all_records_with_their_context(
    home: SimulatedHome,
) -> None:
    meter = await started(home)
    try:
        meter.measure(98)
        meter.measure(
            105,
            context={"meal": "preprandial", "carbohydrate_id": "breakfast", "carbohydrate": 0.05},
        )
        meter.measure(142, context={"meal": "postprandial"})
        rows = await readings(home, 5)
        await session_ended(home)
    finally:
        await meter.stop()
    (count,) = counts(meter)
    (request,) = reports(meter)
    assert (count.operator, request.op_code, request.operator) == (
        Operator.ALL_RECORDS,
        OpCode.REPORT_STORED_RECORDS,
        Operator.ALL_RECORDS,
    )
    assert meter.racp_requests == [count, request]  # how many first, then the records
    assert records(rows) == [
        ("glucose", 1),
        ("glucose", 2),
        ("glucose_context", 2),
        ("glucose", 3),
        ("glucose_context", 3),
    ]
    measurements = [r for r in rows if r["kind"] == "glucose"]
    assert [r["values"]["glucose_concentration"] for r in measurements] == [
        0.00098,
        0.00105,
        0.00142,
    ]
    for row in measurements:
        assert row["values"]["unit"] == "kg/L" and row["outcome"] == "ok"
        assert row["values"]["sample_type"] == "capillary_whole_blood"
        assert row["time_source"] == "device" and row["hub_clock_synced"] is True
        assert close_to(row["measured_at"], datetime.now(UTC))
        assert row["device_time"] == row["values"]["timestamp"]
    breakfast, dinner = (r["values"] for r in rows if r["kind"] == "glucose_context")
    assert (breakfast["meal"], breakfast["carbohydrate_id"], breakfast["carbohydrate"]) == (
        "preprandial",
        "breakfast",
        0.05,
    )
    assert dinner["meal"] == "postprandial" and dinner["carbohydrate"] is None
    assert [r["values"]["context_information_follows"] for r in measurements] == [False, True, True]
    (device,) = devices(home)
    assert (device["address"], device["profile"], device["battery_level"]) == (METER, "glucose", 87)


async def test_next_connection_asks_only_for_newer_records(home: SimulatedHome) -> None:
    meter = await started(home)
    try:
        meter.measure(110)
        meter.measure(120)
        await readings(home, 2)
        await session_ended(home)
        meter.measure(130)
        rows = await readings(home, 3)
        await eventually(lambda: len(reports(meter)) >= 2, what="the second request")
    finally:
        await meter.stop()
    first, second = reports(meter)
    assert first.operator == Operator.ALL_RECORDS
    assert (second.op_code, second.operator, second.filter_type, second.sequence_numbers) == (
        OpCode.REPORT_STORED_RECORDS,
        Operator.GREATER_THAN_OR_EQUAL_TO,
        FilterType.SEQUENCE_NUMBER,
        (3,),
    )  # the last stored number (2), plus one
    assert [r["values"]["sequence_number"] for r in rows] == [1, 2, 3]
    assert [r["values"]["glucose_concentration"] for r in rows] == [0.0011, 0.0012, 0.0013]
    assert len(meter.delivered) == 3  # nothing was sent twice
    assert "stored before" not in hub_log(home)


async def test_meter_reporting_old_records_again_is_stored_once(home: SimulatedHome) -> None:
    # Some meters ignore the "newer than" filter and report everything they hold.
    meter = await started(home, keeps_records=True)
    try:
        meter.measure(101, context={"meal": "fasting"})
        meter.measure(102)
        await readings(home, 3)
        await session_ended(home)
        meter.measure(103)
        await readings(home, 4)
        await eventually(
            lambda: "stored before; not stored again" in hub_log(home),
            what="the hub to recognise the re-sent records",
        )
        rows = home.hub_readings()
    finally:
        await meter.stop()
    assert reports(meter)[-1].operator == Operator.GREATER_THAN_OR_EQUAL_TO
    assert len(meter.delivered) == 3 + 4  # 1, its context, 2; then all of them again and 3
    assert records(rows) == [("glucose", 1), ("glucose_context", 1), ("glucose", 2), ("glucose", 3)]
    assert [r["seq"] for r in rows] == [1, 2, 3, 4]


async def test_mol_per_litre_and_time_offset(home: SimulatedHome) -> None:
    # The patient moved the meter's displayed time back half an hour: base time stays on the
    # meter's clock and the time offset says when the measurement really was.
    meter = await started(home, unit="mol/L")
    try:
        meter.measure(6.2, time_offset=-30)
        (row,) = await readings(home, 1)
    finally:
        await meter.stop()
    values = row["values"]
    assert (values["glucose_concentration"], values["unit"]) == (0.0062, "mol/L")
    base = datetime.fromisoformat(values["base_time"])
    assert values["time_offset"] == -30
    assert datetime.fromisoformat(values["timestamp"]) == base - timedelta(minutes=30)
    assert row["device_time"] == values["timestamp"]
    assert row["time_source"] == "device" and row["outcome"] == "ok"
    assert close_to(row["measured_at"], datetime.now(UTC) - timedelta(minutes=30))


async def test_error_values_are_stored_as_failed_or_flagged_never_as_numbers(
    home: SimulatedHome,
) -> None:
    meter = await started(home)
    try:
        meter.measure(None, sensor_status=("strip_insertion_error",))
        meter.measure(SpecialValue.NAN, sensor_status=("sample_size_insufficient",))
        # Above the meter's range ("HI"): the number stands for "at least", urgent: kept, flagged.
        meter.measure(600, sensor_status=("sensor_result_too_high",))
        strip, short_sample, high = await readings(home, 3)
    finally:
        await meter.stop()
    assert strip["outcome"] == "failed"
    assert strip["problems"] == ["glucose_concentration_missing", "strip_insertion_error"]
    assert strip["values"]["glucose_concentration"] is None
    assert short_sample["outcome"] == "failed"
    assert short_sample["problems"] == ["glucose_concentration_NaN", "sample_size_insufficient"]
    assert short_sample["values"]["glucose_concentration"] == "NaN"
    assert high["outcome"] == "flagged"
    assert high["problems"] == ["sensor_result_too_high"]
    assert high["values"]["glucose_concentration"] == 0.006


async def test_accu_chek_style_meter_that_requires_a_bond_is_bonded_again_after_a_reset(
    home: SimulatedHome,
) -> None:
    # Named like an Accu-Chek Guide: the hub's quirks bond before touching any characteristic.
    meter = await started(home, needs_bonding=True, name="meter+06813579")
    try:
        meter.measure(115)
        await readings(home, 1)
        await session_ended(home)
        # The meter is reset: the bond the hub holds is stale.
        await meter.forget_bonds()
        meter.measure(117)
        rows = await readings(home, 2)
    finally:
        await meter.stop()
    assert [r["values"]["glucose_concentration"] for r in rows] == [0.00115, 0.00117]
    assert reports(meter)[-1].sequence_numbers == (2,)
    log = hub_log(home)
    assert f"paired glucose meter {METER} (Accu-Chek Guide" in log
    assert "refuses our bond" in log  # the stale bond was removed ...
    assert log.count("bonding with") >= 4  # ... and the meter bonded at pairing, every session
    assert devices(home)[0]["bonded"] is True


async def test_clock_is_set_and_records_stamped_after_a_reset_are_corrected(
    home: SimulatedHome,
) -> None:
    meter = await started(home, clock_unset=True)
    try:
        assert meter.clock.written, "pairing must set the meter's clock"
        assert abs(meter.clock.now() - local_now()) < timedelta(seconds=5)
        meter.clock = DeviceClock(unset=True)  # batteries changed: the clock restarts in 2000
        meter.measure(125)
        (row,) = await readings(home, 1)
    finally:
        await meter.stop()
    assert row["device_time"].startswith("2000-01-01T00:0")
    assert row["time_source"] == "device_corrected"
    assert close_to(row["measured_at"], datetime.now(UTC))
    assert row["clock_correction_s"] > 26 * 365 * 24 * 3600
    assert abs(meter.clock.now() - local_now()) < timedelta(seconds=5)  # and it was set again


async def test_garbage_is_logged_and_the_download_carries_on(home: SimulatedHome) -> None:
    meter = await started(home, garbage_first=True)
    try:
        meter.measure(131)
        await readings(home, 1)
        await session_ended(home)
        meter.measure(133)  # the next download too starts with garbage
        rows = await readings(home, 2)
    finally:
        await meter.stop()
    assert [r["values"]["glucose_concentration"] for r in rows] == [0.00131, 0.00133]
    log = hub_log(home)
    assert log.count("unreadable value from") >= 2 and "(raw: ff)" in log
    assert "Glucose Measurement (0x2A18)" in log
    assert next(p for p in home.processes if p.name == "hub").alive()


async def test_no_records_found_ends_the_session_without_error(home: SimulatedHome) -> None:
    meter = await started(home)
    try:
        meter.measure(140)
        await readings(home, 1)
        await session_ended(home)
        meter.announce_sync()  # the patient presses the Bluetooth button: nothing new to send
        await eventually(
            lambda: "no new glucose records" in hub_log(home),
            what="the hub to hear there is nothing new",
        )
        meter.measure(145)
        rows = await readings(home, 2)
    finally:
        await meter.stop()
    assert [r["values"]["sequence_number"] for r in rows] == [1, 2]
    # The meter counted no new records the second time, so no report was asked for.
    assert [r.sequence_numbers for r in counts(meter)] == [None, (2,), (2,)]
    assert [r.sequence_numbers for r in reports(meter)] == [None, (2,)]
    log = hub_log(home)
    assert "record request answered" not in log and "(glucose meter) failed" not in log


async def test_meter_answers_the_record_access_control_point_as_the_profile_says() -> None:
    # Without a bus: what the meter would send on each characteristic, in order.
    meter = EmulatedGlucoseMeter()
    sent: list[tuple[str, bytes]] = []
    for name in ("measurement", "context", "racp"):

        async def send(value: bytes, name: str = name) -> bool:
            sent.append((name, value))
            return True

        getattr(meter, name).send = send
    meter.racp._set_notifying(True)  # as a hub subscribing to its indications
    meter.measure(100)
    meter.measure(110, context={"meal": "fasting"})
    meter.measure(120)

    async def ask(request: bytes) -> list[tuple[str, bytes]]:
        sent.clear()
        meter._on_racp_write(request)
        assert meter._procedure is not None
        await meter._procedure
        return list(sent)

    def response(op_code: int, code: ResponseCode) -> tuple[str, bytes]:
        return ("racp", bytes((OpCode.RESPONSE_CODE, 0, op_code, code)))

    assert meter.has_news
    newer = await ask(racp.report_newer_than(1))
    assert [(n, parse_glucose_measurement(v).sequence_number) for n, v in newer[:3:2]] == [
        ("measurement", 2),
        ("measurement", 3),
    ]
    assert newer[1] == ("context", meter.records[2].context)
    assert newer[3] == response(OpCode.REPORT_STORED_RECORDS, ResponseCode.SUCCESS)
    assert not meter.has_news  # the hub has had what it asked for: stop advertising
    assert await ask(racp.report_newer_than(3)) == [
        response(OpCode.REPORT_STORED_RECORDS, ResponseCode.NO_RECORDS_FOUND)
    ]
    assert await ask(racp.report_number_of_records()) == [
        ("racp", racp.build_number_of_records_response(3))
    ]
    assert await ask(racp.abort()) == [response(OpCode.ABORT_OPERATION, ResponseCode.SUCCESS)]
    assert await ask(racp.delete_all()) == [
        response(OpCode.DELETE_STORED_RECORDS, ResponseCode.OP_CODE_NOT_SUPPORTED)
    ]
    assert await ask(bytes((OpCode.REPORT_STORED_RECORDS, 0))) == [
        response(OpCode.REPORT_STORED_RECORDS, ResponseCode.INVALID_OPERATOR)
    ]
    assert await ask(bytes((OpCode.REPORT_STORED_RECORDS, 3, 2, 0, 0))) == [
        response(OpCode.REPORT_STORED_RECORDS, ResponseCode.OPERAND_NOT_SUPPORTED)
    ]
    assert [r.op_code for r in meter.racp_requests] == [1, 1, 4, 3, 2, 1, 1]
