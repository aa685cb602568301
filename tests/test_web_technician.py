"""The technician's page of hubs and devices (issue 15): the three lists hold exactly what their
rules say (and the page's rules and the database's agree), the filters, hostile parameters,
who may look, the audit log, a hub's page with its history, and nothing of a patient's health
on either page. Django's test client on SQLite and PostgreSQL; the tables are filled directly
(the ingest that fills them is tested elsewhere)."""

from __future__ import annotations

import itertools
import json
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from centre.people.models import AuditEntry, CareEpisode, Municipality, Patient, Team
from centre.records.models import Hub, HubDeviceHealth, HubHealthReport, Reading
from centre.web.accounts import add_user
from centre.web.views.technician import PROBLEMS, offline_for_a_day
from hub.core.health import BATTERY_LOW, HubHealth, to_health_reading
from tests.test_web_signin import PASSWORD
from tests.test_web_worklist import national_ids, sign_in

NOW = timezone.now()
HOUR, DAY = timedelta(hours=1), timedelta(days=1)


@dataclass
class Place:
    oslo: Municipality
    baerum: Municipality
    east: Team
    west: Team
    ids: Iterator[str]
    seqs: Iterator[int]

    def hub(
        self,
        hub_id: str,
        state: str | None = "online",
        seen: timedelta | None = HOUR,
        since: timedelta | None = 3 * DAY,
        enrolled: timedelta = 30 * DAY,
        revoked: bool = False,
    ) -> Hub:
        """A hub whose retained status said `state` (None: none yet), its connection begun
        `since` ago, last heard `seen` ago (None: never), enrolled `enrolled` ago."""
        return Hub.objects.create(
            hub_id=hub_id,
            signing_key="k",
            enrolled_at=NOW - enrolled,
            status_state=state,
            status_since=NOW - since if since is not None and state else None,
            status_at=NOW - since if since is not None and state else None,
            seen_at=NOW - seen if seen is not None else None,
            revoked_at=NOW - HOUR if revoked else None,
        )

    def report(
        self,
        hub: Hub,
        synced: bool = True,
        batteries: Sequence[int | None] = (80,),
        version: str = "1.4.2",
    ) -> HubHealthReport:
        """The newest health report with a device per battery level (addresses 00:..:0n)."""
        report = HubHealthReport.objects.create(
            hub=hub,
            seq=next(self.seqs),
            at=NOW - 2 * HOUR,
            stored_at=NOW - HOUR,
            software_version=version,
            uptime_s=86400 * 3 + 3600,
            disk_free_bytes=12 << 30,
            disk_total_bytes=30 << 30,
            clock_synced=synced,
            clock_offset_s=0.4 if synced else 93.5,
            outbox_pending=3,
            outbox_alarm=None,
        )
        for n, level in enumerate(batteries, 1):
            HubDeviceHealth.objects.create(
                hub=hub,
                address=f"AA:BB:CC:00:00:{n:02X}",
                profile="blood_pressure",
                name=f"Cuff {n}",
                battery_level=level,
                last_connected_at=NOW - 5 * HOUR,
                clock_set_at=NOW - DAY,
            )
        return report

    def home(self, hub: Hub, name: str, team: Team | None = None, ended: bool = False) -> Patient:
        patient = Patient.objects.create(
            name=name,
            birth_date=date(1950, 1, 1),
            national_id=next(self.ids),
            diagnosis="heart_failure",
            team=team or self.east,
            relatives="Ola (sønn), 912 34 567",
        )
        CareEpisode.objects.create(
            patient=patient,
            hub_id=hub.hub_id,
            started=NOW - 20 * DAY,
            ended=NOW - DAY if ended else None,
        )
        return patient

    def health_reading(self, hub: Hub, ago: timedelta, values: Any) -> Reading:
        seq = next(self.seqs)
        at = NOW - ago
        return Reading.objects.create(
            hub=hub,
            seq=seq,
            kind="hub_health",
            characteristic="dho:hub-health",
            device_address="hub",
            measured_at=at,
            time_source="hub_received",
            hub_clock_synced=True,
            received_at=at,
            outcome="ok",
            problems_json="[]",
            raw_hex="00",
            values_json=values if isinstance(values, str) else json.dumps(values),
            batch_id="00000000-0000-4000-8000-000000000001",
            stored_at=at + timedelta(minutes=1),
            content_digest=f"{seq:064x}",
        )


@pytest.fixture
def place(centre_db: str) -> Place:
    oslo = Municipality.objects.create(name="Oslo", number="0301")
    baerum = Municipality.objects.create(name="Bærum", number="3201")
    east = Team.objects.create(name="Øst", municipality=oslo)
    west = Team.objects.create(name="Vest", municipality=baerum)
    add_user("tekla", "technician", ["Øst"], PASSWORD, "Tekla Tekniker")
    add_user("vera", "technician", ["Vest"], PASSWORD, "Vera Vest")
    add_user("ada", "administrator", [], PASSWORD, "Ada Admin")
    add_user("kari", "nurse", ["Øst", "Vest"], PASSWORD, "Kari Nordmann")
    return Place(oslo, baerum, east, west, national_ids(), itertools.count(1))


def signed_in(username: str) -> Client:
    client = Client()
    sign_in(client, username)
    return client


@pytest.fixture
def tekla(place: Place) -> Client:
    return signed_in("tekla")


def page(client: Client, path: str = "/technician/", **params: Any) -> str:
    response = client.get(path, params)
    assert response.status_code == 200, response.content[:500]
    return response.content.decode()


def rows(html: str) -> list[str]:
    return re.findall(r'<tr id="hub-([a-z0-9-]+)"', html)


def listed(html: str, problem: str) -> tuple[int, list[str]]:
    """A problem list at the top: its count and the hub ids it names."""
    found = re.search(
        rf'<article class="hub-problem" id="problem-{problem}">(.*?)</article>', html, re.S
    )
    assert found is not None, f"no list {problem}"
    count = re.search(r'<span class="problem-count">(\d+)</span>', found.group(1))
    assert count is not None
    return int(count.group(1)), re.findall(r'href="/technician/hubs/([a-z0-9-]+)/"', found.group(1))


def test_offline_for_more_than_a_day_means_nothing_heard_for_24_hours(
    place: Place, tekla: Client
) -> None:
    place.hub("h-offline-2d", "offline", seen=2 * DAY, since=9 * DAY)
    # Connected for a week, dropped an hour ago: its status_since is a week old, but it has
    # been offline for an hour only.
    place.hub("h-offline-1h", "offline", seen=HOUR, since=7 * DAY)
    place.hub("h-retained-only", "offline", seen=None, since=3 * DAY)  # no live word: its start
    place.hub("h-retained-fresh", "offline", seen=None, since=2 * HOUR)
    place.hub("h-never-old", None, seen=None, enrolled=3 * DAY)
    place.hub("h-never-new", None, seen=None, enrolled=2 * HOUR)
    place.hub("h-online-quiet", "online", seen=5 * DAY, since=5 * DAY)  # the broker says online
    place.hub("h-offline-revoked", "offline", seen=5 * DAY, revoked=True)
    place.hub("h-offline-25h", "offline", seen=25 * HOUR)
    place.hub("h-offline-23h", "offline", seen=23 * HOUR)
    expected = ["h-never-old", "h-offline-25h", "h-offline-2d", "h-retained-only"]
    html = page(tekla)
    assert listed(html, "offline_day") == (4, expected)
    assert rows(page(tekla, problem="offline_day")) == expected
    # The page's rule and the database's say the same of every hub.
    in_db = set(Hub.objects.filter(PROBLEMS["offline_day"](NOW)).values_list("hub_id", flat=True))
    assert {h.hub_id for h in Hub.objects.all() if offline_for_a_day(h, NOW)} == in_db
    row = re.search(r'<tr id="hub-h-offline-1h".*?</tr>', html, re.S)
    assert row is not None and "problem-offline_day" not in row.group(0)


def test_battery_low_is_any_device_at_or_below_the_threshold(place: Place, tekla: Client) -> None:
    place.report(place.hub("h-at-threshold"), batteries=(90, BATTERY_LOW))
    place.report(place.hub("h-above"), batteries=(BATTERY_LOW + 1, 100))
    place.report(place.hub("h-unknown"), batteries=(None,))
    place.report(place.hub("h-empty"), batteries=(0,))
    place.report(place.hub("h-revoked", revoked=True), batteries=(5,))
    place.hub("h-no-report")
    html = page(tekla)
    assert listed(html, "battery_low") == (2, ["h-at-threshold", "h-empty"])
    filtered = page(tekla, problem="battery_low")
    assert rows(filtered) == ["h-at-threshold", "h-empty"]
    low = re.findall(r'<li class="battery-low"><span class="address">([^<]+)</span>', filtered)
    assert low == ["AA:BB:CC:00:00:02", "AA:BB:CC:00:00:01"]


def test_clock_not_synchronised_is_the_newest_report_saying_so(place: Place, tekla: Client) -> None:
    place.report(place.hub("h-unsynced"), synced=False)
    place.report(place.hub("h-synced"), synced=True)
    place.report(place.hub("h-unsynced-revoked", revoked=True), synced=False)
    place.hub("h-no-report")
    html = page(tekla)
    assert listed(html, "clock") == (1, ["h-unsynced"])
    assert rows(page(tekla, problem="clock")) == ["h-unsynced"]
    assert listed(html, "offline_day") == (0, []) and listed(html, "battery_low") == (0, [])


def test_a_long_list_names_the_first_ten_and_links_to_all(place: Place, tekla: Client) -> None:
    for n in range(12):
        place.hub(f"h-{n:02d}", "offline", seen=2 * DAY)
    count, named = listed(page(tekla), "offline_day")
    assert count == 12 and named == [f"h-{n:02d}" for n in range(10)]


def test_the_page_shows_each_hubs_facts(place: Place, tekla: Client) -> None:
    hub = place.hub("h-full", "offline", seen=2 * DAY)
    place.report(hub, synced=False, batteries=(15, None), version="2.0.1")
    place.home(hub, "Åse Ærlig")
    place.hub("h-bare", None, seen=None)
    html = page(tekla)
    row = re.search(r'<tr id="hub-h-full".*?</tr>', html, re.S)
    assert row is not None
    text = row.group(0)
    for shown in ("2.0.1", "Åse Ærlig", "Oslo", "AA:BB:CC:00:00:01", "Cuff 1", "15 %", "93,5"):
        assert shown in text, shown
    assert "hub-offline" in text and "problem-battery_low" in text and "problem-clock" in text
    bare = re.search(r'<tr id="hub-h-bare".*?</tr>', html, re.S)
    assert bare is not None and "hub-never" in bare.group(0)


@pytest.mark.parametrize("who", ["tekla", "ada"])
def test_another_teams_patient_is_a_patient_of_her_team_and_not_found_by_name(
    place: Place, who: str
) -> None:
    """docs/security.md: a user sees the patients of her own teams and no others, whatever her
    role. Tekla is in team Øst, administrator Ada in no team: Eva of team Vest is "a patient of
    Vest" (as on the Equipment page) with her municipality, on the list and the hub's page, and
    her name finds nothing; the hub's own facts are every technician's."""
    hub = place.hub("h-vest", "offline", seen=2 * DAY)
    place.report(hub, batteries=(12,))
    place.home(hub, "Eva Vestlending", place.west)
    client = signed_in(who)
    listed_page, hub_page = page(client), page(client, "/technician/hubs/h-vest/")
    assert 'en pasient i Vest<br><span class="muted">Bærum</span>' in listed_page  # bokmål
    assert "en pasient i Vest · Bærum" in hub_page
    for html in (listed_page, hub_page):
        assert "Eva" not in html and "Vestlending" not in html
        assert "AA:BB:CC:00:00:01" in html and "12 %" in html
    assert rows(page(client, q="Vestlending")) == []
    assert rows(page(client, q="h-vest")) == ["h-vest"]  # the hub itself, by its id
    vera = signed_in("vera")  # of team Vest: her name, and found by it
    assert rows(page(vera, q="Vestlending")) == ["h-vest"]
    assert "Eva Vestlending" in page(vera, "/technician/hubs/h-vest/")


def test_a_hub_whose_episode_ended_names_no_patient(place: Place, tekla: Client) -> None:
    hub = place.hub("h-returned")
    place.home(hub, "Gammel Pasient", ended=True)
    html = page(tekla)
    assert "Gammel Pasient" not in html
    assert rows(page(tekla, q="Gammel")) == []


def test_filters_by_municipality_state_and_text(place: Place, tekla: Client) -> None:
    oslo_hub = place.hub("h-oslo", "online")
    place.home(oslo_hub, "Per Persen", place.east)
    place.report(oslo_hub, batteries=(50,))
    baerum_hub = place.hub("h-baerum", "offline", seen=2 * DAY)
    place.home(baerum_hub, "Berit Bærum", place.west)
    place.hub("h-never", None, seen=None, enrolled=3 * DAY)
    assert rows(page(tekla)) == ["h-baerum", "h-never", "h-oslo"]
    assert rows(page(tekla, municipality=place.oslo.number)) == ["h-oslo"]
    assert rows(page(tekla, municipality=place.baerum.number)) == ["h-baerum"]
    assert rows(page(tekla, state="online")) == ["h-oslo"]
    assert rows(page(tekla, state="offline")) == ["h-baerum"]
    assert rows(page(tekla, state="never")) == ["h-never"]
    assert rows(page(tekla, q="BAERUM")) == ["h-baerum"]  # hub id, any case
    assert rows(page(tekla, q="aa:bb:cc:00:00:01")) == ["h-oslo"]  # a device's address
    assert rows(page(tekla, q="Berit")) == []  # another team's patient: not found by name
    assert rows(page(signed_in("vera"), q="bærum")) == ["h-baerum"]  # her team's, by name
    assert rows(page(tekla, q="Per")) == ["h-oslo"]
    assert rows(page(tekla, q="h-", state="offline", municipality=place.baerum.number)) == [
        "h-baerum"
    ]
    # The lists at the top follow the municipality only.
    html = page(tekla, municipality=place.oslo.number, state="online")
    assert listed(html, "offline_day") == (0, [])
    assert listed(page(tekla, state="online"), "offline_day") == (2, ["h-baerum", "h-never"])
    # The links keep the municipality by its number (kommunenummer), not an internal key.
    assert f'href="?municipality={place.baerum.number}' in page(
        tekla, municipality=place.baerum.number
    )


def test_a_long_list_is_shown_a_page_at_a_time(
    place: Place, tekla: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("centre.web.views.technician.PAGE_HUBS", 2)
    for n in range(5):
        place.hub(f"h-{n}", "offline", seen=2 * DAY)
    first = page(tekla, state="offline")
    assert rows(first) == ["h-0", "h-1"] and 'href="?state=offline&amp;page=2"' in first
    assert rows(page(tekla, state="offline", page="3")) == ["h-4"]
    for garbage in ("abc", "-1", "9" * 40, "0", "٣"):
        assert len(rows(page(tekla, page=garbage))) == 2


@pytest.mark.parametrize(
    "params",
    [
        {"municipality": "9" * 40},
        {"municipality": "-1"},
        {"municipality": "1 OR 1=1"},
        {"state": "<script>alert(1)</script>"},
        {"state": "offline' OR '1'='1"},
        {"problem": "x" * 100_000},
        {"problem": "__class__"},
        {"q": "x" * 100_000},
        {"q": "'; DROP TABLE hubs; --"},
        {"q": "%_%"},
        {"q": "\x00"},
        {"q": "ÆØÅ 🙂 ٣ \u202e"},
        {"q": "<script>alert(1)</script>"},
        {"page": "1e9"},
        {"unknown": "1"},
    ],
)
def test_hostile_parameters_are_ignored_or_refused_in_words_never_a_500(
    place: Place, tekla: Client, params: dict[str, str]
) -> None:
    place.hub("h-one", "offline", seen=2 * DAY)
    response = tekla.get("/technician/", params)
    assert response.status_code == 200, response.content[:300]
    html = response.content.decode()
    assert "<script>alert" not in html
    # (base.html's language form carries the whole address back, as on every page; the search
    # box shows what was typed, with its error.)
    ours = re.sub(r'<input type="hidden" name="next" value="[^"]*">', "", html)
    ours = re.sub(r'<input type="text" name="q" value="[^"]*"', "", ours)
    assert len(ours) < 60_000, "a huge value is not echoed back"
    if set(params) & {"municipality", "state", "problem"} or len(params.get("q", "")) > 100:
        assert rows(html) == ["h-one"], "a wrong filter is not applied"
        assert 'class="error"' in html, "and the page says so"
    assert Hub.objects.filter(hub_id="h-one").exists()


def test_repeated_parameters_take_the_last_and_a_bad_one_is_dropped(
    place: Place, tekla: Client
) -> None:
    place.hub("h-on", "online")
    place.hub("h-off", "offline", seen=2 * DAY)
    assert rows(tekla.get("/technician/?state=online&state=offline").content.decode()) == ["h-off"]
    both = tekla.get("/technician/?state=nonsense&q=h-o&q=h-on").content.decode()
    assert rows(both) == ["h-on"]


def test_only_technicians_and_administrators_may_look(place: Place) -> None:
    hub = place.hub("h-one")
    nurse = Client()
    sign_in(nurse, "kari")
    assert nurse.get("/technician/").status_code == 403
    assert nurse.get(f"/technician/hubs/{hub.hub_id}/").status_code == 403
    assert 'href="/technician/"' not in page(nurse, "/")
    admin = Client()
    sign_in(admin, "ada")
    assert rows(page(admin)) == ["h-one"]
    assert 'href="/technician/"' in page(admin)
    anonymous = Client().get("/technician/")
    assert anonymous.status_code == 302 and "/login/" in anonymous["Location"]
    assert not AuditEntry.objects.filter(user="kari", what__contains="hub").exists()


def test_the_nav_link_shows_for_a_technician(place: Place, tekla: Client) -> None:
    assert 'href="/technician/"' in page(tekla, "/")


@pytest.mark.parametrize(
    "hub_id", ["h-nope", "H-CAPS", "a", "x" * 64, "..", "%2e%2e", "h-one%00", "ø-hub", "1 OR 1=1"]
)
def test_unknown_or_malformed_hub_ids_are_404(place: Place, tekla: Client, hub_id: str) -> None:
    place.hub("h-one")
    assert tekla.get(f"/technician/hubs/{hub_id}/").status_code == 404


def test_every_view_is_in_the_audit_log(place: Place, tekla: Client) -> None:
    hub = place.hub("h-home")
    patient = place.home(hub, "Siv Sivertsen")
    page(tekla, state="offline", q="Siv")
    entry = AuditEntry.objects.order_by("-id").first()
    assert entry is not None and entry.user == "tekla" and entry.action == "view"
    assert entry.patient is None and "state=offline" in entry.what and "q=Siv" in entry.what
    page(tekla, f"/technician/hubs/{hub.hub_id}/")
    entry = AuditEntry.objects.order_by("-id").first()
    assert entry is not None and entry.user == "tekla" and entry.patient == patient
    assert "h-home" in entry.what
    place.hub("h-empty")
    page(tekla, "/technician/hubs/h-empty/")
    entry = AuditEntry.objects.order_by("-id").first()
    assert entry is not None and entry.patient is None and "h-empty" in entry.what


def test_no_health_data_of_the_patient_on_either_page(place: Place, tekla: Client) -> None:
    hub = place.hub("h-home")
    patient = place.home(hub, "Siv Sivertsen")
    place.report(hub)
    Reading.objects.create(
        hub=hub,
        seq=next(place.seqs),
        kind="blood_pressure",
        characteristic="2a35",
        device_address="AA:BB:CC:00:00:01",
        measured_at=NOW - HOUR,
        time_source="device",
        hub_clock_synced=True,
        received_at=NOW - HOUR,
        outcome="flagged",
        problems_json='["body_movement_detected"]',
        raw_hex="00",
        values_json=json.dumps({"systolic": 187.0, "diastolic": 111.0}),
        batch_id="b",
        stored_at=NOW - HOUR,
        content_digest="d" * 64,
    )
    for html in (page(tekla), page(tekla, f"/technician/hubs/{hub.hub_id}/")):
        assert "Siv Sivertsen" in html
        for secret in (patient.national_id, "912 34 567", "187", "111", "1950", "Hjertesvikt"):
            assert secret not in html, secret


def test_a_hubs_page_shows_its_presence_report_devices_and_history(
    place: Place, tekla: Client
) -> None:
    hub = place.hub("h-detail", "offline", seen=2 * DAY, since=9 * DAY)
    place.report(hub, synced=False, batteries=(12, 70), version="3.1.0")
    place.home(hub, "Åse Ærlig")
    health = HubHealth(
        software_version="3.0.0",
        uptime_s=60,
        disk_free_bytes=1 << 30,
        disk_total_bytes=8 << 30,
        clock_synced=True,
        outbox_pending=0,
    )
    values = to_health_reading(health, "2026-12-01T08:00:00+00:00").values
    for n in range(55):
        place.health_reading(hub, timedelta(hours=6 * n + 3), values)
    broken = place.health_reading(hub, HOUR, {"software_version": ""})
    not_json = place.health_reading(hub, 2 * HOUR, "{not json")
    html = page(tekla, f"/technician/hubs/{hub.hub_id}/")
    assert 'id="hub-page"' in html and "3.1.0" in html and "Åse Ærlig" in html
    assert "AA:BB:CC:00:00:01" in html and "AA:BB:CC:00:00:02" in html
    history = re.search(r'<table class="list history" id="history">(.*?)</table>', html, re.S)
    assert history is not None
    reports = re.findall(r'<tr id="report-(\d+)">', history.group(1))
    assert len(reports) == 50, "the newest 50"
    assert reports[:2] == [str(broken.seq), str(not_json.seq)], "newest first"
    assert history.group(1).count('class="unreadable"') == 2
    assert "software_version" in history.group(1), "says what is wrong"
    assert history.group(1).count("3.0.0") == 48


def test_a_hub_without_report_or_episode_has_a_page(place: Place, tekla: Client) -> None:
    place.hub("h-new", None, seen=None, enrolled=HOUR)
    html = page(tekla, "/technician/hubs/h-new/")
    assert 'id="hub-page"' in html and 'id="latest-report"' in html


def queries_for(place: Place, client: Client, hubs: int, first: int) -> int:
    for n in range(first, first + hubs):
        hub = place.hub(f"h-q{n:03d}", "offline" if n % 2 else "online", seen=2 * DAY)
        place.report(hub, synced=n % 3 != 0, batteries=(10, 90, None))
        place.home(hub, f"Patient {n}", place.east if n % 2 else place.west)
    with CaptureQueriesContext(connection) as captured:
        html = page(client)
    assert len(rows(html)) == Hub.objects.count()
    return len(captured.captured_queries)


def test_the_number_of_queries_does_not_grow_with_the_hubs(place: Place, tekla: Client) -> None:
    three = queries_for(place, tekla, 3, 0)
    thirty = queries_for(place, tekla, 27, 3)
    assert three == thirty


def test_the_lists_are_told_in_bokmaal_nynorsk_and_english(place: Place, tekla: Client) -> None:
    place.hub("h-one", "offline", seen=2 * DAY)
    words = {
        "nb": ("Frakoblet i mer enn ett døgn", "Lavt batteri", "Klokka er ikke synkronisert"),
        "nn": ("Fråkopla i meir enn eitt døgn", "Lågt batteri", "Klokka er ikkje synkronisert"),
        "en": ("Offline for more than a day", "Battery low", "Clock not synchronised"),
    }
    for language, expected in words.items():
        response = tekla.post("/language/", {"language": language, "next": "/technician/"})
        html = tekla.get(response["Location"]).content.decode()
        assert f'<html lang="{language}">' in html
        for word in expected:
            assert word in html, (language, word)


def test_one_rule_says_who_works_on_hubs_and_devices(place: Place) -> None:
    """Hubs and devices, enrolment and revocation, and Equipment ask the same predicate
    (centre/people/access.py): technicians, administrators and superusers who are active."""
    from django.contrib.auth.models import AnonymousUser, User

    from centre.people.access import works_on_equipment

    tekla, ada, kari = (User.objects.get(username=n) for n in ("tekla", "ada", "kari"))
    assert works_on_equipment(tekla) and works_on_equipment(ada)
    assert not works_on_equipment(kari) and not works_on_equipment(AnonymousUser())
    tekla.is_active = False
    assert not works_on_equipment(tekla)
    root = User(username="root", is_superuser=True)
    assert works_on_equipment(root)
