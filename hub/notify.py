"""systemd's service notifications (sd_notify), without libsystemd: one datagram per state.

A `Type=notify` unit is started once its process sends READY=1; with `WatchdogSec=` systemd kills
and restarts it when WATCHDOG=1 stops coming. The pings must come from the loop that does the
work, so that a stuck loop stops them. Outside systemd (tests, the demo, a technician's shell)
NOTIFY_SOCKET is unset and every call does nothing.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import time
from collections.abc import Mapping
from dataclasses import dataclass

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class NotifySettings:
    """Where to send notifications, and how often to ping (None: no watchdog)."""

    address: str | None
    ping_every_s: float | None


def notify_settings(environ: Mapping[str, str], pid: int) -> NotifySettings:
    """Read systemd's NOTIFY_SOCKET, WATCHDOG_USEC and WATCHDOG_PID as sd_notify(3) does.

    An abstract socket ("@name") becomes "\\0name". The watchdog is pinged at half its period,
    and only by the process systemd watches (WATCHDOG_PID, when set)."""
    raw = environ.get("NOTIFY_SOCKET", "")
    address = None
    if raw.startswith("@"):
        address = "\0" + raw[1:]
    elif raw.startswith("/"):
        address = raw
    elif raw:
        log.warning("NOTIFY_SOCKET %r is not a Unix socket path; not notifying systemd", raw)
    return NotifySettings(address, _ping_every_s(environ, pid) if address else None)


def _ping_every_s(environ: Mapping[str, str], pid: int) -> float | None:
    watched = environ.get("WATCHDOG_PID", "")
    if watched and watched != str(pid):
        return None
    try:
        usec = int(environ.get("WATCHDOG_USEC", ""))
    except ValueError:
        return None
    return usec / 2_000_000 if usec > 0 else None


class Notifier:
    """Sends states to systemd. Best effort: a failed send is logged and the service goes on
    (a missing WATCHDOG=1 is then what tells systemd)."""

    def __init__(self, settings: NotifySettings) -> None:
        self.settings = settings
        self._last_ping = float("-inf")

    @classmethod
    def from_environment(cls) -> Notifier:
        return cls(notify_settings(os.environ, os.getpid()))

    @property
    def ping_every_s(self) -> float | None:
        return self.settings.ping_every_s

    def ready(self) -> None:
        self.send("READY=1")

    def stopping(self) -> None:
        self.send("STOPPING=1")

    def ping(self) -> None:
        self._last_ping = time.monotonic()
        self.send("WATCHDOG=1")

    def ping_if_due(self) -> None:
        """For a loop that turns at least every ping period: pings when the last is old."""
        every = self.settings.ping_every_s
        if every is not None and time.monotonic() - self._last_ping >= every:
            self.ping()

    def send(self, state: str) -> None:
        if self.settings.address is None:
            return
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
                sock.sendto(state.encode(), self.settings.address)
        except OSError as exc:
            log.error("could not tell systemd %s: %s", state, exc)


async def keep_pinging(notifier: Notifier) -> None:
    """Ping from the event loop it runs on: when that loop is stuck, the pings stop."""
    every = notifier.ping_every_s
    if every is None:
        return
    while True:
        notifier.ping()
        await asyncio.sleep(every)
