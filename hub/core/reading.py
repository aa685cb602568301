"""A reading as the hub keeps it: what came in (NewReading), and what the store holds
(StoredReading); the devices a technician paired. Plain data; the store and the wire are built
from these.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

URGENT, ROUTINE = 0, 1  # outbox lanes: urgent items (outside the care plan's limits) go first


@dataclass(frozen=True)
class NewReading:
    kind: str
    characteristic: str
    device_address: str
    device_time: str | None
    received_at: str
    raw_hex: str
    values: dict[str, Any]
    measured_at: str | None = None  # None: the receive time is all the hub knows
    time_source: str = "hub_received"
    clock_correction_s: float | None = None
    hub_clock_synced: bool = False
    outcome: str = "ok"
    problems: tuple[str, ...] = ()
    record_key: str | None = None  # None: the device gives nothing to recognise a re-send by
    hub_clock_offset_s: float | None = None  # centre clock minus hub clock, from the last ack
    priority: int = ROUTINE

    def stored(self, seq: int, stored_at: str) -> StoredReading:
        return StoredReading(
            seq=seq,
            kind=self.kind,
            characteristic=self.characteristic,
            device_address=self.device_address,
            device_time=self.device_time,
            received_at=self.received_at,
            raw_hex=self.raw_hex,
            values=self.values,
            stored_at=stored_at,
            synced_at=None,
            measured_at=self.measured_at or self.received_at,
            time_source=self.time_source,
            clock_correction_s=self.clock_correction_s,
            hub_clock_synced=self.hub_clock_synced,
            outcome=self.outcome,
            problems=self.problems,
            hub_clock_offset_s=self.hub_clock_offset_s,
        )


@dataclass(frozen=True)
class StoredReading:
    seq: int
    kind: str
    characteristic: str
    device_address: str
    device_time: str | None
    received_at: str
    raw_hex: str
    values: dict[str, Any]
    stored_at: str
    synced_at: str | None
    measured_at: str
    time_source: str
    clock_correction_s: float | None
    hub_clock_synced: bool
    outcome: str
    problems: tuple[str, ...]
    hub_clock_offset_s: float | None

    def to_json(self) -> dict[str, Any]:
        return {
            "seq": self.seq,
            "kind": self.kind,
            "characteristic": self.characteristic,
            "device_address": self.device_address,
            "device_time": self.device_time,
            "measured_at": self.measured_at,
            "time_source": self.time_source,
            "clock_correction_s": self.clock_correction_s,
            "hub_clock_synced": self.hub_clock_synced,
            "hub_clock_offset_s": self.hub_clock_offset_s,
            "received_at": self.received_at,
            "outcome": self.outcome,
            "problems": list(self.problems),
            "raw_hex": self.raw_hex,
            "values": self.values,
            "stored_at": self.stored_at,
            "synced": self.synced_at is not None,
            "synced_at": self.synced_at,
        }

    def to_wire(self) -> dict[str, Any]:
        """What the centre receives for this reading (sync state is the hub's own business)."""
        wire = self.to_json()
        del wire["stored_at"], wire["synced"], wire["synced_at"]
        return wire


@dataclass(frozen=True)
class KnownDevice:
    """A device a technician paired with this hub; the hub takes readings from no other."""

    address: str
    profile: str
    name: str | None
    paired_at: str
    bonded: bool
    last_connected_at: str | None = None
    clock_set_at: str | None = None
    battery_level: int | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "address": self.address,
            "profile": self.profile,
            "name": self.name,
            "paired_at": self.paired_at,
            "bonded": self.bonded,
            "last_connected_at": self.last_connected_at,
            "clock_set_at": self.clock_set_at,
            "battery_level": self.battery_level,
        }


def now_utc() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")
