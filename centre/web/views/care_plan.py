"""The care-plan editor's page (issue 13, "The care-plan editor"): the plan of the patient's
current hub as a form, checked against what the hub knows (centre/web/care_plan_forms.py), and
on success a new version numbered, signed, sealed and published as `centre send-care-plan` does.

The form starts from the newest plan the centre sent in this episode: versions issued before it
began were another patient's, on a reused hub, and are never shown. Beside what was sent, the
page says which version the hub holds, as its retained status last reported it (recorded by the
ingest workers, centre/presence.py), and when the newest version sent is not held yet.

Two nurses may edit the same plan: the form carries the version it started from, and a plan
sent meanwhile is not overwritten unseen. Another team's patient is a 404; every view and every
change is written to the audit log.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django import forms
from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import URLPattern, path, reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods

from centre.errors import CentreError
from centre.people.models import CareEpisode, Patient
from centre.records.models import Document, Hub
from centre.web.audit import audit
from centre.web.care_plan_forms import CarePlanEditor
from centre.web.views.patient import care_plan_of, centre_config, patient_or_404

log = logging.getLogger(__name__)

MAX_VERSION = 2**63 - 1


@dataclass(frozen=True)
class Sent:
    """The plan the centre last sent the patient's hub in this episode, if any."""

    document: Document | None

    @property
    def version(self) -> int:
        return self.document.version if self.document is not None else 0


class BasedOn(forms.Form):
    """The version the nurse's form started from (0: none in this episode)."""

    based_on = forms.IntegerField(min_value=0, max_value=MAX_VERSION, widget=forms.HiddenInput)


@dataclass(frozen=True)
class Held:
    """What the hub last reported holding: `version` (None: no care plan) at the hub's time
    `reported_at` (None: it has not reported yet)."""

    version: int | None
    reported_at: datetime | None

    def lags(self, sent: Sent) -> bool:
        """The newest version sent is not (yet) the one the hub reported holding."""
        return sent.document is not None and self.version != sent.version


def held_by(hub_id: str) -> Held:
    found = Hub.objects.filter(hub_id=hub_id).values_list("held_care_plan_version", "reported_at")
    version, reported_at = found.first() or (None, None)
    return Held(version, reported_at)


def open_episode(patient: Patient) -> CareEpisode | None:
    """The episode under way: the hub the patient has now."""
    found: CareEpisode | None = (
        patient.episodes.filter(ended__isnull=True).order_by("-started", "-id").first()
    )
    return found


def latest_sent(episode: CareEpisode) -> Sent:
    """The newest care plan sent to the episode's hub since the episode began."""
    found: Document | None = (
        Document.objects.filter(
            hub_id=episode.hub_id, doc_type="care_plan", issued_at__gte=episode.started
        )
        .order_by("-version")
        .first()
    )
    return Sent(found)


@require_http_methods(["GET", "POST"])
def care_plan_editor(request: HttpRequest, pk: int) -> HttpResponse:
    patient = patient_or_404(request, pk)
    episode = open_episode(patient)
    if episode is None:
        audit(request, "view", _("care plan editor (no hub)"), patient)
        return render(request, "web/care_plan.html", {"patient": patient, "episode": None})
    sent = latest_sent(episode)
    held = care_plan_of(sent.document)
    if request.method != "POST":
        return _page(request, patient, episode, sent, CarePlanEditor(held=held))
    editor = CarePlanEditor(request.POST, request.FILES, held=held)
    based_on = BasedOn(request.POST)
    if not based_on.is_valid():
        problem = _("The form is incomplete: open the care plan again and make your changes.")
        return _page(request, patient, episode, sent, editor, problem)
    if not editor.is_valid() or editor.plan is None:
        return _page(request, patient, episode, sent, editor)
    if based_on.cleaned_data["based_on"] != sent.version:
        problem = _(
            "Version %(version)s of the care plan was sent by someone else while you edited it. "
            "Your changes are not sent: check them against it and send again."
        ) % {"version": sent.version}
        return _page(request, patient, episode, sent, editor, problem)
    return _send(request, patient, episode, editor)


def _send(
    request: HttpRequest, patient: Patient, episode: CareEpisode, editor: CarePlanEditor
) -> HttpResponse:
    from centre.downlink import issue, publish
    from centre.store import CentreStore

    assert editor.plan is not None  # checked by the caller
    content = editor.plan.model_dump(mode="json", exclude_none=True)
    try:
        config = centre_config()
        outgoing = issue(
            config, episode.hub_id, "care_plan", content, CentreStore(config.database_url)
        )
    except CentreError as exc:  # nothing was recorded: no keys, or the hub would refuse it
        problem = _("The care plan was not sent: %(why)s") % {"why": exc}
        sent = latest_sent(episode)
        return _page(request, patient, episode, sent, editor, problem, status=400)
    audit(
        request,
        "change",
        _("care plan version %(version)s to %(hub)s")
        % {"version": outgoing.version, "hub": episode.hub_id},
        patient,
    )
    try:
        publish(config, [outgoing])
    except CentreError as exc:
        log.error("care plan %s for %s not published: %s", outgoing.version, episode.hub_id, exc)
        problem = _(
            "The care plan is recorded as version %(version)s but the broker did not take it: "
            "%(why)s. The hub does not have it yet. Tell the technician."
        ) % {"version": outgoing.version, "why": exc}
        sent = latest_sent(episode)
        fresh = CarePlanEditor(held=care_plan_of(sent.document))
        return _page(request, patient, episode, sent, fresh, problem, status=502)
    # Shown where the centre's settings install the messages framework; the patient page's
    # care plan section says the new version in any case.
    messages.success(
        request,
        _("Care plan version %(version)s sent to %(hub)s.")
        % {"version": outgoing.version, "hub": episode.hub_id},
        fail_silently=True,
    )
    return redirect(reverse("web:patient", args=[patient.pk]) + "#care")


def _page(
    request: HttpRequest,
    patient: Patient,
    episode: CareEpisode,
    sent: Sent,
    editor: CarePlanEditor,
    problem: str | None = None,
    status: int = 200,
) -> HttpResponse:
    audit(request, "view", _("care plan editor"), patient)
    held = held_by(episode.hub_id)
    context: dict[str, Any] = {
        "held": held,
        "held_lags": held.reported_at is not None and held.lags(sent),
        "patient": patient,
        "episode": episode,
        "sent": sent.document,
        "sent_unreadable": sent.document is not None and care_plan_of(sent.document) is None,
        "editor": editor,
        "based_on": sent.version,
        "problem": problem,
    }
    return render(request, "web/care_plan.html", context, status=status)


urlpatterns: list[URLPattern] = [
    path("", care_plan_editor, name="care_plan"),
]
