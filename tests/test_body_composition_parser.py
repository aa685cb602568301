"""Body Composition Measurement (0x2A9C) and Body Composition Feature (0x2A9B).

Vector sources (cited per case below):
  GSS_XML    Bluetooth SIG characteristic XML as mirrored in oesmith/gatt-xml:
             org.bluetooth.characteristic.body_composition_measurement.xml (flag bits 0-12,
             13-15 RFU, field order, resolutions) and
             org.bluetooth.characteristic.body_composition_feature.xml (bits 0-10, mass
             resolution bits 11-14 with codes 8-15 RFU, height resolution bits 15-17 with codes
             4-7 RFU, bits 18-31 RFU). Same field table in the GSS rendering at
             docs.embassy.dev trouble-host characteristic::BODY_COMPOSITION_MEASUREMENT.
  BVP        eisaev/blevalueparser tests/bodycompositionmeasurementtest.cpp and
             tests/bodycompositionfeaturetest.cpp (TEST_F names given per case);
             tests/bodycompositionmeasurementmibfstest.cpp for the Xiaomi vector.
  RONAN      RonanB96/bluetooth-sig-python
             tests/gatt/characteristics/test_body_composition_measurement.py (valid_test_data
             entries, named by their description).
  BF720      bearyjd/bascule app/src/test/kotlin/com/ventouxlabs/bascule/ble/fake/Bf720Capture.kt
             BODY_COMPOSITION_MEASUREMENT: a Beurer BF720 notification captured off real
             hardware, with its expected values (42.2 %, 6778 kJ, 30.4 %, 49.08 kg, 36.96 kg,
             437.0 ohm).
  MIBFS      wiecosystem/Bluetooth issue #9: the Xiaomi body composition scale 2 leaves out the
             mandatory Body Fat Percentage field.
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

from hub.devices.body_composition import (
    FEATURE_NAMES,
    PARSERS,
    UNKNOWN_USER,
    BodyCompositionFeature,
    BodyCompositionMeasurement,
    build_body_composition_feature,
    build_body_composition_measurement,
    parse_body_composition_feature,
    parse_body_composition_measurement,
)
from hub.devices.errors import ParseError
from hub.devices.weight import HEIGHT_RESOLUTIONS, WEIGHT_RESOLUTIONS
from tests.conftest import strict_json

BCM_KEYS = [
    "type",
    "body_fat_percentage",
    "unit",
    "height_unit",
    "timestamp",
    "user_id",
    "basal_metabolism",
    "muscle_percentage",
    "muscle_mass",
    "fat_free_mass",
    "soft_lean_mass",
    "body_water_mass",
    "impedance",
    "weight",
    "height",
    "multiple_packet_measurement",
    "measurement_unsuccessful",
]
FEATURE_KEYS = [
    "type",
    "features",
    "mass_resolution",
    "mass_resolution_lb",
    "height_resolution",
    "height_resolution_in",
]

_ALL_FIELDS = (
    "1234"  # body fat percentage
    "e7070206121c00"  # time stamp 2023-02-06 18:28:00
    "2a"  # user ID 42
    "2345"  # basal metabolism
    "3456"  # muscle percentage
    "4567"  # muscle mass
    "5678"  # fat free mass
    "6789"  # soft lean mass
    "789a"  # body water mass
    "89ab"  # impedance
    "9abc"  # weight
    "abcd"  # height
)
# BVP FeaturesAll_SinglePacket_ReservedOdd: flags 0xAFFE (bits 1-11, RFU 13 and 15).
BVP_ALL = bytes.fromhex("feaf" + _ALL_FIELDS)
# BVP Imperial: flags 0xAFFF.
BVP_IMPERIAL = bytes.fromhex("ffaf" + _ALL_FIELDS)
# BF720 BODY_COMPOSITION_MEASUREMENT: flags 0x0398 (basal metabolism, muscle %, soft lean mass,
# body water mass, impedance).
BF720 = bytes.fromhex("9803" + "a601" + "7a1a" + "3001" + "5826" + "e01c" + "1211")


# --- Body Composition Measurement 0x2A9C: vectors ---------------------------------------------


def test_bf720_capture() -> None:
    m = parse_body_composition_measurement(BF720)
    assert m == BodyCompositionMeasurement(
        body_fat_percentage=42.2,
        unit="kg",
        basal_metabolism=6778,
        muscle_percentage=30.4,
        soft_lean_mass=49.08,
        body_water_mass=36.96,
        impedance=437.0,
    )
    out = m.to_json()
    assert list(out) == BCM_KEYS
    assert out == {
        "type": "body_composition_measurement",
        "body_fat_percentage": 42.2,
        "unit": "kg",
        "height_unit": "m",
        "timestamp": None,
        "user_id": None,
        "basal_metabolism": 6778,
        "muscle_percentage": 30.4,
        "muscle_mass": None,
        "fat_free_mass": None,
        "soft_lean_mass": 49.08,
        "body_water_mass": 36.96,
        "impedance": 437.0,
        "weight": None,
        "height": None,
        "multiple_packet_measurement": False,
        "measurement_unsuccessful": False,
    }


def test_bvp_all_fields_si() -> None:
    # BVP FeaturesAll_SinglePacket_ReservedOdd (RFU bits 13, 15 set and ignored).
    assert parse_body_composition_measurement(BVP_ALL) == BodyCompositionMeasurement(
        body_fat_percentage=1333.0,
        unit="kg",
        timestamp=datetime(2023, 2, 6, 18, 28, 0),
        user_id=42,
        basal_metabolism=17699,
        muscle_percentage=2206.8,
        muscle_mass=132.185,
        fat_free_mass=154.03,
        soft_lean_mass=175.875,
        body_water_mass=197.72,
        impedance=4391.3,
        weight=241.41,
        height=52.651,
    )


def test_bvp_all_fields_imperial() -> None:
    # BVP Imperial: same bytes with bit 0 set; masses at 0.01 lb, height at 0.1 in.
    m = parse_body_composition_measurement(BVP_IMPERIAL)
    assert (m.unit, m.height_unit) == ("lb", "in")
    assert (m.muscle_mass, m.fat_free_mass, m.soft_lean_mass, m.body_water_mass, m.weight) == (
        264.37,
        308.06,
        351.75,
        395.44,
        482.82,
    )
    assert m.height == 5265.1
    # Percentages, basal metabolism and impedance do not depend on the unit flag.
    assert (m.body_fat_percentage, m.muscle_percentage, m.impedance) == (1333.0, 2206.8, 4391.3)
    assert m.basal_metabolism == 17699
    out = m.to_json()
    assert (out["unit"], out["height_unit"]) == ("lb", "in")


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        # BVP FeaturesNone_MultiplePacket_ReservedEven: flags 0x5000 (bit 12, RFU bit 14).
        (
            bytes.fromhex("00501234"),
            BodyCompositionMeasurement(1333.0, "kg", multiple_packet_measurement=True),
        ),
        # BVP FeaturesOdd_SinglePacket_ReservedAll: flags 0xEAAA.
        (
            bytes.fromhex("aaea1234e7070206121c0023454567678989ababcd"),
            BodyCompositionMeasurement(
                1333.0,
                "kg",
                timestamp=datetime(2023, 2, 6, 18, 28, 0),
                basal_metabolism=17699,
                muscle_mass=132.185,
                soft_lean_mass=175.875,
                impedance=4391.3,
                height=52.651,
            ),
        ),
        # BVP FeaturesEven_MultiplePacket_ReservedNone: flags 0x1554.
        (
            bytes.fromhex("541512342a34565678789a9abc"),
            BodyCompositionMeasurement(
                1333.0,
                "kg",
                user_id=42,
                muscle_percentage=2206.8,
                fat_free_mass=154.03,
                body_water_mass=197.72,
                weight=241.41,
                multiple_packet_measurement=True,
            ),
        ),
        # RONAN "Basic 5.0% body fat metric measurement".
        (bytes.fromhex("00003200"), BodyCompositionMeasurement(5.0, "kg")),
        # RONAN "15.0% body fat imperial with timestamp".
        (
            bytes.fromhex("03009600e80706140a1e00"),
            BodyCompositionMeasurement(15.0, "lb", timestamp=datetime(2024, 6, 20, 10, 30, 0)),
        ),
        # RONAN "12.0% body fat with user ID and metabolism".
        (
            bytes.fromhex("0c007800054006"),
            BodyCompositionMeasurement(12.0, "kg", user_id=5, basal_metabolism=1600),
        ),
        # RONAN "Complex measurement with multiple mass fields".
        (
            bytes.fromhex("c0015000e02e1027401f"),
            BodyCompositionMeasurement(
                8.0, "kg", fat_free_mass=60.0, soft_lean_mass=50.0, body_water_mass=40.0
            ),
        ),
        # RONAN "Full measurement with impedance, weight, height".
        (
            bytes.fromhex("000e4600401fb036e803"),
            BodyCompositionMeasurement(7.0, "kg", impedance=800.0, weight=70.0, height=1.0),
        ),
    ],
)
def test_peer_vectors(data: bytes, expected: BodyCompositionMeasurement) -> None:
    assert parse_body_composition_measurement(data) == expected


def test_ronan_muscle_fields_follow_gss_order() -> None:
    # RONAN "10.0% body fat with muscle mass and percentage": flags 0x0030. RONAN's flag table
    # swaps bits 4 and 5 and expects muscle mass 15.0 kg then 20.0 %. GSS_XML (and BVP): bit 4
    # is muscle percentage, bit 5 muscle mass, and the percentage comes first on the wire.
    m = parse_body_composition_measurement(bytes.fromhex("30006400b80bc800"))
    assert (m.muscle_percentage, m.muscle_mass) == (300.0, 1.0)


# --- Measurement Unsuccessful --------------------------------------------------------------


def test_measurement_unsuccessful_bvp() -> None:
    # BVP MeasurementUnsuccessful: body fat percentage 0xFFFF.
    m = parse_body_composition_measurement(bytes.fromhex("0000ffff"))
    assert m == BodyCompositionMeasurement(None, "kg", measurement_unsuccessful=True)
    out = m.to_json()
    assert (out["body_fat_percentage"], out["measurement_unsuccessful"]) == (None, True)
    strict_json(out)


def test_measurement_unsuccessful_with_time_and_user() -> None:
    data = build_body_composition_measurement(
        None, timestamp=datetime(2026, 8, 22, 16, 51, 1), user_id=2
    )
    assert data == bytes.fromhex("0600ffff" + "ea07081610330102")
    m = parse_body_composition_measurement(data)
    assert (m.body_fat_percentage, m.measurement_unsuccessful, m.user_id) == (None, True, 2)
    assert m.timestamp == datetime(2026, 8, 22, 16, 51, 1)


def test_measurement_unsuccessful_other_fields_decoded_as_sent() -> None:
    # BVP stops reading after 0xFFFF; here the flags still define the layout, so a (non-
    # conforming) weight that follows is decoded rather than silently dropped.
    m = parse_body_composition_measurement(bytes.fromhex("0004ffffb036"))
    assert (m.body_fat_percentage, m.measurement_unsuccessful, m.weight) == (None, True, 70.0)


def test_largest_real_body_fat_is_not_unsuccessful() -> None:
    m = parse_body_composition_measurement(bytes.fromhex("0000feff"))
    assert (m.body_fat_percentage, m.measurement_unsuccessful) == (6553.4, False)


def test_other_fields_have_no_special_value() -> None:
    # Only Body Fat Percentage has the 0xFFFF marker; 0xFFFF elsewhere is a plain number.
    m = parse_body_composition_measurement(bytes.fromhex("000c" + "6400" + "ffff" + "ffff"))
    assert (m.weight, m.height, m.measurement_unsuccessful) == (327.675, 65.535, False)


# --- invalid vectors -------------------------------------------------------------------------


def test_ronan_too_short() -> None:
    # RONAN test_body_composition_invalid_data: 2 bytes, no body fat percentage.
    with pytest.raises(ParseError) as excinfo:
        parse_body_composition_measurement(bytes([0x00, 0x01]))
    assert excinfo.value.field == "body_fat_percentage"
    assert "at least 4 are required" in str(excinfo.value)


def test_xiaomi_mibfs_without_body_fat_is_rejected() -> None:
    # BVP NoImpendance_Unstable_Loaded / MIBFS: flags 0x0402 but the mandatory body fat field
    # is missing, so per GSS the "time stamp" starts mid-date and its year (1538) is invalid.
    data = bytes.fromhex("0204e7070206121c0012345678")
    with pytest.raises(ParseError) as excinfo:
        parse_body_composition_measurement(data)
    assert excinfo.value.field == "timestamp.year"
    assert excinfo.value.characteristic == "Body Composition Measurement (0x2A9C)"


def _bvp_all_field_at(length: int) -> str:
    layout = [
        (2, "flags"),
        (4, "body_fat_percentage"),
        (11, "timestamp"),
        (12, "user_id"),
        (14, "basal_metabolism"),
        (16, "muscle_percentage"),
        (18, "muscle_mass"),
        (20, "fat_free_mass"),
        (22, "soft_lean_mass"),
        (24, "body_water_mass"),
        (26, "impedance"),
        (28, "weight"),
        (30, "height"),
    ]
    return next(name for end, name in layout if length < end)


@pytest.mark.parametrize("length", range(len(BVP_ALL)))
def test_truncated_at_every_byte_names_the_field(length: int) -> None:
    with pytest.raises(ParseError) as excinfo:
        parse_body_composition_measurement(BVP_ALL[:length])
    err = excinfo.value
    assert err.field == _bvp_all_field_at(length)
    assert err.characteristic == "Body Composition Measurement (0x2A9C)"
    if length:
        assert f"only {length} bytes long" in str(err)
        assert f"(raw: {BVP_ALL[:length].hex()})" in str(err)
    else:
        assert "empty" in str(err)
    if length >= 4:
        # The whole 16-bit flags field is quoted, not just its first byte.
        assert "flags 0xaffe promise" in str(err)


@pytest.mark.parametrize(
    ("flag", "field", "what"),
    [
        (0x0002, "timestamp", "a time stamp (7 bytes)"),
        (0x0004, "user_id", "a user ID (1 byte)"),
        (0x0008, "basal_metabolism", "a basal metabolism (2 bytes)"),
        (0x0010, "muscle_percentage", "a muscle percentage (2 bytes)"),
        (0x0020, "muscle_mass", "a muscle mass (2 bytes)"),
        (0x0040, "fat_free_mass", "a fat free mass (2 bytes)"),
        (0x0080, "soft_lean_mass", "a soft lean mass (2 bytes)"),
        (0x0100, "body_water_mass", "a body water mass (2 bytes)"),
        (0x0200, "impedance", "a impedance (2 bytes)"),
        (0x0400, "weight", "a weight (2 bytes)"),
        (0x0800, "height", "a height (2 bytes)"),
    ],
)
def test_each_flag_without_its_field(flag: int, field: str, what: str) -> None:
    data = flag.to_bytes(2, "little") + bytes.fromhex("6400")
    with pytest.raises(ParseError) as excinfo:
        parse_body_composition_measurement(data)
    assert excinfo.value.field == field
    assert str(excinfo.value) == (
        f"Body Composition Measurement (0x2A9C): flags 0x{flag:04x} promise {what} at byte 4 "
        f"but the value is only 4 bytes long (raw: {data.hex()})"
    )


@pytest.mark.parametrize("rfu", [0x2000, 0x4000, 0x8000, 0xE000])
def test_rfu_flag_bits_ignored(rfu: int) -> None:
    flags = 0x0398 | rfu
    assert parse_body_composition_measurement(flags.to_bytes(2, "little") + BF720[2:]) == (
        parse_body_composition_measurement(BF720)
    )


def test_trailing_bytes_counted_not_in_json() -> None:
    m = parse_body_composition_measurement(BF720 + b"\x01\x02")
    assert m.trailing_bytes == 2
    assert m.impedance == 437.0
    assert "trailing_bytes" not in m.to_json()


def test_unknown_user_kept_as_255() -> None:
    data = build_body_composition_measurement(20.0, user_id=UNKNOWN_USER)
    assert data == bytes.fromhex("0400c800ff")
    assert parse_body_composition_measurement(data).to_json()["user_id"] == 255


def test_timestamp_not_known_is_null() -> None:
    data = build_body_composition_measurement(20.0, timestamp_unknown=True)
    assert data == bytes.fromhex("0200c800") + bytes(7)
    assert parse_body_composition_measurement(data).to_json()["timestamp"] is None


@pytest.mark.parametrize(
    ("date_time", "field"),
    [
        ("e7070d0612 1c00", "timestamp.month"),
        ("e707020618 1c00", "timestamp.hours"),
        ("e707021e12 1c00", "timestamp.day"),  # 30 February
        ("e707020612 3c00", "timestamp.minutes"),
    ],
)
def test_invalid_timestamp_names_subfield(date_time: str, field: str) -> None:
    data = bytes.fromhex("02006400" + date_time.replace(" ", ""))
    with pytest.raises(ParseError) as excinfo:
        parse_body_composition_measurement(data)
    assert excinfo.value.field == field


# --- exact decimals ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("flags", "attribute", "step"),
    [
        (0x0000, "body_fat_percentage", Decimal("0.1")),
        (0x0010, "muscle_percentage", Decimal("0.1")),
        (0x0020, "muscle_mass", Decimal("0.005")),
        (0x0021, "muscle_mass", Decimal("0.01")),
        (0x0200, "impedance", Decimal("0.1")),
        (0x0400, "weight", Decimal("0.005")),
        (0x0401, "weight", Decimal("0.01")),
        (0x0800, "height", Decimal("0.001")),
        (0x0801, "height", Decimal("0.1")),
    ],
)
def test_every_raw_value_decodes_to_its_exact_decimal(
    flags: int, attribute: str, step: Decimal
) -> None:
    offset = 2 if flags == 0 else 4
    template = bytearray(flags.to_bytes(2, "little") + bytes(4))
    for raw in range(0xFFFF):
        template[offset : offset + 2] = raw.to_bytes(2, "little")
        value = getattr(parse_body_composition_measurement(template), attribute)
        assert Decimal(repr(value)) == raw * step, (raw, value)


# --- properties ---------------------------------------------------------------------------


@given(data=st.binary(max_size=48))
def test_any_bytes_parse_or_parse_error(data: bytes) -> None:
    try:
        m = parse_body_composition_measurement(data)
    except ParseError as err:
        assert data.hex() in str(err) or not data
        assert err.field is not None
    else:
        out = m.to_json()
        assert list(out) == BCM_KEYS
        json.loads(strict_json(out))


@given(data=st.binary(min_size=4, max_size=48), flags=st.integers(0, 0xFFFF))
def test_flagged_fields_fuzz_structured(data: bytes, flags: int) -> None:
    try:
        parse_body_composition_measurement(flags.to_bytes(2, "little") + data[2:])
    except ParseError as err:
        assert err.field is not None


_DATETIMES = st.datetimes(
    min_value=datetime(1582, 1, 1), max_value=datetime(9999, 12, 31, 23, 59, 59)
).map(lambda d: d.replace(microsecond=0))
_MASSES = ("muscle_mass", "fat_free_mass", "soft_lean_mass", "body_water_mass", "weight")


@st.composite
def _bcm_case(draw: st.DrawFn) -> tuple[float | None, dict[str, Any]]:
    unit = draw(st.sampled_from(["kg", "lb"]))
    mass_scale, height_scale = (200, 1000) if unit == "kg" else (100, 10)
    raw_fat = draw(st.none() | st.integers(0, 0xFFFE))
    kwargs: dict[str, Any] = {
        "unit": unit,
        "timestamp": draw(st.none() | _DATETIMES),
        "user_id": draw(st.none() | st.integers(0, 255)),
        "multiple_packet_measurement": draw(st.booleans()),
    }
    if raw_fat is not None:

        def maybe(scale: int) -> float | None:
            raw = draw(st.none() | st.integers(0, 0xFFFF))
            return None if raw is None else raw / scale

        kwargs["basal_metabolism"] = draw(st.none() | st.integers(0, 0xFFFF))
        kwargs["muscle_percentage"] = maybe(10)
        kwargs["impedance"] = maybe(10)
        kwargs["height"] = maybe(height_scale)
        for name in _MASSES:
            kwargs[name] = maybe(mass_scale)
    return (None if raw_fat is None else raw_fat / 10), kwargs


@given(case=_bcm_case(), trailing=st.binary(max_size=4))
def test_round_trip(case: tuple[float | None, dict[str, Any]], trailing: bytes) -> None:
    body_fat, kwargs = case
    data = build_body_composition_measurement(body_fat, **kwargs)
    parsed = parse_body_composition_measurement(data + trailing)
    expected = BodyCompositionMeasurement(
        body_fat_percentage=body_fat,
        measurement_unsuccessful=body_fat is None,
        trailing_bytes=len(trailing),
        **kwargs,
    )
    assert parsed == expected
    strict_json(parsed.to_json())


def test_builder_reproduces_peer_vectors() -> None:
    assert (
        build_body_composition_measurement(
            42.2,
            basal_metabolism=6778,
            muscle_percentage=30.4,
            soft_lean_mass=49.08,
            body_water_mass=36.96,
            impedance=437.0,
        )
        == BF720
    )
    assert build_body_composition_measurement(
        15.0, unit="lb", timestamp=datetime(2024, 6, 20, 10, 30, 0)
    ) == bytes.fromhex("03009600e80706140a1e00")  # RONAN imperial with timestamp
    fields = parse_body_composition_measurement(BVP_IMPERIAL)
    kwargs = {
        name: getattr(fields, name)
        for name in (
            "timestamp",
            "user_id",
            "basal_metabolism",
            "muscle_percentage",
            "impedance",
            "height",
            *_MASSES,
        )
    }
    # BVP Imperial without its RFU bits 13 and 15.
    assert build_body_composition_measurement(1333.0, unit="lb", **kwargs) == (
        bytes.fromhex("ff0f" + _ALL_FIELDS)
    )


@pytest.mark.parametrize(
    ("args", "kwargs", "message"),
    [
        ((20.0,), {"unit": "stone"}, "unit"),
        ((20.0,), {"user_id": 300}, "user_id"),
        ((20.0,), {"timestamp": datetime(2026, 1, 1), "timestamp_unknown": True}, "not both"),
        ((20.0,), {"basal_metabolism": 1600.5}, "basal_metabolism"),
        ((20.0,), {"basal_metabolism": 70000}, "basal_metabolism"),
        ((20.0,), {"basal_metabolism": True}, "basal_metabolism"),
        ((None,), {"weight": 70.0}, "Measurement Unsuccessful"),
        ((None,), {"impedance": 500.0}, "Measurement Unsuccessful"),
        ((6553.5,), {}, "largest"),  # raw 0xFFFF is the "unsuccessful" marker
        ((-1.0,), {}, ">= 0"),
        ((20.0,), {"weight": 327.68}, "weight"),
        ((20.0,), {"height": 65.536}, "height"),
        ((20.0,), {"muscle_mass": float("nan")}, "muscle_mass"),
        ((20.0,), {"impedance": "500"}, "impedance"),
    ],
)
def test_builder_rejects_bad_input(
    args: tuple[Any, ...], kwargs: dict[str, Any], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        build_body_composition_measurement(*args, **kwargs)


def test_builder_weight_and_height_have_no_marker() -> None:
    data = build_body_composition_measurement(20.0, weight=327.675, height=65.535)
    assert data[-4:] == b"\xff\xff\xff\xff"


# --- Body Composition Feature 0x2A9B -----------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        # BVP FeaturesAll_WeightResNotSpec_HeightResNotSpec_ReservedEven.
        (2863138815, BodyCompositionFeature(FEATURE_NAMES)),
        # BVP FeaturesNone_WeightRes0500_HeightRes0010_ReservedOdd.
        (1431603200, BodyCompositionFeature((), 0.5, 1.0, 0.01, 1.0)),
        # BVP FeaturesEven_WeightRes0200_HeightRes0005_ReservedAll.
        (
            4294775466,
            BodyCompositionFeature(
                (
                    "multiple_users",
                    "muscle_percentage",
                    "fat_free_mass",
                    "body_water_mass",
                    "weight",
                ),
                0.2,
                0.5,
                0.005,
                0.5,
            ),
        ),
        # BVP FeaturesOdd_WeightRes0100_HeightRes0001_ReservedNone.
        (
            105813,
            BodyCompositionFeature(
                (
                    "timestamp",
                    "basal_metabolism",
                    "muscle_mass",
                    "soft_lean_mass",
                    "impedance",
                    "height",
                ),
                0.1,
                0.2,
                0.001,
                0.1,
            ),
        ),
        # BVP FeaturesPat1_WeightRes0050_HeightResReserved_ReservedEven: BVP maps the RFU height
        # code 4 to "0"; we report "reserved".
        (
            2863277787,
            BodyCompositionFeature(
                (
                    "timestamp",
                    "multiple_users",
                    "muscle_percentage",
                    "muscle_mass",
                    "soft_lean_mass",
                    "body_water_mass",
                    "weight",
                    "height",
                ),
                0.05,
                0.1,
                "reserved",
                "reserved",
            ),
        ),
        # BVP FeaturesPat2_WeightRes0020_HeightRes0001_ReservedOdd.
        (
            1431677220,
            BodyCompositionFeature(
                ("basal_metabolism", "fat_free_mass", "impedance"), 0.02, 0.05, 0.001, 0.1
            ),
        ),
        # BVP FeaturesPat3_WeightRes0010_HeightRes0005_ReservedAll.
        (
            4294783924,
            BodyCompositionFeature(
                (
                    "basal_metabolism",
                    "muscle_mass",
                    "fat_free_mass",
                    "body_water_mass",
                    "impedance",
                    "weight",
                ),
                0.01,
                0.02,
                0.005,
                0.5,
            ),
        ),
        # BVP FeaturesPat4_WeightRes0005_HeightRes0010_ReservedNone.
        (
            47470,
            BodyCompositionFeature(
                (
                    "multiple_users",
                    "basal_metabolism",
                    "muscle_percentage",
                    "fat_free_mass",
                    "soft_lean_mass",
                    "impedance",
                ),
                0.005,
                0.01,
                0.01,
                1.0,
            ),
        ),
        # BVP FeaturesPat5_WeightResReserved_HeightResNotSpec_ReservedEven: mass code 8 is RFU.
        (
            2863153561,
            BodyCompositionFeature(
                ("timestamp", "muscle_percentage", "muscle_mass", "body_water_mass", "impedance"),
                "reserved",
                "reserved",
            ),
        ),
    ],
)
def test_feature(raw: int, expected: BodyCompositionFeature) -> None:
    parsed = parse_body_composition_feature(raw.to_bytes(4, "little"))
    assert parsed == expected
    out = parsed.to_json()
    assert list(out) == FEATURE_KEYS
    assert out["type"] == "body_composition_feature"
    strict_json(out)


@pytest.mark.parametrize("length", range(4))
def test_feature_too_short(length: int) -> None:
    with pytest.raises(ParseError) as excinfo:
        parse_body_composition_feature(bytes(length))
    assert excinfo.value.field == "features"
    assert excinfo.value.characteristic == "Body Composition Feature (0x2A9B)"


def test_feature_trailing_bytes() -> None:
    assert parse_body_composition_feature(bytes(6)).trailing_bytes == 2


@given(data=st.binary(max_size=12))
def test_feature_any_bytes(data: bytes) -> None:
    try:
        parse_body_composition_feature(data)
    except ParseError:
        assert len(data) < 4


@given(
    features=st.sets(st.sampled_from(FEATURE_NAMES)),
    mass_code=st.integers(0, 7),
    height_code=st.integers(0, 3),
)
def test_feature_round_trip(features: set[str], mass_code: int, height_code: int) -> None:
    mass = WEIGHT_RESOLUTIONS[mass_code][0] if mass_code else None
    height = HEIGHT_RESOLUTIONS[height_code][0] if height_code else None
    data = build_body_composition_feature(features, mass_resolution=mass, height_resolution=height)
    parsed = parse_body_composition_feature(data)
    assert parsed.features == tuple(name for name in FEATURE_NAMES if name in features)
    assert (parsed.mass_resolution, parsed.height_resolution) == (mass, height)


def test_feature_builder_rejects() -> None:
    with pytest.raises(ValueError, match="unknown body composition feature"):
        build_body_composition_feature(["bone_mass"])
    with pytest.raises(ValueError, match="mass_resolution"):
        build_body_composition_feature(mass_resolution=0.25)


# --- registry -------------------------------------------------------------------------------


def test_parsers_dict() -> None:
    assert sorted(PARSERS) == [0x2A9B, 0x2A9C]
    assert PARSERS[0x2A9B] == ("Body Composition Feature (0x2A9B)", parse_body_composition_feature)
    assert PARSERS[0x2A9C] == (
        "Body Composition Measurement (0x2A9C)",
        parse_body_composition_measurement,
    )
    assert PARSERS[0x2A9C][1](BF720).to_json()["type"] == "body_composition_measurement"


def test_dataclass_replace_keeps_height_unit_derived() -> None:
    m = dataclasses.replace(parse_body_composition_measurement(BF720), unit="lb")
    assert m.height_unit == "in"
