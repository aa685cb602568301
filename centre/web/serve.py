"""`centre web`: the nurses' web application, served by waitress on the address centre.toml's
[web] section gives (put a TLS proxy in front of it on a shared network: docs/operations.md)."""

from __future__ import annotations

import gc
import logging
import threading
import time
from dataclasses import dataclass, field
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
    from django.db import connection
    from django.utils import timezone

    from centre.web import worklist_data

    started = time.monotonic()
    try:
        count = worklist_data.warm_up(timezone.now())
    except Exception as exc:  # the thread goes on to refresh; the first page computes them
        log.warning("worklist summaries not computed ahead (%s): the first page does it", exc)
        return
    finally:
        connection.close()  # this thread's own
    freeze_long_lived()
    log.info("%s: %d patients in %.1f s", WARMED, count, time.monotonic() - started)


REFRESH_EVERY_S = 5.0  # the refresher looks this often for summaries to compute
FREEZE_AFTER = 500  # summaries computed by the refresher before it freezes again
# A freeze also freezes what requests under way hold; any of it that ends in a reference cycle
# is then never collected (tens of objects a freeze). Once an hour everything is collected.
RECLAIM_EVERY_S = 3600.0
REFRESH_FAILING = "worklist summaries not refreshed ahead"


@dataclass
class Refresher:
    """What the refresher thread remembers between its turns."""

    since_freeze: int = 0
    reclaimed_at: float = field(default_factory=time.monotonic)
    failing: bool = False


def refresh_for_pages(state: Refresher | None = None) -> int:
    """One turn of the refresher: compute the summaries whose time is up or soon will be
    (worklist_data.refresh: at each scheduled time every patient with it changes at once, and
    the next page would compute them all), then wait; freeze again what it has kept once it has
    kept FREEZE_AFTER. Whatever fails, the thread goes on (pages compute what it does not),
    saying so once until it works again. Returns how many it computed."""
    from django.db import DatabaseError, connection
    from django.utils import timezone

    from centre.web import worklist_data

    state = _REFRESHER if state is None else state
    try:
        done = worklist_data.refresh(timezone.now())
    except Exception as exc:
        if not state.failing:
            say = log.warning if isinstance(exc, DatabaseError) else log.exception
            say("%s (%s): pages compute them; trying again", REFRESH_FAILING, exc)
        state.failing, done = True, 0
        connection.close()  # this thread's own; opened again on the next turn
    else:
        if state.failing:
            log.info("worklist summaries refreshed ahead again")
        state.failing = False
    state.since_freeze += done
    if time.monotonic() - state.reclaimed_at >= RECLAIM_EVERY_S:
        gc.unfreeze()
        freeze_long_lived()
        state.reclaimed_at, state.since_freeze = time.monotonic(), 0
    elif state.since_freeze >= FREEZE_AFTER:
        freeze_long_lived()
        state.since_freeze = 0
    time.sleep(0.05 if done >= worklist_data.REFRESH_CHUNK else REFRESH_EVERY_S)
    return done


_REFRESHER = Refresher()


def freeze_long_lived() -> None:
    """Leave what the process holds for its lifetime (its code, templates, catalogues, the
    kept summaries) out of the garbage collector's full passes. Each pass walked all of it,
    100-230 ms, and fell inside one worklist page in ten (bench/worklist.py)."""
    gc.collect()
    gc.freeze()
