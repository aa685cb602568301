"""A nurse's note on a patient ("rang datteren, ny vekt fredag"), optionally with a day to be
reminded on, and when it was done. Notes are part of the patient's record: kept, never deleted."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from centre.people.models import Patient

MAX_TEXT = 2000


class Note(models.Model):
    patient = models.ForeignKey(Patient, on_delete=models.PROTECT, related_name="notes")
    text = models.TextField(_("note"), max_length=MAX_TEXT)
    by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+", verbose_name=_("by")
    )
    at = models.DateTimeField(_("when"), default=timezone.now)
    remind_on = models.DateField(_("remind on"), null=True, blank=True)
    done_at = models.DateTimeField(_("done"), null=True, blank=True)

    objects: models.Manager[Note] = models.Manager()

    class Meta:
        indexes = (
            models.Index(fields=["patient", "at"], name="notes_of_patient"),
            # The reminders due (a worklist or a morning list): open ones by day.
            models.Index(
                fields=["remind_on"],
                condition=models.Q(done_at__isnull=True, remind_on__isnull=False),
                name="notes_reminders_open",
            ),
        )

    def __str__(self) -> str:
        return f"note {self.pk}"
