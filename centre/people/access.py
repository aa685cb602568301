"""Who may see which patients: a user sees the patients of the teams she is a member of, and no
others, whatever her role (an administrator who is in no team sees no health data). The web's
views ask here, so that another team's patient by URL is a 404 (issue 13)."""

from __future__ import annotations

from django.contrib.auth.models import AnonymousUser, User
from django.db.models import QuerySet

from centre.people.models import Patient

ROLES = ("nurse", "team_lead", "technician", "administrator")
"""The groups users are put in (made by migration 0004, which keeps its own copy)."""

EQUIPMENT_ROLES = ("technician", "administrator")
"""Who works on the hubs and devices: Hubs and devices, enrolment and revocation, Equipment."""


def works_on_equipment(user: User | AnonymousUser) -> bool:
    """Whether the user may see and change the centre's hubs and devices (the patients she may
    see are still only her teams', patients_for)."""
    if not user.is_authenticated or not user.is_active:
        return False
    return bool(user.is_superuser or user.groups.filter(name__in=EQUIPMENT_ROLES).exists())


def patients_for(user: User | AnonymousUser) -> QuerySet[Patient]:
    if not user.is_authenticated or not user.is_active:
        return Patient.objects.none()
    return Patient.objects.filter(team__members=user).distinct()
