"""Blood Pressure Measurement / Intermediate Cuff Pressure / Feature, Date Time and decode().

Vector sources (cited per case below):
  NORDIC_BPM  NordicSemiconductor/Android-BLE-Common-Library ble-common/src/test/java/no/
              nordicsemi/android/ble/common/callback/bps/BloodPressureMeasurementDataCallbackTest.java
  NORDIC_ICP  same directory, IntermediateCuffPressureDataCallbackTest.java
  NORDIC_DT   NordicSemiconductor/Android-BLE-Common-Library ble-common/src/test/java/no/
              nordicsemi/android/ble/common/callback/DateTimeDataCallbackTest.java
  BVP_DT      eisaev/blevalueparser tests/datetimetest.cpp
  SPEZI       StanfordSpezi/SpeziDevices Tests/SpeziDevicesTests/HealthMeasurementsTests.swift
              ("features": 257 in its blood pressure fixture)
  GSS         Bluetooth GATT Specification Supplement field tables for 0x2A35, 0x2A36, 0x2A49,
              0x2A08 (as rendered in docs.embassy.dev trouble-host characteristic constants);
              feature bits 0-5 also in wireshark/wireshark epan/dissectors/packet-btatt.c,
              bits 6-8 in StanfordSpezi/SpeziBluetooth
              Sources/SpeziBluetoothServices/Characteristics/BloodPressureFeature.swift
"""

from __future__ import annotations

import json
import pickle
from collections.abc import Callable
from datetime import datetime
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hub.devices.blood_pressure import (
    FEATURE_NAMES,
    UNKNOWN_USER,
    BloodPressureFeature,
    BloodPressureMeasurement,
    IntermediateCuffPressure,
    build_blood_pressure_feature,
    build_blood_pressure_measurement,
    build_intermediate_cuff_pressure,
    decode_measurement_status,
    encode_measurement_status,
    parse_blood_pressure_feature,
    parse_blood_pressure_measurement,
    parse_intermediate_cuff_pressure,
)
from hub.devices.decode import decode, short_uuid
from hub.devices.errors import ParseError
from hub.devices.gatt_time import encode_date_time, parse_date_time
from hub.devices.ieee11073 import SpecialValue
from tests.conftest import strict_json

# --- vectors -------------------------------------------------------------------------------

# NORDIC_BPM onBloodPressureMeasurementReceived_full: flags 0x1E, 138/88/120 mmHg, Date Time with
# year 0 (so "not known"), pulse 60, user 1, status 0b100111.
BPM_FULL = bytes.fromhex("1e8a00580078000000041114293b3c00012700")
# NORDIC_BPM onBloodPressureMeasurementReceived_some: flags 0x15, kPa 18.9/11/15.9, pulse 60,
# status 0b010010 (cuff too loose, pulse below lower limit).
BPM_SOME = bytes.fromhex("15bdf00b009ff03c001200")
# NORDIC_BPM onBloodPressureMeasurementReceived_minimal: flags 0, 18.9/11/15.9 mmHg.
BPM_MINIMAL = bytes.fromhex("00bdf00b009ff0")
# NORDIC_BPM onInvalidDataReceived_toShort / _noTimestamp.
BPM_TOO_SHORT = bytes([1, 2, 3, 4, 5, 6])
BPM_NO_TIMESTAMP = bytes([3, 2, 3, 4, 5, 6, 7])

# NORDIC_ICP _full: cuff 4 mmHg; unused diastolic/MAP sent as 0, not NaN.
ICP_FULL = bytes.fromhex("1e0400000000000000041114293b3c00012700")
# NORDIC_ICP _some: 11.1 kPa, pulse 60, status 0b010010.
ICP_SOME = bytes.fromhex("156ff0000000003c001200")
# NORDIC_ICP _minimal: 21.5 mmHg.
ICP_MINIMAL = bytes.fromhex("00d7f000000000")

FULL_STATUS = (
    "body_movement_detected",
    "cuff_too_loose",
    "irregular_pulse_detected",
    "pulse_rate_within_range",
    "improper_measurement_position",
)

BPM_KEYS = {
    "type",
    "systolic",
    "diastolic",
    "mean_arterial_pressure",
    "unit",
    "timestamp",
    "pulse_rate",
    "user_id",
    "measurement_status",
}
ICP_KEYS = {
    "type",
    "cuff_pressure",
    "unit",
    "timestamp",
    "pulse_rate",
    "user_id",
    "measurement_status",
}


# --- Blood Pressure Measurement 0x2A35 -----------------------------------------------------


def test_bpm_full_nordic() -> None:
    m = parse_blood_pressure_measurement(BPM_FULL)
    assert m == BloodPressureMeasurement(
        systolic=138.0,
        diastolic=88.0,
        mean_arterial_pressure=120.0,
        unit="mmHg",
        timestamp=None,  # year 0 in the vector: date not known
        pulse_rate=60.0,
        user_id=1,
        measurement_status=FULL_STATUS,
    )
    assert m.trailing_bytes == 0


def test_bpm_some_nordic_kpa() -> None:
    m = parse_blood_pressure_measurement(BPM_SOME)
    assert (m.systolic, m.diastolic, m.mean_arterial_pressure) == (18.9, 11.0, 15.9)
    assert m.unit == "kPa"
    assert m.timestamp is None
    assert m.pulse_rate == 60.0
    assert m.user_id is None
    assert m.measurement_status == ("cuff_too_loose", "pulse_rate_below_lower_limit")


def test_bpm_minimal_nordic() -> None:
    m = parse_blood_pressure_measurement(BPM_MINIMAL)
    assert m == BloodPressureMeasurement(18.9, 11.0, 15.9, "mmHg")
    assert m.to_json() == {
        "type": "blood_pressure_measurement",
        "systolic": 18.9,
        "diastolic": 11.0,
        "mean_arterial_pressure": 15.9,
        "unit": "mmHg",
        "timestamp": None,
        "pulse_rate": None,
        "user_id": None,
        "measurement_status": None,
    }


def test_bpm_to_json_full() -> None:
    value = build_blood_pressure_measurement(
        121,
        79,
        93,
        timestamp=datetime(2026, 11, 22, 10, 42),
        pulse_rate=64,
        user_id=2,
        measurement_status=["irregular_pulse_detected"],
    )
    out = parse_blood_pressure_measurement(value).to_json()
    assert set(out) == BPM_KEYS
    assert out["timestamp"] == "2026-11-22T10:42:00"
    assert out["measurement_status"] == ["irregular_pulse_detected", "pulse_rate_within_range"]
    assert json.loads(strict_json(out)) == out


@pytest.mark.parametrize(
    ("data", "length"),
    [(BPM_TOO_SHORT, 6), (b"\x00", 1), (b"\x00\x78\x00\x50", 4)],
)
def test_bpm_too_short_for_compound_value(data: bytes, length: int) -> None:
    # NORDIC_BPM onInvalidDataReceived_toShort (6 bytes) plus shorter cuts.
    with pytest.raises(ParseError, match=f"only {length} bytes long"):
        parse_blood_pressure_measurement(data)


def test_bpm_flag_promises_missing_timestamp_nordic() -> None:
    # NORDIC_BPM onInvalidDataReceived_noTimestamp: flags 0x03 but nothing after the compound.
    with pytest.raises(ParseError) as excinfo:
        parse_blood_pressure_measurement(BPM_NO_TIMESTAMP)
    err = excinfo.value
    assert err.field == "timestamp"
    assert err.characteristic == "Blood Pressure Measurement (0x2A35)"
    assert str(err) == (
        "Blood Pressure Measurement (0x2A35): flags 0x03 promise a time stamp (7 bytes) at "
        "byte 7 but the value is only 7 bytes long (raw: 03020304050607)"
    )


def _field_at(length: int) -> str:
    # Byte layout of BPM_FULL: which field a value cut to `length` bytes runs out in.
    layout = [
        (1, "flags"),
        (3, "systolic"),
        (5, "diastolic"),
        (7, "mean_arterial_pressure"),
        (14, "timestamp"),
        (16, "pulse_rate"),
        (17, "user_id"),
        (19, "measurement_status"),
    ]
    return next(name for end, name in layout if length < end)


@pytest.mark.parametrize("length", range(1, len(BPM_FULL)))  # 0 bytes: test_bpm_empty
def test_bpm_truncated_at_every_byte_names_the_field(length: int) -> None:
    with pytest.raises(ParseError) as excinfo:
        parse_blood_pressure_measurement(BPM_FULL[:length])
    assert excinfo.value.field == _field_at(length)
    assert f"only {length} bytes long" in str(excinfo.value)
    assert f"(raw: {BPM_FULL[:length].hex()})" in str(excinfo.value)


@pytest.mark.parametrize(
    ("flag", "field"),
    [
        (0x02, "timestamp"),
        (0x04, "pulse_rate"),
        (0x08, "user_id"),
        (0x10, "measurement_status"),
    ],
)
def test_bpm_each_flag_without_its_field(flag: int, field: str) -> None:
    data = bytes([flag]) + BPM_MINIMAL[1:]
    with pytest.raises(ParseError) as excinfo:
        parse_blood_pressure_measurement(data)
    assert excinfo.value.field == field
    assert "at byte 7" in str(excinfo.value)


def test_bpm_empty() -> None:
    with pytest.raises(ParseError, match=r"empty.*\(raw: <empty>\)") as excinfo:
        parse_blood_pressure_measurement(b"")
    assert excinfo.value.field == "flags"


def test_bpm_trailing_bytes_accepted() -> None:
    m = parse_blood_pressure_measurement(BPM_MINIMAL + b"\xaa\xbb")
    assert m.trailing_bytes == 2
    assert m.systolic == 18.9
    assert parse_blood_pressure_measurement(BPM_FULL + b"\x00").trailing_bytes == 1


def test_bpm_rfu_flag_bits_ignored() -> None:
    assert parse_blood_pressure_measurement(bytes([0xE0]) + BPM_MINIMAL[1:]) == (
        parse_blood_pressure_measurement(BPM_MINIMAL)
    )


def test_bpm_special_values() -> None:
    # A cuff that failed to measure sends NaN (0x07FF) for the compound value (GSS, HL7 PHD).
    data = bytes.fromhex("04" + "ff07" + "ff07" + "0008" + "fe07")
    m = parse_blood_pressure_measurement(data)
    assert m.systolic is SpecialValue.NAN
    assert m.mean_arterial_pressure is SpecialValue.NRES
    assert m.pulse_rate is SpecialValue.POSITIVE_INFINITY
    out = m.to_json()
    assert (out["systolic"], out["diastolic"], out["mean_arterial_pressure"]) == (
        "NaN",
        "NaN",
        "NRes",
    )
    assert out["pulse_rate"] == "+INF"
    strict_json(out)
    reserved = parse_blood_pressure_measurement(bytes.fromhex("04780050005d000108"))
    assert reserved.pulse_rate is SpecialValue.RESERVED
    assert reserved.to_json()["pulse_rate"] == "Reserved"
    minus = parse_blood_pressure_measurement(bytes.fromhex("04780050005d000208"))
    assert minus.to_json()["pulse_rate"] == "-INF"


def test_bpm_unknown_user_kept_as_255() -> None:
    data = build_blood_pressure_measurement(120, 80, 93, user_id=UNKNOWN_USER)
    assert parse_blood_pressure_measurement(data).to_json()["user_id"] == 255


def test_bpm_known_timestamp() -> None:
    # flags 0x02 + 120/80/93 mmHg + Date Time 2023-01-02 20:22:07 (BVP_DT "Normal" bytes).
    data = bytes.fromhex("02780050005d00" + "e70701021416 07".replace(" ", ""))
    m = parse_blood_pressure_measurement(data)
    assert m.timestamp == datetime(2023, 1, 2, 20, 22, 7)
    assert m.to_json()["timestamp"] == "2023-01-02T20:22:07"


@pytest.mark.parametrize(
    ("date_time", "field"),
    [
        ("e7070d021416 07", "timestamp.month"),  # month 13
        ("e707010219 1607", "timestamp.hours"),  # hour 25
        ("e7070102143c07", "timestamp.minutes"),  # minute 60
        ("e70701021416 3c", "timestamp.seconds"),  # second 60
        ("e70702201416 07", "timestamp.day"),  # 32nd of February: out of 1-31
        ("e707021e141607", "timestamp.day"),  # 30 February: in range but not a date
        ("e803010214 1607", "timestamp.year"),  # year 1000 is RFU
    ],
)
def test_bpm_invalid_timestamp_names_subfield(date_time: str, field: str) -> None:
    data = bytes.fromhex("02780050005d00" + date_time.replace(" ", ""))
    with pytest.raises(ParseError) as excinfo:
        parse_blood_pressure_measurement(data)
    assert excinfo.value.field == field
    assert excinfo.value.characteristic == "Blood Pressure Measurement (0x2A35)"
    assert data.hex() in str(excinfo.value)


# --- Measurement Status --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "names"),
    [
        (0x0000, ("pulse_rate_within_range",)),
        (0x0027, FULL_STATUS),  # NORDIC_BPM _full
        (0x0012, ("cuff_too_loose", "pulse_rate_below_lower_limit")),  # NORDIC_BPM _some
        (0x0008, ("pulse_rate_exceeds_upper_limit",)),
        (0x0018, ()),  # pulse range 3 is RFU: no range name
        (0xFFC0, ("pulse_rate_within_range",)),  # bits 6-15 RFU: ignored
    ],
)
def test_measurement_status(raw: int, names: tuple[str, ...]) -> None:
    assert decode_measurement_status(raw) == names


def test_encode_measurement_status_rejects_nonsense() -> None:
    with pytest.raises(ValueError, match="unknown measurement status"):
        encode_measurement_status(["cuff_on_fire"])
    with pytest.raises(ValueError, match="conflicting"):
        encode_measurement_status(["pulse_rate_exceeds_upper_limit", "pulse_rate_within_range"])


# --- Intermediate Cuff Pressure 0x2A36 -----------------------------------------------------


def test_icp_full_nordic() -> None:
    icp = parse_intermediate_cuff_pressure(ICP_FULL)
    assert icp == IntermediateCuffPressure(
        cuff_pressure=4.0,
        unit="mmHg",
        timestamp=None,
        pulse_rate=60.0,
        user_id=1,
        measurement_status=FULL_STATUS,
    )
    assert set(icp.to_json()) == ICP_KEYS


def test_icp_some_nordic_kpa() -> None:
    icp = parse_intermediate_cuff_pressure(ICP_SOME)
    assert (icp.cuff_pressure, icp.unit, icp.pulse_rate, icp.user_id) == (11.1, "kPa", 60.0, None)
    assert icp.measurement_status == ("cuff_too_loose", "pulse_rate_below_lower_limit")


def test_icp_minimal_nordic() -> None:
    assert parse_intermediate_cuff_pressure(ICP_MINIMAL).to_json() == {
        "type": "intermediate_cuff_pressure",
        "cuff_pressure": 21.5,
        "unit": "mmHg",
        "timestamp": None,
        "pulse_rate": None,
        "user_id": None,
        "measurement_status": None,
    }


def test_icp_unused_fields_ignored_whatever_their_value() -> None:
    nan_filled = build_intermediate_cuff_pressure(21.5, exponent=-1)
    assert nan_filled[3:7] == bytes.fromhex("ff07ff07")  # GSS: unused sub-fields are NaN
    assert parse_intermediate_cuff_pressure(nan_filled) == parse_intermediate_cuff_pressure(
        ICP_MINIMAL
    )


@pytest.mark.parametrize(
    ("data", "field"),
    [
        (b"", "flags"),
        (ICP_MINIMAL[:2], "cuff_pressure"),
        (ICP_MINIMAL[:4], "unused_diastolic"),
        (ICP_MINIMAL[:6], "unused_mean_arterial_pressure"),
        (bytes([3, 2, 3, 4, 5, 6, 7]), "timestamp"),  # NORDIC_ICP onInvalidDataReceived_noTimestamp
        (ICP_SOME[:8], "pulse_rate"),
        (ICP_FULL[:16], "user_id"),
        (ICP_FULL[:18], "measurement_status"),
    ],
)
def test_icp_truncated(data: bytes, field: str) -> None:
    with pytest.raises(ParseError) as excinfo:
        parse_intermediate_cuff_pressure(data)
    assert excinfo.value.field == field
    assert excinfo.value.characteristic == "Intermediate Cuff Pressure (0x2A36)"


def test_icp_too_short_nordic() -> None:
    # NORDIC_ICP onInvalidDataReceived_toShort.
    with pytest.raises(ParseError, match="only 6 bytes long"):
        parse_intermediate_cuff_pressure(bytes([1, 2, 3, 4, 5, 6]))


# --- Blood Pressure Feature 0x2A49 ---------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "features"),
    [
        (bytes.fromhex("0101"), ("body_movement_detection", "user_facing_time")),  # SPEZI 257
        (bytes.fromhex("0000"), ()),
        (bytes.fromhex("ff01"), FEATURE_NAMES),  # GSS bits 0-8
        (bytes.fromhex("2000"), ("multiple_bond",)),  # packet-btatt.c mask 0x20
        (bytes.fromhex("00fe"), ()),  # bits 9-15 RFU: ignored
    ],
)
def test_feature(data: bytes, features: tuple[str, ...]) -> None:
    parsed = parse_blood_pressure_feature(data)
    assert parsed == BloodPressureFeature(features)
    assert parsed.to_json() == {"type": "blood_pressure_feature", "features": list(features)}


@pytest.mark.parametrize("data", [b"", b"\x01"])
def test_feature_too_short(data: bytes) -> None:
    with pytest.raises(ParseError) as excinfo:
        parse_blood_pressure_feature(data)
    assert excinfo.value.field == "features"


def test_feature_trailing_bytes() -> None:
    assert parse_blood_pressure_feature(b"\x01\x00\x99").trailing_bytes == 1


def test_feature_builder_rejects_unknown_name() -> None:
    with pytest.raises(ValueError, match="unknown blood pressure feature"):
        build_blood_pressure_feature(["teleportation"])


# --- Date Time 0x2A08 ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (
            bytes.fromhex("e707010214 1607".replace(" ", "")),
            datetime(2023, 1, 2, 20, 22, 7),
        ),  # BVP_DT
        (bytes.fromhex("e6070c1f173b3b"), datetime(2022, 12, 31, 23, 59, 59)),  # BVP_DT ToString
        (bytes([0xE2, 0x07, 4, 17, 15, 51, 0]), datetime(2018, 4, 17, 15, 51, 0)),  # NORDIC_DT
        (bytes([0, 0, 0, 0, 18, 26, 32]), None),  # NORDIC_DT dateNotKnown
        (bytes([0, 0, 4, 17, 20, 41, 59]), None),  # year unknown only (as in NORDIC_BPM _full)
        (bytes([0xE7, 0x07, 0, 2, 0, 0, 0]), None),  # month unknown
        (bytes([0xE7, 0x07, 1, 0, 0, 0, 0]), None),  # day unknown
    ],
)
def test_date_time(data: bytes, expected: datetime | None) -> None:
    assert parse_date_time(data) == expected


@pytest.mark.parametrize(
    "data",
    [
        b"",
        bytes.fromhex("e70701021416"),  # BVP_DT TooShort; NORDIC_DT dataTooShort
        bytes.fromhex("e7070102141607 07".replace(" ", "")),  # BVP_DT TooLong
    ],
)
def test_date_time_wrong_length(data: bytes) -> None:
    with pytest.raises(ParseError, match="exactly 7 bytes"):
        parse_date_time(data)


@pytest.mark.parametrize(
    ("data", "field"),
    [
        (bytes([0xE7, 0x07, 13, 1, 0, 0, 0]), "month"),
        (bytes([0xE7, 0x07, 1, 1, 25, 0, 0]), "hours"),
        (bytes([0xE7, 0x07, 1, 1, 0, 60, 0]), "minutes"),
        (bytes([0xE7, 0x07, 1, 1, 0, 0, 60]), "seconds"),
        (bytes([0xE7, 0x07, 1, 32, 0, 0, 0]), "day"),
        (bytes([0xE7, 0x07, 4, 31, 0, 0, 0]), "day"),  # 31 April
        (bytes([0x10, 0x27, 1, 1, 0, 0, 0]), "year"),  # 10000
        (bytes([0x2D, 0x06, 1, 1, 0, 0, 0]), "year"),  # 1581, before the Gregorian range
        (bytes([0, 0, 0, 0, 24, 0, 0]), "hours"),  # time is checked even if the date is unknown
    ],
)
def test_date_time_invalid_field(data: bytes, field: str) -> None:
    with pytest.raises(ParseError) as excinfo:
        parse_date_time(data)
    assert excinfo.value.field == field
    assert excinfo.value.characteristic == "Date Time (0x2A08)"
    assert field in str(excinfo.value)


def test_date_time_encoder() -> None:
    assert encode_date_time(datetime(2022, 12, 31, 23, 59, 59)) == bytes.fromhex("e6070c1f173b3b")
    assert encode_date_time(None) == bytes(7)
    with pytest.raises(ValueError, match="1582-9999"):
        encode_date_time(datetime(1500, 1, 1))


# --- decode() ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "uuid",
    [
        "2a35",
        "2A35",
        "0x2A35",
        "0X2a35",
        " 2a35 ",
        "00002a35-0000-1000-8000-00805f9b34fb",
        "00002A35-0000-1000-8000-00805F9B34FB",
    ],
)
def test_decode_accepts_uuid_forms(uuid: str) -> None:
    assert decode(uuid, BPM_MINIMAL) == parse_blood_pressure_measurement(BPM_MINIMAL).to_json()


def test_decode_dispatches_each_characteristic() -> None:
    assert decode("2a36", ICP_MINIMAL)["type"] == "intermediate_cuff_pressure"
    assert decode("2a49", b"\x01\x01")["type"] == "blood_pressure_feature"
    assert decode("2a35", bytearray(BPM_FULL))["type"] == "blood_pressure_measurement"
    assert decode("2a35", memoryview(BPM_FULL)) == decode("2a35", BPM_FULL)


@pytest.mark.parametrize(
    "uuid",
    [
        "2a37",  # Heart Rate Measurement: valid, but not ours
        "2a37",  # Heart Rate Measurement: not a profile the hub reads
        "00002a35-0000-1000-8000-00805f9b34fc",  # vendor UUID, not the Bluetooth base
        "zzzz",
        "2a_3",
        "+a35",
        "",
        "not a uuid",
    ],
)
def test_decode_unsupported_uuid(uuid: str) -> None:
    with pytest.raises(ParseError) as excinfo:
        decode(uuid, b"\x00")
    message = str(excinfo.value)
    assert "supported:" in message
    assert "0x2A35" in message and "0x2A36" in message and "0x2A49" in message


def test_short_uuid() -> None:
    assert short_uuid("0x2A49") == 0x2A49
    assert short_uuid("00002a49-0000-1000-8000-00805f9b34fb") == 0x2A49
    assert short_uuid("12345678-1234-5678-1234-567812345678") is None


def test_parse_error_is_value_error_and_pickles() -> None:
    with pytest.raises(ValueError) as excinfo:
        decode("2a35", b"\x02")
    err = excinfo.value
    assert isinstance(err, ParseError)
    clone = pickle.loads(pickle.dumps(err))
    assert (clone.characteristic, clone.field, clone.raw, str(clone)) == (
        err.characteristic,
        err.field,
        err.raw,
        str(err),
    )


# --- properties: nothing but ParseError, for any bytes -------------------------------------

PARSERS: list[Callable[[bytes], Any]] = [
    parse_blood_pressure_measurement,
    parse_intermediate_cuff_pressure,
    parse_blood_pressure_feature,
    parse_date_time,
]


@pytest.mark.parametrize("parser", PARSERS, ids=lambda p: p.__name__)
@given(data=st.binary(max_size=40))
def test_any_bytes_parse_or_parse_error(parser: Callable[[bytes], Any], data: bytes) -> None:
    try:
        parser(data)
    except ParseError as err:
        assert data.hex() in str(err) or not data


@pytest.mark.parametrize("uuid", ["2a35", "0x2A36", "00002a49-0000-1000-8000-00805f9b34fb"])
@given(data=st.binary(max_size=40))
def test_any_bytes_decode_or_parse_error(uuid: str, data: bytes) -> None:
    try:
        out = decode(uuid, data)
    except ParseError:
        return
    json.loads(strict_json(out))


@given(data=st.binary(min_size=7, max_size=40))
def test_flagged_fields_fuzz_structured(data: bytes) -> None:
    # Force plausible flags so the fuzzing reaches the optional fields, not just the length check.
    for flags in (0x1E, 0x1F, 0x02):
        value = bytes([flags]) + data[1:]
        try:
            parse_blood_pressure_measurement(value)
        except ParseError as err:
            assert err.field is not None


# --- properties: encoder round trips -------------------------------------------------------

_SPECIALS = st.sampled_from(list(SpecialValue))
_DATETIMES = st.datetimes(
    min_value=datetime(1582, 1, 1), max_value=datetime(9999, 12, 31, 23, 59, 59)
).map(lambda d: d.replace(microsecond=0))
_STATUS_FLAGS = ["body_movement_detected", "cuff_too_loose", "irregular_pulse_detected"]
_PULSE_RANGES = [
    "pulse_rate_within_range",
    "pulse_rate_exceeds_upper_limit",
    "pulse_rate_below_lower_limit",
]


def _sfloat_at(exponent: int) -> st.SearchStrategy[float | SpecialValue]:
    specials = {2046, 2047, -2048, -2047, -2046} if exponent == 0 else set()
    mantissas = st.integers(-2048, 2047).filter(lambda m: m not in specials)
    numbers = mantissas.map(
        lambda m: float(m * 10**exponent) if exponent >= 0 else m / 10**-exponent
    )
    return st.one_of(numbers, _SPECIALS)


@st.composite
def _status(draw: st.DrawFn) -> tuple[str, ...]:
    flags = [name for name in _STATUS_FLAGS if draw(st.booleans())]
    improper = ["improper_measurement_position"] if draw(st.booleans()) else []
    return (*flags, draw(st.sampled_from(_PULSE_RANGES)), *improper)


@st.composite
def _measurement_args(draw: st.DrawFn) -> dict[str, Any]:
    exponent = draw(st.integers(-8, 7))
    pulse_exponent = draw(st.integers(-8, 7))
    return {
        "values": [draw(_sfloat_at(exponent)) for _ in range(3)],
        "unit": draw(st.sampled_from(["mmHg", "kPa"])),
        "exponent": exponent,
        "timestamp": draw(st.none() | _DATETIMES),
        "pulse_rate": draw(st.none() | _sfloat_at(pulse_exponent)),
        "pulse_rate_exponent": pulse_exponent,
        "user_id": draw(st.none() | st.integers(0, 255)),
        "measurement_status": draw(st.none() | _status()),
    }


@given(args=_measurement_args(), trailing=st.binary(max_size=4))
def test_bpm_round_trip(args: dict[str, Any], trailing: bytes) -> None:
    systolic, diastolic, mean_arterial_pressure = args.pop("values")
    data = build_blood_pressure_measurement(systolic, diastolic, mean_arterial_pressure, **args)
    parsed = parse_blood_pressure_measurement(data + trailing)
    assert parsed == BloodPressureMeasurement(
        systolic=systolic,
        diastolic=diastolic,
        mean_arterial_pressure=mean_arterial_pressure,
        unit=args["unit"],
        timestamp=args["timestamp"],
        pulse_rate=args["pulse_rate"],
        user_id=args["user_id"],
        measurement_status=args["measurement_status"],
        trailing_bytes=len(trailing),
    )
    assert decode("2a35", data) == parsed.to_json()
    strict_json(parsed.to_json())


@given(args=_measurement_args())
def test_icp_round_trip(args: dict[str, Any]) -> None:
    cuff_pressure = args.pop("values")[0]
    parsed = parse_intermediate_cuff_pressure(
        build_intermediate_cuff_pressure(cuff_pressure, **args)
    )
    assert parsed == IntermediateCuffPressure(
        cuff_pressure=cuff_pressure,
        unit=args["unit"],
        timestamp=args["timestamp"],
        pulse_rate=args["pulse_rate"],
        user_id=args["user_id"],
        measurement_status=args["measurement_status"],
    )


@given(features=st.sets(st.sampled_from(FEATURE_NAMES)))
def test_feature_round_trip(features: set[str]) -> None:
    parsed = parse_blood_pressure_feature(build_blood_pressure_feature(features))
    assert parsed.features == tuple(name for name in FEATURE_NAMES if name in features)


@given(timestamp=_DATETIMES)
def test_date_time_round_trip(timestamp: datetime) -> None:
    assert parse_date_time(encode_date_time(timestamp)) == timestamp


def test_bpm_timestamp_unknown_encoding() -> None:
    # A cuff whose clock was never set: flag present, all-zero Date Time -> null timestamp.
    data = build_blood_pressure_measurement(120, 80, 93, timestamp_unknown=True)
    assert data[0] == 0x02
    assert data[7:14] == bytes(7)
    assert parse_blood_pressure_measurement(data).to_json()["timestamp"] is None


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"unit": "cmH2O"}, "unit"),
        ({"user_id": 256}, "user_id"),
        ({"timestamp": datetime(2026, 1, 1), "timestamp_unknown": True}, "not both"),
        ({"measurement_status": ["nope"]}, "unknown measurement status"),
        ({"exponent": 9}, "exponent"),
    ],
)
def test_bpm_builder_rejects_bad_input(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        build_blood_pressure_measurement(120, 80, 93, **kwargs)


@pytest.mark.parametrize(
    ("uuid", "value", "type_"),
    [
        ("2a5e", "0062004800", "plx_spot_check"),
        ("2a5f", "0062004800", "plx_continuous"),
        ("2a60", "0000", "plx_features"),
        ("2a9d", "00b036", "weight_measurement"),
        ("2a9e", "00000000", "weight_scale_feature"),
        ("2a9c", "00006400", "body_composition_measurement"),
        ("2a1c", "00720100fe", "temperature_measurement"),
        ("2a1d", "02", "temperature_type"),
        ("2a18", "000100ea070b160a2800", "glucose_measurement"),
        ("2a34", "000100", "glucose_measurement_context"),
        ("2a51", "0000", "glucose_feature"),
        ("2a52", "06000101", "racp_response"),
        ("2a2b", "ea070b160a2800010000", "current_time"),
        ("2a08", "ea070b160a2800", "date_time"),
        ("2a19", "57", "battery_level"),
    ],
)
def test_decode_dispatches_every_profile_characteristic(uuid: str, value: str, type_: str) -> None:
    # Minimal values built from each characteristic's GSS layout; the per-profile test files
    # hold the cited vectors. This checks the dispatch table reaches every parser.
    assert decode(uuid, bytes.fromhex(value))["type"] == type_
