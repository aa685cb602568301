"""The worklist, the home page: one row per patient of the nurse's teams, worst first (issue 13).

The page works without JavaScript; centre/web/static/web/live.js replaces the table's rows from
`worklist_rows` every few seconds. A nurse acknowledges one finding, all of a patient's, or
marks every patient with nothing to see as reviewed; an acknowledgement can send the patient a
receipt through the downlink. Every view and every change is written to the audit log.
"""

from __future__ import annotations

import logging
import os
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from django import forms
from django.conf import settings
from django.contrib.auth.models import User
from django.core.paginator import Paginator
from django.db import transaction
from django.db.models import QuerySet
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect, QueryDict
from django.shortcuts import render
from django.urls import NoReverseMatch, path, reverse
from django.utils import timezone, translation
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext
from django.views.decorators.http import require_GET, require_POST

from centre import triage
from centre.config import CentreConfig, load_centre_config
from centre.downlink import issue, publish
from centre.errors import CentreError
from centre.followup.models import Acknowledgement, Review
from centre.people.access import patients_for
from centre.people.models import Municipality, Patient, Team
from centre.web.audit import audit
from centre.web.words import kind_words, reasons_words
from centre.web.worklist_data import OPEN_WINDOW, WINDOW, Row, item_keys, load_worklist, row_keys

log = logging.getLogger(__name__)

STATE_LABELS: Mapping[str, Any] = {
    "red": gettext_lazy("Red"),
    "yellow": gettext_lazy("Yellow"),
    "missing": gettext_lazy("Missing"),
    "odd_time": gettext_lazy("Odd time"),
    "hub_offline": gettext_lazy("Hub offline"),
    "outbox_filling": gettext_lazy("Outbox filling"),
    "none": gettext_lazy("Nothing to see"),
}
RECEIPT_TEXT = gettext_lazy("The nurse has seen your measurement")
NOTICES: Mapping[str, Any] = {
    "acknowledged": gettext_lazy("Acknowledged."),
    "receipt_sent": gettext_lazy("Acknowledged, and the patient was sent a receipt."),
    "receipt_failed": gettext_lazy(
        "Acknowledged, but the receipt could not be sent to the patient's hub. "
        "Tell a technician; the acknowledgement stands."
    ),
    "nothing": gettext_lazy("Nothing was acknowledged: it had been done already."),
    "reviewed": gettext_lazy("The patients with nothing to see are marked as reviewed."),
}
# A page shows this many rows (the data and triage run for all, the order needs them): the page
# and its refresh stay small however many patients the teams have.
PAGE_ROWS = 100
REFRESH_AUDIT_EVERY_S = 60  # the live refresh is logged once a minute, not every 4 seconds
_ID = re.compile(r"[0-9]{1,18}")  # a primary key; more digits would overflow the database


class WorklistFilter(forms.Form):
    team = forms.ModelChoiceField(
        label=gettext_lazy("Team"),
        queryset=Team.objects.none(),
        required=False,
        empty_label=gettext_lazy("all"),
    )
    municipality = forms.ModelChoiceField(
        label=gettext_lazy("Municipality"),
        queryset=Municipality.objects.none(),
        required=False,
        empty_label=gettext_lazy("all"),
    )
    state = forms.ChoiceField(
        label=gettext_lazy("State"),
        required=False,
        choices=[
            ("", gettext_lazy("all")),
            ("attention", gettext_lazy("needs attention")),
            *((key, label) for key, label in STATE_LABELS.items()),
        ],
    )

    def __init__(self, user: User, data: QueryDict | None) -> None:
        super().__init__(data)
        teams = Team.objects.filter(members=user).order_by("name")
        team_field = self.fields["team"]
        assert isinstance(team_field, forms.ModelChoiceField)
        team_field.queryset = teams
        place_field = self.fields["municipality"]
        assert isinstance(place_field, forms.ModelChoiceField)
        place_field.queryset = Municipality.objects.filter(teams__members=user).distinct()

    def wanted(self) -> dict[str, Any]:
        """The filters that are valid (a wrong one is shown as an error and not applied)."""
        if not self.is_bound:
            return {}
        self.is_valid()
        return {k: v for k, v in self.cleaned_data.items() if v}

    def query(self) -> str:
        """The valid filters as a query string, for the live refresh and the redirects."""
        out = QueryDict(mutable=True)
        for name, value in self.wanted().items():
            out[name] = str(value.pk) if hasattr(value, "pk") else str(value)
        return out.urlencode()


@dataclass(frozen=True)
class Finding:
    """One item of a worklist row, in the nurse's words (its codes kept for the page's markup)."""

    item: triage.Item
    label: Any  # the state's
    keys: tuple[str, ...]  # what acknowledging it acknowledges
    kind: str  # in words; "" for the hub's items
    reasons: tuple[str, ...]  # in words, each once


def finding(item: triage.Item) -> Finding:
    return Finding(
        item,
        STATE_LABELS[item.state],
        item_keys(item),
        kind_words(item.kind),
        reasons_words(item.reasons),
    )


@dataclass(frozen=True)
class Shown:
    """A worklist row as the template shows it."""

    row: Row
    state: str  # a triage state, or "none"
    state_label: Any
    counts: tuple[tuple[str, Any, int], ...]  # (state, label, count)
    items: tuple[Finding, ...]
    keys: tuple[str, ...]


def shown(row: Row) -> Shown:
    state = row.summary.worst or "none"
    return Shown(
        row=row,
        state=state,
        state_label=STATE_LABELS[state],
        counts=tuple((s, STATE_LABELS[s], n) for s, n in row.summary.counts.items()),
        items=tuple(finding(i) for i in row.summary.items),
        keys=row_keys(row.summary.items),
    )


def _user(request: HttpRequest) -> User:
    """The signed-in user (the middleware lets no one else reach these views)."""
    user = request.user
    if not isinstance(user, User):
        raise Http404
    return user


def _patients(request: HttpRequest, wanted: Mapping[str, Any]) -> QuerySet[Patient]:
    patients = patients_for(request.user)
    if "team" in wanted:
        patients = patients.filter(team=wanted["team"])
    if "municipality" in wanted:
        patients = patients.filter(team__municipality=wanted["municipality"])
    return patients


def _keep(row: Row, state: str | None) -> bool:
    if not state:
        return True
    if state == "attention":
        return row.summary.worst is not None
    if state == "none":
        return row.summary.worst is None
    return state in row.summary.counts


def _rows(request: HttpRequest, filters: WorklistFilter, now: datetime) -> list[Row]:
    wanted = filters.wanted()
    rows = load_worklist(_patients(request, wanted), now)
    return [row for row in rows if _keep(row, wanted.get("state"))]


def patient_page_exists() -> bool:
    """Whether the patient page is there to link to (it is built apart from the worklist)."""
    try:
        reverse("web:patient", args=[1])
    except NoReverseMatch:
        return False
    return True


def _page_number(request: HttpRequest) -> str:
    """The page asked for, if it reads as one (the paginator takes care of its range)."""
    asked = request.GET.get("page", "")
    return asked if re.fullmatch(r"[0-9]{1,6}", asked) else "1"


def _and(query: str, more: str) -> str:
    return f"{query}&{more}" if query else more


def _context(request: HttpRequest, filters: WorklistFilter) -> dict[str, Any]:
    now = timezone.now()
    rows = _rows(request, filters, now)
    page = Paginator(rows, PAGE_ROWS).get_page(_page_number(request))
    return {
        "filters": filters,
        "filter_query": filters.query(),  # for the page links
        "query": _and(filters.query(), f"page={page.number}"),  # the refresh and the actions
        "page": page,
        "shown": [shown(row) for row in page],
        "patient_page": patient_page_exists(),
        "window_days": WINDOW.days,
        "open_window_days": OPEN_WINDOW.days,
        "now": now,
    }


@require_GET
def worklist(request: HttpRequest) -> HttpResponse:
    filters = WorklistFilter(_user(request), request.GET or None)
    context = _context(request, filters)
    context["notice"] = NOTICES.get(request.GET.get("notice", ""))
    audit(request, "view", _("worklist"))
    return render(request, "web/worklist.html", context)


@require_GET
def worklist_rows(request: HttpRequest) -> HttpResponse:
    """The table's rows alone, for the live refresh."""
    filters = WorklistFilter(_user(request), request.GET or None)
    response = render(request, "web/worklist_rows.html", _context(request, filters))
    last = request.session.get("worklist_refresh_audited_at", 0.0)
    if not isinstance(last, float) or time.time() - last >= REFRESH_AUDIT_EVERY_S:
        request.session["worklist_refresh_audited_at"] = time.time()
        audit(request, "view", _("worklist (live refresh)"))
    return response


def _patient_or_404(request: HttpRequest, patient_id: str) -> Patient:
    """One of the user's patients; anything else (another team's, a guess, not a number) is
    404, so a URL tells nobody whether a patient exists."""
    if not _ID.fullmatch(patient_id):
        raise Http404
    found = patients_for(request.user).filter(id=int(patient_id)).first()
    if found is None:
        raise Http404
    return found


def _back(request: HttpRequest, notice: str) -> HttpResponseRedirect:
    filters = WorklistFilter(_user(request), request.GET or None)
    query = _and(filters.query(), f"page={_page_number(request)}")
    return HttpResponseRedirect(f"{reverse('web:worklist')}?{query}&notice={notice}")


@require_POST
def acknowledge(request: HttpRequest, patient_id: str) -> HttpResponse:
    """Acknowledge the findings posted as `key` that are still the patient's current findings
    (stale ones, or keys that are not hers, are left out); with `all`, the patient counts as
    reviewed; with `receipt`, the patient's hub is sent the receipt message."""
    patient = _patient_or_404(request, patient_id)
    (row,) = load_worklist(Patient.objects.filter(id=patient.id), timezone.now())
    current = set(row_keys(row.summary.items))
    chosen = [key for key in dict.fromkeys(request.POST.getlist("key")) if key in current]
    with transaction.atomic():
        for key in chosen:
            Acknowledgement.objects.get_or_create(
                patient=patient, key=key, defaults={"by": _user(request)}
            )
        if request.POST.get("all") == "1":
            Review.objects.create(patient=patient, by=_user(request))
    if not chosen:
        return _back(request, "nothing")
    audit(
        request,
        "change",
        ngettext("acknowledged %(count)d finding", "acknowledged %(count)d findings", len(chosen))
        % {"count": len(chosen)},
        patient,
    )
    if request.POST.get("receipt") != "1":
        return _back(request, "acknowledged")
    if row.hub_id is None or not send_receipt(row.hub_id):
        return _back(request, "receipt_failed")
    Acknowledgement.objects.filter(patient=patient, key__in=chosen).update(with_receipt=True)
    audit(request, "change", _("sent the patient a receipt"), patient)
    return _back(request, "receipt_sent")


@require_POST
def all_green(request: HttpRequest) -> HttpResponse:
    """Mark as reviewed every patient of the filtered list who has nothing to see now (a
    patient who turned red since the page was shown is not among them)."""
    filters = WorklistFilter(_user(request), request.GET or None)
    rows = _rows(request, filters, timezone.now())
    green = [row.patient for row in rows if row.summary.worst is None]
    Review.objects.bulk_create([Review(patient=patient, by=_user(request)) for patient in green])
    for patient in green:
        audit(request, "change", _("reviewed: nothing to see"), patient)
    return _back(request, "reviewed")


def centre_config() -> CentreConfig:
    """The centre's own configuration (keys, broker), which Django's settings do not hold: the
    file named by DHO_CENTRE_CONFIG. (To be replaced by a setting the runtime fills.)"""
    named = os.environ.get("DHO_CENTRE_CONFIG")
    if not named:
        raise CentreError(
            "DHO_CENTRE_CONFIG is not set: the web cannot send documents to hubs without the "
            "centre's config (centre.toml)"
        )
    return load_centre_config(Path(named))


def send_receipt(hub_id: str) -> bool:
    """Send the patient's hub the receipt message; False (and a log line saying why) if it
    could not be sent. The patient reads it in the centre's language, not the nurse's."""
    with translation.override(settings.LANGUAGE_CODE):
        text = str(RECEIPT_TEXT)
    try:
        config = centre_config()
        publish(config, [issue(config, hub_id, "message", {"text": text})])
    except (CentreError, OSError) as exc:
        log.warning("receipt to hub %s not sent: %s", hub_id, exc)
        return False
    return True


urlpatterns = [
    path("", worklist, name="worklist"),
    path("worklist/rows/", worklist_rows, name="worklist_rows"),
    path("worklist/acknowledge/<str:patient_id>/", acknowledge, name="acknowledge"),
    path("worklist/all-green/", all_green, name="all_green"),
]
