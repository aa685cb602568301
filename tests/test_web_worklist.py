"""The worklist, the centre's home page (issue 13): worst first, only the nurse's teams, only
each episode's readings, acknowledgements that last, filters, the live refresh's fragment,
hostile input, and a number of queries that does not grow with the number of patients. Django's
test client on SQLite and PostgreSQL."""

from __future__ import annotations

import itertools
import json
import re
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from django.conf import settings
from django.contrib.auth.models import User
from django.db import connection
from django.http import QueryDict
from django.test import Client, RequestFactory, override_settings
from django.test.utils import CaptureQueriesContext
from django.urls import NoReverseMatch, URLPattern, URLResolver, include, path, reverse
from django.utils import timezone, translation
from django.views.i18n import set_language
from django_otp.plugins.otp_totp.models import TOTPDevice

from centre.followup.models import Acknowledgement, ReadingMark, Review
from centre.people.models import AuditEntry, CareEpisode, Municipality, Patient, Team
from centre.people.national_id import _FIRST, _SECOND, _check_digit, check_national_id
from centre.records.models import AcceptedBatch, Document, Hub, Reading
from centre.store import CentreStore
from centre.web import urls as web_urls
from centre.web.accounts import add_user
from centre.web.views.worklist import RECEIPT_TEXT, Asked, Shown, asked, patient_page_exists
from centre.web.views.worklist_html import CSRF_MARK, KeptRows, rows_html
from hub.wire.status import read_status, status_payload
from testbed.home import SimulatedHome
from tests.test_web_signin import PASSWORD, code_for

NOW = timezone.now()
BP_PLAN = {"thresholds": {"blood_pressure": {"systolic": {"max": 180}}}}
WEIGHT_EVERY_MORNING = {"schedule": [{"kind": "weight", "times": ["08:00"]}]}


def sign_in(client: Client, username: str) -> None:
    """As tests/test_web_signin.py's, naming the device the code is from (the installed
    django-otp refuses a code without one), and with the CSRF token a browser sends."""
    client.get("/login/")
    token = client.cookies["csrftoken"].value
    client.post(
        "/login/", {"username": username, "password": PASSWORD, "csrfmiddlewaretoken": token}
    )
    device = TOTPDevice.objects.get(user__username=username)
    response = client.post(
        "/login/code/",
        {
            "otp_token": code_for(username),
            "otp_device": device.persistent_id,
            "csrfmiddlewaretoken": client.cookies["csrftoken"].value,
        },
    )
    assert response.status_code == 302, response.content[:500]


def national_ids() -> Iterator[str]:
    """Valid fødselsnummer of people born 1 January 1950 (individual numbers 100-499)."""
    for individual in range(100, 500):
        digits = f"010150{individual:03d}"
        first = _check_digit(digits, _FIRST)
        if first is None:
            continue
        second = _check_digit(digits + str(first), _SECOND)
        if second is None:
            continue
        number = f"{digits}{first}{second}"
        check_national_id(number)
        yield number


@dataclass
class World:
    east: Team
    west: Team
    other: Team
    ids: Iterator[str]
    hubs: Iterator[int]
    seqs: Iterator[int]

    def patient(self, name: str, team: Team | None = None) -> Patient:
        return Patient.objects.create(
            name=name,
            birth_date=date(1950, 1, 1),
            national_id=next(self.ids),
            diagnosis="copd",
            team=team or self.east,
        )

    def hub(self) -> Hub:
        return Hub.objects.create(
            hub_id=f"hub-{next(self.hubs):04d}", signing_key="k", enrolled_at=NOW
        )

    def followed(
        self,
        name: str,
        plan: dict[str, Any] | None = None,
        team: Team | None = None,
        started: datetime | None = None,
    ) -> tuple[Patient, Hub]:
        """A patient with a hub since `started` (10 days ago) and a care plan issued then."""
        patient, hub = self.patient(name, team), self.hub()
        started = started or NOW - timedelta(days=10)
        CareEpisode.objects.create(patient=patient, hub_id=hub.hub_id, started=started)
        if plan is not None:
            send_plan(hub, plan, started)
        return patient, hub

    def reading(
        self,
        hub: Hub,
        ago: timedelta,
        kind: str = "blood_pressure",
        values: dict[str, Any] | None = None,
        outcome: str = "ok",
        problems: tuple[str, ...] = (),
    ) -> Reading:
        at = NOW - ago
        seq = next(self.seqs)
        return Reading.objects.create(
            hub=hub,
            seq=seq,
            kind=kind,
            characteristic="2a35",
            device_address="00:11:22:33:44:55",
            measured_at=at,
            time_source="device",
            hub_clock_synced=True,
            received_at=at + timedelta(minutes=1),
            outcome=outcome,
            problems_json=json.dumps(list(problems)),
            raw_hex="00",
            values_json=json.dumps(values or {"systolic": 128.0, "diastolic": 80.0}),
            batch_id="00000000-0000-4000-8000-000000000001",
            stored_at=at + timedelta(minutes=1),
            content_digest=f"{seq:064x}",
        )


def send_plan(hub: Hub, plan: dict[str, Any], issued_at: datetime) -> None:
    version = Document.objects.filter(hub=hub, doc_type="care_plan").count() + 1
    Document.objects.create(
        hub=hub,
        doc_type="care_plan",
        version=version,
        issued_at=issued_at,
        content_json=json.dumps(plan),
    )


HIGH = {"systolic": 195.0, "diastolic": 100.0}


def _no_reports(request: Any) -> Any:
    raise AssertionError("not the worklist's")


# While the reports page is being built (base.html links to it), a stand-in of that name; the
# fixture below uses it only when the real one is not there.
urlpatterns: list[URLPattern | URLResolver] = [
    path("language/", set_language, name="set_language"),
    path(
        "",
        include(
            (
                [*web_urls.urlpatterns, path("reports/", _no_reports, name="reports")],  # type: ignore[list-item]
                web_urls.app_name,
            )
        ),
    ),
]


@pytest.fixture(autouse=True)
def pages_linked_from_every_page() -> Iterator[None]:
    try:
        reverse("web:reports")
    except NoReverseMatch:
        with override_settings(ROOT_URLCONF=__name__):
            yield
        return
    yield


@pytest.fixture
def world(centre_db: str) -> World:
    oslo = Municipality.objects.create(name="Oslo", number="0301")
    baerum = Municipality.objects.create(name="Bærum", number="3201")
    east = Team.objects.create(name="Øst", municipality=oslo)
    west = Team.objects.create(name="Vest", municipality=baerum)
    other = Team.objects.create(name="Annet", municipality=oslo)
    add_user("kari", "nurse", ["Øst", "Vest"], PASSWORD, "Kari Nordmann")
    add_user("ola", "nurse", ["Annet"], PASSWORD, "Ola Nordmann")
    return World(east, west, other, national_ids(), itertools.count(1), itertools.count(1))


@pytest.fixture
def kari(world: World) -> Client:
    client = Client()
    sign_in(client, "kari")
    return client


def row_ids(html: str) -> list[int]:
    return [int(found) for found in re.findall(r'<tr id="patient-(\d+)"', html)]


def row_of(html: str, patient: Patient) -> str:
    found = re.search(rf'<tr id="patient-{patient.id}" class="row-(\w+)">(.*?)</tr>', html, re.S)
    assert found is not None, f"no row for {patient.name}"
    return found.group(0)


def state_of(html: str, patient: Patient) -> str:
    found = re.search(rf'<tr id="patient-{patient.id}" class="row-(\w+)">', html)
    assert found is not None, f"no row for {patient.name}"
    return found.group(1)


def keys_in(row: str, button: str = "acknowledge") -> list[str]:
    """The keys the row's `button`s post (each finding's; "acknowledge_all": the row's)."""
    return [
        key
        for value in re.findall(rf'name="{button}" value="([^"]+)"', row)
        for key in value.split()
    ]


def page(client: Client, path: str = "/", **params: str) -> str:
    response = client.get(path, params)
    assert response.status_code == 200, response.content[:500]
    return response.content.decode()


def test_patients_come_worst_first_red_yellow_missing_then_nothing(
    world: World, kari: Client
) -> None:
    calm, calm_hub = world.followed("Calm", BP_PLAN)
    world.reading(calm_hub, timedelta(hours=3))
    missing, _ = world.followed("Missing", WEIGHT_EVERY_MORNING)
    yellow, yellow_hub = world.followed("Yellow", BP_PLAN)
    world.reading(yellow_hub, timedelta(hours=5), outcome="flagged", problems=("irregular_pulse",))
    red, red_hub = world.followed("Red", BP_PLAN)
    world.reading(red_hub, timedelta(hours=1), values=HIGH)
    html = page(kari)
    assert row_ids(html) == [red.id, yellow.id, missing.id, calm.id]
    assert [state_of(html, p) for p in (red, yellow, missing, calm)] == [
        "red",
        "yellow",
        "missing",
        "none",
    ]
    # The state is a word and a colour: a class the style sheet colours, with text in it.
    assert re.search(r'<span class="state state-red">\s*\S', row_of(html, red))
    assert "systolic_above_care_plan" in row_of(html, red)
    assert 'id="worklist-rows"' in html and "web/live.js" in html
    if patient_page_exists():  # the patient page is built apart: linked once it is there
        assert f'<a href="/patients/{red.id}/">Red</a>' in row_of(html, red)


def test_a_reused_hub_shows_each_patient_only_her_own_episode(world: World, kari: Client) -> None:
    before, hub = world.followed("Before", started=NOW - timedelta(days=10))
    episode = CareEpisode.objects.get(patient=before)
    episode.ended = NOW - timedelta(days=5)
    episode.save()
    after = world.patient("After")
    CareEpisode.objects.create(patient=after, hub_id=hub.hub_id, started=NOW - timedelta(days=5))
    send_plan(hub, BP_PLAN, NOW - timedelta(days=5))
    world.reading(hub, timedelta(days=7), outcome="flagged", problems=("irregular_pulse",))
    world.reading(hub, timedelta(days=12), outcome="failed", problems=("cuff_error",))  # no one's
    html = page(kari)
    assert state_of(html, before) == "yellow"
    assert keys_in(row_of(html, before)) and "cuff_error" not in html
    assert state_of(html, after) == "none", "the earlier patient's reading is not hers"
    world.reading(hub, timedelta(hours=1), values=HIGH)
    html = page(kari)
    assert state_of(html, after) == "red" and state_of(html, before) == "yellow"


def test_another_teams_patient_is_absent_and_cannot_be_acknowledged(
    world: World, kari: Client
) -> None:
    theirs, hub = world.followed("Theirs", BP_PLAN, team=world.other)
    red = world.reading(hub, timedelta(hours=1), values=HIGH)
    mine, _ = world.followed("Mine", BP_PLAN)
    html = page(kari)
    assert row_ids(html) == [mine.id] and "Theirs" not in html
    response = kari.post(
        f"/worklist/acknowledge/{theirs.id}/", {"acknowledge": f"reading:{red.id}"}
    )
    assert response.status_code == 404
    assert not Acknowledgement.objects.exists()
    ola = Client()
    sign_in(ola, "ola")
    assert row_ids(page(ola)) == [theirs.id]


def test_acknowledging_one_finding_leaves_the_others(world: World, kari: Client) -> None:
    patient, hub = world.followed("Kari's patient", BP_PLAN)
    high = world.reading(hub, timedelta(hours=2), values=HIGH)
    world.reading(
        hub, timedelta(hours=1), kind="weight", values={"weight": 80.0}, outcome="flagged"
    )
    row = row_of(page(kari), patient)
    assert state_of(row, patient) == "red"
    response = kari.post(
        f"/worklist/acknowledge/{patient.id}/", {"acknowledge": f"reading:{high.id}"}
    )
    assert response.status_code == 302 and "notice=acknowledged" in response["Location"]
    ack = Acknowledgement.objects.get()
    assert (ack.key, ack.by.username, ack.with_receipt) == (f"reading:{high.id}", "kari", False)
    assert state_of(page(kari), patient) == "yellow"
    assert AuditEntry.objects.filter(user="kari", action="change", patient=patient).count() == 1
    assert not Review.objects.exists(), "one finding is not a review of the patient"


def test_acknowledging_all_of_a_patient_clears_the_row_and_counts_as_a_review(
    world: World, kari: Client
) -> None:
    patient, hub = world.followed("All of them", {**BP_PLAN, **WEIGHT_EVERY_MORNING})
    world.reading(hub, timedelta(hours=2), values=HIGH)
    world.reading(hub, timedelta(hours=3), outcome="failed", problems=("cuff_error",))
    row = row_of(page(kari), patient)
    keys = keys_in(row, "acknowledge_all")
    assert any(k.startswith("missing:weight:") for k in keys) and len(keys) >= 3
    assert sorted(keys) == sorted(keys_in(row)), "all: every finding's keys"
    response = kari.post(
        f"/worklist/acknowledge/{patient.id}/", {"acknowledge_all": " ".join(keys)}
    )
    assert response.status_code == 302
    html = page(kari)
    assert state_of(html, patient) == "none"
    assert "Kari Nordmann" in row_of(html, patient), "last reviewed, and by whom"
    assert Review.objects.filter(patient=patient, by__username="kari").count() == 1


def scored(score: float) -> dict[str, Any]:
    """Answers as the hub sends them: the QuestionnaireResponse with its engine's total."""
    extension = [{"url": "urn:dho:questionnaire-total-score", "valueDecimal": score}]
    return {"resourceType": "QuestionnaireResponse", "status": "completed", "extension": extension}


def test_answers_scored_over_the_plan_s_limit_are_red_until_acknowledged(
    world: World, kari: Client
) -> None:
    plan = {"thresholds": {"questionnaire": {"score": {"max": 4}}}}
    patient, hub = world.followed("Scored", plan)
    calm, _ = world.followed("Calm", plan)
    world.reading(hub, timedelta(hours=3), kind="questionnaire_response", values=scored(4))
    high = world.reading(hub, timedelta(hours=1), kind="questionnaire_response", values=scored(7))
    row = row_of(page(kari), patient)
    assert state_of(row, patient) == "red" and state_of(page(kari), calm) == "none"
    assert 'data-kind="questionnaire"' in row and 'data-codes="score_7_above_4"' in row
    assert keys_in(row) == [f"questionnaire:{high.id}"]  # 4 is at the limit, not over it
    kari.post(f"/worklist/acknowledge/{patient.id}/", {"acknowledge": f"questionnaire:{high.id}"})
    assert state_of(page(kari), patient) == "none"


SCORE_PLAN = {"thresholds": {"questionnaire": {"score": {"max": 4}}}}


def test_a_red_answer_left_alone_for_three_weeks_still_shows_until_acknowledged(
    world: World, kari: Client
) -> None:
    """Attacker review: answers come "ok" from the hub (the centre judges the score), so the
    worklist keeps them for the long window, as it keeps readings that were not ok."""
    patient, hub = world.followed("Old answer", SCORE_PLAN, started=NOW - timedelta(days=60))
    old = world.reading(hub, timedelta(days=20), kind="questionnaire_response", values=scored(9))
    assert state_of(page(kari), patient) == "red"
    kari.post(f"/worklist/acknowledge/{patient.id}/", {"acknowledge": f"questionnaire:{old.id}"})
    assert state_of(page(kari), patient) == "none"


def test_a_red_answer_delivered_after_a_two_week_outage_shows(world: World, kari: Client) -> None:
    patient, hub = world.followed("Offline hub", SCORE_PLAN, started=NOW - timedelta(days=60))
    late = world.reading(hub, timedelta(days=15), kind="questionnaire_response", values=scored(9))
    Reading.objects.filter(id=late.id).update(received_at=NOW, stored_at=NOW)
    assert state_of(page(kari), patient) == "red"


def test_acknowledge_all_with_nothing_current_marks_no_review(world: World, kari: Client) -> None:
    patient, _hub = world.followed("Stale", BP_PLAN)
    response = kari.post(f"/worklist/acknowledge/{patient.id}/", {"acknowledge_all": "reading:9"})
    assert response.status_code == 302 and "notice=nothing" in response["Location"]
    assert not Review.objects.filter(patient=patient).exists()


def test_acknowledge_all_after_a_new_red_finding_marks_no_review(
    world: World, kari: Client
) -> None:
    """What she acknowledges is what she saw; a red that came after the page was drawn stays,
    and she is not marked as having reviewed the patient."""
    patient, hub = world.followed("Turned red", BP_PLAN)
    world.reading(hub, timedelta(hours=3), values=HIGH)
    seen = keys_in(row_of(page(kari), patient), "acknowledge_all")
    world.reading(hub, timedelta(hours=1), values={"systolic": 230.0, "diastolic": 120.0})
    response = kari.post(
        f"/worklist/acknowledge/{patient.id}/", {"acknowledge_all": " ".join(seen)}
    )
    assert "notice=changed" in response["Location"]
    assert Acknowledgement.objects.filter(patient=patient).count() == len(seen)
    assert state_of(page(kari), patient) == "red"
    assert not Review.objects.filter(patient=patient).exists()


def test_an_acknowledged_finding_never_comes_back(world: World, kari: Client) -> None:
    patient, hub = world.followed("Acknowledged", BP_PLAN, started=NOW - timedelta(days=60))
    old = world.reading(hub, timedelta(days=20), outcome="flagged", problems=("irregular_pulse",))
    html = page(kari)
    assert state_of(html, patient) == "yellow", "not ok and not acknowledged: shown after 14 days"
    kari.post(f"/worklist/acknowledge/{patient.id}/", {"acknowledge": f"reading:{old.id}"})
    assert state_of(page(kari), patient) == "none"
    again = kari.post(f"/worklist/acknowledge/{patient.id}/", {"acknowledge": f"reading:{old.id}"})
    assert "notice=nothing" in again["Location"]
    assert Acknowledgement.objects.count() == 1
    assert state_of(page(kari, "/worklist/rows/"), patient) == "none"


def test_a_quiet_hub_shows_as_offline_until_acknowledged_however_long_ago(
    world: World, kari: Client
) -> None:
    patient, hub = world.followed("Quiet", BP_PLAN, started=NOW - timedelta(days=200))
    AcceptedBatch.objects.create(
        hub=hub,
        batch_id="00000000-0000-4000-8000-000000000009",
        stored_at=NOW - timedelta(days=120),
    )
    row = row_of(page(kari), patient)
    assert state_of(row, patient) == "hub_offline"
    (key,) = keys_in(row)
    assert key.startswith("hub_offline:")
    kari.post(f"/worklist/acknowledge/{patient.id}/", {"acknowledge": key})
    Acknowledgement.objects.update(at=NOW - timedelta(days=100))  # acknowledged long ago
    assert state_of(page(kari), patient) == "none"


def test_an_outbox_filling_up_shows_on_the_next_page_until_the_hub_says_it_is_over(
    world: World, kari: Client, centre_db: str
) -> None:
    """The alarm a hub's status carries (centre/presence.py), through the ingest's store: it
    changes the hub's row in place, so the worklist watches the alarm's own changes."""
    patient, hub = world.followed("Outbox", BP_PLAN)
    world.reading(hub, timedelta(hours=3))
    store = CentreStore(centre_db)

    def says(alarm: str | None, ago: timedelta) -> None:
        at = (NOW - ago).astimezone(UTC).isoformat(timespec="milliseconds")
        payload = status_payload(hub.hub_id, "online", at, at, alarm, 1)
        store.record_status(hub.hub_id, read_status(payload, hub.hub_id), live=True)

    assert state_of(page(kari), patient) == "none"  # kept: the alarm must drop it
    says("near_full", timedelta(hours=2))
    row = row_of(page(kari), patient)
    assert state_of(row, patient) == "outbox_filling"
    assert "Usendte målinger hoper seg opp" in row
    (key,) = keys_in(row)
    assert key.startswith("outbox:near_full:")
    says(None, timedelta(hours=1))  # the hub sent its backlog
    assert state_of(page(kari), patient) == "none"
    says("over_budget", timedelta(minutes=30))
    row = row_of(page(kari), patient)
    assert state_of(row, patient) == "outbox_filling"
    kari.post(f"/worklist/acknowledge/{patient.id}/", {"acknowledge": keys_in(row)[0]})
    assert state_of(page(kari), patient) == "none"
    says("over_budget", timedelta(minutes=10))  # the same alarm, still on: not again
    assert state_of(page(kari), patient) == "none"


def test_a_reading_marked_invalid_raises_nothing(world: World, kari: Client) -> None:
    patient, hub = world.followed("Invalid", BP_PLAN)
    high = world.reading(hub, timedelta(hours=2), values=HIGH)
    ReadingMark.objects.create(
        reading=high, reason="cuff on wrong", by=User.objects.get(username="kari")
    )
    assert state_of(page(kari), patient) == "none"


def test_all_green_marks_only_the_patients_with_nothing_to_see(world: World, kari: Client) -> None:
    green = [world.followed(f"Green {n}", BP_PLAN)[0] for n in range(3)]
    _, red_hub = world.followed("Red", BP_PLAN)
    world.reading(red_hub, timedelta(hours=1), values=HIGH)
    response = kari.post("/worklist/all-green/")
    assert response.status_code == 302 and "notice=reviewed" in response["Location"]
    assert set(Review.objects.values_list("patient_id", flat=True)) == {p.id for p in green}
    assert AuditEntry.objects.filter(user="kari", action="change").count() == 3


def test_a_receipt_that_cannot_be_sent_leaves_the_acknowledgement_and_says_so(
    world: World, kari: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("DHO_CENTRE_CONFIG", raising=False)
    patient, hub = world.followed("Receipt", BP_PLAN)
    high = world.reading(hub, timedelta(hours=1), values=HIGH)
    response = kari.post(
        f"/worklist/acknowledge/{patient.id}/", {"acknowledge_with_receipt": f"reading:{high.id}"}
    )
    assert "notice=receipt_failed" in response["Location"]
    assert Acknowledgement.objects.get().with_receipt is False
    notice = kari.get(response["Location"])
    assert notice.status_code == 200 and 'class="notice"' in notice.content.decode()


def test_the_fragment_is_the_rows_alone_and_shows_a_new_red_reading(
    world: World, kari: Client
) -> None:
    patient, hub = world.followed("Live", BP_PLAN)
    rows = page(kari, "/worklist/rows/")
    assert "<html" not in rows and "<tbody" not in rows
    assert state_of(rows, patient) == "none"
    world.reading(hub, timedelta(seconds=10), values=HIGH)
    assert state_of(page(kari, "/worklist/rows/"), patient) == "red"
    assert Client().get("/worklist/rows/").status_code == 302, "signed out: to the login"


def test_the_live_refresh_is_logged_but_not_every_four_seconds(world: World, kari: Client) -> None:
    world.followed("Logged", BP_PLAN)
    before = AuditEntry.objects.filter(action="view").count()
    for _ in range(3):
        page(kari, "/worklist/rows/")
    assert AuditEntry.objects.filter(action="view").count() == before + 1


def test_filters_by_team_municipality_and_state(world: World, kari: Client) -> None:
    east_red, hub = world.followed("East red", BP_PLAN)
    world.reading(hub, timedelta(hours=1), values=HIGH)
    east_calm, _ = world.followed("East calm", BP_PLAN)
    west_calm, _ = world.followed("West calm", BP_PLAN, team=world.west)
    assert set(row_ids(page(kari, team=str(world.west.id)))) == {west_calm.id}
    bærum = world.west.municipality_id
    assert set(row_ids(page(kari, municipality=str(bærum)))) == {west_calm.id}
    assert row_ids(page(kari, state="red")) == [east_red.id]
    assert row_ids(page(kari, state="attention")) == [east_red.id]
    assert set(row_ids(page(kari, state="none"))) == {east_calm.id, west_calm.id}
    # Another team's id is not a filter she may choose: refused, and everything of hers shown.
    refused = page(kari, team=str(world.other.id))
    assert set(row_ids(refused)) == {east_red.id, east_calm.id, west_calm.id}
    assert 'class="error"' in refused
    live = page(kari, state="red")
    assert 'data-rows-url="/worklist/rows/?state=red&amp;page=1"' in live
    assert row_ids(page(kari, "/worklist/rows/", state="red")) == [east_red.id]


@pytest.mark.parametrize(
    "params",
    [
        {"team": "abc"},
        {"team": "9" * 40},
        {"municipality": "-1"},
        {"state": "<script>alert(1)</script>"},
        {"team": "1" * 5000, "state": "x" * 100_000},
        {"notice": "<script>"},
    ],
)
def test_garbage_filters_are_refused_not_a_server_error(
    world: World, kari: Client, params: dict[str, str]
) -> None:
    patient, _ = world.followed("Still here", BP_PLAN)
    for where in ("/", "/worklist/rows/"):
        html = page(kari, where, **params)
        assert row_ids(html) == [patient.id]
        assert "<script>alert" not in html and "<script>" not in html.replace(
            '<script src="/static/web/live.js" defer></script>', ""
        )


def test_a_long_list_is_shown_a_page_at_a_time_worst_first(
    world: World, kari: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("centre.web.views.worklist.PAGE_ROWS", 2)
    calm = [world.followed(f"Calm {n}", BP_PLAN)[0] for n in range(3)]
    red, hub = world.followed("Red", BP_PLAN)
    world.reading(hub, timedelta(hours=1), values=HIGH)
    first = page(kari)
    assert row_ids(first) == [red.id, calm[0].id] and 'rel="next" href="?page=2"' in first
    assert row_ids(page(kari, page="2")) == [calm[1].id, calm[2].id]
    assert row_ids(page(kari, "/worklist/rows/", page="2")) == [calm[1].id, calm[2].id]
    for garbage in ("abc", "-1", "9" * 40, "0"):
        assert len(row_ids(page(kari, page=garbage))) == 2
    response = kari.post(f"/worklist/acknowledge/{red.id}/?page=2&state=red", {"acknowledge": "x"})
    assert response["Location"] == "/?state=red&page=2&notice=nothing"


def test_script_in_a_patient_name_is_shown_as_text(world: World, kari: Client) -> None:
    world.followed('<script>alert("x")</script><b onmouseover=1>', BP_PLAN)
    html = page(kari)
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;&lt;b onmouseover=1&gt;" in html
    assert "<b onmouseover" not in html


def test_a_name_that_reads_as_the_rows_csrf_mark_stays_text(world: World, kari: Client) -> None:
    # Rows are kept rendered with a mark where the token goes (centre/web/views/worklist_html.py)
    patient, hub = world.followed(f"{CSRF_MARK} Mark", BP_PLAN)
    world.reading(hub, timedelta(hours=1), values=HIGH)
    row = row_of(page(kari), patient)
    assert "&lt;!--dho:csrf--&gt; Mark" in row and CSRF_MARK not in row
    assert row.count('name="csrfmiddlewaretoken"') == 1  # the form's own, once


def test_a_kept_row_is_shown_anew_when_it_changes_and_in_the_nurses_language(
    world: World, kari: Client
) -> None:
    patient, hub = world.followed("Kept", BP_PLAN)
    world.reading(hub, timedelta(hours=2), values=HIGH)
    first, again = row_of(page(kari), patient), row_of(page(kari), patient)
    tokens = [re.findall(r'name="csrfmiddlewaretoken" value="([^"]+)"', r) for r in (first, again)]
    assert len(tokens[0]) == len(tokens[1]) == 1
    assert first.replace(tokens[0][0], "") == again.replace(tokens[1][0], "")
    world.reading(hub, timedelta(hours=1), values=HIGH)
    counted = '<span class="n">\u00d7 2</span>'
    assert counted in row_of(page(kari), patient) and counted not in first
    kari.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"
    english = row_of(page(kari), patient)
    kari.cookies[settings.LANGUAGE_COOKIE_NAME] = "nb"
    bokmal = row_of(page(kari), patient)
    assert ">Red</span>" in english and ">Rød</span>" in bokmal
    # The template's own words too, not only those the row's data carries
    assert ">Acknowledge</button>" in english and ">Kvitter ut</button>" in bokmal


def test_one_kept_row_is_told_in_each_language_it_is_asked_in(world: World) -> None:
    # The same row's value in two languages: the template's words must follow the language
    row = Shown(
        patient_id="7",
        name="Same",
        place="Team · Place",
        state="none",
        state_label="-",
        counts=(),
        items=(),
        keys="",
        since=None,
        last_measured=None,
        last_delivered=None,
        reviewed_at=None,
        reviewed_by="",
        acknowledge_url="/worklist/acknowledge/7/",
        patient_url="",
    )
    request = RequestFactory().get("/")
    told = {}
    for language in ("nb", "en", "nb"):
        with translation.override(language):
            told[language] = str(rows_html(request, [row]))
    assert ">aldri</span>" in told["nb"] and ">never</span>" in told["en"]


@pytest.mark.parametrize("letter", ["x", "Ø", "ő", "🙂"])  # 1, 1, 2, 4 bytes of a str each
def test_the_rows_kept_stay_within_their_bound_the_least_recently_shown_going_first(
    letter: str,
) -> None:
    row = letter * 100
    kept = KeptRows(most=10 * sys.getsizeof(row))
    for n in range(30):
        kept.keep(("nb", n), row)
        assert kept.size == sum(sys.getsizeof(html) for html in kept.rows.values())
        assert kept.size <= kept.most
    assert list(kept.rows) == [("nb", n) for n in range(20, 30)]


@pytest.mark.parametrize(
    "patient_id", ["abc", "1.0", "-1", "9" * 30, "١٢", "%3Cscript%3E", "1%20OR%201=1"]
)
def test_guessed_or_garbage_patient_ids_are_404(
    world: World, kari: Client, patient_id: str
) -> None:
    world.followed("Guessed", BP_PLAN)
    response = kari.post(f"/worklist/acknowledge/{patient_id}/", {"acknowledge": "reading:1"})
    assert response.status_code == 404


def test_keys_that_are_not_the_patients_current_findings_are_ignored(
    world: World, kari: Client
) -> None:
    mine, _ = world.followed("Mine", BP_PLAN)
    other, other_hub = world.followed("Other", BP_PLAN)
    elsewhere = world.reading(other_hub, timedelta(hours=1), values=HIGH)
    posted = [f"reading:{elsewhere.id}", "missing:x:y", "x" * 10_000, "<script>", ""]
    response = kari.post(f"/worklist/acknowledge/{mine.id}/", {"acknowledge": " ".join(posted)})
    assert response.status_code == 302 and "notice=nothing" in response["Location"]
    assert not Acknowledgement.objects.exists()
    assert state_of(page(kari), other) == "red"
    assert kari.get(f"/worklist/acknowledge/{mine.id}/").status_code == 405


def test_acknowledging_needs_the_csrf_token(world: World) -> None:
    client = Client(enforce_csrf_checks=True)
    sign_in(client, "kari")
    patient, hub = world.followed("Csrf", BP_PLAN)
    high = world.reading(hub, timedelta(hours=1), values=HIGH)
    response = client.post(
        f"/worklist/acknowledge/{patient.id}/", {"acknowledge": f"reading:{high.id}"}
    )
    assert response.status_code == 403 and not Acknowledgement.objects.exists()
    html = page(client)
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', html)
    assert token is not None
    client.post(
        f"/worklist/acknowledge/{patient.id}/",
        {"acknowledge": f"reading:{high.id}", "csrfmiddlewaretoken": token.group(1)},
    )
    assert Acknowledgement.objects.count() == 1


def queries_for(world: World, client: Client, patients: int) -> int:
    for n in range(patients):
        patient, hub = world.followed(f"Patient {n}", {**BP_PLAN, **WEIGHT_EVERY_MORNING})
        world.reading(hub, timedelta(hours=1), values=HIGH if n % 2 else None)
        world.reading(hub, timedelta(days=30), outcome="flagged")
        world.reading(hub, timedelta(days=2), kind="weight", values={"weight": 80.0})
        if n % 3 == 0:
            Review.objects.create(patient=patient, by=User.objects.get(username="kari"))
    with CaptureQueriesContext(connection) as captured:
        html = page(client)
    assert len(row_ids(html)) == Patient.objects.filter(team__members__username="kari").count()
    return len(captured.captured_queries)


def test_the_number_of_queries_does_not_grow_with_the_patients(world: World, kari: Client) -> None:
    three = queries_for(world, kari, 3)
    thirty = queries_for(world, kari, 27)  # 30 in all
    assert three == thirty


def test_a_receipt_reaches_the_patients_hub_through_the_real_broker(
    home: SimulatedHome, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The web's receipt, end to end: signed, sealed to the hub, published to the real broker,
    opened by the real hub daemon and shown in its list of messages for the patient screen."""
    from centre.store import CentreStore
    from testbed.centre_db import use_default

    home.start_hub()
    plan_file = home.workdir / "plan.json"
    plan_file.write_text(json.dumps(BP_PLAN))
    sent = home.centre_cli("send-care-plan", home.hub_id, str(plan_file))
    assert sent.returncode == 0, sent.stderr
    wait_for(lambda: home.hub_status()["care_plan_version"] == 1, "the hub to hold the plan")
    CentreStore(home.centre.database_url, migrate=True)
    use_default(home.centre.database_url)
    monkeypatch.setenv("DHO_CENTRE_CONFIG", str(home.centre_config))
    try:
        oslo = Municipality.objects.create(name="Oslo", number="0301")
        Team.objects.create(name="Øst", municipality=oslo)
        add_user("kari", "nurse", ["Øst"], PASSWORD, "Kari Nordmann")
        east = Team.objects.get()
        world = World(east, east, east, national_ids(), itertools.count(1), itertools.count(1))
        patient = world.patient("Receipt")
        CareEpisode.objects.create(
            patient=patient, hub_id=home.hub_id, started=NOW - timedelta(days=1)
        )
        high = world.reading(Hub.objects.get(hub_id=home.hub_id), timedelta(minutes=1), values=HIGH)
        client = Client()
        sign_in(client, "kari")
        assert state_of(page(client), patient) == "red"
        response = client.post(
            f"/worklist/acknowledge/{patient.id}/",
            {"acknowledge_with_receipt": f"reading:{high.id}"},
        )
        assert "notice=receipt_sent" in response["Location"]
        assert Acknowledgement.objects.get().with_receipt is True
        with translation.override(settings.LANGUAGE_CODE):
            text = str(RECEIPT_TEXT)
        messages = wait_for(
            lambda: [m for m in home.hub_status()["messages"] if m["text"] == text],
            "the receipt on the hub",
        )
        assert len(messages) == 1 and messages[0]["read_at"] is None
    finally:
        connection.close()


def wait_for(check: Callable[[], Any], what: str, within_s: float = 30.0) -> Any:
    """Poll until `check` gives something truthy; fail naming `what` after `within_s`."""
    deadline = time.monotonic() + within_s
    while not (result := check()):
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {within_s:.0f} s waiting for {what}")
        time.sleep(0.2)
    return result


@pytest.fixture
def served(world: World) -> Iterator[str]:
    """The centre's web on a free port in this process (its threads share the test's
    database), as a browser reaches it; yields its address."""
    from django.core.handlers.wsgi import WSGIHandler
    from django.core.servers.basehttp import ThreadedWSGIServer, WSGIRequestHandler

    class Quiet(WSGIRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadedWSGIServer(("127.0.0.1", 0), Quiet, allow_reuse_address=False)
    server.set_app(WSGIHandler())
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def test_a_new_red_reading_shows_in_the_browser_without_a_reload(
    world: World, kari: Client, served: str
) -> None:
    """live.js in real Chromium: the row turns red by itself, the page is never reloaded."""
    from selenium import webdriver
    from selenium.webdriver.support.ui import WebDriverWait

    patient, hub = world.followed("Live", BP_PLAN)
    options = webdriver.ChromeOptions()
    options.binary_location = "/usr/bin/chromium"
    for flag in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage"):
        options.add_argument(flag)
    driver = webdriver.Chrome(
        options=options, service=webdriver.ChromeService("/usr/bin/chromedriver")
    )
    try:
        driver.get(f"{served}/login/")
        driver.add_cookie({"name": "sessionid", "value": kari.cookies["sessionid"].value})
        driver.get(f"{served}/")
        # Read in one step: the refresh may replace the row between a find and a read.
        row_class = f"return document.getElementById('patient-{patient.id}').className"
        assert driver.execute_script(row_class) == "row-none"
        driver.execute_script("window.notReloaded = true;")
        world.reading(hub, timedelta(seconds=5), values=HIGH)
        WebDriverWait(driver, 15, poll_frequency=0.2).until(
            lambda d: d.execute_script(row_class) == "row-red"
        )
        assert driver.execute_script("return window.notReloaded === true;")
        log = driver.get_log("browser")  # type: ignore[no-untyped-call]
        # (The browser's own guess at /favicon.ico is no page of ours.)
        errors = [e for e in log if e["level"] == "SEVERE" and "favicon.ico" not in e["message"]]
        assert errors == [], "no script error, no CSP violation"
    finally:
        driver.quit()


@pytest.mark.parametrize(
    ("posted", "expected"),
    [
        ("acknowledge=reading%3A1", Asked(("reading:1",))),
        ("acknowledge=reading%3A1+reading%3A2+reading%3A1", Asked(("reading:1", "reading:2"))),
        ("acknowledge_with_receipt=reading%3A1", Asked(("reading:1",), receipt=True)),
        ("acknowledge_all=a+b", Asked(("a", "b"), all=True)),
        ("acknowledge_all_with_receipt=a", Asked(("a",), all=True, receipt=True)),
        ("acknowledge=+%09%0A", Asked(all=False)),  # only white space: no keys
        ("acknowledge=a&acknowledge_all=a", Asked()),  # two buttons: nothing
        ("acknowledge=a&acknowledge=b", Asked()),  # one button twice: nothing
        ("key=reading%3A1&all=1&receipt=1", Asked()),  # not a button of the page
        ("", Asked()),
        ("acknowledge=" + "x" * 100_000, Asked(("x" * 100_000,))),  # not hers: filtered later
    ],
)
def test_what_an_acknowledgement_form_asks(posted: str, expected: Asked) -> None:
    assert asked(QueryDict(posted)) == expected
