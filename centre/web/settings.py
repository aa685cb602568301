"""Django settings for the centre's web and Django's own commands, from the centre's config
file named by `DHO_CENTRE_CONFIG` (default /etc/dho-centre/centre.toml; docs/operations.md).

`centre web` and `centre serve` configure Django themselves (centre/web/runtime.py); this module
is for `python -m django <command> --settings centre.web.settings` and a WSGI server.
"""

from __future__ import annotations

import os
from pathlib import Path

from centre.config import load_centre_config
from centre.web.runtime import settings_for

_config = load_centre_config(
    Path(os.environ.get("DHO_CENTRE_CONFIG", "/etc/dho-centre/centre.toml"))
)
globals().update(settings_for(_config, web=True))
