"""Health Thermometer Service values: Temperature Measurement (0x2A1C), Temperature Type (0x2A1D)
and Intermediate Temperature (0x2A1E), laid out as in the Bluetooth GATT Specification Supplement.

0x2A1C / 0x2A1E layout (little-endian; 0x2A1E has the same format, the GSS only renames the
value "Intermediate Temperature" because it is sent for display while a measurement runs):
  byte 0      flags: bit0 unit (0 Celsius, 1 Fahrenheit), bit1 time stamp present,
              bit2 temperature type present; bits 3-7 RFU (ignored)
  bytes 1-4   temperature: IEEE-11073 32-bit FLOAT (not the 16-bit SFLOAT of blood pressure)
  then, in this order and only when flagged: time stamp (Date Time, 7), temperature type
  (uint8, same values as 0x2A1D).
Bytes after the last flagged field are accepted and counted in ``trailing_bytes``.

0x2A1D layout: one uint8 where the thermometer measures: 1 armpit, 2 body (general),
3 ear (usually ear lobe), 4 finger, 5 gastro-intestinal tract, 6 mouth, 7 rectum, 8 toe,
9 tympanum (ear drum); 0 and 10-255 are RFU and decode as "reserved", not as an error.
An empty value is a ParseError. Bytes after the first are accepted and counted in
``trailing_bytes`` like every other value here (Nordic's Android-BLE-Common-Library rejects
them instead): a device that pads the value still says where it measured.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal, TypeAlias

from hub.devices.errors import ParseError, RawBytes
from hub.devices.fields import FieldReader, JsonDict, timestamp_json
from hub.devices.gatt_time import encode_date_time
from hub.devices.ieee11073 import Number, encode_float, number_to_json

TEMPERATURE_MEASUREMENT = "Temperature Measurement (0x2A1C)"
TEMPERATURE_TYPE = "Temperature Type (0x2A1D)"
INTERMEDIATE_TEMPERATURE = "Intermediate Temperature (0x2A1E)"

TemperatureUnit: TypeAlias = Literal["C", "F"]

RESERVED = "reserved"
"""JSON name of a Temperature Type the GSS reserves (0 and 10-255)."""

# Index = code. Code 0 is RFU, so its slot holds no name.
TEMPERATURE_TYPE_NAMES: tuple[str | None, ...] = (
    None,
    "armpit",
    "body",
    "ear",
    "finger",
    "gastro_intestinal_tract",
    "mouth",
    "rectum",
    "toe",
    "tympanum",
)

_FLAG_FAHRENHEIT = 0x01
_FLAG_TIMESTAMP = 0x02
_FLAG_TEMPERATURE_TYPE = 0x04
_MIN_LENGTH = 5  # flags + FLOAT


def temperature_type_name(code: int) -> str:
    """The JSON name of a Temperature Type code; "reserved" for 0 and 10-255."""
    if 0 <= code < len(TEMPERATURE_TYPE_NAMES):
        name = TEMPERATURE_TYPE_NAMES[code]
        if name is not None:
            return name
    return RESERVED


def temperature_type_code(temperature_type: str | int) -> int:
    """The uint8 for a Temperature Type name, or an int code passed through after a range check.

    An int lets emulators send RFU codes on purpose; the name "reserved" is refused because it
    does not say which reserved code to send.
    """
    if isinstance(temperature_type, bool):
        raise ValueError(f"temperature type must be a name or 0-255, got {temperature_type!r}")
    if isinstance(temperature_type, int):
        if not 0 <= temperature_type <= 0xFF:
            raise ValueError(f"temperature type code must be 0-255, got {temperature_type}")
        return temperature_type
    if temperature_type in TEMPERATURE_TYPE_NAMES:
        return TEMPERATURE_TYPE_NAMES.index(temperature_type)
    raise ValueError(
        f"unknown temperature type {temperature_type!r}; use one of "
        f"{[n for n in TEMPERATURE_TYPE_NAMES if n]} or a code 0-255"
    )


@dataclass(frozen=True, slots=True)
class TemperatureMeasurement:
    """A decoded 0x2A1C value, or 0x2A1E when ``intermediate`` is True.

    ``temperature`` is in ``unit``. ``timestamp`` is None both when the flag is absent and when
    the device sent a date it does not know (year/month/day 0). ``temperature_type_code`` is the
    raw uint8 (None when the flag is absent); ``temperature_type`` is its name.
    """

    temperature: Number
    unit: TemperatureUnit
    timestamp: datetime | None = None
    temperature_type_code: int | None = None
    intermediate: bool = False
    trailing_bytes: int = 0

    @property
    def temperature_type(self) -> str | None:
        code = self.temperature_type_code
        return None if code is None else temperature_type_name(code)

    def to_json(self) -> JsonDict:
        return {
            "type": "intermediate_temperature" if self.intermediate else "temperature_measurement",
            "temperature": number_to_json(self.temperature),
            "unit": self.unit,
            "timestamp": timestamp_json(self.timestamp),
            "temperature_type": self.temperature_type,
        }


@dataclass(frozen=True, slots=True)
class TemperatureType:
    """A decoded 0x2A1D value: where on the body the thermometer measures."""

    temperature_type_code: int
    trailing_bytes: int = 0

    @property
    def temperature_type(self) -> str:
        return temperature_type_name(self.temperature_type_code)

    def to_json(self) -> JsonDict:
        return {"type": "temperature_type", "temperature_type": self.temperature_type}


def _parse_measurement(
    data: RawBytes, characteristic: str, intermediate: bool
) -> TemperatureMeasurement:
    reader = FieldReader(data, characteristic, min_length=_MIN_LENGTH)
    flags = reader.uint(1, "flags", "flags")
    temperature = reader.float32("temperature", "a temperature (FLOAT, 4 bytes)")
    timestamp: datetime | None = None
    code: int | None = None
    if flags & _FLAG_TIMESTAMP:
        timestamp = reader.date_time("timestamp", flagged=True)
    if flags & _FLAG_TEMPERATURE_TYPE:
        code = reader.uint(1, "temperature_type", "a temperature type (1 byte)", flagged=True)
    return TemperatureMeasurement(
        temperature=temperature,
        unit="F" if flags & _FLAG_FAHRENHEIT else "C",
        timestamp=timestamp,
        temperature_type_code=code,
        intermediate=intermediate,
        trailing_bytes=reader.remaining,
    )


def parse_temperature_measurement(data: RawBytes) -> TemperatureMeasurement:
    """Parse a 0x2A1C value. Raises ParseError (only) when it is malformed."""
    return _parse_measurement(data, TEMPERATURE_MEASUREMENT, intermediate=False)


def parse_intermediate_temperature(data: RawBytes) -> TemperatureMeasurement:
    """Parse a 0x2A1E value (same layout as 0x2A1C). Raises ParseError (only) when malformed."""
    return _parse_measurement(data, INTERMEDIATE_TEMPERATURE, intermediate=True)


def parse_temperature_type(data: RawBytes) -> TemperatureType:
    """Parse a 0x2A1D value. Raises ParseError (only) when it is empty."""
    data = bytes(data)
    if not data:
        raise ParseError(
            TEMPERATURE_TYPE,
            "temperature_type",
            "the value is empty; the temperature type is 1 byte",
            data,
        )
    return TemperatureType(temperature_type_code=data[0], trailing_bytes=len(data) - 1)


def build_temperature_measurement(
    value: Number,
    unit: TemperatureUnit = "C",
    exponent: int = -2,
    timestamp: datetime | None = None,
    temperature_type: str | int | None = None,
    intermediate: bool = False,
    *,
    timestamp_unknown: bool = False,
) -> bytes:
    """Encode a 0x2A1C value (or 0x2A1E; the bytes are the same, ``intermediate`` only names
    which one the caller means); flags follow from which optional fields are given.

    ``value`` is a FLOAT at ``exponent`` (-2: 0.01 degree resolution). ``temperature_type`` is
    a name from TEMPERATURE_TYPE_NAMES or a raw code 0-255. ``timestamp_unknown=True`` sends an
    all-zero Date Time, as a thermometer whose clock was never set does. Raises ValueError for
    input that cannot be encoded.
    """
    if unit not in ("C", "F"):
        raise ValueError(f"unit must be 'C' or 'F', got {unit!r}")
    if timestamp is not None and timestamp_unknown:
        raise ValueError("give either timestamp or timestamp_unknown=True, not both")
    flags = _FLAG_FAHRENHEIT if unit == "F" else 0
    body = encode_float(value, exponent)
    if timestamp is not None or timestamp_unknown:
        flags |= _FLAG_TIMESTAMP
        body += encode_date_time(timestamp)
    if temperature_type is not None:
        flags |= _FLAG_TEMPERATURE_TYPE
        body += bytes((temperature_type_code(temperature_type),))
    return bytes((flags,)) + body


def build_temperature_type(temperature_type: str | int) -> bytes:
    """Encode a 0x2A1D value from a name (see TEMPERATURE_TYPE_NAMES) or a raw code 0-255."""
    return bytes((temperature_type_code(temperature_type),))


PARSERS: dict[int, tuple[str, Callable[[RawBytes], Any]]] = {
    0x2A1C: (TEMPERATURE_MEASUREMENT, parse_temperature_measurement),
    0x2A1D: (TEMPERATURE_TYPE, parse_temperature_type),
    0x2A1E: (INTERMEDIATE_TEMPERATURE, parse_intermediate_temperature),
}
