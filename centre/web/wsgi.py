"""The WSGI application, for a WSGI server of the operator's choice (DJANGO_SETTINGS_MODULE=
centre.web.settings and DHO_CENTRE_CONFIG set); `centre web` serves it with waitress."""

from __future__ import annotations

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "centre.web.settings")
application = get_wsgi_application()
