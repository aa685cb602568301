"""Hubs and Bluetooth devices as equipment, and each time-limited use of one in a patient's care
episode (issue 15). The rules of what may happen are in lifecycle.py; the database keeps what
must hold whatever a bug does: one open use per piece of equipment, a hub with its hub id, a
device with its Bluetooth address, a serial number once per kind."""

from __future__ import annotations

from django.core.validators import RegexValidator
from django.db import models
from django.utils.translation import gettext_lazy as _

from centre.equipment.lifecycle import Kind, State
from centre.people.models import CareEpisode
from hub.wire.topics import HUB_ID_PATTERN

ADDRESS_PATTERN = r"^[0-9A-F]{2}(:[0-9A-F]{2}){5}$"
"""A Bluetooth address as stored: upper case, colons (service.normal_address makes it so)."""


class Equipment(models.Model):
    class Kinds(models.TextChoices):
        HUB = Kind.HUB.value, _("hub")
        DEVICE = Kind.DEVICE.value, _("Bluetooth device")

    class States(models.TextChoices):
        IN_STOCK = State.IN_STOCK.value, _("in stock")
        DEPLOYED = State.DEPLOYED.value, _("deployed")
        RETURNED = State.RETURNED.value, _("returned")
        FAULTY = State.FAULTY.value, _("faulty")
        RETIRED = State.RETIRED.value, _("retired")

    class Profiles(models.TextChoices):
        # The names of hub/devices/profiles.py (tests/test_equipment_web.py checks they match).
        BLOOD_PRESSURE = "blood_pressure", _("blood pressure monitor")
        PULSE_OXIMETER = "pulse_oximeter", _("pulse oximeter")
        WEIGHT_SCALE = "weight_scale", _("weight scale")
        BODY_COMPOSITION = "body_composition", _("body composition scale")
        THERMOMETER = "thermometer", _("thermometer")
        GLUCOSE = "glucose", _("glucose meter")

    kind = models.CharField(_("kind"), max_length=6, choices=Kinds.choices)
    model = models.CharField(_("model"), max_length=100)
    serial = models.CharField(_("serial number"), max_length=64)
    hub_id = models.CharField(
        _("hub id"),
        max_length=63,
        null=True,
        blank=True,
        unique=True,
        validators=[RegexValidator(HUB_ID_PATTERN, _("not a hub id"))],
    )
    address = models.CharField(
        _("Bluetooth address"),
        max_length=17,
        null=True,
        blank=True,
        unique=True,
        validators=[RegexValidator(ADDRESS_PATTERN, _("not a Bluetooth address"))],
    )
    profile = models.CharField(_("profile"), max_length=20, blank=True, choices=Profiles.choices)
    state = models.CharField(
        _("state"), max_length=10, choices=States.choices, default=States.IN_STOCK
    )
    # lifecycle.Item.key_at_return: a hub's signing-key fingerprint when its last use ended.
    key_at_return = models.CharField(max_length=64, null=True, blank=True)
    notes = models.TextField(_("notes"), blank=True, max_length=2000)
    # One more with every change: a form carries the number it was shown with, so a form sent
    # again (a replayed POST, a second tab) after the equipment changed is refused.
    version = models.PositiveIntegerField(default=0)
    added = models.DateTimeField(_("added"), auto_now_add=True)

    class Meta:
        constraints = (
            models.UniqueConstraint(fields=["kind", "serial"], name="serial_once_per_kind"),
            models.CheckConstraint(
                condition=(
                    models.Q(kind="hub", hub_id__isnull=False, address__isnull=True)
                    | (
                        models.Q(kind="device", hub_id__isnull=True, address__isnull=False)
                        & ~models.Q(profile="")
                    )
                ),
                name="hub_has_hub_id_device_has_address",
            ),
            models.CheckConstraint(
                condition=models.Q(state__in=[s.value for s in State]), name="known_state"
            ),
        )
        ordering = ("kind", "model", "serial")

    def __str__(self) -> str:
        return f"{self.model} {self.serial}"


class EquipmentUse(models.Model):
    """A piece of equipment in use in one care episode, from `started` until `ended`."""

    equipment = models.ForeignKey(Equipment, on_delete=models.PROTECT, related_name="uses")
    episode = models.ForeignKey(
        CareEpisode, on_delete=models.PROTECT, related_name="equipment_uses"
    )
    started = models.DateTimeField(_("started"))
    ended = models.DateTimeField(_("ended"), null=True, blank=True)

    class Meta:
        constraints = (
            # In use once at a time: two technicians deploying the same cuff cannot both win.
            models.UniqueConstraint(
                fields=["equipment"],
                condition=models.Q(ended__isnull=True),
                name="equipment_in_use_once",
            ),
            models.CheckConstraint(
                condition=models.Q(ended__isnull=True) | models.Q(ended__gte=models.F("started")),
                name="use_ends_after_it_starts",
            ),
        )
