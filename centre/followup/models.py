"""What a nurse did about what the worklist showed her (issue 13).

An acknowledgement silences one finding for good: a reading ("reading:<Reading.id>", the id is
unique across hubs, so a patient's readings from several episodes never collide) or another
finding by triage's key ("missing:...", "questionnaire:...", "hub_offline:...", "outbox:...").
A reading marked invalid still counts as done for its scheduled time but raises nothing. A
review is "the nurse has looked at this patient": the worklist shows the last one and by whom.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from centre.people.models import Patient
from centre.records.models import Reading

KEY_LENGTH = 200  # triage's keys: a kind (<= 64) and an ISO time, or a reading's id


def reading_key(reading_id: int) -> str:
    return f"reading:{reading_id}"


class Acknowledgement(models.Model):
    patient = models.ForeignKey(Patient, on_delete=models.PROTECT, related_name="acknowledgements")
    key = models.CharField(_("finding"), max_length=KEY_LENGTH)
    by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+", verbose_name=_("by")
    )
    at = models.DateTimeField(_("when"), default=timezone.now)
    with_receipt = models.BooleanField(_("receipt sent to the patient"), default=False)

    class Meta:
        constraints = (
            models.UniqueConstraint(fields=["patient", "key"], name="acknowledged_once"),
        )

    def __str__(self) -> str:
        return f"{self.key} of {self.patient_id}"


class ReadingMark(models.Model):
    """A reading a nurse marked invalid (a cuff put on wrong, someone else on the scale)."""

    reading = models.ForeignKey(Reading, on_delete=models.PROTECT, related_name="marks")
    reason = models.TextField(_("why it is invalid"), max_length=500)
    by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+", verbose_name=_("by")
    )
    at = models.DateTimeField(_("when"), default=timezone.now)

    class Meta:
        constraints = (models.UniqueConstraint(fields=["reading"], name="reading_marked_once"),)

    def __str__(self) -> str:
        return f"reading {self.reading_id} invalid"


class Review(models.Model):
    patient = models.ForeignKey(Patient, on_delete=models.PROTECT, related_name="reviews")
    by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+", verbose_name=_("by")
    )
    at = models.DateTimeField(_("when"), default=timezone.now)

    class Meta:
        indexes = (models.Index(fields=["patient", "at"], name="reviews_latest"),)

    def __str__(self) -> str:
        return f"{self.patient_id} reviewed"
