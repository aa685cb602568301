"""The centre's Django settings that do not depend on where it runs (centre/web/settings.py adds
the secret and the database from the environment)."""

from __future__ import annotations

DEBUG = False
ALLOWED_HOSTS: list[str] = []

INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "centre.people",
]
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# Passwords hashed with argon2 (the first hasher is the one new passwords get).
PASSWORD_HASHERS = [
    "django.contrib.auth.hashers.Argon2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
]

LANGUAGE_CODE = "nb"
LANGUAGES = [("nb", "Norsk bokmål"), ("nn", "Norsk nynorsk"), ("en", "English")]
TIME_ZONE = "Europe/Oslo"
USE_I18N = True
USE_TZ = True
