"""Ring meg ("call me") on its own (no daemon, no broker): the call request as an outbox item,
what asking again does, the hub store's one open request and the nurse's answer, the status
field the screen reads, the local socket's request, triage's place for it, the centre refusing
a hostile call request item alone, and the downlink document the nurse's answer travels in.
The real daemon and broker: tests/test_call_me_end_to_end.py."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from centre.ingest import Ingest
from centre.store import CentreStore
from centre.triage import Acknowledged, PatientData, Reading, patient_order, summarise, triage
from hub.core.call_request import (
    KIND,
    STALE_AFTER,
    CallAcknowledged,
    CallRequest,
    CallRequestError,
    CallRequestValues,
    decide,
    to_call_reading,
)
from hub.core.care_plan import CarePlan
from hub.core.reading import URGENT, now_utc
from hub.local_protocol import (
    OPS,
    CallMeAnswer,
    CallMeRequest,
    CallState,
    RequestRefused,
    StatusAnswer,
    parse,
    read_answer,
)
from hub.requests import call_state
from hub.store import ReadingStore
from hub.wire.documents import Document, check_sendable
from hub.wire.envelope import EnvelopeError, open_ack
from hub.wire.public_keys import public_text
from hub.wire.sealing import ItemSealer
from tests.test_envelope import CENTRE, HUB_KEY, header, item, sealed
from tests.ui_support import BASE_STATUS

ASKED = "2026-12-03T09:00:00.123+00:00"
ID = "6f1c2d0e-8a4b-4c57-9b1e-2f0d3c4a5b6e"
NOW = datetime(2026, 12, 3, 10, 0, tzinfo=UTC)


# --- the item --------------------------------------------------------------------------------


def test_a_request_is_one_urgent_item_recognised_by_its_id() -> None:
    reading = to_call_reading(ID, ASKED)
    assert (reading.kind, reading.device_address, reading.priority) == (KIND, "hub-screen", URGENT)
    assert reading.values == {"request_id": ID, "asked_at": ASKED}
    assert (
        bytes.fromhex(reading.raw_hex)
        == json.dumps(reading.values, sort_keys=True, separators=(",", ":")).encode()
    )
    assert reading.record_key == f"{KIND}|{ID}"
    assert reading.measured_at == reading.received_at == ASKED
    # What the centre checks (CallRequestValues) takes what the hub makes.
    CallRequestValues.model_validate(reading.values)


@pytest.mark.parametrize("bad", ["short", "", "x" * 65, "has space 123", "ÆØÅæøå123", "a/b/c/d/e"])
def test_an_id_the_centre_would_refuse_is_never_stored(bad: str) -> None:
    with pytest.raises(CallRequestError, match="request_id"):
        to_call_reading(bad, ASKED)


# --- asking again ----------------------------------------------------------------------------

OPEN = CallRequest("open-request-1", "2026-12-03T09:30:00+00:00")
ANSWERED = CallRequest("answered-req-1", "2026-12-03T08:00:00+00:00", "2026-12-03T08:05:00+00:00")
STALE = CallRequest("stale-request", (NOW - STALE_AFTER - timedelta(seconds=1)).isoformat())
NOT_YET_STALE = CallRequest("fresh-request", (NOW - STALE_AFTER).isoformat())


@pytest.mark.parametrize(
    ("latest", "known", "decision"),
    [
        (None, None, "store"),  # the first request
        (OPEN, None, "open"),  # another tap while one is open: the open one
        (OPEN, OPEN, "known"),  # the same request again (a resend): its state
        (ANSWERED, None, "store"),  # answered: she may ask again
        (ANSWERED, ANSWERED, "known"),  # the answered one resent: still that one
        (STALE, None, "store"),  # open too long (the answer may be lost): asked again
        (NOT_YET_STALE, None, "open"),
        (CallRequest("garbled-time", "yesterday"), None, "store"),
    ],
)
def test_what_asking_does(
    latest: CallRequest | None, known: CallRequest | None, decision: str
) -> None:
    assert decide("new-request-1", latest, known, NOW) == decision


# --- the hub's store -------------------------------------------------------------------------


def test_the_store_keeps_one_open_request_and_takes_the_nurses_answer(tmp_path: Path) -> None:
    store = ReadingStore(tmp_path / "hub.sqlite", sealer=ItemSealer("hub-0001", CENTRE.public))
    # Asked now: the store judges staleness by the real clock (STALE_AFTER is half a day).
    asked = now_utc()
    assert store.latest_call() is None
    first, stored = store.ask_call(ID, to_call_reading(ID, asked))
    assert stored and first == CallRequest(ID, asked) and first.state == "asked"
    # The same id again, and another tap while it is open: nothing more is stored.
    assert store.ask_call(ID, to_call_reading(ID, asked)) == (first, False)
    other = "second-tap-0001"
    assert store.ask_call(other, to_call_reading(other, asked)) == (first, False)
    assert [r.kind for r in store.all()] == [KIND]
    (sealed_item,), _ = store.outbox(10, 1_000_000)
    assert sealed_item.priority == URGENT
    # The nurse's answer (a call_ack document) closes it, at the centre's time.
    answered_at = "2026-12-03T09:02:00.000+00:00"
    store.save_document("call_ack", 1, answered_at, {"request_id": ID})
    answered = store.latest_call()
    assert answered == CallRequest(ID, asked, answered_at) and answered.state == "acknowledged"
    # An answer for a request the hub does not hold changes nothing; a second answer neither.
    store.save_document("call_ack", 2, "2026-12-03T10:00:00.000+00:00", {"request_id": ID})
    store.save_document("call_ack", 3, "2026-12-03T10:00:00.000+00:00", {"request_id": "nobody-0"})
    assert store.latest_call() == answered
    # Now she may ask again: a new request, a new item.
    later = now_utc()
    again, stored = store.ask_call(other, to_call_reading(other, later))
    assert stored and again == CallRequest(other, later)
    assert [r.kind for r in store.all()] == [KIND, KIND]
    store.close()
    # Kept across a restart.
    reopened = ReadingStore(tmp_path / "hub.sqlite")
    assert reopened.latest_call() == again
    reopened.close()


# --- the screen's view -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("call", "shown"),
    [
        (
            None,
            {
                "state": "none",
                "request_id": None,
                "asked_at": None,
                "acknowledged_at": None,
                "delivered": False,
            },
        ),
        (
            CallRequest(ID, ASKED),
            {
                "state": "asked",
                "request_id": ID,
                "asked_at": ASKED,
                "acknowledged_at": None,
                "delivered": False,
            },
        ),
        (
            CallRequest(ID, ASKED, None, "2026-12-03T09:01:00.000+00:00"),
            {
                "state": "asked",
                "request_id": ID,
                "asked_at": ASKED,
                "acknowledged_at": None,
                "delivered": True,
            },
        ),
        (
            CallRequest(ID, ASKED, "2026-12-03T09:02:00.000+00:00"),
            {
                "state": "acknowledged",
                "request_id": ID,
                "asked_at": ASKED,
                "acknowledged_at": "2026-12-03T09:02:00.000+00:00",
                # Answered by a nurse: the centre holds it, even had its batch's ack been lost.
                "delivered": True,
            },
        ),
    ],
)
def test_the_status_says_none_asked_or_acknowledged(
    call: CallRequest | None, shown: dict[str, Any]
) -> None:
    state = call_state(call)
    assert state.model_dump(mode="json") == shown
    status = BASE_STATUS.model_copy(update={"call_request": state})
    assert read_answer(StatusAnswer, status.model_dump(mode="json")) == status


def test_a_status_without_the_field_reads_as_never_asked() -> None:
    """A daemon from before "Ring meg" (or the screen's stand-in) leaves it out."""
    old = BASE_STATUS.model_dump(mode="json")
    old.pop("call_request")
    answer = read_answer(StatusAnswer, old)
    assert isinstance(answer, StatusAnswer) and answer.call_request == CallState()


@pytest.mark.parametrize(
    "bad",
    [
        {"state": "maybe"},
        {"state": "asked", "asked_at": 5},
        {"state": "asked", "request_id": ID, "extra": 1},
    ],
)
def test_a_status_with_a_wrong_call_request_is_unreadable(bad: dict[str, Any]) -> None:
    from hub.local_protocol import UnreadableAnswer

    with pytest.raises(UnreadableAnswer):
        read_answer(StatusAnswer, {**BASE_STATUS.model_dump(mode="json"), "call_request": bad})


def test_the_socket_request_and_its_answer() -> None:
    assert OPS["call_me"].request is CallMeRequest and OPS["call_me"].answer is CallMeAnswer
    assert CallMeRequest(request_id=ID).wire() == {"op": "call_me", "request_id": ID}
    for bad in (5, None, "short", "x" * 65, ["a" * 10], "with space 1"):
        with pytest.raises(RequestRefused, match="request_id"):
            parse(CallMeRequest, {"request_id": bad})
    answer = CallMeAnswer(call_request=call_state(CallRequest(ID, ASKED)), stored_before=False)
    assert read_answer(CallMeAnswer, answer.model_dump(mode="json")) == answer


# --- triage ----------------------------------------------------------------------------------


def call(seq: int, at: datetime, invalid: bool = False) -> Reading:
    values = {"request_id": f"request-{seq:04d}", "asked_at": at.isoformat()}
    return Reading(KIND, seq, values, "ok", at, at + timedelta(seconds=2), invalid=invalid)


def red(seq: int, at: datetime) -> Reading:
    values = {"systolic": 200.0}
    return Reading("blood_pressure", seq, values, "ok", at, at + timedelta(seconds=2))


PLAN = CarePlan.model_validate({"thresholds": {"blood_pressure": {"systolic": {"max": 180}}}})


@pytest.mark.parametrize(
    ("readings", "acked", "states"),
    [
        ((), (), []),
        ((call(1, NOW - timedelta(minutes=5)),), (), [("call_me", KIND, 1)]),
        # Two requests (the second after the first went stale on the hub): one item since the
        # oldest.
        (
            (call(1, NOW - timedelta(hours=13)), call(2, NOW - timedelta(minutes=1))),
            (),
            [("call_me", KIND, 2)],
        ),
        ((call(1, NOW - timedelta(minutes=5)),), (1,), []),  # answered
        ((call(1, NOW - timedelta(minutes=5), invalid=True),), (), []),
        # With a red reading: the call request comes first, the red one is on the row too.
        (
            (red(1, NOW - timedelta(hours=2)), call(2, NOW - timedelta(minutes=5))),
            (),
            [("call_me", KIND, 1), ("red", "blood_pressure", 1)],
        ),
    ],
)
def test_a_call_request_is_the_first_item_until_answered(
    readings: tuple[Reading, ...], acked: tuple[int, ...], states: list[tuple[str, str, int]]
) -> None:
    patient = PatientData(readings=readings, plan=PLAN, acknowledged=Acknowledged(frozenset(acked)))
    items = triage(patient, NOW)
    assert [(i.state, i.kind, i.count) for i in items] == states
    if items and items[0].state == "call_me":
        first = min(r.received_at for r in readings if r.kind == KIND)
        assert items[0].since == first, "since when she has been waiting (the centre's time)"


def test_a_patient_who_asked_to_be_called_comes_before_an_older_red_one() -> None:
    """The choice (centre/triage.py): a patient waiting by the phone ranks above red readings,
    however old they are; among those who asked, the one who asked first comes first."""
    waiting = PatientData(readings=(call(1, NOW - timedelta(minutes=1)),))
    waited_longer = PatientData(readings=(call(2, NOW - timedelta(minutes=30)),))
    red_since_yesterday = PatientData(readings=(red(3, NOW - timedelta(days=1)),), plan=PLAN)
    rows = {
        "waiting": waiting,
        "waited_longer": waited_longer,
        "red": red_since_yesterday,
    }
    ordered = sorted(
        (summarise(pid, data, triage(data, NOW), NOW) for pid, data in rows.items()),
        key=patient_order,
    )
    assert [s.patient for s in ordered] == ["waited_longer", "waiting", "red"]
    # Asking is no measurement: "last measured" is her reading's time, or none.
    last = {s.patient: (s.last_measured, s.last_delivered) for s in ordered}
    assert last["waiting"] == (None, NOW - timedelta(minutes=1) + timedelta(seconds=2))
    assert last["red"][0] == NOW - timedelta(days=1)


def test_callers_rank_by_when_the_centre_received_the_request_not_the_hubs_clock() -> None:
    """A hub that back-dates its request (a wrong clock, or a holder of its key) does not go
    above a patient whose request reached the centre earlier."""
    honest = Reading(KIND, 1, {}, "ok", NOW - timedelta(hours=2), NOW - timedelta(hours=2))
    back_dated = Reading(KIND, 2, {}, "ok", NOW - timedelta(days=9), NOW - timedelta(minutes=1))
    rows = {"honest": PatientData(readings=(honest,)), "cheat": PatientData(readings=(back_dated,))}
    ordered = sorted(
        (summarise(pid, data, triage(data, NOW), NOW) for pid, data in rows.items()),
        key=patient_order,
    )
    assert [s.patient for s in ordered] == ["honest", "cheat"]
    assert ordered[1].since == NOW - timedelta(minutes=1)


# --- the centre's ingest: hostile call request items -----------------------------------------

TOPIC = "dho/v1/hub/hub-0001/batch"


def call_item(seq: int, values: object) -> dict[str, object]:
    return {
        **item(seq, 0.0),
        "kind": KIND,
        "characteristic": "dho:call-request",
        "device_address": "hub-screen",
        "values": values,
    }


GOOD = {"request_id": ID, "asked_at": ASKED}
HOSTILE: list[tuple[object, str]] = [
    ({"request_id": 5, "asked_at": ASKED}, "request_id"),
    ({"request_id": ID, "asked_at": True}, "asked_at"),
    ({"request_id": ID}, "asked_at"),
    ({"request_id": ID, "asked_at": ASKED, "nurse": "please"}, "nurse"),
    ({"request_id": "x" * 50_000, "asked_at": ASKED}, "request_id"),
    ({"request_id": ID, "asked_at": "tomorrow"}, "asked_at"),
    ({"request_id": ID, "asked_at": ASKED + "x" * 1000}, "asked_at"),
    ({"request_id": [ID], "asked_at": ASKED}, "request_id"),
    ({"request_id": ID, "asked_at": {"at": ASKED}}, "asked_at"),
    ({"request_id": "'; DROP TABLE readings; --", "asked_at": ASKED}, "request_id"),
]


@pytest.fixture
def ingest(tmp_path: Path) -> Ingest:
    store = CentreStore(tmp_path / "centre.sqlite", migrate=True)
    store.enrol("hub-0001", public_text(HUB_KEY.public_key()))
    return Ingest(store, {CENTRE.public.key_id: CENTRE}, Ed25519PrivateKey.generate())


def test_hostile_call_requests_are_refused_alone_and_the_rest_is_stored(
    ingest: Ingest, caplog: pytest.LogCaptureFixture
) -> None:
    """Wrong types, missing or unknown fields, huge or garbled text: each such item is refused
    alone, in words naming the field, logged and recorded; the reading and the good request
    in the same batch are stored, and the ack names the refused ones for the hub."""
    items = [item(1, 128.0), call_item(2, GOOD)]
    items += [call_item(3 + n, values) for n, (values, _) in enumerate(HOSTILE)]
    last = len(items)
    envelope = sealed(header(seq_first=1, seq_last=last, count=last), items)
    reply = ingest.handle(TOPIC, envelope)
    assert reply is not None
    ack = open_ack(reply.payload, ingest.signing_key.public_key(), "hub-0001")
    assert ack.held == ((1, 2),) and ack.refused == ((3, last),)
    stored = ingest.store.readings()
    assert [(r["seq"], r["kind"]) for r in stored] == [(1, "blood_pressure"), (2, KIND)]
    assert stored[1]["values"] == GOOD
    reasons = [r["reason"] for r in ingest.store.rejections()]
    assert len(reasons) == len(HOSTILE)
    for n, (_, field) in enumerate(HOSTILE):
        (reason,) = [r for r in reasons if r.startswith(f"item {3 + n} of batch")]
        assert f"item {3 + n} is not valid: values.{field}" in reason, reason
        assert len(reason) < 600, "a huge value is not echoed back"
    assert "the hub sets it aside" in caplog.text


# --- the nurse's answer on the wire -----------------------------------------------------------


@pytest.mark.parametrize(
    ("content", "sendable"),
    [
        ({"request_id": ID}, True),
        ({"request_id": "short"}, False),
        ({"request_id": ID, "text": "hei"}, False),
        ({}, False),
        ({"request_id": 5}, False),
    ],
)
def test_the_answer_document_is_checked_before_it_is_sent(
    content: dict[str, Any], sendable: bool
) -> None:
    try:
        model = CallAcknowledged.model_validate(content)
    except ValueError:
        assert not sendable
        return
    doc = Document("call_ack", "hub-0001", 1, ASKED, model)
    if sendable:
        check_sendable(doc)
    else:
        with pytest.raises(EnvelopeError):
            check_sendable(doc)
