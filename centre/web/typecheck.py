"""Settings for type checking only: mypy's Django plugin imports them. No secret, no database
file; never used to run the centre."""

from __future__ import annotations

from centre.web.base import *  # noqa: F403

SECRET_KEY = "type checking only"
DATABASES = {"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"}}
