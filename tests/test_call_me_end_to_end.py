"""Ring meg ("call me") end to end, with the real hub daemon, the real Mosquitto broker, the
real centre ingest and the centre's web: the patient's request, asked twice under one id (and
once more under another while it is open), reaches the centre exactly once; the nurse's "I am
calling now" on the worklist comes back to the hub signed and sealed, and the hub's status then
says a nurse is calling; after that she may ask again."""

from __future__ import annotations

import itertools
from datetime import timedelta

import pytest
from django.conf import settings
from django.db import connection
from django.test import Client
from django.utils import translation

from centre.followup.models import Acknowledgement
from centre.people.models import AuditEntry, CareEpisode, Municipality, Team
from centre.records.models import Document, Reading
from centre.store import CentreStore
from centre.web.accounts import add_user
from centre.web.views.worklist import STATE_LABELS, _told
from hub.core.call_request import KIND
from testbed.centre_db import use_default
from testbed.home import SimulatedHome
from tests.test_web_signin import PASSWORD
from tests.test_web_worklist import (
    NOW,
    World,
    keys_in,
    national_ids,
    page,
    row_of,
    sign_in,
    state_of,
    wait_for,
)

FIRST = "6f1c2d0e-8a4b-4c57-9b1e-2f0d3c4a5b6e"
SECOND_TAP = "0b7e4a52-1c1d-4f7e-9a35-6a2d7c1f0e99"
LATER = "c2a1d4e8-5b3f-4a9e-8d7c-1e2f3a4b5c6d"


def test_ring_meg_reaches_the_centre_once_and_the_nurses_answer_reaches_the_screen(
    home: SimulatedHome, monkeypatch: pytest.MonkeyPatch
) -> None:
    home.start_centre()
    home.start_hub()
    CentreStore(home.centre.database_url, migrate=True)
    use_default(home.centre.database_url)
    monkeypatch.setenv("DHO_CENTRE_CONFIG", str(home.centre_config))
    try:
        oslo = Municipality.objects.create(name="Oslo", number="0301")
        east = Team.objects.create(name="Øst", municipality=oslo)
        add_user("kari", "nurse", ["Øst"], PASSWORD, "Kari Nordmann")
        world = World(east, east, east, national_ids(), itertools.count(1), itertools.count(1))
        patient = world.patient("Ringer")
        CareEpisode.objects.create(
            patient=patient, hub_id=home.hub_id, started=NOW - timedelta(days=1)
        )
        assert home.hub_status()["call_request"] == {
            "state": "none",
            "request_id": None,
            "asked_at": None,
            "acknowledged_at": None,
            "delivered": False,
        }

        # The patient taps; the screen resends the same request; she taps again meanwhile.
        first = home.ask_hub("call_me", request_id=FIRST)
        assert first["ok"] and not first["stored_before"]
        assert first["call_request"]["state"] == "asked"
        assert first["call_request"]["request_id"] == FIRST
        assert home.ask_hub("call_me", request_id=FIRST) == {**first, "stored_before": True}
        assert home.ask_hub("call_me", request_id=SECOND_TAP) == {**first, "stored_before": True}
        assert home.ask_hub("call_me", request_id="x")["ok"] is False  # refused in words

        # The centre holds it once, and the hub has its acknowledgement (nothing pending).
        wait_for(lambda: home.hub_status()["pending"] == 0, "the centre's ack of the request")
        calls = [r for r in home.centre_readings() if r["kind"] == KIND]
        assert len(calls) == 1
        assert calls[0]["values"] == {
            "request_id": FIRST,
            "asked_at": first["call_request"]["asked_at"],
        }
        assert Reading.objects.filter(hub_id=home.hub_id, kind=KIND).count() == 1

        # The worklist shows her first, as asking to be called, since when she asked.
        client = Client()
        sign_in(client, "kari")
        html = page(client)
        assert state_of(html, patient) == "call_me"
        row = row_of(html, patient)
        with translation.override(settings.LANGUAGE_CODE):
            assert str(STATE_LABELS["call_me"]) in row
        keys = keys_in(row, "call_back")
        assert len(keys) == 1 and keys[0].startswith("reading:")
        assert not keys_in(row, "acknowledge"), "a call request is answered by calling"

        # "I am calling now": acknowledged, audited, and the hub told.
        response = client.post(f"/worklist/acknowledge/{patient.id}/", {"call_back": keys[0]})
        assert response.status_code == 302 and "notice=calling" in response["Location"]
        assert Acknowledgement.objects.get(patient=patient).key == keys[0]
        with translation.override(settings.LANGUAGE_CODE):
            told = _told(1)
        assert AuditEntry.objects.filter(
            user="kari", action="change", patient=patient, what=told
        ).exists()
        (sent,) = Document.objects.filter(hub_id=home.hub_id, doc_type="call_ack")
        assert FIRST in sent.content_json
        status = wait_for(
            lambda: (s := home.hub_status())["call_request"]["state"] == "acknowledged" and s,
            "the hub to hear that a nurse is calling",
        )
        answered = status["call_request"]
        assert (answered["request_id"], answered["asked_at"]) == (
            FIRST,
            first["call_request"]["asked_at"],
        )
        assert answered["acknowledged_at"] is not None
        assert status["downlink_refused"] is None
        assert state_of(page(client), patient) == "none"

        # Answered: she may ask again, and the centre sees a new request.
        again = home.ask_hub("call_me", request_id=LATER)
        assert again["ok"] and not again["stored_before"]
        assert again["call_request"]["state"] == "asked"
        wait_for(
            lambda: len([r for r in home.centre_readings() if r["kind"] == KIND]) == 2,
            "the second request at the centre",
        )
        assert state_of(page(client), patient) == "call_me"
    finally:
        connection.close()


def test_the_screen_is_told_a_request_was_delivered_only_once_the_centre_holds_it(
    home: SimulatedHome,
) -> None:
    """Stored on the hub is not told to the nurse: with the broker down the request waits in
    the outbox and the status says `delivered` false (the screen then says it is not sent yet,
    and to phone if it is urgent); once the centre acknowledges its batch, true."""
    home.broker.stop()
    home.start_hub()
    asked = home.ask_hub("call_me", request_id=FIRST)
    assert asked["ok"] and asked["call_request"]["delivered"] is False
    status = home.hub_status()
    assert status["call_request"]["state"] == "asked"
    assert status["call_request"]["delivered"] is False
    assert status["pending"] == 1 and not status["broker_connected"]

    home.broker.start()  # same ports: the hub reconnects by itself
    home.start_centre(taking_batches=True)
    delivered = wait_for(
        lambda: (s := home.hub_status())["call_request"]["delivered"] and s,
        "the centre's ack of the request",
    )
    assert delivered["pending"] == 0
    assert delivered["call_request"]["state"] == "asked"  # delivered, not yet answered
    assert [r["values"]["request_id"] for r in home.centre_readings() if r["kind"] == KIND] == [
        FIRST
    ]
