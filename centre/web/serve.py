"""`centre web`: the nurses' web application, served by waitress on the address centre.toml's
[web] section gives (put a TLS proxy in front of it on a shared network: docs/operations.md)."""

from __future__ import annotations

import logging

from centre.config import CentreConfig
from centre.web.runtime import setup

log = logging.getLogger(__name__)
THREADS = 8  # requests served at once; the live refresh of every open worklist is one of them
SERVING = "centre web serving on"  # logged once it listens; the testbed waits for it


def serve_web(config: CentreConfig, port: int | None = None) -> None:
    setup(config, web=True)
    from django.core.wsgi import get_wsgi_application
    from waitress.server import create_server

    from centre.store import CentreStore

    CentreStore(config.database_url)  # refuses a database at an older version, with what to do
    server = create_server(
        get_wsgi_application(),
        host=config.web.host,
        port=config.web.port if port is None else port,
        threads=THREADS,
        ident="dho-centre",
        clear_untrusted_proxy_headers=True,
    )
    log.info("%s http://%s:%d/", SERVING, config.web.host, server.effective_port)
    server.run()
