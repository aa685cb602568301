"""What the patient does on the screen, as items for the outbox: questionnaire answers (a FHIR R4
QuestionnaireResponse), and receipts for the centre's messages.

The answers take the same road as a device reading: a per-hub sequence number in the transaction
that stores them, sealed at once, sent, acknowledged. The patient screen hands them to the daemon
(`{"op": "answer"}` on `hub.sock`), which is the only writer of the store. Pure; no I/O.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime

from hub.core.canonical import canonical_json
from hub.core.reading import NewReading
from hub.errors import HubError

KIND = "questionnaire_response"
CHARACTERISTIC = "fhir:QuestionnaireResponse"  # not a GATT characteristic: where it came from
SOURCE = "hub-screen"
STATUSES = frozenset({"in-progress", "completed", "amended", "entered-in-error", "stopped"})
MAX_BYTES = 64 * 1024


class AnswerError(HubError, ValueError):
    """Answers the hub cannot accept, and why (the screen keeps them and says so)."""


def to_answer_reading(response: object, received_at: str) -> NewReading:
    """Check the QuestionnaireResponse and make the item to store. `id` (set by the screen,
    unique per filled-in questionnaire) makes a re-sent answer recognisable: stored once."""
    if not isinstance(response, dict) or response.get("resourceType") != "QuestionnaireResponse":
        raise AnswerError("not a FHIR QuestionnaireResponse (resourceType)")
    try:
        size = len(json.dumps(response, allow_nan=False))
    except ValueError as exc:
        raise AnswerError(f"the answers are not plain JSON: {exc}") from exc
    if size > MAX_BYTES:
        raise AnswerError(f"the answers are larger than {MAX_BYTES} bytes")
    for field in ("id", "questionnaire", "authored"):
        if not isinstance(response.get(field), str) or not response[field]:
            raise AnswerError(f"QuestionnaireResponse.{field} is missing")
    if response.get("status") not in STATUSES:
        raise AnswerError(
            f"QuestionnaireResponse.status {str(response.get('status'))[:40]!r} is not one "
            f"of {', '.join(sorted(STATUSES))}"
        )
    if not isinstance(response.get("item", []), list):
        raise AnswerError("QuestionnaireResponse.item must be a list")
    authored = _utc(response["authored"])
    received = datetime.fromisoformat(received_at)
    raw = canonical_json(response)  # as for a device: the bytes received, kept as hex
    return NewReading(
        kind=KIND,
        characteristic=CHARACTERISTIC,
        device_address=SOURCE,
        device_time=None,
        received_at=received_at,
        raw_hex=raw.hex(),
        values=json.loads(raw),
        # When the patient answered, by the hub's own clock (the screen runs on it); a time
        # after receipt is not believed.
        measured_at=min(authored, received).isoformat(timespec="seconds"),
        time_source="hub_received",
        record_key=f"{KIND}|{response['id']}",
    )


def _utc(text: str) -> datetime:
    try:
        moment = datetime.fromisoformat(text)
    except ValueError as exc:
        raise AnswerError(
            f"QuestionnaireResponse.authored {text[:40]!r} is not a date-time"
        ) from exc
    if moment.tzinfo is None:
        raise AnswerError("QuestionnaireResponse.authored needs a time zone (FHIR dateTime)")
    try:
        return moment.astimezone(UTC)
    except OverflowError:  # a zone that moves it past the ends of the calendar
        raise AnswerError(
            f"QuestionnaireResponse.authored {text[:40]!r} is outside the calendar"
        ) from None


RECEIPT_KIND = "message_receipt"


def to_receipt_reading(message_version: int, read_at: str) -> NewReading:
    """The centre learns that the patient read message `message_version` (sent once)."""
    values = {"message_version": message_version, "read_at": read_at}
    return NewReading(
        kind=RECEIPT_KIND,
        characteristic="dho:message-receipt",
        device_address=SOURCE,
        device_time=None,
        received_at=read_at,
        raw_hex=canonical_json(values).hex(),
        values=values,
        measured_at=read_at,
        time_source="hub_received",
        record_key=f"{RECEIPT_KIND}|{message_version}",
    )
