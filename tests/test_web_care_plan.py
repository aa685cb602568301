"""The care-plan editor's page (issue 13): the plan of the patient's current hub as a form, the
issue's typos refused on their fields, a valid plan numbered, signed and sent as the next
version, another team's patient a 404, CSRF, hostile input answered with errors and never a
server error, every view and change audited. Django's test client on SQLite and PostgreSQL with
a real centre (keys, enrolled hub); one test through the real broker to the real hub daemon.
Assertions are on structure (fields, codes, ids), not on translated words."""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Callable, Iterator
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.test import Client
from django.utils import timezone

from centre.care_plan_form import shipped_questionnaire
from centre.people.models import AuditEntry, CareEpisode, Municipality, Patient, Team
from centre.records.models import Document, Hub
from centre.web.accounts import add_user
from centre.web.care_plan_forms import CarePlanEditor
from hub.core.care_plan import CarePlan, Limit, ScheduledMeasurement
from testbed.home import SimulatedHome
from tests.test_web_patient import sign_in
from tests.test_web_signin import PASSWORD

HUB = "hub-0001"
NOW = timezone.now()
PREVIOUS_PHONE = "+47 99 88 77 66"  # only in the previous patient's plan
OLA_PHONE = "+47 55 00 00 00"


def free_port() -> int:
    """A port nothing listens on: the broker is away."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@pytest.fixture(autouse=True)
def rendered_context() -> Iterator[None]:
    """The test client's response.context (Django's test environment instruments template
    rendering for it): the editor's forms, to assert on error codes, not on words."""
    from django.test.utils import setup_test_environment, teardown_test_environment

    try:
        setup_test_environment()
    except RuntimeError:  # already set up by another test's fixture: leave it to that one
        yield
        return
    try:
        yield
    finally:
        teardown_test_environment()


@pytest.fixture
def ward(centre_db: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """A real centre (keys, CA) on the test's database with hub-0001 enrolled and no broker;
    Kari in Øst with Ola on hub-0001 (which Per had before) and Lone without a hub; Nils in
    Vest with Eva."""
    from centre.admin import enrol_hub, init_centre

    port = free_port()
    centre = init_centre(
        tmp_path / "centre.toml",
        tmp_path / "state",
        "127.0.0.1",
        port,
        "127.0.0.1",
        port,
        database=centre_db,
    )
    enrol_hub(centre, HUB)
    monkeypatch.setenv("DHO_CENTRE_CONFIG", str(tmp_path / "centre.toml"))
    oslo = Municipality.objects.create(name="Oslo", number="0301")
    east = Team.objects.create(name="Øst", municipality=oslo)
    west = Team.objects.create(name="Vest", municipality=oslo)
    add_user("kari", "nurse", ["Øst"], PASSWORD, "Kari Nordmann")
    add_user("nils", "nurse", ["Vest"], PASSWORD, "Nils Vik")

    def patient(name: str, national_id: str, team: Team) -> Patient:
        return Patient.objects.create(
            name=name,
            birth_date=date(1950, 1, 1),
            national_id=national_id,
            diagnosis="heart_failure",
            team=team,
        )

    ola = patient("Ola Nordmann", "15076500566", east)
    per = patient("Per Tidligere", "01010012356", east)
    lone = patient("Lone Uten", "01015012345", east)
    eva = patient("Eva Vest", "01015012426", west)
    Hub.objects.create(hub_id="hub-0002", signing_key="test", enrolled_at=NOW)
    CareEpisode.objects.create(
        patient=per, hub_id=HUB, started=NOW - timedelta(days=60), ended=NOW - timedelta(days=5)
    )
    CareEpisode.objects.create(patient=ola, hub_id=HUB, started=NOW - timedelta(days=4))
    CareEpisode.objects.create(patient=eva, hub_id="hub-0002", started=NOW - timedelta(days=30))
    return {"ola": ola, "per": per, "lone": lone, "eva": eva}


def sent_plan(plan: dict[str, Any], days_ago: float, hub: str = HUB) -> Document:
    """A care plan as the centre recorded it, `days_ago`."""
    return Document.objects.create(
        hub_id=hub,
        doc_type="care_plan",
        version=Document.objects.filter(hub_id=hub, doc_type="care_plan").count() + 1,
        issued_at=NOW - timedelta(days=days_ago),
        content_json=json.dumps(plan),
    )


PER_PLAN = {
    "schedule": [{"kind": "weight", "times": ["07:00"]}],
    "thresholds": {"weight": {"weight": {"max": 90.0}}},
    "centre_phone": PREVIOUS_PHONE,
}
OLA_PLAN = {
    "schedule": [{"kind": "blood_pressure", "times": ["08:00", "20:00"]}],
    "thresholds": {"blood_pressure": {"systolic": {"min": 90.0, "max": 180.0}}},
    "centre_phone": OLA_PHONE,
}


def client_of(username: str) -> Client:
    client = Client()
    sign_in(client, username)
    return client


def url_of(patient: Patient) -> str:
    return f"/patients/{patient.pk}/care-plan/"


def management(prefix: str, total: int) -> dict[str, str]:
    return {
        f"{prefix}-TOTAL_FORMS": str(total),
        f"{prefix}-INITIAL_FORMS": "0",
        f"{prefix}-MIN_NUM_FORMS": "0",
        f"{prefix}-MAX_NUM_FORMS": "1000",
    }


def form(based_on: int, **fields: Any) -> dict[str, Any]:
    """The editor's fields as a browser sends them."""
    return {
        **management("schedule", 2),
        **management("limits", 3),
        "based_on": str(based_on),
        "questionnaire": "",
        "centre_phone": "",
        **fields,
    }


VALID = {
    "schedule-0-kind": "blood_pressure",
    "schedule-0-times": "8.00, 20:00",
    "schedule-1-kind": "questionnaire",
    "schedule-1-times": "09:00",
    "limits-0-measure": "blood_pressure.systolic",
    "limits-0-min": "95",
    "limits-0-max": "170",
    "limits-1-measure": "temperature.temperature",
    "limits-1-max": "38,5",
    "questionnaire": "copd-daily",
    "centre_phone": "55 00 00 00",
}
VALID_PLAN = CarePlan(
    schedule=(
        ScheduledMeasurement(kind="blood_pressure", times=("08:00", "20:00")),
        ScheduledMeasurement(kind="questionnaire", times=("09:00",)),
    ),
    thresholds={
        "blood_pressure": {"systolic": Limit(min=95, max=170)},
        "temperature": {"temperature": Limit(max=38.5)},
    },
    questionnaire=shipped_questionnaire("copd-daily"),
    centre_phone=OLA_PHONE,
)


def plans() -> list[Document]:
    return list(Document.objects.filter(doc_type="care_plan").order_by("hub_id", "version"))


def changes() -> list[AuditEntry]:
    return list(AuditEntry.objects.filter(action="change"))


def editor_of(response: Any) -> CarePlanEditor:
    editor = response.context["editor"]
    assert isinstance(editor, CarePlanEditor)
    return editor


def test_the_editor_starts_from_the_plan_sent_in_this_episode_only(
    ward: dict[str, Any],
) -> None:
    ola = ward["ola"]
    sent_plan(PER_PLAN, days_ago=10)  # version 1: Per's, before Ola's episode
    client = client_of("kari")
    response = client.get(url_of(ola))
    assert response.status_code == 200
    page = response.content.decode()
    assert response.context["sent"] is None, "the previous patient's plan is not Ola's"
    assert "99 88 77 66" not in page and 'value="07:00"' not in page
    assert 'id="care-plan-form"' in page and 'enctype="multipart/form-data"' in page
    assert 'name="based_on" value="0"' in page

    sent_plan(OLA_PLAN, days_ago=2)  # version 2: Ola's
    response = client.get(url_of(ola))
    page = response.content.decode()
    assert response.context["sent"].version == 2
    assert 'id="sent-version"' in page and 'name="based_on" value="2"' in page
    assert "55 00 00 00" in page and 'value="08:00, 20:00"' in page
    assert "99 88 77 66" not in page
    # the form as sent back unchanged is the plan the hub was sent
    assert editor_of(response).held_problems == ()
    views = AuditEntry.objects.filter(action="view", patient=ola, user="kari")
    assert views.count() == 2


def test_a_hand_written_plan_s_problems_are_shown(ward: dict[str, Any]) -> None:
    sent_plan(
        {
            "schedule": [{"kind": "blodtrykk", "times": ["08:00"]}],
            "thresholds": {"pulse_oximeter": {"spo2": {"min": 90.0}}},
        },
        days_ago=1,
    )
    response = client_of("kari").get(url_of(ward["ola"]))
    assert response.status_code == 200
    assert [e.code for e in editor_of(response).held_problems] == [
        "unknown_kind",
        "unknown_kind",
    ]
    page = response.content.decode()
    assert 'id="held-problems"' in page and "blodtrykk" in page and "pulse_oximeter" in page


def test_a_patient_without_a_hub_gets_a_page_without_a_form(ward: dict[str, Any]) -> None:
    lone = ward["lone"]
    client = client_of("kari")
    response = client.get(url_of(lone))
    assert response.status_code == 200
    page = response.content.decode()
    assert 'id="no-hub"' in page and "<form" not in page.split("<main", 1)[1]
    response = client.post(url_of(lone), form(0, **VALID))
    assert response.status_code == 200 and 'id="no-hub"' in response.content.decode()
    assert plans() == [] and changes() == []
    assert AuditEntry.objects.filter(action="view", patient=lone).count() == 2


def test_the_issue_s_typos_are_refused_on_their_fields_and_nothing_is_numbered(
    ward: dict[str, Any],
) -> None:
    sent_plan(OLA_PLAN, days_ago=1)
    typos = {
        "schedule-0-kind": "blodtrykk",
        "schedule-0-times": "25:99",
        "limits-0-measure": "blood_presure.systolc",
        "limits-0-max": "180",
    }
    response = client_of("kari").post(url_of(ward["ola"]), form(1, **typos))
    assert response.status_code == 200
    editor = editor_of(response)
    assert editor.schedule.forms[0].has_error("kind", "unknown_kind")
    assert editor.schedule.forms[0].has_error("times", "bad_time")
    assert editor.limits.forms[0].has_error("measure", "unknown_kind")
    page = response.content.decode()
    assert 'id="care-plan-form"' in page and page.count('class="error"') >= 3
    assert 'value="25:99"' in page, "the form is shown again as typed"
    assert [d.version for d in plans()] == [1] and changes() == []


def test_a_valid_plan_is_the_next_version_and_the_nurse_hears_the_broker_is_away(
    ward: dict[str, Any],
) -> None:
    ola = ward["ola"]
    sent_plan(PER_PLAN, days_ago=10)
    sent_plan(OLA_PLAN, days_ago=2)
    response = client_of("kari").post(url_of(ola), form(2, **VALID))
    # Recorded and signed, but the broker (a port nothing listens on) did not take it.
    assert response.status_code == 502
    newest = plans()[-1]
    assert newest.version == 3 and newest.hub_id == HUB
    assert CarePlan.model_validate(json.loads(newest.content_json)) == VALID_PLAN
    page = response.content.decode()
    assert 'id="problem"' in page and 'role="alert"' in page
    assert response.context["sent"].version == 3, "the page shows the version recorded"
    assert 'name="based_on" value="3"' in page
    [change] = changes()
    assert change.patient == ola and change.user == "kari"
    assert "3" in change.what and HUB in change.what


def test_without_the_centre_s_keys_nothing_is_recorded(
    ward: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("DHO_CENTRE_CONFIG")
    response = client_of("kari").post(url_of(ward["ola"]), form(0, **VALID))
    assert response.status_code == 400
    assert "DHO_CENTRE_CONFIG" in response.content.decode()
    assert plans() == [] and changes() == []


def test_a_plan_sent_meanwhile_is_not_overwritten_unseen(ward: dict[str, Any]) -> None:
    sent_plan(OLA_PLAN, days_ago=1)
    client = client_of("kari")
    response = client.post(url_of(ward["ola"]), form(0, **VALID))  # started before version 1
    assert response.status_code == 200 and response.context["problem"]
    assert 'name="based_on" value="1"' in response.content.decode()
    assert [d.version for d in plans()] == [1] and changes() == []


def test_another_team_s_patient_is_a_404_on_get_and_post(ward: dict[str, Any]) -> None:
    client = client_of("kari")
    eva = ward["eva"]
    assert client.get(url_of(eva)).status_code == 404
    assert client.post(url_of(eva), form(0, **VALID)).status_code == 404
    for guessed in ("/patients/999999/care-plan/", f"/patients/{2**63}/care-plan/"):
        assert client.get(guessed).status_code == 404
    assert plans() == [] and changes() == []
    assert not AuditEntry.objects.filter(patient=eva).exists()
    # Nils, her nurse, sees her editor (a hub without a plan yet).
    assert client_of("nils").get(url_of(eva)).status_code == 200


def test_a_post_without_the_csrf_token_is_refused(ward: dict[str, Any]) -> None:
    client = client_of("kari")
    client.handler.enforce_csrf_checks = True
    response = client.post(url_of(ward["ola"]), form(0, **VALID))
    assert response.status_code == 403
    assert plans() == [] and changes() == []
    # with the token the page's form carries, the same post gets through to the check
    page = client.get(url_of(ward["ola"]))
    token = page.context["csrf_token"]
    response = client.post(url_of(ward["ola"]), form(0, **VALID, csrfmiddlewaretoken=token))
    assert response.status_code == 502 and [d.version for d in plans()] == [1]


SCRIPT = "<script>alert(1)</script>"


@pytest.mark.parametrize(
    ("fields", "where", "code"),
    [
        ({"schedule-TOTAL_FORMS": "1000000"}, "schedule", None),
        ({"limits-TOTAL_FORMS": "99999999999999999999"}, "limits", None),
        ({"schedule-TOTAL_FORMS": "x"}, "schedule", None),
        ({"centre_phone": SCRIPT}, "centre_phone", "bad_phone"),
        ({"centre_phone": "9" * 10_000}, "centre_phone", "bad_phone"),
        ({"limits-0-min": "NaN"}, "limits-0-min", "not_finite"),
        ({"limits-0-max": "inf"}, "limits-0-max", "not_finite"),
        ({"limits-0-max": "-Infinity"}, "limits-0-max", "not_finite"),
        ({"limits-0-max": "1e999"}, "limits-0-max", "implausible"),
        ({"limits-0-max": SCRIPT}, "limits-0-max", "not_a_number"),
        ({"schedule-0-kind": SCRIPT}, "schedule-0-kind", "unknown_kind"),
        ({"schedule-0-times": SCRIPT}, "schedule-0-times", "bad_time"),
        ({"questionnaire": SCRIPT}, "questionnaire", "unknown_questionnaire"),
        (
            {"questionnaire": "uploaded", "questionnaire_json": '{"resourceType": ' + SCRIPT},
            "questionnaire_json",
            "questionnaire_malformed",
        ),
    ],
)
def test_hostile_input_gets_errors_never_a_server_error(
    ward: dict[str, Any], fields: dict[str, str], where: str, code: str | None
) -> None:
    response = client_of("kari").post(url_of(ward["ola"]), form(0, **{**VALID, **fields}))
    assert response.status_code == 200
    editor = editor_of(response)
    if code is None:
        formset = editor.schedule if where == "schedule" else editor.limits
        assert formset.non_form_errors()
    elif where.startswith(("schedule-", "limits-")):
        prefix, n, name = where.split("-")
        formset = editor.schedule if prefix == "schedule" else editor.limits
        field = "measure" if name == "kind" and prefix == "limits" else name
        assert formset.forms[int(n)].has_error(field, code), formset.forms[int(n)].errors
    else:
        assert editor.main.has_error(where, code), editor.main.errors
    page = response.content.decode()
    assert "<script>alert" not in page
    assert plans() == [] and changes() == []


def test_a_10_mb_upload_is_refused_without_a_server_error(ward: dict[str, Any]) -> None:
    huge = SimpleUploadedFile("q.json", b"{" + b" " * (10 * 1024 * 1024) + b"}")
    data = form(0, **{**VALID, "questionnaire": "uploaded", "questionnaire_file": huge})
    response = client_of("kari").post(url_of(ward["ola"]), data)
    assert response.status_code == 200
    assert editor_of(response).main.has_error("questionnaire_file", "questionnaire_too_large")
    assert plans() == [] and changes() == []


@pytest.mark.parametrize("based_on", ["", "x", "-1", str(2**64), "1.5"])
def test_a_forged_version_field_is_refused(ward: dict[str, Any], based_on: str) -> None:
    data = form(0, **VALID)
    data["based_on"] = based_on
    response = client_of("kari").post(url_of(ward["ola"]), data)
    assert response.status_code == 200 and response.context["problem"]
    assert plans() == [] and changes() == []


def test_the_patient_page_is_reached_and_the_editor_has_no_inline_script_or_style(
    ward: dict[str, Any],
) -> None:
    sent_plan(OLA_PLAN, days_ago=1)
    response = client_of("kari").get(url_of(ward["ola"]))
    page = response.content.decode()
    assert "<script" not in page and " style=" not in page and " on" + "click=" not in page
    assert f'href="/patients/{ward["ola"].pk}/"' in page
    assert "default-src 'none'" in response["Content-Security-Policy"]


def test_the_patient_page_links_to_the_editor_while_the_patient_has_a_hub(
    ward: dict[str, Any],
) -> None:
    client = client_of("kari")
    with_hub = client.get(f"/patients/{ward['ola'].pk}/").content.decode()
    assert f'href="{url_of(ward["ola"])}"' in with_hub
    without = client.get(f"/patients/{ward['lone'].pk}/").content.decode()
    assert 'id="edit-care-plan"' not in without


def wait_for(check: Callable[[], Any], what: str, within_s: float = 30.0) -> Any:
    """Poll until `check` gives something truthy; fail naming `what` after `within_s`."""
    deadline = time.monotonic() + within_s
    while not (result := check()):
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {within_s:.0f} s waiting for {what}")
        time.sleep(0.2)
    return result


def test_the_hub_holds_the_new_version_through_the_real_broker(
    home: SimulatedHome, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The editor end to end: the plan the hub holds (version 1, sent by the CLI) is the form's
    start; a changed limit becomes version 2, signed, sealed to the hub, published to the real
    broker and taken by the real hub daemon."""
    from centre.store import CentreStore
    from testbed.centre_db import use_default

    home.start_hub()
    plan_file = home.workdir / "plan.json"
    plan_file.write_text(json.dumps(OLA_PLAN))
    started = timezone.now() - timedelta(minutes=1)  # the episode began before version 1
    sent = home.centre_cli("send-care-plan", home.hub_id, str(plan_file))
    assert sent.returncode == 0, sent.stderr
    wait_for(lambda: home.hub_status()["care_plan_version"] == 1, "the hub to hold version 1")
    CentreStore(home.centre.database_url, migrate=True)
    use_default(home.centre.database_url)
    monkeypatch.setenv("DHO_CENTRE_CONFIG", str(home.centre_config))
    try:
        oslo = Municipality.objects.create(name="Oslo", number="0301")
        east = Team.objects.create(name="Øst", municipality=oslo)
        add_user("kari", "nurse", ["Øst"], PASSWORD, "Kari Nordmann")
        ola = Patient.objects.create(
            name="Ola Nordmann",
            birth_date=date(1965, 7, 15),
            national_id="15076500566",
            diagnosis="heart_failure",
            team=east,
        )
        CareEpisode.objects.create(patient=ola, hub_id=home.hub_id, started=started)
        client = client_of("kari")
        shown = client.get(url_of(ola))
        assert shown.context["sent"].version == 1
        # The form as the page gives it, with the upper limit changed.
        editor = editor_of(shown)
        data = form(1)
        for prefix, formset in (("schedule", editor.schedule), ("limits", editor.limits)):
            shown_counts = formset.management_form.initial  # as the page's hidden fields
            data.update({f"{prefix}-{k}": str(v) for k, v in shown_counts.items()})
            for n, row in enumerate(formset.forms):
                data.update({f"{prefix}-{n}-{k}": str(v) for k, v in row.initial.items()})
        data.update({k: str(v) for k, v in editor.main.initial.items()})
        data["limits-0-max"] = "165"
        response = client.post(url_of(ola), data)
        assert response.status_code == 302, response.content[:2000]
        assert response["Location"] == f"/patients/{ola.pk}/#care"
        expected = CarePlan(
            schedule=(ScheduledMeasurement(kind="blood_pressure", times=("08:00", "20:00")),),
            thresholds={"blood_pressure": {"systolic": Limit(min=90, max=165)}},
            centre_phone=OLA_PHONE,
        )
        newest = Document.objects.get(hub_id=home.hub_id, doc_type="care_plan", version=2)
        assert CarePlan.model_validate(json.loads(newest.content_json)) == expected
        status = wait_for(
            lambda: (s := home.hub_status())["care_plan_version"] == 2 and s,
            "the hub to hold version 2",
        )
        assert CarePlan.model_validate(status["care_plan"]) == expected
        assert AuditEntry.objects.filter(action="change", patient=ola, user="kari").count() == 1
    finally:
        connection.close()
