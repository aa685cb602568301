"""Pulse Oximeter Service values: PLX Spot-Check Measurement (0x2A5E), PLX Continuous Measurement
(0x2A5F) and PLX Features (0x2A60), laid out as in the Bluetooth GATT Specification Supplement
(GSS) and the Pulse Oximeter Service (PLXS) 1.0.1.

SpO2 and the Pulse Amplitude Index are percentages, pulse rates beats per minute; all of them are
SFLOATs, so a sensor that has no reading sends NaN (0x07FF) rather than leaving the field out.

0x2A5E layout (little-endian):
  byte 0      flags: bit0 timestamp present, bit1 measurement status present, bit2 device and
              sensor status present, bit3 pulse amplitude index present, bit4 device clock is not
              set; bits 5-7 RFU (ignored)
  bytes 1-4   SpO2PR-Spot-Check: SpO2 (SFLOAT), pulse rate (SFLOAT)
  then, in this order and only when flagged: timestamp (Date Time, 7), measurement status
  (uint16, 2), device and sensor status (uint24, 3), pulse amplitude index (SFLOAT, 2).

0x2A5F layout:
  byte 0      flags: bit0 SpO2PR-Fast present, bit1 SpO2PR-Slow present, bit2 measurement status
              present, bit3 device and sensor status present, bit4 pulse amplitude index present;
              bits 5-7 RFU (ignored)
  bytes 1-4   SpO2PR-Normal: SpO2 (SFLOAT), pulse rate (SFLOAT)
  then, when flagged: SpO2PR-Fast (2 SFLOATs, 4), SpO2PR-Slow (2 SFLOATs, 4), measurement status
  (uint16, 2), device and sensor status (uint24, 3), pulse amplitude index (SFLOAT, 2).

0x2A60 layout:
  bytes 0-1   Supported Features (uint16): bit0 measurement status support present, bit1 device
              and sensor status support present, bit2 measurement storage for spot-check
              measurements, bit3 timestamp for spot-check measurements, bit4 SpO2PR-Fast, bit5
              SpO2PR-Slow, bit6 pulse amplitude index, bit7 multiple bonds; bits 8-15 RFU
  then: Measurement Status Support (uint16, 2) if bit0, Device and Sensor Status Support
  (uint24, 3) if bit1. These use the same bit layout as the status fields of the measurements.

Measurement Status (uint16): bits 0-4 RFU, bits 5-15 named in MEASUREMENT_STATUS_NAMES.
Device and Sensor Status (uint24): bits 0-15 named in DEVICE_AND_SENSOR_STATUS_NAMES, 16-23 RFU.
RFU bits are dropped from the decoded name lists.

The Device Clock is Not Set flag is reported as ``device_clock_not_set`` beside the timestamp,
which is decoded as sent: the flag says the device clock was never set, so the timestamp counts
from whatever the device started at and must not be read as wall-clock time.

Bytes after the last flagged field are accepted and counted in ``trailing_bytes``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from hub.devices.errors import ParseError, RawBytes
from hub.devices.fields import (
    FieldReader,
    JsonDict,
    bits_from_names,
    names_from_bits,
    optional_number_json,
    timestamp_json,
)
from hub.devices.gatt_time import encode_date_time
from hub.devices.ieee11073 import Number, encode_sfloat, number_to_json

PLX_SPOT_CHECK = "PLX Spot-Check Measurement (0x2A5E)"
PLX_CONTINUOUS = "PLX Continuous Measurement (0x2A5F)"
PLX_FEATURES = "PLX Features (0x2A60)"

# Spot-check flags.
_SPOT_TIMESTAMP = 0x01
_SPOT_STATUS = 0x02
_SPOT_DEVICE_STATUS = 0x04
_SPOT_PAI = 0x08
_SPOT_CLOCK_NOT_SET = 0x10

# Continuous flags.
_CONT_FAST = 0x01
_CONT_SLOW = 0x02
_CONT_STATUS = 0x04
_CONT_DEVICE_STATUS = 0x08
_CONT_PAI = 0x10

_MIN_LENGTH = 5  # flags + SpO2 + PR
_STATUS_SIZE = 2
_DEVICE_STATUS_SIZE = 3

MEASUREMENT_STATUS_NAMES: tuple[str | None, ...] = (
    None,  # bits 0-4 RFU
    None,
    None,
    None,
    None,
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
"""Measurement Status (uint16) bit n -> name; None for RFU bits."""

DEVICE_AND_SENSOR_STATUS_NAMES: tuple[str | None, ...] = (
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
    *(None,) * 8,  # bits 16-23 RFU
)
"""Device and Sensor Status (uint24) bit n -> name; None for RFU bits."""

FEATURE_NAMES: tuple[str, ...] = (
    "measurement_status_support",
    "device_and_sensor_status_support",
    "spot_check_measurement_storage",
    "spot_check_timestamp",
    "spo2pr_fast",
    "spo2pr_slow",
    "pulse_amplitude_index",
    "multiple_bonds",
)
"""PLX Features Supported Features (uint16) bit n -> name; bits 8-15 RFU."""

_FEATURE_STATUS_SUPPORT = 0x0001
_FEATURE_DEVICE_STATUS_SUPPORT = 0x0002


def decode_measurement_status(raw: int) -> tuple[str, ...]:
    """Names of the set Measurement Status bits, bit 5 first; RFU bits 0-4 are dropped."""
    return names_from_bits(raw & 0xFFFF, MEASUREMENT_STATUS_NAMES)


def encode_measurement_status(names: Iterable[str]) -> int:
    """Inverse of decode_measurement_status; raises ValueError for an unknown name."""
    return bits_from_names(names, MEASUREMENT_STATUS_NAMES, "measurement status")


def decode_device_and_sensor_status(raw: int) -> tuple[str, ...]:
    """Names of the set Device and Sensor Status bits, bit 0 first; RFU bits 16-23 dropped."""
    return names_from_bits(raw & 0xFFFFFF, DEVICE_AND_SENSOR_STATUS_NAMES)


def encode_device_and_sensor_status(names: Iterable[str]) -> int:
    """Inverse of decode_device_and_sensor_status; raises ValueError for an unknown name."""
    return bits_from_names(names, DEVICE_AND_SENSOR_STATUS_NAMES, "device and sensor status")


def _names_json(names: tuple[str, ...] | None) -> list[str] | None:
    return None if names is None else list(names)


@dataclass(frozen=True, slots=True)
class PlxSpotCheckMeasurement:
    """A decoded 0x2A5E value. SpO2 and pulse amplitude index in %, pulse rate in bpm.

    ``timestamp`` is None when the flag is absent and when the device sent year/month/day 0.
    ``device_clock_not_set`` True means a timestamp, if any, is not wall-clock time.
    """

    spo2: Number
    pulse_rate: Number
    timestamp: datetime | None = None
    measurement_status: tuple[str, ...] | None = None
    device_and_sensor_status: tuple[str, ...] | None = None
    pulse_amplitude_index: Number | None = None
    device_clock_not_set: bool = False
    trailing_bytes: int = 0

    def to_json(self) -> JsonDict:
        return {
            "type": "plx_spot_check",
            "spo2": number_to_json(self.spo2),
            "pulse_rate": number_to_json(self.pulse_rate),
            "timestamp": timestamp_json(self.timestamp),
            "measurement_status": _names_json(self.measurement_status),
            "device_and_sensor_status": _names_json(self.device_and_sensor_status),
            "pulse_amplitude_index": optional_number_json(self.pulse_amplitude_index),
            "device_clock_not_set": self.device_clock_not_set,
        }


@dataclass(frozen=True, slots=True)
class PlxContinuousMeasurement:
    """A decoded 0x2A5F value. ``spo2``/``pulse_rate`` are SpO2PR-Normal; the fast and slow
    pairs are None unless their flag is set (they are always present or absent together)."""

    spo2: Number
    pulse_rate: Number
    spo2_fast: Number | None = None
    pulse_rate_fast: Number | None = None
    spo2_slow: Number | None = None
    pulse_rate_slow: Number | None = None
    measurement_status: tuple[str, ...] | None = None
    device_and_sensor_status: tuple[str, ...] | None = None
    pulse_amplitude_index: Number | None = None
    trailing_bytes: int = 0

    def to_json(self) -> JsonDict:
        return {
            "type": "plx_continuous",
            "spo2": number_to_json(self.spo2),
            "pulse_rate": number_to_json(self.pulse_rate),
            "spo2_fast": optional_number_json(self.spo2_fast),
            "pulse_rate_fast": optional_number_json(self.pulse_rate_fast),
            "spo2_slow": optional_number_json(self.spo2_slow),
            "pulse_rate_slow": optional_number_json(self.pulse_rate_slow),
            "measurement_status": _names_json(self.measurement_status),
            "device_and_sensor_status": _names_json(self.device_and_sensor_status),
            "pulse_amplitude_index": optional_number_json(self.pulse_amplitude_index),
        }


@dataclass(frozen=True, slots=True)
class PlxFeatures:
    """A decoded 0x2A60 value: supported feature names in bit order, and which status bits the
    sensor can report (None when the matching feature bit 0 / bit 1 is clear)."""

    features: tuple[str, ...]
    measurement_status_support: tuple[str, ...] | None = None
    device_and_sensor_status_support: tuple[str, ...] | None = None
    trailing_bytes: int = 0

    def to_json(self) -> JsonDict:
        return {
            "type": "plx_features",
            "features": list(self.features),
            "measurement_status_support": _names_json(self.measurement_status_support),
            "device_and_sensor_status_support": _names_json(self.device_and_sensor_status_support),
        }


def _read_status(reader: FieldReader) -> tuple[str, ...]:
    raw = reader.uint(
        _STATUS_SIZE, "measurement_status", "a measurement status (2 bytes)", flagged=True
    )
    return decode_measurement_status(raw)


def _read_device_status(reader: FieldReader) -> tuple[str, ...]:
    raw = reader.uint(
        _DEVICE_STATUS_SIZE,
        "device_and_sensor_status",
        "a device and sensor status (3 bytes)",
        flagged=True,
    )
    return decode_device_and_sensor_status(raw)


def _read_pai(reader: FieldReader) -> Number:
    return reader.sfloat("pulse_amplitude_index", "a pulse amplitude index (2 bytes)", flagged=True)


def _read_tail(
    reader: FieldReader, flags: int, flag_bits: tuple[int, int, int]
) -> tuple[tuple[str, ...] | None, tuple[str, ...] | None, Number | None]:
    """The fields both PLX measurements end with (status, device status, PAI), each present
    when its flag (in each measurement's own bits) is set; the twin of _status_tail."""
    status_flag, device_flag, pai_flag = flag_bits
    status = _read_status(reader) if flags & status_flag else None
    device_status = _read_device_status(reader) if flags & device_flag else None
    pai = _read_pai(reader) if flags & pai_flag else None
    return status, device_status, pai


def parse_plx_spot_check(data: RawBytes) -> PlxSpotCheckMeasurement:
    """Parse a 0x2A5E value. Raises ParseError (only) when it is malformed."""
    reader = FieldReader(data, PLX_SPOT_CHECK, min_length=_MIN_LENGTH)
    flags = reader.uint(1, "flags", "flags")
    spo2 = reader.sfloat("spo2", "SpO2 (SFLOAT)")
    pulse_rate = reader.sfloat("pulse_rate", "pulse rate (SFLOAT)")
    timestamp: datetime | None = None
    if flags & _SPOT_TIMESTAMP:
        timestamp = reader.date_time("timestamp", flagged=True)
    status, device_status, pai = _read_tail(
        reader, flags, (_SPOT_STATUS, _SPOT_DEVICE_STATUS, _SPOT_PAI)
    )
    return PlxSpotCheckMeasurement(
        spo2=spo2,
        pulse_rate=pulse_rate,
        timestamp=timestamp,
        measurement_status=status,
        device_and_sensor_status=device_status,
        pulse_amplitude_index=pai,
        device_clock_not_set=bool(flags & _SPOT_CLOCK_NOT_SET),
        trailing_bytes=reader.remaining,
    )


def parse_plx_continuous(data: RawBytes) -> PlxContinuousMeasurement:
    """Parse a 0x2A5F value. Raises ParseError (only) when it is malformed."""
    reader = FieldReader(data, PLX_CONTINUOUS, min_length=_MIN_LENGTH)
    flags = reader.uint(1, "flags", "flags")
    spo2 = reader.sfloat("spo2", "SpO2 (SFLOAT)")
    pulse_rate = reader.sfloat("pulse_rate", "pulse rate (SFLOAT)")
    spo2_fast: Number | None = None
    pulse_rate_fast: Number | None = None
    spo2_slow: Number | None = None
    pulse_rate_slow: Number | None = None
    if flags & _CONT_FAST:
        spo2_fast = reader.sfloat("spo2_fast", "SpO2PR-Fast SpO2 (2 bytes)", flagged=True)
        pulse_rate_fast = reader.sfloat(
            "pulse_rate_fast", "SpO2PR-Fast pulse rate (2 bytes)", flagged=True
        )
    if flags & _CONT_SLOW:
        spo2_slow = reader.sfloat("spo2_slow", "SpO2PR-Slow SpO2 (2 bytes)", flagged=True)
        pulse_rate_slow = reader.sfloat(
            "pulse_rate_slow", "SpO2PR-Slow pulse rate (2 bytes)", flagged=True
        )
    status, device_status, pai = _read_tail(
        reader, flags, (_CONT_STATUS, _CONT_DEVICE_STATUS, _CONT_PAI)
    )
    return PlxContinuousMeasurement(
        spo2=spo2,
        pulse_rate=pulse_rate,
        spo2_fast=spo2_fast,
        pulse_rate_fast=pulse_rate_fast,
        spo2_slow=spo2_slow,
        pulse_rate_slow=pulse_rate_slow,
        measurement_status=status,
        device_and_sensor_status=device_status,
        pulse_amplitude_index=pai,
        trailing_bytes=reader.remaining,
    )


def _take_supported(reader: FieldReader, supported: int, size: int, field: str, what: str) -> int:
    """Read a field that a Supported Features bit promised (not a flags byte, so own message)."""
    start, length = reader.pos, len(reader.data)
    if start + size > length:
        raise ParseError(
            PLX_FEATURES,
            field,
            f"supported features 0x{supported:04x} promise {what} at byte {start} "
            f"but the value is only {length} bytes long",
            reader.data,
        )
    return reader.uint(size, field, what)


def parse_plx_features(data: RawBytes) -> PlxFeatures:
    """Parse a 0x2A60 value. Raises ParseError (only) when it is malformed."""
    reader = FieldReader(data, PLX_FEATURES, min_length=2, first_field="features")
    supported = reader.uint(2, "features", "the supported features (uint16)")
    status_support: tuple[str, ...] | None = None
    device_status_support: tuple[str, ...] | None = None
    if supported & _FEATURE_STATUS_SUPPORT:
        raw = _take_supported(
            reader,
            supported,
            _STATUS_SIZE,
            "measurement_status_support",
            "a measurement status support field (2 bytes)",
        )
        status_support = decode_measurement_status(raw)
    if supported & _FEATURE_DEVICE_STATUS_SUPPORT:
        raw = _take_supported(
            reader,
            supported,
            _DEVICE_STATUS_SIZE,
            "device_and_sensor_status_support",
            "a device and sensor status support field (3 bytes)",
        )
        device_status_support = decode_device_and_sensor_status(raw)
    return PlxFeatures(
        features=names_from_bits(supported, FEATURE_NAMES),
        measurement_status_support=status_support,
        device_and_sensor_status_support=device_status_support,
        trailing_bytes=reader.remaining,
    )


def _status_bytes(names: Iterable[str]) -> bytes:
    return encode_measurement_status(names).to_bytes(_STATUS_SIZE, "little")


def _device_status_bytes(names: Iterable[str]) -> bytes:
    return encode_device_and_sensor_status(names).to_bytes(_DEVICE_STATUS_SIZE, "little")


def _status_tail(
    flag_bits: tuple[int, int, int],
    measurement_status: Iterable[str] | None,
    device_and_sensor_status: Iterable[str] | None,
    pulse_amplitude_index: Number | None,
    pulse_amplitude_index_exponent: int,
) -> tuple[int, bytes]:
    """The fields both PLX measurements end with, and the flags (in each one's own bits)."""
    status_flag, device_flag, pai_flag = flag_bits
    flags, body = 0, b""
    if measurement_status is not None:
        flags |= status_flag
        body += _status_bytes(measurement_status)
    if device_and_sensor_status is not None:
        flags |= device_flag
        body += _device_status_bytes(device_and_sensor_status)
    if pulse_amplitude_index is not None:
        flags |= pai_flag
        body += encode_sfloat(pulse_amplitude_index, pulse_amplitude_index_exponent)
    return flags, body


def build_plx_spot_check(
    spo2: Number,
    pulse_rate: Number,
    *,
    spo2_exponent: int = 0,
    pulse_rate_exponent: int = 0,
    timestamp: datetime | None = None,
    timestamp_unknown: bool = False,
    device_clock_not_set: bool = False,
    measurement_status: Iterable[str] | None = None,
    device_and_sensor_status: Iterable[str] | None = None,
    pulse_amplitude_index: Number | None = None,
    pulse_amplitude_index_exponent: int = -1,
) -> bytes:
    """Encode a 0x2A5E value; flags follow from which optional fields are given.

    Each SFLOAT is sent at its ``*_exponent`` (e.g. -1 for 0.1 resolution). ``timestamp_unknown``
    sends an all-zero Date Time. ``device_clock_not_set`` only sets flag bit 4. Raises ValueError
    for values that cannot be encoded.
    """
    if timestamp is not None and timestamp_unknown:
        raise ValueError("give either timestamp or timestamp_unknown=True, not both")
    flags = _SPOT_CLOCK_NOT_SET if device_clock_not_set else 0
    body = encode_sfloat(spo2, spo2_exponent) + encode_sfloat(pulse_rate, pulse_rate_exponent)
    if timestamp is not None or timestamp_unknown:
        flags |= _SPOT_TIMESTAMP
        body += encode_date_time(timestamp)
    tail_flags, tail = _status_tail(
        (_SPOT_STATUS, _SPOT_DEVICE_STATUS, _SPOT_PAI),
        measurement_status,
        device_and_sensor_status,
        pulse_amplitude_index,
        pulse_amplitude_index_exponent,
    )
    return bytes((flags | tail_flags,)) + body + tail


def build_plx_continuous(
    spo2: Number,
    pulse_rate: Number,
    *,
    spo2_exponent: int = 0,
    pulse_rate_exponent: int = 0,
    spo2_fast: Number | None = None,
    pulse_rate_fast: Number | None = None,
    spo2_slow: Number | None = None,
    pulse_rate_slow: Number | None = None,
    measurement_status: Iterable[str] | None = None,
    device_and_sensor_status: Iterable[str] | None = None,
    pulse_amplitude_index: Number | None = None,
    pulse_amplitude_index_exponent: int = -1,
) -> bytes:
    """Encode a 0x2A5F value; flags follow from which optional fields are given.

    The fast and slow SpO2/pulse-rate pairs use ``spo2_exponent`` / ``pulse_rate_exponent`` like
    the normal pair, and must be given together (the GSS sends them as one field). Raises
    ValueError for values that cannot be encoded.
    """
    flags = 0
    body = encode_sfloat(spo2, spo2_exponent) + encode_sfloat(pulse_rate, pulse_rate_exponent)
    for flag, label, pair in (
        (_CONT_FAST, "fast", (spo2_fast, pulse_rate_fast)),
        (_CONT_SLOW, "slow", (spo2_slow, pulse_rate_slow)),
    ):
        pair_spo2, pair_pulse_rate = pair
        if pair_spo2 is None and pair_pulse_rate is None:
            continue
        if pair_spo2 is None or pair_pulse_rate is None:
            raise ValueError(f"give both spo2_{label} and pulse_rate_{label}, or neither")
        flags |= flag
        body += encode_sfloat(pair_spo2, spo2_exponent)
        body += encode_sfloat(pair_pulse_rate, pulse_rate_exponent)
    tail_flags, tail = _status_tail(
        (_CONT_STATUS, _CONT_DEVICE_STATUS, _CONT_PAI),
        measurement_status,
        device_and_sensor_status,
        pulse_amplitude_index,
        pulse_amplitude_index_exponent,
    )
    return bytes((flags | tail_flags,)) + body + tail


def build_plx_features(
    features: Iterable[str] = (),
    *,
    measurement_status_support: Iterable[str] | None = None,
    device_and_sensor_status_support: Iterable[str] | None = None,
) -> bytes:
    """Encode a 0x2A60 value from feature names (see FEATURE_NAMES).

    Feature bits 0 and 1 follow from whether ``measurement_status_support`` /
    ``device_and_sensor_status_support`` are given; naming them in ``features`` without the
    matching support list raises ValueError, as does any unknown name.
    """
    names = list(features)
    supported = bits_from_names(names, FEATURE_NAMES, "PLX feature")
    body = b""
    for bit, argument in (
        (_FEATURE_STATUS_SUPPORT, measurement_status_support),
        (_FEATURE_DEVICE_STATUS_SUPPORT, device_and_sensor_status_support),
    ):
        if argument is None and supported & bit:
            name = FEATURE_NAMES[bit.bit_length() - 1]
            raise ValueError(f"feature {name!r} needs the {name} argument")
    if measurement_status_support is not None:
        supported |= _FEATURE_STATUS_SUPPORT
        body += _status_bytes(measurement_status_support)
    if device_and_sensor_status_support is not None:
        supported |= _FEATURE_DEVICE_STATUS_SUPPORT
        body += _device_status_bytes(device_and_sensor_status_support)
    return supported.to_bytes(2, "little") + body


PARSERS: dict[int, tuple[str, Callable[[RawBytes], Any]]] = {
    0x2A5E: (PLX_SPOT_CHECK, parse_plx_spot_check),
    0x2A5F: (PLX_CONTINUOUS, parse_plx_continuous),
    0x2A60: (PLX_FEATURES, parse_plx_features),
}
