"""The hub's retained presence on `dho/v1/hub/<hub_id>/status` (docs/protocol.md, "Presence"):
built by the hub's uplink, read by the centre's workers. Pure functions; no I/O.

The status is not signed (it says nothing about health data), but only the hub itself may
publish on its topic (the broker's ACL), so the hub id in the topic is the one to believe: a
payload naming another hub is refused.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Literal

from pydantic import Field

from hub.core.canonical import canonical_json
from hub.wire.strict import MAX_INT, Schema, Stamp, WireError, load, parse
from hub.wire.topics import HUB_ID_PATTERN

MAX_STATUS_BYTES = 1024
"""A status is about 200 bytes; anything much larger is not one (and is not parsed)."""

State = Literal["online", "offline"]
Alarm = Literal["near_full", "over_budget"]
Version = Annotated[int, Field(ge=1, le=MAX_INT)]


class StatusError(WireError):
    """A status message that must not be recorded, with the reason in plain words."""


class HubStatus(Schema):
    """What a hub says of itself. `since` is when its current connection began (hub time): the
    `at` of the will it registered for that connection, carried by every status it publishes
    on it. `care_plan_version` is the care plan it holds (None: none). Hubs older than these
    two fields leave them out."""

    v: Literal[1]
    hub_id: Annotated[str, Field(pattern=HUB_ID_PATTERN)]
    state: State
    at: Stamp
    since: Stamp | None = None
    alarm: Alarm | None = None
    care_plan_version: Version | None = None


def status_payload(
    hub_id: str,
    state: State,
    at: str,
    since: str,
    alarm: str | None = None,
    care_plan_version: int | None = None,
) -> bytes:
    """The canonical JSON a hub publishes (retained) as its status, checked as the centre
    will check it (StatusError if not: a hub's own bug, not the network's)."""
    fields = {
        "v": 1,
        "hub_id": hub_id,
        "state": state,
        "at": at,
        "since": since,
        "alarm": alarm,
        "care_plan_version": care_plan_version,
    }
    status = parse(HubStatus, fields, "status", StatusError)
    return canonical_json(status.model_dump(mode="json"))


def read_status(raw: bytes, topic_hub_id: str) -> HubStatus:
    """The status in `raw`, which came on `topic_hub_id`'s status topic; StatusError if it is
    too large, not strict JSON, not a status, or names another hub."""
    if len(raw) > MAX_STATUS_BYTES:
        raise StatusError(
            f"status of {len(raw)} bytes on {topic_hub_id}'s topic; a status has at most "
            f"{MAX_STATUS_BYTES}"
        )
    status = parse(HubStatus, load(raw, "status", 4, StatusError), "status", StatusError)
    if status.hub_id != topic_hub_id:
        raise StatusError(f"status names hub {status.hub_id} but came on {topic_hub_id}'s topic")
    return status


def instant(stamp: str) -> datetime:
    """A checked stamp (Stamp) as a point in time, in UTC."""
    return datetime.fromisoformat(stamp).astimezone(UTC)


def order_key(status: HubStatus) -> tuple[datetime, bool, datetime]:
    """Which of two statuses of a hub is the newer: a later connection's; within one
    connection, `offline` (the will, or the hub stopping: its last word on that connection);
    then the later `at`. A will's `at` is when its connection began, so `at` alone would put
    it before the `online` status it ends."""
    at = instant(status.at)
    since = instant(status.since) if status.since is not None else at
    return (since, status.state == "offline", at)
