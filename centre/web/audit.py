"""Writing the audit log (Normen: every access to health data, every change, every export)."""

from __future__ import annotations

from django.http import HttpRequest

from centre.people.models import AuditEntry, Patient


def audit(request: HttpRequest, action: str, what: str, patient: Patient | None = None) -> None:
    """Note that the signed-in user did `action` ("view", "change", "export", "login") to
    `what`, of `patient` if it concerns one."""
    AuditEntry.objects.create(
        user=request.user.get_username() if request.user.is_authenticated else "",
        action=action,
        patient=patient,
        what=what[:500],
    )
