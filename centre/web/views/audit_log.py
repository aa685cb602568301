"""The audit log, for administrators: who viewed, changed or exported what, and when; filtered
by user, patient, action and day. Reading the log is itself logged."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta

from django import forms
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.core.validators import MaxValueValidator, MinValueValidator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from centre.people.models import AuditEntry
from centre.web.audit import audit

PAGE = 100
FIRST_DAY, LAST_DAY = date(2000, 1, 1), date(2199, 12, 31)


class AuditFilter(forms.Form):
    user = forms.CharField(label=gettext_lazy("User"), required=False, max_length=150)
    patient = forms.CharField(label=gettext_lazy("Patient"), required=False, max_length=200)
    action = forms.ChoiceField(
        label=gettext_lazy("Action"),
        required=False,
        choices=[("", gettext_lazy("all")), *AuditEntry.Action.choices],
    )
    # Bounded: the calendar's ends overflow in Norway's time zone (attacker review).
    day_from = forms.DateField(
        label=gettext_lazy("From"), required=False, validators=[MinValueValidator(FIRST_DAY)]
    )
    day_to = forms.DateField(
        label=gettext_lazy("To"), required=False, validators=[MaxValueValidator(LAST_DAY)]
    )


def may_read_audit(request: HttpRequest) -> bool:
    user = request.user
    return bool(user.is_superuser or user.groups.filter(name="administrator").exists())


def audit_log(request: HttpRequest) -> HttpResponse:
    if not may_read_audit(request):
        raise PermissionDenied
    form = AuditFilter(request.GET or None)
    entries = AuditEntry.objects.select_related("patient").order_by("-at", "-id")
    if form.is_valid():
        wanted = form.cleaned_data
        if wanted["user"]:
            entries = entries.filter(user=wanted["user"])
        if wanted["patient"]:
            entries = entries.filter(patient__name__icontains=wanted["patient"])
        if wanted["action"]:
            entries = entries.filter(action=wanted["action"])
        zone = timezone.get_current_timezone()
        if wanted["day_from"]:
            entries = entries.filter(at__gte=datetime.combine(wanted["day_from"], time(), zone))
        if wanted["day_to"]:
            end = datetime.combine(wanted["day_to"] + timedelta(days=1), time(), zone)
            entries = entries.filter(at__lt=end)
    page = Paginator(entries, PAGE).get_page(request.GET.get("page"))
    audit(request, "view", _("audit log"))
    return render(request, "web/audit_log.html", {"form": form, "page": page})
