"""Battery Service value: Battery Level (0x2A19), as in the Bluetooth GATT Specification
Supplement.

Layout: one uint8, the charge in percent: 0 fully discharged .. 100 fully charged. The GSS makes
101-255 Reserved for Future Use; a level outside 0-100 cannot be shown as a percentage, so it is a
ParseError rather than a guess. An empty value is a ParseError too. Bytes after the first are
accepted and counted in ``trailing_bytes`` (Nordic's Android-BLE-Common-Library rejects them).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from hub.devices.errors import ParseError, RawBytes
from hub.devices.fields import JsonDict

BATTERY_LEVEL = "Battery Level (0x2A19)"
MAX_BATTERY_LEVEL = 100


@dataclass(frozen=True, slots=True)
class BatteryLevel:
    """A decoded 0x2A19 value: the battery charge in percent, 0-100."""

    battery_level: int
    trailing_bytes: int = 0

    def to_json(self) -> JsonDict:
        return {"type": "battery_level", "battery_level": self.battery_level}


def parse_battery_level(data: RawBytes) -> BatteryLevel:
    """Parse a 0x2A19 value. Raises ParseError (only) when it is empty or above 100 %."""
    data = bytes(data)
    if not data:
        raise ParseError(
            BATTERY_LEVEL, "battery_level", "the value is empty; the battery level is 1 byte", data
        )
    level = data[0]
    if level > MAX_BATTERY_LEVEL:
        raise ParseError(
            BATTERY_LEVEL,
            "battery_level",
            f"battery level {level} is outside 0-100 % (101-255 are reserved for future use)",
            data,
        )
    return BatteryLevel(battery_level=level, trailing_bytes=len(data) - 1)


def encode_battery_level(level: int) -> bytes:
    """Encode a 0x2A19 value. Raises ValueError unless ``level`` is an int 0-100."""
    if isinstance(level, bool) or not isinstance(level, int):
        raise ValueError(f"battery level must be an int 0-100, got {level!r}")
    if not 0 <= level <= MAX_BATTERY_LEVEL:
        raise ValueError(f"battery level must be 0-100, got {level}")
    return bytes((level,))


PARSERS: dict[int, tuple[str, Callable[[RawBytes], Any]]] = {
    0x2A19: (BATTERY_LEVEL, parse_battery_level),
}
