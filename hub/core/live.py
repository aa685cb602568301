"""What is happening at the devices right now, for the patient's measuring screen.

A device connects (the patient is measuring, or has just measured), sends in-progress values
(Intermediate Cuff Pressure), its results are stored, and it goes away. This state is held in
memory only and is rebuilt from nothing after a restart: the readings themselves are in the
store. Pure functions over frozen data; the daemon's ``LiveBoard`` holds the current value.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
from dataclasses import dataclass, replace
from typing import Any

KEEP_SESSIONS = 4  # ended sessions kept for a screen that looks late
KEEP_RESULTS = 3  # an oximeter's stream stores many readings; the screen shows the newest
PROGRESS_FIELDS = ("cuff_pressure", "temperature", "unit")


@dataclass(frozen=True)
class LiveSession:
    """One connection with a device, as the patient's screen sees it."""

    device_address: str
    profile: str
    started_at: str
    ended_at: str | None = None
    progress: dict[str, Any] | None = None  # the newest in-progress value, e.g. cuff pressure
    progress_count: int = 0
    results: tuple[dict[str, Any], ...] = ()  # readings stored in this session, newest last

    @property
    def key(self) -> str:
        """Names this session for the screen (a device has one session at a time)."""
        return f"{self.device_address}@{self.started_at}"

    def to_json(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "device_address": self.device_address,
            "profile": self.profile,
            "started_at": self.started_at,
            "ended_at": self.ended_at,
            "progress": self.progress,
            "progress_count": self.progress_count,
            "results": list(self.results),
        }


@dataclass(frozen=True)
class Live:
    sessions: tuple[LiveSession, ...] = ()  # oldest first

    def to_json(self) -> list[dict[str, Any]]:
        return [s.to_json() for s in self.sessions]


def _current(live: Live, address: str) -> LiveSession | None:
    return next(
        (s for s in reversed(live.sessions) if s.device_address == address and s.ended_at is None),
        None,
    )


def _with(live: Live, old: LiveSession, new: LiveSession) -> Live:
    return Live(tuple(new if s is old else s for s in live.sessions))


def session_started(live: Live, address: str, profile: str, at: str) -> Live:
    """A device connected; an earlier session of it that never ended is closed now."""
    sessions = [
        replace(s, ended_at=at) if s.device_address == address and s.ended_at is None else s
        for s in live.sessions
    ]
    sessions.append(LiveSession(address, profile, at))
    ended = [s for s in sessions if s.ended_at is not None]
    too_many = set(map(id, ended[: max(0, len(ended) - KEEP_SESSIONS)]))
    return Live(tuple(s for s in sessions if id(s) not in too_many))


def progressed(live: Live, address: str, values: dict[str, Any]) -> Live:
    """An in-progress value; ignored when no session of that device is open."""
    session = _current(live, address)
    if session is None:
        return live
    shown = {k: values[k] for k in PROGRESS_FIELDS if k in values}
    return _with(
        live, session, replace(session, progress=shown, progress_count=session.progress_count + 1)
    )


def result_stored(live: Live, address: str, reading: dict[str, Any]) -> Live:
    """A reading of this session is safely stored; the screen may show it."""
    session = _current(live, address)
    if session is None:
        return live
    results = (*session.results, reading)[-KEEP_RESULTS:]
    return _with(live, session, replace(session, results=results))


def session_ended(live: Live, address: str, at: str) -> Live:
    session = _current(live, address)
    if session is None:
        return live
    return _with(live, session, replace(session, ended_at=at))


class LiveBoard:
    """The daemon's current ``Live`` with a version a screen can wait on (long poll)."""

    def __init__(self) -> None:
        self.live = Live()
        self.version = 0
        # A new daemon starts counting again: a screen holding an old version must not wait.
        self.boot = secrets.token_hex(4)
        self._changed = asyncio.Condition()

    async def apply(self, change: Any, *args: Any) -> None:
        """Set ``live = change(live, *args)`` and wake the waiting screens if it changed."""
        new = change(self.live, *args)
        if new == self.live:
            return
        async with self._changed:
            self.live, self.version = new, self.version + 1
            self._changed.notify_all()

    async def newer_than(self, boot: object, version: object, wait_s: float) -> dict[str, Any]:
        """The state once it is newer than (boot, version), or as it is after ``wait_s``."""
        if boot == self.boot and isinstance(version, int):
            async with self._changed:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(
                        self._changed.wait_for(lambda: self.version > version), wait_s
                    )
        return {
            "ok": True,
            "boot": self.boot,
            "version": self.version,
            "sessions": self.live.to_json(),
        }
