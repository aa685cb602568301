"""Ring meg end to end when the hub has moved on (the real hub daemon, Mosquitto, the centre's
ingest and web): patient A asks to be called, her care episode ends and the same hub goes to
patient B; the nurse's "I am calling now" on A's request, still on the worklist, acknowledges it
at the centre alone and tells her so; no call_ack is made for the hub, which is B's now."""

from __future__ import annotations

import itertools
from datetime import timedelta

import pytest
from django.db import connection
from django.test import Client
from django.utils import timezone

from centre.followup.models import Acknowledgement
from centre.people.models import CareEpisode, Municipality, Team
from centre.people.registry import end_episode
from centre.records.models import Document, Reading
from centre.store import CentreStore
from centre.web.accounts import add_user
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

A_ASKS = "6f1c2d0e-8a4b-4c57-9b1e-2f0d3c4a5b6e"


def test_the_answer_to_an_ended_episodes_request_is_not_sent_to_the_next_patients_hub(
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
        first = world.patient("A")
        CareEpisode.objects.create(
            patient=first, hub_id=home.hub_id, started=NOW - timedelta(days=1)
        )
        assert home.ask_hub("call_me", request_id=A_ASKS)["ok"]
        wait_for(lambda: Reading.objects.filter(hub_id=home.hub_id, kind=KIND).exists(), "request")
        end_episode(home.hub_id)
        following = world.patient("B")
        CareEpisode.objects.create(patient=following, hub_id=home.hub_id, started=timezone.now())

        client = Client()
        sign_in(client, "kari")
        assert state_of(page(client), first) == "call_me"  # hers to answer still
        keys = keys_in(row_of(page(client), first), "call_back")
        response = client.post(f"/worklist/acknowledge/{first.id}/", {"call_back": keys[0]})
        assert "notice=call_episode_ended" in response["Location"]
        assert Acknowledgement.objects.get(patient=first).key == keys[0]
        # The centre records every document it sends before it publishes it: none was made.
        assert not Document.objects.filter(hub_id=home.hub_id, doc_type="call_ack").exists()
        assert state_of(page(client), first) == "none"
        assert state_of(page(client), following) != "call_me"
    finally:
        connection.close()
