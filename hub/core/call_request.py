"""Ring meg ("call me"): the patient asks the follow-up service to call her, and sees when a
nurse said she is calling (issue "Ring meg").

The request takes the readings' road: an outbox item (kind "call_request") committed with its
sequence number, sealed at once, sent in the urgent lane, stored once by the centre. The
screen chooses the request's id, so a repeated tap or a resent request is stored once (the
item's record key). The nurse's answer comes back as a signed downlink document ("call_ack",
hub/wire/documents.py) naming the request.

One open request at a time: asking again while one is open (not yet acknowledged, and asked
less than STALE_AFTER ago, not later than now) gives the open one back and stores nothing;
after the nurse's answer the patient may ask again. Pure; no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from hub.core.canonical import canonical_json
from hub.core.reading import URGENT, NewReading
from hub.errors import HubError

KIND = "call_request"
CHARACTERISTIC = "dho:call-request"  # not a GATT characteristic: where it came from
SOURCE = "hub-screen"
# What a screen may choose as a request's id: a UUID fits, and nothing that needs escaping.
REQUEST_ID_PATTERN = r"^[A-Za-z0-9_-]{8,64}$"
RequestId = Annotated[str, Field(pattern=REQUEST_ID_PATTERN)]
# An open request older than this no longer holds back a new one (see `decide`): half a day,
# so that a request made in the evening and not answered is asked again the next morning.
STALE_AFTER = timedelta(hours=12)
# An ISO 8601 time with its zone, as the hub writes them (now_utc); bounded for the centre.
_STAMP = r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,6})?(Z|[+-]\d\d:\d\d)$"
Stamp = Annotated[str, Field(pattern=_STAMP)]


class CallRequestError(HubError, ValueError):
    """A call request the hub will not store (the centre would refuse it), and why."""


class _Strict(BaseModel):
    model_config = ConfigDict(frozen=True, strict=True, extra="forbid")


class CallRequestValues(_Strict):
    """The item's `values` as the centre accepts them: exactly these two fields."""

    request_id: RequestId
    asked_at: Stamp


class CallAcknowledged(_Strict):
    """The downlink document's content: the nurse says she is calling about this request."""

    request_id: RequestId


CallStateName = Literal["none", "asked", "acknowledged"]


@dataclass(frozen=True)
class CallRequest:
    """A request as the hub keeps it: asked at (hub time), acknowledged at (the centre's time
    of the nurse's answer), or not yet; delivered at (hub time: when the centre acknowledged
    the batch carrying it), or not yet."""

    request_id: str
    asked_at: str
    acknowledged_at: str | None = None
    delivered_at: str | None = None

    @property
    def state(self) -> CallStateName:
        return "asked" if self.acknowledged_at is None else "acknowledged"

    @property
    def delivered(self) -> bool:
        """Whether the centre holds it: its batch acknowledged, or a nurse answered it (she
        can only answer what the centre holds, even if that batch's ack was lost)."""
        return self.delivered_at is not None or self.acknowledged_at is not None


def to_call_reading(request_id: str, asked_at: str) -> NewReading:
    """The outbox item for a new request. Urgent: a patient waiting by the phone goes ahead of
    a backlog of routine readings."""
    values = {"request_id": request_id, "asked_at": asked_at}
    try:
        CallRequestValues.model_validate(values)  # what the centre would refuse: never stored
    except ValidationError as exc:
        where = ".".join(str(part) for part in exc.errors()[0]["loc"])
        raise CallRequestError(
            f"not a call request the centre takes: {where} ({exc.errors()[0]['msg']})"
        ) from None
    return NewReading(
        kind=KIND,
        characteristic=CHARACTERISTIC,
        device_address=SOURCE,
        device_time=None,
        received_at=asked_at,
        raw_hex=canonical_json(values).hex(),
        values=values,
        measured_at=asked_at,
        time_source="hub_received",
        record_key=f"{KIND}|{request_id}",
        priority=URGENT,
    )


Decision = Literal["store", "open", "known"]


def decide(
    request_id: str, latest: CallRequest | None, known: CallRequest | None, now: datetime
) -> Decision:
    """What asking with `request_id` at `now` does, given the hub's latest request and the one
    stored under this id (if any): "known" (this very request again: its state is the
    answer), "open" (another request is still open: it is the answer, nothing is stored), or
    "store" (a new request).

    A request open for longer than STALE_AFTER no longer holds back a new one: the centre's
    answer may have been lost (a hub offline for more than the broker's week), and the patient
    must be able to ask again."""
    if known is not None:
        return "known"
    if latest is not None and latest.acknowledged_at is None and not _stale(latest, now):
        return "open"
    return "store"


def _stale(call: CallRequest, now: datetime) -> bool:
    try:
        asked = datetime.fromisoformat(call.asked_at)
    except ValueError:
        return True  # not a time this hub wrote: it cannot hold back a new request
    if asked.tzinfo is None:
        asked = asked.replace(tzinfo=UTC)
    # Asked "later than now": the hub's clock ran ahead then (and was put right since). How
    # long ago she asked is unknown, so it holds nothing back; else it would stay open for
    # as long as the clock was ahead, plus half a day.
    return asked > now or now - asked > STALE_AFTER
