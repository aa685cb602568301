"""From a device value to a stored reading: decode, assess, time, and the key that recognises
a record the device sends again (hub/daemon.py to_reading, a pure function)."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from hub.core.care_plan import CarePlan
from hub.core.pipeline import to_reading
from hub.core.timing import ClockCheck
from hub.devices.blood_pressure import build_blood_pressure_measurement
from hub.devices.events import DeviceValue
from hub.devices.ieee11073 import SpecialValue
from hub.devices.profiles import sig_uuid

OSLO = ZoneInfo("Europe/Oslo")
BPM = sig_uuid(0x2A35)
STAMP = datetime(2026, 11, 22, 11, 40, 0)


def value(
    data: bytes,
    characteristic: str = BPM,
    clock: ClockCheck = ClockCheck(),  # noqa: B008
    address: str = "00:BB:00:00:00:02",
) -> DeviceValue:
    return DeviceValue(address, characteristic, data, "2026-11-22T10:40:30.000+00:00", clock, True)


def test_reading_keeps_device_time_and_knows_when_it_was_measured() -> None:
    reading = to_reading(
        value(build_blood_pressure_measurement(128, 82, 97, timestamp=STAMP)), OSLO
    )
    assert reading is not None
    assert (reading.kind, reading.outcome, reading.time_source) == (
        "blood_pressure",
        "ok",
        "device",
    )
    assert reading.device_time == "2026-11-22T11:40:00"
    assert reading.measured_at == "2026-11-22T10:40:00+00:00"
    assert reading.values["systolic"] == 128.0


def test_same_record_again_has_the_same_key_a_new_one_does_not() -> None:
    data = build_blood_pressure_measurement(128, 82, 97, timestamp=STAMP)
    first, again = (to_reading(value(data), OSLO) for _ in range(2))
    other = to_reading(
        value(
            build_blood_pressure_measurement(128, 82, 97, timestamp=STAMP + timedelta(minutes=1))
        ),
        OSLO,
    )
    elsewhere = to_reading(value(data, address="00:BB:00:00:00:09"), OSLO)
    assert first and again and other and elsewhere
    assert first.record_key is not None and first.record_key == again.record_key
    assert len({first.record_key, other.record_key, elsewhere.record_key}) == 3


def test_value_without_stamp_or_number_has_no_key() -> None:
    reading = to_reading(value(build_blood_pressure_measurement(128, 82, 97)), OSLO)
    assert reading is not None and reading.record_key is None
    assert reading.time_source == "hub_received"


def test_failed_measurement_is_stored_failed() -> None:
    data = build_blood_pressure_measurement(SpecialValue.NRES, 82, 97, timestamp=STAMP)
    reading = to_reading(value(data), OSLO)
    assert reading is not None
    assert (reading.outcome, reading.problems) == ("failed", ("systolic_NRes",))


def test_correction_measured_at_connect_is_applied() -> None:
    reading = to_reading(
        value(
            build_blood_pressure_measurement(128, 82, 97, timestamp=datetime(2000, 1, 1, 0, 10)),
            clock=ClockCheck(
                offset=datetime(2026, 11, 22, 11, 30) - datetime(2000, 1, 1), clock_written=True
            ),
        ),
        OSLO,
    )
    assert reading is not None
    assert reading.time_source == "device_corrected"
    assert reading.measured_at == "2026-11-22T10:40:00+00:00"


@pytest.mark.parametrize("garbage", [b"", b"\xff", b"\x1e\x80"])
def test_garbage_is_none_not_an_exception(garbage: bytes, caplog: pytest.LogCaptureFixture) -> None:
    assert to_reading(value(garbage), OSLO) is None
    assert f"(raw: {garbage.hex() or '<empty>'})" in caplog.text


def test_value_on_a_characteristic_the_hub_does_not_store_is_ignored() -> None:
    assert to_reading(value(b"\x00\x01", characteristic=sig_uuid(0x2A49)), OSLO) is None


def test_a_bug_met_by_a_value_keeps_its_bytes_as_a_failed_reading(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Whatever goes wrong after decoding (here a care plan that is not one, as a bug would
    leave it) never stops the daemon and never drops the device's bytes (review of issue 12)."""
    broken = CarePlan.model_construct(thresholds={"blood_pressure": {"systolic": "no limit"}})
    data = build_blood_pressure_measurement(128, 82, 97, timestamp=STAMP)
    reading = to_reading(value(data), OSLO, plan=broken)
    assert reading is not None
    assert (reading.outcome, reading.problems, reading.raw_hex) == (
        "failed",
        ("hub_could_not_assess",),
        data.hex(),
    )
    assert reading.measured_at is None  # stored as received: the hub's own time
    assert "stored as failed with its raw bytes" in caplog.text
