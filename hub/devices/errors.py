"""The one exception the device parsers raise."""

from __future__ import annotations

from typing import TypeAlias

from hub.errors import HubError

RawBytes: TypeAlias = bytes | bytearray | memoryview
"""What the parsers accept: bleak hands notifications over as bytearray."""


class ParseError(HubError, ValueError):
    """A characteristic value that cannot be decoded.

    ``characteristic`` names what was being parsed (e.g. "Blood Pressure Measurement (0x2A35)"),
    ``field`` the field at fault (None when the whole value is at fault) and ``raw`` the complete
    value as received, so a log line alone is enough to reproduce the failure.
    """

    def __init__(
        self, characteristic: str, field: str | None, message: str, raw: RawBytes = b""
    ) -> None:
        # All four go into args so the exception pickles and reconstructs (multiprocessing, logs).
        super().__init__(characteristic, field, message, bytes(raw))
        self.characteristic = characteristic
        self.field = field
        self.message = message
        self.raw = bytes(raw)

    def __str__(self) -> str:
        raw_hex = self.raw.hex() if self.raw else "<empty>"
        return f"{self.characteristic}: {self.message} (raw: {raw_hex})"
