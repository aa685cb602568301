"""BLE health device support: pure parsers for standard GATT characteristics."""

from hub.devices.decode import decode
from hub.devices.errors import ParseError

__all__ = ["ParseError", "decode"]
