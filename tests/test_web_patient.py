"""The patient page (issue 13): what a nurse sees of her patient and what she does there, with
Django's test client on SQLite and PostgreSQL. Another team's patient is a 404 for every request;
a reused hub never shows the previous patient's readings; every change is audited; text is
escaped; the page needs no inline script or style and loads nothing from elsewhere."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.contrib.auth.models import User
from django.core.management import call_command
from django.db import connection
from django.test import Client, override_settings
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from centre.followup.models import ReadingMark
from centre.people.models import AuditEntry, CareEpisode, Municipality, Patient, Team
from centre.records.models import Document, Hub, Reading
from centre.web.accounts import add_user
from centre.web.views.patient import (
    MAX_LINES,
    TABLE_ROWS,
    AnswerLine,
    answer_lines,
    episode_windows,
    period_days,
    table_page,
    values_text,
)
from centre.web.words import problem_words
from hub.questionnaire.engine import total_score
from tests.test_web_signin import PASSWORD, code_for

HUB = "hub-0001"
NOW = timezone.now()


@pytest.fixture
def notes_app(centre_db: str) -> Iterator[None]:
    """centre/notes, installed (and migrated) as the centre's settings will install it."""
    from django.apps import apps

    if apps.is_installed("centre.notes"):
        yield
        return
    with override_settings(INSTALLED_APPS=[*settings.INSTALLED_APPS, "centre.notes"]):
        call_command("migrate", "notes", verbosity=0)
        yield


@pytest.fixture
def ward(centre_db: str) -> dict[str, Any]:
    """Two teams; Kari in Øst with patient Ola on hub-0001 (which served Per before), Nils in
    Vest with patient Eva."""
    oslo = Municipality.objects.create(name="Oslo", number="0301")
    east = Team.objects.create(name="Øst", municipality=oslo)
    west = Team.objects.create(name="Vest", municipality=oslo)
    add_user("kari", "nurse", ["Øst"], PASSWORD, "Kari Nordmann")
    add_user("nils", "nurse", ["Vest"], PASSWORD, "Nils Vik")
    ola = Patient.objects.create(
        name="Ola <b>Nordmann</b>",
        birth_date=date(1965, 7, 15),
        national_id="15076500566",
        diagnosis="heart_failure",
        team=east,
        relatives="Datter: 900 00 000",
    )
    per = Patient.objects.create(
        name="Per Tidligere",
        birth_date=date(1900, 1, 1),
        national_id="01010012356",
        diagnosis="copd",
        team=east,
    )
    eva = Patient.objects.create(
        name="Eva Vest",
        birth_date=date(1950, 1, 1),
        national_id="01015012345",
        diagnosis="other",
        team=west,
    )
    Hub.objects.create(hub_id=HUB, signing_key="test", enrolled_at=NOW - timedelta(days=100))
    Hub.objects.create(hub_id="hub-0002", signing_key="test", enrolled_at=NOW - timedelta(days=100))
    # Per had the hub until five days ago; Ola has had it since four days ago.
    CareEpisode.objects.create(
        patient=per, hub_id=HUB, started=NOW - timedelta(days=60), ended=NOW - timedelta(days=5)
    )
    CareEpisode.objects.create(patient=ola, hub_id=HUB, started=NOW - timedelta(days=4))
    CareEpisode.objects.create(patient=eva, hub_id="hub-0002", started=NOW - timedelta(days=30))
    return {"ola": ola, "per": per, "eva": eva}


_seq = iter(range(1, 10**6))


def reading(
    hub: str,
    at: datetime,
    values: dict[str, Any],
    kind: str = "blood_pressure",
    outcome: str = "ok",
    problems: list[str] | None = None,
    time_source: str = "device",
) -> Reading:
    return Reading.objects.create(
        hub_id=hub,
        seq=next(_seq),
        kind=kind,
        characteristic="2a35",
        device_address="00:BB:00:00:00:02",
        device_time=None,
        measured_at=at,
        time_source=time_source,
        clock_correction_s=None,
        hub_clock_synced=True,
        hub_clock_offset_s=None,
        received_at=at + timedelta(minutes=1),
        outcome=outcome,
        problems_json=json.dumps(problems or []),
        raw_hex="00",
        values_json=json.dumps(values),
        batch_id="b",
        stored_at=at + timedelta(minutes=2),
        content_digest=f"{next(_seq):064x}",
    )


def care_plan(hub: str = HUB, max_systolic: float = 180.0) -> Document:
    content = {
        "schedule": [{"kind": "blood_pressure", "times": ["08:00"]}],
        "thresholds": {"blood_pressure": {"systolic": {"min": 90.0, "max": max_systolic}}},
        "centre_phone": "+4722000000",
    }
    return Document.objects.create(
        hub_id=hub,
        doc_type="care_plan",
        version=Document.objects.filter(hub_id=hub, doc_type="care_plan").count() + 1,
        issued_at=NOW - timedelta(days=3),
        content_json=json.dumps(content),
    )


def sign_in(client: Client, username: str) -> None:
    """Password, then the code (as tests/test_web_signin.py's sign_in, naming the device:
    django-otp 1.7's form asks which one)."""
    from django_otp.plugins.otp_totp.models import TOTPDevice

    device = TOTPDevice.objects.get(user__username=username)
    client.post("/login/", {"username": username, "password": PASSWORD})
    response = client.post(
        "/login/code/", {"otp_token": code_for(username), "otp_device": device.persistent_id}
    )
    assert response.status_code == 302, response.content[:500]


def kari() -> Client:
    client = Client()
    sign_in(client, "kari")
    return client


def page_of(client: Client, patient: Patient, query: str = "") -> str:
    response = client.get(f"/patients/{patient.pk}/{query}")
    assert response.status_code == 200, response.content[:2000]
    return response.content.decode()


def test_the_page_shows_the_patient_her_plan_and_a_trend_with_her_limits(
    ward: dict[str, Any], notes_app: None
) -> None:
    ola = ward["ola"]
    care_plan()
    reading(HUB, NOW - timedelta(days=2), {"systolic": 128.0, "diastolic": 80.0, "unit": "mmHg"})
    high = reading(
        HUB,
        NOW - timedelta(days=1),
        {"systolic": 191.0, "diastolic": 95.0},
        problems=["systolic_above_care_plan", "body_movement_detected"],
        time_source="device_corrected",
    )
    client = kari()
    response = client.get(f"/patients/{ola.pk}/")
    assert response.status_code == 200
    page = response.content.decode()
    assert "Ola &lt;b&gt;Nordmann&lt;/b&gt;" in page and "<b>Nordmann" not in page
    assert "900 00 000" in page and HUB in page
    # The trend: inline SVG with the plan's two limits, the high reading a distinct marker.
    svgs = re.findall(r"<svg .*?</svg>", page, re.S)
    assert svgs, "a trend plot"
    systolic = next(s for s in svgs if 'class="limit"' in s)
    assert systolic.count('class="limit"') == 2 and "180" in systolic and "90" in systolic
    assert "point-above" in systolic and "point-within" in systolic
    # The readings table: the time's source and the problems in words, not codes.
    row = re.search(rf'<tr class="reading[^"]*" id="reading-{high.id}">.*?</tr>', page, re.S)
    assert row is not None
    assert "systolic_above_care_plan" not in row.group(0) and "body_movement" not in row.group(0)
    assert "device_corrected" not in row.group(0)
    assert AuditEntry.objects.filter(user="kari", action="view", patient=ola).count() == 1


def test_the_page_passes_the_content_security_policy_and_loads_nothing_from_elsewhere(
    ward: dict[str, Any], notes_app: None
) -> None:
    care_plan()
    reading(HUB, NOW - timedelta(days=1), {"systolic": 150.0, "diastolic": 90.0})
    response = kari().get(f"/patients/{ward['ola'].pk}/")
    page = response.content.decode()
    policy = response["Content-Security-Policy"]
    assert "unsafe-inline" not in policy and "default-src 'none'" in policy
    assert not re.search(r"\sstyle\s*=", page, re.I), "no inline style attribute"
    assert not re.search(r"<style", page, re.I), "no style element"
    assert not re.search(r"<script(?![^>]*\ssrc=)", page, re.I), "no inline script"
    assert not re.search(r"\son[a-z]+\s*=", page, re.I), "no event handler attribute"
    for url in re.findall(r'(?:src|href|action)="([^"]*)"', page):
        assert not re.match(r"(?i)(https?:)?//", url), url
    assert "<svg" in page and "<img" not in page, "the plot is inline, not a resource"


@pytest.mark.parametrize("days", ["14", "30", "90", "7", "abc", "-1", "9" * 40])
def test_the_period_switch_takes_only_its_three_periods(
    ward: dict[str, Any], notes_app: None, days: str
) -> None:
    reading(HUB, NOW - timedelta(days=3), {"systolic": 150.0, "diastolic": 90.0})
    page = page_of(kari(), ward["ola"], f"?days={days}")
    wanted = days if days in {"14", "30", "90"} else "14"
    assert re.search(rf'<strong aria-current="page">{wanted}\b', page)


def test_another_teams_patient_is_a_404_for_every_request(
    ward: dict[str, Any], notes_app: None
) -> None:
    eva = ward["eva"]
    theirs = reading("hub-0002", NOW - timedelta(days=1), {"systolic": 150.0, "diastolic": 90.0})
    client = kari()
    assert client.get(f"/patients/{eva.pk}/").status_code == 404
    posts = {
        "invalid/": {"reading": theirs.id, "reason": "wrong arm"},
        "notes/": {"text": "hei", "remind_on": ""},
        "notes/done/": {"note": 1},
        "messages/": {"text": "hei"},
    }
    for tail, data in posts.items():
        assert client.post(f"/patients/{eva.pk}/{tail}", data).status_code == 404, tail
    assert not ReadingMark.objects.exists()
    assert not Document.objects.filter(doc_type="message").exists()
    assert not AuditEntry.objects.filter(patient=eva).exists()
    # Her own nurse sees her.
    nils = Client()
    sign_in(nils, "nils")
    assert nils.get(f"/patients/{eva.pk}/").status_code == 200


@pytest.mark.parametrize(
    "url",
    [
        "/patients/abc/",
        "/patients/999999999999999999999/",
        "/patients/9223372036854775808/",
        "/patients/0/",
        "/patients/-1/",
        "/patients/1.5/",
        "/patients/%00/",
        "/patients/1/../../audit/",
    ],
)
def test_hostile_urls_are_404_not_500(ward: dict[str, Any], notes_app: None, url: str) -> None:
    client = kari()
    assert client.get(url).status_code == 404
    assert (
        client.post(url.rstrip("/") + "/invalid/", {"reading": 1, "reason": "x"}).status_code == 404
    )


def test_a_reused_hub_never_shows_the_previous_patients_readings(
    ward: dict[str, Any], notes_app: None
) -> None:
    ola, per = ward["ola"], ward["per"]
    before = reading(HUB, NOW - timedelta(days=6), {"systolic": 177.7, "diastolic": 91.0})
    between = reading(
        HUB, NOW - timedelta(days=4, hours=12), {"systolic": 166.6, "diastolic": 90.0}
    )
    ours = reading(HUB, NOW - timedelta(days=1), {"systolic": 133.3, "diastolic": 80.0})
    client = kari()
    for days in ("14", "90"):
        page = page_of(client, ola, f"?days={days}")
        assert f'id="reading-{ours.id}"' in page and "133.3" in page
        assert f'id="reading-{before.id}"' not in page and "177.7" not in page
        assert f'id="reading-{between.id}"' not in page and "166.6" not in page
    # Per's page (his team is Kari's too) has his own reading, not Ola's.
    page = page_of(client, per, "?days=14")
    assert f'id="reading-{before.id}"' in page and f'id="reading-{ours.id}"' not in page
    # Ola's nurse cannot mark Per's reading through Ola's page.
    response = client.post(f"/patients/{ola.pk}/invalid/", {"reading": before.id, "reason": "x"})
    assert response.status_code == 404 and not ReadingMark.objects.exists()


def test_marking_a_reading_invalid_needs_a_reason_and_is_audited(
    ward: dict[str, Any], notes_app: None
) -> None:
    ola = ward["ola"]
    care_plan()
    wrong = reading(HUB, NOW - timedelta(days=1), {"systolic": 210.0, "diastolic": 95.0})
    client = kari()
    for reason in ("", "   "):
        response = client.post(
            f"/patients/{ola.pk}/invalid/", {"reading": wrong.id, "reason": reason}
        )
        assert response.status_code == 400
    for hostile in (
        {"reading": "abc", "reason": "x"},
        {"reading": "-5", "reason": "x"},
        {"reason": "x"},
    ):
        assert client.post(f"/patients/{ola.pk}/invalid/", hostile).status_code == 400
    too_long = client.post(
        f"/patients/{ola.pk}/invalid/", {"reading": wrong.id, "reason": "x" * 501}
    )
    assert too_long.status_code == 400
    assert not ReadingMark.objects.exists()
    assert not AuditEntry.objects.filter(action="change").exists()
    reason = "<script>alert('x')</script> cuff on the wrong arm"
    response = client.post(
        f"/patients/{ola.pk}/invalid/?days=30", {"reading": wrong.id, "reason": reason}
    )
    assert response.status_code == 302 and response["Location"].endswith(
        f"/patients/{ola.pk}/?days=30"
    )
    mark = ReadingMark.objects.get(reading=wrong)
    assert mark.reason == reason and mark.by.username == "kari"
    entry = AuditEntry.objects.get(action="change", patient=ola)
    assert entry.user == "kari" and str(wrong.seq) in entry.what
    # Marked twice: one mark, one audit entry.
    client.post(f"/patients/{ola.pk}/invalid/", {"reading": wrong.id, "reason": "again"})
    assert (
        ReadingMark.objects.count() == 1 and AuditEntry.objects.filter(action="change").count() == 1
    )
    page = page_of(client, ola)
    assert "point-invalid" in page, "drawn hollow in the trend"
    assert (
        "<script>alert" not in page and "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;" in page
    )
    assert re.search(rf'<tr class="reading[^"]*marked-invalid[^"]*" id="reading-{wrong.id}"', page)


def test_notes_with_reminder_dates(ward: dict[str, Any], notes_app: None) -> None:
    from centre.notes.models import Note

    ola = ward["ola"]
    client = kari()
    url = f"/patients/{ola.pk}/notes/"
    for bad in (
        {"text": "", "remind_on": ""},
        {"text": "   ", "remind_on": ""},
        {"text": "ok", "remind_on": "2026-13-45"},
        {"text": "ok", "remind_on": "99999-01-01"},
        {"text": "x" * 2001, "remind_on": ""},
    ):
        assert client.post(url, bad).status_code == 400, bad
    assert not Note.objects.exists()
    text = "Rang datteren <img src=x onerror=alert(1)>; ny vekt fredag"
    response = client.post(url, {"text": text, "remind_on": "2026-12-04"})
    assert response.status_code == 302
    note = Note.objects.get()
    assert (
        note.remind_on == date(2026, 12, 4) and note.by.username == "kari" and note.done_at is None
    )
    assert AuditEntry.objects.filter(
        action="change", patient=ola, what__contains=str(note.pk)
    ).exists()
    page = page_of(client, ola)
    assert "Rang datteren &lt;img src=x onerror=alert(1)&gt;" in page and "04.12.2026" in page
    assert client.post(f"/patients/{ola.pk}/notes/done/", {"note": note.pk}).status_code == 302
    note.refresh_from_db()
    assert note.done_at is not None
    assert AuditEntry.objects.filter(action="change", patient=ola).count() == 2
    # A note of another patient cannot be done through this one's page.
    other = Note.objects.create(
        patient=ward["per"], text="x", by=note.by, remind_on=date(2026, 12, 5)
    )
    client.post(f"/patients/{ola.pk}/notes/done/", {"note": other.pk})
    other.refresh_from_db()
    assert other.done_at is None
    assert client.post(f"/patients/{ola.pk}/notes/done/", {"note": "x"}).status_code == 404


def test_the_message_form_refuses_what_the_hub_would(
    ward: dict[str, Any], notes_app: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("DHO_CENTRE_CONFIG", raising=False)
    ola = ward["ola"]
    client = kari()
    url = f"/patients/{ola.pk}/messages/"
    # Empty; longer than the hub takes; longer than her screen shows whole (10 rows of 48).
    for text in ("", "   ", "x" * 2001, "<script>" + "x" * 2000, "x" * 481):
        response = client.post(url, {"text": text})
        assert response.status_code == 400
        assert "<script>x" not in response.content.decode()
    assert not Document.objects.filter(doc_type="message").exists()
    # Within the limits but the web does not know the centre's keys: said, nothing recorded.
    response = client.post(url, {"text": "x" * 480})
    assert response.status_code == 400 and "DHO_CENTRE_CONFIG" in response.content.decode()
    assert not Document.objects.filter(doc_type="message").exists()
    assert not AuditEntry.objects.filter(action="change").exists()


def test_sending_a_message_records_it_and_says_when_the_broker_is_away(
    ward: dict[str, Any],
    notes_app: None,
    centre_db: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The real downlink: the message is checked, numbered and sealed to the hub's key; with no
    broker listening the nurse is told it was recorded but not delivered."""
    import socket

    from centre.admin import enrol_hub, init_centre
    from centre.config import load_centre_config
    from hub.config import to_toml

    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    config = tmp_path / "centre.toml"
    # A centre's keys, made for a database of its own (init refuses one holding hubs), then
    # pointed at the ward's.
    init_centre(config, tmp_path / "state", "127.0.0.1", port, "127.0.0.1", port)
    centre = load_centre_config(config).model_copy(update={"database": centre_db})
    config.write_text(to_toml(centre.model_dump(mode="json", exclude_none=True)))
    enrol_hub(centre, HUB)
    monkeypatch.setenv("DHO_CENTRE_CONFIG", str(tmp_path / "centre.toml"))
    ola = ward["ola"]
    response = kari().post(
        f"/patients/{ola.pk}/messages/", {"text": "Husk å veie deg <i>i morgen</i>"}
    )
    assert response.status_code == 502
    sent = Document.objects.get(doc_type="message", hub_id=HUB)
    assert json.loads(sent.content_json) == {"text": "Husk å veie deg <i>i morgen</i>"}
    assert AuditEntry.objects.filter(action="change", patient=ola, what__contains=HUB).exists()
    page = response.content.decode()
    assert "Husk å veie deg &lt;i&gt;i morgen&lt;/i&gt;" in page and "<i>i morgen" not in page


def test_messages_show_their_read_receipts_escaped(ward: dict[str, Any], notes_app: None) -> None:
    ola, per = ward["ola"], ward["per"]
    read = Document.objects.create(
        hub_id=HUB,
        doc_type="message",
        version=7,
        issued_at=NOW - timedelta(days=2),
        content_json=json.dumps({"text": "<script>alert(1)</script>Ring oss"}),
    )
    Document.objects.create(
        hub_id=HUB,
        doc_type="message",
        version=8,
        issued_at=NOW - timedelta(days=1),
        content_json=json.dumps({"text": "Ulest melding"}),
    )
    Document.objects.create(  # to Per, on the same hub, before Ola had it
        hub_id=HUB,
        doc_type="message",
        version=3,
        issued_at=NOW - timedelta(days=10),
        content_json=json.dumps({"text": "Til Per"}),
    )
    reading(
        HUB,
        NOW - timedelta(days=1, hours=20),
        {"message_version": read.version, "read_at": "x"},
        kind="message_receipt",
        time_source="hub_received",
    )
    client = kari()
    page = page_of(client, ola)
    section = page[page.index('id="messages"') :]
    assert (
        "&lt;script&gt;alert(1)&lt;/script&gt;Ring oss" in section and "<script>alert" not in page
    )
    assert "Ulest melding" in section and "Til Per" not in page
    rows = re.findall(r"<tr>\s*<td>.*?</tr>", section, re.S)
    read_row = next(r for r in rows if "Ring oss" in r)
    unread_row = next(r for r in rows if "Ulest" in r)
    assert 'class="muted"' not in read_row and 'class="muted"' in unread_row
    assert "Til Per" in page_of(client, per)


RESPONSE = {
    "resourceType": "QuestionnaireResponse",
    "id": "r-1",
    "questionnaire": "urn:dho:questionnaire:heart-failure",
    "status": "completed",
    "authored": "2026-11-30T08:00:00+01:00",
    "extension": [{"url": "urn:dho:questionnaire-total-score", "valueDecimal": 4}],
    "item": [
        {
            "linkId": "breath",
            "text": "Er du mer <b>andpusten</b> enn vanlig?",
            "answer": [{"valueCoding": {"code": "yes", "display": "Ja"}}],
        },
        {
            "linkId": "group",
            "text": "Hevelse",
            "item": [{"linkId": "legs", "text": "I beina?", "answer": [{"valueBoolean": True}]}],
        },
        {"linkId": "weight", "answer": [{"valueDecimal": 81.5}]},
    ],
}


def test_questionnaire_answers_as_questions_and_answers_with_the_score(
    ward: dict[str, Any], notes_app: None
) -> None:
    ola = ward["ola"]
    reading(
        HUB,
        NOW - timedelta(days=2),
        RESPONSE,
        kind="questionnaire_response",
        time_source="hub_received",
    )
    reading(
        HUB,
        NOW - timedelta(days=1),
        {
            **RESPONSE,
            "id": "r-2",
            "item": "not a list",
            "extension": [{"url": "urn:dho:questionnaire-total-score", "valueDecimal": 7}],
        },
        kind="questionnaire_response",
    )
    page = page_of(kari(), ola)
    section = page[page.index('id="answers"') : page.index('id="messages"')]
    assert "Er du mer &lt;b&gt;andpusten&lt;/b&gt; enn vanlig?" in section and "Ja" in section
    assert "I beina?" in section and 'class="depth-1"' in section and "81.5" in section
    assert "<strong>4" in section and "<strong>7" in section
    assert section.count("<article") == 2
    trends = page[page.index('id="trends"') : page.index('id="readings"')]
    score_plot = re.findall(r"<svg .*?</svg>", trends, re.S)[-1]
    assert score_plot.count('class="point point-within"') == 2
    # Answers are not listed as measurements.
    readings = page[page.index('id="readings"') : page.index('id="answers"')]
    assert "andpusten" not in readings


def reading_ids(page: str) -> list[int]:
    return [
        int(found) for found in re.findall(r'<tr class="reading[^"]*" id="reading-(\d+)"', page)
    ]


def test_the_readings_table_shows_a_page_at_a_time_newest_first(
    ward: dict[str, Any], notes_app: None
) -> None:
    ola = ward["ola"]
    care_plan()
    made = [
        reading(HUB, NOW - timedelta(minutes=10 * n), {"systolic": 130.0, "diastolic": 80.0})
        for n in range(TABLE_ROWS * 2 + 5)
    ]
    newest_first = [r.id for r in made]  # made from now backwards
    client = kari()
    first = page_of(client, ola, "?days=14")
    assert reading_ids(first) == newest_first[:TABLE_ROWS]
    assert f"Målinger 1–{TABLE_ROWS} av {len(made)} i denne perioden" in first  # noqa: RUF001
    assert 'href="?days=14&amp;rows=2#readings" rel="next"' in first and 'rel="prev"' not in first
    second = page_of(client, ola, "?days=14&rows=2")
    assert reading_ids(second) == newest_first[TABLE_ROWS : 2 * TABLE_ROWS]
    assert 'href="?days=14#readings" rel="prev"' in second
    assert 'href="?days=14&amp;rows=3#readings" rel="next"' in second
    last = page_of(client, ola, "?days=14&rows=3")
    assert reading_ids(last) == newest_first[2 * TABLE_ROWS :] and 'rel="next"' not in last
    # A page past the last is the last; garbage is the first; never a server error
    assert reading_ids(page_of(client, ola, "?days=14&rows=999999")) == reading_ids(last)
    for garbage in ("0", "-1", "x", "1e3", "\u0663", "9" * 40, "2%00", "%3Cb%3E"):
        assert reading_ids(page_of(client, ola, f"?days=14&rows={garbage}")) == reading_ids(first)
    # Marking a reading on the second page brings the nurse back to it
    on_second = newest_first[TABLE_ROWS + 3]
    assert "?days=14&amp;rows=2" in second.split(f'id="reading-{on_second}"')[1].split("</tr>")[0]
    response = client.post(
        f"/patients/{ola.pk}/invalid/?days=14&rows=2", {"reading": on_second, "reason": "cuff"}
    )
    assert response.status_code == 302
    assert response["Location"].endswith(f"/patients/{ola.pk}/?rows=2#readings")  # 14 days: default


@pytest.mark.parametrize(
    ("raw", "page"),
    [(None, 1), ("", 1), ("1", 1), ("2", 2), ("000007", 7), ("1234567", 1), ("x", 1)],
)
def test_table_page(raw: str | None, page: int) -> None:
    assert table_page(raw) == page


def test_the_page_takes_the_same_queries_for_one_reading_or_many(
    ward: dict[str, Any], notes_app: None
) -> None:
    from centre.notes.models import Note

    ola = ward["ola"]
    care_plan()
    client = kari()
    first = reading(HUB, NOW - timedelta(days=1), {"systolic": 150.0, "diastolic": 90.0})
    Document.objects.create(
        hub_id=HUB,
        doc_type="message",
        version=1,
        issued_at=NOW - timedelta(days=1),
        content_json="{}",
    )

    def queries() -> int:
        with CaptureQueriesContext(connection) as captured:
            page_of(client, ola, "?days=90")
        return len(captured.captured_queries)

    few = queries()
    user = User.objects.get(username="kari")
    ReadingMark.objects.create(reading=first, reason="x", by=user)
    for n in range(60):
        at = NOW - timedelta(hours=n + 1)
        reading(
            HUB,
            at,
            {"systolic": 120.0 + n, "diastolic": 80.0},
            outcome="flagged" if n % 5 else "ok",
        )
        reading(HUB, at, {"weight": 80.0 + n / 10}, kind="weight")
        reading(HUB, at, {"spo2": 95.0}, kind="spo2")
    for n in range(10):
        Note.objects.create(patient=ola, text=f"n{n}", by=user, remind_on=date(2026, 12, n + 1))
        Document.objects.create(
            hub_id=HUB,
            doc_type="message",
            version=100 + n,
            issued_at=NOW - timedelta(hours=n),
            content_json="{}",
        )
        reading(
            HUB, NOW - timedelta(minutes=n), {"message_version": 100 + n}, kind="message_receipt"
        )
    assert queries() == few


@pytest.mark.parametrize(
    ("code", "not_in"),
    [
        ("systolic_above_care_plan", "_"),
        ("spo2_below_care_plan", "_"),
        ("diastolic_out_of_range", "_"),
        ("pulse_rate_NaN", None),
        ("hub_could_not_assess", "_"),
        ("cuff_too_loose", "_"),
        ("something_new", "_"),
        ("_above_care_plan", None),
        ("<script>", None),
    ],
)
def test_problems_in_words(code: str, not_in: str | None) -> None:
    words = problem_words(code)
    assert words
    if not_in is not None:
        assert not_in not in words


@pytest.mark.parametrize(
    ("raw", "days"),
    [(None, 14), ("14", 14), ("30", 30), ("90", 90), ("31", 14), (" 30", 14), ("", 14)],
)
def test_period_days(raw: str | None, days: int) -> None:
    assert period_days(raw) == days


@pytest.mark.parametrize(
    ("response", "lines"),
    [
        (None, []),
        ("text", []),
        ({"item": "x"}, []),
        ({"item": [1, None, "x"]}, []),
        ({"item": [{"linkId": "a"}]}, [AnswerLine("a", (), 0)]),
        (
            {
                "item": [
                    {
                        "linkId": "a",
                        "text": "A?",
                        "answer": [{"valueInteger": 3}, {"valueString": "x"}],
                    }
                ]
            },
            [AnswerLine("A?", ("3", "x"), 0)],
        ),
        (
            {
                "item": [
                    {"linkId": "g", "item": [{"linkId": "b", "answer": [{"valueBoolean": False}]}]},
                    {"linkId": "c"},
                ]
            },
            [AnswerLine("g", (), 0), AnswerLine("b", ("False",), 1), AnswerLine("c", (), 0)],
        ),
        (
            {
                "item": [
                    {
                        "linkId": "q",
                        "answer": [{"valueCoding": {"code": "y"}, "item": [{"linkId": "why"}]}],
                    }
                ]
            },
            [AnswerLine("q", ("y",), 0), AnswerLine("why", (), 1)],
        ),
    ],
)
def test_answer_lines(response: Any, lines: list[AnswerLine]) -> None:
    assert answer_lines(response) == lines


def test_answer_lines_are_bounded_however_deep_or_wide() -> None:
    deep: dict[str, Any] = {"linkId": "leaf"}
    for n in range(10_000):
        deep = {"linkId": f"l{n}", "item": [deep]}
    assert len(answer_lines({"item": [deep]})) <= 8
    wide = {"item": [{"linkId": str(n), "item": [{"linkId": "x"}] * 50} for n in range(1000)]}
    assert len(answer_lines(wide)) == MAX_LINES


@pytest.mark.parametrize(
    ("response", "score"),
    [
        ({"extension": [{"url": "urn:dho:questionnaire-total-score", "valueDecimal": 4}]}, 4.0),
        ({"extension": [{"url": "urn:dho:questionnaire-total-score", "valueDecimal": "4"}]}, None),
        ({"extension": [{"url": "urn:dho:questionnaire-total-score", "valueDecimal": True}]}, None),
        ({"extension": [{"url": "other", "valueDecimal": 4}]}, None),
        ({"extension": "x"}, None),
        ([], None),
    ],
)
def test_answer_score(response: Any, score: float | None) -> None:
    assert total_score(response) == score


@pytest.mark.parametrize(
    ("values", "pairs"),
    [
        ({"systolic": 128.0, "unit": "mmHg"}, [("systolic", "128"), ("unit", "mmHg")]),
        ({"spo2": 97.25, "status": []}, [("SpO2", "97.25")]),
        ({"weight": float("nan")}, [("weight", "nan")]),
        ("not a dict", []),
        ({"x": "<b>" * 100}, [("x", ("<b>" * 100)[:200])]),
    ],
)
def test_values_text(values: Any, pairs: list[tuple[str, str]]) -> None:
    from django.utils import translation

    with translation.override("en"):  # the labels' own words (the page's are nb by default)
        assert values_text(values) == pairs


def test_episode_windows_leave_out_an_episode_that_ended_before_the_period(
    ward: dict[str, Any],
) -> None:
    episodes = list(CareEpisode.objects.filter(hub_id=HUB))
    assert episode_windows([], None) is None
    since = NOW - timedelta(days=3)
    windows = episode_windows(episodes, since)
    assert windows is not None
    ours = reading(HUB, NOW - timedelta(days=1), {"systolic": 1.0})
    reading(HUB, NOW - timedelta(days=6), {"systolic": 2.0})
    assert list(Reading.objects.filter(windows)) == [ours]


def test_a_form_shown_again_with_its_errors_is_an_audited_view(
    ward: dict[str, Any], notes_app: None
) -> None:
    """Attacker review: an empty POST re-rendered the whole page with nothing in the log."""
    client, patient = kari(), ward["ola"]
    before = AuditEntry.objects.filter(action="view", patient=patient).count()
    response = client.post(f"/patients/{patient.pk}/notes/", {"text": "", "remind_on": ""})
    assert response.status_code == 400
    assert AuditEntry.objects.filter(action="view", patient=patient).count() == before + 1
