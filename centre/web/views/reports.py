"""Reports (issue 13, "Reports"): per team and per patient, adherence per ISO week, the time from a
red reading to its acknowledgement, and the patients active, over a chosen number of weeks, on a
page and as CSV; a one-page printable summary of a patient for her GP; and a FHIR R4 export of a
patient's period.

The figures are centre/reports.py's and the Bundle centre/fhir_export.py's (pure); this module
only picks the patients the user may see (another team's team or patient is a 404), loads
their data (centre/web/report_data.py) and shows it. Every view of patient data is audited
("view", one entry per patient shown), every download too ("export").

PDF: not offered. The maintained pure-Python HTML-to-PDF routes need system libraries (WeasyPrint:
Pango; xhtml2pdf: Cairo through svglib); the GP summary prints to PDF from the browser.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar
from urllib.parse import urlencode

from django.contrib.auth.models import User
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import URLPattern, path
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_GET

from centre import reports
from centre.errors import CentreError
from centre.fhir_export import (
    AnswerSet,
    Export,
    ExportError,
    ExportReading,
    PatientInfo,
    export_bundle,
)
from centre.people.access import patients_for
from centre.people.models import AuditEntry, Patient, Team
from centre.web import report_data
from centre.web.audit import audit
from centre.web.report_data import Figures, Loaded, ReadingRow
from centre.web.views.patient import (
    MAX_ID,
    notes_installed,
    patient_or_404,
    plan_limits,
    series_of,
)
from centre.web.words import kind_words, problem_words, reading_values, unit_words, value_words
from hub.core.answers import KIND as ANSWERS
from hub.core.care_plan import CarePlan

log = logging.getLogger(__name__)
W = TypeVar("W")  # one week's figures of a CSV table

MAX_RED_SHOWN = 100  # red events listed on the GP summary (all are counted)
MAX_NOTES_SHOWN = 50
MAX_SKIPPED_LOGGED = 50
_ID = re.compile(r"[0-9]{1,40}")  # longer than any id: a 404 beyond MAX_ID

# The pure module's English CSV column names, as people read them.
COLUMNS: Mapping[str, Any] = {
    "team": gettext_lazy("team"),
    "patient": gettext_lazy("patient"),
    "week": gettext_lazy("week"),
    "days": gettext_lazy("days"),
    "measurements_scheduled": gettext_lazy("measurements scheduled"),
    "measurements_done": gettext_lazy("measurements done"),
    "questionnaires_scheduled": gettext_lazy("questionnaires scheduled"),
    "questionnaires_done": gettext_lazy("questionnaires done"),
    "share_done": gettext_lazy("share done"),
    "red_items": gettext_lazy("red items"),
    "acknowledged": gettext_lazy("acknowledged"),
    "open": gettext_lazy("open"),
    "median_minutes": gettext_lazy("median minutes to acknowledge"),
    "p90_minutes": gettext_lazy("90th percentile minutes to acknowledge"),
    "patients_enrolled": gettext_lazy("patients enrolled"),
    "patients_measuring": gettext_lazy("patients measuring"),
}
TABLES = ("adherence", "acknowledgement", "active")
DIRECTIONS: Mapping[str, Any] = {
    "rising": gettext_lazy("rising"),
    "falling": gettext_lazy("falling"),
    "steady": gettext_lazy("steady"),
    "too_few": gettext_lazy("too few readings"),
}


class BadRequest(CentreError, ValueError):
    """A parameter the reports cannot use (answered 400 with this text)."""


# --- who and what ------------------------------------------------------------------------
@dataclass(frozen=True)
class Scope:
    weeks: int
    period: reports.Period
    teams: Sequence[Team]
    patients: Sequence[Patient]
    patient: Patient | None  # a single patient's report
    user: User


def _id_param(request: HttpRequest, name: str) -> int | None:
    raw = request.GET.get(name)
    if raw is None or raw == "":
        return None
    if not _ID.fullmatch(raw):
        raise BadRequest(_("%(name)s must be a number.") % {"name": name})
    number = int(raw)
    if number > MAX_ID:
        raise Http404
    return number


def weeks_of(request: HttpRequest) -> int:
    weeks = report_data.parse_weeks(request.GET.get("weeks"))
    if weeks is None:
        raise BadRequest(_("The number of weeks must be a whole number."))
    return weeks


def scope_of(request: HttpRequest) -> Scope:
    """The teams and patients asked for, among those the user may see: another team's team or
    patient is a 404, as if it did not exist."""
    weeks = weeks_of(request)
    period = report_data.period_of(weeks, timezone.localdate())
    team_id, patient_id = _id_param(request, "team"), _id_param(request, "patient")
    if not isinstance(request.user, User):
        raise Http404  # the middleware lets no one else this far
    mine = Team.objects.filter(members=request.user).select_related("municipality")
    if patient_id is not None:
        patient = patient_or_404(request, patient_id)
        if team_id is not None and patient.team_id != team_id:
            raise Http404
        return Scope(weeks, period, [patient.team], [patient], patient, request.user)
    teams = list(mine.filter(pk=team_id) if team_id is not None else mine.order_by("name", "id"))
    if team_id is not None and not teams:
        raise Http404
    patients = list(patients_for(request.user).filter(team__in=teams).order_by("name", "id"))
    return Scope(weeks, period, teams, patients, None, request.user)


def audit_each(request: HttpRequest, action: str, what: str, patients: Iterable[Patient]) -> None:
    """One audit entry per patient whose data was shown or exported, in one statement."""
    user = request.user.get_username()
    AuditEntry.objects.bulk_create(
        AuditEntry(user=user, action=action, patient=p, what=what[:500]) for p in patients
    )


def _bad(request: HttpRequest, problem: str, status: int = 400) -> HttpResponse:
    return render(request, "web/reports_error.html", {"problem": problem}, status=status)


# --- the figures -------------------------------------------------------------------------
@dataclass(frozen=True)
class TeamReport:
    team: Team
    figures: Figures
    patients: Sequence[tuple[Patient, report_data.PatientFigures]]


def team_reports(scope: Scope, loaded: Loaded, as_of: datetime) -> list[TeamReport]:
    given = report_data.inputs(loaded)
    out = []
    for team in scope.teams:
        members = [p for p in scope.patients if p.team_id == team.pk]
        keys = [str(p.pk) for p in members]
        found = report_data.figures(given, keys, team.name, scope.period, as_of)
        out.append(TeamReport(team, found, [(p, found.patients[str(p.pk)]) for p in members]))
    return out


def _percent(share: float | None) -> int | None:
    return None if share is None else round(share * 100)


def _minutes(value: float | None) -> int | None:
    return None if value is None else round(value)


def adherence_view(rows: Iterable[reports.AdherenceWeek]) -> list[dict[str, Any]]:
    """The rows as the templates show them (a template cannot call week_label)."""
    return [
        {
            "week": reports.week_label(r.week),
            "days": r.days,
            "measurements_done": r.measurements_done,
            "measurements_scheduled": r.measurements_scheduled,
            "questionnaires_done": r.questionnaires_done,
            "questionnaires_scheduled": r.questionnaires_scheduled,
            "share": _percent(r.share),
        }
        for r in rows
    ]


def acknowledgement_view(rows: Iterable[reports.AcknowledgementWeek]) -> list[dict[str, Any]]:
    return [
        {
            "week": reports.week_label(r.week),
            "raised": r.raised,
            "acknowledged": r.acknowledged,
            "open": r.open,
            "median": _minutes(r.median_minutes),
            "p90": _minutes(r.p90_minutes),
        }
        for r in rows
    ]


def active_view(rows: Iterable[reports.ActiveWeek]) -> list[dict[str, Any]]:
    return [
        {"week": reports.week_label(r.week), "enrolled": r.enrolled, "measuring": r.measuring}
        for r in rows
    ]


def patient_line(patient: Patient, figures: report_data.PatientFigures) -> dict[str, Any]:
    total = figures.total
    return {
        "patient": patient,
        "done": total.done if total else 0,
        "scheduled": total.scheduled if total else 0,
        "share": _percent(total.share) if total else None,
        "red": figures.red,
        "open": figures.open,
    }


def team_view(report: TeamReport) -> dict[str, Any]:
    return {
        "team": report.team,
        "adherence": adherence_view(report.figures.adherence),
        "acknowledgements": acknowledgement_view(report.figures.acknowledgements),
        "active": active_view(report.figures.active),
        "patients": [patient_line(p, f) for p, f in report.patients],
    }


def _load(scope: Scope) -> tuple[Loaded, datetime]:
    start, end = report_data.bounds(scope.period)
    return report_data.load([p.pk for p in scope.patients], start, end), timezone.now()


# --- the page and the CSV ----------------------------------------------------------------
@require_GET
def reports_page(request: HttpRequest) -> HttpResponse:
    try:
        scope = scope_of(request)
    except BadRequest as exc:
        return _bad(request, str(exc))
    loaded, now = _load(scope)
    found = team_reports(scope, loaded, now)
    what = _("report over %(weeks)s weeks") % {"weeks": scope.weeks}
    audit_each(request, "view", what, scope.patients)
    context = {
        "scope": scope,
        "weeks_choices": (1, 2, 4, 8, 12, 26, 52),
        "team_choices": list(Team.objects.filter(members=scope.user).order_by("name")),
        "teams": [team_view(r) for r in found],
        "capped": loaded.capped,
        "query": _query(scope),
    }
    if scope.patient is not None:
        mine = found[0].figures.patients[str(scope.patient.pk)]
        context["mine"] = {
            "adherence": adherence_view(mine.adherence),
            "acknowledgements": acknowledgement_view(mine.acknowledgements),
        }
    return render(request, "web/reports.html", context)


def _query(scope: Scope) -> str:
    """The scope as a query string, for the CSV links."""
    wanted: dict[str, str | int] = {"weeks": scope.weeks}
    if scope.patient is not None:
        wanted["patient"] = scope.patient.pk
    elif len(scope.teams) == 1:
        wanted["team"] = scope.teams[0].pk
    return urlencode(wanted)


def _header(names: Sequence[str]) -> list[str]:
    return [str(COLUMNS.get(n, n)) for n in names]


def _team_rows(
    found: Sequence[TeamReport],
    whole_team: bool,
    weeks: Callable[[Any], Sequence[W]],
    cells: Callable[[W], list[reports.Cell]],
) -> list[list[reports.Cell]]:
    """One CSV table's rows: the team's weeks (with `whole_team`), then each patient's."""
    rows: list[list[reports.Cell]] = []
    for report in found:
        if whole_team:
            rows += [[report.team.name, "", *cells(w)] for w in weeks(report.figures)]
        for patient, figures in report.patients:
            rows += [[report.team.name, patient.name, *cells(w)] for w in weeks(figures)]
    return rows


def adherence_rows(found: Sequence[TeamReport], whole_team: bool) -> list[list[reports.Cell]]:
    return _team_rows(found, whole_team, lambda figures: figures.adherence, _adherence)


def _adherence(row: reports.AdherenceWeek) -> list[reports.Cell]:
    return [
        reports.week_label(row.week),
        row.days,
        row.measurements_scheduled,
        row.measurements_done,
        row.questionnaires_scheduled,
        row.questionnaires_done,
        row.share,
    ]


def acknowledgement_rows(found: Sequence[TeamReport], whole_team: bool) -> list[list[reports.Cell]]:
    return _team_rows(found, whole_team, lambda figures: figures.acknowledgements, _ack)


def _ack(row: reports.AcknowledgementWeek) -> list[reports.Cell]:
    return [
        reports.week_label(row.week),
        row.raised,
        row.acknowledged,
        row.open,
        row.median_minutes,
        row.p90_minutes,
    ]


def active_rows(found: Sequence[TeamReport]) -> list[list[reports.Cell]]:
    return [
        [report.team.name, reports.week_label(r.week), r.enrolled, r.measuring]
        for report in found
        for r in report.figures.active
    ]


def report_csv(table: str, found: Sequence[TeamReport], whole_team: bool) -> str:
    """One table as CSV (the pure module's guard against formulas on every cell), its column
    names in the user's language."""
    if table == "adherence":
        header = ["team", *reports.ADHERENCE_HEADER]
        return reports.to_csv(_header(header), adherence_rows(found, whole_team))
    if table == "acknowledgement":
        header = ["team", "patient", *reports.ACKNOWLEDGEMENT_HEADER]
        return reports.to_csv(_header(header), acknowledgement_rows(found, whole_team))
    return reports.to_csv(_header(["team", *reports.ACTIVE_HEADER]), active_rows(found))


@require_GET
def reports_csv(request: HttpRequest) -> HttpResponse:
    table = request.GET.get("table", "adherence")
    try:
        if table not in TABLES:
            raise BadRequest(_("There is no such table."))
        scope = scope_of(request)
    except BadRequest as exc:
        return _bad(request, str(exc))
    loaded, now = _load(scope)
    found = team_reports(scope, loaded, now)
    text = report_csv(table, found, whole_team=scope.patient is None)
    what = _("%(table)s CSV over %(weeks)s weeks") % {"table": table, "weeks": scope.weeks}
    audit_each(request, "export", what, scope.patients)
    # A BOM, so that a spreadsheet reads the file as UTF-8 (Øst, Ålesund).
    response = HttpResponse("\ufeff" + text, content_type="text/csv; charset=utf-8")
    which = f"patient-{scope.patient.pk}" if scope.patient else _teams_name(scope.teams)
    name = f"{table}-{which}-{scope.period.last.isoformat()}.csv"
    response["Content-Disposition"] = f'attachment; filename="{name}"'
    return response


def _teams_name(teams: Sequence[Team]) -> str:
    return "team-" + "-".join(str(t.pk) for t in teams[:10]) if teams else "no-team"


# --- the GP summary ----------------------------------------------------------------------
@dataclass(frozen=True)
class RedEvent:
    at: datetime
    kind: str
    values: Sequence[tuple[str, str]]
    problems: Sequence[str]
    acknowledged_at: datetime | None
    acknowledged_by: str | None
    with_receipt: bool


def red_events(patient: Patient, loaded: Loaded) -> list[RedEvent]:
    out = []
    for episode in loaded.episodes:
        versions = report_data.plan_versions(episode, loaded.plans.get(episode.hub_id, ()))
        for reading in loaded.readings.get(episode.id, ()):
            plan = report_data.plan_at(versions, reading.measured_at)
            reasons = report_data.red_reasons(reading, plan)
            if not reasons:
                continue
            ack = loaded.acknowledgements.get(
                (patient.pk, f"{report_data.READING_KEY}{reading.id}")
            )
            out.append(
                RedEvent(
                    at=reading.measured_at,
                    kind=kind_words(reading.kind),
                    values=reading_values(reading.kind, dict(reading.values)).pairs(),
                    problems=[problem_words(r) for r in reasons],
                    acknowledged_at=ack.at if ack else None,
                    acknowledged_by=ack.by if ack else None,
                    with_receipt=ack.with_receipt if ack else False,
                )
            )
    return sorted(out, key=lambda e: e.at)


def latest_plan(loaded: Loaded) -> CarePlan | None:
    """The plan in effect at the end of the period: the newest version of the latest episode."""
    for episode in sorted(loaded.episodes, key=lambda e: e.started, reverse=True):
        versions = report_data.plan_versions(episode, loaded.plans.get(episode.hub_id, ()))
        if versions:
            return max(versions, key=lambda v: v.since).plan
    return None


def _readings(loaded: Loaded) -> list[ReadingRow]:
    return [r for e in loaded.episodes for r in loaded.readings.get(e.id, ())]


@dataclass(frozen=True)
class KindSummary:
    title: str
    unit: str
    summary: report_data.ValueSummary
    direction: str
    limit: str


def kind_summaries(readings: Sequence[ReadingRow], plan: CarePlan | None) -> list[KindSummary]:
    series = series_of(
        ((r.kind, dict(r.values), r.measured_at, r.outcome, r.invalid) for r in readings), plan
    )
    out = []
    for s in series:
        found = report_data.summarise(s.points)
        low = None if s.limit is None or s.limit.min is None else s.limit.min * s.scale
        high = None if s.limit is None or s.limit.max is None else s.limit.max * s.scale
        limit = (
            "\N{EN DASH}".join("" if v is None else f"{v:g}" for v in (low, high))
            if s.limit
            else ""
        )
        out.append(
            KindSummary(
                f"{kind_words(s.kind)}: {value_words(s.name)}",
                unit_words(s.unit),
                found,
                str(DIRECTIONS[found.direction]),
                limit,
            )
        )
    return out


def _notes(patient: Patient, start: datetime, end: datetime) -> list[Any]:
    if not notes_installed():
        return []
    from centre.notes.models import Note

    return list(
        Note.objects.filter(patient=patient, at__gte=start, at__lt=end)
        .select_related("by")
        .order_by("at", "id")[:MAX_NOTES_SHOWN]
    )


@require_GET
def gp_summary(request: HttpRequest, pk: int) -> HttpResponse:
    patient = patient_or_404(request, pk)
    try:
        weeks = weeks_of(request)
    except BadRequest as exc:
        return _bad(request, str(exc))
    period = report_data.period_of(weeks, timezone.localdate())
    start, end = report_data.bounds(period)
    loaded = report_data.load([patient.pk], start, end)
    now = timezone.now()
    key = str(patient.pk)
    found = report_data.figures(report_data.inputs(loaded), [key], patient.name, period, now)
    plan = latest_plan(loaded)
    events = red_events(patient, loaded)
    audit(request, "view", _("GP summary over %(weeks)s weeks") % {"weeks": weeks}, patient)
    context = {
        "patient": patient,
        "weeks": weeks,
        "weeks_choices": (2, 4, 8, 12, 26, 52),
        "period": period,
        "plan": plan,
        "plan_limits": plan_limits(plan) if plan else [],
        "schedule": [(kind_words(s.kind), s.times) for s in plan.schedule] if plan else [],
        "kinds": kind_summaries(_readings(loaded), plan),
        "red_events": events[:MAX_RED_SHOWN],
        "red_total": len(events),
        "red_open": sum(1 for e in events if e.acknowledged_at is None),
        "adherence": adherence_view(found.patients[key].adherence),
        "total": patient_line(patient, found.patients[key]),
        "acknowledgements": acknowledgement_view(found.patients[key].acknowledgements),
        "notes": _notes(patient, start, end),
        "capped": loaded.capped,
        "made_at": now,
    }
    return render(request, "web/gp_summary.html", context)


# --- the FHIR export ---------------------------------------------------------------------
def patient_info(patient: Patient) -> PatientInfo:
    """The one name field split as Norwegian names are written: the family name last."""
    parts = patient.name.split()
    return PatientInfo(
        key=str(patient.pk),
        identity_number=patient.national_id,
        family_name=parts[-1] if parts else "",
        given_names=" ".join(parts[:-1]),
        birth_date=patient.birth_date,
    )


def export_of(patient: Patient, loaded: Loaded, made_at: datetime) -> Export:
    """One Bundle per hub the patient had in the period, merged: the Patient once, each
    resource once (by its fullUrl)."""
    exports = []
    for episode in sorted(loaded.episodes, key=lambda e: e.started, reverse=True):
        rows = loaded.readings.get(episode.id, ())
        versions = report_data.plan_versions(episode, loaded.plans.get(episode.hub_id, ()))
        plan = max(versions, key=lambda v: v.since).plan if versions else None
        exports.append(
            export_bundle(
                patient_info(patient),
                episode.hub_id,
                [_export_reading(r) for r in rows if r.kind != ANSWERS],
                [AnswerSet(r.id, dict(r.values)) for r in rows if r.kind == ANSWERS],
                plan,
                made_at,
            )
        )
    if not exports:
        return export_bundle(patient_info(patient), "none", [], [], None, made_at)
    bundle = exports[0].bundle
    seen = {entry["fullUrl"] for entry in bundle["entry"]}
    for other in exports[1:]:
        for entry in other.bundle["entry"]:
            if entry["fullUrl"] not in seen:
                seen.add(entry["fullUrl"])
                bundle["entry"].append(entry)
    return Export(bundle, tuple(s for e in exports for s in e.skipped))


def _export_reading(row: ReadingRow) -> ExportReading:
    # The centre's reading id, not the hub's seq: unique across the patient's hubs.
    return ExportReading(
        seq=row.id,
        kind=row.kind,
        values=row.values,
        outcome=row.outcome,
        measured_at=row.measured_at,
        device_address=row.device_address,
        problems=row.problems,
        invalid=row.invalid,
        invalid_reason=row.marked_reason,
    )


@require_GET
def fhir_export(request: HttpRequest, pk: int) -> HttpResponse:
    patient = patient_or_404(request, pk)
    try:
        weeks = weeks_of(request)
    except BadRequest as exc:
        return _bad(request, str(exc))
    period = report_data.period_of(weeks, timezone.localdate())
    start, end = report_data.bounds(period)
    loaded = report_data.load([patient.pk], start, end)
    try:
        made = export_of(patient, loaded, timezone.now())
    except ExportError as exc:
        problem = _("The FHIR export could not be made: %(why)s") % {"why": exc}
        return _bad(request, problem, status=409)
    for skipped in made.skipped[:MAX_SKIPPED_LOGGED]:
        log.warning(
            "FHIR export of patient %s left out reading %s (%s): %s",
            patient.pk,
            skipped.seq,
            skipped.kind,
            skipped.reason,
        )
    what = _(
        "FHIR export over %(weeks)s weeks: %(count)s resources, %(skipped)s readings left out"
    ) % {"weeks": weeks, "count": len(made.bundle["entry"]), "skipped": len(made.skipped)}
    audit(request, "export", what, patient)
    response = HttpResponse(
        json.dumps(made.bundle, ensure_ascii=False, allow_nan=False),
        content_type="application/fhir+json; charset=utf-8",
    )
    name = f"patient-{patient.pk}-{period.first.isoformat()}-{period.last.isoformat()}.json"
    response["Content-Disposition"] = f'attachment; filename="{name}"'
    response["X-Left-Out"] = str(len(made.skipped))
    return response


urlpatterns: list[URLPattern] = [
    path("", reports_page, name="reports"),
    path("csv/", reports_csv, name="reports_csv"),
    path("patients/<int:pk>/gp-summary/", gp_summary, name="gp_summary"),
    path("patients/<int:pk>/fhir/", fhir_export, name="fhir_export"),
]
