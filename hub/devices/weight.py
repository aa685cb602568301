"""Weight Scale Service values: Weight Measurement (0x2A9D) and Weight Scale Feature (0x2A9E),
laid out as in the Bluetooth GATT Specification Supplement (GSS).

0x2A9D layout (little-endian):
  byte 0      flags: bit0 measurement units (0 SI: kg and m, 1 imperial: lb and in),
              bit1 time stamp, bit2 user ID, bit3 BMI *and* height; bits 4-7 RFU (ignored)
  bytes 1-2   weight, uint16: 0.005 kg (SI) or 0.01 lb (imperial) per step. 0xFFFF means
              "Measurement Unsuccessful": ``weight`` is then None and
              ``measurement_unsuccessful`` True (the Weight Scale Service says that all optional
              fields other than time stamp and user ID shall then be left out; when a scale
              sends them anyway they are decoded as sent).
  then, in this order and only when flagged: time stamp (Date Time, 7), user ID (uint8, 1;
  0xFF = "unknown user", kept as 255), BMI (uint16, 0.1 kg/m2, 2) and height (uint16, 0.001 m or
  0.1 in, 2). BMI and height share bit 3: both are present or neither.

0x2A9E layout: one uint32. bit0 time stamp supported, bit1 multiple users supported, bit2 BMI
supported, bits 3-6 weight measurement resolution, bits 7-9 height measurement resolution,
bits 10-31 RFU (ignored). Resolution codes: see WEIGHT_RESOLUTIONS / HEIGHT_RESOLUTIONS; the
RFU codes (weight 8-15, height 4-7) decode to the string "reserved".

Values are always scaled by the GSS's fixed field resolutions above, never by the resolution the
Feature characteristic advertises (that only says how fine the scale really measures). Decoded
numbers are the float nearest the exact decimal (raw 14000 -> 70.0 kg, not 70.00000000000001):
each is one correctly rounded int / int division.

Bytes after the last flagged field are accepted and counted in ``trailing_bytes``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Any, Final, Literal, TypeAlias

from hub.devices.errors import RawBytes
from hub.devices.fields import (
    FieldReader,
    JsonDict,
    bits_from_names,
    feature_bits,
    names_from_bits,
    timestamp_json,
)
from hub.devices.gatt_time import encode_date_time

WEIGHT_MEASUREMENT = "Weight Measurement (0x2A9D)"
WEIGHT_SCALE_FEATURE = "Weight Scale Feature (0x2A9E)"

MassUnit: TypeAlias = Literal["kg", "lb"]
HeightUnit: TypeAlias = Literal["m", "in"]
Resolution: TypeAlias = float | Literal["reserved"] | None
"""A Feature resolution: the step in the unit, None for "not specified", "reserved" for RFU."""

UNKNOWN_USER: Final = 0xFF
"""GSS: User ID 0xFF means "unknown user". Kept as 255 (not None), as in blood_pressure."""

MEASUREMENT_UNSUCCESSFUL: Final = 0xFFFF
"""GSS: a Weight field of 0xFFFF means "Measurement Unsuccessful"."""

RESERVED: Final = "reserved"

# Raw steps per unit: value = raw / scale. 0.005 kg = 1/200 kg, 0.01 lb, 0.001 m, 0.1 in.
MASS_SCALE: Final[dict[str, int]] = {"kg": 200, "lb": 100}
HEIGHT_SCALE: Final[dict[str, int]] = {"m": 1000, "in": 10}
TENTHS: Final = 10  # BMI (kg/m2), percentages, impedance (ohm)

_FLAG_IMPERIAL = 0x01
_FLAG_TIMESTAMP = 0x02
_FLAG_USER_ID = 0x04
_FLAG_BMI_AND_HEIGHT = 0x08
_MIN_LENGTH = 3  # flags + weight

# Feature resolution codes (GSS tables), code -> (SI step, imperial step).
WEIGHT_RESOLUTIONS: Final[dict[int, tuple[float, float]]] = {
    1: (0.5, 1.0),
    2: (0.2, 0.5),
    3: (0.1, 0.2),
    4: (0.05, 0.1),
    5: (0.02, 0.05),
    6: (0.01, 0.02),
    7: (0.005, 0.01),
}
HEIGHT_RESOLUTIONS: Final[dict[int, tuple[float, float]]] = {
    1: (0.01, 1.0),
    2: (0.005, 0.5),
    3: (0.001, 0.1),
}

# Weight Scale Feature bits 0-2 -> name.
FEATURE_NAMES: Final = ("timestamp", "multiple_users", "bmi")
_WEIGHT_RESOLUTION_SHIFT = 3  # 4 bits
_HEIGHT_RESOLUTION_SHIFT = 7  # 3 bits


def units_from_flag(imperial: bool) -> tuple[MassUnit, HeightUnit]:
    """The (mass unit, height unit) pair selected by flags bit 0."""
    return ("lb", "in") if imperial else ("kg", "m")


def scaled(raw: int, scale: int) -> float:
    """``raw / scale`` as the float nearest the exact decimal (int / int is correctly rounded)."""
    return raw / scale


def encode_scaled(value: float, scale: int, field: str, *, maximum: int = 0xFFFF) -> int:
    """The raw uint for ``value`` at ``1/scale`` resolution, rounded half up on its decimal form.

    Raises ValueError for a non-number, NaN/inf, a negative value or one above ``maximum`` steps.
    """
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"{field} must be a number, got {value!r}")
    if not math.isfinite(value) or value < 0:
        raise ValueError(f"{field} must be a finite number >= 0, got {value!r}")
    raw = int((Decimal(repr(value)) * scale).to_integral_value(rounding=ROUND_HALF_UP))
    if raw > maximum:
        raise ValueError(f"{field} {value!r} is above the largest encodable {maximum / scale}")
    return raw


def check_user_id(user_id: int | None) -> None:
    """Raise ValueError unless ``user_id`` is None or a uint8 (0xFF meaning "unknown user")."""
    if user_id is not None and (
        isinstance(user_id, bool) or not isinstance(user_id, int) or not 0 <= user_id <= 0xFF
    ):
        raise ValueError(f"user_id must be 0-255, got {user_id!r}")


def resolution_from_code(
    code: int, table: dict[int, tuple[float, float]]
) -> tuple[Resolution, Resolution]:
    """(SI step, imperial step) for a Feature resolution code; (None, None) for 0."""
    if code == 0:
        return None, None
    if code in table:
        return table[code]
    return RESERVED, RESERVED


def resolutions_from_bits(
    bits: int, mass_shift: int, height_shift: int
) -> tuple[Resolution, Resolution, Resolution, Resolution]:
    """(mass kg, mass lb, height m, height in) steps from a scale Feature's 4-bit mass and 3-bit
    height resolution codes at the given bit positions (0x2A9E and 0x2A9B place them apart)."""
    mass = resolution_from_code(bits >> mass_shift & 0xF, WEIGHT_RESOLUTIONS)
    height = resolution_from_code(bits >> height_shift & 0x7, HEIGHT_RESOLUTIONS)
    return (*mass, *height)


def code_from_resolution(
    value: float | None, table: dict[int, tuple[float, float]], what: str
) -> int:
    """Inverse of resolution_from_code for the SI step (None -> 0 "not specified")."""
    if value is None:
        return 0
    for code, (si, _) in table.items():
        if value == si:
            return code
    allowed = ", ".join(str(si) for si, _ in table.values())
    raise ValueError(f"{what} must be None or one of {allowed}, got {value!r}")


@dataclass(frozen=True, slots=True)
class WeightMeasurement:
    """A decoded 0x2A9D value.

    ``weight`` is in ``unit`` (kg or lb) and None when the scale reported "Measurement
    Unsuccessful"; ``height`` is in ``height_unit`` (m or in). ``timestamp`` is None both when the
    flag is absent and when the scale sent a date it does not know (year/month/day 0).
    """

    weight: float | None
    unit: MassUnit
    timestamp: datetime | None = None
    user_id: int | None = None
    bmi: float | None = None
    height: float | None = None
    measurement_unsuccessful: bool = False
    trailing_bytes: int = 0

    @property
    def height_unit(self) -> HeightUnit:
        return "in" if self.unit == "lb" else "m"

    def to_json(self) -> JsonDict:
        return {
            "type": "weight_measurement",
            "weight": self.weight,
            "unit": self.unit,
            "timestamp": timestamp_json(self.timestamp),
            "user_id": self.user_id,
            "bmi": self.bmi,
            "height": self.height,
            "height_unit": self.height_unit,
            "measurement_unsuccessful": self.measurement_unsuccessful,
        }


@dataclass(frozen=True, slots=True)
class WeightScaleFeature:
    """A decoded 0x2A9E value.

    ``weight_resolution`` is in kg and ``weight_resolution_lb`` in lb (the same code, read in
    either unit system); likewise ``height_resolution`` (m) and ``height_resolution_in`` (in).
    None means "not specified", "reserved" an RFU code.
    """

    features: tuple[str, ...]
    weight_resolution: Resolution = None
    weight_resolution_lb: Resolution = None
    height_resolution: Resolution = None
    height_resolution_in: Resolution = None
    trailing_bytes: int = 0

    def to_json(self) -> JsonDict:
        return {
            "type": "weight_scale_feature",
            "features": list(self.features),
            "weight_resolution": self.weight_resolution,
            "weight_resolution_lb": self.weight_resolution_lb,
            "height_resolution": self.height_resolution,
            "height_resolution_in": self.height_resolution_in,
        }


def parse_weight_measurement(data: RawBytes) -> WeightMeasurement:
    """Parse a 0x2A9D value. Raises ParseError (only) when it is malformed."""
    reader = FieldReader(data, WEIGHT_MEASUREMENT, min_length=_MIN_LENGTH)
    flags = reader.uint(1, "flags", "flags")
    unit, height_unit = units_from_flag(bool(flags & _FLAG_IMPERIAL))
    raw_weight = reader.uint(2, "weight", "the weight (uint16)")
    unsuccessful = raw_weight == MEASUREMENT_UNSUCCESSFUL
    timestamp: datetime | None = None
    user_id: int | None = None
    bmi: float | None = None
    height: float | None = None
    if flags & _FLAG_TIMESTAMP:
        timestamp = reader.date_time("timestamp", flagged=True)
    if flags & _FLAG_USER_ID:
        user_id = reader.uint(1, "user_id", "a user ID (1 byte)", flagged=True)
    if flags & _FLAG_BMI_AND_HEIGHT:
        bmi = scaled(reader.uint(2, "bmi", "a BMI (2 bytes)", flagged=True), TENTHS)
        raw_height = reader.uint(2, "height", "a height (2 bytes, sent with the BMI)", flagged=True)
        height = scaled(raw_height, HEIGHT_SCALE[height_unit])
    return WeightMeasurement(
        weight=None if unsuccessful else scaled(raw_weight, MASS_SCALE[unit]),
        unit=unit,
        timestamp=timestamp,
        user_id=user_id,
        bmi=bmi,
        height=height,
        measurement_unsuccessful=unsuccessful,
        trailing_bytes=reader.remaining,
    )


def parse_weight_scale_feature(data: RawBytes) -> WeightScaleFeature:
    """Parse a 0x2A9E value (uint32). Raises ParseError (only) when it is too short."""
    bits, trailing = feature_bits(data, WEIGHT_SCALE_FEATURE, 4)
    weight_si, weight_lb, height_si, height_in = resolutions_from_bits(
        bits, _WEIGHT_RESOLUTION_SHIFT, _HEIGHT_RESOLUTION_SHIFT
    )
    return WeightScaleFeature(
        features=names_from_bits(bits & 0x7, FEATURE_NAMES),
        weight_resolution=weight_si,
        weight_resolution_lb=weight_lb,
        height_resolution=height_si,
        height_resolution_in=height_in,
        trailing_bytes=trailing,
    )


def build_weight_measurement(
    weight: float | None,
    *,
    unit: MassUnit = "kg",
    timestamp: datetime | None = None,
    timestamp_unknown: bool = False,
    user_id: int | None = None,
    bmi: float | None = None,
    height: float | None = None,
) -> bytes:
    """Encode a 0x2A9D value; flags follow from which optional fields are given.

    ``weight`` is in ``unit`` ("kg" at 0.005 kg or "lb" at 0.01 lb resolution, rounded half up),
    or None for "Measurement Unsuccessful" (0xFFFF), which the GSS allows only with a time stamp
    and user ID. ``height`` is in m (kg) or in (lb) and must come with ``bmi`` (one flag bit
    covers both). ``timestamp_unknown=True`` sends an all-zero Date Time. Raises ValueError for
    anything that cannot be encoded.
    """
    if unit not in MASS_SCALE:
        raise ValueError(f"unit must be 'kg' or 'lb', got {unit!r}")
    if timestamp is not None and timestamp_unknown:
        raise ValueError("give either timestamp or timestamp_unknown=True, not both")
    if (bmi is None) != (height is None):
        raise ValueError("bmi and height share one flag bit: give both or neither")
    if weight is None and bmi is not None:
        raise ValueError("a 'Measurement Unsuccessful' value carries no BMI or height (GSS)")
    check_user_id(user_id)
    height_unit = units_from_flag(unit == "lb")[1]
    flags = _FLAG_IMPERIAL if unit == "lb" else 0
    raw_weight = (
        MEASUREMENT_UNSUCCESSFUL
        if weight is None
        # 0xFFFF is the "unsuccessful" marker, so the largest weight is one step below it.
        else encode_scaled(weight, MASS_SCALE[unit], "weight", maximum=0xFFFE)
    )
    body = raw_weight.to_bytes(2, "little")
    if timestamp is not None or timestamp_unknown:
        flags |= _FLAG_TIMESTAMP
        body += encode_date_time(timestamp)
    if user_id is not None:
        flags |= _FLAG_USER_ID
        body += bytes((user_id,))
    if bmi is not None and height is not None:
        flags |= _FLAG_BMI_AND_HEIGHT
        body += encode_scaled(bmi, TENTHS, "bmi").to_bytes(2, "little")
        body += encode_scaled(height, HEIGHT_SCALE[height_unit], "height").to_bytes(2, "little")
    return bytes((flags,)) + body


def build_weight_scale_feature(
    features: Iterable[str] = (),
    *,
    weight_resolution: float | None = None,
    height_resolution: float | None = None,
) -> bytes:
    """Encode a 0x2A9E value from feature names (see FEATURE_NAMES) and resolutions.

    ``weight_resolution`` is the SI step in kg (0.5, 0.2, 0.1, 0.05, 0.02, 0.01 or 0.005) and
    ``height_resolution`` in m (0.01, 0.005 or 0.001); None means "not specified".
    """
    bits = bits_from_names(features, FEATURE_NAMES, "weight scale feature")
    bits |= (
        code_from_resolution(weight_resolution, WEIGHT_RESOLUTIONS, "weight_resolution")
        << _WEIGHT_RESOLUTION_SHIFT
    )
    bits |= (
        code_from_resolution(height_resolution, HEIGHT_RESOLUTIONS, "height_resolution")
        << _HEIGHT_RESOLUTION_SHIFT
    )
    return bits.to_bytes(4, "little")


PARSERS: dict[int, tuple[str, Callable[[bytes], Any]]] = {
    0x2A9D: (WEIGHT_MEASUREMENT, parse_weight_measurement),
    0x2A9E: (WEIGHT_SCALE_FEATURE, parse_weight_scale_feature),
}
