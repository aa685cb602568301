"""Current Time (0x2A2B), Battery Level (0x2A19) and Date Time as a value of its own (0x2A08).

Vector sources (cited per case below):
  BVP_CT      eisaev/blevalueparser tests/currenttimetest.cpp (test names after the vector)
  BVP_BL      eisaev/blevalueparser tests/batteryleveltest.cpp
  NORDIC_BL   NordicSemiconductor/Android-BLE-Common-Library ble-common/src/test/java/no/
              nordicsemi/android/ble/common/callback/battery/BatteryLevelDataCallbackTest.java
  NORDIC_DT   same library, .../callback/DateTimeDataCallbackTest.java
  PHD_WP      Bluetooth SIG "Personal Health Devices Transcoding White Paper" section 2.2.6
              Current Time example "DA070C120F170600C000", as quoted by a public TypeScript GATT
              parser's current-time test
  GSS_XML     oesmith/gatt-xml org.bluetooth.characteristic.current_time.xml, exact_time_256.xml,
              day_of_week.xml; Battery Level range 0-100 (101-255 RFU) from the GSS as rendered
              by docs.embassy.dev trouble-host constant BATTERY_LEVEL
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hub.devices import battery, current_time, gatt_time
from hub.devices.battery import (
    BATTERY_LEVEL,
    BatteryLevel,
    encode_battery_level,
    parse_battery_level,
)
from hub.devices.current_time import (
    ADJUST_REASON_NAMES,
    CURRENT_TIME,
    CurrentTime,
    encode_current_time,
    parse_current_time,
)
from hub.devices.errors import ParseError
from hub.devices.gatt_time import DATE_TIME, DateTimeValue, parse_date_time_value
from tests.conftest import strict_json

# --- vectors -------------------------------------------------------------------------------

# BVP_CT Manual_255: 2023-01-02 20:22:07, Monday, fractions 255 (.996 s), manual time update.
CT_MANUAL_255 = bytes.fromhex("e707010214160701ff01")
# BVP_CT External_0: 2023-01-03, Tuesday, fractions 0, external reference time update.
CT_EXTERNAL_0 = bytes.fromhex("e7070103141607020002")
# BVP_CT TZChanged_1: 2023-01-04, Wednesday, fractions 1 (.003 s), change of time zone.
CT_TZ_1 = bytes.fromhex("e7070104141607030104")
# BVP_CT DSTChanged_128: 2023-01-05, Thursday, fractions 128 (.500 s), change of DST.
CT_DST_128 = bytes.fromhex("e7070105141607048008")
# BVP_CT Friday / Saturday / Sunday: 2022-12-29..31 23:59:59, fractions 255, manual.
CT_FRIDAY = bytes.fromhex("e6070c1d173b3b05ff01")
CT_SATURDAY = bytes.fromhex("e6070c1e173b3b06ff01")
CT_SUNDAY = bytes.fromhex("e6070c1f173b3b07ff01")
# BVP_CT UnknownDayOfWeek: day of week 0xAA (RFU).
CT_DOW_RFU = bytes.fromhex("e6070c1f173b3baaff01")
# BVP_CT NoReason: 2023-02-06 14:47:42, day of week 0 (not known), no adjust reason.
CT_NO_REASON = bytes.fromhex("e70702060e2f2a000000")
# BVP_CT TooShort (9 bytes) and TooLong (11 bytes).
CT_TOO_SHORT = bytes.fromhex("e7070104141607 0380".replace(" ", ""))
CT_TOO_LONG = bytes.fromhex("e707010414160703800808")
# PHD_WP 2.2.6: 2010-12-18 15:23:06, day of week not known, fractions 192 (0.75 s), no reason.
CT_PHD = bytes.fromhex("da070c120f170600c000")

CT_KEYS = ["type", "timestamp", "day_of_week", "fractions256", "adjust_reason"]


# --- Current Time 0x2A2B -------------------------------------------------------------------


def test_current_time_manual_255_bvp() -> None:
    ct = parse_current_time(CT_MANUAL_255)
    assert ct == CurrentTime(
        timestamp=datetime(2023, 1, 2, 20, 22, 7),
        day_of_week_code=1,
        fractions256=255,
        adjust_reason=("manual_time_update",),
    )
    assert ct.to_json() == {
        "type": "current_time",
        "timestamp": "2023-01-02T20:22:07",
        "day_of_week": 1,
        "fractions256": 255,
        "adjust_reason": ["manual_time_update"],
    }
    assert list(ct.to_json()) == CT_KEYS
    # BVP_CT expects 996 ms; we round 255/256 s up to whole microseconds.
    assert ct.exact_timestamp == datetime(2023, 1, 2, 20, 22, 7, 996094)


@pytest.mark.parametrize(
    ("data", "timestamp", "day_of_week", "fractions256", "reasons", "milliseconds"),
    [
        (CT_EXTERNAL_0, "2023-01-03T20:22:07", 2, 0, ["external_reference_time_update"], 0),
        (CT_TZ_1, "2023-01-04T20:22:07", 3, 1, ["change_of_time_zone"], 3),
        (CT_DST_128, "2023-01-05T20:22:07", 4, 128, ["change_of_dst"], 500),
        (CT_FRIDAY, "2022-12-29T23:59:59", 5, 255, ["manual_time_update"], 996),
        (CT_SATURDAY, "2022-12-30T23:59:59", 6, 255, ["manual_time_update"], 996),
        (CT_SUNDAY, "2022-12-31T23:59:59", 7, 255, ["manual_time_update"], 996),
        (CT_NO_REASON, "2023-02-06T14:47:42", None, 0, [], 0),  # day 0: not known
        (CT_DOW_RFU, "2022-12-31T23:59:59", "reserved", 255, ["manual_time_update"], 996),
        (CT_PHD, "2010-12-18T15:23:06", None, 192, [], 750),
    ],
)
def test_current_time_vectors(
    data: bytes,
    timestamp: str,
    day_of_week: int | str | None,
    fractions256: int,
    reasons: list[str],
    milliseconds: int,
) -> None:
    ct = parse_current_time(data)
    assert ct.to_json() == {
        "type": "current_time",
        "timestamp": timestamp,
        "day_of_week": day_of_week,
        "fractions256": fractions256,
        "adjust_reason": reasons,
    }
    assert ct.exact_timestamp is not None
    assert ct.exact_timestamp.microsecond // 1000 == milliseconds  # BVP_CT milliseconds()


def test_current_time_too_short_bvp() -> None:
    with pytest.raises(ParseError) as excinfo:
        parse_current_time(CT_TOO_SHORT)
    assert excinfo.value.field == "adjust_reason"
    assert excinfo.value.characteristic == CURRENT_TIME
    assert "only 9 bytes long (at least 10 are required)" in str(excinfo.value)


def test_current_time_too_long_accepted() -> None:
    # BVP_CT TooLong is invalid there; we accept and count the extra byte (module docstring).
    ct = parse_current_time(CT_TOO_LONG)
    assert ct.trailing_bytes == 1
    assert ct.fractions256 == 128
    assert "trailing_bytes" not in ct.to_json()


def _field_at(length: int) -> str:
    layout = [(7, "timestamp"), (8, "day_of_week"), (9, "fractions256"), (10, "adjust_reason")]
    return next(name for end, name in layout if length < end)


@pytest.mark.parametrize("length", range(len(CT_MANUAL_255)))
def test_current_time_truncated_at_every_byte(length: int) -> None:
    with pytest.raises(ParseError) as excinfo:
        parse_current_time(CT_MANUAL_255[:length])
    assert excinfo.value.field == _field_at(length)
    if length:
        assert f"only {length} bytes long" in str(excinfo.value)
    else:
        assert "empty" in str(excinfo.value)


def test_current_time_date_not_known() -> None:
    # Year/month/day 0: timestamp null, the rest still reported.
    ct = parse_current_time(bytes(7) + bytes([0, 10, 0x01]))
    assert ct.timestamp is None
    assert ct.exact_timestamp is None
    assert ct.to_json() == {
        "type": "current_time",
        "timestamp": None,
        "day_of_week": None,
        "fractions256": 10,
        "adjust_reason": ["manual_time_update"],
    }


@pytest.mark.parametrize(
    ("date_time", "field"),
    [
        ("e7070d02141607", "timestamp.month"),
        ("e7070102181607", "timestamp.hours"),
        ("e707010214163c", "timestamp.seconds"),
        ("e707021e141607", "timestamp.day"),  # 30 February
    ],
)
def test_current_time_invalid_date_time(date_time: str, field: str) -> None:
    data = bytes.fromhex(date_time + "01ff01")
    with pytest.raises(ParseError) as excinfo:
        parse_current_time(data)
    assert excinfo.value.field == field
    assert excinfo.value.characteristic == CURRENT_TIME


def test_current_time_rfu_adjust_bits_ignored() -> None:
    value = CT_MANUAL_255[:9] + bytes([0xF1])
    assert parse_current_time(value) == parse_current_time(CT_MANUAL_255)
    assert parse_current_time(CT_MANUAL_255[:9] + b"\x0f").adjust_reason == ADJUST_REASON_NAMES


@pytest.mark.parametrize("code", range(256))
def test_current_time_every_day_of_week(code: int) -> None:
    # GSS_XML day_of_week.xml: 0 not known, 1 Monday .. 7 Sunday; 8-255 RFU.
    out = parse_current_time(CT_SUNDAY[:7] + bytes([code]) + CT_SUNDAY[8:]).to_json()
    expected = None if code == 0 else code if code <= 7 else "reserved"
    assert out["day_of_week"] == expected


# --- encode_current_time -------------------------------------------------------------------


def test_encode_reproduces_bvp_vectors() -> None:
    manual = encode_current_time(datetime(2023, 1, 2, 20, 22, 7, 996094), ["manual_time_update"])
    assert manual == CT_MANUAL_255
    dst = encode_current_time(datetime(2023, 1, 5, 20, 22, 7, 500000), ["change_of_dst"])
    assert dst == CT_DST_128
    # BVP_CT's Sunday vector says 2022-12-31, which was a Saturday (its Friday/Saturday
    # vectors are one day off too). The parser reports the day as sent; the encoder computes
    # it, so only the day-of-week byte differs.
    sunday = encode_current_time(
        datetime(2022, 12, 31, 23, 59, 59, 999999), adjust_reason=("manual_time_update",)
    )
    assert sunday == CT_SUNDAY[:7] + bytes([6]) + CT_SUNDAY[8:]
    assert encode_current_time(
        datetime(2023, 1, 3, 20, 22, 7), ["external_reference_time_update"]
    ) == (CT_EXTERNAL_0)


def test_encode_sets_iso_weekday_and_default_reason() -> None:
    # 2010-12-18 (PHD_WP's date) was a Saturday: ISO weekday 6, not the 0 the example sends.
    data = encode_current_time(datetime(2010, 12, 18, 15, 23, 6, 750000))
    assert data == CT_PHD[:7] + bytes([6, 192, 0])


@pytest.mark.parametrize(
    ("dt", "reasons", "message"),
    [
        (datetime(2026, 3, 1, 12, tzinfo=UTC), (), "naive local time"),
        (datetime(2026, 3, 1, 12), ["leap_second"], "unknown adjust reason"),
        (datetime(1500, 3, 1, 12), (), "1582-9999"),
    ],
)
def test_encode_rejects(dt: datetime, reasons: Any, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        encode_current_time(dt, reasons)


_NAIVE = st.datetimes(
    min_value=datetime(1582, 1, 1), max_value=datetime(9999, 12, 31, 23, 59, 59, 999999)
)
_REASONS = st.sets(st.sampled_from([n for n in ADJUST_REASON_NAMES if n]))


@given(dt=_NAIVE, reasons=_REASONS, trailing=st.binary(max_size=3))
def test_current_time_round_trip(dt: datetime, reasons: set[str], trailing: bytes) -> None:
    data = encode_current_time(dt, reasons)
    assert len(data) == 10
    ct = parse_current_time(data + trailing)
    assert ct.timestamp == dt.replace(microsecond=0)
    assert ct.day_of_week == dt.isoweekday()
    assert ct.fractions256 == dt.microsecond * 256 // 1_000_000
    assert set(ct.adjust_reason) == reasons
    assert ct.trailing_bytes == len(trailing)
    # Fractions round down: the device clock is never ahead of dt, and never 1/256 s behind.
    assert ct.exact_timestamp is not None
    assert timedelta(0) <= dt - ct.exact_timestamp < timedelta(seconds=1 / 256)
    assert encode_current_time(ct.exact_timestamp, reasons) == data
    strict_json(ct.to_json())


# --- Battery Level 0x2A19 ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "level"),
    [
        (b"\x64", 100),  # NORDIC_BL onBatteryLevelChanged_fullBattery; BVP_BL Full
        (b"\x0f", 15),  # NORDIC_BL onBatteryLevelChanged_lowBattery
        (b"\x00", 0),  # BVP_BL Zero
        (b"\x63", 99),  # BVP_BL ToString
    ],
)
def test_battery_level_vectors(data: bytes, level: int) -> None:
    parsed = parse_battery_level(data)
    assert parsed == BatteryLevel(battery_level=level)
    assert parsed.to_json() == {"type": "battery_level", "battery_level": level}
    assert list(parsed.to_json()) == ["type", "battery_level"]


@pytest.mark.parametrize(
    ("data", "level"),
    [
        (b"\x65", 101),  # NORDIC_BL onInvalidDataReceived_batteryLevelOutOfRange
        (b"\x92", 146),  # BVP_BL Unreal
        (b"\xff", 255),
    ],
)
def test_battery_level_out_of_range(data: bytes, level: int) -> None:
    with pytest.raises(ParseError) as excinfo:
        parse_battery_level(data)
    err = excinfo.value
    assert err.field == "battery_level"
    assert err.characteristic == BATTERY_LEVEL
    assert str(err) == (
        f"Battery Level (0x2A19): battery level {level} is outside 0-100 % (101-255 are "
        f"reserved for future use) (raw: {data.hex()})"
    )


def test_battery_level_empty() -> None:
    with pytest.raises(ParseError, match=r"empty.*\(raw: <empty>\)") as excinfo:
        parse_battery_level(b"")
    assert excinfo.value.field == "battery_level"


def test_battery_level_trailing_byte_accepted() -> None:
    # NORDIC_BL onInvalidDataReceived_dataTooLong ([0x64, 0x00]) is rejected there; we accept
    # and count the extra byte (module docstring).
    parsed = parse_battery_level(b"\x64\x00")
    assert parsed.battery_level == 100
    assert parsed.trailing_bytes == 1
    assert "trailing_bytes" not in parsed.to_json()


@pytest.mark.parametrize("level", range(256))
def test_battery_level_every_byte(level: int) -> None:
    if level <= 100:
        assert parse_battery_level(bytes([level])).battery_level == level
    else:
        with pytest.raises(ParseError, match="outside 0-100"):
            parse_battery_level(bytes([level]))


@given(level=st.integers(0, 100))
def test_battery_level_round_trip(level: int) -> None:
    assert parse_battery_level(encode_battery_level(level)) == BatteryLevel(level)


@pytest.mark.parametrize("level", [-1, 101, 256, True, 50.0, "50"])
def test_encode_battery_level_rejects(level: Any) -> None:
    with pytest.raises(ValueError, match="0-100"):
        encode_battery_level(level)


# --- Date Time 0x2A08 as a value -----------------------------------------------------------


def test_date_time_value_nordic() -> None:
    # NORDIC_DT: 2018-04-17 15:51:00.
    value = parse_date_time_value(bytes([0xE2, 0x07, 4, 17, 15, 51, 0]))
    assert value == DateTimeValue(datetime(2018, 4, 17, 15, 51))
    assert value.to_json() == {"type": "date_time", "timestamp": "2018-04-17T15:51:00"}


def test_date_time_value_not_known_nordic() -> None:
    # NORDIC_DT dateNotKnown: year/month/day 0 -> null.
    value = parse_date_time_value(bytes([0, 0, 0, 0, 18, 26, 32]))
    assert value.to_json() == {"type": "date_time", "timestamp": None}


@pytest.mark.parametrize("data", [b"", bytes(6), bytes(8)])
def test_date_time_value_wrong_length(data: bytes) -> None:
    # The wrapper keeps parse_date_time's rule: exactly 7 bytes.
    with pytest.raises(ParseError, match="exactly 7 bytes") as excinfo:
        parse_date_time_value(data)
    assert excinfo.value.characteristic == DATE_TIME


# --- properties: nothing but ParseError, for any bytes -------------------------------------

_PARSERS: list[Callable[[bytes], Any]] = [
    parse_current_time,
    parse_battery_level,
    parse_date_time_value,
]


@pytest.mark.parametrize("parser", _PARSERS, ids=lambda p: p.__name__)
@given(data=st.binary(max_size=24))
def test_any_bytes_parse_or_parse_error(parser: Callable[[bytes], Any], data: bytes) -> None:
    try:
        out = parser(data).to_json()
    except ParseError as err:
        assert data.hex() in str(err) or not data
        return
    json.loads(strict_json(out))


@given(data=st.binary(min_size=10, max_size=12))
def test_current_time_fuzz_full_length(data: bytes) -> None:
    # Full-length values reach the Date Time range checks rather than the length check.
    try:
        parse_current_time(data)
    except ParseError as err:
        assert err.field is not None and err.field.startswith("timestamp.")


# --- PARSERS tables ------------------------------------------------------------------------


def test_parsers_tables() -> None:
    assert dict(current_time.PARSERS) == {0x2A2B: (CURRENT_TIME, parse_current_time)}
    assert dict(battery.PARSERS) == {0x2A19: (BATTERY_LEVEL, parse_battery_level)}
    assert dict(gatt_time.PARSERS) == {0x2A08: (DATE_TIME, parse_date_time_value)}
    assert current_time.PARSERS[0x2A2B][1](CT_PHD).to_json()["type"] == "current_time"
    assert battery.PARSERS[0x2A19][1](b"\x32").to_json()["type"] == "battery_level"
    assert gatt_time.PARSERS[0x2A08][1](CT_PHD[:7]).to_json()["type"] == "date_time"
    for table in (current_time.PARSERS, battery.PARSERS, gatt_time.PARSERS):
        for uuid, (name, _) in table.items():
            assert name.endswith(f"(0x{uuid:04X})")
