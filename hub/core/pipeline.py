"""From a device value to the reading the hub stores: decode, assess, time, compare with the care
plan; and the small rules the daemon applies to what it holds. Pure: no I/O, logging only."""

from __future__ import annotations

import hashlib
import logging
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from hub.core.care_plan import CarePlan, outside_limits
from hub.core.outcome import assess
from hub.core.reading import ROUTINE, URGENT, NewReading
from hub.core.timing import resolve_time
from hub.devices.decode import decode, short_uuid
from hub.devices.errors import ParseError
from hub.devices.events import DeviceValue
from hub.devices.profiles import kind_of

log = logging.getLogger(__name__)


def outbox_alarm(outbox_bytes: int, budget_mb: float) -> str | None:
    """`near_full` from 80 % of the budget, `over_budget` past it; None below."""
    share = outbox_bytes / (budget_mb * 1024 * 1024)
    if share >= 1.0:
        return "over_budget"
    if share >= 0.8:
        return "near_full"
    return None


def record_key(value: DeviceValue, values: dict[str, Any]) -> str | None:
    """What identifies a record if the device sends it again: device, characteristic, the
    device's record number or time stamp, and the bytes. None when nothing identifies it."""
    number, stamp = values.get("sequence_number"), values.get("timestamp")
    if number is None and stamp is None:
        return None
    digest = hashlib.sha256(value.data).hexdigest()[:16]
    char = short_uuid(value.characteristic)
    return f"{value.device_address}|{char}|{number}|{stamp}|{digest}"


def to_reading(
    value: DeviceValue,
    zone: ZoneInfo,
    hub_clock_offset_s: float | None = None,
    plan: CarePlan | None = None,
) -> NewReading | None:
    """Decode, assess and time a device value; None (logged, with raw hex) if unreadable.

    ``hub_clock_offset_s`` is the hub clock's error as last estimated from a centre ack. A value
    outside the care plan's limits is flagged and goes out in the urgent lane.
    """
    kind = kind_of(value.characteristic)
    if kind is None:
        log.warning(
            "value from %s on unexpected characteristic %s: %s",
            value.device_address,
            value.characteristic,
            value.data.hex(),
        )
        return None
    try:
        values = decode(value.characteristic, value.data)
    except ParseError as exc:
        log.error("unreadable value from %s: %s", value.device_address, exc)
        return None
    try:
        return _reading(kind, value, values, zone, hub_clock_offset_s, plan)
    except Exception:  # a bug met by a device's bytes: keep the bytes, never stop the daemon
        log.exception(
            "could not assess a %s value from %s (%s): stored as failed with its raw bytes",
            kind,
            value.device_address,
            value.data.hex(),
        )
        return NewReading(
            kind=kind,
            characteristic=value.characteristic,
            device_address=value.device_address,
            device_time=None,
            received_at=value.received_at,
            raw_hex=value.data.hex(),
            values={},
            outcome="failed",
            problems=("hub_could_not_assess",),
            hub_clock_synced=value.hub_clock_synced,
            hub_clock_offset_s=hub_clock_offset_s,
        )


def _reading(
    kind: str,
    value: DeviceValue,
    values: dict[str, Any],
    zone: ZoneInfo,
    hub_clock_offset_s: float | None,
    plan: CarePlan | None,
) -> NewReading:
    assessment = assess(kind, values)
    beyond = outside_limits(kind, values, plan) if assessment.outcome != "failed" else ()
    stamp = values.get("timestamp")
    timing = resolve_time(
        datetime.fromisoformat(stamp) if stamp else None,
        datetime.fromisoformat(value.received_at),
        zone,
        value.clock,
        hub_clock_synced=value.hub_clock_synced,
        device_clock_unset=bool(values.get("device_clock_not_set")),
    )
    return NewReading(
        kind=kind,
        characteristic=value.characteristic,
        device_address=value.device_address,
        device_time=timing.device_time,
        received_at=value.received_at,
        raw_hex=value.data.hex(),
        values=values,
        measured_at=timing.measured_at,
        time_source=timing.time_source,
        clock_correction_s=timing.clock_correction_s,
        hub_clock_synced=timing.hub_clock_synced,
        outcome="flagged" if beyond else assessment.outcome,
        problems=assessment.problems + beyond,
        record_key=record_key(value, values),
        hub_clock_offset_s=hub_clock_offset_s,
        priority=URGENT if beyond else ROUTINE,
    )


STATUS_FIELDS = (
    "kind",
    "seq",
    "device_time",
    "measured_at",
    "time_source",
    "received_at",
    "outcome",
    "problems",
    "values",
    "synced",
    "synced_at",
)


def status_reading(r: Any) -> dict[str, Any]:
    """A stored reading as the screen sees it (no raw bytes, no store internals)."""
    full = r.to_json()
    return {k: full[k] for k in STATUS_FIELDS}
