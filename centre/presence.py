"""What the centre records of a hub's retained status (docs/protocol.md, "Presence"): online or
offline, the care plan version it holds, its outbox alarm. Pure functions over plain data.

Every ingest worker subscribes to every hub's status with a plain subscription: MQTT v5 sends
no retained message on a shared subscription, and a worker that starts must learn each hub's
state. So every worker receives every status, in whatever order the workers get to them, and
recording one must be idempotent and must never let an older status overwrite a newer one.

The state follows the hub's connections (hub/wire/status.py, order_key): the will of a
connection ends it, though its `at` is when that connection began. What the hub holds and its
alarm are taken from the status with the latest `at` only: a will carries what the hub held
when it connected, maybe a plan older than the one it took since.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from hub.wire.status import HubStatus, instant, order_key


@dataclass(frozen=True)
class Presence:
    """A hub's recorded status; all None until its first status."""

    state: str | None = None
    since: datetime | None = None  # when the connection that set `state` began (hub time)
    at: datetime | None = None  # the `at` of the status that set `state` (hub time)
    reported_at: datetime | None = None  # the latest `at`: what the next two come from
    held_care_plan_version: int | None = None
    outbox_alarm: str | None = None
    outbox_since: datetime | None = None  # the `at` of the first status with this alarm


def merge(recorded: Presence, status: HubStatus) -> Presence:
    """`recorded` with what `status` says that is newer; `recorded` itself if nothing is (the
    same status again, or an older one)."""
    merged = recorded
    key = order_key(status)
    if recorded.at is None or recorded.since is None or key > _key(recorded):
        merged = replace(merged, state=status.state, since=key[0], at=key[2])
    at = instant(status.at)
    if recorded.reported_at is None or at > recorded.reported_at:
        alarm_since = recorded.outbox_since if status.alarm == recorded.outbox_alarm else at
        merged = replace(
            merged,
            reported_at=at,
            held_care_plan_version=status.care_plan_version,
            outbox_alarm=status.alarm,
            outbox_since=alarm_since if status.alarm is not None else None,
        )
    return merged


def _key(recorded: Presence) -> tuple[datetime, bool, datetime]:
    assert recorded.since is not None and recorded.at is not None  # checked by the caller
    return (recorded.since, recorded.state == "offline", recorded.at)


AHEAD_MOST = timedelta(hours=1)
"""How far ahead of the centre's clock a status's times may be. Further, the hub's clock is
wrong: recorded, such a status would hide every true one after it (merge takes only newer
ones) until real time caught up, an outbox alarm included."""


def too_far_ahead(status: HubStatus, now: datetime) -> datetime | None:
    """The latest of the status's times if it lies more than AHEAD_MOST after `now`."""
    latest = max(instant(stamp) for stamp in (status.at, status.since) if stamp is not None)
    return latest if latest > now + AHEAD_MOST else None
