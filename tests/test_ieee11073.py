"""IEEE 11073-20601 SFLOAT / FLOAT decoding and encoding.

Vector sources (cited per case below):
  HL7_PHD   HL7/phd input/pagecontent/MderFLOATsandSFLOATs.md (FLOAT, SFLOAT and special tables)
  NORDIC    NordicSemiconductor/Android-BLE-Library
            ble/src/test/java/no/nordicsemi/android/ble/data/DataTest.java
  SPEZI     StanfordSpezi/SpeziDevices Tests/SpeziDevicesTests/HealthMeasurementsTests.swift
            (raw SFLOATs in its blood pressure JSON fixture)
  WIRESHARK wireshark/wireshark epan/ftypes/ftype-ieee-11073-float.c (special value constants)
"""

from __future__ import annotations

import json
import math
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hub.devices.errors import ParseError
from hub.devices.ieee11073 import (
    SpecialValue,
    decode_float,
    decode_sfloat,
    encode_float,
    encode_sfloat,
    float_from_uint32,
    number_to_json,
    sfloat_from_uint16,
)


def _exact(mantissa: int, exponent: int) -> float:
    return float(Decimal(mantissa).scaleb(exponent))


# (16-bit SFLOAT, expected value)
SFLOAT_VECTORS = [
    (0x0002, 2.0),  # HL7_PHD SFLOAT table
    (0xF014, 2.0),  # HL7_PHD: exponent -1, mantissa 20 ("2.0")
    (0xE0C8, 2.0),  # HL7_PHD: exponent -2, mantissa 200 ("2.00")
    (0x1002, 20.0),  # HL7_PHD
    (0x2002, 200.0),  # HL7_PHD
    (0x00C8, 200.0),  # HL7_PHD
    (0x04D2, 1234.0),  # HL7_PHD
    (0x0B2E, -1234.0),  # HL7_PHD: negative mantissa
    (0xF065, 10.1),  # NORDIC setValue_SFLOAT_hex: bytes 65 F0
    (0xF406, 103.0),  # SPEZI systolicValue 62470
    (0xF280, 64.0),  # SPEZI diastolicValue 62080
    (0xF302, 77.0),  # SPEZI meanArterialPressure 62210
    (0xF26C, 62.0),  # SPEZI pulseRate 62060
]

# (32-bit FLOAT, expected value)
FLOAT_VECTORS = [
    (0x00000002, 2.0),  # HL7_PHD FLOAT table
    (0xFF000014, 2.0),  # HL7_PHD
    (0xFE0000C8, 2.0),  # HL7_PHD
    (0x01000002, 20.0),  # HL7_PHD
    (0x02000002, 200.0),  # HL7_PHD
    (0x000000C8, 200.0),  # HL7_PHD
    (0x000004D2, 1234.0),  # HL7_PHD
    (0x00FFFB2E, -1234.0),  # HL7_PHD
    (0xFE12D687, 12345.67),  # NORDIC setValue_FLOAT_hex: bytes 87 D6 12 FE
    (0x00000001, 1.0),  # NORDIC setValue_FLOAT_basic: bytes 01 00 00 00
]

# HL7_PHD "Special FLOAT and SFLOAT Values" table; same constants in WIRESHARK.
SPECIALS = [
    (0x07FF, 0x007FFFFF, SpecialValue.NAN, "NaN"),
    (0x07FE, 0x007FFFFE, SpecialValue.POSITIVE_INFINITY, "+INF"),
    (0x0802, 0x00800002, SpecialValue.NEGATIVE_INFINITY, "-INF"),
    (0x0800, 0x00800000, SpecialValue.NRES, "NRes"),
    (0x0801, 0x00800001, SpecialValue.RESERVED, "Reserved"),
]


@pytest.mark.parametrize(("raw", "expected"), SFLOAT_VECTORS)
def test_sfloat_vectors(raw: int, expected: float) -> None:
    assert sfloat_from_uint16(raw) == expected
    assert decode_sfloat(raw.to_bytes(2, "little")) == expected


@pytest.mark.parametrize(("raw", "expected"), FLOAT_VECTORS)
def test_float_vectors(raw: int, expected: float) -> None:
    assert float_from_uint32(raw) == expected
    assert decode_float(raw.to_bytes(4, "little")) == expected


@pytest.mark.parametrize(("sfloat", "float_", "special", "json_form"), SPECIALS)
def test_special_values(sfloat: int, float_: int, special: SpecialValue, json_form: str) -> None:
    assert sfloat_from_uint16(sfloat) is special
    assert float_from_uint32(float_) is special
    assert number_to_json(special) == json_form
    assert json.dumps(special) == f'"{json_form}"'


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (0xF7FF, 204.7),  # mantissa 0x7FF at exponent -1 is a number, not NaN
        (0x17FE, 20460.0),
        (0x1800, -20480.0),  # mantissa 0x800 at exponent 1 is -2048e1, not NRes
        (0xF801, -204.7),
        (0x2802, -204600.0),
    ],
)
def test_sfloat_special_mantissa_with_nonzero_exponent_is_a_number(
    raw: int, expected: float
) -> None:
    assert sfloat_from_uint16(raw) == expected


def test_float_special_mantissa_with_nonzero_exponent_is_a_number() -> None:
    assert float_from_uint32(0xFF7FFFFF) == 838860.7
    assert float_from_uint32(0x01800000) == -83886080.0


def test_decimal_exact_results() -> None:
    assert sfloat_from_uint16(0x0078) == 120.0  # 120 exp 0
    assert sfloat_from_uint16(0xF4D2) == 123.4  # 1234 exp -1, not 123.40000000000001
    assert repr(sfloat_from_uint16(0xF4D2)) == "123.4"
    assert sfloat_from_uint16(0x8001) == 1e-8  # smallest exponent
    assert sfloat_from_uint16(0x77FD) == 2045e7  # largest exponent


@given(st.integers(0, 0xFFFF))
def test_every_sfloat_is_decimal_exact(raw: int) -> None:
    value = sfloat_from_uint16(raw)
    if isinstance(value, SpecialValue):
        assert raw in {s[0] for s in SPECIALS}
        return
    exponent = (raw >> 12) - 16 if raw & 0x8000 else raw >> 12
    mantissa = (raw & 0xFFF) - 0x1000 if raw & 0x800 else raw & 0xFFF
    assert value == _exact(mantissa, exponent)


@given(st.integers(0, 0xFFFFFFFF))
def test_every_float_is_decimal_exact(raw: int) -> None:
    value = float_from_uint32(raw)
    if isinstance(value, SpecialValue):
        assert raw in {s[1] for s in SPECIALS}
        return
    exponent = (raw >> 24) - 256 if raw & 0x80000000 else raw >> 24
    mantissa = (raw & 0xFFFFFF) - 0x1000000 if raw & 0x800000 else raw & 0xFFFFFF
    assert value == _exact(mantissa, exponent)
    assert math.isfinite(value)


@pytest.mark.parametrize("data", [b"", b"\x01", b"\x01\x02\x03"])
def test_decode_sfloat_wrong_length(data: bytes) -> None:
    with pytest.raises(ParseError, match="exactly 2 bytes"):
        decode_sfloat(data)


@pytest.mark.parametrize("data", [b"", b"\x01\x02\x03", b"\x01\x02\x03\x04\x05"])
def test_decode_float_wrong_length(data: bytes) -> None:
    with pytest.raises(ParseError, match="exactly 4 bytes"):
        decode_float(data)


def test_encode_known_vectors() -> None:
    assert encode_sfloat(10.1, -1) == bytes([0x65, 0xF0])  # NORDIC setValue_SFLOAT_hex
    assert encode_float(12345.67, -2) == bytes([0x87, 0xD6, 0x12, 0xFE])  # NORDIC FLOAT_hex
    assert encode_float(1.0) == bytes([1, 0, 0, 0])  # NORDIC setValue_FLOAT_basic
    assert encode_sfloat(-1234) == (0x0B2E).to_bytes(2, "little")  # HL7_PHD


def test_encode_rounds_half_away_from_zero() -> None:
    # NORDIC setValue_SFLOAT_roundUp: 123.45 -> 123.5 at one decimal.
    assert decode_sfloat(encode_sfloat(123.45, -1)) == 123.5
    assert decode_sfloat(encode_sfloat(-123.45, -1)) == -123.5


@pytest.mark.parametrize(("sfloat", "float_", "special", "_json"), SPECIALS)
def test_encode_special_values(sfloat: int, float_: int, special: SpecialValue, _json: str) -> None:
    assert encode_sfloat(special, 3) == sfloat.to_bytes(2, "little")  # exponent is ignored
    assert encode_float(special) == float_.to_bytes(4, "little")


def test_encode_python_nan_and_infinities() -> None:
    assert decode_sfloat(encode_sfloat(math.nan)) is SpecialValue.NAN
    assert decode_sfloat(encode_sfloat(math.inf)) is SpecialValue.POSITIVE_INFINITY
    assert decode_float(encode_float(-math.inf)) is SpecialValue.NEGATIVE_INFINITY


@pytest.mark.parametrize(
    ("value", "exponent", "message"),
    [
        (2048, 0, "outside the SFLOAT range"),
        (300.0, -1, "outside the SFLOAT range"),
        (1.0, 8, "exponent must be in -8..7"),
        (1.0, -9, "exponent must be in -8..7"),
        (2047, 0, "collides"),  # would be the NaN pattern
        (-2048, 0, "collides"),  # would be NRes
    ],
)
def test_encode_sfloat_rejects_unrepresentable(value: float, exponent: int, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        encode_sfloat(value, exponent)


def test_encode_float_rejects_unrepresentable() -> None:
    with pytest.raises(ValueError, match="outside the FLOAT range"):
        encode_float(8388608, 0)
    with pytest.raises(ValueError, match="collides"):
        encode_float(8388607, 0)
    with pytest.raises(ValueError, match="exponent"):
        encode_float(1.0, 128)


def test_sfloat_round_trip_exhaustive() -> None:
    # Every one of the 65536 bit patterns decodes and re-encodes to itself at its own exponent.
    for raw in range(0x10000):
        value = sfloat_from_uint16(raw)
        exponent = (raw >> 12) - 16 if raw & 0x8000 else raw >> 12
        assert encode_sfloat(value, exponent) == raw.to_bytes(2, "little"), hex(raw)


@given(st.integers(0, 0xFFFFFFFF))
def test_float_round_trip(raw: int) -> None:
    value = float_from_uint32(raw)
    exponent = (raw >> 24) - 256 if raw & 0x80000000 else raw >> 24
    assert encode_float(value, exponent) == raw.to_bytes(4, "little")
