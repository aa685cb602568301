"""When was a reading taken? Pure rules over the device's time stamp and what the hub knows.

Device clocks hold local wall-clock time without a zone, reset to a default (often 2000 or
2021) when batteries are changed, and drift. The hub keeps the device's own time stamp as sent
and derives ``measured_at`` (aware, ISO-8601) with the rule it used in ``time_source``:

- ``device``: the device time stamp, read as local time in the home's zone.
- ``device_corrected``: the device time stamp plus the offset the hub measured against the
  device clock at connect, before setting it (the records were stamped by the wrong clock).
- ``hub_received``: the hub's receive time, because the device sent no time stamp, or one the
  hub must not trust (a year before the hub was built, a clock the device says is unset, or a
  time after the value was received).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Literal
from zoneinfo import ZoneInfo

EARLIEST_TRUSTED_YEAR = 2026
"""The hub software was built in 2026: a device stamp before that comes from an unset clock."""

CLOCK_TOLERANCE = timedelta(minutes=2)
"""A device clock this close to the hub's is right; no correction, no rewrite needed."""

FUTURE_TOLERANCE = timedelta(minutes=5)
"""A measurement cannot be stamped after it arrived; allow for drift and slow transfers."""

TimeSource = Literal["device", "device_corrected", "hub_received"]


@dataclass(frozen=True)
class ClockCheck:
    """What the hub learnt of a device clock on this connection.

    ``offset`` is hub local time minus device time, read before the hub set the clock; None when
    the device clock could not be read, was within CLOCK_TOLERANCE, or the hub's own clock is
    not synchronised (a hub that does not know the time must not correct anyone else's).
    """

    offset: timedelta | None = None
    clock_written: bool = False
    # Hub local time (naive) when the hub set the clock: stamps from then on are the new clock's.
    written_at: datetime | None = None

    def stamped_after_write(self, device_time: datetime) -> bool:
        """A stamp at or after the write came from the clock the hub set, not the wrong one.

        (For a clock that ran ahead, a record taken within the error before connecting is
        indistinguishable and is taken as the new clock's; it is then at most that error off.)
        """
        return self.written_at is not None and device_time >= self.written_at - CLOCK_TOLERANCE


@dataclass(frozen=True)
class ReadingTime:
    device_time: str | None
    measured_at: str
    time_source: TimeSource
    clock_correction_s: float | None
    hub_clock_synced: bool


def device_clock_offset(device_now: datetime | None, hub_local_now: datetime) -> timedelta | None:
    """The correction to apply to this device's stamps, or None when its clock is right.

    ``device_now`` is the device's Current Time (naive local), None if unreadable or unset.
    """
    if device_now is None:
        return None
    offset = hub_local_now - device_now
    return offset if abs(offset) > CLOCK_TOLERANCE else None


def resolve_time(
    device_time: datetime | None,
    received_at: datetime,
    zone: ZoneInfo,
    clock: ClockCheck,
    *,
    hub_clock_synced: bool,
    device_clock_unset: bool = False,
) -> ReadingTime:
    """Decide ``measured_at`` for one reading; ``received_at`` must be timezone-aware."""
    received_local = received_at.astimezone(zone)
    stamp = device_time.isoformat(timespec="seconds") if device_time is not None else None

    def result(at: datetime, source: TimeSource, correction: timedelta | None) -> ReadingTime:
        return ReadingTime(
            device_time=stamp,
            measured_at=at.astimezone(UTC).isoformat(timespec="seconds"),
            time_source=source,
            clock_correction_s=None if correction is None else correction.total_seconds(),
            hub_clock_synced=hub_clock_synced,
        )

    if device_time is None:
        return result(received_at, "hub_received", None)
    try:
        return _from_device(
            device_time,
            received_local,
            zone,
            clock,
            result,
            hub_clock_synced=hub_clock_synced,
            device_clock_unset=device_clock_unset,
        )
    except OverflowError:  # a clock or stamp near the ends of the calendar: not believed
        return result(received_at, "hub_received", None)


def _from_device(
    device_time: datetime,
    received_local: datetime,
    zone: ZoneInfo,
    clock: ClockCheck,
    result: Callable[[datetime, TimeSource, timedelta | None], ReadingTime],
    *,
    hub_clock_synced: bool,
    device_clock_unset: bool,
) -> ReadingTime:
    """The device's own stamp, corrected when its clock is known to be off, or the hub's
    receive time when the stamp cannot be believed."""
    received_at = received_local.astimezone(UTC)
    if clock.offset is not None and not clock.stamped_after_write(device_time):
        corrected = (device_time + clock.offset).replace(tzinfo=zone)
        if corrected <= received_local + FUTURE_TOLERANCE:
            return result(corrected, "device_corrected", clock.offset)
        return result(received_at, "hub_received", None)
    if device_clock_unset or device_time.year < EARLIEST_TRUSTED_YEAR:
        return result(received_at, "hub_received", None)
    local = device_time.replace(tzinfo=zone)
    # An unsynchronised hub clock cannot prove a device stamp is in the future.
    if hub_clock_synced and local > received_local + FUTURE_TOLERANCE:
        return result(received_at, "hub_received", None)
    return result(local, "device", None)
