"""IEEE 11073-20601 SFLOAT (16-bit) and FLOAT (32-bit) numbers, as used by Bluetooth health GATT.

SFLOAT: bits 15-12 exponent, bits 11-0 mantissa. FLOAT: bits 31-24 exponent, bits 23-0 mantissa.
Both parts are two's complement and base 10: value = mantissa * 10**exponent. Both are sent
little-endian on the air.

The special values are whole bit patterns with exponent 0 (IEEE 11073-20601 section F.8;
the same table is in HL7 PHD IG "Mder FLOATs and SFLOATs" and Wireshark
epan/ftypes/ftype-ieee-11073-float.c). A mantissa of 0x7FF with any other exponent is an
ordinary number (e.g. 0xF7FF = 204.7), not NaN.
"""

from __future__ import annotations

import math
from decimal import ROUND_HALF_UP, Context, Decimal
from enum import StrEnum
from typing import TypeAlias

from hub.devices.errors import ParseError


class SpecialValue(StrEnum):
    """A reading the device could not express as a number; the str value is the JSON form."""

    NAN = "NaN"  # invalid result
    NRES = "NRes"  # not representable at this resolution / range
    POSITIVE_INFINITY = "+INF"
    NEGATIVE_INFINITY = "-INF"
    RESERVED = "Reserved"  # reserved for future use by the standard


Number: TypeAlias = float | SpecialValue
"""A decoded SFLOAT/FLOAT: a float, or a SpecialValue when the device sent one."""

# Keyed by the mantissa, valid only when the exponent is 0.
_SFLOAT_SPECIAL = {
    0x07FF: SpecialValue.NAN,
    0x0800: SpecialValue.NRES,
    0x07FE: SpecialValue.POSITIVE_INFINITY,
    0x0802: SpecialValue.NEGATIVE_INFINITY,
    0x0801: SpecialValue.RESERVED,
}
_FLOAT_SPECIAL = {
    0x007FFFFF: SpecialValue.NAN,
    0x00800000: SpecialValue.NRES,
    0x007FFFFE: SpecialValue.POSITIVE_INFINITY,
    0x00800002: SpecialValue.NEGATIVE_INFINITY,
    0x00800001: SpecialValue.RESERVED,
}
_SFLOAT_PATTERN = {v: k for k, v in _SFLOAT_SPECIAL.items()}
_FLOAT_PATTERN = {v: k for k, v in _FLOAT_SPECIAL.items()}

SFLOAT_EXPONENT_RANGE = range(-8, 8)
FLOAT_EXPONENT_RANGE = range(-128, 128)

# Enough digits that no float repr (<= 17 significant digits) is ever rounded by the context.
_ENCODE_CONTEXT = Context(prec=64, rounding=ROUND_HALF_UP)


def _signed(value: int, bits: int) -> int:
    return value - (1 << bits) if value & (1 << (bits - 1)) else value


def _scale(mantissa: int, exponent: int) -> float:
    # int / int is correctly rounded in Python, so this equals float(Decimal(m).scaleb(e)):
    # 1234 with exponent -1 is exactly the float 123.4, not 123.40000000000001.
    if exponent >= 0:
        return float(mantissa * 10**exponent)
    return mantissa / int(10**-exponent)


def sfloat_from_uint16(raw: int) -> Number:
    """Decode the 16-bit SFLOAT whose bits are ``raw`` (already assembled little-endian)."""
    raw &= 0xFFFF
    exponent, mantissa_bits = _signed(raw >> 12, 4), raw & 0x0FFF
    if exponent == 0 and mantissa_bits in _SFLOAT_SPECIAL:
        return _SFLOAT_SPECIAL[mantissa_bits]
    return _scale(_signed(mantissa_bits, 12), exponent)


def float_from_uint32(raw: int) -> Number:
    """Decode the 32-bit FLOAT whose bits are ``raw`` (already assembled little-endian)."""
    raw &= 0xFFFFFFFF
    exponent, mantissa_bits = _signed(raw >> 24, 8), raw & 0x00FFFFFF
    if exponent == 0 and mantissa_bits in _FLOAT_SPECIAL:
        return _FLOAT_SPECIAL[mantissa_bits]
    return _scale(_signed(mantissa_bits, 24), exponent)


def decode_sfloat(data: bytes) -> Number:
    """Decode exactly two little-endian bytes as an SFLOAT."""
    if len(data) != 2:
        raise ParseError("IEEE-11073 SFLOAT", None, f"needs exactly 2 bytes, got {len(data)}", data)
    return sfloat_from_uint16(int.from_bytes(data, "little"))


def decode_float(data: bytes) -> Number:
    """Decode exactly four little-endian bytes as a FLOAT."""
    if len(data) != 4:
        raise ParseError("IEEE-11073 FLOAT", None, f"needs exactly 4 bytes, got {len(data)}", data)
    return float_from_uint32(int.from_bytes(data, "little"))


def _mantissa_for(value: float, exponent: int) -> int:
    # Go through the shortest decimal repr so 123.4 at exponent -1 is 1234, not 1233.
    scaled = _ENCODE_CONTEXT.scaleb(Decimal(repr(float(value))), -exponent)
    return int(scaled.to_integral_value(rounding=ROUND_HALF_UP, context=_ENCODE_CONTEXT))


def _encode(
    value: Number,
    exponent: int,
    *,
    name: str,
    exponent_bits: int,
    mantissa_bits: int,
    patterns: dict[SpecialValue, int],
) -> int:
    if isinstance(value, SpecialValue):
        return patterns[value]
    if math.isnan(value):
        return patterns[SpecialValue.NAN]
    if math.isinf(value):
        return patterns[
            SpecialValue.POSITIVE_INFINITY if value > 0 else SpecialValue.NEGATIVE_INFINITY
        ]
    low, high = -(1 << (exponent_bits - 1)), (1 << (exponent_bits - 1)) - 1
    if not low <= exponent <= high:
        raise ValueError(f"{name} exponent must be in {low}..{high}, got {exponent}")
    mantissa = _mantissa_for(value, exponent)
    m_low, m_high = -(1 << (mantissa_bits - 1)), (1 << (mantissa_bits - 1)) - 1
    if not m_low <= mantissa <= m_high:
        raise ValueError(
            f"{value!r} needs mantissa {mantissa} at exponent {exponent}, "
            f"outside the {name} range {m_low}..{m_high}; use a larger exponent"
        )
    mask = (1 << mantissa_bits) - 1
    if exponent == 0 and (mantissa & mask) in {p & mask for p in patterns.values()}:
        raise ValueError(f"{value!r} at exponent 0 collides with a {name} special value")
    return ((exponent & ((1 << exponent_bits) - 1)) << mantissa_bits) | (mantissa & mask)


def encode_sfloat(value: Number, exponent: int = 0) -> bytes:
    """Encode ``value`` as a little-endian SFLOAT with the given decimal exponent.

    The mantissa is ``value * 10**-exponent`` rounded half away from zero. Python NaN/inf map to
    the NaN/INF special values. Raises ValueError if the value does not fit at that exponent.
    """
    raw = _encode(
        value, exponent, name="SFLOAT", exponent_bits=4, mantissa_bits=12, patterns=_SFLOAT_PATTERN
    )
    return raw.to_bytes(2, "little")


def encode_float(value: Number, exponent: int = 0) -> bytes:
    """Encode ``value`` as a little-endian FLOAT at the given exponent (as encode_sfloat)."""
    raw = _encode(
        value, exponent, name="FLOAT", exponent_bits=8, mantissa_bits=24, patterns=_FLOAT_PATTERN
    )
    return raw.to_bytes(4, "little")


def number_to_json(value: Number) -> float | str:
    """JSON form: the float itself, or the special value's name ("NaN", "+INF", ...)."""
    return value.value if isinstance(value, SpecialValue) else value
