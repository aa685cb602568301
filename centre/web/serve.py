"""`centre web`: the nurses' web application, served by waitress on the address centre.toml's
[web] section gives (put a TLS proxy in front of it on a shared network: docs/operations.md)."""

from __future__ import annotations

import gc
import logging
import threading
import time
from typing import Any

from centre.config import CentreConfig, WebSettings
from centre.errors import CentreError
from centre.web.runtime import setup

log = logging.getLogger(__name__)


class WebError(CentreError, RuntimeError):
    """`centre web` cannot serve; says why and what to change."""


WARMED = "worklist summaries kept"  # logged once a process has computed them all
THREADS = 8  # requests served at once; the live refresh of every open worklist is one of them
SERVING = "centre web serving on"  # logged once it listens; the testbed waits for it


def server_options(web: WebSettings, port: int) -> dict[str, Any]:
    """waitress's settings: forwarded headers believed from the trusted proxy alone."""
    options: dict[str, Any] = {
        "host": web.host,
        "port": port,
        "threads": THREADS,
        "ident": "dho-centre",
        "clear_untrusted_proxy_headers": True,
    }
    if web.trusted_proxy:
        options.update(
            trusted_proxy=web.trusted_proxy,
            trusted_proxy_count=1,
            trusted_proxy_headers={"x-forwarded-for", "x-forwarded-proto", "x-forwarded-host"},
        )
    return options


def serve_web(config: CentreConfig, port: int | None = None) -> None:
    setup(config, web=True)
    from django.core.wsgi import get_wsgi_application
    from waitress.server import create_server

    from centre.store import CentreStore

    CentreStore(config.database_url)  # refuses a database at an older version, with what to do
    port = config.web.port if port is None else port
    try:
        server = create_server(get_wsgi_application(), **server_options(config.web, port))
    except OSError as exc:
        raise WebError(
            f"cannot listen on {config.web.host}:{port} ({exc.strerror}): another program has "
            "the port, or the address is not this machine's; change [web] in centre.toml"
        ) from exc
    log.info("%s http://%s:%s/", SERVING, config.web.host, server.effective_port)
    threading.Thread(target=keep_summaries, name="worklist summaries", daemon=True).start()
    server.run()


def keep_summaries() -> None:
    """The worklist's summaries computed while the server answers: all of them as it starts
    (`warm_up`), then, for good, what pages would otherwise compute (`refresh_for_pages`)."""
    warm_up()
    while True:
        refresh_for_pages()


def warm_up() -> None:
    """Every patient's worklist summary computed while the server already answers: the first
    nurse of the day does not wait for all of them."""
    from django.db import DatabaseError, connection
    from django.utils import timezone

    from centre.web import worklist_data

    started = time.monotonic()
    try:
        count = worklist_data.warm_up(timezone.now())
    except DatabaseError as exc:
        log.warning("worklist summaries not computed ahead (%s): the first page does it", exc)
        return
    finally:
        connection.close()  # this thread's own
    freeze_long_lived()
    log.info("%s: %d patients in %.1f s", WARMED, count, time.monotonic() - started)


REFRESH_EVERY_S = 5.0  # the refresher looks this often for summaries to compute
FREEZE_AFTER = 500  # summaries computed by the refresher before it freezes again


def refresh_for_pages(state: dict[str, int] | None = None) -> int:
    """One turn of the refresher: compute the summaries whose time is up or soon will be
    (worklist_data.refresh: at each scheduled time every patient with it changes at once, and
    the next page would compute them all), then wait; freeze again what it has kept once it has
    kept FREEZE_AFTER. Returns how many it computed."""
    from django.db import DatabaseError, connection
    from django.utils import timezone

    from centre.web import worklist_data

    state = _REFRESHED if state is None else state
    try:
        done = worklist_data.refresh(timezone.now())
    except DatabaseError as exc:
        log.warning("worklist summaries not refreshed ahead (%s): pages do it", exc)
        connection.close()  # this thread's own; opened again on the next turn
        done = 0
    state["since_freeze"] = state.get("since_freeze", 0) + done
    if state["since_freeze"] >= FREEZE_AFTER:
        freeze_long_lived()
        state["since_freeze"] = 0
    time.sleep(0.05 if done >= worklist_data.REFRESH_CHUNK else REFRESH_EVERY_S)
    return done


_REFRESHED: dict[str, int] = {}


def freeze_long_lived() -> None:
    """Leave what the process holds for its lifetime (its code, templates, catalogues, the
    kept summaries) out of the garbage collector's full passes. Each pass walked all of it,
    100-230 ms, and fell inside one worklist page in ten (bench/worklist.py)."""
    gc.collect()
    gc.freeze()
