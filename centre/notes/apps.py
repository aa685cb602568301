from __future__ import annotations

from django.apps import AppConfig


class NotesConfig(AppConfig):
    name = "centre.notes"
    label = "notes"
