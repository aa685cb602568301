"""The reports in the web (issue 13, "Reports"): the team and patient report page and its CSV, the
GP summary and the FHIR export, with Django's test client on SQLite and PostgreSQL. The figures
on a known data set are the pure modules' own; another team's patient or team is a 404 for every
URL; every download is audited; a hostile patient name cannot become a spreadsheet formula;
the FHIR download is a valid R4 Bundle; hostile parameters get a 400 or are clamped, never a
500; the number of queries does not grow with the number of patients."""

from __future__ import annotations

import csv
import io
import json
import logging
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from fhir.resources.R4B.bundle import Bundle

from centre import reports
from centre.followup.models import Acknowledgement, ReadingMark
from centre.notes.models import Note
from centre.people.models import AuditEntry, CareEpisode, Municipality, Patient, Team
from centre.records.models import Document, Hub, Reading
from centre.web import report_data
from centre.web.accounts import add_user
from centre.web.trends import Point
from hub.core.care_plan import CarePlan
from tests.test_web_patient import sign_in
from tests.test_web_signin import PASSWORD

OSLO = ZoneInfo("Europe/Oslo")
HUB, OTHER_HUB, HOSTILE_HUB = "hub-0001", "hub-0002", "hub-0003"
HOSTILE = '=HYPERLINK("http://evil.example","click")'
PLAN = {
    "schedule": [
        {"kind": "blood_pressure", "times": ["08:00"]},
        {"kind": "questionnaire", "times": ["09:00"]},
    ],
    "thresholds": {"blood_pressure": {"systolic": {"min": 90.0, "max": 180.0}}},
    "centre_phone": "+4722000000",
}


def local(day: date, hour: int, minute: int = 0) -> datetime:
    return datetime.combine(day, time(hour, minute), tzinfo=OSLO).astimezone(UTC)


TODAY = timezone.localdate()
STARTED = local(TODAY - timedelta(days=15), 0)
ENDED = local(TODAY, 0)  # ended at midnight: every scheduled time is past, whenever this runs
_seq = iter(range(1, 10**6))


def reading(
    hub: str,
    at: datetime,
    values: dict[str, Any],
    kind: str = "blood_pressure",
    outcome: str = "ok",
) -> Reading:
    return Reading.objects.create(
        hub_id=hub,
        seq=next(_seq),
        kind=kind,
        characteristic="2a35",
        device_address="00:BB:00:00:00:02",
        device_time=None,
        measured_at=at,
        time_source="device",
        clock_correction_s=None,
        hub_clock_synced=True,
        hub_clock_offset_s=None,
        received_at=at + timedelta(minutes=1),
        outcome=outcome,
        problems_json="[]",
        raw_hex="00",
        values_json=json.dumps(values),
        batch_id="b",
        stored_at=at + timedelta(minutes=2),
        content_digest=f"{next(_seq):064x}",
    )


def answers(hub: str, at: datetime) -> Reading:
    response = {
        "resourceType": "QuestionnaireResponse",
        "status": "completed",
        "authored": at.isoformat(),
        "item": [{"linkId": "1", "text": "Tung pust?", "answer": [{"valueBoolean": False}]}],
    }
    return reading(hub, at, response, kind="questionnaire_response")


@pytest.fixture
def ward(centre_db: str) -> dict[str, Any]:
    """Kari in Øst with Ola (hub-0001, a known fortnight) and a patient with a hostile name;
    Nils in Vest with Eva."""
    oslo = Municipality.objects.create(name="Oslo", number="0301")
    east = Team.objects.create(name="Øst", municipality=oslo)
    west = Team.objects.create(name="Vest", municipality=oslo)
    kari = add_user("kari", "nurse", ["Øst"], PASSWORD, "Kari Nordmann")
    add_user("nils", "nurse", ["Vest"], PASSWORD, "Nils Vik")
    ola = Patient.objects.create(
        name="Ola Nordmann",
        birth_date=date(1965, 7, 15),
        national_id="15076500050",
        diagnosis="heart_failure",
        team=east,
    )
    hostile = Patient.objects.create(
        name=HOSTILE,
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
    for hub in (HUB, OTHER_HUB, HOSTILE_HUB):
        Hub.objects.create(hub_id=hub, signing_key="test", enrolled_at=STARTED - timedelta(days=9))
    CareEpisode.objects.create(patient=ola, hub_id=HUB, started=STARTED, ended=ENDED)
    CareEpisode.objects.create(patient=hostile, hub_id=HOSTILE_HUB, started=STARTED, ended=ENDED)
    CareEpisode.objects.create(patient=eva, hub_id=OTHER_HUB, started=STARTED)
    for hub in (HUB, HOSTILE_HUB, OTHER_HUB):
        Document.objects.create(
            hub_id=hub,
            doc_type="care_plan",
            version=1,
            issued_at=STARTED,
            content_json=json.dumps(PLAN),
        )
    nurse = kari_user()
    red_acked = red_open = None
    for days_ago in range(1, 15):
        day = TODAY - timedelta(days=days_ago)
        if days_ago == 7:
            continue  # missed
        systolic = {3: 200.0, 5: 190.0}.get(days_ago, 120.0 + days_ago)
        row = reading(HUB, local(day, 8, 10), {"systolic": systolic, "diastolic": 80.0})
        if days_ago == 3:
            red_acked = row
        if days_ago == 5:
            red_open = row
        if days_ago <= 4:
            answers(HUB, local(day, 9, 5))
    assert red_acked is not None and red_open is not None
    Acknowledgement.objects.create(
        patient=ola,
        key=f"reading:{red_acked.id}",
        by=nurse,
        at=red_acked.stored_at + timedelta(minutes=30),
        with_receipt=True,
    )
    # A reading marked invalid still counts as done, and is not red.
    invalid = reading(HUB, local(TODAY - timedelta(days=7), 20), {"systolic": 250.0})
    ReadingMark.objects.create(reading=invalid, reason="feil mansjett", by=nurse)
    # A control-solution test: not the patient's blood, left out of the FHIR export.
    reading(
        HUB,
        local(TODAY - timedelta(days=2), 12),
        {"glucose_concentration": 0.0055, "unit": "mol/L", "sample_type": "control_solution"},
        kind="glucose",
    )
    reading(HOSTILE_HUB, local(TODAY - timedelta(days=2), 8, 1), {"systolic": 185.0})
    reading(OTHER_HUB, local(TODAY - timedelta(days=2), 8, 1), {"systolic": 200.0})
    Note.objects.create(patient=ola, text="Rang datteren <script>x</script>", by=nurse)
    return {"kari": kari, "ola": ola, "hostile": hostile, "eva": eva, "east": east, "west": west}


def kari_user() -> Any:
    from django.contrib.auth.models import User

    return User.objects.get(username="kari")


def client_of(username: str = "kari") -> Client:
    client = Client()
    sign_in(client, username)
    return client


def csv_rows(response: Any) -> list[list[str]]:
    assert response.status_code == 200, response.content[:1000]
    assert response["Content-Disposition"].startswith("attachment; filename=")
    text = response.content.decode("utf-8")
    assert text.startswith("\ufeff")
    return list(csv.reader(io.StringIO(text[1:])))


# --- what the pure modules say about the known data set -----------------------------------
def expected(patient: Patient, hub: str, period: reports.Period, as_of: datetime) -> Any:
    """The pure module's figures from the same data, read back plainly."""
    plan = CarePlan.model_validate(PLAN)
    episode = reports.Episode("p", STARTED, ENDED, (reports.PlanVersion(STARTED, plan),))
    rows = Reading.objects.filter(hub_id=hub).order_by("measured_at")
    marked = set(ReadingMark.objects.values_list("reading_id", flat=True))
    done = [reports.Done("p", r.kind, r.measured_at, r.id in marked) for r in rows]
    acks = {a.key: a.at for a in Acknowledgement.objects.filter(patient=patient)}
    red = [
        reports.RedItem("p", f"reading:{r.id}", r.stored_at, acks.get(f"reading:{r.id}"))
        for r in rows
        if r.kind == "blood_pressure"
        and r.id not in marked
        and json.loads(r.values_json).get("systolic", 0) > 180
    ]
    return (
        reports.adherence(episode, done, period, as_of),
        reports.acknowledgement_times(red, period, as_of),
    )


def test_the_figures_are_the_pure_modules_on_a_known_data_set(ward: dict[str, Any]) -> None:
    ola = ward["ola"]
    client = client_of()
    period = report_data.period_of(4, TODAY)
    weeks_adherence, weeks_ack = expected(ola, HUB, period, timezone.now())
    # The known 15 days: 15 mornings scheduled, 13 done (none on the first, none a week ago);
    # questionnaires 4 of 15; two red, one acknowledged.
    assert sum(w.measurements_scheduled for w in weeks_adherence) == 15
    assert sum(w.questionnaires_scheduled for w in weeks_adherence) == 15
    assert sum(w.measurements_done for w in weeks_adherence) == 13
    assert sum(w.questionnaires_done for w in weeks_adherence) == 4
    assert sum(w.raised for w in weeks_ack) == 2 and sum(w.open for w in weeks_ack) == 1

    query = f"?patient={ola.pk}&weeks=4"
    rows = csv_rows(client.get(f"/reports/csv/{query}&table=adherence"))
    assert len(rows[0]) == 1 + len(reports.ADHERENCE_HEADER)  # team, then the pure columns
    got = [r[2:8] for r in rows[1:]]
    want = [
        [
            reports.week_label(w.week),
            str(w.days),
            str(w.measurements_scheduled),
            str(w.measurements_done),
            str(w.questionnaires_scheduled),
            str(w.questionnaires_done),
        ]
        for w in weeks_adherence
    ]
    assert got == want
    assert all(r[0] == "Øst" and r[1] == "Ola Nordmann" for r in rows[1:])

    rows = csv_rows(client.get(f"/reports/csv/{query}&table=acknowledgement"))
    got = [r[2:] for r in rows[1:]]
    want = [
        [
            reports.week_label(w.week),
            str(w.raised),
            str(w.acknowledged),
            str(w.open),
            reports.safe_cell(w.median_minutes),
            reports.safe_cell(w.p90_minutes),
        ]
        for w in weeks_ack
    ]
    assert got == want
    assert [r[6] for r in rows[1:] if r[6]] == ["30"]  # acknowledged 30 minutes after

    # The team's CSV: the team's sum (no patient) first, then each patient's weeks.
    rows = csv_rows(client.get("/reports/csv/?weeks=4&table=adherence"))
    team_rows = [r for r in rows[1:] if r[1] == ""]
    assert [r[2] for r in team_rows] == [reports.week_label(w) for w in reports.weeks(period)]
    assert sum(int(r[4]) for r in team_rows) == 15 + 15  # Ola's and the hostile patient's
    rows = csv_rows(client.get("/reports/csv/?weeks=4&table=active"))
    assert max(int(r[2]) for r in rows[1:]) == 2  # two of Kari's patients followed
    assert all(r[0] == "Øst" for r in rows[1:])  # never Vest's

    page = client.get(f"/reports/{query}")
    assert page.status_code == 200
    html = page.content.decode()
    assert html.count('<td class="open">1</td>') == 1 and "Eva Vest" not in html


def test_the_team_page_lists_only_her_teams_and_escapes_names(ward: dict[str, Any]) -> None:
    client = client_of()
    response = client.get("/reports/")
    assert response.status_code == 200
    html = response.content.decode()
    assert html.count('class="report-team"') == 1 and "Vest" not in html
    assert html.count('class="report-patient-row"') == 2
    assert 'href="http://evil' not in html and "=HYPERLINK(&quot;http://evil" in html
    assert "<script" not in html and " style=" not in html  # the CSP forbids inline style


def test_another_teams_patient_or_team_is_a_404_for_every_url(ward: dict[str, Any]) -> None:
    client = client_of()
    eva, west = ward["eva"], ward["west"]
    for url in (
        f"/reports/?patient={eva.pk}",
        f"/reports/?team={west.pk}",
        f"/reports/csv/?patient={eva.pk}",
        f"/reports/csv/?team={west.pk}&table=active",
        f"/reports/?patient={ward['ola'].pk}&team={west.pk}",
        f"/reports/patients/{eva.pk}/gp-summary/",
        f"/reports/patients/{eva.pk}/fhir/",
        "/reports/patients/999999/gp-summary/",
        "/reports/patients/999999/fhir/",
        f"/reports/patients/{2**64}/fhir/",
        f"/reports/?patient={2**64}",
    ):
        assert client.get(url).status_code == 404, url
    assert not AuditEntry.objects.filter(patient=eva).exists()
    # Nils sees his own.
    assert client_of("nils").get(f"/reports/patients/{eva.pk}/gp-summary/").status_code == 200


def test_every_view_and_export_is_audited(ward: dict[str, Any]) -> None:
    client = client_of()
    ola, hostile = ward["ola"], ward["hostile"]
    assert client.get("/reports/?weeks=2").status_code == 200
    views = AuditEntry.objects.filter(user="kari", action="view")
    assert {e.patient_id for e in views} == {ola.pk, hostile.pk}
    csv_rows(client.get("/reports/csv/?table=acknowledgement"))
    exports = AuditEntry.objects.filter(user="kari", action="export")
    assert {e.patient_id for e in exports} == {ola.pk, hostile.pk}
    assert client.get(f"/reports/patients/{ola.pk}/fhir/").status_code == 200
    assert AuditEntry.objects.filter(action="export", patient=ola).count() == 2
    assert client.get(f"/reports/patients/{ola.pk}/gp-summary/").status_code == 200
    assert AuditEntry.objects.filter(action="view", patient=ola).count() == 2


def test_a_formula_in_a_name_stays_text_in_every_csv(ward: dict[str, Any]) -> None:
    client = client_of()
    for table in ("adherence", "acknowledgement"):
        rows = csv_rows(client.get(f"/reports/csv/?table={table}"))
        names = {r[1] for r in rows[1:]}
        assert "'" + HOSTILE in names and HOSTILE not in names, table
        assert not any(cell.startswith(reports.FORMULA_STARTS) for r in rows for cell in r)


def test_the_fhir_download_is_a_valid_r4_bundle_and_says_what_it_left_out(
    ward: dict[str, Any], caplog: pytest.LogCaptureFixture
) -> None:
    ola = ward["ola"]
    with caplog.at_level(logging.WARNING, logger="centre.web.views.reports"):
        response = client_of().get(f"/reports/patients/{ola.pk}/fhir/?weeks=4")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/fhir+json")
    assert response["Content-Disposition"].startswith("attachment; filename=")
    bundle = json.loads(response.content)
    Bundle.model_validate(bundle)  # raises on anything R4 does not allow
    kinds = [e["resource"]["resourceType"] for e in bundle["entry"]]
    assert kinds.count("Patient") == 1 and kinds.count("QuestionnaireResponse") == 4
    assert kinds.count("Observation") >= 14
    statuses = {e["resource"].get("status") for e in bundle["entry"]}
    assert "entered-in-error" in statuses  # the reading marked invalid
    assert response["X-Left-Out"] == "1"
    assert "control-solution" in caplog.text
    assert AuditEntry.objects.filter(action="export", patient=ola).count() == 1


def test_a_wrong_identity_number_is_said_not_a_crash(ward: dict[str, Any]) -> None:
    ola = ward["ola"]
    Patient.objects.filter(pk=ola.pk).update(national_id="15076500566")  # a check digit off
    response = client_of().get(f"/reports/patients/{ola.pk}/fhir/")
    assert response.status_code == 409
    assert b'class="error"' in response.content
    assert not AuditEntry.objects.filter(action="export", patient=ola).exists()


@pytest.mark.parametrize(
    ("query", "status"),
    [
        ("weeks=-1", 200),
        ("weeks=0", 200),
        (f"weeks={10**9}", 200),
        pytest.param("weeks=" + "9" * 5000, 200, id="weeks=9*5000"),
        ("weeks=abc", 400),
        ("weeks=1e3", 400),
        ("weeks=%D9%A3", 400),  # an Arabic-Indic three: a digit, but not ours
        ("weeks=<script>", 400),
        ("team=abc", 400),
        ("team=-1", 400),
        (f"team={10**30}", 404),
        ("patient=1%00", 400),
        ("table=evil", 400),
    ],
)
def test_hostile_parameters_get_a_400_or_are_clamped(
    ward: dict[str, Any], query: str, status: int
) -> None:
    client = client_of()
    pk = ward["ola"].pk
    urls = ["/reports/", "/reports/csv/"]
    if "team" not in query and "patient" not in query and "table" not in query:
        urls += [f"/reports/patients/{pk}/gp-summary/", f"/reports/patients/{pk}/fhir/"]
    for url in urls:
        wanted = 200 if (url == "/reports/" and query.startswith("table=")) else status
        response = client.get(f"{url}?{query}")
        assert response.status_code == wanted, (url, query, response.content[:300])
        if wanted == 400:
            assert b"<script>" not in response.content


def test_the_queries_do_not_grow_with_the_patients(ward: dict[str, Any]) -> None:
    client = client_of()
    urls = ["/reports/?weeks=4", "/reports/csv/?weeks=4&table=adherence"]

    def counts() -> list[int]:
        out = []
        for url in urls:
            with CaptureQueriesContext(connection) as queries:
                assert client.get(url).status_code == 200
            out.append(len(queries))
        return out

    before = counts()
    east = ward["east"]
    for n in range(8):
        patient = Patient.objects.create(
            name=f"Pasient {n}",
            birth_date=date(1950, 1, 1),
            national_id=f"9{n:010d}",
            diagnosis="copd",
            team=east,
        )
        hub = f"hub-1{n:03d}"
        Hub.objects.create(hub_id=hub, signing_key="test", enrolled_at=STARTED)
        CareEpisode.objects.create(patient=patient, hub_id=hub, started=STARTED)
        Document.objects.create(
            hub_id=hub, doc_type="care_plan", version=1, issued_at=STARTED, content_json="{}"
        )
        reading(hub, local(TODAY - timedelta(days=1), 8), {"systolic": 200.0})
    assert counts() == before


def test_the_gp_summary_holds_the_plan_the_values_the_red_events_and_the_notes(
    ward: dict[str, Any],
) -> None:
    ola = ward["ola"]
    response = client_of().get(f"/reports/patients/{ola.pk}/gp-summary/?weeks=4")
    assert response.status_code == 200
    html = response.content.decode()
    assert "15076500050" in html and "<script>x" not in html and "&lt;script&gt;x" in html
    assert html.count('class="gp-red-event"') == 2
    assert html.count("state state-red") == 1  # the open one
    assert "feil mansjett" not in html  # an invalid reading is no red event
    # Systolic: 13 valid mornings (the invalid 250 left out), 121 the lowest, 200 the highest.
    rows = [r.split("</tr>")[0] for r in html.split('class="gp-kind"')[1:]]
    systolic = [r for r in rows if '<td class="high">200</td>' in r]
    assert len(systolic) == 1
    assert '<td class="count">13</td>' in systolic[0] and '<td class="low">121</td>' in systolic[0]
    assert " style=" not in html and "<script" not in html


# --- pure helpers, tables of cases ---------------------------------------------------------
@pytest.mark.parametrize(
    ("raw", "weeks"),
    [
        (None, report_data.DEFAULT_WEEKS),
        ("", report_data.DEFAULT_WEEKS),
        ("4", 4),
        (" 12 ", 12),
        ("+3", 3),
        ("0", 1),
        ("-1", 1),
        ("-999999", 1),
        ("53", report_data.MAX_WEEKS),
        ("1000000000", report_data.MAX_WEEKS),
        ("9" * 5000, report_data.MAX_WEEKS),
        ("abc", None),
        ("1.5", None),
        ("1e3", None),
        ("٣", None),
        ("--1", None),
        ("-", None),
    ],
)
def test_parse_weeks(raw: str | None, weeks: int | None) -> None:
    assert report_data.parse_weeks(raw) == weeks


def test_the_period_is_whole_iso_weeks_up_to_today() -> None:
    period = report_data.period_of(2, date(2026, 3, 4))  # a Wednesday
    assert (period.first, period.last) == (date(2026, 2, 23), date(2026, 3, 4))
    assert reports.weeks(period) == [(2026, 9), (2026, 10)]


def _points(*values: float, invalid: tuple[int, ...] = ()) -> list[Point]:
    start = datetime(2026, 3, 1, tzinfo=UTC)
    return [Point(start + timedelta(days=i), v, i in invalid) for i, v in enumerate(values)]


@pytest.mark.parametrize(
    ("points", "low", "middle", "high", "direction"),
    [
        ([], None, None, None, "too_few"),
        (_points(120.0, 130.0), 120.0, 125.0, 130.0, "too_few"),
        (_points(120.0, 130.0, 140.0), 120.0, 130.0, 140.0, "rising"),
        (_points(80.0, 79.0, 78.0, 77.0), 77.0, 78.5, 80.0, "falling"),
        (_points(80.0, 80.5, 79.8, 80.1), 79.8, 80.05, 80.5, "steady"),
        (_points(80.0, 300.0, 80.0, 80.0, invalid=(1,)), 80.0, 80.0, 80.0, "steady"),
        (_points(80.0, float("nan"), 90.0, 100.0), 80.0, 90.0, 100.0, "rising"),
    ],
)
def test_summarise(
    points: list[Point], low: float | None, middle: float | None, high: float | None, direction: str
) -> None:
    found = report_data.summarise(points)
    assert (found.low, found.middle, found.high, found.direction) == (low, middle, high, direction)


def test_a_trend_needs_time_between_its_points() -> None:
    at = datetime(2026, 3, 1, tzinfo=UTC)
    assert report_data.trend_change([Point(at, v) for v in (1.0, 2.0, 3.0)]) is None
