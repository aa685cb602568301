"""Blood Pressure Service values: Measurement (0x2A35), Intermediate Cuff Pressure (0x2A36) and
Feature (0x2A49), laid out as in the Bluetooth GATT Specification Supplement (GSS).

0x2A35 / 0x2A36 layout (little-endian):
  byte 0      flags: bit0 unit (0 mmHg, 1 kPa), bit1 time stamp, bit2 pulse rate,
              bit3 user ID, bit4 measurement status present; bits 5-7 RFU (ignored)
  bytes 1-6   compound value: three SFLOATs. 0x2A35: systolic, diastolic, mean arterial pressure.
              0x2A36: current cuff pressure, then two unused SFLOATs (the GSS says NaN; real
              devices, and Nordic's test vectors, send 0) that must be present but are ignored.
  then, in this order and only when flagged: time stamp (Date Time, 7), pulse rate (SFLOAT, 2),
  user ID (uint8, 1), measurement status (uint16, 2).
Bytes after the last flagged field are accepted (some cuffs append vendor data) and counted in
``trailing_bytes``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Literal, TypeAlias

from hub.devices.errors import RawBytes
from hub.devices.fields import (
    FieldReader,
    JsonDict,
    feature_bits,
    optional_number_json,
    timestamp_json,
)
from hub.devices.gatt_time import encode_date_time
from hub.devices.ieee11073 import Number, SpecialValue, encode_sfloat, number_to_json

BLOOD_PRESSURE_MEASUREMENT = "Blood Pressure Measurement (0x2A35)"
INTERMEDIATE_CUFF_PRESSURE = "Intermediate Cuff Pressure (0x2A36)"
BLOOD_PRESSURE_FEATURE = "Blood Pressure Feature (0x2A49)"

Unit: TypeAlias = Literal["mmHg", "kPa"]

UNKNOWN_USER = 0xFF
"""GSS: User ID 0xFF means "unknown user". Kept as 255 (not None) so that "device says it does
not know the user" stays distinguishable from "device sent no user ID" (None)."""

_FLAG_KPA = 0x01
_FLAG_TIMESTAMP = 0x02
_FLAG_PULSE_RATE = 0x04
_FLAG_USER_ID = 0x08
_FLAG_STATUS = 0x10
_MIN_LENGTH = 7  # flags + compound value

# Measurement Status (uint16). Bits 3-4 are one 2-bit field; value 3 and bits 6-15 are RFU.
_STATUS_FLAGS = (
    (0x0001, "body_movement_detected"),
    (0x0002, "cuff_too_loose"),
    (0x0004, "irregular_pulse_detected"),
)
_PULSE_RANGE_NAMES = (
    "pulse_rate_within_range",
    "pulse_rate_exceeds_upper_limit",
    "pulse_rate_below_lower_limit",
)
_IMPROPER_POSITION = (0x0020, "improper_measurement_position")
MEASUREMENT_STATUS_NAMES = (
    *(name for _, name in _STATUS_FLAGS),
    *_PULSE_RANGE_NAMES,
    _IMPROPER_POSITION[1],
)

# Blood Pressure Feature (uint16), bit n -> name; bits 9-15 RFU.
FEATURE_NAMES = (
    "body_movement_detection",
    "cuff_fit_detection",
    "irregular_pulse_detection",
    "pulse_rate_range_detection",
    "measurement_position_detection",
    "multiple_bond",
    "e2e_crc",
    "user_data_service",
    "user_facing_time",
)


def decode_measurement_status(raw: int) -> tuple[str, ...]:
    """Names of the conditions in a Measurement Status word, in bit order.

    Bits 3-4 always yield one pulse-rate-range name, except the RFU value 3 which yields none.
    A device without pulse rate range detection sends 0, which reads as "within range": check
    the Blood Pressure Feature before trusting it.
    """
    names = [name for bit, name in _STATUS_FLAGS if raw & bit]
    pulse_range = (raw >> 3) & 0x3
    if pulse_range < len(_PULSE_RANGE_NAMES):
        names.append(_PULSE_RANGE_NAMES[pulse_range])
    if raw & _IMPROPER_POSITION[0]:
        names.append(_IMPROPER_POSITION[1])
    return tuple(names)


def encode_measurement_status(names: Iterable[str]) -> int:
    """Inverse of decode_measurement_status; no pulse-range name means "within range" (0)."""
    raw = 0
    pulse_ranges = []
    for name in names:
        if name in _PULSE_RANGE_NAMES:
            pulse_ranges.append(name)
            raw |= _PULSE_RANGE_NAMES.index(name) << 3
        elif name == _IMPROPER_POSITION[1]:
            raw |= _IMPROPER_POSITION[0]
        else:
            bits = [bit for bit, known in _STATUS_FLAGS if known == name]
            if not bits:
                raise ValueError(f"unknown measurement status {name!r}")
            raw |= bits[0]
    if len(set(pulse_ranges)) > 1:
        raise ValueError(f"conflicting pulse rate ranges: {sorted(set(pulse_ranges))}")
    return raw


@dataclass(frozen=True, slots=True)
class BloodPressureMeasurement:
    """A decoded 0x2A35 value. Pressures are in ``unit``; pulse rate is beats per minute.

    ``timestamp`` is None both when the flag is absent and when the device sent a date it does
    not know (year/month/day 0). ``measurement_status`` is None when the flag is absent.
    """

    systolic: Number
    diastolic: Number
    mean_arterial_pressure: Number
    unit: Unit
    timestamp: datetime | None = None
    pulse_rate: Number | None = None
    user_id: int | None = None
    measurement_status: tuple[str, ...] | None = None
    trailing_bytes: int = 0

    def to_json(self) -> JsonDict:
        return {
            "type": "blood_pressure_measurement",
            "systolic": number_to_json(self.systolic),
            "diastolic": number_to_json(self.diastolic),
            "mean_arterial_pressure": number_to_json(self.mean_arterial_pressure),
            "unit": self.unit,
            "timestamp": timestamp_json(self.timestamp),
            "pulse_rate": optional_number_json(self.pulse_rate),
            "user_id": self.user_id,
            "measurement_status": (
                None if self.measurement_status is None else list(self.measurement_status)
            ),
        }


@dataclass(frozen=True, slots=True)
class IntermediateCuffPressure:
    """A decoded 0x2A36 value: the cuff pressure while a measurement is in progress."""

    cuff_pressure: Number
    unit: Unit
    timestamp: datetime | None = None
    pulse_rate: Number | None = None
    user_id: int | None = None
    measurement_status: tuple[str, ...] | None = None
    trailing_bytes: int = 0

    def to_json(self) -> JsonDict:
        return {
            "type": "intermediate_cuff_pressure",
            "cuff_pressure": number_to_json(self.cuff_pressure),
            "unit": self.unit,
            "timestamp": timestamp_json(self.timestamp),
            "pulse_rate": optional_number_json(self.pulse_rate),
            "user_id": self.user_id,
            "measurement_status": (
                None if self.measurement_status is None else list(self.measurement_status)
            ),
        }


@dataclass(frozen=True, slots=True)
class BloodPressureFeature:
    """A decoded 0x2A49 value: the names of the features the sensor supports, in bit order."""

    features: tuple[str, ...]
    trailing_bytes: int = 0

    def to_json(self) -> JsonDict:
        return {"type": "blood_pressure_feature", "features": list(self.features)}


@dataclass(frozen=True, slots=True)
class _Parsed:
    compound: tuple[Number, Number, Number]
    unit: Unit
    timestamp: datetime | None
    pulse_rate: Number | None
    user_id: int | None
    measurement_status: tuple[str, ...] | None
    trailing_bytes: int


def _parse_flagged(data: RawBytes, characteristic: str, compound: tuple[str, str, str]) -> _Parsed:
    """Shared 0x2A35 / 0x2A36 walk; ``compound`` names the three SFLOAT fields for errors."""
    reader = FieldReader(data, characteristic, min_length=_MIN_LENGTH)
    flags = reader.uint(1, "flags", "flags")
    first, second, third = (
        reader.sfloat(name, f"{name.replace('_', ' ')} (SFLOAT)") for name in compound
    )
    timestamp: datetime | None = None
    pulse_rate: Number | None = None
    user_id: int | None = None
    status: tuple[str, ...] | None = None
    if flags & _FLAG_TIMESTAMP:
        timestamp = reader.date_time("timestamp", flagged=True)
    if flags & _FLAG_PULSE_RATE:
        pulse_rate = reader.sfloat("pulse_rate", "a pulse rate (2 bytes)", flagged=True)
    if flags & _FLAG_USER_ID:
        user_id = reader.take(1, "user_id", "a user ID (1 byte)", flagged=True)[0]
    if flags & _FLAG_STATUS:
        raw = reader.take(2, "measurement_status", "a measurement status (2 bytes)", flagged=True)
        status = decode_measurement_status(int.from_bytes(raw, "little"))
    return _Parsed(
        compound=(first, second, third),
        unit="kPa" if flags & _FLAG_KPA else "mmHg",
        timestamp=timestamp,
        pulse_rate=pulse_rate,
        user_id=user_id,
        measurement_status=status,
        trailing_bytes=reader.remaining,
    )


def parse_blood_pressure_measurement(data: RawBytes) -> BloodPressureMeasurement:
    """Parse a 0x2A35 value. Raises ParseError (only) when it is malformed."""
    p = _parse_flagged(
        data, BLOOD_PRESSURE_MEASUREMENT, ("systolic", "diastolic", "mean_arterial_pressure")
    )
    systolic, diastolic, mean_arterial_pressure = p.compound
    return BloodPressureMeasurement(
        systolic=systolic,
        diastolic=diastolic,
        mean_arterial_pressure=mean_arterial_pressure,
        unit=p.unit,
        timestamp=p.timestamp,
        pulse_rate=p.pulse_rate,
        user_id=p.user_id,
        measurement_status=p.measurement_status,
        trailing_bytes=p.trailing_bytes,
    )


def parse_intermediate_cuff_pressure(data: RawBytes) -> IntermediateCuffPressure:
    """Parse a 0x2A36 value. Raises ParseError (only) when it is malformed."""
    p = _parse_flagged(
        data,
        INTERMEDIATE_CUFF_PRESSURE,
        ("cuff_pressure", "unused_diastolic", "unused_mean_arterial_pressure"),
    )
    return IntermediateCuffPressure(
        cuff_pressure=p.compound[0],
        unit=p.unit,
        timestamp=p.timestamp,
        pulse_rate=p.pulse_rate,
        user_id=p.user_id,
        measurement_status=p.measurement_status,
        trailing_bytes=p.trailing_bytes,
    )


def parse_blood_pressure_feature(data: RawBytes) -> BloodPressureFeature:
    """Parse a 0x2A49 value (uint16 bit field). Raises ParseError (only) when it is too short."""
    bits, trailing = feature_bits(data, BLOOD_PRESSURE_FEATURE, 2)
    features = tuple(name for bit, name in enumerate(FEATURE_NAMES) if bits & (1 << bit))
    return BloodPressureFeature(features=features, trailing_bytes=trailing)


def _build_flagged(
    compound: tuple[Number, Number, Number],
    *,
    unit: Unit,
    exponent: int,
    timestamp: datetime | None,
    timestamp_unknown: bool,
    pulse_rate: Number | None,
    pulse_rate_exponent: int,
    user_id: int | None,
    measurement_status: Iterable[str] | None,
) -> bytes:
    if unit not in ("mmHg", "kPa"):
        raise ValueError(f"unit must be 'mmHg' or 'kPa', got {unit!r}")
    if timestamp is not None and timestamp_unknown:
        raise ValueError("give either timestamp or timestamp_unknown=True, not both")
    if user_id is not None and not 0 <= user_id <= 0xFF:
        raise ValueError(f"user_id must be 0-255, got {user_id}")
    flags = _FLAG_KPA if unit == "kPa" else 0
    body = b"".join(encode_sfloat(value, exponent) for value in compound)
    if timestamp is not None or timestamp_unknown:
        flags |= _FLAG_TIMESTAMP
        body += encode_date_time(timestamp)
    if pulse_rate is not None:
        flags |= _FLAG_PULSE_RATE
        body += encode_sfloat(pulse_rate, pulse_rate_exponent)
    if user_id is not None:
        flags |= _FLAG_USER_ID
        body += bytes((user_id,))
    if measurement_status is not None:
        flags |= _FLAG_STATUS
        body += encode_measurement_status(measurement_status).to_bytes(2, "little")
    return bytes((flags,)) + body


def build_blood_pressure_measurement(
    systolic: Number,
    diastolic: Number,
    mean_arterial_pressure: Number,
    *,
    unit: Unit = "mmHg",
    exponent: int = 0,
    timestamp: datetime | None = None,
    timestamp_unknown: bool = False,
    pulse_rate: Number | None = None,
    pulse_rate_exponent: int = 0,
    user_id: int | None = None,
    measurement_status: Iterable[str] | None = None,
) -> bytes:
    """Encode a 0x2A35 value; flags follow from which optional fields are given.

    Pressures are SFLOATs at ``exponent`` (e.g. -1 for 0.1 resolution), the pulse rate at
    ``pulse_rate_exponent``. ``timestamp_unknown=True`` sends a time stamp of all zeros, as a
    cuff whose clock was never set does. Raises ValueError for values that cannot be encoded.
    """
    return _build_flagged(
        (systolic, diastolic, mean_arterial_pressure),
        unit=unit,
        exponent=exponent,
        timestamp=timestamp,
        timestamp_unknown=timestamp_unknown,
        pulse_rate=pulse_rate,
        pulse_rate_exponent=pulse_rate_exponent,
        user_id=user_id,
        measurement_status=measurement_status,
    )


def build_intermediate_cuff_pressure(
    cuff_pressure: Number,
    *,
    unit: Unit = "mmHg",
    exponent: int = 0,
    timestamp: datetime | None = None,
    timestamp_unknown: bool = False,
    pulse_rate: Number | None = None,
    pulse_rate_exponent: int = 0,
    user_id: int | None = None,
    measurement_status: Iterable[str] | None = None,
) -> bytes:
    """Encode a 0x2A36 value; the unused diastolic and MAP sub-fields are sent as NaN (GSS)."""
    return _build_flagged(
        (cuff_pressure, SpecialValue.NAN, SpecialValue.NAN),
        unit=unit,
        exponent=exponent,
        timestamp=timestamp,
        timestamp_unknown=timestamp_unknown,
        pulse_rate=pulse_rate,
        pulse_rate_exponent=pulse_rate_exponent,
        user_id=user_id,
        measurement_status=measurement_status,
    )


def build_blood_pressure_feature(features: Iterable[str]) -> bytes:
    """Encode a 0x2A49 value from feature names (see FEATURE_NAMES)."""
    bits = 0
    for name in features:
        if name not in FEATURE_NAMES:
            raise ValueError(f"unknown blood pressure feature {name!r}")
        bits |= 1 << FEATURE_NAMES.index(name)
    return bits.to_bytes(2, "little")
