from __future__ import annotations

from django.apps import AppConfig


class EquipmentConfig(AppConfig):
    name = "centre.equipment"
    label = "equipment"
