"""Body Composition Service values: Body Composition Measurement (0x2A9C) and Body Composition
Feature (0x2A9B), laid out as in the Bluetooth GATT Specification Supplement (GSS).

0x2A9C layout (little-endian):
  bytes 0-1   flags (uint16): bit0 measurement units (0 SI: kg and m, 1 imperial: lb and in),
              bit1 time stamp, bit2 user ID, bit3 basal metabolism, bit4 muscle percentage,
              bit5 muscle mass, bit6 fat free mass, bit7 soft lean mass, bit8 body water mass,
              bit9 impedance, bit10 weight, bit11 height, bit12 multiple packet measurement (no
              field of its own); bits 13-15 RFU (ignored)
  bytes 2-3   body fat percentage, uint16 at 0.1 %. 0xFFFF means "Measurement Unsuccessful":
              ``body_fat_percentage`` is then None and ``measurement_unsuccessful`` True. Any
              flagged fields after it are still decoded as sent (see build_... for what a
              conforming sender includes).
  then, in this order and only when flagged: time stamp (Date Time, 7), user ID (uint8, 1;
  0xFF = "unknown user", kept as 255), basal metabolism (uint16, kJ), muscle percentage
  (uint16, 0.1 %), muscle mass, fat free mass, soft lean mass, body water mass (each uint16,
  0.005 kg or 0.01 lb), impedance (uint16, 0.1 ohm), weight (uint16, 0.005 kg or 0.01 lb),
  height (uint16, 0.001 m or 0.1 in); 2 bytes each unless stated.

A measurement too long for one ATT payload is sent as several values, each with bit 12 set
(``multiple_packet_measurement``); each value is decoded on its own, joining them is the
caller's business.

0x2A9B layout: one uint32. bits 0-10 "supported" bits for time stamp, multiple users, basal
metabolism, muscle percentage, muscle mass, fat free mass, soft lean mass, body water mass,
impedance, weight, height; bits 11-14 mass measurement resolution and bits 15-17 height
measurement resolution (the same code tables as the Weight Scale Feature); bits 18-31 RFU.

As in weight.py, values use the GSS's fixed resolutions, never the Feature's advertised ones,
and every decoded number is the float nearest the exact decimal. Bytes after the last flagged
field are accepted and counted in ``trailing_bytes``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

from hub.devices.errors import ParseError, RawBytes
from hub.devices.fields import (
    FieldReader,
    JsonDict,
    bits_from_names,
    feature_bits,
    names_from_bits,
    timestamp_json,
)
from hub.devices.gatt_time import encode_date_time
from hub.devices.weight import (
    HEIGHT_RESOLUTIONS,
    HEIGHT_SCALE,
    MASS_SCALE,
    MEASUREMENT_UNSUCCESSFUL,
    TENTHS,
    UNKNOWN_USER,
    WEIGHT_RESOLUTIONS,
    HeightUnit,
    MassUnit,
    Resolution,
    check_user_id,
    code_from_resolution,
    encode_scaled,
    resolutions_from_bits,
    scaled,
    units_from_flag,
)

BODY_COMPOSITION_MEASUREMENT = "Body Composition Measurement (0x2A9C)"
BODY_COMPOSITION_FEATURE = "Body Composition Feature (0x2A9B)"

__all__ = [
    "BODY_COMPOSITION_FEATURE",
    "BODY_COMPOSITION_MEASUREMENT",
    "FEATURE_NAMES",
    "PARSERS",
    "UNKNOWN_USER",
    "BodyCompositionFeature",
    "BodyCompositionMeasurement",
    "build_body_composition_feature",
    "build_body_composition_measurement",
    "parse_body_composition_feature",
    "parse_body_composition_measurement",
]

_FLAG_IMPERIAL = 0x0001
_FLAG_TIMESTAMP = 0x0002
_FLAG_USER_ID = 0x0004
_FLAG_MULTIPLE_PACKET = 0x1000
_MIN_LENGTH = 4  # flags + body fat percentage

# The uint16 fields after the user ID, in wire order: (flag bit, field name, kind).
# kind: "kj" raw kilojoules, "tenths" 0.1 steps, "mass" 0.005 kg / 0.01 lb, "height" 0.001 m /
# 0.1 in.
_UINT16_FIELDS: Final = (
    (0x0008, "basal_metabolism", "kj"),
    (0x0010, "muscle_percentage", "tenths"),
    (0x0020, "muscle_mass", "mass"),
    (0x0040, "fat_free_mass", "mass"),
    (0x0080, "soft_lean_mass", "mass"),
    (0x0100, "body_water_mass", "mass"),
    (0x0200, "impedance", "tenths"),
    (0x0400, "weight", "mass"),
    (0x0800, "height", "height"),
)

# Body Composition Feature bits 0-10 -> name.
FEATURE_NAMES: Final = (
    "timestamp",
    "multiple_users",
    "basal_metabolism",
    "muscle_percentage",
    "muscle_mass",
    "fat_free_mass",
    "soft_lean_mass",
    "body_water_mass",
    "impedance",
    "weight",
    "height",
)
_MASS_RESOLUTION_SHIFT = 11  # 4 bits
_HEIGHT_RESOLUTION_SHIFT = 15  # 3 bits


class _Flags16Reader(FieldReader):
    """FieldReader whose "flags promise" message shows the whole 16-bit flags field."""

    def take(self, size: int, field: str, what: str, *, flagged: bool = False) -> bytes:
        if flagged and self.pos + size > len(self.data):
            flags = int.from_bytes(self.data[:2], "little")
            raise ParseError(
                self.characteristic,
                field,
                f"flags 0x{flags:04x} promise {what} at byte {self.pos} "
                f"but the value is only {len(self.data)} bytes long",
                self.data,
            )
        return super().take(size, field, what, flagged=flagged)


@dataclass(frozen=True, slots=True)
class BodyCompositionMeasurement:
    """A decoded 0x2A9C value.

    Masses (muscle, fat free, soft lean, body water, weight) are in ``unit`` (kg or lb), height
    in ``height_unit`` (m or in), percentages in %, basal metabolism in kJ, impedance in ohm.
    Absent fields are None. ``body_fat_percentage`` is None when the analyzer reported
    "Measurement Unsuccessful". ``timestamp`` is None both when the flag is absent and when the
    date is not known (year/month/day 0).
    """

    body_fat_percentage: float | None
    unit: MassUnit
    timestamp: datetime | None = None
    user_id: int | None = None
    basal_metabolism: int | None = None
    muscle_percentage: float | None = None
    muscle_mass: float | None = None
    fat_free_mass: float | None = None
    soft_lean_mass: float | None = None
    body_water_mass: float | None = None
    impedance: float | None = None
    weight: float | None = None
    height: float | None = None
    multiple_packet_measurement: bool = False
    measurement_unsuccessful: bool = False
    trailing_bytes: int = 0

    @property
    def height_unit(self) -> HeightUnit:
        return "in" if self.unit == "lb" else "m"

    def to_json(self) -> JsonDict:
        return {
            "type": "body_composition_measurement",
            "body_fat_percentage": self.body_fat_percentage,
            "unit": self.unit,
            "height_unit": self.height_unit,
            "timestamp": timestamp_json(self.timestamp),
            "user_id": self.user_id,
            "basal_metabolism": self.basal_metabolism,
            "muscle_percentage": self.muscle_percentage,
            "muscle_mass": self.muscle_mass,
            "fat_free_mass": self.fat_free_mass,
            "soft_lean_mass": self.soft_lean_mass,
            "body_water_mass": self.body_water_mass,
            "impedance": self.impedance,
            "weight": self.weight,
            "height": self.height,
            "multiple_packet_measurement": self.multiple_packet_measurement,
            "measurement_unsuccessful": self.measurement_unsuccessful,
        }


@dataclass(frozen=True, slots=True)
class BodyCompositionFeature:
    """A decoded 0x2A9B value: supported fields plus the mass and height resolutions.

    ``mass_resolution`` is in kg and ``mass_resolution_lb`` in lb (one code, read in either unit
    system); likewise ``height_resolution`` (m) and ``height_resolution_in`` (in). None means
    "not specified", "reserved" an RFU code.
    """

    features: tuple[str, ...]
    mass_resolution: Resolution = None
    mass_resolution_lb: Resolution = None
    height_resolution: Resolution = None
    height_resolution_in: Resolution = None
    trailing_bytes: int = 0

    def to_json(self) -> JsonDict:
        return {
            "type": "body_composition_feature",
            "features": list(self.features),
            "mass_resolution": self.mass_resolution,
            "mass_resolution_lb": self.mass_resolution_lb,
            "height_resolution": self.height_resolution,
            "height_resolution_in": self.height_resolution_in,
        }


def _scale_for(kind: str, unit: MassUnit, height_unit: HeightUnit) -> int:
    if kind == "mass":
        return MASS_SCALE[unit]
    if kind == "height":
        return HEIGHT_SCALE[height_unit]
    return TENTHS if kind == "tenths" else 1


def parse_body_composition_measurement(data: RawBytes) -> BodyCompositionMeasurement:
    """Parse a 0x2A9C value. Raises ParseError (only) when it is malformed."""
    reader = _Flags16Reader(data, BODY_COMPOSITION_MEASUREMENT, min_length=_MIN_LENGTH)
    flags = reader.uint(2, "flags", "the flags (uint16)")
    unit, height_unit = units_from_flag(bool(flags & _FLAG_IMPERIAL))
    raw_fat = reader.uint(2, "body_fat_percentage", "the body fat percentage (uint16)")
    unsuccessful = raw_fat == MEASUREMENT_UNSUCCESSFUL
    timestamp: datetime | None = None
    user_id: int | None = None
    if flags & _FLAG_TIMESTAMP:
        timestamp = reader.date_time("timestamp", flagged=True)
    if flags & _FLAG_USER_ID:
        user_id = reader.uint(1, "user_id", "a user ID (1 byte)", flagged=True)
    values: dict[str, Any] = {}
    for bit, name, kind in _UINT16_FIELDS:
        if flags & bit:
            what = f"a {name.replace('_', ' ')} (2 bytes)"
            raw = reader.uint(2, name, what, flagged=True)
            values[name] = raw if kind == "kj" else scaled(raw, _scale_for(kind, unit, height_unit))
    return BodyCompositionMeasurement(
        body_fat_percentage=None if unsuccessful else scaled(raw_fat, TENTHS),
        unit=unit,
        timestamp=timestamp,
        user_id=user_id,
        multiple_packet_measurement=bool(flags & _FLAG_MULTIPLE_PACKET),
        measurement_unsuccessful=unsuccessful,
        trailing_bytes=reader.remaining,
        **values,
    )


def parse_body_composition_feature(data: RawBytes) -> BodyCompositionFeature:
    """Parse a 0x2A9B value (uint32). Raises ParseError (only) when it is too short."""
    bits, trailing = feature_bits(data, BODY_COMPOSITION_FEATURE, 4)
    mass_si, mass_lb, height_si, height_in = resolutions_from_bits(
        bits, _MASS_RESOLUTION_SHIFT, _HEIGHT_RESOLUTION_SHIFT
    )
    return BodyCompositionFeature(
        features=names_from_bits(bits, FEATURE_NAMES),
        mass_resolution=mass_si,
        mass_resolution_lb=mass_lb,
        height_resolution=height_si,
        height_resolution_in=height_in,
        trailing_bytes=trailing,
    )


def build_body_composition_measurement(
    body_fat_percentage: float | None,
    *,
    unit: MassUnit = "kg",
    timestamp: datetime | None = None,
    timestamp_unknown: bool = False,
    user_id: int | None = None,
    basal_metabolism: int | None = None,
    muscle_percentage: float | None = None,
    muscle_mass: float | None = None,
    fat_free_mass: float | None = None,
    soft_lean_mass: float | None = None,
    body_water_mass: float | None = None,
    impedance: float | None = None,
    weight: float | None = None,
    height: float | None = None,
    multiple_packet_measurement: bool = False,
) -> bytes:
    """Encode a 0x2A9C value; flags follow from which optional fields are given.

    ``body_fat_percentage`` is in % (0.1 % steps) or None for "Measurement Unsuccessful"
    (0xFFFF), which may then carry only a time stamp and user ID (the rule the Weight Scale
    Service states for its 0xFFFF; we apply it here too). Masses are in ``unit`` ("kg": 0.005 kg,
    "lb": 0.01 lb), height in m or in to match, basal metabolism in whole kJ, impedance in ohm
    (0.1 steps). Values are rounded half up to the field resolution. Raises ValueError for
    anything that cannot be encoded.
    """
    if unit not in MASS_SCALE:
        raise ValueError(f"unit must be 'kg' or 'lb', got {unit!r}")
    if timestamp is not None and timestamp_unknown:
        raise ValueError("give either timestamp or timestamp_unknown=True, not both")
    check_user_id(user_id)
    if basal_metabolism is not None and (
        isinstance(basal_metabolism, bool)
        or not isinstance(basal_metabolism, int)
        or not 0 <= basal_metabolism <= 0xFFFF
    ):
        raise ValueError(f"basal_metabolism must be whole kJ 0-65535, got {basal_metabolism!r}")
    given = {
        "basal_metabolism": basal_metabolism,
        "muscle_percentage": muscle_percentage,
        "muscle_mass": muscle_mass,
        "fat_free_mass": fat_free_mass,
        "soft_lean_mass": soft_lean_mass,
        "body_water_mass": body_water_mass,
        "impedance": impedance,
        "weight": weight,
        "height": height,
    }
    if body_fat_percentage is None and any(v is not None for v in given.values()):
        extra = sorted(name for name, v in given.items() if v is not None)
        raise ValueError(
            f"a 'Measurement Unsuccessful' value carries only time stamp and user ID, not {extra}"
        )
    height_unit = units_from_flag(unit == "lb")[1]
    flags = _FLAG_IMPERIAL if unit == "lb" else 0
    if multiple_packet_measurement:
        flags |= _FLAG_MULTIPLE_PACKET
    raw_fat = (
        MEASUREMENT_UNSUCCESSFUL
        if body_fat_percentage is None
        else encode_scaled(body_fat_percentage, TENTHS, "body_fat_percentage", maximum=0xFFFE)
    )
    body = raw_fat.to_bytes(2, "little")
    if timestamp is not None or timestamp_unknown:
        flags |= _FLAG_TIMESTAMP
        body += encode_date_time(timestamp)
    if user_id is not None:
        flags |= _FLAG_USER_ID
        body += bytes((user_id,))
    for bit, name, kind in _UINT16_FIELDS:
        value = given[name]
        if value is None:
            continue
        flags |= bit
        raw = (
            int(value)  # validated above: whole kJ
            if kind == "kj"
            else encode_scaled(value, _scale_for(kind, unit, height_unit), name)
        )
        body += raw.to_bytes(2, "little")
    return flags.to_bytes(2, "little") + body


def build_body_composition_feature(
    features: Iterable[str] = (),
    *,
    mass_resolution: float | None = None,
    height_resolution: float | None = None,
) -> bytes:
    """Encode a 0x2A9B value from feature names (see FEATURE_NAMES) and resolutions.

    ``mass_resolution`` is the SI step in kg (0.5 ... 0.005) and ``height_resolution`` in m
    (0.01, 0.005 or 0.001); None means "not specified".
    """
    bits = bits_from_names(features, FEATURE_NAMES, "body composition feature")
    bits |= (
        code_from_resolution(mass_resolution, WEIGHT_RESOLUTIONS, "mass_resolution")
        << _MASS_RESOLUTION_SHIFT
    )
    bits |= (
        code_from_resolution(height_resolution, HEIGHT_RESOLUTIONS, "height_resolution")
        << _HEIGHT_RESOLUTION_SHIFT
    )
    return bits.to_bytes(4, "little")


PARSERS: dict[int, tuple[str, Callable[[RawBytes], Any]]] = {
    0x2A9B: (BODY_COMPOSITION_FEATURE, parse_body_composition_feature),
    0x2A9C: (BODY_COMPOSITION_MEASUREMENT, parse_body_composition_measurement),
}
