"""The technician's page (issue 15): every enrolled hub with its presence, its newest health
report and its devices, filtered by GET parameters (no JavaScript needed), and three lists of
hubs that need a technician: offline for more than a day, a device's battery low, the clock not
synchronised. A page per hub adds its presence in full and the history of its health reports.

Technicians and administrators only (a nurse gets 403). Every hub's own facts are shown to
every technician (they maintain all hubs); its home (the open care episode's) is the patient's
name and municipality when she is one of the user's teams' (centre/people/access.py
patients_for, as the Equipment page), else "a patient of <team>" and the municipality, and the
search by name finds only the user's teams' patients. Never her health data; every view is
written to the audit log, a hub's page under its patient.

The lists' rules are defined once as predicates on a hub's facts (pure, `offline_for_a_day`...)
and once as database filters (`PROBLEMS`) that say the same; tests/test_web_technician.py holds
the two together. The page runs a fixed number of queries, whatever the number of hubs
(bench/technician_page.py).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

from django import forms
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.db.models import Exists, OuterRef, Q, QuerySet
from django.http import Http404, HttpRequest, HttpResponse, QueryDict
from django.shortcuts import render
from django.urls import path, reverse
from django.utils import timezone
from django.utils.formats import number_format
from django.utils.html import escape, format_html
from django.utils.safestring import SafeString, mark_safe
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext
from django.views.decorators.http import require_GET

from centre.people.access import patients_for, works_on_equipment
from centre.people.models import CareEpisode, Municipality, Patient
from centre.records.models import Hub, HubDeviceHealth, HubHealthReport, Reading
from centre.web.audit import audit
from hub.core.health import BATTERY_LOW, HealthUnreadable, HubHealth, read_health
from hub.core.health import KIND as HEALTH
from hub.wire.topics import HUB_ID_PATTERN

PAGE_HUBS = 100  # hubs per page: the page stays small however many hubs the centre has
PREVIEW = 10  # hub ids named in each problem list at the top (its link shows them all)
HISTORY = 50  # health reports on a hub's page, newest first
OFFLINE_AFTER = timedelta(hours=24)
SEARCH_LONGEST = 100
_PAGE = re.compile(r"[1-9][0-9]{0,5}")

STATES: Mapping[str, Any] = {
    "online": gettext_lazy("online"),
    "offline": gettext_lazy("offline"),
    "never": gettext_lazy("never heard from"),
}
PROBLEM_NAMES: Mapping[str, Any] = {
    "offline_day": gettext_lazy("Offline for more than a day"),
    "battery_low": gettext_lazy("Battery low"),
    "clock": gettext_lazy("Clock not synchronised"),
}
OUTBOX_ALARMS: Mapping[str, Any] = {
    "near_full": gettext_lazy("outbox near full"),
    "over_budget": gettext_lazy("outbox over its budget"),
}
PROBLEM_RULES: Mapping[str, Any] = {
    "offline_day": gettext_lazy(
        "Not revoked, and offline with nothing heard from it for more than 24 hours, or never "
        "heard from since it was enrolled more than 24 hours ago."
    ),
    "battery_low": gettext_lazy(
        "Not revoked, and a device in its newest health report has %(low)s %% battery or less."
    ),
    "clock": gettext_lazy(
        "Not revoked, and its newest health report says that its clock is not synchronised."
    ),
}


# The rules (pure): what each list means, on a hub's facts.


class Presence(Protocol):
    """What the lists read of a hub (centre/records/models.py Hub has these)."""

    status_state: str | None
    status_since: datetime | None
    seen_at: datetime | None
    enrolled_at: datetime
    revoked_at: datetime | None


def state_of(hub: Presence) -> str:
    """ "online", "offline" or "never" (no status recorded, or one the centre cannot read)."""
    return hub.status_state if hub.status_state in ("online", "offline") else "never"


def quiet_since(hub: Presence) -> datetime | None:
    """Since when the hub has not been heard from, as best the centre knows; None if online.

    Offline: the centre's time it last heard from the hub (`seen_at`: the broker hands on the
    hub's will live when its connection drops, so this is about when it went offline). Not
    `status_since`, which is when the connection that ended began (hub time): a hub connected
    for a week that dropped an hour ago would read as offline for a week. Without a `seen_at`
    (the centre has only a retained copy), that connection's start, then its enrolment: earlier
    than the truth, so such a hub is rather listed than missed. Never heard from: enrolment."""
    state = state_of(hub)
    if state == "online":
        return None
    if state == "offline":
        return hub.seen_at or hub.status_since or hub.enrolled_at
    return hub.enrolled_at


def offline_for_a_day(hub: Presence, now: datetime) -> bool:
    since = quiet_since(hub)
    return hub.revoked_at is None and since is not None and since < now - OFFLINE_AFTER


def battery_low(levels: Iterable[int | None]) -> bool:
    return any(level is not None and level <= BATTERY_LOW for level in levels)


def clock_unsynchronised(report: HubHealthReport | None) -> bool:
    return report is not None and not report.clock_synced


# The same rules as database filters on Hub (one query per list, whatever the number of hubs).


def _offline_for_a_day(now: datetime) -> Q:
    before = now - OFFLINE_AFTER
    offline = Q(status_state="offline") & (
        Q(seen_at__lt=before)
        | Q(seen_at__isnull=True, status_since__lt=before)
        | Q(seen_at__isnull=True, status_since__isnull=True, enrolled_at__lt=before)
    )
    never = ~Q(status_state__in=("online", "offline")) | Q(status_state__isnull=True)
    return Q(revoked_at__isnull=True) & (offline | (never & Q(enrolled_at__lt=before)))


def _battery_low(now: datetime) -> Q:
    low = HubDeviceHealth.objects.filter(battery_level__lte=BATTERY_LOW).values("hub_id")
    return Q(revoked_at__isnull=True, hub_id__in=low)


def _clock(now: datetime) -> Q:
    unsynced = HubHealthReport.objects.filter(clock_synced=False).values("hub_id")
    return Q(revoked_at__isnull=True, hub_id__in=unsynced)


PROBLEMS: Mapping[str, Callable[[datetime], Q]] = {
    "offline_day": _offline_for_a_day,
    "battery_low": _battery_low,
    "clock": _clock,
}


# Who may look.


def _allowed(request: HttpRequest) -> None:
    if not works_on_equipment(request.user):
        raise PermissionDenied


# The filters.

_NOT_A_CHOICE = gettext_lazy("Not one of the choices: not applied.")


class HubFilter(forms.Form):
    q = forms.CharField(
        label=gettext_lazy("Hub, device or patient"),
        required=False,
        max_length=SEARCH_LONGEST,
        error_messages={
            "max_length": gettext_lazy("At most %(limit_value)d characters: not applied.")
        },
    )
    municipality = forms.ChoiceField(
        label=gettext_lazy("Municipality"),
        required=False,
        error_messages={"invalid_choice": _NOT_A_CHOICE},
    )
    state = forms.ChoiceField(
        label=gettext_lazy("State"),
        required=False,
        choices=[("", gettext_lazy("all")), *STATES.items()],
        error_messages={"invalid_choice": _NOT_A_CHOICE},
    )
    problem = forms.ChoiceField(
        label=gettext_lazy("Needs a technician"),
        required=False,
        choices=[("", gettext_lazy("all")), *PROBLEM_NAMES.items()],
        error_messages={"invalid_choice": _NOT_A_CHOICE},
    )

    def __init__(self, data: QueryDict | None) -> None:
        super().__init__(data)
        place = self.fields["municipality"]
        assert isinstance(place, forms.ChoiceField)
        # By its municipality number (kommunenummer): a link says which municipality it lists.
        places = Municipality.objects.order_by("name").values_list("number", "name")
        place.choices = [("", gettext_lazy("all")), *places]

    def wanted(self) -> dict[str, str]:
        """The filters that are valid; a wrong one is shown with its error and not applied."""
        if not self.is_bound:
            return {}
        self.is_valid()
        return {k: str(v).strip() for k, v in self.cleaned_data.items() if str(v).strip()}

    def query(self, **changed: str) -> str:
        """The valid filters, with `changed` ones set ("" drops one), as a query string."""
        out = QueryDict(mutable=True)
        for name, value in {**self.wanted(), **changed}.items():
            if value:
                out[name] = value
        return out.urlencode()


def _open_episodes(now: datetime) -> QuerySet[CareEpisode]:
    """The care episodes under way: the patient at each hub's home now."""
    return CareEpisode.objects.filter(started__lte=now).filter(
        Q(ended__isnull=True) | Q(ended__gt=now)
    )


def _in_municipality(now: datetime, municipality: str | None) -> QuerySet[Hub]:
    hubs = Hub.objects.all()
    if municipality:
        homes = _open_episodes(now).filter(patient__team__municipality__number=municipality)
        hubs = hubs.filter(hub_id__in=homes.values("hub_id"))
    return hubs


def hubs_wanted(
    wanted: Mapping[str, str], now: datetime, visible: QuerySet[Patient]
) -> QuerySet[Hub]:
    """`visible`: the patients the user may see; the search by name finds only theirs."""
    hubs = _in_municipality(now, wanted.get("municipality"))
    state = wanted.get("state")
    if state == "online":
        hubs = hubs.filter(status_state="online")
    elif state == "offline":
        hubs = hubs.filter(status_state="offline")
    elif state == "never":
        hubs = hubs.exclude(status_state__in=("online", "offline"))
    if text := wanted.get("q"):
        devices = HubDeviceHealth.objects.filter(address__icontains=text).values("hub_id")
        homes = (
            _open_episodes(now)
            .filter(patient__name__icontains=text, patient__in=visible.values("pk"))
            .values("hub_id")
        )
        hubs = hubs.filter(Q(hub_id__icontains=text) | Q(hub_id__in=devices) | Q(hub_id__in=homes))
    if problem := wanted.get("problem"):
        hubs = hubs.filter(PROBLEMS[problem](now))
    return hubs.order_by("hub_id")


# What the page shows, worked out before the template.


@dataclass(frozen=True)
class DeviceShown:
    address: str
    name: str  # its name, else its profile
    profile: str
    battery: int | None
    low: bool
    last_connected_at: datetime | None
    clock_set_at: datetime | None


@dataclass(frozen=True)
class HubShown:
    hub_id: str
    state: str  # online, offline, never
    state_label: str
    since: datetime | None  # online: its connection began (hub time); else `quiet_since`
    last_heard: datetime | None  # the centre's time it last heard from the hub
    enrolled_at: datetime
    revoked_at: datetime | None
    report: HubHealthReport | None
    up_since: datetime | None  # the report's time less its uptime (hub time)
    disk_free_gib: float | None
    disk_free_percent: int | None  # None: the disk's size is not known
    # The open episode's: her name, or "a patient of <team>" when she is not one of the user's
    # teams'; "" when the hub is at no one's home.
    patient: str
    municipality: str
    devices: tuple[DeviceShown, ...]
    problems: tuple[str, ...]  # keys of PROBLEMS the hub is in
    outbox_alarm: str  # in words: the newest report's, else its status's; "" when none


def _gib(value: int) -> float:
    return value / (1 << 30)


def alarm_words(alarm: str | None) -> str:
    if alarm is None:
        return ""
    return str(OUTBOX_ALARMS.get(alarm, alarm[:16]))


def device_shown(device: HubDeviceHealth) -> DeviceShown:
    level = device.battery_level
    return DeviceShown(
        address=device.address,
        name=device.name or device.profile,
        profile=device.profile,
        battery=level,
        low=battery_low([level]),
        last_connected_at=device.last_connected_at,
        clock_set_at=device.clock_set_at,
    )


def hub_shown(
    hub: Hub,
    report: HubHealthReport | None,
    devices: Sequence[HubDeviceHealth],
    home: tuple[str, str] | None,
    now: datetime,
) -> HubShown:
    """One hub as the page shows it (pure: everything read beforehand)."""
    state = state_of(hub)
    shown_devices = tuple(device_shown(d) for d in devices)
    problems = tuple(
        name
        for name, applies in (
            ("offline_day", offline_for_a_day(hub, now)),
            ("battery_low", battery_low(d.battery for d in shown_devices)),
            ("clock", clock_unsynchronised(report)),
        )
        if applies and hub.revoked_at is None
    )
    total = report.disk_total_bytes if report else 0
    return HubShown(
        hub_id=hub.hub_id,
        state=state,
        state_label=str(STATES[state]),
        since=hub.status_since if state == "online" else quiet_since(hub),
        last_heard=hub.seen_at,
        enrolled_at=hub.enrolled_at,
        revoked_at=hub.revoked_at,
        report=report,
        up_since=report.at - timedelta(seconds=report.uptime_s) if report else None,
        disk_free_gib=_gib(report.disk_free_bytes) if report else None,
        disk_free_percent=round(100 * report.disk_free_bytes / total) if report and total else None,
        patient=home[0] if home else "",
        municipality=home[1] if home else "",
        devices=shown_devices,
        problems=problems,
        outbox_alarm=alarm_words(report.outbox_alarm if report else hub.outbox_alarm),
    )


def shown_hubs(hubs: Sequence[Hub], now: datetime, visible: QuerySet[Patient]) -> list[HubShown]:
    """The rows for these hubs: three queries (reports, devices, homes), however many. A home's
    patient is named only when she is in `visible` (asked in the homes' query itself)."""
    ids = [hub.hub_id for hub in hubs]
    reports = {r.hub_id: r for r in HubHealthReport.objects.filter(hub_id__in=ids)}
    devices: dict[str, list[HubDeviceHealth]] = {}
    for device in HubDeviceHealth.objects.filter(hub_id__in=ids).order_by("hub_id", "address"):
        devices.setdefault(device.hub_id, []).append(device)
    homes: dict[str, tuple[str, str]] = {}
    # Name, team and municipality only: the patient's health data is never read for this page.
    found = (
        _open_episodes(now)
        .filter(hub_id__in=ids)
        .annotate(hers=Exists(visible.filter(pk=OuterRef("patient_id"))))
        .order_by("started")
        .values_list(
            "hub_id",
            "hers",
            "patient__name",
            "patient__team__name",
            "patient__team__municipality__name",
        )
    )
    other = _("a patient of %(team)s")  # the Equipment page's words
    for hub_id, hers, name, team, place in found:
        # The latest started wins, should two overlap.
        homes[hub_id] = (name if hers else other % {"team": team}, place)
    return [
        hub_shown(h, reports.get(h.hub_id), devices.get(h.hub_id, []), homes.get(h.hub_id), now)
        for h in hubs
    ]


# The rows as HTML, made here: through the template engine, a page of 100 hubs took some 150 ms
# of CPU (bench/technician_page.py); every value is escaped by format_html.


@dataclass(frozen=True)
class Words:
    """What every row says, in the user's language, looked up once per page."""

    revoked: str
    since: Mapping[str, str]  # by state: "since", "since about", "enrolled"
    never: str
    no_episode: str
    reported: str
    no_report: str
    synchronised: str
    not_synchronised: str
    battery_unknown: str
    low: str
    last_connected: str
    never_connected: str
    none_reported: str
    hub_url: str  # a hub's page, with "0" for its id

    @classmethod
    def now(cls) -> Words:
        return cls(
            revoked=_("revoked"),
            since={"online": _("since"), "offline": _("since about"), "never": _("enrolled")},
            never=_("never"),
            no_episode=_("no care episode"),
            reported=_("reported"),
            no_report=_("No health report yet."),
            synchronised=_("synchronised"),
            not_synchronised=_("not synchronised"),
            battery_unknown=_("battery unknown"),
            low=_("low"),
            last_connected=_("last connected"),
            never_connected=_("never connected"),
            none_reported=_("none reported"),
            hub_url=reverse("web:technician_hub", args=["000"]),
        )


def when(value: datetime) -> str:
    """A time as the page shows it: in the user's time zone, and machine-readable."""
    local = timezone.localtime(value)
    text = f"{local.day}.{local.month}.{local.year} {local:%H:%M}"
    return format_html('<time datetime="{}">{}</time>', local.isoformat(), text)


def one_decimal(value: float) -> str:
    return number_format(value, 1)


def _device_html(device: DeviceShown, words: Words) -> str:
    battery = (
        _("battery %(level)s %%") % {"level": device.battery}
        if device.battery is not None
        else words.battery_unknown
    )
    connected = (
        f"{escape(words.last_connected)} {when(device.last_connected_at)}"
        if device.last_connected_at
        else escape(words.never_connected)
    )
    return format_html(
        '<li class="{}"><span class="address">{}</span> {}: {}{}, {}</li>',
        "battery-low" if device.low else "",
        device.address,
        device.name,
        battery,
        format_html(" <strong>{}</strong>", words.low) if device.low else "",
        mark_safe(connected),  # escaped above
    )


def _report_html(row: HubShown, words: Words) -> str:
    report = row.report
    alarm = format_html('<span class="state state-outbox">{}</span>', row.outbox_alarm)
    if report is None:
        return format_html(
            '<td colspan="4" class="muted">{}{}</td>',
            words.no_report,
            format_html(" {}", alarm) if row.outbox_alarm else "",
        )
    percent = f" ({row.disk_free_percent} %)" if row.disk_free_percent is not None else ""
    disk = _("%(gib)s GiB") % {"gib": one_decimal(row.disk_free_gib or 0.0)}
    offset = (
        format_html(
            '<br><span class="muted">{}</span>',
            _("%(offset)s s from the centre") % {"offset": one_decimal(report.clock_offset_s)},
        )
        if report.clock_offset_s is not None
        else ""
    )
    pending = ngettext("%(pending)s pending", "%(pending)s pending", report.outbox_pending) % {
        "pending": report.outbox_pending
    }
    return format_html(
        '<td>{}<br><span class="muted">{} {}</span></td><td>{}{}</td>'
        '<td class="{}">{}{}</td><td>{}{}</td>',
        report.software_version,
        words.reported,
        mark_safe(when(report.at)),
        disk,
        percent,
        "" if report.clock_synced else "problem",
        words.synchronised if report.clock_synced else words.not_synchronised,
        offset,
        pending,
        format_html("<br>{}", alarm) if row.outbox_alarm else "",
    )


def row_html(row: HubShown, words: Words) -> str:
    """One hub's row of the page's table."""
    classes = " ".join([f"hub-{row.state}", *(f"problem-{p}" for p in row.problems)])
    revoked = (
        format_html(' <span class="state state-revoked">{}</span>', words.revoked)
        if row.revoked_at
        else ""
    )
    since = (
        format_html(
            '<br><span class="muted">{} {}</span>',
            words.since[row.state],
            mark_safe(when(row.since)),
        )
        if row.since
        else ""
    )
    home = (
        format_html('{}<br><span class="muted">{}</span>', row.patient, row.municipality)
        if row.patient
        else format_html('<span class="muted">{}</span>', words.no_episode)
    )
    devices = (
        format_html(
            '<ul class="devices">{}</ul>',
            mark_safe("".join(_device_html(d, words) for d in row.devices)),
        )
        if row.devices
        else format_html('<span class="muted">{}</span>', words.none_reported)
    )
    return format_html(
        '<tr id="hub-{}" class="{}">\n  <td><a href="{}">{}</a>{}</td>\n'
        '  <td><span class="state state-{}">{}</span>{}</td>\n  <td>{}</td>\n  <td>{}</td>\n'
        "  {}\n  <td>{}</td>\n</tr>\n",
        row.hub_id,
        classes,
        words.hub_url.replace("/000/", f"/{row.hub_id}/"),
        row.hub_id,
        revoked,
        row.state,
        row.state_label,
        since,
        mark_safe(when(row.last_heard)) if row.last_heard else words.never,
        home,
        mark_safe(_report_html(row, words)),
        devices,
    )


def rows_html(rows: Sequence[HubShown]) -> SafeString:
    words = Words.now()
    return mark_safe("".join(row_html(row, words) for row in rows))  # each escaped in row_html


@dataclass(frozen=True)
class ProblemList:
    key: str
    name: str
    rule: str
    count: int
    hubs: tuple[str, ...]  # the first PREVIEW, by hub id
    query: str  # the filtered view's


def problem_lists(filters: HubFilter, now: datetime) -> list[ProblemList]:
    """The three lists, within the municipality asked for (the other filters do not narrow
    them: they are what needs doing)."""
    base = _in_municipality(now, filters.wanted().get("municipality"))
    lists = []
    for key, rule in PROBLEMS.items():
        hubs = base.filter(rule(now))
        preview = tuple(hubs.order_by("hub_id").values_list("hub_id", flat=True)[:PREVIEW])
        count = hubs.count()
        lists.append(
            ProblemList(
                key=key,
                name=str(PROBLEM_NAMES[key]),
                rule=str(PROBLEM_RULES[key]) % {"low": BATTERY_LOW},
                count=count,
                hubs=preview,
                query=filters.query(problem=key, state="", q="", page=""),
            )
        )
    return lists


def _page_number(request: HttpRequest) -> str:
    asked = request.GET.get("page", "")
    return asked if _PAGE.fullmatch(asked) else "1"


@require_GET
def hubs_page(request: HttpRequest) -> HttpResponse:
    _allowed(request)
    now = timezone.now()
    filters = HubFilter(request.GET or None)
    wanted = filters.wanted()
    visible = patients_for(request.user)
    page = Paginator(hubs_wanted(wanted, now, visible), PAGE_HUBS).get_page(_page_number(request))
    context = {
        "filters": filters,
        "filter_query": filters.query(),
        "lists": problem_lists(filters, now),
        "page": page,
        "rows_html": rows_html(shown_hubs(list(page.object_list), now, visible)),
        "problem": PROBLEM_NAMES.get(wanted.get("problem", "")),
        "battery_low_at": BATTERY_LOW,
        "now": now,
    }
    shown = filters.query()
    audit(request, "view", _("hubs and devices") + (f" ?{shown}" if shown else ""))
    return render(request, "web/technician.html", context)


# A hub's page.


@dataclass(frozen=True)
class PastReport:
    seq: int
    at: datetime  # the hub's time it was made
    stored_at: datetime
    health: HubHealth | None
    unreadable: str  # why, when `health` is None
    low_batteries: tuple[str, ...]  # addresses of its devices with battery low


def past_report(seq: int, at: datetime, stored_at: datetime, values_json: str) -> PastReport:
    """A stored health report as the history shows it: read, or unreadable and why (pure)."""
    try:
        health = read_health(json.loads(values_json))
    except (HealthUnreadable, ValueError, RecursionError) as exc:
        why = str(exc) if isinstance(exc, HealthUnreadable) else _("not JSON")
        return PastReport(seq, at, stored_at, None, why[:200], ())
    low = tuple(d.address for d in health.devices if battery_low([d.battery_level]))
    return PastReport(seq, at, stored_at, health, "", low)


def history(hub_id: str) -> list[PastReport]:
    rows = (
        Reading.objects.filter(hub_id=hub_id, kind=HEALTH)
        .order_by("-measured_at", "-seq")
        .values_list("seq", "measured_at", "stored_at", "values_json")[:HISTORY]
    )
    return [past_report(*row) for row in rows]


def _hub_or_404(hub_id: str) -> Hub:
    if not re.fullmatch(HUB_ID_PATTERN, hub_id):
        raise Http404
    found = Hub.objects.filter(hub_id=hub_id).first()
    if found is None:
        raise Http404
    return found


@require_GET
def hub_page(request: HttpRequest, hub_id: str) -> HttpResponse:
    _allowed(request)
    now = timezone.now()
    hub = _hub_or_404(hub_id)
    shown = shown_hubs([hub], now, patients_for(request.user))[0]
    episode = (
        _open_episodes(now).filter(hub_id=hub.hub_id).order_by("-started").only("patient").first()
    )
    patient = Patient.objects.filter(pk=episode.patient_id).first() if episode else None
    context = {
        "hub": hub,
        "row": shown,
        "history": history(hub.hub_id),
        "history_most": HISTORY,
        "battery_low_at": BATTERY_LOW,
        "now": now,
    }
    what = _("hub %(hub)s on the technician's page") % {"hub": hub.hub_id}
    audit(request, "view", what, patient)
    return render(request, "web/technician_hub.html", context)


urlpatterns = [
    path("", hubs_page, name="technician"),
    path("hubs/<str:hub_id>/", hub_page, name="technician_hub"),
]
