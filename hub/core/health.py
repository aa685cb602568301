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

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError, model_validator

from hub.core.canonical import canonical_json
from hub.core.problems import first_problem
from hub.core.reading import ROUTINE, KnownDevice, NewReading
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
_EARLIEST = datetime(1900, 1, 1, tzinfo=UTC)
_LATEST = datetime(2200, 12, 31, tzinfo=UTC)


def _an_instant(text: str) -> str:
    """The pattern lets through what is no time (month 13, year 0); the centre stores these as
    time stamps, so each must be a real instant in the years 1900-2200 (as batch stamps are)."""
    try:
        moment = datetime.fromisoformat(text).astimezone(UTC)
    except (ValueError, OverflowError):
        raise ValueError("not a date and time") from None
    if not _EARLIEST <= moment <= _LATEST:
        raise ValueError("not in the years 1900-2200")
    return text


Stamp = Annotated[str, Field(pattern=_STAMP), AfterValidator(_an_instant)]
_ADDRESS = r"^[0-9A-Fa-f]{2}(:[0-9A-Fa-f]{2}){5}$"
# Text the technician's page shows as it came: no control characters (PostgreSQL refuses NUL).
_TEXT = r"^[^\x00-\x1f\x7f]*$"
_GiB = 1 << 30
_MOST_UPTIME_S = 100 * 365 * 86400
_MOST_BYTES = 1 << 50
_MOST_PENDING = 1 << 40
_MOST_OFFSET_S = 1e9


class HealthUnreadable(HubError, ValueError):
    """A health report the centre will not take as the hub's health (it keeps the item), and
    why."""


class _Strict(BaseModel):
    model_config = ConfigDict(frozen=True, strict=True, extra="forbid")


class DeviceHealth(_Strict):
    """One paired device as the hub last knew it."""

    address: Annotated[str, Field(pattern=_ADDRESS)]
    profile: Annotated[str, Field(min_length=1, max_length=40, pattern=_TEXT)]
    name: Annotated[str, Field(max_length=64, pattern=_TEXT)] | None = None
    battery_level: Annotated[int, Field(ge=0, le=100)] | None = None
    last_connected_at: Stamp | None = None
    clock_set_at: Stamp | None = None


class HubHealth(_Strict):
    """A hub's health report: the item's `values`, exactly these fields."""

    software_version: Annotated[str, Field(min_length=1, max_length=40, pattern=_TEXT)]
    # How long the daemon (`hub run`) has been running, not the machine: a restart by systemd
    # (a crash, an update) shows as a small uptime.
    uptime_s: Annotated[int, Field(ge=0, le=_MOST_UPTIME_S)]
    # The filesystem of the hub's state folder (the store and its outbox).
    disk_free_bytes: Annotated[int, Field(ge=0, le=_MOST_BYTES)]
    disk_total_bytes: Annotated[int, Field(ge=0, le=_MOST_BYTES)]
    clock_synced: bool
    # Centre clock minus hub clock from the last acknowledgement; None before the first.
    clock_offset_s: (
        Annotated[float, Field(allow_inf_nan=False, ge=-_MOST_OFFSET_S, le=_MOST_OFFSET_S)] | None
    ) = None
    outbox_pending: Annotated[int, Field(ge=0, le=_MOST_PENDING)]
    outbox_alarm: Literal["near_full", "over_budget"] | None = None
    devices: Annotated[list[DeviceHealth], Field(max_length=MOST_DEVICES)] = []

    @model_validator(mode="after")
    def _consistent(self) -> HubHealth:
        if self.disk_free_bytes > self.disk_total_bytes:
            raise ValueError("disk_free_bytes is more than disk_total_bytes")
        # The centre keeps one row per device of a hub: an address twice is no report.
        seen: set[str] = set()
        for device in self.devices:
            if device.address.upper() in seen:
                raise ValueError(f"device {device.address} is named twice")
            seen.add(device.address.upper())
        return self

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
        hub_clock_synced=health.clock_synced,
        hub_clock_offset_s=health.clock_offset_s,
        record_key=f"{KIND}|{at}",
        priority=ROUTINE,
    )


def read_health(values: object) -> HubHealth:
    """A stored item's `values` as a health report, or HealthUnreadable saying what is wrong
    (for the centre's log; the item itself is kept, as every item is)."""
    try:
        return HubHealth.model_validate(values)
    except ValidationError as exc:
        raise HealthUnreadable(f"hub health {first_problem(exc, 'the report')}") from None


@dataclass(frozen=True)
class HealthFacts:
    """What the daemon knows of itself at one moment, as gathered (hub/health_facts.py), before
    it is made a report. Anything may be odd here (a device name from BlueZ, a clock stamp kept
    by an older hub, a negative offset): `health_report` makes a report the centre takes."""

    software_version: str
    uptime_s: float  # of the daemon
    disk_free_bytes: int | None  # None: the state folder's filesystem could not be asked
    disk_total_bytes: int | None
    clock_synced: bool
    clock_offset_s: float | None
    outbox_pending: int
    outbox_alarm: str | None
    devices: Sequence[KnownDevice] = ()


_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def health_report(facts: HealthFacts) -> HubHealth:
    """The report for these facts, always one `read_health` takes: a fact the report cannot
    carry as it is (too long, out of range, not a time) is cut to fit or left out, never a
    reason to send nothing. The first MOST_DEVICES devices are named."""
    total = _bounded_int(facts.disk_total_bytes, _MOST_BYTES)
    free = min(_bounded_int(facts.disk_free_bytes, _MOST_BYTES), total)
    return HubHealth(
        software_version=_text(facts.software_version, 40) or "unknown",
        uptime_s=_bounded_int(facts.uptime_s, _MOST_UPTIME_S),
        disk_free_bytes=free,
        disk_total_bytes=total,
        clock_synced=bool(facts.clock_synced),
        clock_offset_s=_offset(facts.clock_offset_s),
        outbox_pending=_bounded_int(facts.outbox_pending, _MOST_PENDING),
        outbox_alarm=_alarm(facts.outbox_alarm),
        devices=_devices(facts.devices),
    )


def _devices(known: Sequence[KnownDevice]) -> list[DeviceHealth]:
    out: list[DeviceHealth] = []
    seen: set[str] = set()
    for device in known:
        address = device.address.upper()
        if re.fullmatch(_ADDRESS, address) is None or address in seen:
            continue  # not an address the centre takes, or named already
        seen.add(address)
        battery = device.battery_level
        if not isinstance(battery, int) or isinstance(battery, bool) or not 0 <= battery <= 100:
            battery = None
        out.append(
            DeviceHealth(
                address=address,
                profile=_text(device.profile, 40) or "unknown",
                name=_text(device.name, 64) or None,
                battery_level=battery,
                last_connected_at=_stamp_or_none(device.last_connected_at),
                clock_set_at=_stamp_or_none(device.clock_set_at),
            )
        )
        if len(out) == MOST_DEVICES:
            break
    return out


def _alarm(alarm: str | None) -> Literal["near_full", "over_budget"] | None:
    if alarm == "near_full":
        return "near_full"
    return "over_budget" if alarm == "over_budget" else None


def _text(text: str | None, most: int) -> str:
    """Text the centre takes: no control characters, no lone surrogates (the wire's strict
    reader would refuse the whole item), at most `most` characters."""
    if text is None:
        return ""
    valid = text.encode("utf-8", "replace").decode("utf-8")
    return _CONTROL.sub("", valid).strip()[:most]


def _bounded_int(value: float | None, most: int) -> int:
    if value is None or not math.isfinite(value):
        return 0
    return max(0, min(int(value), most))


def _offset(value: float | None) -> float | None:
    if value is None or not math.isfinite(value) or abs(value) > _MOST_OFFSET_S:
        return None
    return float(value)


def _stamp_or_none(text: str | None) -> str | None:
    if text is None or re.fullmatch(_STAMP, text) is None:
        return None
    try:
        return _an_instant(text)
    except ValueError:
        return None


def report_due(newest_is_pending: bool) -> bool:
    """Whether to commit a new report now: not while the newest one still waits for the
    centre. A hub that cannot deliver (offline, outbox over budget) then holds one report, not
    one more every HEALTH_EVERY; nor does a daemon restarting in a loop add one per start. The
    one waiting says how the hub was when it stopped delivering, which is what the technician
    needs; the next is made once it is acknowledged."""
    return not newest_is_pending
