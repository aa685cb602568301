"""Shared pieces of the characteristic parsers: a flags-driven byte walker and JSON helpers.

Every health measurement in the GATT Specification Supplement has the same shape: a flags field,
mandatory fields, then optional fields in a fixed order, each present only when its flag bit is
set. ``FieldReader`` walks such a value and turns every shortfall into a ``ParseError`` naming
the field that is missing, so no IndexError or struct.error can escape a parser.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, TypeAlias

from hub.devices.errors import ParseError, RawBytes
from hub.devices.gatt_time import DATE_TIME_LENGTH, decode_date_time_at
from hub.devices.ieee11073 import Number, decode_float, decode_sfloat, number_to_json

JsonDict: TypeAlias = dict[str, Any]


class FieldReader:
    """Reads fields in order from one characteristic value.

    ``flagged=True`` marks an optional field whose flag bit promised it: the error then says the
    flags promised it. Mandatory fields name the minimum length instead.
    """

    def __init__(
        self, data: RawBytes, characteristic: str, *, min_length: int, first_field: str = "flags"
    ) -> None:
        self.data = bytes(data)
        self.characteristic = characteristic
        self.min_length = min_length
        self.pos = 0
        if not self.data:
            raise ParseError(
                characteristic,
                first_field,
                f"the value is empty; at least {min_length} bytes are required",
                self.data,
            )

    @property
    def remaining(self) -> int:
        return len(self.data) - self.pos

    def take(self, size: int, field: str, what: str, *, flagged: bool = False) -> bytes:
        start, end, length = self.pos, self.pos + size, len(self.data)
        if end > length:
            if flagged:
                message = (
                    f"flags 0x{self.data[0]:02x} promise {what} at byte {start} "
                    f"but the value is only {length} bytes long"
                )
            else:
                message = (
                    f"{what} needs bytes {start}-{end - 1} but the value is only {length} "
                    f"bytes long (at least {self.min_length} are required)"
                )
            raise ParseError(self.characteristic, field, message, self.data)
        self.pos = end
        return self.data[start:end]

    def uint(self, size: int, field: str, what: str, *, flagged: bool = False) -> int:
        return int.from_bytes(self.take(size, field, what, flagged=flagged), "little")

    def sint(self, size: int, field: str, what: str, *, flagged: bool = False) -> int:
        raw = self.take(size, field, what, flagged=flagged)
        return int.from_bytes(raw, "little", signed=True)

    def sfloat(self, field: str, what: str, *, flagged: bool = False) -> Number:
        return decode_sfloat(self.take(2, field, what, flagged=flagged))

    def float32(self, field: str, what: str, *, flagged: bool = False) -> Number:
        return decode_float(self.take(4, field, what, flagged=flagged))

    def date_time(
        self, field: str, what: str = "a time stamp (7 bytes)", *, flagged: bool = False
    ) -> datetime | None:
        """A 7-byte Date Time; None when the device sent year, month or day 0 ("not known")."""
        at = self.pos
        self.take(DATE_TIME_LENGTH, field, what, flagged=flagged)
        return decode_date_time_at(self.data, at, characteristic=self.characteristic, field=field)


def feature_bits(data: RawBytes, characteristic: str, size: int) -> tuple[int, int]:
    """A Feature characteristic's bit field of ``size`` bytes: (bits, trailing byte count)."""
    data = bytes(data)
    if len(data) < size:
        raise ParseError(
            characteristic,
            "features",
            f"the feature bit field needs {size} bytes but the value is only {len(data)} bytes "
            "long",
            data,
        )
    return int.from_bytes(data[:size], "little"), len(data) - size


def timestamp_json(value: datetime | None) -> str | None:
    """ISO-8601 without zone (device clocks carry none), or None."""
    return value.isoformat(timespec="seconds") if value is not None else None


def optional_number_json(value: Number | None) -> float | str | None:
    return None if value is None else number_to_json(value)


def names_from_bits(bits: int, names: tuple[str | None, ...]) -> tuple[str, ...]:
    """Names of the set bits, bit 0 first; None entries (RFU bits) are skipped."""
    return tuple(name for bit, name in enumerate(names) if name is not None and bits >> bit & 1)


def bits_from_names(chosen: Any, names: tuple[str | None, ...], what: str) -> int:
    """Inverse of names_from_bits; raises ValueError naming ``what`` for an unknown name."""
    bits = 0
    for name in chosen:
        if name is None or name not in names:
            raise ValueError(f"unknown {what} {name!r}")
        bits |= 1 << names.index(name)
    return bits
