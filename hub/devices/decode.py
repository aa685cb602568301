"""Dispatch a raw characteristic value to its parser by UUID and return JSON-ready data."""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from typing import Protocol

from hub.devices import (
    battery,
    body_composition,
    current_time,
    gatt_time,
    glucose,
    pulse_oximeter,
    racp,
    thermometer,
    weight,
)
from hub.devices.blood_pressure import (
    BLOOD_PRESSURE_FEATURE,
    BLOOD_PRESSURE_MEASUREMENT,
    INTERMEDIATE_CUFF_PRESSURE,
    parse_blood_pressure_feature,
    parse_blood_pressure_measurement,
    parse_intermediate_cuff_pressure,
)
from hub.devices.errors import ParseError, RawBytes
from hub.devices.fields import JsonDict

# Bluetooth Base UUID 0000xxxx-0000-1000-8000-00805F9B34FB: 16-bit UUIDs live in bits 96-111.
_BASE_UUID = uuid.UUID("00000000-0000-1000-8000-00805f9b34fb").int
_SHORT_MASK = 0xFFFF << 96
_SHORT_FORM = re.compile(r"(?:0x)?([0-9a-f]{4})")


class _ToJson(Protocol):
    def to_json(self) -> JsonDict: ...


_PARSERS: dict[int, tuple[str, Callable[[bytes], _ToJson]]] = {
    0x2A35: (BLOOD_PRESSURE_MEASUREMENT, parse_blood_pressure_measurement),
    0x2A36: (INTERMEDIATE_CUFF_PRESSURE, parse_intermediate_cuff_pressure),
    0x2A49: (BLOOD_PRESSURE_FEATURE, parse_blood_pressure_feature),
    **pulse_oximeter.PARSERS,
    **weight.PARSERS,
    **body_composition.PARSERS,
    **thermometer.PARSERS,
    **glucose.PARSERS,
    **racp.PARSERS,
    **current_time.PARSERS,
    **gatt_time.PARSERS,
    **battery.PARSERS,
}


def supported_uuids() -> list[str]:
    """Human-readable list of what decode() understands, e.g. "Blood Pressure ... (0x2A35)"."""
    return [name for name, _ in _PARSERS.values()]


def short_uuid(characteristic_uuid: str) -> int | None:
    """The 16-bit UUID in "2a35", "0x2A35" or "00002a35-0000-1000-8000-00805f9b34fb"; else None."""
    # str() so a uuid.UUID (or bleak's characteristic.uuid) works too.
    text = str(characteristic_uuid).strip().lower()
    if match := _SHORT_FORM.fullmatch(text):
        return int(match.group(1), 16)
    try:
        full = uuid.UUID(text).int
    except ValueError:
        return None
    if full & ~_SHORT_MASK != _BASE_UUID:
        return None  # a vendor-specific 128-bit UUID, not a SIG-assigned one
    return (full & _SHORT_MASK) >> 96


def decode(characteristic_uuid: str, data: RawBytes) -> JsonDict:
    """Parse ``data`` as the characteristic named by ``characteristic_uuid``; return to_json().

    Raises ParseError for an unsupported UUID or a malformed value, and nothing else.
    """
    data = bytes(data)
    short = short_uuid(characteristic_uuid)
    entry = _PARSERS.get(short) if short is not None else None
    if entry is None:
        raise ParseError(
            f"Characteristic {characteristic_uuid!r}",
            None,
            "no parser for this UUID; supported: " + ", ".join(supported_uuids()),
            data,
        )
    _, parser = entry
    return parser(data).to_json()
