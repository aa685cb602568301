"""Weight Measurement (0x2A9D) and Weight Scale Feature (0x2A9E).

Vector sources (cited per case below):
  GSS_XML    Bluetooth SIG characteristic XML as mirrored in oesmith/gatt-xml:
             org.bluetooth.characteristic.weight_measurement.xml (flags bits 0-3, bits 4-7 RFU,
             weight 0.005 kg / 0.01 lb, user ID 0xFF "unknown user", BMI 0.1, height 0.001 m /
             0.1 in) and org.bluetooth.characteristic.weight_scale_feature.xml (bits 0-2,
             weight resolution bits 3-6 with codes 8-15 RFU, height resolution bits 7-9 with
             codes 4-7 RFU, bits 10-31 RFU). Same field table in the GSS rendering at
             docs.embassy.dev trouble-host characteristic::WEIGHT_MEASUREMENT.
  WSS        Weight Scale Service 1.0 section 3.2.1.2: "The special value of 0xFFFF can be used to
             indicate 'Measurement Unsuccessful' to the Client. If this is used, all optional
             fields other than the Time Stamp field and the User ID field shall be disabled."
             (quoted verbatim in Qualcomm/Stonestreet Bluetopia wssapi.h and in a public
             TypeScript BleWeightScaleMeasurementSerializer found through the code index).
  RONAN      RonanB96/bluetooth-sig-python tests/gatt/characteristics/test_weight_measurement.py
             (valid_test_data entries, named by their description) and
             tests/gatt/characteristics/test_weight_scale_feature.py.
  BF720      bearyjd/bascule app/src/test/kotlin/com/ventouxlabs/bascule/ble/fake/Bf720Capture.kt
             WEIGHT_MEASUREMENT: a Beurer BF720 notification captured off real hardware, with its
             expected values (90.82 kg, user 2, BMI 31.4, 1.700 m, 2026-08-22 16:51:01).
"""

from __future__ import annotations

import dataclasses
import json
from datetime import datetime
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hub.devices.errors import ParseError
from hub.devices.gatt_time import encode_date_time
from hub.devices.weight import (
    FEATURE_NAMES,
    HEIGHT_RESOLUTIONS,
    PARSERS,
    UNKNOWN_USER,
    WEIGHT_RESOLUTIONS,
    WeightMeasurement,
    WeightScaleFeature,
    build_weight_measurement,
    build_weight_scale_feature,
    parse_weight_measurement,
    parse_weight_scale_feature,
)
from tests.conftest import strict_json

WM_KEYS = [
    "type",
    "weight",
    "unit",
    "timestamp",
    "user_id",
    "bmi",
    "height",
    "height_unit",
    "measurement_unsuccessful",
]
FEATURE_KEYS = [
    "type",
    "features",
    "weight_resolution",
    "weight_resolution_lb",
    "height_resolution",
    "height_resolution_in",
]

# BF720 WEIGHT_MEASUREMENT: flags 0x0E (time stamp, user ID, BMI+height), SI.
BF720 = bytes.fromhex("0e" + "f446" + "ea07081610" + "3301" + "02" + "3a01" + "a406")
# RONAN "Full imperial measurement with all optional fields": flags 0x1F; bit 4 is RFU per GSS
# (RONAN reads it as "height present"), but the layout coincides because bit 3 already brings
# BMI and height.
RONAN_FULL_IMPERIAL = bytes.fromhex("1f543de7070c190e1e2d03f500a802")


# --- Weight Measurement 0x2A9D: vectors ------------------------------------------------------


def test_bf720_capture() -> None:
    m = parse_weight_measurement(BF720)
    assert m == WeightMeasurement(
        weight=90.82,
        unit="kg",
        timestamp=datetime(2026, 8, 22, 16, 51, 1),
        user_id=2,
        bmi=31.4,
        height=1.7,
    )
    assert m.trailing_bytes == 0
    assert m.to_json() == {
        "type": "weight_measurement",
        "weight": 90.82,
        "unit": "kg",
        "timestamp": "2026-08-22T16:51:01",
        "user_id": 2,
        "bmi": 31.4,
        "height": 1.7,
        "height_unit": "m",
        "measurement_unsuccessful": False,
    }
    assert list(m.to_json()) == WM_KEYS


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        # RONAN "Basic weight measurement (metric)": raw 14000 -> exactly 70.0 kg.
        (bytes.fromhex("00b036"), WeightMeasurement(70.0, "kg")),
        # RONAN "Imperial units weight measurement": raw 15700 -> 157.0 lb.
        (bytes.fromhex("01543d"), WeightMeasurement(157.0, "lb")),
        # RONAN "Weight measurement with timestamp".
        (
            bytes.fromhex("02b036e7070c190e1e2d"),
            WeightMeasurement(70.0, "kg", timestamp=datetime(2023, 12, 25, 14, 30, 45)),
        ),
        # RONAN "Full imperial measurement with all optional fields": 68.0 in, BMI 24.5.
        (
            RONAN_FULL_IMPERIAL,
            WeightMeasurement(
                157.0,
                "lb",
                timestamp=datetime(2023, 12, 25, 14, 30, 45),
                user_id=3,
                bmi=24.5,
                height=68.0,
            ),
        ),
    ],
)
def test_peer_vectors(data: bytes, expected: WeightMeasurement) -> None:
    assert parse_weight_measurement(data) == expected


def test_imperial_json_units() -> None:
    out = parse_weight_measurement(RONAN_FULL_IMPERIAL).to_json()
    assert (out["unit"], out["height_unit"]) == ("lb", "in")
    assert (out["weight"], out["height"], out["bmi"]) == (157.0, 68.0, 24.5)


def test_ronan_bit4_as_height_is_rfu() -> None:
    # RONAN "Weight measurement with height (metric)": flags 0x10. Per GSS_XML bit 4 is RFU and
    # height travels only with bit 3, so the two bytes are unflagged trailing data, not 1.75 m.
    m = parse_weight_measurement(bytes.fromhex("10b036d606"))
    assert m == WeightMeasurement(70.0, "kg", trailing_bytes=2)
    assert m.height is None


def test_ronan_bmi_without_height_is_truncated() -> None:
    # RONAN "Weight measurement with user ID and BMI": flags 0x0C but no height. GSS_XML: bit 3
    # is "BMI and Height present", so the value is missing its height field.
    with pytest.raises(ParseError) as excinfo:
        parse_weight_measurement(bytes.fromhex("0cb03605f500"))
    assert excinfo.value.field == "height"
    assert str(excinfo.value) == (
        "Weight Measurement (0x2A9D): flags 0x0c promise a height (2 bytes, sent with the BMI) "
        "at byte 6 but the value is only 6 bytes long (raw: 0cb03605f500)"
    )


@pytest.mark.parametrize("data", [bytes([0x00, 0x01]), bytes([0x00])])
def test_ronan_too_short(data: bytes) -> None:
    # RONAN test_weight_measurement_invalid_data: 2 and 1 bytes, weight missing.
    with pytest.raises(ParseError) as excinfo:
        parse_weight_measurement(data)
    assert excinfo.value.field == "weight"
    assert "at least 3 are required" in str(excinfo.value)


# --- Measurement Unsuccessful (WSS, GSS: weight 0xFFFF) --------------------------------------


@pytest.mark.parametrize(("flags", "unit"), [(0x00, "kg"), (0x01, "lb")])
def test_measurement_unsuccessful(flags: int, unit: str) -> None:
    m = parse_weight_measurement(bytes([flags, 0xFF, 0xFF]))
    assert m.weight is None
    assert m.measurement_unsuccessful is True
    out = m.to_json()
    assert out["weight"] is None
    assert out["measurement_unsuccessful"] is True
    assert out["unit"] == unit
    strict_json(out)


def test_measurement_unsuccessful_with_time_and_user() -> None:
    # WSS: time stamp and user ID may still accompany an unsuccessful measurement.
    data = bytes.fromhex("06ffff" + "ea07081610330102")
    m = parse_weight_measurement(data)
    assert m == WeightMeasurement(
        None,
        "kg",
        timestamp=datetime(2026, 8, 22, 16, 51, 1),
        user_id=2,
        measurement_unsuccessful=True,
    )
    stamp = datetime(2026, 8, 22, 16, 51, 1)
    assert build_weight_measurement(None, timestamp=stamp, user_id=2) == data


def test_measurement_unsuccessful_with_bmi_decoded_as_sent() -> None:
    # Non-conforming per WSS (BMI/height "shall be disabled"), but the flags still define the
    # layout: decode what was sent and keep the unsuccessful marker.
    m = parse_weight_measurement(bytes.fromhex("08ffff" + "f500" + "d606"))
    assert (m.weight, m.measurement_unsuccessful, m.bmi, m.height) == (None, True, 24.5, 1.75)


def test_largest_real_weight_is_not_unsuccessful() -> None:
    m = parse_weight_measurement(bytes.fromhex("00feff"))
    assert (m.weight, m.measurement_unsuccessful) == (327.67, False)
    assert parse_weight_measurement(bytes.fromhex("01feff")).weight == 655.34


# --- truncation, RFU bits, trailing bytes, special fields -----------------------------------


def _bf720_field_at(length: int) -> str:
    layout = [(1, "flags"), (3, "weight"), (10, "timestamp"), (11, "user_id"), (13, "bmi")]
    layout.append((15, "height"))
    return next(name for end, name in layout if length < end)


@pytest.mark.parametrize("length", range(len(BF720)))
def test_truncated_at_every_byte_names_the_field(length: int) -> None:
    with pytest.raises(ParseError) as excinfo:
        parse_weight_measurement(BF720[:length])
    err = excinfo.value
    assert err.field == _bf720_field_at(length)
    assert err.characteristic == "Weight Measurement (0x2A9D)"
    if length:
        assert f"only {length} bytes long" in str(err)
        assert f"(raw: {BF720[:length].hex()})" in str(err)
    else:
        assert "empty" in str(err)


@pytest.mark.parametrize(("flag", "field"), [(0x02, "timestamp"), (0x04, "user_id"), (0x08, "bmi")])
def test_each_flag_without_its_field(flag: int, field: str) -> None:
    with pytest.raises(ParseError) as excinfo:
        parse_weight_measurement(bytes([flag, 0xB0, 0x36]))
    assert excinfo.value.field == field
    assert f"flags 0x{flag:02x} promise" in str(excinfo.value)
    assert "at byte 3" in str(excinfo.value)


@pytest.mark.parametrize("rfu", [0x10, 0x20, 0x40, 0x80, 0xF0])
def test_rfu_flag_bits_ignored(rfu: int) -> None:
    assert parse_weight_measurement(bytes([0x0E | rfu]) + BF720[1:]) == (
        parse_weight_measurement(BF720)
    )


def test_trailing_bytes_counted_not_in_json() -> None:
    m = parse_weight_measurement(BF720 + b"\xaa\xbb\xcc")
    assert m.trailing_bytes == 3
    assert m.weight == 90.82
    assert "trailing_bytes" not in m.to_json()


def test_unknown_user_kept_as_255() -> None:
    data = build_weight_measurement(70.0, user_id=UNKNOWN_USER)
    assert data == bytes.fromhex("04b036ff")
    assert parse_weight_measurement(data).to_json()["user_id"] == 255


def test_timestamp_not_known_is_null() -> None:
    data = build_weight_measurement(70.0, timestamp_unknown=True)
    assert data == bytes.fromhex("02b036") + bytes(7)
    m = parse_weight_measurement(data)
    assert m.timestamp is None
    assert m.to_json()["timestamp"] is None


@pytest.mark.parametrize(
    ("date_time", "field"),
    [
        ("ea070d1610 3301", "timestamp.month"),
        ("ea07081618 3301", "timestamp.hours"),
        ("ea0702 1e10 3301", "timestamp.day"),  # 30 February
        ("e803081610 3301", "timestamp.year"),  # year 1000 is RFU
    ],
)
def test_invalid_timestamp_names_subfield(date_time: str, field: str) -> None:
    data = bytes.fromhex("02b036" + date_time.replace(" ", ""))
    with pytest.raises(ParseError) as excinfo:
        parse_weight_measurement(data)
    assert excinfo.value.field == field
    assert excinfo.value.characteristic == "Weight Measurement (0x2A9D)"


# --- exact decimals ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("step", "flags", "offset"),
    [
        (Decimal("0.005"), 0x00, 1),  # weight, kg
        (Decimal("0.01"), 0x01, 1),  # weight, lb
        (Decimal("0.1"), 0x08, 3),  # BMI
        (Decimal("0.001"), 0x08, 5),  # height, m
        (Decimal("0.1"), 0x09, 5),  # height, in
    ],
)
def test_every_raw_value_decodes_to_its_exact_decimal(
    step: Decimal, flags: int, offset: int
) -> None:
    # For every uint16, the float's shortest repr is the exact decimal raw * step: no
    # 70.00000000000001-style artefacts anywhere in the range (0xFFFF weight excluded: it is the
    # "unsuccessful" marker).
    template = bytearray([flags, 0, 0, 0, 0, 0, 0])
    for raw in range(0xFFFF):
        template[offset : offset + 2] = raw.to_bytes(2, "little")
        m = parse_weight_measurement(template)
        value = {1: m.weight, 3: m.bmi, 5: m.height}[offset]
        assert Decimal(repr(value)) == raw * step, (raw, value)


# --- properties ---------------------------------------------------------------------------


@given(data=st.binary(max_size=40))
def test_any_bytes_parse_or_parse_error(data: bytes) -> None:
    try:
        m = parse_weight_measurement(data)
    except ParseError as err:
        assert data.hex() in str(err) or not data
        assert err.field is not None
    else:
        out = m.to_json()
        assert list(out) == WM_KEYS
        json.loads(strict_json(out))


@given(data=st.binary(min_size=3, max_size=40), flags=st.integers(0, 0xFF))
def test_flagged_fields_fuzz_structured(data: bytes, flags: int) -> None:
    value = bytes([flags]) + data[1:]
    try:
        parse_weight_measurement(value)
    except ParseError as err:
        assert err.field is not None


_DATETIMES = st.datetimes(
    min_value=datetime(1582, 1, 1), max_value=datetime(9999, 12, 31, 23, 59, 59)
).map(lambda d: d.replace(microsecond=0))


@st.composite
def _weight_args(draw: st.DrawFn) -> tuple[dict[str, Any], WeightMeasurement]:
    unit = draw(st.sampled_from(["kg", "lb"]))
    mass_scale, height_scale = (200, 1000) if unit == "kg" else (100, 10)
    raw_weight = draw(st.none() | st.integers(0, 0xFFFE))
    weight = None if raw_weight is None else raw_weight / mass_scale
    timestamp = draw(st.none() | _DATETIMES)
    user_id = draw(st.none() | st.integers(0, 255))
    bmi = height = None
    if weight is not None and draw(st.booleans()):
        bmi = draw(st.integers(0, 0xFFFF)) / 10
        height = draw(st.integers(0, 0xFFFF)) / height_scale
    kwargs = {
        "unit": unit,
        "timestamp": timestamp,
        "user_id": user_id,
        "bmi": bmi,
        "height": height,
    }
    expected = WeightMeasurement(
        weight=weight,
        unit=unit,  # type: ignore[arg-type]
        timestamp=timestamp,
        user_id=user_id,
        bmi=bmi,
        height=height,
        measurement_unsuccessful=weight is None,
    )
    return {"weight": weight, **kwargs}, expected


@given(case=_weight_args(), trailing=st.binary(max_size=4))
def test_round_trip(case: tuple[dict[str, Any], WeightMeasurement], trailing: bytes) -> None:
    kwargs, expected = case
    weight = kwargs.pop("weight")
    data = build_weight_measurement(weight, **kwargs)
    parsed = parse_weight_measurement(data + trailing)
    assert parsed == dataclasses.replace(expected, trailing_bytes=len(trailing))
    strict_json(parsed.to_json())


def test_builder_rounds_half_up_to_resolution() -> None:
    assert build_weight_measurement(70.0) == bytes.fromhex("00b036")
    assert build_weight_measurement(70.0025) == build_weight_measurement(70.005)  # half up
    assert build_weight_measurement(70.0024) == bytes.fromhex("00b036")
    assert build_weight_measurement(157, unit="lb") == bytes.fromhex("01543d")
    assert build_weight_measurement(
        157.0,
        unit="lb",
        timestamp=datetime(2023, 12, 25, 14, 30, 45),
        user_id=3,
        bmi=24.5,
        height=68.0,
    ) == bytes.fromhex("0f543de7070c190e1e2d03f500a802")  # RONAN full imperial, no RFU bit 4
    assert (
        build_weight_measurement(
            90.82, timestamp=datetime(2026, 8, 22, 16, 51, 1), user_id=2, bmi=31.4, height=1.7
        )
        == BF720
    )


@pytest.mark.parametrize(
    ("args", "kwargs", "message"),
    [
        ((70.0,), {"unit": "st"}, "unit"),
        ((70.0,), {"user_id": 256}, "user_id"),
        ((70.0,), {"user_id": -1}, "user_id"),
        ((70.0,), {"bmi": 22.9}, "both or neither"),
        ((70.0,), {"height": 1.75}, "both or neither"),
        ((None,), {"bmi": 22.9, "height": 1.75}, "Measurement Unsuccessful"),
        ((70.0,), {"timestamp": datetime(2026, 1, 1), "timestamp_unknown": True}, "not both"),
        ((-0.005,), {}, ">= 0"),
        ((float("nan"),), {}, "finite"),
        ((float("inf"),), {}, "finite"),
        ((327.675,), {}, "largest"),  # raw 0xFFFF is reserved for "unsuccessful"
        ((655.35,), {"unit": "lb"}, "largest"),
        (("70",), {}, "number"),
        ((True,), {}, "number"),
        ((70.0,), {"bmi": 6553.6, "height": 1.75}, "bmi"),
        ((70.0,), {"bmi": 22.9, "height": 65.536}, "height"),
    ],
)
def test_builder_rejects_bad_input(
    args: tuple[Any, ...], kwargs: dict[str, Any], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        build_weight_measurement(*args, **kwargs)


# --- Weight Scale Feature 0x2A9E ------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (0x00000000, WeightScaleFeature(())),  # RONAN "No features supported"
        (0x00000007, WeightScaleFeature(FEATURE_NAMES)),  # RONAN "All basic features supported"
        # RONAN "Features with high resolution settings": 0x8F -> 0.5 kg, 0.01 m.
        (0x0000008F, WeightScaleFeature(FEATURE_NAMES, 0.5, 1.0, 0.01, 1.0)),
        # RONAN "Only weight resolution specified": 0x08 -> 0.5 kg / 1 lb.
        (0x00000008, WeightScaleFeature((), 0.5, 1.0)),
        # GSS_XML: weight code 7 (bits 3-6 = 0x38), height code 3 (bits 7-9 = 0x180).
        (0x000001B9, WeightScaleFeature(("timestamp",), 0.005, 0.01, 0.001, 0.1)),
        # GSS_XML: bits 10-31 RFU, ignored.
        (0xFFFFFC02, WeightScaleFeature(("multiple_users",))),
    ],
)
def test_feature(raw: int, expected: WeightScaleFeature) -> None:
    parsed = parse_weight_scale_feature(raw.to_bytes(4, "little"))
    assert parsed == expected
    out = parsed.to_json()
    assert list(out) == FEATURE_KEYS
    assert out["type"] == "weight_scale_feature"
    strict_json(out)


@pytest.mark.parametrize("code", range(16))
def test_feature_every_weight_resolution_code(code: int) -> None:
    # GSS_XML: 0 not specified, 1-7 the table, 8-15 RFU.
    parsed = parse_weight_scale_feature((code << 3).to_bytes(4, "little"))
    table = {0: (None, None), **WEIGHT_RESOLUTIONS}
    expected = table.get(code, ("reserved", "reserved"))
    assert (parsed.weight_resolution, parsed.weight_resolution_lb) == expected
    assert (parsed.height_resolution, parsed.features) == (None, ())


@pytest.mark.parametrize("code", range(8))
def test_feature_every_height_resolution_code(code: int) -> None:
    # GSS_XML: 0 not specified, 1-3 the table, 4-7 RFU.
    parsed = parse_weight_scale_feature((code << 7).to_bytes(4, "little"))
    table = {0: (None, None), **HEIGHT_RESOLUTIONS}
    expected = table.get(code, ("reserved", "reserved"))
    assert (parsed.height_resolution, parsed.height_resolution_in) == expected
    assert parsed.weight_resolution is None


def test_feature_resolution_table_matches_gss() -> None:
    assert WEIGHT_RESOLUTIONS == {
        1: (0.5, 1.0),
        2: (0.2, 0.5),
        3: (0.1, 0.2),
        4: (0.05, 0.1),
        5: (0.02, 0.05),
        6: (0.01, 0.02),
        7: (0.005, 0.01),
    }
    assert HEIGHT_RESOLUTIONS == {1: (0.01, 1.0), 2: (0.005, 0.5), 3: (0.001, 0.1)}


@pytest.mark.parametrize("length", range(4))
def test_feature_too_short(length: int) -> None:
    with pytest.raises(ParseError) as excinfo:
        parse_weight_scale_feature(bytes(length))
    assert excinfo.value.field == "features"
    assert excinfo.value.characteristic == "Weight Scale Feature (0x2A9E)"


def test_feature_trailing_bytes() -> None:
    assert parse_weight_scale_feature(b"\x07\x00\x00\x00\x99").trailing_bytes == 1


@given(data=st.binary(max_size=12))
def test_feature_any_bytes(data: bytes) -> None:
    try:
        parse_weight_scale_feature(data)
    except ParseError:
        assert len(data) < 4


@given(
    features=st.sets(st.sampled_from(FEATURE_NAMES)),
    weight_code=st.integers(0, 7),
    height_code=st.integers(0, 3),
)
def test_feature_round_trip(features: set[str], weight_code: int, height_code: int) -> None:
    weight = WEIGHT_RESOLUTIONS[weight_code][0] if weight_code else None
    height = HEIGHT_RESOLUTIONS[height_code][0] if height_code else None
    data = build_weight_scale_feature(features, weight_resolution=weight, height_resolution=height)
    parsed = parse_weight_scale_feature(data)
    assert parsed.features == tuple(name for name in FEATURE_NAMES if name in features)
    assert (parsed.weight_resolution, parsed.height_resolution) == (weight, height)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"features": ["teleport"]}, "unknown weight scale feature"),
        ({"weight_resolution": 0.3}, "weight_resolution"),
        ({"height_resolution": 0.1}, "height_resolution"),
    ],
)
def test_feature_builder_rejects(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        build_weight_scale_feature(**kwargs)


# --- registry -------------------------------------------------------------------------------


def test_parsers_dict() -> None:
    assert PARSERS[0x2A9D] == ("Weight Measurement (0x2A9D)", parse_weight_measurement)
    assert PARSERS[0x2A9E] == ("Weight Scale Feature (0x2A9E)", parse_weight_scale_feature)
    assert PARSERS[0x2A9D][1](BF720).to_json()["type"] == "weight_measurement"


def test_encode_date_time_used_by_builder() -> None:
    stamp = datetime(2023, 12, 25, 14, 30, 45)
    assert build_weight_measurement(70.0, timestamp=stamp)[3:10] == encode_date_time(stamp)
