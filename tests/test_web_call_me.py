"""Ring meg ("call me") on the worklist (Django's test client, SQLite and PostgreSQL): a patient
who asked to be called comes first, with since when, and her request has one button, "I am
calling now"; pressing it (or acknowledging all of her row) acknowledges the request, tells her
hub and writes the audit log; a request whose hub cannot be told stays on the worklist; her
patient page lists it among her readings. The real hub and broker:
tests/test_call_me_end_to_end.py."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import timedelta

import pytest
from django.conf import settings
from django.test import Client
from django.utils import timezone, translation
from django.utils.translation import gettext

from centre.followup.models import Acknowledgement, Review
from centre.people.models import AuditEntry
from centre.records.models import Hub, Reading
from centre.web.views import worklist as worklist_view
from centre.web.views.worklist import STATE_LABELS, CallToTell, moment
from centre.web.words import kind_words
from hub.core.call_request import KIND
from tests.test_web_worklist import (
    BP_PLAN,
    HIGH,
    World,
    keys_in,
    page,
    row_ids,
    row_of,
    state_of,
)
from tests.test_web_worklist import kari as kari
from tests.test_web_worklist import world as world


def asks(world: World, hub: Hub, ago: timedelta, request_id: str) -> Reading:
    """A call request as the ingest stores it."""
    reading = world.reading(hub, ago, kind=KIND)
    reading.values_json = json.dumps(
        {"request_id": request_id, "asked_at": reading.measured_at.isoformat()}
    )
    reading.characteristic, reading.device_address = "dho:call-request", "hub-screen"
    reading.save()
    return reading


@pytest.fixture
def told(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, str]]:
    """The hubs told that a nurse is calling (hub id, request id), instead of the broker."""
    calls: list[tuple[str, str]] = []

    def tell(asked: Sequence[CallToTell]) -> set[CallToTell]:
        calls.extend((call.hub_id, call.request_id) for call in asked)
        return set(asked)

    monkeypatch.setattr(worklist_view, "tell_calling", tell)
    return calls


def test_who_asked_to_be_called_comes_first_with_since_when_and_one_button(
    world: World, kari: Client
) -> None:
    red, red_hub = world.followed("Red since yesterday", BP_PLAN)
    world.reading(red_hub, timedelta(days=1), values=HIGH)
    caller, hub = world.followed("Caller", BP_PLAN)
    request = asks(world, hub, timedelta(minutes=5), "request-0001")
    world.reading(hub, timedelta(hours=2), values=HIGH)  # red as well: on the same row
    html = page(kari)
    assert row_ids(html)[:2] == [caller.id, red.id]
    assert state_of(html, caller) == "call_me"
    row = row_of(html, caller)
    with translation.override(settings.LANGUAGE_CODE):
        assert str(STATE_LABELS["call_me"]) in row
    since = moment(request.received_at)  # the centre's time: a hub's clock may be wrong
    assert since is not None and f'<time datetime="{since.iso}">{since.text}</time>' in row
    assert keys_in(row, "call_back") == [f"reading:{request.id}"]
    # The red reading keeps its own buttons; the request has only "I am calling now".
    assert f"reading:{request.id}" not in keys_in(row, "acknowledge")
    assert keys_in(row, "acknowledge")


def test_i_am_calling_now_acknowledges_tells_her_hub_and_is_audited(
    world: World, kari: Client, told: list[tuple[str, str]]
) -> None:
    caller, hub = world.followed("Caller", BP_PLAN)
    request = asks(world, hub, timedelta(minutes=5), "request-0001")
    response = kari.post(
        f"/worklist/acknowledge/{caller.id}/", {"call_back": f"reading:{request.id}"}
    )
    assert response.status_code == 302 and "notice=calling" in response["Location"]
    assert told == [(hub.hub_id, "request-0001")]
    ack = Acknowledgement.objects.get()
    assert (ack.key, ack.by.username) == (f"reading:{request.id}", "kari")
    entries = AuditEntry.objects.filter(user="kari", action="change", patient=caller)
    with translation.override(settings.LANGUAGE_CODE):
        said = {worklist_view._acknowledged(1), worklist_view._told(1)}
    assert sorted(entries.values_list("what", flat=True)) == sorted(said)
    assert state_of(page(kari), caller) == "none"
    notice = kari.get(response["Location"])
    assert notice.status_code == 200 and 'class="notice"' in notice.content.decode()
    # Pressed again (a second tab, a double click): nothing more is sent.
    again = kari.post(f"/worklist/acknowledge/{caller.id}/", {"call_back": f"reading:{request.id}"})
    assert "notice=nothing" in again["Location"] and len(told) == 1


def test_acknowledging_all_of_her_row_tells_her_hub_too(
    world: World, kari: Client, told: list[tuple[str, str]]
) -> None:
    caller, hub = world.followed("Caller", BP_PLAN)
    asks(world, hub, timedelta(minutes=5), "request-0001")
    world.reading(hub, timedelta(hours=2), values=HIGH)
    keys = keys_in(row_of(page(kari), caller), "acknowledge_all")
    response = kari.post(f"/worklist/acknowledge/{caller.id}/", {"acknowledge_all": " ".join(keys)})
    assert "notice=calling" in response["Location"]
    assert told == [(hub.hub_id, "request-0001")]
    assert Acknowledgement.objects.count() == 2 and Review.objects.count() == 1


def test_a_request_whose_hub_cannot_be_told_stays_on_the_worklist(
    world: World, kari: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without the centre's config (or its broker) the hub cannot hear that a nurse is calling:
    the request is not acknowledged, so she sees it still and can press again; the other
    findings acknowledged with it stand, and the patient is not counted as reviewed."""
    monkeypatch.delenv("DHO_CENTRE_CONFIG", raising=False)
    caller, hub = world.followed("Caller", BP_PLAN)
    request = asks(world, hub, timedelta(minutes=5), "request-0001")
    high = world.reading(hub, timedelta(hours=2), values=HIGH)
    keys = keys_in(row_of(page(kari), caller), "acknowledge_all")
    response = kari.post(f"/worklist/acknowledge/{caller.id}/", {"acknowledge_all": " ".join(keys)})
    assert "notice=call_failed" in response["Location"]
    assert list(Acknowledgement.objects.values_list("key", flat=True)) == [f"reading:{high.id}"]
    assert not Review.objects.exists()
    html = page(kari)
    assert state_of(html, caller) == "call_me"
    assert keys_in(row_of(html, caller), "call_back") == [f"reading:{request.id}"]
    notice = kari.get(response["Location"])
    assert notice.status_code == 200 and 'class="notice"' in notice.content.decode()


def test_another_patients_request_or_a_made_up_key_tells_no_hub(
    world: World, kari: Client, told: list[tuple[str, str]]
) -> None:
    caller, hub = world.followed("Caller", BP_PLAN)
    other, other_hub = world.followed("Other", BP_PLAN)
    theirs = asks(world, other_hub, timedelta(minutes=5), "request-0002")
    asks(world, hub, timedelta(minutes=5), "request-0001")
    for value in (f"reading:{theirs.id}", "reading:999999", "reading:" + "9" * 40, "x" * 5000):
        response = kari.post(f"/worklist/acknowledge/{caller.id}/", {"call_back": value})
        assert "notice=nothing" in response["Location"]
    assert told == [] and not Acknowledgement.objects.exists()
    assert state_of(page(kari), other) == state_of(page(kari), caller) == "call_me"


def section(html: str, section_id: str) -> str:
    start = html.find(f'<section id="{section_id}"')
    return html[start : html.index("</section>", start)] if start >= 0 else ""


def test_the_patient_page_lists_her_call_requests_apart_from_her_readings(
    world: World, kari: Client, told: list[tuple[str, str]]
) -> None:
    """When she asked and who answered when, in words; not a row of the readings table with
    the request's id and an ISO time, and no point on a plot."""
    caller, hub = world.followed("Caller", BP_PLAN)
    answered = asks(world, hub, timedelta(days=2), "request-0001")
    kari.post(f"/worklist/acknowledge/{caller.id}/", {"call_back": f"reading:{answered.id}"})
    waiting = asks(world, hub, timedelta(minutes=5), "request-0002")
    world.reading(hub, timedelta(hours=2), values=HIGH)
    response = kari.get(f"/patients/{caller.id}/")
    assert response.status_code == 200
    html = response.content.decode()
    calls = section(html, "calls")
    rows = calls.split("<tr>")[2:]  # after the header row
    ack = Acknowledgement.objects.get(key=f"reading:{answered.id}")
    local = timezone.localtime
    assert [f"{local(waiting.stored_at):%d.%m.%Y %H:%M}" in rows[0], len(rows)] == [True, 2]
    with translation.override(settings.LANGUAGE_CODE):
        assert gettext("not answered yet") in rows[0]
        assert f"{local(ack.at):%d.%m.%Y %H:%M}" in rows[1] and "Kari" in rows[1]
        assert kind_words(KIND) not in section(html, "readings")
    assert "request-000" not in html


def test_a_patient_who_never_asked_has_no_call_list(world: World, kari: Client) -> None:
    caller, hub = world.followed("Caller", BP_PLAN)
    world.reading(hub, timedelta(hours=2), values=HIGH)
    html = kari.get(f"/patients/{caller.id}/").content.decode()
    assert section(html, "readings") and not section(html, "calls")
