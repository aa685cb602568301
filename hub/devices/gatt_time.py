"""Date Time (0x2A08): uint16 year, uint8 month, day, hours, minutes, seconds; little-endian.

Per the GATT Specification Supplement: year 1582-9999, month 1-12, day 1-31, hours 0-23,
minutes 0-59, seconds 0-59; year, month or day 0 means "not known"; every other value is
Reserved for Future Use, which we reject rather than guess at.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from hub.devices.errors import ParseError, RawBytes

DATE_TIME = "Date Time (0x2A08)"
DATE_TIME_LENGTH = 7

# (name, lowest valid, highest valid); 0 is also allowed for year/month/day ("not known").
_RANGES = (
    ("year", 1582, 9999),
    ("month", 1, 12),
    ("day", 1, 31),
    ("hours", 0, 23),
    ("minutes", 0, 59),
    ("seconds", 0, 59),
)
_MAY_BE_UNKNOWN = frozenset({"year", "month", "day"})


def decode_date_time_at(
    data: bytes, offset: int, *, characteristic: str = DATE_TIME, field: str = ""
) -> datetime | None:
    """Decode the 7-byte Date Time at ``data[offset:]``; None when the date is not known.

    ``characteristic`` and ``field`` (e.g. "timestamp") label any ParseError, whose raw bytes are
    the whole ``data`` so the embedding characteristic value is logged, not just the 7 bytes.
    """
    chunk = data[offset : offset + DATE_TIME_LENGTH]
    prefix = f"{field}." if field else ""
    if len(chunk) != DATE_TIME_LENGTH:
        raise ParseError(
            characteristic,
            field or None,
            f"a Date Time needs {DATE_TIME_LENGTH} bytes at byte {offset} "
            f"but only {len(chunk)} are there",
            data,
        )
    parts = (int.from_bytes(chunk[0:2], "little"), *chunk[2:])
    for (name, low, high), value in zip(_RANGES, parts, strict=True):
        if low <= value <= high or (value == 0 and name in _MAY_BE_UNKNOWN):
            continue
        allowed = f"{low}-{high}" + (" or 0 (not known)" if name in _MAY_BE_UNKNOWN else "")
        raise ParseError(
            characteristic,
            prefix + name,
            f"{prefix}{name} is {value}, outside {allowed}; the device clock may be unset "
            "or corrupt",
            data,
        )
    year, month, day, hours, minutes, seconds = parts
    if 0 in (year, month, day):
        return None
    try:
        return datetime(year, month, day, hours, minutes, seconds)
    except ValueError:
        # Only day-of-month can still be wrong here, e.g. 30 February.
        raise ParseError(
            characteristic,
            prefix + "day",
            f"{prefix}day {day} does not exist in {year:04d}-{month:02d}",
            data,
        ) from None


def parse_date_time(data: RawBytes) -> datetime | None:
    """Parse a Date Time characteristic value (exactly 7 bytes), local time without zone."""
    data = bytes(data)
    if len(data) != DATE_TIME_LENGTH:
        raise ParseError(
            DATE_TIME, None, f"must be exactly {DATE_TIME_LENGTH} bytes, got {len(data)}", data
        )
    return decode_date_time_at(data, 0)


def encode_date_time(value: datetime | None) -> bytes:
    """Encode ``value`` as Date Time; None becomes all zeros ("date not known", time 00:00:00)."""
    if value is None:
        return bytes(DATE_TIME_LENGTH)
    if not 1582 <= value.year <= 9999:
        raise ValueError(f"Date Time year must be 1582-9999, got {value.year}")
    return value.year.to_bytes(2, "little") + bytes(
        (value.month, value.day, value.hour, value.minute, value.second)
    )


@dataclass(frozen=True, slots=True)
class DateTimeValue:
    """A Date Time (0x2A08) read as a characteristic of its own; None when the date is not known.

    The value must be exactly 7 bytes (parse_date_time), so there is no ``trailing_bytes``.
    """

    timestamp: datetime | None

    def to_json(self) -> dict[str, Any]:
        # Same form as fields.timestamp_json, which cannot be imported here: fields imports us.
        timestamp = None if self.timestamp is None else self.timestamp.isoformat(timespec="seconds")
        return {"type": "date_time", "timestamp": timestamp}


def parse_date_time_value(data: RawBytes) -> DateTimeValue:
    """parse_date_time wrapped in a to_json() value for decode(). Raises ParseError (only)."""
    return DateTimeValue(parse_date_time(data))


PARSERS: dict[int, tuple[str, Callable[[bytes], Any]]] = {
    0x2A08: (DATE_TIME, parse_date_time_value),
}
