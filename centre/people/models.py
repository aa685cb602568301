"""Municipalities, teams, patients and care episodes.

A follow-up centre is often shared by several municipalities; each team belongs to one, each
patient to one team. A patient is linked to a hub only through a care episode with a start and
an end, so a hub is reused for the next patient without mixing their data.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import RegexValidator
from django.db import models
from django.utils.translation import gettext_lazy as _

from centre.errors import CentreError
from centre.people.national_id import NationalIdError, check_national_id
from hub.wire.topics import HUB_ID_PATTERN


def validate_national_id(value: str) -> None:
    try:
        check_national_id(value)
    except NationalIdError as exc:
        raise ValidationError(str(exc)) from None


class Municipality(models.Model):
    name = models.CharField(_("name"), max_length=100, unique=True)
    # Statistics Norway's four-digit municipality number (kommunenummer).
    number = models.CharField(
        _("municipality number"),
        max_length=4,
        unique=True,
        validators=[RegexValidator(r"^[0-9]{4}$", _("four digits"))],
    )

    def __str__(self) -> str:
        return f"{self.name} ({self.number})"


class Team(models.Model):
    name = models.CharField(_("name"), max_length=100)
    municipality = models.ForeignKey(Municipality, on_delete=models.PROTECT, related_name="teams")
    # Who works in the team: a nurse sees the patients of her teams and no others.
    members = models.ManyToManyField(
        settings.AUTH_USER_MODEL, related_name="teams", blank=True, verbose_name=_("members")
    )

    class Meta:
        constraints = (
            models.UniqueConstraint(fields=["municipality", "name"], name="team_name_once"),
        )

    def __str__(self) -> str:
        return self.name


class Diagnosis(models.TextChoices):
    COPD = "copd", _("COPD")
    HEART_FAILURE = "heart_failure", _("Heart failure")
    DIABETES = "diabetes", _("Diabetes")
    CANCER = "cancer", _("Cancer")
    OTHER = "other", _("Other")


class Patient(models.Model):
    name = models.CharField(_("name"), max_length=200)
    birth_date = models.DateField(_("date of birth"))
    national_id = models.CharField(
        _("national identity number"),
        max_length=11,
        unique=True,
        validators=[validate_national_id],
    )
    diagnosis = models.CharField(_("diagnosis group"), max_length=20, choices=Diagnosis.choices)
    team = models.ForeignKey(Team, on_delete=models.PROTECT, related_name="patients")
    relatives = models.TextField(_("relatives' contact"), blank=True, max_length=2000)

    def __str__(self) -> str:
        return self.name


class CareEpisode(models.Model):
    """A patient followed with a hub from `started` until `ended` (open while under way)."""

    patient = models.ForeignKey(Patient, on_delete=models.PROTECT, related_name="episodes")
    hub_id = models.CharField(
        _("hub"),
        max_length=63,
        validators=[RegexValidator(HUB_ID_PATTERN, _("not a hub id"))],
    )
    started = models.DateTimeField(_("started"))
    ended = models.DateTimeField(_("ended"), null=True, blank=True)

    class Meta:
        constraints = (
            # A hub serves one patient at a time: one open episode per hub.
            models.UniqueConstraint(
                fields=["hub_id"], condition=models.Q(ended__isnull=True), name="hub_once_open"
            ),
            models.CheckConstraint(
                condition=models.Q(ended__isnull=True) | models.Q(ended__gt=models.F("started")),
                name="episode_ends_after_it_starts",
            ),
        )

    def __str__(self) -> str:
        return f"{self.patient} with {self.hub_id}"


class AuditEntry(models.Model):
    """One access to health data or one change, by whom and when (Normen: every access logged).

    Append-only: the model refuses to change or delete a saved entry, and the database itself
    refuses UPDATE and DELETE on the table (triggers in migration 0002), so not even a bug or an
    administrator's shell can rewrite the history."""

    class Action(models.TextChoices):
        VIEW = "view", _("viewed")
        CHANGE = "change", _("changed")
        EXPORT = "export", _("exported")
        LOGIN = "login", _("logged in")

    at = models.DateTimeField(_("when"), auto_now_add=True, db_index=True)
    user = models.CharField(_("who"), max_length=150)  # the username, kept if the user goes
    action = models.CharField(_("action"), max_length=10, choices=Action.choices)
    patient = models.ForeignKey(
        Patient, on_delete=models.PROTECT, null=True, blank=True, related_name="audit"
    )
    what = models.CharField(_("what"), max_length=500)

    def save(self, *args: Any, **kwargs: Any) -> None:
        if self.pk is not None:
            raise AuditLogIsAppendOnly("an audit entry is never changed")
        super().save(*args, **kwargs)

    def delete(self, *args: Any, **kwargs: Any) -> tuple[int, dict[str, int]]:
        raise AuditLogIsAppendOnly("an audit entry is never deleted")


class AuditLogIsAppendOnly(CentreError):
    """Something tried to change or delete the audit log."""
