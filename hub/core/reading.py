"""A reading as the hub keeps it: what came in (NewReading), and what the store holds
(StoredReading); the devices a technician paired. Plain data.

`READING_FIELDS` is the one description of a reading's fields: the hub store's columns, the item
the centre receives (`WIRE_FIELDS`, checked by hub/wire/batch.py's WireItem) and the centre's
columns are all derived from it, so a field is added in one place.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

URGENT, ROUTINE = 0, 1  # outbox lanes: urgent items (outside the care plan's limits) go first


@dataclass(frozen=True)
class ReadingField:
    """One field of a reading: how SQLite keeps it (hub and centre alike), and whether it is
    sent to the centre or is the hub's own bookkeeping."""

    name: str
    storage: Literal["plain", "flag", "json", "json_list"] = "plain"
    on_wire: bool = True

    @property
    def column(self) -> str:
        return f"{self.name}_json" if self.storage in ("json", "json_list") else self.name

    def to_column(self, value: Any) -> Any:
        if self.storage == "flag":
            return int(bool(value))
        if self.storage in ("json", "json_list"):
            return json.dumps(list(value) if self.storage == "json_list" else value)
        return value

    def from_column(self, raw: Any) -> Any:
        if self.storage == "flag":
            return bool(raw)
        if self.storage == "json":
            return json.loads(raw)
        if self.storage == "json_list":
            return tuple(json.loads(raw))
        return raw

    def to_json(self, value: Any) -> Any:
        return list(value) if self.storage == "json_list" else value


READING_FIELDS: tuple[ReadingField, ...] = (
    ReadingField("seq"),
    ReadingField("kind"),
    ReadingField("characteristic"),
    ReadingField("device_address"),
    ReadingField("device_time"),
    ReadingField("measured_at"),
    ReadingField("time_source"),
    ReadingField("clock_correction_s"),
    ReadingField("hub_clock_synced", "flag"),
    ReadingField("hub_clock_offset_s"),
    ReadingField("received_at"),
    ReadingField("outcome"),
    ReadingField("problems", "json_list"),
    ReadingField("raw_hex"),
    ReadingField("values", "json"),
    ReadingField("stored_at", on_wire=False),  # when this hub committed it
    ReadingField("synced_at", on_wire=False),  # when the centre acknowledged it
)
WIRE_FIELDS: tuple[ReadingField, ...] = tuple(f for f in READING_FIELDS if f.on_wire)
READING_COLUMNS: tuple[str, ...] = tuple(f.column for f in READING_FIELDS)


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

    @classmethod
    def from_columns(cls, row: tuple[Any, ...] | list[Any]) -> StoredReading:
        """A row selected as READING_COLUMNS, in that order."""
        return cls(
            **{f.name: f.from_column(raw) for f, raw in zip(READING_FIELDS, row, strict=True)}
        )

    def to_columns(self) -> list[Any]:
        """This reading as the values of READING_COLUMNS, in that order."""
        return [f.to_column(getattr(self, f.name)) for f in READING_FIELDS]

    def to_json(self) -> dict[str, Any]:
        fields = {f.name: f.to_json(getattr(self, f.name)) for f in READING_FIELDS}
        return {**fields, "synced": self.synced_at is not None}

    def to_wire(self) -> dict[str, Any]:
        """What the centre receives for this reading (sync state is the hub's own business)."""
        return {f.name: f.to_json(getattr(self, f.name)) for f in WIRE_FIELDS}


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
