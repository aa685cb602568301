"""The patient page (issue 13, "The patient page"): who the patient is, her episodes and hubs,
the care plan her hub was sent, trend plots with her limits over 14, 30 or 90 days, the readings
with their outcome, problems and where their time came from, her questionnaire answers, the
messages sent to her with their read receipts, and the nurses' notes. A nurse marks a reading
invalid (with a reason), adds a note with a reminder date, and sends the patient a message here.

What a page shows of a hub is only what the hub sent within this patient's care episodes
([started, ended) by when it was measured): a hub reused for the next patient never shows the
previous patient's data. Another team's patient is a 404, for every request. Every view and
every change is written to the audit log. The queries are a fixed number per page, each bounded.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from django import forms
from django.contrib.auth.models import User
from django.core.exceptions import PermissionDenied
from django.db.models import Q
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import URLPattern, path
from django.utils import timezone
from django.utils.safestring import mark_safe
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_GET, require_POST

from centre.config import CentreConfig, load_centre_config
from centre.errors import CentreError
from centre.followup.models import ReadingMark
from centre.people.access import patients_for
from centre.people.models import CareEpisode, Patient
from centre.records.models import Document, Reading
from centre.web.audit import audit
from centre.web.patient_calls import call_rows
from centre.web.trends import Point, Words, trend_svg
from centre.web.words import (
    kind_words,
    nurse_unit,
    problem_words,
    reading_values,
    shown_value,
    unit_words,
    value_words,
)
from centre.web.words import values_text as values_text  # its pairs, as sent (tests)
from hub.core.answers import KIND as ANSWERS
from hub.core.answers import RECEIPT_KIND as RECEIPT
from hub.core.call_request import KIND as CALL
from hub.core.care_plan import CarePlan, Limit, PatientMessage
from hub.core.health import KIND as HUB_HEALTH
from hub.core.plausibility import RANGES, standard_value
from hub.core.printable import first_control, normal_newlines
from hub.core.screen_text import MESSAGE_ROWS, message_rows
from hub.questionnaire.engine import total_score

log = logging.getLogger(__name__)

PERIODS = (14, 30, 90)
MAX_ID = 2**63 - 1  # a larger number in the URL is no patient's (and no database's integer)
MAX_READINGS = 5000  # a period's readings loaded: 90 days of a busy plan is far fewer
# The readings listed on a page of the table, newest first (the plots show them all); older
# ones a page further (?rows=2 ...). 90 days of a busy plan is 450 readings, and every row a
# form: the page took 200 ms to render them (bench/worklist.py).
TABLE_ROWS = 100
MAX_ANSWERS = 100
MAX_MESSAGES = 100
MAX_NOTES = 200
MAX_REASON = 500
MAX_NOTE = 2000  # centre/notes/models.py MAX_TEXT (imported only once that app is installed)
NOTES_APP = "centre.notes"
NOT_PLOTTED = frozenset({ANSWERS, RECEIPT, CALL})  # no measurements
ANSWER_DEPTH = 8  # nested answer items shown; deeper ones are left out
MAX_LINES = 500  # questions shown of one response

TIME_SOURCES: Mapping[str, Any] = {
    "device": gettext_lazy("device clock"),
    "device_corrected": gettext_lazy("device clock, corrected by the hub"),
    "hub_received": gettext_lazy("hub, when received"),
}
OUTCOMES: Mapping[str, Any] = {
    "ok": gettext_lazy("ok"),
    "flagged": gettext_lazy("flagged"),
    "failed": gettext_lazy("failed"),
}


# The page's data, built from plain values (tested with tables of cases).


def period_days(raw: str | None) -> int:
    """The period asked for in the URL (?days=), one of PERIODS; the shortest otherwise."""
    return int(raw) if raw in {str(p) for p in PERIODS} else PERIODS[0]


def episode_windows(
    episodes: Iterable[CareEpisode], since: datetime | None, by: str = "measured_at"
) -> Q | None:
    """The readings of these episodes' hubs within their [started, ended), and not before
    `since`, placed `by` when they were measured (or, for call requests, when the centre
    stored them); None if there is no window (the patient has no episode)."""
    windows = Q()
    found = False
    for episode in episodes:
        start = episode.started if since is None else max(episode.started, since)
        window = Q(hub_id=episode.hub_id)
        if episode.ended is not None:
            if episode.ended <= start:
                continue
            window &= Q(**{f"{by}__lt": episode.ended})
        windows |= window & Q(**{f"{by}__gte": start})
        found = True
    return windows if found else None


def document_windows(episodes: Iterable[CareEpisode]) -> Q | None:
    """The same windows for documents sent down (by when they were issued)."""
    windows = Q()
    found = False
    for episode in episodes:
        window = Q(hub_id=episode.hub_id, issued_at__gte=episode.started)
        if episode.ended is not None:
            window &= Q(issued_at__lt=episode.ended)
        windows |= window
        found = True
    return windows if found else None


def loaded(text: str) -> Any:
    """Stored JSON, or None if it is not JSON (never trusted to be well formed)."""
    try:
        return json.loads(text)
    except (ValueError, RecursionError):
        return None


@dataclass(frozen=True)
class AnswerLine:
    question: str
    answers: tuple[str, ...]
    depth: int


def _answer(answer: Any) -> str:
    if not isinstance(answer, dict):
        return ""
    for key, value in answer.items():
        if key == "valueCoding" and isinstance(value, dict):
            return str(value.get("display") or value.get("code") or "")[:500]
        if key.startswith("value"):
            return shown_value(value)
    return ""


def _children(holder: Any) -> list[Any]:
    items = holder.get("item") if isinstance(holder, dict) else None
    return items[:MAX_LINES] if isinstance(items, list) else []


def answer_lines(response: Any) -> list[AnswerLine]:
    """A QuestionnaireResponse's items as questions and answers, in order, nested items
    indented under theirs, whatever the JSON holds: what is not the expected shape is left out,
    and at most MAX_LINES lines ANSWER_DEPTH deep are shown."""
    lines: list[AnswerLine] = []
    pending = [(item, 0) for item in reversed(_children(response))]  # a stack, next on top
    while pending and len(lines) < MAX_LINES:
        item, depth = pending.pop()
        if not isinstance(item, dict) or depth >= ANSWER_DEPTH:
            continue
        question = str(item.get("text") or item.get("linkId") or "?")[:500]
        given = item.get("answer")
        answers: list[Any] = given[:20] if isinstance(given, list) else []
        lines.append(AnswerLine(question, tuple(a for a in map(_answer, answers) if a), depth))
        nested = [child for holder in [*answers, item] for child in _children(holder)]
        pending.extend((child, depth + 1) for child in reversed(nested))
    return lines


@dataclass(frozen=True)
class Series:
    kind: str
    name: str
    unit: str
    scale: float  # shown value = standard value * scale (glucose: mol/L to mmol/L)
    limit: Limit | None
    points: list[Point] = field(default_factory=list)


def plotted_names(kind: str, plan: CarePlan | None) -> list[str]:
    """The values of a kind worth a plot: those measured (not a scale's profile settings),
    and any the care plan has a limit on."""
    measured = [name for name, r in RANGES.get(kind, {}).items() if r.fails]
    limited = list(plan.thresholds.get(kind, {})) if plan else []
    return list(dict.fromkeys([*measured, *limited]))


def series_of(
    readings: Iterable[tuple[str, Any, datetime, str, bool]], plan: CarePlan | None
) -> list[Series]:
    """One series per kind and value from (kind, values, measured_at, outcome, invalid); a
    failed reading's numbers are a device's fault, not the patient's, and are not plotted."""
    by_kind: dict[str, list[tuple[Any, datetime, bool]]] = {}
    for kind, values, at, outcome, invalid in readings:
        if kind in NOT_PLOTTED or outcome == "failed" or not isinstance(values, dict):
            continue
        by_kind.setdefault(kind, []).append((values, at, invalid))
    for kind in plan.thresholds if plan else ():
        by_kind.setdefault(kind, [])
    out = []
    for kind in sorted(by_kind):
        for name in plotted_names(kind, plan):
            unit, scale = nurse_unit(kind, name)
            limit = plan.thresholds.get(kind, {}).get(name) if plan else None
            points = []
            for values, at, invalid in by_kind[kind]:
                value = standard_value(kind, name, values)
                if value is not None:
                    points.append(Point(at, value * scale, invalid))
            if points or limit is not None:
                out.append(Series(kind, name, unit, scale, limit, points))
    return out


def _scaled(value: float | None, scale: float) -> float | None:
    return None if value is None else value * scale


@dataclass(frozen=True)
class Trend:
    svg: str
    shown: int
    total: int


def trends(series: Sequence[Series], start: datetime, end: datetime) -> list[Trend]:
    out = []
    for s in series:
        unit = f" ({unit_words(s.unit)})" if s.unit else ""
        words = Words(
            title=f"{kind_words(s.kind)}: {value_words(s.name)}{unit}",
            no_data=_("No readings in this period"),
            above=_("above the limit"),
            below=_("below the limit"),
            invalid=_("marked invalid"),
            min_label=_("min"),
            max_label=_("max"),
        )
        low = _scaled(s.limit.min, s.scale) if s.limit else None
        high = _scaled(s.limit.max, s.scale) if s.limit else None
        plot = trend_svg(s.points, start, end, words, low, high)
        out.append(Trend(mark_safe(plot.svg), plot.shown, plot.total))  # escaped by trends.py
    return out


def score_trend(points: list[Point], start: datetime, end: datetime) -> Trend | None:
    if not points:
        return None
    words = Words(title=_("Questionnaire score"), no_data=_("No readings in this period"))
    plot = trend_svg(points, start, end, words)
    return Trend(mark_safe(plot.svg), plot.shown, plot.total)  # escaped by trends.py


def care_plan_of(document: Document | None) -> CarePlan | None:
    if document is None:
        return None
    try:
        return CarePlan.model_validate(loaded(document.content_json))
    except ValueError:
        log.warning("care plan version %s of %s cannot be read", document.version, document.hub_id)
        return None


def plan_limits(plan: CarePlan) -> list[tuple[str, str, str, str, str]]:
    """(kind, value, min, max, unit) of a plan's limits, in the units a nurse reads."""
    rows = []
    for kind, limits in sorted(plan.thresholds.items()):
        for name, limit in sorted(limits.items()):
            unit, scale = nurse_unit(kind, name)
            low, high = _scaled(limit.min, scale), _scaled(limit.max, scale)
            rows.append(
                (
                    kind_words(kind),
                    value_words(name),
                    "" if low is None else shown_value(float(low)),
                    "" if high is None else shown_value(float(high)),
                    unit_words(unit),
                )
            )
    return rows


# Forms


class InvalidForm(forms.Form):
    reading = forms.IntegerField(min_value=1, max_value=MAX_ID, widget=forms.HiddenInput)
    reason = forms.CharField(
        label=gettext_lazy("Why is it invalid?"), max_length=MAX_REASON, strip=True
    )


class NoteForm(forms.Form):
    text = forms.CharField(
        label=gettext_lazy("Note"), max_length=MAX_NOTE, strip=True, widget=forms.Textarea
    )
    remind_on = forms.DateField(
        label=gettext_lazy("Remind me on"),
        required=False,
        widget=forms.DateInput(attrs={"type": "date"}),
    )


def _longest_message() -> int:
    """What the hub takes (hub/core/care_plan.py PatientMessage), so the form says it first."""
    for rule in PatientMessage.model_fields["text"].metadata:
        if isinstance(getattr(rule, "max_length", None), int):
            return int(rule.max_length)
    raise RuntimeError("PatientMessage.text has no max_length")


class MessageForm(forms.Form):
    text = forms.CharField(
        label=gettext_lazy("Message to the patient"),
        max_length=_longest_message(),
        strip=True,
        widget=forms.Textarea,
    )

    def clean_text(self) -> str:
        """Refused here, as the hub would refuse it (hub/core/printable.py): a control
        character (pasted from elsewhere, often) is a command to the patient's screen."""
        text: str = self.cleaned_data["text"]
        found = first_control(text)
        if found is not None:
            raise forms.ValidationError(
                _(
                    "Character %(place)s of the message is a control character (%(code)s), "
                    "not a letter: the patient's screen would take it as a command. Remove it, "
                    "or type the message instead of pasting it."
                ),
                code="control_character",
                params={"place": found[0], "code": found[1]},
            )
        text = normal_newlines(text)  # a browser sends a newline as CR LF
        rows = message_rows(text)
        if rows > MESSAGE_ROWS:
            raise forms.ValidationError(
                _(
                    "The message takes %(rows)s lines on the patient's screen, which shows "
                    "%(most)s whole: shorten it, or send it as two messages."
                ),
                code="too_long_for_the_screen",
                params={"rows": rows, "most": MESSAGE_ROWS},
            )
        return text


class NoteDoneForm(forms.Form):
    note = forms.IntegerField(min_value=1, max_value=MAX_ID, widget=forms.HiddenInput)


# The views


def patient_or_404(request: HttpRequest, pk: int) -> Patient:
    if pk > MAX_ID:
        raise Http404
    patient: Patient = get_object_or_404(
        patients_for(request.user).select_related("team__municipality"), pk=pk
    )
    return patient


@require_GET
def patient_page(request: HttpRequest, pk: int) -> HttpResponse:
    patient = patient_or_404(request, pk)
    return _page(request, patient, {})


def _page(
    request: HttpRequest, patient: Patient, forms_given: Mapping[str, Any], status: int = 200
) -> HttpResponse:
    # Here, not in the GET view: a form shown again with its errors shows her data too.
    audit(request, "view", _("patient page"), patient)
    days = period_days(request.GET.get("days"))
    end = timezone.now()
    start = end - timedelta(days=days)
    episodes = list(patient.episodes.order_by("-started"))
    windows = episode_windows(episodes, start)
    readings: list[Reading] = []
    marks: dict[int, ReadingMark] = {}
    if windows is not None:
        readings = list(
            Reading.objects.filter(windows)
            .exclude(kind=HUB_HEALTH)  # the hub's own health: the technician's, not hers
            .order_by("-measured_at", "-id")[:MAX_READINGS]
        )
        marks = {
            m.reading_id: m
            for m in ReadingMark.objects.filter(
                reading__in=Reading.objects.filter(windows).values("id")
            ).select_related("by")
        }
    current = episodes[0] if episodes else None
    plan_doc = _latest_plan(current)
    plan = care_plan_of(plan_doc)
    measurements = [r for r in readings if r.kind not in NOT_PLOTTED]
    answers = [r for r in readings if r.kind == ANSWERS][:MAX_ANSWERS]
    series = series_of(
        (
            (r.kind, loaded(r.values_json), r.measured_at, r.outcome, r.id in marks)
            for r in readings
        ),
        plan,
    )
    answered = [(r, loaded(r.values_json)) for r in answers]
    scores = [
        Point(r.measured_at, s) for r, values in answered if (s := total_score(values)) is not None
    ]
    context = {
        "patient": patient,
        "episodes": episodes,
        "days": days,
        "periods": PERIODS,
        "start": start,
        "plan_doc": plan_doc,
        "plan": plan,
        "plan_limits": plan_limits(plan) if plan else [],
        "schedule": [(kind_words(s.kind), s.times) for s in plan.schedule] if plan else [],
        "trends": trends(series, start, end),
        "score_trend": score_trend(scores, start, end),
        **_table_page(measurements, marks, table_page(request.GET.get("rows"))),
        "rows_capped": len(readings) >= MAX_READINGS,
        "answers": [
            {
                "at": r.measured_at,
                "lines": answer_lines(values),
                "score": total_score(values),
                "questionnaire": str(values.get("questionnaire", ""))[:300]
                if isinstance(values, dict)
                else "",
            }
            for r, values in answered
        ],
        "messages": _messages(episodes),
        # Placed by when the centre had them, as the worklist does: a hub's clock may be wrong.
        "calls": call_rows(patient, episode_windows(episodes, start, by="stored_at")),
        "notes_on": notes_installed(),
        "notes": _notes(patient),
        "today": timezone.localdate(),
        "note_form": forms_given.get("note", NoteForm()),
        "message_form": forms_given.get("message", MessageForm()),
        "invalid_form": forms_given.get("invalid"),
        "problem": forms_given.get("problem"),
    }
    return render(request, "web/patient.html", context, status=status)


def notes_installed() -> bool:
    """Notes live in their own app (centre/notes): until the centre's settings install it,
    the page shows no notes and the rest of it works."""
    from django.apps import apps

    return apps.is_installed(NOTES_APP)


def _notes(patient: Patient) -> list[Any]:
    if not notes_installed():
        return []
    from centre.notes.models import Note

    return list(
        Note.objects.filter(patient=patient).select_related("by").order_by("-at", "-id")[:MAX_NOTES]
    )


def _latest_plan(episode: CareEpisode | None) -> Document | None:
    if episode is None:
        return None
    documents = Document.objects.filter(
        hub_id=episode.hub_id, doc_type="care_plan", issued_at__gte=episode.started
    )
    if episode.ended is not None:
        documents = documents.filter(issued_at__lt=episode.ended)
    found: Document | None = documents.order_by("-version").first()
    return found


def table_page(raw: str | None) -> int:
    """The page of the readings table asked for in the URL (?rows=); the first otherwise."""
    return int(raw) if raw and raw.isascii() and raw.isdigit() and len(raw) <= 6 else 1


def _table_page(
    measurements: Sequence[Reading], marks: Mapping[int, ReadingMark], page: int
) -> dict[str, Any]:
    pages = max(1, -(-len(measurements) // TABLE_ROWS))
    page = min(max(page, 1), pages)
    first = (page - 1) * TABLE_ROWS
    shown = measurements[first : first + TABLE_ROWS]
    return {
        "rows": [_row(r, marks.get(r.id)) for r in shown],
        "rows_total": len(measurements),
        "rows_first": first + 1,
        "rows_last": first + len(shown),
        "rows_page": page,
        "rows_newer": page - 1 if page > 1 else None,
        "rows_older": page + 1 if page < pages else None,
    }


def _row(reading: Reading, mark: ReadingMark | None) -> dict[str, Any]:
    problems = loaded(reading.problems_json)
    return {
        "id": reading.id,
        "at": reading.measured_at,
        # Formatted here: the template's date filter costs more than the rest of a row.
        "at_text": f"{timezone.localtime(reading.measured_at):%d.%m.%Y %H:%M}",
        "received_text": f"{timezone.localtime(reading.received_at):%d.%m. %H:%M}",
        "hub": reading.hub_id,
        "kind": kind_words(reading.kind),
        "time_source": str(TIME_SOURCES.get(reading.time_source, reading.time_source)),
        "outcome": reading.outcome,
        "outcome_words": str(OUTCOMES.get(reading.outcome, reading.outcome)),
        "problems": [problem_words(str(p)) for p in problems[:20]]
        if isinstance(problems, list)
        else [],
        "values": reading_values(reading.kind, loaded(reading.values_json)),
        "mark": mark,
    }


def _messages(episodes: Sequence[CareEpisode]) -> list[dict[str, Any]]:
    """The messages sent to the patient's hubs in her episodes, newest first, each with when
    the patient read it (her hub's receipt), if she has."""
    windows = document_windows(episodes)
    if windows is None:
        return []
    sent = list(
        Document.objects.filter(windows, doc_type="message").order_by("-issued_at", "-id")[
            :MAX_MESSAGES
        ]
    )
    if not sent:
        return []
    receipts: dict[tuple[str, int], datetime] = {}
    reading_windows = episode_windows(episodes, since=min(d.issued_at for d in sent))
    if reading_windows is not None:
        for hub_id, values_json, at in (
            Reading.objects.filter(reading_windows, kind=RECEIPT)
            .order_by("-measured_at")
            .values_list("hub_id", "values_json", "measured_at")[: MAX_MESSAGES * 4]
        ):
            values = loaded(values_json)
            version = values.get("message_version") if isinstance(values, dict) else None
            if isinstance(version, int):
                receipts.setdefault((hub_id, version), at)
    out = []
    for doc in sent:
        content = loaded(doc.content_json)
        out.append(
            {
                "at": doc.issued_at,
                "hub": doc.hub_id,
                "version": doc.version,
                "text": str(content.get("text", "")) if isinstance(content, dict) else "",
                "read_at": receipts.get((doc.hub_id, doc.version)),
            }
        )
    return out


@require_POST
def mark_invalid(request: HttpRequest, pk: int) -> HttpResponse:
    patient = patient_or_404(request, pk)
    form = InvalidForm(request.POST)
    if not form.is_valid():
        return _page(request, patient, {"invalid": form}, status=400)
    windows = episode_windows(patient.episodes.all(), since=None)
    reading = (
        Reading.objects.filter(windows, pk=form.cleaned_data["reading"]).first()
        if windows is not None
        else None
    )
    if reading is None:
        raise Http404  # not one of this patient's readings
    _mark, made = ReadingMark.objects.get_or_create(
        reading=reading,
        defaults={"reason": form.cleaned_data["reason"], "by": _nurse(request)},
    )
    if made:
        audit(
            request,
            "change",
            _("marked reading %(seq)s of %(hub)s invalid: %(reason)s")
            % {"seq": reading.seq, "hub": reading.hub_id, "reason": form.cleaned_data["reason"]},
            patient,
        )
    return redirect(_back(request, patient))


@require_POST
def add_note(request: HttpRequest, pk: int) -> HttpResponse:
    patient = patient_or_404(request, pk)
    if not notes_installed():
        raise Http404
    from centre.notes.models import Note

    form = NoteForm(request.POST)
    if not form.is_valid():
        return _page(request, patient, {"note": form}, status=400)
    note = Note.objects.create(
        patient=patient,
        text=form.cleaned_data["text"],
        remind_on=form.cleaned_data["remind_on"],
        by=_nurse(request),
    )
    audit(request, "change", _("added note %(id)s") % {"id": note.pk}, patient)
    return redirect(_back(request, patient))


@require_POST
def note_done(request: HttpRequest, pk: int) -> HttpResponse:
    patient = patient_or_404(request, pk)
    if not notes_installed():
        raise Http404
    from centre.notes.models import Note

    form = NoteDoneForm(request.POST)
    if not form.is_valid():
        raise Http404
    done = Note.objects.filter(
        patient=patient, pk=form.cleaned_data["note"], done_at__isnull=True
    ).update(done_at=timezone.now())
    if done:
        audit(request, "change", _("note %(id)s done") % {"id": form.cleaned_data["note"]}, patient)
    return redirect(_back(request, patient))


def centre_config() -> CentreConfig:
    """The centre's configuration (keys, broker), for sending documents to hubs: the file that
    DHO_CENTRE_CONFIG names, as `centre web` is started with."""
    where = os.environ.get("DHO_CENTRE_CONFIG")
    if not where:
        raise CentreError(
            "the centre's configuration is not known to the web (DHO_CENTRE_CONFIG is not set)"
        )
    return load_centre_config(Path(where))


@require_POST
def send_message(request: HttpRequest, pk: int) -> HttpResponse:
    from centre.downlink import issue, publish
    from centre.store import CentreStore

    patient = patient_or_404(request, pk)
    form = MessageForm(request.POST)
    if not form.is_valid():
        return _page(request, patient, {"message": form}, status=400)
    episode = patient.episodes.filter(ended__isnull=True).first()
    if episode is None:
        problem = _("The patient has no hub now: the message was not sent.")
        return _page(request, patient, {"message": form, "problem": problem}, status=400)
    text = form.cleaned_data["text"]
    try:
        config = centre_config()
        outgoing = issue(
            config,
            episode.hub_id,
            "message",
            {"text": text},
            CentreStore(config.database_url),
        )
    except CentreError as exc:  # nothing was recorded: the hub would refuse it, or no keys
        problem = _("The message was not sent: %(why)s") % {"why": exc}
        return _page(request, patient, {"message": form, "problem": problem}, status=400)
    audit(
        request,
        "change",
        _("message %(version)s to %(hub)s") % {"version": outgoing.version, "hub": episode.hub_id},
        patient,
    )
    try:
        publish(config, [outgoing])
    except CentreError as exc:
        problem = _(
            "The message is recorded as number %(version)s but the broker did not take it: "
            "%(why)s. Tell the technician."
        ) % {"version": outgoing.version, "why": exc}
        return _page(request, patient, {"problem": problem}, status=502)
    return redirect(_back(request, patient))


def _nurse(request: HttpRequest) -> User:
    """The signed-in user (the middleware lets no one else this far)."""
    if not isinstance(request.user, User):
        raise PermissionDenied
    return request.user


def _back(request: HttpRequest, patient: Patient) -> str:
    from django.urls import reverse

    url = reverse("web:patient", args=[patient.pk])
    days = period_days(request.GET.get("days"))
    page = table_page(request.GET.get("rows"))
    query = "&".join(
        [*([f"days={days}"] if days != PERIODS[0] else []), *([f"rows={page}"] if page > 1 else [])]
    )
    if page > 1:  # back to the table's page she was on
        return f"{url}?{query}#readings"
    return f"{url}?{query}" if query else url


urlpatterns: list[URLPattern] = [
    path("<int:pk>/", patient_page, name="patient"),
    path("<int:pk>/invalid/", mark_invalid, name="patient_mark_invalid"),
    path("<int:pk>/notes/", add_note, name="patient_add_note"),
    path("<int:pk>/notes/done/", note_done, name="patient_note_done"),
    path("<int:pk>/messages/", send_message, name="patient_send_message"),
]
