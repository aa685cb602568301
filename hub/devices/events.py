"""What a device session tells the daemon: values as sent, progress, connection start and end.
Plain data (the Bluetooth shell makes them, the functional core reads them)."""

from __future__ import annotations

from dataclasses import dataclass

from hub.core.timing import ClockCheck


@dataclass(frozen=True)
class DeviceValue:
    """One characteristic value exactly as a device sent it, with what the hub knew then."""

    device_address: str
    characteristic: str
    data: bytes
    received_at: str
    clock: ClockCheck
    hub_clock_synced: bool


@dataclass(frozen=True)
class SessionStarted:
    """A paired device is connected: the patient is measuring (or has just measured)."""

    device_address: str
    profile: str  # the profile's stable name, e.g. "blood_pressure"
    at: str


@dataclass(frozen=True)
class DeviceProgress:
    """A value a device sends while it measures (Intermediate Cuff Pressure): shown, not stored."""

    device_address: str
    characteristic: str
    data: bytes
    received_at: str


@dataclass(frozen=True)
class SessionEnded:
    """A connection is over: the daemon notes it against the known device."""

    device_address: str
    at: str
    clock_written: bool
    battery_level: int | None
