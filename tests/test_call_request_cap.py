"""Ring meg at the centre's ingest: at most MAX_OPEN_CALLS unanswered call requests per hub are
stored; those beyond are refused alone, saying why (a hub asks once at a time, so more is a hub
or a holder of its key flooding the worklist and the nurse's "I am calling now"). A re-sent
request is not counted twice; an answered one frees its place."""

from __future__ import annotations

import uuid
from datetime import timedelta
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from django.contrib.auth.models import User

from centre.followup.models import Acknowledgement
from centre.ingest import MAX_OPEN_CALLS, Ingest, Message
from centre.people.models import CareEpisode
from centre.store import CentreStore
from hub.core.call_request import KIND
from hub.wire.envelope import Ack, open_ack
from hub.wire.public_keys import public_text
from tests.test_call_request import ASKED, call_item
from tests.test_envelope import CENTRE, HUB_KEY, header, item, sealed
from tests.test_web_call_me import asks
from tests.test_web_worklist import BP_PLAN, NOW, World
from tests.test_web_worklist import world as world

TOPIC = "dho/v1/hub/hub-0001/batch"


@pytest.fixture
def ingest(tmp_path: Path) -> Ingest:
    store = CentreStore(tmp_path / "centre.sqlite", migrate=True)
    store.enrol("hub-0001", public_text(HUB_KEY.public_key()))
    return Ingest(store, {CENTRE.public.key_id: CENTRE}, Ed25519PrivateKey.generate())


def asking(seq: int) -> dict[str, object]:
    return call_item(seq, {"request_id": f"request-{seq:04d}", "asked_at": ASKED})


def batch(items: list[dict[str, object]]) -> bytes:
    first, last = int(str(items[0]["seq"])), int(str(items[-1]["seq"]))
    h = header(seq_first=first, seq_last=last, count=len(items), batch_id=str(uuid.uuid4()))
    return sealed(h, items)


def acked(ingest: Ingest, envelope: bytes) -> Ack:
    reply = ingest.handle(TOPIC, envelope)
    assert reply is not None
    return open_ack(reply.payload, ingest.signing_key.public_key(), "hub-0001")


def calls_stored(ingest: Ingest) -> list[int]:
    return [r["seq"] for r in ingest.store.readings() if r["kind"] == KIND]


def test_call_requests_beyond_the_cap_are_refused_alone_and_the_rest_is_stored(
    ingest: Ingest,
) -> None:
    assert MAX_OPEN_CALLS == 5
    items = [item(1, 128.0), *(asking(seq) for seq in range(2, 10)), item(10, 130.0)]
    ack = acked(ingest, batch(items))
    assert ack.held == ((1, 6), (10, 10)) and ack.refused == ((7, 9),)
    assert calls_stored(ingest) == [2, 3, 4, 5, 6]
    reasons = [r["reason"] for r in ingest.store.rejections()]
    assert len(reasons) == 3 and all("beyond the 5 this hub has" in r for r in reasons)
    # The same requests re-sent (the ack was lost) are held, not counted again; a new one is
    # still refused.
    again = acked(ingest, batch([*(asking(seq) for seq in range(2, 7)), asking(11)]))
    assert again.held == ((2, 6),) and again.refused == ((11, 11),)
    assert calls_stored(ingest) == [2, 3, 4, 5, 6]


def test_the_cap_counts_the_batches_of_one_group_together(ingest: Ingest) -> None:
    first = batch([asking(seq) for seq in range(1, 4)])
    second = batch([asking(seq) for seq in range(4, 7)])
    replies = ingest.handle_group([Message(TOPIC, first), Message(TOPIC, second)])
    acks = [open_ack(r.payload, ingest.signing_key.public_key(), "hub-0001") for r in replies if r]
    assert [a.refused for a in acks] == [(), ((6, 6),)]
    assert calls_stored(ingest) == [1, 2, 3, 4, 5]


def test_open_call_requests_are_those_no_nurse_has_answered(world: World, centre_db: str) -> None:
    """On SQLite and PostgreSQL: the store's count leaves out answered requests, and those
    received before the window."""
    patient, hub = world.followed("Patient", BP_PLAN)
    answered = asks(world, hub, timedelta(minutes=30), "request-0001")
    waiting = asks(world, hub, timedelta(minutes=5), "request-0002")
    old = asks(world, hub, timedelta(days=100), "request-0003")
    world.reading(hub, timedelta(minutes=1))  # a measurement: not a call request
    nurse = User.objects.create(username="nurse")
    Acknowledgement.objects.create(patient=patient, key=f"reading:{answered.id}", by=nurse)
    Acknowledgement.objects.create(patient=patient, key=f"reading:{answered.id}0", by=nurse)
    store = CentreStore(centre_db)
    found = store.open_call_requests(hub.hub_id, NOW - timedelta(days=90))
    assert found == {waiting.seq}
    assert old.seq not in store.open_call_requests(hub.hub_id, NOW - timedelta(days=90))


def test_the_previous_patients_unanswered_requests_do_not_refuse_the_next_patients(
    world: World, centre_db: str
) -> None:
    """On SQLite and PostgreSQL: a hub may ask again after 12 hours unanswered, so the previous
    patient can leave MAX_OPEN_CALLS unanswered; once the hub is the next patient's, they count
    no more (they stay the previous patient's to answer, on her row): counted, they refused the
    next patient's first request for up to 90 days, while her screen said she was waiting."""
    anne, hub = world.followed("Anne", BP_PLAN, started=NOW - timedelta(days=30))
    for n in range(MAX_OPEN_CALLS):  # every 12 hours over a weekend, nobody answered
        asks(world, hub, timedelta(days=5, hours=-12 * n), f"anne-{n:04d}")
    store = CentreStore(centre_db)
    assert len(store.open_call_requests(hub.hub_id, NOW - timedelta(days=90))) == MAX_OPEN_CALLS
    episode = CareEpisode.objects.get(patient=anne)
    episode.ended = NOW - timedelta(days=2)
    episode.save()
    # Between two patients: what the hub asks is no one's, and counts from the end on.
    assert store.open_call_requests(hub.hub_id, NOW - timedelta(days=90)) == set()
    between = asks(world, hub, timedelta(days=1, hours=12), "between-0001")
    assert store.open_call_requests(hub.hub_id, NOW - timedelta(days=90)) == {between.seq}
    # The hub goes to Berit: only what is asked in her episode counts.
    berit = world.patient("Berit")
    CareEpisode.objects.create(patient=berit, hub_id=hub.hub_id, started=NOW - timedelta(days=1))
    assert store.open_call_requests(hub.hub_id, NOW - timedelta(days=90)) == set()
    hers = asks(world, hub, timedelta(minutes=5), "berit-0001")
    assert store.open_call_requests(hub.hub_id, NOW - timedelta(days=90)) == {hers.seq}
