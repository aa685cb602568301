"""Django settings for the centre, from the environment a service sets (docs/operations.md).

- `DHO_CENTRE_DATABASE`: a database URL. `sqlite:////var/lib/dho-centre/web.sqlite3` (the
  embedded default for one municipality or the demo) or `postgresql://user@host:port/name` (a
  shared centre; psycopg 3).
- `DHO_CENTRE_SECRET_KEY`: the key Django signs sessions and CSRF tokens with; a secret.
"""

from __future__ import annotations

import os

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

from centre.web.base import *  # noqa: F403 - the settings that do not depend on the environment


def _required(name: str) -> str:
    value = os.environ.get(name, "")
    if not value:
        raise ImproperlyConfigured(f"{name} is not set (docs/operations.md, The centre's web)")
    return value


SECRET_KEY = _required("DHO_CENTRE_SECRET_KEY")
DATABASES = {"default": dj_database_url.parse(_required("DHO_CENTRE_DATABASE"))}
