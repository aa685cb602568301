"""Ring meg: the nurse's answer reaches only the hub of the episode the request belongs to, and
every call request can be answered (Django's test client, SQLite and PostgreSQL).

A request whose care episode has ended (the hub may now be another patient's), whose hub is
revoked, or whose id no hub would take, is acknowledged at the centre alone, audited, and the
nurse is told so in words; nothing is sent. When a live hub cannot be reached, the nurse is
offered "Mark as called without telling the hub". The answers to one press go to the broker
through one connection. The happy path: tests/test_web_call_me.py."""

from __future__ import annotations

import base64
import json
from collections.abc import Sequence
from datetime import timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    NoEncryption,
    PrivateFormat,
    PublicFormat,
)
from django.conf import settings
from django.test import Client
from django.utils import timezone, translation
from django.utils.html import escape

from centre.downlink import Outgoing
from centre.followup.models import Acknowledgement
from centre.people.models import AuditEntry, CareEpisode
from centre.records.models import Hub
from centre.web.accounts import add_user
from centre.web.views import worklist as worklist_view
from centre.web.views.worklist import CallToTell, _untold, call_fate
from hub.core.call_request import KIND
from tests.test_web_call_me import asks, section
from tests.test_web_call_me import told as told
from tests.test_web_signin import PASSWORD
from tests.test_web_worklist import (
    BP_PLAN,
    NOW,
    World,
    keys_in,
    page,
    row_of,
    sign_in,
    state_of,
)
from tests.test_web_worklist import kari as kari
from tests.test_web_worklist import world as world


def audited(count: int, fate: Any) -> None:
    """Kari's audit entry for call requests acknowledged without telling the hub."""
    with translation.override(settings.LANGUAGE_CODE):
        words = _untold(count, fate)
    entries = list(AuditEntry.objects.filter(user="kari", action="change").values_list("what"))
    assert (words,) in entries


# --- the rule alone --------------------------------------------------------------------------


def ack(client: Client, patient: Any, button: str, keys: str) -> Any:
    return client.post(f"/worklist/acknowledge/{patient.id}/", {button: keys})


def test_a_hub_is_told_only_within_the_episode_the_request_belongs_to() -> None:
    started, asked = NOW - timedelta(days=10), NOW - timedelta(hours=1)
    call = CallToTell("hub-0001", "request-0001")
    assert call_fate(call, asked, [("hub-0001", started)], revoked=False) == "tell"
    # Her episode with that hub has ended (none under way, or one with another hub).
    assert call_fate(call, asked, [], revoked=False) == "episode_ended"
    assert call_fate(call, asked, [("hub-0002", started)], revoked=False) == "episode_ended"
    # Hers again with the same hub, but a new episode begun after she asked: not that one.
    assert call_fate(call, asked, [("hub-0001", NOW)], revoked=False) == "episode_ended"
    assert call_fate(call, asked, [("hub-0001", started)], revoked=True) == "hub_revoked"
    assert call_fate(None, asked, [("hub-0001", started)], revoked=False) == "unreadable"


# --- finding 1: the hub went to the next patient ---------------------------------------------


def end_and_give_to_next(world: World, patient: Any, hub: Hub) -> Any:
    """Her episode ends two days ago; the same hub goes to the next patient a day later."""
    episode = CareEpisode.objects.get(patient=patient)
    episode.ended = NOW - timedelta(days=2)
    episode.save()
    following = world.patient("Next")
    CareEpisode.objects.create(
        patient=following, hub_id=hub.hub_id, started=NOW - timedelta(days=1)
    )
    return following


def test_a_request_of_an_ended_episode_tells_not_the_hub_now_the_next_patients(
    world: World, kari: Client, told: list[tuple[str, str]]
) -> None:
    first, hub = world.followed("First", BP_PLAN)
    request = asks(world, hub, timedelta(days=3), "request-of-the-first")
    following = end_and_give_to_next(world, first, hub)
    assert state_of(page(kari), first) == "call_me"  # still hers to answer (90-day window)
    response = kari.post(
        f"/worklist/acknowledge/{first.id}/", {"call_back": f"reading:{request.id}"}
    )
    assert "notice=call_episode_ended" in response["Location"]
    assert told == [], "the next patient's screen must not say a nurse is calling her"
    assert list(Acknowledgement.objects.values_list("key", flat=True)) == [f"reading:{request.id}"]
    audited(1, "episode_ended")
    assert state_of(page(kari), first) == "none"
    notice = kari.get(response["Location"]).content.decode()
    with translation.override(settings.LANGUAGE_CODE):
        assert escape(str(worklist_view.NOTICES["call_episode_ended"])) in notice
    # The next patient's own request is told to the hub, which is hers now.
    hers = asks(world, hub, timedelta(minutes=5), "request-of-the-next")
    response = kari.post(
        f"/worklist/acknowledge/{following.id}/", {"call_back": f"reading:{hers.id}"}
    )
    assert "notice=calling" in response["Location"]
    assert told == [(hub.hub_id, "request-of-the-next")]


# --- finding 2: requests that could never be answered ----------------------------------------


def test_a_revoked_hubs_request_is_acknowledged_at_the_centre_alone(
    world: World, kari: Client, told: list[tuple[str, str]]
) -> None:
    patient, hub = world.followed("Patient", BP_PLAN)
    request = asks(world, hub, timedelta(minutes=30), "request-0001")
    Hub.objects.filter(pk=hub.pk).update(revoked_at=timezone.now())
    keys = keys_in(row_of(page(kari), patient), "acknowledge_all")
    response = kari.post(
        f"/worklist/acknowledge/{patient.id}/", {"acknowledge_all": " ".join(keys)}
    )
    assert "notice=call_hub_revoked" in response["Location"]
    assert told == []
    assert Acknowledgement.objects.filter(key=f"reading:{request.id}").exists()
    audited(1, "hub_revoked")
    assert state_of(page(kari), patient) == "none"


def test_after_her_live_hub_could_not_be_told_the_nurse_may_mark_her_as_called(
    world: World, kari: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The broker (here: the centre's config) cannot be reached: the request stays, and the
    page offers to mark it as called without telling the hub; that is audited."""
    monkeypatch.delenv("DHO_CENTRE_CONFIG", raising=False)
    patient, hub = world.followed("Patient", BP_PLAN)
    request = asks(world, hub, timedelta(minutes=5), "request-0001")
    response = kari.post(
        f"/worklist/acknowledge/{patient.id}/", {"call_back": f"reading:{request.id}"}
    )
    assert "notice=call_failed" in response["Location"]
    assert not Acknowledgement.objects.exists()
    html = kari.get(response["Location"]).content.decode()
    assert 'class="call-offer"' in html
    assert keys_in(html, "call_back_quietly") == [f"reading:{request.id}"]
    quietly = kari.post(
        f"/worklist/acknowledge/{patient.id}/", {"call_back_quietly": f"reading:{request.id}"}
    )
    assert "notice=called_quietly" in quietly["Location"]
    assert Acknowledgement.objects.filter(key=f"reading:{request.id}").exists()
    audited(1, "quietly")
    assert state_of(page(kari), patient) == "none"
    # Nothing is offered for a patient who is not the user's, or has no open request.
    other, other_hub = world.followed("Another team's", BP_PLAN, team=world.other)
    asks(world, other_hub, timedelta(minutes=5), "request-0002")
    for who in (other.id, patient.id, "x"):
        shown = kari.get(f"/?notice=call_failed&call={who}").content.decode()
        assert 'class="call-offer"' not in shown


# --- finding 3: a request stored before the ingest checked its id ----------------------------


def signing_config(centre_db: str, tmp_path: Path) -> SimpleNamespace:
    """What tell_calling needs of the centre's config to issue a document (not to publish)."""
    key = tmp_path / "signing.pem"
    key.write_bytes(
        Ed25519PrivateKey.generate().private_bytes(
            Encoding.PEM, PrivateFormat.PKCS8, NoEncryption()
        )
    )
    return SimpleNamespace(database_url=centre_db, signing_key_path=key)


def sealable(hub: Hub) -> None:
    public = X25519PrivateKey.generate().public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    Hub.objects.filter(pk=hub.pk).update(
        encryption_key=base64.b64encode(public).decode(), encryption_suite="x25519"
    )


@pytest.fixture
def published(
    centre_db: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> list[list[Outgoing]]:
    """Each connection to the broker tell_calling would make: the documents handed over."""
    config = signing_config(centre_db, tmp_path)
    monkeypatch.setattr(worklist_view, "centre_config", lambda: config)
    connections: list[list[Outgoing]] = []
    monkeypatch.setattr(worklist_view, "publish", lambda _, docs: connections.append(list(docs)))
    return connections


@pytest.mark.parametrize("values", [{"request_id": "x"}, {}, {"request_id": 7}, []])
def test_a_request_without_a_valid_id_is_acknowledged_without_a_crash(
    world: World, kari: Client, published: list[list[Outgoing]], values: Any
) -> None:
    patient, hub = world.followed("Patient", BP_PLAN)
    sealable(hub)
    request = world.reading(hub, timedelta(minutes=5), kind=KIND)
    request.values_json = json.dumps(values)
    request.save()
    kari.raise_request_exception = False
    response = kari.post(
        f"/worklist/acknowledge/{patient.id}/", {"call_back": f"reading:{request.id}"}
    )
    assert response.status_code == 302 and "notice=call_unreadable" in response["Location"]
    assert published == []
    audited(1, "unreadable")


def test_tell_calling_refuses_an_id_the_hub_would_refuse_and_tells_the_others(
    world: World,
    published: list[list[Outgoing]],
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    _, hub = world.followed("Patient", BP_PLAN)
    sealable(hub)
    good = CallToTell(hub.hub_id, "request-0001")
    told = worklist_view.tell_calling([CallToTell(hub.hub_id, "x"), good])
    assert told == {good}
    assert [len(docs) for docs in published] == [1]
    logged = caplog.text + capsys.readouterr().err  # where it goes depends on the test's order
    assert "request id 'x' is not one a hub takes" in logged


# --- finding 4: one press, one connection ----------------------------------------------------


def test_one_press_hands_all_its_answers_to_the_broker_through_one_connection(
    world: World, kari: Client, published: list[list[Outgoing]]
) -> None:
    patient, hub = world.followed("Patient", BP_PLAN)
    sealable(hub)
    for n in range(4):
        asks(world, hub, timedelta(minutes=5 + n), f"request-{n:04d}")
    keys = keys_in(row_of(page(kari), patient), "call_back")
    assert len(keys) == 4
    response = kari.post(f"/worklist/acknowledge/{patient.id}/", {"call_back": " ".join(keys)})
    assert "notice=calling" in response["Location"]
    assert [len(docs) for docs in published] == [4]
    assert Acknowledgement.objects.count() == 4


# --- a hub whose clock is behind: placed by the centre's receipt -----------------------------


def behind(world: World, hub: Hub, days: int, request_id: str) -> Any:
    """A request as a hub whose clock is `days` behind sends it (asked_at, and so measured_at
    and received_at, by its clock), stored by the centre 3 minutes ago."""
    request = asks(world, hub, timedelta(days=days, minutes=3), request_id)
    request.received_at = request.measured_at  # hub/core/call_request.py: both its asked_at
    request.stored_at = NOW - timedelta(minutes=3)
    request.save()
    return request


def test_a_request_from_a_hub_whose_clock_is_behind_reaches_her_row_and_her_hub(
    world: World, kari: Client, told: list[tuple[str, str]]
) -> None:
    """By the hub's clock she asked before her episode began: she was on no worklist row,
    while her screen said the nurse had it (a Raspberry Pi without a clock, before NTP)."""
    caller, hub = world.followed("Caller", BP_PLAN, started=NOW - timedelta(hours=6))
    request = behind(world, hub, 2, "request-0001")
    assert state_of(page(kari), caller) == "call_me"
    response = kari.post(
        f"/worklist/acknowledge/{caller.id}/", {"call_back": f"reading:{request.id}"}
    )
    assert "notice=calling" in response["Location"]
    assert told == [(hub.hub_id, "request-0001")]


def test_a_request_from_a_hub_whose_clock_is_behind_is_not_the_previous_patients(
    world: World, kari: Client, told: list[tuple[str, str]]
) -> None:
    """The hub's clock puts it in the previous patient's episode: it is the next patient's,
    who holds the hub now, and her hub is told."""
    first, hub = world.followed("First", BP_PLAN, started=NOW - timedelta(days=30))
    following = end_and_give_to_next(world, first, hub)  # ended 2 days ago, hers 1 day ago
    request = behind(world, hub, 3, "request-of-the-next")
    html = page(kari)
    assert state_of(html, first) == "none"
    assert state_of(html, following) == "call_me"
    # Her patient page lists it too, and the previous patient's does not.
    theirs, hers = (
        section(kari.get(f"/patients/{p.id}/").content.decode(), "calls")
        for p in (first, following)
    )
    assert theirs == "" and hers.count("<tr>") == 2  # the header and her request
    response = kari.post(
        f"/worklist/acknowledge/{following.id}/", {"call_back": f"reading:{request.id}"}
    )
    assert "notice=calling" in response["Location"]
    assert told == [(hub.hub_id, "request-of-the-next")]


# --- two nurses pressing "I am calling now" at once -------------------------------------------


def test_of_two_nurses_pressing_at_once_one_calls_and_the_other_is_told_who(
    world: World, kari: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Per presses while Kari's press is at the broker: only Kari's tells the hub; Per is told
    that Kari is calling. (Both were told to call her, and the hub was told twice.)"""
    add_user("per", "nurse", ["Øst"], PASSWORD, "Per Hansen")
    per = Client()
    sign_in(per, "per")
    caller, hub = world.followed("Caller", BP_PLAN)
    request = asks(world, hub, timedelta(minutes=5), "request-0001")
    key = f"reading:{request.id}"
    told: list[tuple[str, str]] = []
    pers: list[str] = []

    def tell(asked: Sequence[CallToTell]) -> set[CallToTell]:
        told.extend((c.hub_id, c.request_id) for c in asked)
        if len(told) == 1 and not pers:  # Per presses while Kari's press is at the broker
            pers.append("")
            pers[0] = per.post(f"/worklist/acknowledge/{caller.id}/", {"call_back": key})[
                "Location"
            ]
        return set(asked)

    monkeypatch.setattr(worklist_view, "tell_calling", tell)
    karis = kari.post(f"/worklist/acknowledge/{caller.id}/", {"call_back": key})["Location"]
    assert "notice=calling" in karis
    assert "notice=already_calling" in pers[0]
    assert told == [(hub.hub_id, "request-0001")]
    assert list(Acknowledgement.objects.values_list("by__username", flat=True)) == ["kari"]
    notice = per.get(pers[0]).content.decode()
    with translation.override(settings.LANGUAGE_CODE):
        assert escape(worklist_view.already_calling("Kari Nordmann")) in notice


def test_a_claim_whose_hub_could_not_be_told_is_undone_and_another_nurse_may_call(
    world: World, kari: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Kari's press claims the request, her hub cannot be told: the claim is undone, so the
    request stays on the worklist and Per's press, later, tells the hub."""
    add_user("per", "nurse", ["Øst"], PASSWORD, "Per Hansen")
    per = Client()
    sign_in(per, "per")
    caller, hub = world.followed("Caller", BP_PLAN)
    request = asks(world, hub, timedelta(minutes=5), "request-0001")
    key = f"reading:{request.id}"
    reachable: list[bool] = [False]

    def tell(asked: Sequence[CallToTell]) -> set[CallToTell]:
        return set(asked) if reachable[0] else set()

    monkeypatch.setattr(worklist_view, "tell_calling", tell)
    failed = kari.post(f"/worklist/acknowledge/{caller.id}/", {"call_back": key})["Location"]
    assert "notice=call_failed" in failed
    assert not Acknowledgement.objects.exists()
    assert state_of(page(kari), caller) == "call_me"
    reachable[0] = True
    assert (
        "notice=calling"
        in per.post(f"/worklist/acknowledge/{caller.id}/", {"call_back": key})["Location"]
    )
    assert list(Acknowledgement.objects.values_list("by__username", flat=True)) == ["per"]
