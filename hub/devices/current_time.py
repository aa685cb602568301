"""Current Time Service value: Current Time (0x2A2B), as in the Bluetooth GATT Specification
Supplement. The hub reads it to learn a device's clock and writes it to set that clock.

Layout (10 bytes, little-endian):
  bytes 0-6   Date Time: uint16 year, uint8 month, day, hours, minutes, seconds
              (year/month/day 0 = not known; other out-of-range values are a ParseError)
  byte 7      Day of Week: 0 not known, 1 Monday .. 7 Sunday, 8-255 RFU
  byte 8      Fractions256: 1/256 s, 0-255
  byte 9      Adjust Reason bits: bit0 manual time update, bit1 external reference time update,
              bit2 change of time zone, bit3 change of DST; bits 4-7 RFU (ignored)
Bytes 0-8 together are "Exact Time 256" (bytes 0-7 "Day Date Time"). Bytes after byte 9 are
accepted and counted in ``trailing_bytes``.

Device clocks hold local wall-clock time with no zone, so ``encode_current_time`` takes a naive
datetime and refuses an aware one. The Day of Week is reported as sent; it is not checked
against the date.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from hub.devices.errors import RawBytes
from hub.devices.fields import (
    FieldReader,
    JsonDict,
    bits_from_names,
    names_from_bits,
    timestamp_json,
)
from hub.devices.gatt_time import encode_date_time

CURRENT_TIME = "Current Time (0x2A2B)"
CURRENT_TIME_LENGTH = 10

RESERVED = "reserved"
"""JSON form of a Day of Week the GSS reserves (8-255)."""

ADJUST_REASON_NAMES: tuple[str | None, ...] = (
    "manual_time_update",
    "external_reference_time_update",
    "change_of_time_zone",
    "change_of_dst",
)

DAY_OF_WEEK_UNKNOWN = 0
_MICROSECONDS = 1_000_000


def day_of_week_json(code: int) -> int | str | None:
    """1-7 (ISO: Monday is 1) as is, 0 ("not known") as None, 8-255 as "reserved"."""
    if code == DAY_OF_WEEK_UNKNOWN:
        return None
    return code if 1 <= code <= 7 else RESERVED


@dataclass(frozen=True, slots=True)
class CurrentTime:
    """A decoded 0x2A2B value.

    ``timestamp`` is whole seconds, None when the device does not know the date (year/month/day
    0); ``fractions256`` carries the sub-second part and ``exact_timestamp`` combines the two.
    ``day_of_week_code`` is the raw uint8; ``day_of_week`` is its JSON form.
    """

    timestamp: datetime | None
    day_of_week_code: int
    fractions256: int
    adjust_reason: tuple[str, ...] = ()
    trailing_bytes: int = 0

    @property
    def day_of_week(self) -> int | str | None:
        return day_of_week_json(self.day_of_week_code)

    @property
    def exact_timestamp(self) -> datetime | None:
        """``timestamp`` plus the fractions, rounded up to whole microseconds so that
        encode_current_time gives back the same fractions256."""
        if self.timestamp is None:
            return None
        microseconds = -(-self.fractions256 * _MICROSECONDS // 256)
        return self.timestamp.replace(microsecond=microseconds)

    def to_json(self) -> JsonDict:
        return {
            "type": "current_time",
            "timestamp": timestamp_json(self.timestamp),
            "day_of_week": self.day_of_week,
            "fractions256": self.fractions256,
            "adjust_reason": list(self.adjust_reason),
        }


def parse_current_time(data: RawBytes) -> CurrentTime:
    """Parse a 0x2A2B value. Raises ParseError (only) when it is malformed."""
    reader = FieldReader(
        data, CURRENT_TIME, min_length=CURRENT_TIME_LENGTH, first_field="timestamp"
    )
    timestamp = reader.date_time("timestamp", "a Date Time (7 bytes)")
    day_of_week = reader.uint(1, "day_of_week", "the day of week (1 byte)")
    fractions256 = reader.uint(1, "fractions256", "the fractions256 (1 byte)")
    adjust_reason = reader.uint(1, "adjust_reason", "the adjust reason (1 byte)")
    return CurrentTime(
        timestamp=timestamp,
        day_of_week_code=day_of_week,
        fractions256=fractions256,
        adjust_reason=names_from_bits(adjust_reason, ADJUST_REASON_NAMES),
        trailing_bytes=reader.remaining,
    )


def encode_current_time(dt: datetime, adjust_reason: Iterable[str] = ()) -> bytes:
    """Encode ``dt`` (naive local time) as a 0x2A2B value.

    The Day of Week is ``dt``'s ISO weekday and Fractions256 is ``dt.microsecond`` in 1/256 s,
    rounded down so the device clock is never set ahead of ``dt``. ``adjust_reason`` names come
    from ADJUST_REASON_NAMES. Raises ValueError for an aware datetime, a year outside 1582-9999
    or an unknown adjust reason.
    """
    if dt.tzinfo is not None:
        raise ValueError(
            f"dt must be naive local time (device clocks carry no zone), got {dt.isoformat()}"
        )
    reason = bits_from_names(adjust_reason, ADJUST_REASON_NAMES, "adjust reason")
    fractions256 = dt.microsecond * 256 // _MICROSECONDS
    return encode_date_time(dt) + bytes((dt.isoweekday(), fractions256, reason))


PARSERS: dict[int, tuple[str, Callable[[RawBytes], Any]]] = {
    0x2A2B: (CURRENT_TIME, parse_current_time),
}
