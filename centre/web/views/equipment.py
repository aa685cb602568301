"""The equipment inventory (issue 15), for technicians and administrators: hubs and Bluetooth
devices by kind and state, each one's uses (which patients had it, when: for a faulty device,
who used it), and the forms that add, deploy, take back, mark faulty, put back in stock and
retire. The rules are centre/equipment/lifecycle.py's; a refused change shows its reason.

Who may deploy to whom: a technician or administrator deploys only to the patients of the teams
she is a member of (centre/people/access.py patients_for), as a nurse sees only those; one in no
team deploys to nobody. A use by a patient she may not see is shown as "a patient of <team>",
and taking back or marking faulty a piece in use by such a patient is a 404 (as every page of
hers), nothing done.
Every change is audited with its patient (service.py, in the change's transaction), and a page
that names patients is audited as a view of each.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from django import forms
from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.core.validators import RegexValidator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import URLPattern, path
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_GET, require_POST

from centre.equipment import service
from centre.equipment.lifecycle import ALLOWED, Kind, Refused, State
from centre.equipment.models import Equipment, EquipmentUse
from centre.people.access import patients_for, works_on_equipment
from centre.people.models import Patient
from centre.web.audit import audit
from hub.wire.topics import HUB_ID_PATTERN

if TYPE_CHECKING:  # generic for the type checker only (Django's classes are not at run time)
    _ModelForm = forms.ModelForm[Equipment]
    _ModelChoice = forms.ModelChoiceField[Patient]
else:
    _ModelForm = forms.ModelForm
    _ModelChoice = forms.ModelChoiceField

PAGE = 100

REFUSALS: Mapping[str, Any] = {
    "retired": gettext_lazy("It is retired: retired equipment never goes back into use."),
    "deployed": gettext_lazy("It is with a patient: take it back first."),
    "returned": gettext_lazy(
        "It has come back and is not in stock yet: put it back in stock first (a hub once it is "
        "wiped and enrolled again)."
    ),
    "faulty": gettext_lazy("It is marked faulty: repair it and put it back in stock first."),
    "in_stock": gettext_lazy("It is in stock already."),
    "not_deployed": gettext_lazy(
        "It is not with a patient: only deployed equipment can be taken back."
    ),
    "already_faulty": gettext_lazy("It is marked faulty already."),
    "no_episode": gettext_lazy(
        "The patient has no hub: deploy a hub to her first (a device is used through her care "
        "episode with a hub)."
    ),
    "hub_not_enrolled": gettext_lazy(
        "Hub %(hub_id)s is not enrolled at this centre: enrol it (centre enrol) and provision "
        "it (hub provision) first."
    ),
    "hub_revoked": gettext_lazy(
        "Hub %(hub_id)s is revoked: enrol it again (centre enrol) and provision it (hub "
        "provision) first."
    ),
    "hub_with_other_patient": gettext_lazy(
        "Hub %(hub_id)s has an open care episode with another patient: end that episode first "
        "(centre end-episode %(hub_id)s)."
    ),
    "patient_has_other_hub": gettext_lazy(
        "The patient has hub %(other)s already: take that hub back first (a patient has one hub "
        "at a time)."
    ),
    "not_wiped": gettext_lazy(
        "Hub %(hub_id)s still has the signing key it came back with, so it has not been wiped: "
        "wipe it (hub wipe), enrol it again (centre enrol) and provision it (hub provision), "
        "then put it back in stock."
    ),
    "no_key": gettext_lazy(
        "Hub %(hub_id)s is not enrolled at this centre, so nothing shows it was wiped: enrol it "
        "(centre enrol) and provision it (hub provision), then put it back in stock."
    ),
    "new_id_enrolled_before": gettext_lazy(
        "Hub %(hub_id)s was enrolled before this hub came back, so it shows nothing of this "
        "box: wipe the hub (hub wipe), enrol it under a new id now (centre enrol) and provision "
        "it (hub provision), then put it back in stock under that id."
    ),
    "old_id_not_revoked": gettext_lazy(
        "Its old hub id %(old)s is still enrolled and not revoked (the box could still send as "
        "it): revoke hub %(old)s first (Revoke on its page, or centre revoke %(old)s), then put "
        "it back in stock under %(hub_id)s."
    ),
    "memory_not_cleared": gettext_lazy(
        "Tick that the device's stored measurements were cleared: the next patient's hub would "
        "otherwise receive them."
    ),
}
"""lifecycle.REASONS in the web's languages (tests/test_equipment_web.py checks both list the
same codes)."""

CHANGED = gettext_lazy(
    "It changed since the page was shown (someone else, or a form sent twice): nothing was "
    "done. Look at it again."
)
HUB_ID_TAKEN = gettext_lazy(
    "That hub id is another piece of equipment's, or this is not a hub: nothing was done."
)
DONE: Mapping[str, Any] = {
    "deploy": gettext_lazy("Deployed to %(patient)s."),
    "give_back": gettext_lazy("Taken back."),
    "faulty": gettext_lazy("Marked faulty."),
    "restock": gettext_lazy("Back in stock."),
    "retire": gettext_lazy("Retired."),
}
EPISODE_ENDED = gettext_lazy(
    "Her care episode with hub %(hub_id)s has ended; the devices in use with it came back too "
    "(returned): %(devices)s."
)


class ListFilter(forms.Form):
    kind = forms.ChoiceField(
        label=gettext_lazy("Kind"),
        required=False,
        choices=[("", gettext_lazy("all")), *Equipment.Kinds.choices],
    )
    state = forms.ChoiceField(
        label=gettext_lazy("State"),
        required=False,
        choices=[("", gettext_lazy("all")), *Equipment.States.choices],
    )


class AddForm(_ModelForm):
    class Meta:
        model = Equipment
        fields = ("kind", "model", "serial", "hub_id", "address", "profile", "notes")

    def clean_address(self) -> str | None:
        typed = self.cleaned_data.get("address") or ""
        if not typed:
            return None
        try:
            return service.normal_address(typed)
        except service.EquipmentError:
            raise forms.ValidationError(
                _("A Bluetooth address is six pairs of hexadecimal digits, as 00:1A:7D:DA:71:13.")
            ) from None

    def clean_hub_id(self) -> str | None:
        return self.cleaned_data.get("hub_id") or None

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if data.get("kind") == Kind.HUB:
            if not data.get("hub_id") and "hub_id" not in self.errors:
                self.add_error("hub_id", _("A hub needs its hub id."))
            if data.get("address") or data.get("profile"):
                self.add_error(None, _("A hub has no Bluetooth address or profile."))
        elif data.get("kind") == Kind.DEVICE:
            if not data.get("address") and "address" not in self.errors:
                self.add_error("address", _("A device needs its Bluetooth address."))
            if not data.get("profile"):
                self.add_error("profile", _("A device needs its profile."))
            if data.get("hub_id"):
                self.add_error("hub_id", _("A device has no hub id."))
        return data


class _PatientChoice(_ModelChoice):
    def label_from_instance(self, obj: Patient) -> str:
        return f"{obj.name} ({obj.birth_date:%d.%m.%Y}, {obj.team.name})"


class DeployForm(forms.Form):
    seen = forms.IntegerField(widget=forms.HiddenInput, min_value=0, max_value=2**31)
    patient = _PatientChoice(label=gettext_lazy("Patient"), queryset=Patient.objects.none())

    def __init__(self, *args: Any, user: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        field = self.fields["patient"]
        assert isinstance(field, _PatientChoice)
        field.queryset = patients_for(user).select_related("team").order_by("name", "pk")


class ChangeForm(forms.Form):
    """Take back, mark faulty, put back in stock or retire: the version seen and a note."""

    seen = forms.IntegerField(widget=forms.HiddenInput, min_value=0, max_value=2**31)
    note = forms.CharField(label=gettext_lazy("Note"), required=False, max_length=200)
    memory_cleared = forms.BooleanField(
        label=gettext_lazy("Its stored measurements are cleared"), required=False
    )
    hub_id = forms.CharField(
        label=gettext_lazy("New hub id, if it was enrolled under a new one"),
        required=False,
        max_length=63,
        validators=[RegexValidator(HUB_ID_PATTERN, gettext_lazy("not a hub id"))],
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("auto_id", False)  # one page holds up to three of these forms
        super().__init__(*args, **kwargs)


def _technician(request: HttpRequest) -> None:
    if not works_on_equipment(request.user):
        raise PermissionDenied


def _equipment_or_404(pk: int) -> Equipment:
    if pk >= 2**63:  # more than the database's integers hold: no such equipment
        raise Http404
    found = Equipment.objects.filter(pk=pk).first()
    if found is None:
        raise Http404
    return found


@require_GET
def equipment_list(request: HttpRequest) -> HttpResponse:
    _technician(request)
    return _list(request, AddForm())


def _list(request: HttpRequest, add: AddForm, status: int = 200) -> HttpResponse:
    chosen = ListFilter(request.GET or None)
    items = Equipment.objects.order_by("kind", "model", "serial", "pk")
    if chosen.is_valid():  # a filter that is not one of ours filters nothing (and says so)
        if chosen.cleaned_data["kind"]:
            items = items.filter(kind=chosen.cleaned_data["kind"])
        if chosen.cleaned_data["state"]:
            items = items.filter(state=chosen.cleaned_data["state"])
    page = Paginator(items, PAGE).get_page(request.GET.get("page"))
    context = {"filter": chosen, "page": page, "add": add}
    return render(request, "web/equipment.html", context, status=status)


@require_POST
def equipment_add(request: HttpRequest) -> HttpResponse:
    _technician(request)
    form = AddForm(request.POST)
    if not form.is_valid():
        return _list(request, form, status=400)
    data = form.cleaned_data
    try:
        made = service.add(
            data["kind"],
            data["model"],
            data["serial"],
            hub_id=data["hub_id"],
            address=data["address"],
            profile=data["profile"],
            notes=data["notes"],
            by=request.user.get_username(),
        )
    except service.EquipmentError:  # added by someone else since the form was checked
        form.add_error(None, _("That serial number, hub id or address is registered already."))
        return _list(request, form, status=409)
    messages.success(request, _("Added."))
    return redirect("web:equipment_detail", pk=made.pk)


# A note as service._save writes it: "2026-12-03 returned: patient discharged".
_NOTE_LINE = re.compile(r"(\d{4}-\d{2}-\d{2}) ([a-z_]+): (.*)")


def notes_shown(notes: str) -> list[str]:
    """The equipment's notes a line each, the state each was written in named in the page's
    language (stored by its code, so that a note reads the same in every language)."""
    states = dict(Equipment.States.choices)
    shown = []
    for line in notes.splitlines():
        found = _NOTE_LINE.fullmatch(line)
        if found and found[2] in states:
            line = f"{found[1]} {states[found[2]]}: {found[3]}"
        shown.append(line)
    return shown


@require_GET
def equipment_detail(request: HttpRequest, pk: int) -> HttpResponse:
    _technician(request)
    return _detail(request, _equipment_or_404(pk))


def _detail(
    request: HttpRequest,
    equipment: Equipment,
    problem: str = "",
    forms_shown: Mapping[str, forms.Form] | None = None,
    status: int = 200,
) -> HttpResponse:
    visible = set(patients_for(request.user).values_list("pk", flat=True))
    uses = list(
        EquipmentUse.objects.filter(equipment=equipment)
        .select_related("episode__patient__team")
        .order_by("-started", "-pk")
    )
    rows = [
        {
            "use": use,
            "patient": use.episode.patient if use.episode.patient_id in visible else None,
            "team": use.episode.patient.team.name,
        }
        for use in uses
    ]
    shown = {
        u.episode.patient_id: u.episode.patient for u in uses if u.episode.patient_id in visible
    }
    for patient in shown.values():
        audit(request, "view", _("equipment %(id)s: its uses") % {"id": equipment.pk}, patient)
    seen = {"seen": equipment.version}
    given = dict(forms_shown or {})
    allowed = ALLOWED[State(equipment.state)]
    # In use by another team's patient: not hers to take back (the forms would be a 404).
    hers = all(use.episode.patient_id in visible for use in uses if use.ended is None)
    context = {
        "equipment": equipment,
        "notes": notes_shown(equipment.notes),
        "rows": rows,
        "problem": problem,
        "may_deploy": State.DEPLOYED in allowed,
        "may_give_back": State.RETURNED in allowed and hers,
        "may_mark_faulty": State.FAULTY in allowed and hers,
        "may_restock": State.IN_STOCK in allowed,
        "may_retire": State.RETIRED in allowed,
        "is_device": equipment.kind == Kind.DEVICE,
        "deploy": given.get("deploy") or DeployForm(initial=seen, user=request.user),
        "change": given.get("change") or ChangeForm(initial=seen),
    }
    return render(request, "web/equipment_detail.html", context, status=status)


@require_POST
def equipment_deploy(request: HttpRequest, pk: int) -> HttpResponse:
    _technician(request)
    equipment = _equipment_or_404(pk)
    form = DeployForm(request.POST, user=request.user)
    if not form.is_valid():  # a patient she may not see is not a choice: refused here
        return _detail(request, equipment, forms_shown={"deploy": form}, status=400)
    patient = form.cleaned_data["patient"]
    return _apply(
        request,
        equipment,
        "deploy",
        lambda by, seen: service.deploy(pk, patient.pk, by=by, seen=seen),
        form.cleaned_data["seen"],
        {"patient": patient.name},
    )


def _change(action: str) -> Callable[[HttpRequest, int], HttpResponse]:
    @require_POST
    def view(request: HttpRequest, pk: int) -> HttpResponse:
        _technician(request)
        equipment = _equipment_or_404(pk)
        form = ChangeForm(request.POST)
        if not form.is_valid():
            return _detail(request, equipment, forms_shown={"change": form}, status=400)
        note = form.cleaned_data["note"]
        cleared = form.cleaned_data["memory_cleared"]
        new_id = form.cleaned_data["hub_id"] or None

        def act(by: str, seen: int) -> service.Change:
            mine = patients_for(request.user)
            if action == "give_back":
                return service.give_back(pk, note, by=by, seen=seen, visible=mine)
            if action == "faulty":
                return service.mark_faulty(pk, note, by=by, seen=seen, visible=mine)
            if action == "restock":
                return service.restock(
                    pk, note, memory_cleared=cleared, hub_id=new_id, by=by, seen=seen
                )
            return service.retire(pk, note, by=by, seen=seen)

        return _apply(request, equipment, action, act, form.cleaned_data["seen"], {})

    return view


def _apply(
    request: HttpRequest,
    equipment: Equipment,
    action: str,
    act: Callable[[str, int], service.Change],
    seen: int,
    words: Mapping[str, str],
) -> HttpResponse:
    try:
        change = act(request.user.get_username(), seen)
    except service.NotYours:  # another team's patient: as every page of hers, not found
        raise Http404 from None
    except Refused as refused:
        problem = str(REFUSALS[refused.code] % refused.details)
        return _detail(request, _equipment_or_404(equipment.pk), problem, status=409)
    except service.Changed:
        return _detail(request, _equipment_or_404(equipment.pk), str(CHANGED), status=409)
    except service.HubIdTaken:
        return _detail(request, _equipment_or_404(equipment.pk), str(HUB_ID_TAKEN), status=409)
    except service.EquipmentError:  # a race the database caught
        return _detail(request, _equipment_or_404(equipment.pk), str(CHANGED), status=409)
    messages.success(request, DONE[action] % words)
    if change.episode_ended is not None:
        devices = ", ".join(f"{d.model} {d.serial}" for d in change.devices_returned) or "-"
        messages.info(
            request, EPISODE_ENDED % {"hub_id": change.equipment.hub_id, "devices": devices}
        )
    return redirect("web:equipment_detail", pk=equipment.pk)


urlpatterns: list[URLPattern] = [
    path("", equipment_list, name="equipment"),
    path("add/", equipment_add, name="equipment_add"),
    path("<int:pk>/", equipment_detail, name="equipment_detail"),
    path("<int:pk>/deploy/", equipment_deploy, name="equipment_deploy"),
    path("<int:pk>/return/", _change("give_back"), name="equipment_return"),
    path("<int:pk>/faulty/", _change("faulty"), name="equipment_faulty"),
    path("<int:pk>/restock/", _change("restock"), name="equipment_restock"),
    path("<int:pk>/retire/", _change("retire"), name="equipment_retire"),
]
