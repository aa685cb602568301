"""When a reading was taken (device clock rules) and whether it succeeded (outcome rules)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from hub.core.outcome import assess
from hub.core.timing import ClockCheck, ReadingTime, device_clock_offset, resolve_time

OSLO = ZoneInfo("Europe/Oslo")
# 22 November 2026, 10:40:30 UTC is 11:40:30 in Oslo (CET, UTC+1).
RECEIVED = datetime(2026, 11, 22, 10, 40, 30, tzinfo=UTC)


NO_CLOCK_CHECK = ClockCheck()


def resolve(
    device_time: datetime | None, clock: ClockCheck = NO_CLOCK_CHECK, **kw: bool
) -> ReadingTime:
    kw.setdefault("hub_clock_synced", True)
    return resolve_time(device_time, RECEIVED, OSLO, clock, **kw)


def test_device_stamp_is_local_time_in_the_homes_zone() -> None:
    t = resolve(datetime(2026, 11, 22, 11, 40, 0))
    assert (t.time_source, t.measured_at) == ("device", "2026-11-22T10:40:00+00:00")
    assert t.device_time == "2026-11-22T11:40:00"
    assert t.clock_correction_s is None and t.hub_clock_synced


def test_summer_time_stamp_uses_cest() -> None:
    received = datetime(2026, 7, 1, 12, 0, 30, tzinfo=UTC)
    t = resolve_time(
        datetime(2026, 7, 1, 14, 0), received, OSLO, ClockCheck(), hub_clock_synced=True
    )
    assert t.measured_at == "2026-07-01T12:00:00+00:00"


def test_no_stamp_falls_back_to_receive_time() -> None:
    t = resolve(None)
    assert (t.time_source, t.measured_at, t.device_time) == (
        "hub_received",
        "2026-11-22T10:40:30+00:00",
        None,
    )


@pytest.mark.parametrize("year", [2000, 2021, 2025])
def test_stamp_from_before_the_hub_was_built_is_not_trusted(year: int) -> None:
    t = resolve(datetime(year, 1, 1, 0, 5))
    assert t.time_source == "hub_received"
    assert t.device_time == f"{year}-01-01T00:05:00"  # kept as sent


def test_clock_offset_measured_at_connect_corrects_stored_records() -> None:
    # The cuff's clock was reset to 2000-01-01 00:00 by a battery change 3 days ago.
    device_now = datetime(2000, 1, 4, 0, 0, 0)
    hub_now = datetime(2026, 11, 22, 11, 40, 30)
    offset = device_clock_offset(device_now, hub_now)
    assert offset == hub_now - device_now
    t = resolve(datetime(2000, 1, 3, 8, 0, 0), ClockCheck(offset=offset))
    assert t.time_source == "device_corrected"
    assert t.measured_at == "2026-11-21T18:40:30+00:00"  # 19:40:30 Oslo, the day before
    assert t.clock_correction_s == offset.total_seconds()


def test_record_stamped_after_the_clock_was_set_is_not_corrected_again() -> None:
    # A thermometer measuring while connected: the hub found its clock in 2000 and set it at
    # 11:40:00; this record was stamped by the clock the hub set.
    written_at = datetime(2026, 11, 22, 11, 40, 0)
    clock = ClockCheck(
        offset=written_at - datetime(2000, 1, 4), clock_written=True, written_at=written_at
    )
    t = resolve(datetime(2026, 11, 22, 11, 40, 20), clock)
    assert (t.time_source, t.clock_correction_s) == ("device", None)
    assert t.measured_at == "2026-11-22T10:40:20+00:00"
    old = resolve(datetime(2000, 1, 3, 23, 0), clock)  # stamped before, by the wrong clock
    assert old.time_source == "device_corrected"


def test_small_drift_is_no_correction() -> None:
    hub_now = datetime(2026, 11, 22, 11, 40, 30)
    assert device_clock_offset(hub_now - timedelta(seconds=90), hub_now) is None
    assert device_clock_offset(None, hub_now) is None
    assert device_clock_offset(hub_now - timedelta(minutes=3), hub_now) == timedelta(minutes=3)


def test_stamp_in_the_future_is_not_trusted_when_the_hub_clock_is_synced() -> None:
    future = datetime(2026, 11, 22, 12, 0, 0)  # 19.5 min after receipt (Oslo time)
    assert resolve(future).time_source == "hub_received"
    # A hub that does not know the time cannot call the device wrong.
    assert resolve(future, hub_clock_synced=False).time_source == "device"


# A device clock or stamp at the ends of the calendar (a hostile or broken device): the reading is
# kept, timed by the hub, never an OverflowError that stops the daemon (review of issue 12).
EDGES = [
    # clock reads 9999-12-31 when the record is an hour old: stamp + offset is before year 1
    (
        datetime(2026, 11, 22, 10, 40),
        ClockCheck(offset=datetime(2026, 11, 22, 11, 40) - datetime(9999, 12, 31, 23, 0)),
        False,
        OSLO,
    ),
    # a stamp at the end of year 9999, in a zone west of UTC, on an unsynchronised hub
    (datetime(9999, 12, 31, 23, 30), NO_CLOCK_CHECK, False, ZoneInfo("America/New_York")),
    # the same stamp with a clock that is far behind
    (datetime(9999, 12, 31, 23, 30), ClockCheck(offset=timedelta(days=3000)), False, OSLO),
]


@pytest.mark.parametrize(("stamp", "clock", "synced", "zone"), EDGES)
def test_a_stamp_or_clock_beyond_the_calendar_is_timed_by_the_hub(
    stamp: datetime, clock: ClockCheck, synced: bool, zone: ZoneInfo
) -> None:
    t = resolve_time(stamp, RECEIVED, zone, clock, hub_clock_synced=synced)
    assert t.time_source == "hub_received"
    assert t.measured_at == RECEIVED.isoformat(timespec="seconds")
    assert t.device_time == stamp.isoformat(timespec="seconds")  # what the device said, kept


def test_device_saying_its_clock_is_unset_is_not_trusted() -> None:
    t = resolve(datetime(2026, 11, 22, 11, 40), device_clock_unset=True)
    assert t.time_source == "hub_received"


def test_blood_pressure_with_special_values_fails() -> None:
    a = assess(
        "blood_pressure",
        {
            "systolic": "NaN",
            "diastolic": 80.0,
            "pulse_rate": 60.0,
            "measurement_status": ["pulse_rate_within_range"],
        },
    )
    assert a.outcome == "failed" and a.problems == ("systolic_NaN",)


def test_blood_pressure_flags_keep_the_numbers() -> None:
    a = assess(
        "blood_pressure",
        {
            "systolic": 128.0,
            "diastolic": 80.0,
            "mean_arterial_pressure": "NRes",
            "measurement_status": [
                "body_movement_detected",
                "cuff_too_loose",
                "pulse_rate_within_range",
            ],
        },
    )
    assert a.outcome == "flagged"
    assert a.problems == ("mean_arterial_pressure_NRes", "body_movement_detected", "cuff_too_loose")


def test_clean_reading_is_ok() -> None:
    a = assess(
        "blood_pressure",
        {"systolic": 128.0, "diastolic": 80.0, "measurement_status": ["pulse_rate_within_range"]},
    )
    assert (a.outcome, a.problems) == ("ok", ())


def test_unsuccessful_weight_fails() -> None:
    a = assess("weight", {"weight": None, "measurement_unsuccessful": True})
    assert (a.outcome, a.problems) == ("failed", ("measurement_unsuccessful",))


def test_oximeter_invalid_measurement_fails_and_low_perfusion_flags() -> None:
    assert assess(
        "spo2",
        {"spo2": 97.0, "pulse_rate": 70.0, "measurement_status": ["invalid_measurement_detected"]},
    ).outcome == ("failed")
    a = assess(
        "spo2",
        {"spo2": 97.0, "pulse_rate": 70.0, "device_and_sensor_status": ["low_perfusion_detected"]},
    )
    assert (a.outcome, a.problems) == ("flagged", ("low_perfusion_detected",))


def test_glucose_beyond_meter_range_is_kept_flagged_strip_error_fails() -> None:
    high = assess(
        "glucose", {"glucose_concentration": 0.006, "sensor_status": ["sensor_result_too_high"]}
    )
    assert high.outcome == "flagged"
    strip = assess(
        "glucose", {"glucose_concentration": 0.006, "sensor_status": ["strip_insertion_error"]}
    )
    assert strip.outcome == "failed"


def test_temperature_special_value_fails() -> None:
    assert assess("temperature", {"temperature": "+INF", "unit": "C"}).outcome == "failed"
