"""Glucose Measurement (0x2A18), Glucose Measurement Context (0x2A34) and Glucose Feature (0x2A51).

Vector sources (cited per case below):
  NORDIC_GLM  NordicSemiconductor/Android-BLE-Common-Library ble-common/src/test/java/no/
              nordicsemi/android/ble/common/callback/glucose/GlucoseMeasurementDataCallbackTest.java
  NORDIC_CTX  same directory, GlucoseMeasurementContextDataCallbackTest.java. Its values are set
              with MutableData.setValue(float, FORMAT_SFLOAT); the SFLOAT bytes below are what
              that library's sfloatToInt produces (100.0 -> 0x0064, 123.45 -> 0xF4D3 = 123.5,
              34.5 -> 0xF159).
  NORDIC_FEAT same directory, GlucoseFeatureDataCallbackTest.java
  CORDIO      ARM Cordio (Wicentric) glucose sensor sample: glps_db.c record database,
              serialised field by field as glps_main.c glpsBuildGlm / glpsBuildGlmc do
              (SFLT_TO_UINT16(m, e) = exponent nibble << 12 | mantissa).
  SIG_XML     Bluetooth SIG characteristic definitions org.bluetooth.characteristic.
              glucose_measurement.xml / glucose_measurement_context.xml / glucose_feature.xml
              (as mirrored in oesmith/gatt-xml): field order, enumerations, bit names, and the
              note that nibble fields are listed least significant nibble first.
  WIRESHARK   wireshark/wireshark epan/dissectors/packet-btatt.c: Type-Sample Location masks
              (type 0x0F, location 0xF0), sensor status masks (0x0020 result too high, 0x0040
              result too low).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hub.devices import glucose
from hub.devices.errors import ParseError
from hub.devices.glucose import (
    CARBOHYDRATE_ID_NAMES,
    FEATURE_NAMES,
    HEALTH_NAMES,
    MEAL_NAMES,
    MEDICATION_ID_NAMES,
    SAMPLE_LOCATION_NAMES,
    SAMPLE_TYPE_NAMES,
    SENSOR_STATUS_NAMES,
    TESTER_NAMES,
    GlucoseFeature,
    GlucoseMeasurement,
    GlucoseMeasurementContext,
    build_glucose_context,
    build_glucose_feature,
    build_glucose_measurement,
    parse_glucose_feature,
    parse_glucose_measurement,
    parse_glucose_measurement_context,
)
from hub.devices.ieee11073 import SpecialValue
from tests.conftest import strict_json

# --- vectors -------------------------------------------------------------------------------

# NORDIC_GLM onGlucoseMeasurementReceived: flags 0b011011 (time offset, concentration + type
# and location, kg/L, sensor status, context follows), seq 1, base time 2019-02-27 11:10:30,
# offset -5 min, concentration SFLOAT 30 (exp 0), type-location 0x12, status 0x0105 (= 261).
GLM_NORDIC = bytes([0x1B, 1, 0, 0xE3, 0x07, 2, 27, 11, 10, 30, 0xFB, 0xFF, 30, 0, 0x12, 0b101, 0b1])
# NORDIC_GLM onInvalidDataReceived: same flags but 15 bytes ("time offset missing" in Nordic's
# comment; walking the fields, the sensor status is what runs out).
GLM_NORDIC_INVALID = bytes([0x1B, 0, 0, 0xE2, 0x07, 4, 26, 11, 9, 30, 30, 0, 0x12, 0b101, 0b1])
# CORDIO glps_db.c record 1: flags TIME_OFFSET|CONC_TYPE_LOC|UNITS_MOL_L|SENSOR_STATUS|
# CONTEXT_INFO = 0x1F, seq 1, 2012-06-15 20:52:36, offset 60, SFLT_TO_UINT16(50, -3),
# CH_GLM_LOC_FINGER | (CH_GLM_TYPE_ART_BLOOD << 4) = 0x51, CH_GLM_STATUS_BATT_LOW.
GLM_CORDIO_1 = bytes.fromhex("1f0100dc07060f1434243c0032d0510100")
# CORDIO record 2: flags CONC_TYPE_LOC|UNITS_KG_L|CONTEXT_INFO = 0x12, seq 2,
# 2012-06-16 06:45:20, SFLT_TO_UINT16(20, -5) (= 20 mg/dL in kg/L), type-location 0x51.
GLM_CORDIO_2 = bytes.fromhex("120200dc070610062d1414b051")

# NORDIC_CTX onGlucoseMeasurementContextReceived_full: flags 0xFF, seq 0, extended flags 0xB3,
# carbohydrate dinner 100.0, meal casual, tester-health 0x12, exercise 60 s at 50 %,
# long acting insulin 123.45 (-> 123.5 as SFLOAT), HbA1c 34.5 %.
CTX_NORDIC_FULL = bytes.fromhex("ff0000b303640004123c003204d3f459f1")
# NORDIC_CTX _empty: 17-byte buffer, flags 0, seq 1, the rest zeros.
CTX_NORDIC_EMPTY = bytes.fromhex("000100") + bytes(14)
# NORDIC_CTX onInvalidDataReceived: flags 0xFF but only 5 bytes (setValue past the end fails).
CTX_NORDIC_INVALID = bytes.fromhex("ff0000b303")
# CORDIO glps_db.c record 1 context: flags CARB|MEAL|TESTER|EXERCISE|MED|MED_KG|HBA1C = 0x5F,
# seq 1, dinner SFLT(12, -3) kg, postprandial, CH_GLMC_HEALTH_NONE | (CH_GLMC_TESTER_SELF << 4)
# = 0x15, 300 s at 99 %, long acting insulin SFLT(50, -6) kg, HbA1c SFLT(10, 0).
CTX_CORDIO_1 = bytes.fromhex("5f0100030cd002152c01630432a00a00")

# NORDIC_FEAT onGlucoseFeaturesReceived: 0b11110000, 0b00000011 -> bits 4-9.
FEATURE_NORDIC = bytes([0b11110000, 0b00000011])

GLM_KEYS = [
    "type",
    "sequence_number",
    "timestamp",
    "base_time",
    "time_offset",
    "glucose_concentration",
    "unit",
    "sample_type",
    "sample_location",
    "sensor_status",
    "context_information_follows",
]
CTX_KEYS = [
    "type",
    "sequence_number",
    "carbohydrate_id",
    "carbohydrate",
    "meal",
    "tester",
    "health",
    "exercise_duration",
    "exercise_intensity",
    "medication_id",
    "medication",
    "medication_unit",
    "hba1c",
]


# --- Glucose Measurement 0x2A18 ------------------------------------------------------------


def test_measurement_nordic() -> None:
    m = parse_glucose_measurement(GLM_NORDIC)
    assert m == GlucoseMeasurement(
        sequence_number=1,
        base_time=datetime(2019, 2, 27, 11, 10, 30),
        timestamp=datetime(2019, 2, 27, 11, 5, 30),  # Nordic asserts minute 5
        time_offset=-5,
        glucose_concentration=30.0,
        unit="kg/L",
        sample_type="capillary_plasma",
        sample_location="finger",
        # 261 = bits 0, 2, 8. Nordic's comment says "Device Fault" for bit 2 but asserts
        # generalDeviceFault false: bit 2 is sample size insufficient (SIG_XML).
        sensor_status=(
            "device_battery_low",
            "sample_size_insufficient",
            "sensor_temperature_too_low",
        ),
        context_information_follows=True,
    )
    assert m.trailing_bytes == 0


def test_measurement_json_nordic() -> None:
    out = parse_glucose_measurement(GLM_NORDIC).to_json()
    assert list(out) == GLM_KEYS
    assert out == {
        "type": "glucose_measurement",
        "sequence_number": 1,
        "timestamp": "2019-02-27T11:05:30",
        "base_time": "2019-02-27T11:10:30",
        "time_offset": -5,
        "glucose_concentration": 30.0,
        "unit": "kg/L",
        "sample_type": "capillary_plasma",
        "sample_location": "finger",
        "sensor_status": [
            "device_battery_low",
            "sample_size_insufficient",
            "sensor_temperature_too_low",
        ],
        "context_information_follows": True,
    }
    assert json.loads(strict_json(out)) == out


def test_measurement_invalid_nordic() -> None:
    with pytest.raises(ParseError) as excinfo:
        parse_glucose_measurement(GLM_NORDIC_INVALID)
    err = excinfo.value
    assert err.field == "sensor_status"
    assert err.characteristic == "Glucose Measurement (0x2A18)"
    assert str(err) == (
        "Glucose Measurement (0x2A18): flags 0x1b promise a sensor status annunciation "
        "(2 bytes) at byte 15 but the value is only 15 bytes long "
        f"(raw: {GLM_NORDIC_INVALID.hex()})"
    )


def test_measurement_cordio_record_1() -> None:
    m = parse_glucose_measurement(GLM_CORDIO_1)
    assert m.sequence_number == 1
    assert m.base_time == datetime(2012, 6, 15, 20, 52, 36)
    assert m.timestamp == datetime(2012, 6, 15, 21, 52, 36)  # + 60 minutes
    assert (m.glucose_concentration, m.unit) == (0.05, "mol/L")
    assert m.sensor_status == ("device_battery_low",)
    assert m.context_information_follows
    # Cordio builds the byte as location | type << 4, the reverse of the SIG order (type is the
    # least significant nibble, as in Nordic's 0x12 and Wireshark's 0x0F mask). Read per the
    # SIG, 0x51 is capillary whole blood at reserved location 5; we follow the SIG.
    assert (m.sample_type, m.sample_location) == ("capillary_whole_blood", "reserved")


def test_measurement_cordio_record_2_kg_per_litre() -> None:
    m = parse_glucose_measurement(GLM_CORDIO_2)
    assert m.timestamp == m.base_time == datetime(2012, 6, 16, 6, 45, 20)
    assert m.time_offset is None
    assert (m.glucose_concentration, m.unit) == (0.0002, "kg/L")  # 20 mg/dL
    assert m.sensor_status is None
    assert m.to_json()["sensor_status"] is None


def test_measurement_minimal() -> None:
    data = bytes.fromhex("00" + "2a00" + "e907030e0c1e00")  # seq 42, 2025-03-14 12:30:00
    assert parse_glucose_measurement(data).to_json() == {
        "type": "glucose_measurement",
        "sequence_number": 42,
        "timestamp": "2025-03-14T12:30:00",
        "base_time": "2025-03-14T12:30:00",
        "time_offset": None,
        "glucose_concentration": None,
        "unit": None,
        "sample_type": None,
        "sample_location": None,
        "sensor_status": None,
        "context_information_follows": False,
    }


def test_measurement_units_bit_without_concentration_gives_no_unit() -> None:
    data = bytes.fromhex("04" + "2a00" + "e907030e0c1e00")
    assert parse_glucose_measurement(data).unit is None


# Byte layout of a value with every optional field (flags 0x1F).
GLM_FULL = build_glucose_measurement(
    513,
    datetime(2026, 1, 31, 23, 50),
    time_offset=15,
    glucose_concentration=0.0055,
    unit="mol/L",
    sample_type="capillary_plasma",
    sample_location="finger",
    sensor_status=["time_fault"],
    context_information_follows=True,
)


def _measurement_field_at(length: int) -> str:
    layout = [
        (1, "flags"),
        (3, "sequence_number"),
        (10, "base_time"),
        (12, "time_offset"),
        (14, "glucose_concentration"),
        (15, "type_sample_location"),
        (17, "sensor_status"),
    ]
    return next(name for end, name in layout if length < end)


def test_measurement_full_layout() -> None:
    assert GLM_FULL.hex() == "1f" + "0102" + "ea07011f173200" + "0f00" + "26b2" + "12" + "0008"
    m = parse_glucose_measurement(GLM_FULL)
    assert m.timestamp == datetime(2026, 2, 1, 0, 5)  # offset crosses midnight and month
    assert m.to_json()["timestamp"] == "2026-02-01T00:05:00"


@pytest.mark.parametrize("length", range(1, len(GLM_FULL)))
def test_measurement_truncated_at_every_byte_names_the_field(length: int) -> None:
    with pytest.raises(ParseError) as excinfo:
        parse_glucose_measurement(GLM_FULL[:length])
    assert excinfo.value.field == _measurement_field_at(length)
    assert f"only {length} bytes long" in str(excinfo.value)
    assert f"(raw: {GLM_FULL[:length].hex()})" in str(excinfo.value)


@pytest.mark.parametrize(
    ("flag", "field"),
    [
        (0x01, "time_offset"),
        (0x02, "glucose_concentration"),
        (0x08, "sensor_status"),
    ],
)
def test_measurement_each_flag_without_its_field(flag: int, field: str) -> None:
    data = bytes([flag]) + GLM_CORDIO_2[1:10]
    with pytest.raises(ParseError) as excinfo:
        parse_glucose_measurement(data)
    assert excinfo.value.field == field
    assert "at byte 10" in str(excinfo.value)


def test_measurement_concentration_without_type_location() -> None:
    with pytest.raises(ParseError) as excinfo:
        parse_glucose_measurement(GLM_CORDIO_2[:-1])
    assert excinfo.value.field == "type_sample_location"


def test_measurement_empty() -> None:
    with pytest.raises(ParseError, match=r"empty.*\(raw: <empty>\)") as excinfo:
        parse_glucose_measurement(b"")
    assert excinfo.value.field == "flags"


def test_measurement_trailing_bytes_and_rfu_flags() -> None:
    m = parse_glucose_measurement(GLM_NORDIC + b"\xaa\xbb")
    assert m.trailing_bytes == 2
    assert parse_glucose_measurement(bytes([0xE0 | 0x12]) + GLM_CORDIO_2[1:]) == (
        parse_glucose_measurement(GLM_CORDIO_2)
    )


def test_measurement_base_time_unknown() -> None:
    data = build_glucose_measurement(7, None, time_offset=-30)
    m = parse_glucose_measurement(data)
    assert (m.base_time, m.timestamp, m.time_offset) == (None, None, -30)
    out = m.to_json()
    assert (out["timestamp"], out["base_time"], out["time_offset"]) == (None, None, -30)


@pytest.mark.parametrize(
    ("date_time", "field"),
    [
        ("e9070d0e0c1e00", "base_time.month"),
        ("e907030e181e00", "base_time.hours"),
        ("e907021e0c1e00", "base_time.day"),  # 30 February
    ],
)
def test_measurement_invalid_base_time_names_subfield(date_time: str, field: str) -> None:
    with pytest.raises(ParseError) as excinfo:
        parse_glucose_measurement(bytes.fromhex("000100" + date_time))
    assert excinfo.value.field == field


def test_measurement_offset_past_year_9999_is_parse_error() -> None:
    data = build_glucose_measurement(1, datetime(9999, 12, 31, 23, 59), time_offset=1)
    with pytest.raises(ParseError) as excinfo:
        parse_glucose_measurement(data)
    assert excinfo.value.field == "time_offset"
    # The extreme offsets themselves are fine.
    low = parse_glucose_measurement(
        build_glucose_measurement(1, datetime(2000, 1, 1), time_offset=-32768)
    )
    assert low.timestamp == datetime(1999, 12, 9, 5, 52)


def test_measurement_special_concentration() -> None:
    for special, text in [
        (SpecialValue.NAN, "NaN"),
        (SpecialValue.NRES, "NRes"),
        (SpecialValue.POSITIVE_INFINITY, "+INF"),
        (SpecialValue.NEGATIVE_INFINITY, "-INF"),
        (SpecialValue.RESERVED, "Reserved"),
    ]:
        data = build_glucose_measurement(
            1,
            datetime(2025, 1, 1),
            glucose_concentration=special,
            sample_type="capillary_plasma",
            sample_location="finger",
        )
        m = parse_glucose_measurement(data)
        assert m.glucose_concentration is special
        assert m.to_json()["glucose_concentration"] == text
        strict_json(m.to_json())


@pytest.mark.parametrize(
    ("byte", "sample_type", "location"),
    [
        (0x12, "capillary_plasma", "finger"),  # NORDIC_GLM
        (0x21, "capillary_whole_blood", "alternate_site_test"),
        (0x39, "interstitial_fluid", "earlobe"),
        (0x4A, "control_solution", "control_solution"),
        (0xF7, "undetermined_whole_blood", "not_available"),
        (0x18, "undetermined_plasma", "finger"),
        (0x00, "reserved", "reserved"),  # 0 is RFU for both nibbles
        (0x5B, "reserved", "reserved"),  # type 11, location 5: RFU
        (0xEF, "reserved", "reserved"),  # type 15, location 14: RFU
    ],
)
def test_type_sample_location_nibbles(byte: int, sample_type: str, location: str) -> None:
    data = bytes.fromhex("02" + "0100" + "e907030e0c1e00" + "4b00") + bytes([byte])
    m = parse_glucose_measurement(data)
    assert (m.sample_type, m.sample_location) == (sample_type, location)


@pytest.mark.parametrize(
    ("raw", "names"),
    [
        (0x0020, ("sensor_result_too_high",)),  # higher than the device can process (WIRESHARK)
        (0x0040, ("sensor_result_too_low",)),  # lower (Nordic's toolbox swaps these two)
        (0x0FFF, tuple(name for name in SENSOR_STATUS_NAMES if name)),
        (0xF000, ()),  # bits 12-15 RFU: ignored
        (0x0000, ()),
    ],
)
def test_sensor_status_bits(raw: int, names: tuple[str, ...]) -> None:
    data = bytes.fromhex("08" + "0100" + "e907030e0c1e00") + raw.to_bytes(2, "little")
    assert parse_glucose_measurement(data).sensor_status == names


# --- Glucose Measurement Context 0x2A34 ----------------------------------------------------


def test_context_full_nordic() -> None:
    c = parse_glucose_measurement_context(CTX_NORDIC_FULL)
    assert c == GlucoseMeasurementContext(
        sequence_number=0,
        carbohydrate_id="dinner",
        carbohydrate=100.0,
        meal="casual",
        tester="health_care_professional",  # low nibble 2 (Nordic asserts HCP)
        health="minor_health_issues",  # high nibble 1 (Nordic asserts MINOR)
        exercise_duration=60,
        exercise_intensity=50,
        medication_id="long_acting_insulin",
        medication=123.5,
        medication_unit="L",  # flags bit 5 set: litres
        hba1c=34.5,
        extended_flags=0xB3,  # all RFU: kept, not interpreted
    )
    out = c.to_json()
    assert list(out) == CTX_KEYS
    assert out["medication_unit"] == "L"
    assert "extended_flags" not in out
    strict_json(out)


def test_context_empty_nordic() -> None:
    c = parse_glucose_measurement_context(CTX_NORDIC_EMPTY)
    assert c == GlucoseMeasurementContext(sequence_number=1, trailing_bytes=14)
    assert c.to_json() == {
        "type": "glucose_measurement_context",
        "sequence_number": 1,
        "carbohydrate_id": None,
        "carbohydrate": None,
        "meal": None,
        "tester": None,
        "health": None,
        "exercise_duration": None,
        "exercise_intensity": None,
        "medication_id": None,
        "medication": None,
        "medication_unit": None,
        "hba1c": None,
    }


def test_context_invalid_nordic() -> None:
    with pytest.raises(ParseError) as excinfo:
        parse_glucose_measurement_context(CTX_NORDIC_INVALID)
    assert excinfo.value.field == "carbohydrate"
    assert excinfo.value.characteristic == "Glucose Measurement Context (0x2A34)"
    assert "flags 0xff promise a carbohydrate (2 bytes) at byte 5" in str(excinfo.value)


def test_context_cordio_record_1() -> None:
    c = parse_glucose_measurement_context(CTX_CORDIO_1)
    assert c.sequence_number == 1
    assert (c.carbohydrate_id, c.carbohydrate) == ("dinner", 0.012)  # 12 g in kilograms
    assert c.meal == "postprandial"
    assert (c.exercise_duration, c.exercise_intensity) == (300, 99)
    assert (c.medication_id, c.medication, c.medication_unit) == (
        "long_acting_insulin",
        0.00005,  # 50 mg in kilograms
        "kg",
    )
    assert c.hba1c == 10.0
    assert c.extended_flags is None
    # Cordio packs HEALTH_NONE | TESTER_SELF << 4 (tester high, as Wireshark's 0xF0 mask). The
    # SIG lists Tester first = least significant nibble, and Nordic asserts 0x12 = HCP/minor,
    # so we read tester 5 (reserved) and health 1.
    assert (c.tester, c.health) == ("reserved", "minor_health_issues")


@pytest.mark.parametrize(
    ("byte", "tester", "health"),
    [
        (0x12, "health_care_professional", "minor_health_issues"),  # NORDIC_CTX
        (0x51, "self", "no_health_issues"),
        (0x23, "lab_test", "major_health_issues"),
        (0x3F, "not_available", "during_menses"),
        (0xF4, "reserved", "not_available"),  # tester 4 RFU
        (0x40, "reserved", "under_stress"),  # tester 0 RFU
        (0x61, "self", "reserved"),  # health 6 RFU
    ],
)
def test_tester_health_nibbles(byte: int, tester: str, health: str) -> None:
    c = parse_glucose_measurement_context(bytes([0x04, 9, 0, byte]))
    assert (c.tester, c.health) == (tester, health)


@pytest.mark.parametrize(
    ("flags", "payload", "field", "expected"),
    [
        (0x01, "080000", "carbohydrate_id", "reserved"),  # 8-255 RFU
        (0x01, "070000", "carbohydrate_id", "brunch"),
        (0x02, "00", "meal", "reserved"),
        (0x02, "05", "meal", "bedtime"),
        (0x02, "06", "meal", "reserved"),
        (0x10, "010000", "medication_id", "rapid_acting_insulin"),
        (0x10, "050000", "medication_id", "pre_mixed_insulin"),
        (0x10, "060000", "medication_id", "reserved"),
    ],
)
def test_context_enumerations(flags: int, payload: str, field: str, expected: str) -> None:
    c = parse_glucose_measurement_context(bytes([flags, 1, 0]) + bytes.fromhex(payload))
    assert c.to_json()[field] == expected


def test_context_exercise_overrun() -> None:
    c = parse_glucose_measurement_context(bytes.fromhex("080100ffff64"))
    assert c.exercise_duration == 0xFFFF
    assert c.to_json()["exercise_duration"] == "overrun"
    assert c.to_json()["exercise_intensity"] == 100
    below = parse_glucose_measurement_context(bytes.fromhex("080100feff00"))
    assert below.to_json()["exercise_duration"] == 65534


def test_context_medication_units() -> None:
    kg = parse_glucose_measurement_context(bytes.fromhex("10010004" + "32a0"))
    litres = parse_glucose_measurement_context(bytes.fromhex("30010004" + "0ad0"))
    assert (kg.medication, kg.medication_unit) == (0.00005, "kg")
    assert (litres.medication, litres.medication_unit) == (0.01, "L")
    # Units bit without a medication: no unit.
    assert parse_glucose_measurement_context(bytes.fromhex("200100")).medication_unit is None


def _context_field_at(length: int) -> str:
    # Byte layout of CTX_NORDIC_FULL (every field, flags 0xFF).
    layout = [
        (1, "flags"),
        (3, "sequence_number"),
        (4, "extended_flags"),
        (5, "carbohydrate_id"),
        (7, "carbohydrate"),
        (8, "meal"),
        (9, "tester_health"),
        (11, "exercise_duration"),
        (12, "exercise_intensity"),
        (13, "medication_id"),
        (15, "medication"),
        (17, "hba1c"),
    ]
    return next(name for end, name in layout if length < end)


@pytest.mark.parametrize("length", range(1, len(CTX_NORDIC_FULL)))
def test_context_truncated_at_every_byte_names_the_field(length: int) -> None:
    with pytest.raises(ParseError) as excinfo:
        parse_glucose_measurement_context(CTX_NORDIC_FULL[:length])
    assert excinfo.value.field == _context_field_at(length)
    assert f"only {length} bytes long" in str(excinfo.value)


@pytest.mark.parametrize(
    ("flag", "field"),
    [
        (0x01, "carbohydrate_id"),
        (0x02, "meal"),
        (0x04, "tester_health"),
        (0x08, "exercise_duration"),
        (0x10, "medication_id"),
        (0x40, "hba1c"),
        (0x80, "extended_flags"),
    ],
)
def test_context_each_flag_without_its_field(flag: int, field: str) -> None:
    with pytest.raises(ParseError) as excinfo:
        parse_glucose_measurement_context(bytes([flag, 1, 0]))
    assert excinfo.value.field == field
    assert "at byte 3" in str(excinfo.value)


def test_context_empty_value() -> None:
    with pytest.raises(ParseError) as excinfo:
        parse_glucose_measurement_context(b"")
    assert excinfo.value.field == "flags"


def test_context_special_values() -> None:
    c = parse_glucose_measurement_context(bytes.fromhex("510100" + "01ff07" + "00fe07" + "0008"))
    out = c.to_json()
    assert (out["carbohydrate"], out["medication"], out["hba1c"]) == ("NaN", "+INF", "NRes")
    assert out["medication_id"] == "reserved"  # 0 is RFU
    strict_json(out)


# --- Glucose Feature 0x2A51 ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "features"),
    [
        (
            FEATURE_NORDIC,
            (
                "sensor_strip_type_error_detection",
                "sensor_result_high_low_detection",
                "sensor_temperature_high_low_detection",
                "sensor_read_interrupt_detection",
                "general_device_fault",
                "time_fault",
            ),
        ),
        (bytes.fromhex("0000"), ()),
        (bytes.fromhex("ff07"), tuple(name for name in FEATURE_NAMES if name)),  # bits 0-10
        (bytes.fromhex("0004"), ("multiple_bond",)),
        (bytes.fromhex("0100"), ("low_battery_detection",)),
        (bytes.fromhex("00f8"), ()),  # bits 11-15 RFU: ignored
    ],
)
def test_feature(data: bytes, features: tuple[str, ...]) -> None:
    parsed = parse_glucose_feature(data)
    assert parsed == GlucoseFeature(features)
    assert parsed.to_json() == {"type": "glucose_feature", "features": list(features)}


@pytest.mark.parametrize("data", [b"", b"\x01"])  # NORDIC_FEAT onInvalidDataReceived: empty
def test_feature_too_short(data: bytes) -> None:
    with pytest.raises(ParseError) as excinfo:
        parse_glucose_feature(data)
    assert excinfo.value.field == "features"
    assert excinfo.value.characteristic == "Glucose Feature (0x2A51)"


def test_feature_trailing_bytes() -> None:
    assert parse_glucose_feature(b"\x01\x00\x99").trailing_bytes == 1


# --- PARSERS table -------------------------------------------------------------------------


def test_parsers_table() -> None:
    expected = {
        0x2A18: ("Glucose Measurement (0x2A18)", parse_glucose_measurement),
        0x2A34: ("Glucose Measurement Context (0x2A34)", parse_glucose_measurement_context),
        0x2A51: ("Glucose Feature (0x2A51)", parse_glucose_feature),
    }
    assert dict(glucose.PARSERS) == expected
    for uuid, (_, parser) in glucose.PARSERS.items():
        sample = {0x2A18: GLM_NORDIC, 0x2A34: CTX_NORDIC_FULL, 0x2A51: FEATURE_NORDIC}[uuid]
        assert parser(sample).to_json()["type"].startswith("glucose_")


# --- properties: nothing but ParseError, for any bytes -------------------------------------

ALL_PARSERS: list[Callable[[bytes], Any]] = [
    parse_glucose_measurement,
    parse_glucose_measurement_context,
    parse_glucose_feature,
]


@pytest.mark.parametrize("parser", ALL_PARSERS, ids=lambda p: p.__name__)
@given(data=st.binary(max_size=40))
def test_any_bytes_parse_or_parse_error(parser: Callable[[bytes], Any], data: bytes) -> None:
    try:
        out = parser(data).to_json()
    except ParseError as err:
        assert data.hex() in str(err) or not data
        return
    json.loads(strict_json(out))


@given(flags=st.integers(0, 0xFF), rest=st.binary(max_size=30))
def test_measurement_fuzz_structured(flags: int, rest: bytes) -> None:
    # A valid base time so fuzzing reaches the flagged fields, not just the Date Time checks.
    data = bytes([flags]) + rest[:2].ljust(2, b"\0") + bytes.fromhex("e907030e0c1e00") + rest[2:]
    try:
        out = parse_glucose_measurement(data).to_json()
    except ParseError as err:
        assert err.field in {
            "time_offset",
            "glucose_concentration",
            "type_sample_location",
            "sensor_status",
        }
        return
    json.loads(strict_json(out))


@given(flags=st.integers(0, 0xFF), rest=st.binary(max_size=30))
def test_context_fuzz_structured(flags: int, rest: bytes) -> None:
    try:
        out = parse_glucose_measurement_context(bytes([flags]) + rest).to_json()
    except ParseError as err:
        assert err.field is not None
        return
    json.loads(strict_json(out))


# --- properties: encoder round trips -------------------------------------------------------

_SPECIALS = st.sampled_from(list(SpecialValue))
_DATETIMES = st.datetimes(
    min_value=datetime(1582, 1, 1), max_value=datetime(9999, 11, 30, 23, 59, 59)
).map(lambda d: d.replace(microsecond=0))


def _sfloat_at(exponent: int) -> st.SearchStrategy[float | SpecialValue]:
    specials = {2046, 2047, -2048, -2047, -2046} if exponent == 0 else set()
    mantissas = st.integers(-2048, 2047).filter(lambda m: m not in specials)
    numbers = mantissas.map(
        lambda m: float(m * 10**exponent) if exponent >= 0 else m / 10**-exponent
    )
    return st.one_of(numbers, _SPECIALS)


def _named(names: tuple[str | None, ...] | dict[int, str]) -> list[str]:
    values = names.values() if isinstance(names, dict) else names
    return [name for name in values if name is not None]


@st.composite
def _measurement_args(draw: st.DrawFn) -> dict[str, Any]:
    exponent = draw(st.integers(-8, 7))
    with_concentration = draw(st.booleans())
    return {
        "sequence_number": draw(st.integers(0, 0xFFFF)),
        "base_time": draw(st.none() | _DATETIMES),
        "time_offset": draw(st.none() | st.integers(-0x8000, 0x7FFF)),
        "glucose_concentration": draw(_sfloat_at(exponent)) if with_concentration else None,
        "unit": draw(st.sampled_from(["kg/L", "mol/L"])),
        "exponent": exponent,
        "sample_type": (
            draw(st.sampled_from(_named(SAMPLE_TYPE_NAMES))) if with_concentration else None
        ),
        "sample_location": (
            draw(st.sampled_from(_named(SAMPLE_LOCATION_NAMES))) if with_concentration else None
        ),
        "sensor_status": draw(
            st.none() | st.lists(st.sampled_from(_named(SENSOR_STATUS_NAMES)), unique=True)
        ),
        "context_information_follows": draw(st.booleans()),
    }


@given(args=_measurement_args(), trailing=st.binary(max_size=4))
def test_measurement_round_trip(args: dict[str, Any], trailing: bytes) -> None:
    parsed = parse_glucose_measurement(build_glucose_measurement(**args) + trailing)
    has_concentration = args["glucose_concentration"] is not None
    base_time, offset = args["base_time"], args["time_offset"]
    expected_timestamp = base_time
    if base_time is not None and offset is not None:
        expected_timestamp = base_time + timedelta(minutes=offset)
    status = args["sensor_status"]
    assert parsed == GlucoseMeasurement(
        sequence_number=args["sequence_number"],
        base_time=base_time,
        timestamp=expected_timestamp,
        time_offset=offset,
        glucose_concentration=args["glucose_concentration"],
        unit=args["unit"] if has_concentration else None,
        sample_type=args["sample_type"],
        sample_location=args["sample_location"],
        sensor_status=(
            None
            if status is None
            else tuple(name for name in SENSOR_STATUS_NAMES if name in status)
        ),
        context_information_follows=args["context_information_follows"],
        trailing_bytes=len(trailing),
    )
    strict_json(parsed.to_json())


@st.composite
def _context_args(draw: st.DrawFn) -> dict[str, Any]:
    args: dict[str, Any] = {"sequence_number": draw(st.integers(0, 0xFFFF))}
    if draw(st.booleans()):
        args["extended_flags"] = draw(st.integers(0, 0xFF))
    if draw(st.booleans()):
        exponent = draw(st.integers(-8, 7))
        args["carbohydrate_id"] = draw(st.sampled_from(_named(CARBOHYDRATE_ID_NAMES)))
        args["carbohydrate"] = draw(_sfloat_at(exponent))
        args["carbohydrate_exponent"] = exponent
    if draw(st.booleans()):
        args["meal"] = draw(st.sampled_from(_named(MEAL_NAMES)))
    if draw(st.booleans()):
        args["tester"] = draw(st.sampled_from(_named(TESTER_NAMES)))
        args["health"] = draw(st.sampled_from(_named(HEALTH_NAMES)))
    if draw(st.booleans()):
        args["exercise_duration"] = draw(st.integers(0, 0xFFFF))
        args["exercise_intensity"] = draw(st.integers(0, 0xFF))
    if draw(st.booleans()):
        exponent = draw(st.integers(-8, 7))
        args["medication_id"] = draw(st.sampled_from(_named(MEDICATION_ID_NAMES)))
        args["medication"] = draw(_sfloat_at(exponent))
        args["medication_unit"] = draw(st.sampled_from(["kg", "L"]))
        args["medication_exponent"] = exponent
    if draw(st.booleans()):
        exponent = draw(st.integers(-8, 7))
        args["hba1c"] = draw(_sfloat_at(exponent))
        args["hba1c_exponent"] = exponent
    return args


@given(args=_context_args(), trailing=st.binary(max_size=4))
def test_context_round_trip(args: dict[str, Any], trailing: bytes) -> None:
    parsed = parse_glucose_measurement_context(build_glucose_context(**args) + trailing)
    assert parsed == GlucoseMeasurementContext(
        sequence_number=args["sequence_number"],
        carbohydrate_id=args.get("carbohydrate_id"),
        carbohydrate=args.get("carbohydrate"),
        meal=args.get("meal"),
        tester=args.get("tester"),
        health=args.get("health"),
        exercise_duration=args.get("exercise_duration"),
        exercise_intensity=args.get("exercise_intensity"),
        medication_id=args.get("medication_id"),
        medication=args.get("medication"),
        medication_unit=args.get("medication_unit", "kg") if "medication" in args else None,
        hba1c=args.get("hba1c"),
        extended_flags=args.get("extended_flags"),
        trailing_bytes=len(trailing),
    )
    strict_json(parsed.to_json())


@given(features=st.sets(st.sampled_from(_named(FEATURE_NAMES))))
def test_feature_round_trip(features: set[str]) -> None:
    parsed = parse_glucose_feature(build_glucose_feature(features))
    assert parsed.features == tuple(name for name in FEATURE_NAMES if name in features)


def test_builders_reproduce_peer_vectors() -> None:
    assert (
        build_glucose_measurement(
            1,
            datetime(2019, 2, 27, 11, 10, 30),
            time_offset=-5,
            glucose_concentration=30,
            unit="kg/L",
            exponent=0,
            sample_type="capillary_plasma",
            sample_location="finger",
            sensor_status=[
                "device_battery_low",
                "sample_size_insufficient",
                "sensor_temperature_too_low",
            ],
            context_information_follows=True,
        )
        == GLM_NORDIC
    )
    assert (
        build_glucose_context(
            0,
            extended_flags=0xB3,
            carbohydrate_id="dinner",
            carbohydrate=100,
            carbohydrate_exponent=0,
            meal="casual",
            tester="health_care_professional",
            health="minor_health_issues",
            exercise_duration=60,
            exercise_intensity=50,
            medication_id="long_acting_insulin",
            medication=123.5,
            medication_unit="L",
            medication_exponent=-1,
            hba1c=34.5,
        )
        == CTX_NORDIC_FULL
    )
    assert build_glucose_feature(parse_glucose_feature(FEATURE_NORDIC).features) == FEATURE_NORDIC


def test_builders_accept_raw_codes_for_reserved_values() -> None:
    data = build_glucose_measurement(
        1, datetime(2025, 1, 1), glucose_concentration=0.0055, sample_type=11, sample_location=5
    )
    assert data[-1] == 0x5B
    assert parse_glucose_measurement(data).sample_type == "reserved"
    ctx = build_glucose_context(1, meal=9, tester=4, health=15)
    assert parse_glucose_measurement_context(ctx).to_json()["meal"] == "reserved"
    assert ctx[-1] == 0xF4


def test_context_default_exponents() -> None:
    # Carbohydrate in kg at 1 g steps; medication at 1 mg (kg) or 1 mL (L); HbA1c at 0.1 %.
    data = build_glucose_context(
        3,
        carbohydrate_id="lunch",
        carbohydrate=0.045,
        medication_id="rapid_acting_insulin",
        medication=0.004,
        medication_unit="L",
        hba1c=6.8,
    )
    assert data.hex() == "71" + "0300" + "02" + "2dd0" + "01" + "04d0" + "44f0"
    c = parse_glucose_measurement_context(data)
    assert (c.carbohydrate, c.medication, c.hba1c) == (0.045, 0.004, 6.8)
    mg = parse_glucose_measurement_context(
        build_glucose_context(3, medication_id="long_acting_insulin", medication=0.00005)
    )
    assert (mg.medication, mg.medication_unit) == (0.00005, "kg")


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"sequence_number": 0x10000}, "sequence_number"),
        ({"unit": "mg/dL"}, "unit"),
        ({"time_offset": 0x8000}, "time_offset"),
        ({"glucose_concentration": 5.5}, "sample_type and sample_location"),
        ({"sample_type": "capillary_plasma"}, "only with a concentration"),
        (
            {"glucose_concentration": 5, "sample_type": "blood", "sample_location": "finger"},
            "unknown sample type",
        ),
        (
            {"glucose_concentration": 5, "sample_type": 16, "sample_location": "finger"},
            "0-15",
        ),
        ({"sensor_status": ["on_fire"]}, "unknown sensor status"),
        (
            {
                "glucose_concentration": 5,
                "sample_type": 1,
                "sample_location": 1,
                "exponent": 9,
            },
            "exponent",
        ),
    ],
)
def test_measurement_builder_rejects_bad_input(kwargs: dict[str, Any], message: str) -> None:
    args: dict[str, Any] = {"sequence_number": 1, "base_time": datetime(2025, 1, 1)}
    args.update(kwargs)
    with pytest.raises(ValueError, match=message):
        build_glucose_measurement(**args)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"carbohydrate_id": "lunch"}, "carbohydrate_id and carbohydrate"),
        ({"tester": "self"}, "tester and health"),
        ({"exercise_intensity": 5}, "exercise_duration and exercise_intensity"),
        ({"medication": 1.0}, "medication_id and medication"),
        ({"exercise_duration": 0x10000, "exercise_intensity": 1}, "exercise_duration"),
        ({"exercise_duration": 1, "exercise_intensity": 256}, "exercise_intensity"),
        ({"medication_unit": "g"}, "medication_unit"),
        ({"meal": "brunch"}, "unknown meal"),
        ({"extended_flags": 256}, "extended_flags"),
        ({"tester": 16, "health": 1}, "0-15"),
        ({"sequence_number": -1}, "sequence_number"),
    ],
)
def test_context_builder_rejects_bad_input(kwargs: dict[str, Any], message: str) -> None:
    args: dict[str, Any] = {"sequence_number": 1}
    args.update(kwargs)
    with pytest.raises(ValueError, match=message):
        build_glucose_context(**args)


def test_feature_builder_rejects_unknown_name() -> None:
    with pytest.raises(ValueError, match="unknown glucose feature"):
        build_glucose_feature(["teleportation"])
