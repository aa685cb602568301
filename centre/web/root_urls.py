"""Django's root URLs: the centre's pages under their namespace, and the language switch."""

from __future__ import annotations

from django.urls import include, path
from django.views.i18n import set_language

urlpatterns = [
    path("language/", set_language, name="set_language"),
    path("", include("centre.web.urls")),
]
