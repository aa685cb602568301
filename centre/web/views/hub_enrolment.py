"""Enrol, re-enrol and revoke a hub from the web (issue 15), with the same functions as
`centre enrol` and `centre revoke` (centre/admin.py, centre/revocation.py).

Enrolling gives the technician the hub's enrolment bundle as a download, for `hub provision
--bundle` on the hub. The bundle holds the hub's private keys: it is sent once, never kept by
the centre, never cached (Cache-Control: no-store). Enrolling an id that is enrolled already
replaces its keys and certificate (the old certificate is revoked), so the form asks for it
explicitly; without it, "new" is decided inside enrol_hub's lock (of two tabs enrolling one new
id at once, one gets the bundle, the other "enrolled already"). Revoking asks for the hub id
typed again; the broker refuses everything the hub asks from then on (centre/revocation.py,
REVOKED_HUBS).

Technicians and administrators only; every enrolment and revocation is in the audit log.
"""

from __future__ import annotations

import logging
import re
from typing import TYPE_CHECKING

from django import forms
from django.core.exceptions import PermissionDenied
from django.core.validators import RegexValidator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import path
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_http_methods

from centre.errors import CentreError
from centre.people.access import works_on_equipment
from centre.web.audit import audit
from hub.wire.topics import HUB_ID_PATTERN

if TYPE_CHECKING:
    from centre.store import CentreStore

log = logging.getLogger(__name__)

_HUB_ID = RegexValidator(
    HUB_ID_PATTERN,
    gettext_lazy(
        "A hub id is 3 to 63 lower-case letters, digits and '-', starting with a letter or digit."
    ),
)


def may_enrol(request: HttpRequest) -> bool:
    return works_on_equipment(request.user)


class EnrolForm(forms.Form):
    hub_id = forms.CharField(label=gettext_lazy("Hub id"), max_length=63, validators=[_HUB_ID])
    replace = forms.BooleanField(
        label=gettext_lazy(
            "This hub is enrolled already: give it new keys and revoke its old certificate"
        ),
        required=False,
    )


class RevokeForm(forms.Form):
    hub_id = forms.CharField(
        label=gettext_lazy("Type the hub id to confirm"), max_length=63, validators=[_HUB_ID]
    )


def _store() -> CentreStore:
    from centre.store import CentreStore
    from centre.web.views.patient import centre_config

    return CentreStore(centre_config().database_url)


@require_http_methods(["GET", "POST"])
def enrol(request: HttpRequest) -> HttpResponse:
    if not may_enrol(request):
        raise PermissionDenied
    from centre.admin import EnrolledAlready, enrol_hub, public_keys
    from centre.web.views.patient import centre_config

    config = centre_config()
    form = EnrolForm(request.POST or None, initial={"hub_id": request.GET.get("hub", "")[:63]})
    if request.method == "POST" and form.is_valid():
        hub_id = form.cleaned_data["hub_id"]
        replace = form.cleaned_data["replace"]
        enrolled = _store().presence(hub_id) is not None  # for the audit's words only
        if enrolled and not replace:
            _enrolled_already(form, hub_id)
        else:
            try:
                # Decided again inside enrol_hub, atomically: another tab may have enrolled
                # this id since it was looked at above.
                bundle = enrol_hub(config, hub_id, again=replace)
            except EnrolledAlready:
                _enrolled_already(form, hub_id)
            except CentreError as exc:
                log.warning("enrolling hub %s from the web failed: %s", hub_id, exc)
                form.add_error("hub_id", str(exc))
            else:
                what = _("hub %(hub)s enrolled again") if enrolled else _("hub %(hub)s enrolled")
                audit(request, "change", what % {"hub": hub_id})
                log.info("hub %s enrolled from the web by %s", hub_id, request.user)
                return _download(bundle, hub_id)
    return render(
        request,
        "web/hub_enrol.html",
        {"form": form, "fingerprint": public_keys(config)["fingerprint"]},
    )


def _enrolled_already(form: EnrolForm, hub_id: str) -> None:
    form.add_error(
        "replace",
        _(
            "Hub %(hub)s is enrolled already. Tick the box to give it new keys: the hub "
            "then needs the new bundle (hub wipe, then hub provision), and its old "
            "certificate no longer connects."
        )
        % {"hub": hub_id},
    )


def _download(bundle: bytes, hub_id: str) -> HttpResponse:
    response = HttpResponse(bundle, content_type="application/octet-stream")
    response["Content-Disposition"] = f'attachment; filename="{hub_id}.bundle"'
    response["Cache-Control"] = "no-store"
    return response


@require_http_methods(["GET", "POST"])
def revoke(request: HttpRequest, hub_id: str) -> HttpResponse:
    if not may_enrol(request):
        raise PermissionDenied
    from django.http import Http404

    from centre.admin import load_ca
    from centre.revocation import RESTART_BROKER, revoke_hub
    from centre.web.views.patient import centre_config

    if not re.fullmatch(HUB_ID_PATTERN, hub_id):  # before any query: PostgreSQL refuses a NUL
        raise Http404
    store = _store()
    if store.presence(hub_id) is None:  # not enrolled here
        raise Http404
    form = RevokeForm(request.POST or None)
    done = None
    if request.method == "POST" and form.is_valid():
        if form.cleaned_data["hub_id"] != hub_id:
            form.add_error("hub_id", _("That is not the id of this hub."))
        else:
            config = centre_config()
            try:
                done = revoke_hub(config, load_ca(config), hub_id)
            except CentreError as exc:
                log.warning("revoking hub %s from the web failed: %s", hub_id, exc)
                form.add_error(None, str(exc))
            else:
                audit(request, "change", _("hub %(hub)s revoked") % {"hub": hub_id})
                log.info("hub %s revoked from the web by %s", hub_id, request.user)
    return render(
        request,
        "web/hub_revoke.html",
        {
            "hub_id": hub_id,
            "form": form,
            "done": done,
            "revoked": store.is_revoked(hub_id),
            "restart": RESTART_BROKER,
        },
    )


urlpatterns = [
    path("enrol/", enrol, name="hub_enrol"),
    path("hubs/<str:hub_id>/revoke/", revoke, name="hub_revoke"),
]
