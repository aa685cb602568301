"""The worklist, the home page: one row per patient of the nurse's teams, worst first (issue 13).

The page works without JavaScript; centre/web/static/web/live.js replaces the table's rows from
`worklist_rows` every few seconds. A nurse acknowledges one finding, all of a patient's, or
marks every patient with nothing to see as reviewed; an acknowledgement can send the patient a
receipt through the downlink. Every view and every change is written to the audit log.
"""

from __future__ import annotations

import json
import logging
import os
import re
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

from django import forms
from django.conf import settings
from django.contrib.auth.models import User
from django.core.exceptions import ImproperlyConfigured
from django.core.paginator import Paginator
from django.db import transaction
from django.db.models import Q, QuerySet
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect, QueryDict
from django.shortcuts import render
from django.urls import NoReverseMatch, path, reverse
from django.utils import timezone, translation
from django.utils.text import Truncator
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext
from django.views.decorators.http import require_GET, require_POST

from centre import triage
from centre.config import CentreConfig, load_centre_config
from centre.downlink import Outgoing, issue, publish
from centre.errors import CentreError
from centre.followup.models import Acknowledgement, Review
from centre.people.access import patients_for
from centre.people.models import CareEpisode, Municipality, Patient, Team
from centre.records.models import Hub, Reading
from centre.web.audit import audit
from centre.web.views.worklist_html import rows_html
from centre.web.words import kind_words, reasons_words
from centre.web.worklist_data import (
    OPEN_WINDOW,
    WINDOW,
    Entry,
    Row,
    item_keys,
    reading_id_of,
    row_keys,
    rows_of,
    triaged,
)
from hub.core.call_request import KIND as CALL
from hub.core.call_request import CallAcknowledged

log = logging.getLogger(__name__)

STATE_LABELS: Mapping[str, Any] = {
    "call_me": gettext_lazy("Asked to be called"),
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
    "calling": gettext_lazy("The patient's screen now says that you are calling her."),
    # Another nurse's press came first (`claim`); `worklist` names her when it can.
    "already_calling": gettext_lazy(
        "Another nurse is already calling her: her screen says that a nurse is calling. Do not "
        "call her too."
    ),
    "call_failed": gettext_lazy(
        "The patient's hub could not be told that you are calling, so the call request stays "
        "on the worklist: press the button again later. Call her all the same, and tell a "
        "technician."
    ),
    # A call request answered at the centre only (`call_fate`): nothing was sent to a hub.
    "call_episode_ended": gettext_lazy(
        "Acknowledged at the centre only: her care episode with that hub has ended (the hub may "
        "now be another patient's), so no hub was told. Call her on the phone number you have."
    ),
    "call_hub_revoked": gettext_lazy(
        "Acknowledged at the centre only: her hub is revoked, so it was not told that you are "
        "calling. Call her all the same."
    ),
    "call_unreadable": gettext_lazy(
        "Acknowledged at the centre only: the call request has no id her hub would recognise "
        "(it was stored by an older version), so her hub was not told. Call her all the same."
    ),
    "called_quietly": gettext_lazy(
        "Marked as called. Her hub was not told: her screen still says she is waiting for a "
        "call. Tell a technician."
    ),
    "reviewed": gettext_lazy("The patients with nothing to see are marked as reviewed."),
    "changed": gettext_lazy(
        "Acknowledged what you saw. The patient has findings that came after the page was "
        "shown: look at the row again; she is not marked as reviewed."
    ),
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
class Moment:
    """A time as the page shows it: machine-readable, and in the nurse's time zone."""

    iso: str
    text: str


def moment(value: datetime | None) -> Moment | None:
    if value is None:
        return None
    local = timezone.localtime(value)
    return Moment(local.isoformat(), f"{local.day}.{local.month}.{local.year} {local:%H:%M}")


@dataclass(frozen=True)
class Dressing:
    """What every row of a page shares, worked out once for all of them: the states' words in
    the nurse's language, and the addresses (the template engine costs far more per value
    than Python does: issue 13's 300 ms for a page of 100 patients)."""

    labels: Mapping[str, str]
    acknowledge: Callable[[int], str]
    patient: Callable[[int], str] | None  # None: no patient page to link to
    query: str  # the filters and page, for the acknowledgement's redirect
    # Words already found for a kind, and for a finding's reasons: rows repeat them.
    _kinds: dict[str | None, str] = field(default_factory=dict)
    _reasons: dict[tuple[str, ...], tuple[str, str]] = field(default_factory=dict)

    def kind(self, kind: str | None) -> str:
        if kind not in self._kinds:
            self._kinds[kind] = kind_words(kind)
        return self._kinds[kind]

    def reasons(self, codes: tuple[str, ...]) -> tuple[str, str]:
        """The codes for the markup, and the reasons in words; each at most 200 characters."""
        if codes not in self._reasons:
            self._reasons[codes] = (
                _at_most(" ".join(codes), 200),
                _at_most(", ".join(reasons_words(codes)), 200),
            )
        return self._reasons[codes]

    @classmethod
    def for_page(cls, query: str) -> Dressing:
        return cls(
            labels={state: str(label) for state, label in STATE_LABELS.items()},
            acknowledge=address_of("web:acknowledge"),
            patient=address_of("web:patient") if patient_page_exists() else None,
            query=f"?{query}" if query else "",
        )


@dataclass(frozen=True)
class Finding:
    """One item of a worklist row, in the nurse's words (its codes kept for the page's markup).
    Acknowledging it posts `keys` as one value, separated by spaces."""

    state: str
    label: str  # the state's
    kind_code: str  # "" for the hub's items
    kind: str  # in words
    count: str
    keys: str  # what acknowledging it acknowledges
    codes: str  # the reasons' codes, for the markup
    reasons: str  # in words, each once


def finding(item: triage.Item, dressing: Dressing) -> Finding:
    return Finding(
        item.state,
        dressing.labels[item.state],
        item.kind or "",
        dressing.kind(item.kind),
        str(item.count),
        " ".join(item_keys(item)),
        *dressing.reasons(item.reasons),
    )


def _at_most(text: str, length: int) -> str:
    return text if len(text) <= length else Truncator(text).chars(length)


@dataclass(frozen=True)
class Shown:
    """A worklist row as the template shows it, everything worked out beforehand."""

    patient_id: str
    name: str
    place: str  # team and municipality
    state: str  # a triage state, or "none"
    state_label: str
    counts: tuple[tuple[str, str, str], ...]  # (state, label, count)
    items: tuple[Finding, ...]
    keys: str  # all the row's, separated by spaces
    since: Moment | None
    last_measured: Moment | None
    last_delivered: Moment | None
    reviewed_at: Moment | None
    reviewed_by: str
    acknowledge_url: str
    patient_url: str  # "" when there is no patient page to link to


def shown(row: Row, dressing: Dressing) -> Shown:
    state = row.summary.worst or "none"
    patient, labels = row.patient, dressing.labels
    return Shown(
        patient_id=str(patient.id),
        name=patient.name,
        place=f"{patient.team.name} · {patient.team.municipality.name}",
        state=state,
        state_label=labels[state],
        counts=tuple((s, labels[s], str(n)) for s, n in row.summary.counts.items()),
        items=tuple(finding(i, dressing) for i in row.summary.items),
        keys=" ".join(row_keys(row.summary.items)),
        since=moment(row.summary.since),
        last_measured=moment(row.summary.last_measured),
        last_delivered=moment(row.summary.last_delivered),
        reviewed_at=moment(row.reviewed_at),
        reviewed_by=row.reviewed_by or "",
        acknowledge_url=dressing.acknowledge(patient.id) + dressing.query,
        patient_url=dressing.patient(patient.id) if dressing.patient else "",
    )


def address_of(view: str) -> Callable[[int], str]:
    """The address of `view` for a patient id, reversed once for a whole page of rows."""
    pattern = reverse(view, args=["0"])
    if not pattern.endswith("/0/"):
        raise ImproperlyConfigured(f"{view} must end in the patient's id: {pattern}")
    base = pattern[: -len("0/")]
    return lambda patient_id: f"{base}{patient_id}/"


def shown_rows(rows: Sequence[Row], query: str) -> list[Shown]:
    dressing = Dressing.for_page(query)
    return [shown(row, dressing) for row in rows]


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


def _keep(summary: triage.Summary, state: str | None) -> bool:
    if not state:
        return True
    if state == "attention":
        return summary.worst is not None
    if state == "none":
        return summary.worst is None
    return state in summary.counts


def _entries(request: HttpRequest, filters: WorklistFilter, now: datetime) -> list[Entry]:
    wanted = filters.wanted()
    entries = triaged(_patients(request, wanted), now)
    return [entry for entry in entries if _keep(entry.summary, wanted.get("state"))]


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
    entries = _entries(request, filters, now)
    page = Paginator(entries, PAGE_ROWS).get_page(_page_number(request))
    query = _and(filters.query(), f"page={page.number}")
    return {
        "filters": filters,
        "filter_query": filters.query(),  # for the page links
        "query": query,  # the refresh and the actions
        "page": page,
        "rows_html": rows_html(request, shown_rows(rows_of(list(page.object_list)), query)),
        "window_days": WINDOW.days,
        "open_window_days": OPEN_WINDOW.days,
        "now": now,
    }


@require_GET
def worklist(request: HttpRequest) -> HttpResponse:
    filters = WorklistFilter(_user(request), request.GET or None)
    context = _context(request, filters)
    context["notice"] = NOTICES.get(request.GET.get("notice", ""))
    if request.GET.get("notice") == "call_failed":
        context["call_offer"] = call_offer(request, str(request.GET.get("call", "")), context)
    if request.GET.get("notice") == "already_calling":
        name = who_is_calling(request, str(request.GET.get("call", "")))
        if name is not None:
            context["notice"] = already_calling(name)
    audit(request, "view", _("worklist"))
    return render(request, "web/worklist.html", context)


@dataclass(frozen=True)
class CallOffer:
    """After her hub could not be told: the button that marks her call requests as called
    without telling the hub (the nurse has called her on the phone)."""

    name: str
    action: str
    keys: str


def call_offer(
    request: HttpRequest, patient_id: str, context: Mapping[str, Any]
) -> CallOffer | None:
    """The offer for the patient named in the address, if she is the user's and still has open
    call requests; None otherwise."""
    try:
        patient = _patient_or_404(request, patient_id)
    except Http404:
        return None
    (entry,) = triaged(Patient.objects.filter(id=patient.id), timezone.now())
    keys = row_keys(item for item in entry.summary.items if item.state == "call_me")
    if not keys:
        return None
    action = reverse("web:acknowledge", args=[str(patient.id)]) + f"?{context['query']}"
    return CallOffer(patient.name, action, " ".join(keys))


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


def _back(request: HttpRequest, notice: str, more: str = "") -> HttpResponseRedirect:
    filters = WorklistFilter(_user(request), request.GET or None)
    query = _and(filters.query(), f"page={_page_number(request)}")
    return HttpResponseRedirect(
        f"{reverse('web:worklist')}?{query}&notice={notice}" + (f"&{more}" if more else "")
    )


@dataclass(frozen=True)
class Asked:
    """What an acknowledgement form asks: the keys, whether the patient counts as reviewed
    (all her findings), whether she is sent a receipt."""

    keys: tuple[str, ...] = ()
    all: bool = False
    receipt: bool = False
    quietly: bool = False  # call requests acknowledged without telling the hub


# The buttons of a row's form: each posts its finding's keys (or all the row's) as its value.
ACTIONS: Mapping[str, Asked] = {
    "acknowledge": Asked(),
    # A call request's one button ("I am calling now"): acknowledging a call request, by this
    # button or another, tells her hub that a nurse is calling (`tell_calling`).
    "call_back": Asked(),
    # Offered after her hub could not be told (`call_failed`): the nurse has called her, and
    # the request leaves the worklist although the hub still shows it open.
    "call_back_quietly": Asked(quietly=True),
    "acknowledge_with_receipt": Asked(receipt=True),
    "acknowledge_all": Asked(all=True),
    "acknowledge_all_with_receipt": Asked(all=True, receipt=True),
}


def asked(post: QueryDict) -> Asked:
    """The one button pressed and its keys (each once); anything else, such as two buttons or
    one posted twice, asks for nothing."""
    pressed = [name for name in ACTIONS if name in post]
    if len(pressed) != 1 or len(post.getlist(pressed[0])) != 1:
        return Asked()
    keys = tuple(dict.fromkeys(str(post.get(pressed[0], "")).split()))
    return replace(ACTIONS[pressed[0]], keys=keys)


@require_POST
def acknowledge(request: HttpRequest, patient_id: str) -> HttpResponse:
    """Acknowledge the findings posted (see `asked`) that are still the patient's current
    findings (stale ones, or keys that are not hers, are left out); with all, the patient
    counts as reviewed; with a receipt, the patient's hub is sent the receipt message."""
    patient = _patient_or_404(request, patient_id)
    (entry,) = triaged(Patient.objects.filter(id=patient.id), timezone.now())
    current = set(row_keys(entry.summary.items))
    wanted = asked(request.POST)
    chosen = [key for key in wanted.keys if key in current]
    # A call request is answered only once her hub has been told, so that her screen says a
    # nurse is calling: one whose hub could not be told stays on the worklist, to press again
    # or to mark as called without telling (her hub keeps it open meanwhile). One whose hub
    # can never be told (`call_fate`) is answered at the centre alone, and the nurse is told.
    calls = call_requests(patient, chosen, timezone.now())
    fates: dict[str, Fate] = {
        key: "quietly" if wanted.quietly and fate == "tell" else fate
        for key, (_, fate) in calls.items()
    }
    # Claimed before her hub is told, so that two nurses pressing at once do not both call
    # her: the acknowledgement's unique constraint lets one press create it; the other finds
    # it, and is told who is calling. A claim whose hub could not be told is undone.
    claimed, taken = claim(patient, chosen, _user(request))
    to_tell = {
        key: call for key, (call, _) in calls.items() if fates[key] == "tell" and key in claimed
    }
    reached = tell_calling(list(to_tell.values())) if to_tell else set()
    told = {key for key, call in to_tell.items() if call in reached}
    failed = set(to_tell) - told
    if failed:
        Acknowledgement.objects.filter(id__in=[claimed[key] for key in failed]).delete()
    chosen = [key for key in chosen if key not in failed]
    calling = [  # another nurse's press came first
        key for key in chosen if key in calls and key in taken and taken[key] != _user(request)
    ]
    untold = [fates[key] for key in chosen if key in calls and key in claimed and key not in told]
    # Reviewed: only when this leaves nothing of hers unacknowledged. A finding that came
    # after the page was drawn is not among the keys posted, and she has not seen it.
    reviewed = wanted.all and bool(chosen) and set(chosen) == current
    if reviewed:
        Review.objects.create(patient=patient, by=_user(request))
    mine = [key for key in chosen if key not in calling]
    if told:
        audit(request, "change", _told(len(told)), patient)
    for fate in dict.fromkeys(untold):
        audit(request, "change", _untold(untold.count(fate), fate), patient)
    if failed:
        if mine:
            audit(request, "change", _acknowledged(len(mine)), patient)
        return _back(request, "call_failed", f"call={patient.id}")
    if not chosen:
        # Her row as this press found it may already lack a request another nurse answered
        # a moment ago: she is told who is calling, not that there was nothing to do.
        if answered_by_another(patient, wanted.keys, _user(request)):
            return _back(request, "already_calling", f"call={patient.id}")
        return _back(request, "nothing")
    if reviewed:
        audit(request, "change", _("reviewed: all findings acknowledged"), patient)
    if mine:
        audit(request, "change", _acknowledged(len(mine)), patient)
    if calling and not told:
        return _back(request, "already_calling", f"call={patient.id}")
    if untold and not wanted.receipt:
        return _back(
            request, min((UNTOLD_NOTICE[fate] for fate in untold), key=_UNTOLD_ORDER.index)
        )
    if told and not wanted.receipt:
        return _back(request, "calling")
    if not wanted.receipt:
        return _back(request, "acknowledged" if reviewed or not wanted.all else "changed")
    if entry.hub_id is None or not send_receipt(entry.hub_id):
        return _back(request, "receipt_failed")
    Acknowledgement.objects.filter(patient=patient, key__in=chosen).update(with_receipt=True)
    audit(request, "change", _("sent the patient a receipt"), patient)
    return _back(request, "receipt_sent")


def claim(
    patient: Patient, keys: Sequence[str], by: User
) -> tuple[dict[str, int], dict[str, User]]:
    """Acknowledge the keys in one transaction, committed before anything is sent: the ones this
    call acknowledged (key -> the acknowledgement's id, to undo it), and the ones another had
    acknowledged already (key -> who). Two presses at once: the unique constraint
    `acknowledged_once` lets one of them create each key, and the other then finds it."""
    claimed: dict[str, int] = {}
    taken: dict[str, User] = {}
    with transaction.atomic():
        for key in keys:
            found, created = Acknowledgement.objects.select_related("by").get_or_create(
                patient=patient, key=key, defaults={"by": by}
            )
            if created:
                claimed[key] = found.id
            else:
                taken[key] = found.by
    return claimed, taken


def answered_by_another(patient: Patient, keys: Sequence[str], user: User) -> bool:
    """Whether any of the keys is one of the patient's call requests that another user has
    acknowledged."""
    answers = Acknowledgement.objects.filter(patient=patient, key__in=keys).exclude(by=user)
    ids = {rid for key in answers.values_list("key", flat=True) if (rid := reading_id_of(key))}
    return Reading.objects.filter(id__in=ids, kind=CALL).exists()


def already_calling(name: str) -> str:
    """The notice to a nurse whose press came second: who is calling the patient."""
    return _(
        "%(name)s is already calling her: her screen says that a nurse is calling. Do not "
        "call her too."
    ) % {"name": name}


def who_is_calling(request: HttpRequest, patient_id: str) -> str | None:
    """The name of the nurse who answered the newest of the call requests of the patient named
    in the address, if she is the user's; None otherwise."""
    try:
        patient = _patient_or_404(request, patient_id)
    except Http404:
        return None
    answers = Acknowledgement.objects.filter(patient=patient, key__startswith="reading:")
    newest = list(answers.select_related("by").order_by("-at", "-id")[:50])
    ids = {rid for answer in newest if (rid := reading_id_of(answer.key)) is not None}
    calls = set(Reading.objects.filter(id__in=ids, kind=CALL).values_list("id", flat=True))
    for answer in newest:
        if reading_id_of(answer.key) in calls:
            return answer.by.get_full_name() or answer.by.username
    return None


@require_POST
def all_green(request: HttpRequest) -> HttpResponse:
    """Mark as reviewed every patient of the filtered list who has nothing to see now (a
    patient who turned red since the page was shown is not among them)."""
    filters = WorklistFilter(_user(request), request.GET or None)
    entries = _entries(request, filters, timezone.now())
    green = list(
        Patient.objects.filter(id__in=[e.patient_id for e in entries if e.summary.worst is None])
    )
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


def _acknowledged(count: int) -> str:
    return ngettext("acknowledged %(count)d finding", "acknowledged %(count)d findings", count) % {
        "count": count
    }


def _untold(count: int, fate: Fate) -> str:
    why = {
        "episode_ended": _("her care episode with that hub has ended"),
        "hub_revoked": _("her hub is revoked"),
        "unreadable": _("the request has no id a hub recognises"),
        "quietly": _("marked as called after her hub could not be told"),
    }.get(fate, fate)
    return ngettext(
        "acknowledged %(count)d call request without telling the patient's hub: %(why)s",
        "acknowledged %(count)d call requests without telling the patient's hub: %(why)s",
        count,
    ) % {"count": count, "why": why}


def _told(count: int) -> str:
    return ngettext(
        "told the patient's hub that a nurse is calling about %(count)d request",
        "told the patient's hub that a nurse is calling about %(count)d requests",
        count,
    ) % {"count": count}


# What becomes of a call request the nurse answers: "tell" her hub (a call_ack document), or
# acknowledge it at the centre alone because no hub can rightly be told: her care episode with
# that hub has ended (the hub may be the next patient's, whose screen would say a nurse is
# calling her), the hub is revoked, or the request has no id a hub would take (stored before
# the ingest checked them). "quietly": the nurse chose to, after her hub could not be reached.
Fate = Literal["tell", "episode_ended", "hub_revoked", "unreadable", "quietly"]
UNTOLD_NOTICE: Mapping[Fate, str] = {
    "episode_ended": "call_episode_ended",
    "hub_revoked": "call_hub_revoked",
    "unreadable": "call_unreadable",
    "quietly": "called_quietly",
}
_UNTOLD_ORDER = list(UNTOLD_NOTICE.values())  # the one notice said when several apply


@dataclass(frozen=True)
class CallToTell:
    """A call request's answer as the hub is sent it: which hub, which request."""

    hub_id: str
    request_id: str


def call_fate(
    call: CallToTell | None,
    received_at: datetime,
    open_episodes: Sequence[tuple[str, datetime]],
    revoked: bool,
) -> Fate:
    """Whether a call request's hub may be told (pure). `call`: None when its request id is
    not one a hub takes; `received_at`: when the centre stored it, which places it in an
    episode (as on the worklist, centre/web/worklist_data.py `placed_at`: the hub's clock may
    be behind); `open_episodes`: the patient's episodes under way, (hub id, started). Her hub
    is told only when the episode the request belongs to is still under way: else the hub has
    moved on."""
    hub_id = call.hub_id if call is not None else None
    if not any(hub == hub_id and started <= received_at for hub, started in open_episodes):
        return "episode_ended" if call is not None else "unreadable"
    if revoked:
        return "hub_revoked"
    return "tell" if call is not None else "unreadable"


def request_id_of(values_json: str) -> str | None:
    """The request id a call request reading holds, if it is one a hub would take (one stored
    before the ingest checked them may hold none, or a bad one): None otherwise."""
    try:
        request_id = json.loads(values_json)["request_id"]
        CallAcknowledged.model_validate({"request_id": request_id})
    except (ValueError, KeyError, TypeError) as exc:  # pydantic's ValidationError included
        log.warning("a call request cannot be answered to its hub: %s", str(exc)[:200])
        return None
    return str(request_id)


def call_requests(
    patient: Patient, keys: Sequence[str], now: datetime
) -> dict[str, tuple[CallToTell, Fate]]:
    """The call requests among the patient's keys ("reading:<id>" of kind call_request): key ->
    (what her hub would be told, whether it may be told: `call_fate`)."""
    ids = {rid: key for key in keys if (rid := reading_id_of(key)) is not None}
    rows = list(
        Reading.objects.filter(id__in=ids, kind=CALL).values_list(
            "id", "hub_id", "values_json", "stored_at"
        )
    )
    hubs = {str(hub_id) for _, hub_id, _, _ in rows}
    revoked = set(
        Hub.objects.filter(hub_id__in=hubs, revoked_at__isnull=False).values_list(
            "hub_id", flat=True
        )
    )
    open_episodes = list(
        CareEpisode.objects.filter(patient=patient, started__lte=now)
        .filter(Q(ended__isnull=True) | Q(ended__gt=now))
        .values_list("hub_id", "started")
    )
    found = {}
    for rid, hub_id, values, received_at in rows:
        request_id = request_id_of(values)
        call = CallToTell(str(hub_id), request_id) if request_id is not None else None
        fate = call_fate(call, received_at, open_episodes, str(hub_id) in revoked)
        found[ids[rid]] = (call or CallToTell(str(hub_id), ""), fate)
    return found


class UnanswerableCall(CentreError, ValueError):
    """A call request whose answer no hub would take (its id is not one a hub chooses)."""


def call_ack(config: CentreConfig, call: CallToTell) -> Outgoing:
    """The signed call_ack document for one request; UnanswerableCall for an id a hub would
    refuse (`call_requests` leaves those out: this guards any other caller)."""
    try:
        CallAcknowledged.model_validate({"request_id": call.request_id})
    except ValueError:  # pydantic's ValidationError
        raise UnanswerableCall(
            f"request id {call.request_id[:80]!r} is not one a hub takes: acknowledge the "
            "request at the centre alone"
        ) from None
    return issue(config, call.hub_id, "call_ack", {"request_id": call.request_id})


def tell_calling(calls: Sequence[CallToTell]) -> set[CallToTell]:
    """Send each request's hub the signed answer that a nurse is calling (a "call_ack"
    document, centre/downlink.py), all through one connection to the broker; the ones handed
    to it. One that cannot be made (a hub without a key) is left out, with a log line saying
    why; if the broker cannot be reached, none is."""
    if not calls:
        return set()
    try:
        config = centre_config()
    except (CentreError, OSError) as exc:
        log.warning("no hub told that a nurse is calling: %s", exc)
        return set()
    made: dict[CallToTell, Outgoing] = {}
    for call in dict.fromkeys(calls):
        try:
            made[call] = call_ack(config, call)
        except (CentreError, OSError) as exc:
            log.warning("hub %s not told that a nurse is calling: %s", call.hub_id, exc)
    if not made:
        return set()
    try:
        publish(config, list(made.values()))
    except (CentreError, OSError) as exc:
        log.warning("%d hubs not told that a nurse is calling: %s", len(made), exc)
        return set()
    return set(made)


urlpatterns = [
    path("", worklist, name="worklist"),
    path("worklist/rows/", worklist_rows, name="worklist_rows"),
    path("worklist/acknowledge/<str:patient_id>/", acknowledge, name="acknowledge"),
    path("worklist/all-green/", all_green, name="all_green"),
]
