"""PLX Spot-Check Measurement (0x2A5E), PLX Continuous Measurement (0x2A5F), PLX Features (0x2A60).

Vector sources (cited per case below):
  SPEZI       StanfordSpezi/SpeziBluetooth Tests/SpeziBluetoothServicesTests/PLXTests.swift
              (testVerySimpleMeasurementCoding, testSimpleMeasurementCoding,
              testFullMeasurementCoding, testSpotCheckMeasurementCoding, testPLXFeaturesCoding)
  BTSIG_PY    RonanB96/bluetooth-sig-python tests/gatt/characteristics/
              test_plx_spot_check_measurement.py (valid_test_data). Its SFLOATs are encoded with
              a made-up "biased exponent" (0x8062 read as 98.0); per IEEE 11073-20601 that
              pattern is exponent -8, so we deliberately disagree on the numbers and only take
              the flags / measurement status layout from it.
  GSS         Bluetooth GATT Specification Supplement / PLXS 1.0.1 field tables for 0x2A5E,
              0x2A5F, 0x2A60 (flags, Measurement Status bits 5-15, Device and Sensor Status bits
              0-15, Supported Features bits 0-7), cross-checked against
              wireshark/wireshark epan/dissectors/packet-btatt.c (cases 0x2A5E/0x2A5F/0x2A60),
              RivieraWaves plxp_common.h (plxp_sup_feat_bf, plxp_spot_check_flags_bf,
              plxp_cont_meas_flags_bf, plxp_meas_status_sup_bf, plxp_dev_sensor_status_bf) and
              Cypress cy_ble_plxs.h (cy_stc_ble_plxs_scmt_char_t). Vectors marked GSS were built
              by hand from those tables.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hub.devices.errors import ParseError
from hub.devices.ieee11073 import SpecialValue
from hub.devices.pulse_oximeter import (
    DEVICE_AND_SENSOR_STATUS_NAMES,
    FEATURE_NAMES,
    MEASUREMENT_STATUS_NAMES,
    PARSERS,
    PlxContinuousMeasurement,
    PlxFeatures,
    PlxSpotCheckMeasurement,
    build_plx_continuous,
    build_plx_features,
    build_plx_spot_check,
    decode_device_and_sensor_status,
    decode_measurement_status,
    encode_device_and_sensor_status,
    encode_measurement_status,
    parse_plx_continuous,
    parse_plx_features,
    parse_plx_spot_check,
)
from tests.conftest import strict_json

# --- vectors -------------------------------------------------------------------------------

# SPEZI testSpotCheckMeasurementCoding: flags 0x0F, SpO2 94 (0xF3AC), PR 147 (0xF5BE),
# 2024-11-29 23:08:57, status 0x4020, device and sensor status 0x000022, PAI 8.7 (0xE366).
SPOT_FULL = bytes([15, 172, 243, 190, 245, 232, 7, 11, 29, 23, 8, 57, 32, 64, 34, 0, 0, 102, 227])
SPOT_FULL_STATUS = ("measurement_ongoing", "questionable_measurement_detected")
SPOT_FULL_DEVICE = ("equipment_malfunction_detected", "low_perfusion_detected")
# GSS: flags 0, SpO2 97 %, PR 64 bpm, both at exponent 0.
SPOT_MINIMAL = bytes.fromhex("00" + "6100" + "4000")
# BTSIG_PY "SpO2 95%, pulse 60 bpm with measurement status": flags 0x02, status 0x0080.
SPOT_BTSIG_STATUS = bytes([0x02, 0x5F, 0x80, 0x3C, 0x80, 0x80, 0x00])

# SPEZI testVerySimpleMeasurementCoding (decoding side): flags 0, SpO2 100, PR 90.
CONT_VERY_SIMPLE = bytes([0, 100, 0, 90, 0])
# SPEZI testVerySimpleMeasurementCoding (encoding side): the same at exponent -1.
CONT_VERY_SIMPLE_ENCODED = bytes([0, 232, 243, 132, 243])
# SPEZI testSimpleMeasurementCoding: flags 0x1C, 95 %, 90 bpm, status 0x0020, D&S 0, PAI 8.7.
CONT_SIMPLE = bytes([28, 95, 0, 90, 0, 32, 0, 0, 0, 0, 87, 240])
# SPEZI testFullMeasurementCoding: flags 0x1F, normal 99/97, fast 97/137, slow 98/69,
# status 0x0120, D&S 0, PAI 8.9 (0xE37A).
CONT_FULL = bytes(
    [31, 222, 243, 202, 243, 202, 243, 90, 245, 212, 243, 178, 242, 32, 1, 0, 0, 0, 122, 227]
)

# SPEZI testPLXFeaturesCoding: features 0x00A3, status support 0x1040, D&S support 0x000180.
FEATURES_FULL = bytes([163, 0, 64, 16, 128, 1, 0])

SPOT_KEYS = [
    "type",
    "spo2",
    "pulse_rate",
    "timestamp",
    "measurement_status",
    "device_and_sensor_status",
    "pulse_amplitude_index",
    "device_clock_not_set",
]
CONT_KEYS = [
    "type",
    "spo2",
    "pulse_rate",
    "spo2_fast",
    "pulse_rate_fast",
    "spo2_slow",
    "pulse_rate_slow",
    "measurement_status",
    "device_and_sensor_status",
    "pulse_amplitude_index",
]
FEATURE_KEYS = [
    "type",
    "features",
    "measurement_status_support",
    "device_and_sensor_status_support",
]


# --- PLX Spot-Check Measurement 0x2A5E -----------------------------------------------------


def test_spot_full_spezi() -> None:
    m = parse_plx_spot_check(SPOT_FULL)
    assert m == PlxSpotCheckMeasurement(
        spo2=94.0,
        pulse_rate=147.0,
        timestamp=datetime(2024, 11, 29, 23, 8, 57),
        measurement_status=SPOT_FULL_STATUS,
        device_and_sensor_status=SPOT_FULL_DEVICE,
        pulse_amplitude_index=8.7,
        device_clock_not_set=False,
    )
    out = m.to_json()
    assert list(out) == SPOT_KEYS
    assert out == {
        "type": "plx_spot_check",
        "spo2": 94.0,
        "pulse_rate": 147.0,
        "timestamp": "2024-11-29T23:08:57",
        "measurement_status": list(SPOT_FULL_STATUS),
        "device_and_sensor_status": list(SPOT_FULL_DEVICE),
        "pulse_amplitude_index": 8.7,
        "device_clock_not_set": False,
    }
    assert json.loads(strict_json(out)) == out


def test_spot_full_spezi_builder_reproduces_bytes() -> None:
    # SPEZI encodes SpO2/PR at exponent -1 and the PAI at -2; our builder must match byte for byte.
    assert (
        build_plx_spot_check(
            94,
            147,
            spo2_exponent=-1,
            pulse_rate_exponent=-1,
            timestamp=datetime(2024, 11, 29, 23, 8, 57),
            measurement_status=SPOT_FULL_STATUS,
            device_and_sensor_status=SPOT_FULL_DEVICE,
            pulse_amplitude_index=8.7,
            pulse_amplitude_index_exponent=-2,
        )
        == SPOT_FULL
    )


def test_spot_minimal() -> None:
    assert parse_plx_spot_check(SPOT_MINIMAL).to_json() == {
        "type": "plx_spot_check",
        "spo2": 97.0,
        "pulse_rate": 64.0,
        "timestamp": None,
        "measurement_status": None,
        "device_and_sensor_status": None,
        "pulse_amplitude_index": None,
        "device_clock_not_set": False,
    }
    assert build_plx_spot_check(97, 64) == SPOT_MINIMAL


def test_spot_btsig_status_layout_but_ieee_sfloat() -> None:
    # BTSIG_PY: flags bit1 -> measurement status 0x0080 = validated data (bit 7); we agree.
    m = parse_plx_spot_check(SPOT_BTSIG_STATUS)
    assert m.measurement_status == ("validated_data",)
    assert m.timestamp is None and m.device_and_sensor_status is None
    # It claims SpO2 95.0 / PR 60.0; IEEE 11073 reads 0x805F as 95e-8 and 0x803C as 60e-8.
    assert m.spo2 == pytest.approx(95e-8)
    assert m.pulse_rate == pytest.approx(60e-8)


def test_spot_device_clock_not_set_keeps_timestamp() -> None:
    # GSS flags bit 4: the timestamp is still sent and decoded; the flag travels beside it.
    data = build_plx_spot_check(
        96, 70, timestamp=datetime(2000, 1, 1, 0, 5, 0), device_clock_not_set=True
    )
    assert data[0] == 0x11
    out = parse_plx_spot_check(data).to_json()
    assert out["device_clock_not_set"] is True
    assert out["timestamp"] == "2000-01-01T00:05:00"


def test_spot_device_clock_not_set_without_timestamp() -> None:
    out = parse_plx_spot_check(bytes([0x10]) + SPOT_MINIMAL[1:]).to_json()
    assert out["device_clock_not_set"] is True
    assert out["timestamp"] is None


def test_spot_timestamp_unknown_is_null() -> None:
    data = build_plx_spot_check(97, 64, timestamp_unknown=True)
    assert data[0] == 0x01 and data[5:12] == bytes(7)
    assert parse_plx_spot_check(data).to_json()["timestamp"] is None


@pytest.mark.parametrize(
    ("date_time", "field"),
    [
        ("e8070d1d170839", "timestamp.month"),  # month 13
        ("e8070b1d180839", "timestamp.hours"),  # hour 24
        ("e8070b1d173c39", "timestamp.minutes"),  # minute 60
        ("e8070b1d17083c", "timestamp.seconds"),  # second 60
        ("e807021e170839", "timestamp.day"),  # 30 February
        ("e803010117 0839".replace(" ", ""), "timestamp.year"),  # year 1000 is RFU
    ],
)
def test_spot_invalid_timestamp_names_subfield(date_time: str, field: str) -> None:
    data = bytes([0x01]) + SPOT_MINIMAL[1:] + bytes.fromhex(date_time)
    with pytest.raises(ParseError) as excinfo:
        parse_plx_spot_check(data)
    assert excinfo.value.field == field
    assert excinfo.value.characteristic == "PLX Spot-Check Measurement (0x2A5E)"
    assert data.hex() in str(excinfo.value)


def _spot_field_at(length: int) -> str:
    # Byte layout of SPOT_FULL: which field a value cut to `length` bytes runs out in.
    layout = [
        (1, "flags"),
        (3, "spo2"),
        (5, "pulse_rate"),
        (12, "timestamp"),
        (14, "measurement_status"),
        (17, "device_and_sensor_status"),
        (19, "pulse_amplitude_index"),
    ]
    return next(name for end, name in layout if length < end)


@pytest.mark.parametrize("length", range(1, len(SPOT_FULL)))
def test_spot_truncated_at_every_byte_names_the_field(length: int) -> None:
    cut = SPOT_FULL[:length]
    with pytest.raises(ParseError) as excinfo:
        parse_plx_spot_check(cut)
    err = excinfo.value
    assert err.field == _spot_field_at(length)
    assert err.characteristic == "PLX Spot-Check Measurement (0x2A5E)"
    assert f"only {length} bytes long" in str(err)
    assert f"(raw: {cut.hex()})" in str(err)


@pytest.mark.parametrize(
    ("flag", "field"),
    [
        (0x01, "timestamp"),
        (0x02, "measurement_status"),
        (0x04, "device_and_sensor_status"),
        (0x08, "pulse_amplitude_index"),
    ],
)
def test_spot_each_flag_without_its_field(flag: int, field: str) -> None:
    data = bytes([flag]) + SPOT_MINIMAL[1:]
    with pytest.raises(ParseError) as excinfo:
        parse_plx_spot_check(data)
    assert excinfo.value.field == field
    assert str(excinfo.value).startswith(
        f"PLX Spot-Check Measurement (0x2A5E): flags 0x{flag:02x} promise "
    )
    assert "at byte 5 but the value is only 5 bytes long" in str(excinfo.value)


def test_spot_partial_device_status_names_it() -> None:
    # Two of the three uint24 bytes: the error must name the 3-byte field, not read 2 of them.
    data = bytes([0x04]) + SPOT_MINIMAL[1:] + b"\x01\x00"
    with pytest.raises(ParseError) as excinfo:
        parse_plx_spot_check(data)
    assert excinfo.value.field == "device_and_sensor_status"
    assert "(3 bytes)" in str(excinfo.value)


def test_spot_empty() -> None:
    with pytest.raises(ParseError, match=r"empty.*\(raw: <empty>\)") as excinfo:
        parse_plx_spot_check(b"")
    assert excinfo.value.field == "flags"


def test_spot_rfu_flag_bits_ignored() -> None:
    assert parse_plx_spot_check(bytes([0xE0]) + SPOT_MINIMAL[1:]) == parse_plx_spot_check(
        SPOT_MINIMAL
    )


def test_spot_trailing_bytes_accepted() -> None:
    m = parse_plx_spot_check(SPOT_MINIMAL + b"\xaa\xbb")
    assert m.trailing_bytes == 2
    assert m.spo2 == 97.0
    assert parse_plx_spot_check(SPOT_FULL + b"\x00").trailing_bytes == 1
    assert "trailing_bytes" not in parse_plx_spot_check(SPOT_FULL + b"\x00").to_json()


def test_spot_special_values() -> None:
    # A sensor without a reading sends NaN; the PLXS says an unavailable PAI is NaN too.
    data = bytes.fromhex("08" + "ff07" + "0008" + "ff07")
    m = parse_plx_spot_check(data)
    assert m.spo2 is SpecialValue.NAN
    assert m.pulse_rate is SpecialValue.NRES
    assert m.pulse_amplitude_index is SpecialValue.NAN
    out = m.to_json()
    assert (out["spo2"], out["pulse_rate"], out["pulse_amplitude_index"]) == ("NaN", "NRes", "NaN")
    strict_json(out)
    other = parse_plx_spot_check(bytes.fromhex("00" + "fe07" + "0208")).to_json()
    assert (other["spo2"], other["pulse_rate"]) == ("+INF", "-INF")
    reserved = parse_plx_spot_check(bytes.fromhex("00" + "0108" + "4000")).to_json()
    assert reserved["spo2"] == "Reserved"


# --- PLX Continuous Measurement 0x2A5F -----------------------------------------------------


def test_cont_very_simple_spezi() -> None:
    m = parse_plx_continuous(CONT_VERY_SIMPLE)
    assert m == PlxContinuousMeasurement(spo2=100.0, pulse_rate=90.0)
    assert parse_plx_continuous(CONT_VERY_SIMPLE_ENCODED) == m
    assert build_plx_continuous(100, 90, spo2_exponent=-1, pulse_rate_exponent=-1) == (
        CONT_VERY_SIMPLE_ENCODED
    )
    assert build_plx_continuous(100, 90) == CONT_VERY_SIMPLE
    assert m.to_json() == {
        "type": "plx_continuous",
        "spo2": 100.0,
        "pulse_rate": 90.0,
        "spo2_fast": None,
        "pulse_rate_fast": None,
        "spo2_slow": None,
        "pulse_rate_slow": None,
        "measurement_status": None,
        "device_and_sensor_status": None,
        "pulse_amplitude_index": None,
    }


def test_cont_simple_spezi() -> None:
    m = parse_plx_continuous(CONT_SIMPLE)
    assert m == PlxContinuousMeasurement(
        spo2=95.0,
        pulse_rate=90.0,
        measurement_status=("measurement_ongoing",),
        device_and_sensor_status=(),
        pulse_amplitude_index=8.7,
    )
    # An all-clear status word is an empty list, not null: the field was sent.
    assert m.to_json()["device_and_sensor_status"] == []
    assert (
        build_plx_continuous(
            95,
            90,
            measurement_status=["measurement_ongoing"],
            device_and_sensor_status=[],
            pulse_amplitude_index=8.7,
        )
        == CONT_SIMPLE
    )


def test_cont_full_spezi() -> None:
    m = parse_plx_continuous(CONT_FULL)
    assert m == PlxContinuousMeasurement(
        spo2=99.0,
        pulse_rate=97.0,
        spo2_fast=97.0,
        pulse_rate_fast=137.0,
        spo2_slow=98.0,
        pulse_rate_slow=69.0,
        measurement_status=("measurement_ongoing", "fully_qualified_data"),
        device_and_sensor_status=(),
        pulse_amplitude_index=8.9,
    )
    out = m.to_json()
    assert list(out) == CONT_KEYS
    assert json.loads(strict_json(out)) == out
    assert (
        build_plx_continuous(
            99,
            97,
            spo2_exponent=-1,
            pulse_rate_exponent=-1,
            spo2_fast=97,
            pulse_rate_fast=137,
            spo2_slow=98,
            pulse_rate_slow=69,
            measurement_status=["measurement_ongoing", "fully_qualified_data"],
            device_and_sensor_status=[],
            pulse_amplitude_index=8.9,
            pulse_amplitude_index_exponent=-2,
        )
        == CONT_FULL
    )


def test_cont_slow_only_gss() -> None:
    # GSS: flags 0x02 -> SpO2PR-Slow follows SpO2PR-Normal directly (no fast pair).
    data = bytes.fromhex("02" + "6000" + "4800" + "5f00" + "4600")
    m = parse_plx_continuous(data)
    assert (m.spo2, m.pulse_rate, m.spo2_slow, m.pulse_rate_slow) == (96.0, 72.0, 95.0, 70.0)
    assert m.spo2_fast is None and m.pulse_rate_fast is None


def _cont_field_at(length: int) -> str:
    layout = [
        (1, "flags"),
        (3, "spo2"),
        (5, "pulse_rate"),
        (7, "spo2_fast"),
        (9, "pulse_rate_fast"),
        (11, "spo2_slow"),
        (13, "pulse_rate_slow"),
        (15, "measurement_status"),
        (18, "device_and_sensor_status"),
        (20, "pulse_amplitude_index"),
    ]
    return next(name for end, name in layout if length < end)


@pytest.mark.parametrize("length", range(1, len(CONT_FULL)))
def test_cont_truncated_at_every_byte_names_the_field(length: int) -> None:
    cut = CONT_FULL[:length]
    with pytest.raises(ParseError) as excinfo:
        parse_plx_continuous(cut)
    err = excinfo.value
    assert err.field == _cont_field_at(length)
    assert err.characteristic == "PLX Continuous Measurement (0x2A5F)"
    assert f"only {length} bytes long" in str(err)
    assert f"(raw: {cut.hex()})" in str(err)


@pytest.mark.parametrize(
    ("flag", "field"),
    [
        (0x01, "spo2_fast"),
        (0x02, "spo2_slow"),
        (0x04, "measurement_status"),
        (0x08, "device_and_sensor_status"),
        (0x10, "pulse_amplitude_index"),
    ],
)
def test_cont_each_flag_without_its_field(flag: int, field: str) -> None:
    with pytest.raises(ParseError) as excinfo:
        parse_plx_continuous(bytes([flag]) + CONT_VERY_SIMPLE[1:])
    assert excinfo.value.field == field
    assert f"flags 0x{flag:02x} promise" in str(excinfo.value)


def test_cont_empty() -> None:
    with pytest.raises(ParseError) as excinfo:
        parse_plx_continuous(b"")
    assert excinfo.value.field == "flags"


def test_cont_rfu_flag_bits_ignored_and_trailing_counted() -> None:
    m = parse_plx_continuous(bytes([0xE0]) + CONT_VERY_SIMPLE[1:] + b"\x01\x02\x03")
    assert m == PlxContinuousMeasurement(spo2=100.0, pulse_rate=90.0, trailing_bytes=3)


def test_cont_special_values() -> None:
    data = build_plx_continuous(
        SpecialValue.NAN,
        SpecialValue.NAN,
        spo2_fast=SpecialValue.POSITIVE_INFINITY,
        pulse_rate_fast=SpecialValue.NEGATIVE_INFINITY,
        pulse_amplitude_index=SpecialValue.NRES,
    )
    assert data[1:5] == bytes.fromhex("ff07ff07")
    out = parse_plx_continuous(data).to_json()
    assert (out["spo2"], out["pulse_rate"]) == ("NaN", "NaN")
    assert (out["spo2_fast"], out["pulse_rate_fast"]) == ("+INF", "-INF")
    assert out["pulse_amplitude_index"] == "NRes"
    strict_json(out)


# --- status bit fields ---------------------------------------------------------------------


def test_status_name_tables_match_gss() -> None:
    # GSS Measurement Status: bits 0-4 RFU, then 11 named bits; D&S: 16 named bits, 16-23 RFU.
    assert MEASUREMENT_STATUS_NAMES[:5] == (None,) * 5
    assert MEASUREMENT_STATUS_NAMES[5:] == (
        "measurement_ongoing",
        "early_estimated_data",
        "validated_data",
        "fully_qualified_data",
        "data_from_measurement_storage",
        "data_for_demonstration",
        "data_for_testing",
        "calibration_ongoing",
        "measurement_unavailable",
        "questionable_measurement_detected",
        "invalid_measurement_detected",
    )
    assert len(DEVICE_AND_SENSOR_STATUS_NAMES) == 24
    assert DEVICE_AND_SENSOR_STATUS_NAMES[16:] == (None,) * 8
    assert DEVICE_AND_SENSOR_STATUS_NAMES[:16] == (
        "extended_display_update_ongoing",
        "equipment_malfunction_detected",
        "signal_processing_irregularity_detected",
        "inadequate_signal_detected",
        "poor_signal_detected",
        "low_perfusion_detected",
        "erratic_signal_detected",
        "nonpulsatile_signal_detected",
        "questionable_pulse_detected",
        "signal_analysis_ongoing",
        "sensor_interference_detected",
        "sensor_unconnected_to_user",
        "unknown_sensor_connected",
        "sensor_displaced",
        "sensor_malfunctioning",
        "sensor_disconnected",
    )


@pytest.mark.parametrize(
    ("raw", "names"),
    [
        (0x0000, ()),
        (0x001F, ()),  # bits 0-4 RFU: ignored
        (0x0020, ("measurement_ongoing",)),  # SPEZI simple
        (0x0120, ("measurement_ongoing", "fully_qualified_data")),  # SPEZI full
        (0x4020, SPOT_FULL_STATUS),  # SPEZI spot-check
        (0x1040, ("early_estimated_data", "calibration_ongoing")),  # SPEZI features
        (0x0080, ("validated_data",)),  # BTSIG_PY
        (0x8000, ("invalid_measurement_detected",)),  # GSS bit 15
        (0x2000, ("measurement_unavailable",)),  # GSS bit 13
    ],
)
def test_measurement_status(raw: int, names: tuple[str, ...]) -> None:
    assert decode_measurement_status(raw) == names


@pytest.mark.parametrize(
    ("raw", "names"),
    [
        (0x000000, ()),
        (0x000022, SPOT_FULL_DEVICE),  # SPEZI spot-check
        (0x000180, ("nonpulsatile_signal_detected", "questionable_pulse_detected")),  # SPEZI
        (0x000001, ("extended_display_update_ongoing",)),  # GSS bit 0
        (0x008000, ("sensor_disconnected",)),  # GSS bit 15
        (0xFF0000, ()),  # bits 16-23 RFU: ignored
    ],
)
def test_device_and_sensor_status(raw: int, names: tuple[str, ...]) -> None:
    assert decode_device_and_sensor_status(raw) == names


def test_rfu_status_bits_ignored_in_measurements() -> None:
    data = bytes([0x06]) + SPOT_MINIMAL[1:] + bytes.fromhex("1f00" + "0000ff")
    m = parse_plx_spot_check(data)
    assert m.measurement_status == () and m.device_and_sensor_status == ()


def test_status_encoders_reject_unknown_names() -> None:
    with pytest.raises(ValueError, match="unknown measurement status"):
        encode_measurement_status(["finger_on_fire"])
    with pytest.raises(ValueError, match="unknown device and sensor status"):
        encode_device_and_sensor_status(["measurement_ongoing"])
    assert encode_measurement_status(["invalid_measurement_detected"]) == 0x8000
    assert encode_device_and_sensor_status(["sensor_disconnected"]) == 0x8000


# --- PLX Features 0x2A60 -------------------------------------------------------------------


def test_features_full_spezi() -> None:
    f = parse_plx_features(FEATURES_FULL)
    assert f == PlxFeatures(
        features=(
            "measurement_status_support",
            "device_and_sensor_status_support",
            "spo2pr_slow",
            "multiple_bonds",
        ),
        measurement_status_support=("early_estimated_data", "calibration_ongoing"),
        device_and_sensor_status_support=(
            "nonpulsatile_signal_detected",
            "questionable_pulse_detected",
        ),
    )
    out = f.to_json()
    assert list(out) == FEATURE_KEYS
    strict_json(out)
    assert (
        build_plx_features(
            ["spo2pr_slow", "multiple_bonds"],
            measurement_status_support=["calibration_ongoing", "early_estimated_data"],
            device_and_sensor_status_support=[
                "nonpulsatile_signal_detected",
                "questionable_pulse_detected",
            ],
        )
        == FEATURES_FULL
    )


@pytest.mark.parametrize(
    ("data", "features"),
    [
        (bytes.fromhex("0000"), ()),
        (bytes.fromhex("fc00"), FEATURE_NAMES[2:]),  # GSS bits 2-7, no support fields follow
        (bytes.fromhex("0800"), ("spot_check_timestamp",)),  # GSS bit 3
        (bytes.fromhex("0400"), ("spot_check_measurement_storage",)),  # GSS bit 2
        (bytes.fromhex("00ff"), ()),  # bits 8-15 RFU: ignored
    ],
)
def test_features_without_support_fields(data: bytes, features: tuple[str, ...]) -> None:
    parsed = parse_plx_features(data)
    assert parsed == PlxFeatures(features)
    assert parsed.to_json() == {
        "type": "plx_features",
        "features": list(features),
        "measurement_status_support": None,
        "device_and_sensor_status_support": None,
    }


def test_features_device_status_support_only() -> None:
    # GSS: bit1 alone -> the uint24 follows the uint16 directly.
    f = parse_plx_features(bytes.fromhex("0200" + "018000"))
    assert f.measurement_status_support is None
    assert f.device_and_sensor_status_support == (
        "extended_display_update_ongoing",
        "sensor_disconnected",
    )


def _features_field_at(length: int) -> str:
    layout = [(2, "features"), (4, "measurement_status_support")]
    return next((name for end, name in layout if length < end), "device_and_sensor_status_support")


@pytest.mark.parametrize("length", range(len(FEATURES_FULL)))
def test_features_truncated_at_every_byte_names_the_field(length: int) -> None:
    cut = FEATURES_FULL[:length]
    with pytest.raises(ParseError) as excinfo:
        parse_plx_features(cut)
    err = excinfo.value
    assert err.field == _features_field_at(length)
    assert err.characteristic == "PLX Features (0x2A60)"
    if length:
        assert f"only {length} bytes long" in str(err)
    if length >= 2:
        assert "supported features 0x00a3 promise" in str(err)


def test_features_trailing_bytes() -> None:
    assert parse_plx_features(FEATURES_FULL + b"\x99").trailing_bytes == 1
    assert parse_plx_features(b"\x80\x00\x01\x02").trailing_bytes == 2


@pytest.mark.parametrize(
    ("args", "kwargs", "message"),
    [
        (["teleportation"], {}, "unknown PLX feature"),
        (["measurement_status_support"], {}, "needs the measurement_status_support argument"),
        (
            ["device_and_sensor_status_support"],
            {},
            "needs the device_and_sensor_status_support argument",
        ),
        ([], {"measurement_status_support": ["nope"]}, "unknown measurement status"),
    ],
)
def test_features_builder_rejects_bad_input(
    args: list[str], kwargs: dict[str, Any], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        build_plx_features(args, **kwargs)


def test_features_builder_support_list_sets_its_bit() -> None:
    assert build_plx_features(measurement_status_support=[]) == bytes.fromhex("0100" + "0000")


# --- PARSERS -------------------------------------------------------------------------------


def test_parsers_table() -> None:
    expected = {
        0x2A5E: ("PLX Spot-Check Measurement (0x2A5E)", parse_plx_spot_check),
        0x2A5F: ("PLX Continuous Measurement (0x2A5F)", parse_plx_continuous),
        0x2A60: ("PLX Features (0x2A60)", parse_plx_features),
    }
    assert expected == PARSERS
    for uuid, vector in ((0x2A5E, SPOT_FULL), (0x2A5F, CONT_FULL), (0x2A60, FEATURES_FULL)):
        name, parser = PARSERS[uuid]
        assert f"(0x{uuid:04X})" in name
        parser(bytearray(vector))  # bleak hands over bytearray
        assert parser(memoryview(vector)) == parser(vector)


# --- properties: nothing but ParseError, for any bytes -------------------------------------

ALL_PARSERS: list[Callable[[bytes], Any]] = [
    parse_plx_spot_check,
    parse_plx_continuous,
    parse_plx_features,
]


@pytest.mark.parametrize("parser", ALL_PARSERS, ids=lambda p: p.__name__)
@given(data=st.binary(max_size=40))
def test_any_bytes_parse_or_parse_error(parser: Callable[[bytes], Any], data: bytes) -> None:
    try:
        out = parser(data).to_json()
    except ParseError as err:
        assert err.field is not None
        assert data.hex() in str(err) or not data
        return
    json.loads(strict_json(out))


@pytest.mark.parametrize("parser", ALL_PARSERS, ids=lambda p: p.__name__)
@given(data=st.binary(min_size=5, max_size=40), flags=st.integers(0, 0xFF))
def test_flagged_fields_fuzz_structured(
    parser: Callable[[bytes], Any], data: bytes, flags: int
) -> None:
    # Force the flags so the fuzzing reaches the optional fields, not just the length check.
    value = bytes([flags | 0x0F]) + data[1:]
    try:
        parser(value)
    except ParseError as err:
        assert err.field is not None


# --- properties: encoder round trips -------------------------------------------------------

_SPECIALS = st.sampled_from(list(SpecialValue))
_DATETIMES = st.datetimes(
    min_value=datetime(1582, 1, 1), max_value=datetime(9999, 12, 31, 23, 59, 59)
).map(lambda d: d.replace(microsecond=0))
_STATUS_NAMES = [name for name in MEASUREMENT_STATUS_NAMES if name is not None]
_DEVICE_NAMES = [name for name in DEVICE_AND_SENSOR_STATUS_NAMES if name is not None]
_EXPONENTS = st.integers(-8, 7)


def _sfloat_at(exponent: int) -> st.SearchStrategy[float | SpecialValue]:
    specials = {2046, 2047, -2048, -2047, -2046} if exponent == 0 else set()
    mantissas = st.integers(-2048, 2047).filter(lambda m: m not in specials)
    numbers = mantissas.map(
        lambda m: float(m * 10**exponent) if exponent >= 0 else m / 10**-exponent
    )
    return st.one_of(numbers, _SPECIALS)


def _in_bit_order(chosen: set[str], table: tuple[str | None, ...]) -> tuple[str, ...]:
    return tuple(name for name in table if name is not None and name in chosen)


@st.composite
def _common_args(draw: st.DrawFn) -> dict[str, Any]:
    spo2_exponent, pulse_exponent, pai_exponent = (
        draw(_EXPONENTS),
        draw(_EXPONENTS),
        draw(_EXPONENTS),
    )
    return {
        "spo2_exponent": spo2_exponent,
        "pulse_rate_exponent": pulse_exponent,
        "pulse_amplitude_index_exponent": pai_exponent,
        "spo2": draw(_sfloat_at(spo2_exponent)),
        "pulse_rate": draw(_sfloat_at(pulse_exponent)),
        "measurement_status": draw(st.none() | st.sets(st.sampled_from(_STATUS_NAMES))),
        "device_and_sensor_status": draw(st.none() | st.sets(st.sampled_from(_DEVICE_NAMES))),
        "pulse_amplitude_index": draw(st.none() | _sfloat_at(pai_exponent)),
    }


def _expected_statuses(args: dict[str, Any]) -> dict[str, Any]:
    status, device = args["measurement_status"], args["device_and_sensor_status"]
    return {
        "measurement_status": (
            None if status is None else _in_bit_order(status, MEASUREMENT_STATUS_NAMES)
        ),
        "device_and_sensor_status": (
            None if device is None else _in_bit_order(device, DEVICE_AND_SENSOR_STATUS_NAMES)
        ),
    }


@given(
    args=_common_args(),
    timestamp=st.none() | _DATETIMES,
    clock_not_set=st.booleans(),
    trailing=st.binary(max_size=4),
)
def test_spot_round_trip(
    args: dict[str, Any], timestamp: datetime | None, clock_not_set: bool, trailing: bytes
) -> None:
    spo2, pulse_rate = args.pop("spo2"), args.pop("pulse_rate")
    data = build_plx_spot_check(
        spo2, pulse_rate, timestamp=timestamp, device_clock_not_set=clock_not_set, **args
    )
    parsed = parse_plx_spot_check(data + trailing)
    assert parsed == PlxSpotCheckMeasurement(
        spo2=spo2,
        pulse_rate=pulse_rate,
        timestamp=timestamp,
        pulse_amplitude_index=args["pulse_amplitude_index"],
        device_clock_not_set=clock_not_set,
        trailing_bytes=len(trailing),
        **_expected_statuses(args),
    )
    out = parsed.to_json()
    assert list(out) == SPOT_KEYS
    strict_json(out)


@st.composite
def _pair(draw: st.DrawFn, spo2_exponent: int, pulse_exponent: int) -> tuple[Any, Any] | None:
    if not draw(st.booleans()):
        return None
    return draw(_sfloat_at(spo2_exponent)), draw(_sfloat_at(pulse_exponent))


@given(data=st.data(), trailing=st.binary(max_size=4))
def test_cont_round_trip(data: st.DataObject, trailing: bytes) -> None:
    args = data.draw(_common_args())
    fast = data.draw(_pair(args["spo2_exponent"], args["pulse_rate_exponent"]))
    slow = data.draw(_pair(args["spo2_exponent"], args["pulse_rate_exponent"]))
    spo2, pulse_rate = args.pop("spo2"), args.pop("pulse_rate")
    value = build_plx_continuous(
        spo2,
        pulse_rate,
        spo2_fast=None if fast is None else fast[0],
        pulse_rate_fast=None if fast is None else fast[1],
        spo2_slow=None if slow is None else slow[0],
        pulse_rate_slow=None if slow is None else slow[1],
        **args,
    )
    parsed = parse_plx_continuous(value + trailing)
    assert parsed == PlxContinuousMeasurement(
        spo2=spo2,
        pulse_rate=pulse_rate,
        spo2_fast=None if fast is None else fast[0],
        pulse_rate_fast=None if fast is None else fast[1],
        spo2_slow=None if slow is None else slow[0],
        pulse_rate_slow=None if slow is None else slow[1],
        pulse_amplitude_index=args["pulse_amplitude_index"],
        trailing_bytes=len(trailing),
        **_expected_statuses(args),
    )
    out = parsed.to_json()
    assert list(out) == CONT_KEYS
    strict_json(out)


@given(
    features=st.sets(st.sampled_from(FEATURE_NAMES[2:])),
    status=st.none() | st.sets(st.sampled_from(_STATUS_NAMES)),
    device=st.none() | st.sets(st.sampled_from(_DEVICE_NAMES)),
)
def test_features_round_trip(
    features: set[str], status: set[str] | None, device: set[str] | None
) -> None:
    value = build_plx_features(
        features, measurement_status_support=status, device_and_sensor_status_support=device
    )
    parsed = parse_plx_features(value)
    chosen = set(features)
    if status is not None:
        chosen.add("measurement_status_support")
    if device is not None:
        chosen.add("device_and_sensor_status_support")
    assert parsed == PlxFeatures(
        features=tuple(name for name in FEATURE_NAMES if name in chosen),
        measurement_status_support=(
            None if status is None else _in_bit_order(status, MEASUREMENT_STATUS_NAMES)
        ),
        device_and_sensor_status_support=(
            None if device is None else _in_bit_order(device, DEVICE_AND_SENSOR_STATUS_NAMES)
        ),
    )
    assert list(parsed.to_json()) == FEATURE_KEYS


# --- builder input checks ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"timestamp": datetime(2026, 1, 1), "timestamp_unknown": True}, "not both"),
        ({"measurement_status": ["nope"]}, "unknown measurement status"),
        ({"device_and_sensor_status": ["nope"]}, "unknown device and sensor status"),
        ({"spo2_exponent": 8}, "exponent"),
        ({"pulse_amplitude_index": 1e9}, "outside the SFLOAT range"),
        ({"timestamp": datetime(1500, 1, 1)}, "1582-9999"),
    ],
)
def test_spot_builder_rejects_bad_input(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        build_plx_spot_check(97, 64, **kwargs)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"spo2_fast": 97}, "spo2_fast and pulse_rate_fast"),
        ({"pulse_rate_fast": 60}, "spo2_fast and pulse_rate_fast"),
        ({"spo2_slow": 97}, "spo2_slow and pulse_rate_slow"),
        ({"pulse_rate_slow": 60}, "spo2_slow and pulse_rate_slow"),
        ({"measurement_status": ["sensor_displaced"]}, "unknown measurement status"),
        ({"pulse_rate_exponent": -9}, "exponent"),
    ],
)
def test_cont_builder_rejects_bad_input(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        build_plx_continuous(97, 64, **kwargs)
