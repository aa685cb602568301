"""The hub's health as the centre sees it (issue 15): the software, its uptime, the disk, the
clock, the outbox and each paired device's battery, last connection and clock.

A health report takes the readings' road: an outbox item of its own kind ("hub_health"),
committed with its sequence number, sealed, stored once by the centre, which keeps every report
(the history) and the latest of each hub (the technician's page). It is routine: it never goes
before a patient's urgent reading. The daemon makes one when it starts and then every
HEALTH_EVERY; nothing is sent in between, so a hub that stopped reporting shows its last report
with its age. Pure; no I/O.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from hub.core.canonical import canonical_json
from hub.core.reading import ROUTINE, NewReading
from hub.errors import HubError

KIND = "hub_health"
CHARACTERISTIC = "dho:hub-health"  # not a GATT characteristic: where it came from
SOURCE = "hub"
HEALTH_EVERY = timedelta(hours=6)
"""How often a running hub reports its health: four items a day, next to a patient's few."""

MOST_DEVICES = 16
"""The most devices one report names (a hub pairs a handful); the centre refuses more."""

BATTERY_LOW = 20
"""A device battery at or below this per cent is "battery low" on the technician's page: a
cuff's AA cells at 20 % last a week or two of daily readings."""

# An ISO 8601 time with its zone, as the hub writes them (now_utc); bounded for the centre.
_STAMP = r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,6})?(Z|[+-]\d\d:\d\d)$"
Stamp = Annotated[str, Field(pattern=_STAMP)]
_ADDRESS = r"^[0-9A-Fa-f]{2}(:[0-9A-Fa-f]{2}){5}$"
_GiB = 1 << 30


class HealthUnreadable(HubError, ValueError):
    """A health report the centre will not take as the hub's health (it keeps the item), and
    why."""


class _Strict(BaseModel):
    model_config = ConfigDict(frozen=True, strict=True, extra="forbid")


class DeviceHealth(_Strict):
    """One paired device as the hub last knew it."""

    address: Annotated[str, Field(pattern=_ADDRESS)]
    profile: Annotated[str, Field(min_length=1, max_length=40)]
    name: Annotated[str, Field(max_length=64)] | None = None
    battery_level: Annotated[int, Field(ge=0, le=100)] | None = None
    last_connected_at: Stamp | None = None
    clock_set_at: Stamp | None = None


class HubHealth(_Strict):
    """A hub's health report: the item's `values`, exactly these fields."""

    software_version: Annotated[str, Field(min_length=1, max_length=40)]
    uptime_s: Annotated[int, Field(ge=0, le=100 * 365 * 86400)]
    disk_free_bytes: Annotated[int, Field(ge=0, le=1 << 50)]
    disk_total_bytes: Annotated[int, Field(ge=0, le=1 << 50)]
    clock_synced: bool
    # Centre clock minus hub clock from the last acknowledgement; None before the first.
    clock_offset_s: Annotated[float, Field(allow_inf_nan=False, ge=-1e9, le=1e9)] | None = None
    outbox_pending: Annotated[int, Field(ge=0, le=1 << 40)]
    outbox_alarm: Literal["near_full", "over_budget"] | None = None
    devices: Annotated[list[DeviceHealth], Field(max_length=MOST_DEVICES)] = []

    @property
    def disk_free_gib(self) -> float:
        return self.disk_free_bytes / _GiB


def to_health_reading(health: HubHealth, at: str) -> NewReading:
    """The outbox item for `health`, taken at `at` (the hub's clock, with its zone). One per
    moment: the same report made twice at the same time is stored once (its record key)."""
    values = health.model_dump(mode="json")
    return NewReading(
        kind=KIND,
        characteristic=CHARACTERISTIC,
        device_address=SOURCE,
        device_time=None,
        received_at=at,
        raw_hex=canonical_json(values).hex(),
        values=values,
        measured_at=at,
        time_source="hub_received",
        record_key=f"{KIND}|{at}",
        priority=ROUTINE,
    )


def read_health(values: object) -> HubHealth:
    """A stored item's `values` as a health report, or HealthUnreadable saying what is wrong
    (for the centre's log; the item itself is kept, as every item is)."""
    try:
        return HubHealth.model_validate(values)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or "the report"
        raise HealthUnreadable(f"hub health {where}: {first['msg']}") from None
