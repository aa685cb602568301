"""The patient screen's test bench: a daemon stand-in on a real unix socket, and how to read
what the screen shows."""

from __future__ import annotations

import asyncio
import contextlib
import copy
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from textual.app import App
from textual.pilot import Pilot
from textual.widget import Widget
from textual.widgets import Button, Digits, Static

from hub.ipc import serve


class FakeDaemon:
    """Answers "status" on a real unix socket with whatever `status` currently holds, and
    "live" with `live_sessions` (held open until they change, as the daemon does)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.status: dict[str, Any] = {
            "ok": True,
            "hub_id": "hub-0001",
            "readings": [],
            "pending": 0,
        }
        self.server: asyncio.Server | None = None
        self.answers: list[dict[str, Any]] = []  # what the screen handed over with "answer"
        self.answer_reply: dict[str, Any] = {"ok": True, "seq": 1, "stored_before": False}
        self.live_sessions: list[dict[str, Any]] = []  # what "live" answers; see set_live
        self.live_version = 0
        self.live_reply: dict[str, Any] | None = None  # set: "live" answers this instead
        self._live_changed = asyncio.Condition()

    async def set_live(self, sessions: list[dict[str, Any]]) -> None:
        """What the devices do now; a screen waiting on "live" hears of it at once."""
        async with self._live_changed:
            self.live_sessions = copy.deepcopy(sessions)
            self.live_version += 1
            self._live_changed.notify_all()

    async def _live(self, req: dict[str, Any]) -> dict[str, Any]:
        if self.live_reply is not None:
            await asyncio.sleep(0.05)  # a broken daemon, but not a busy loop
            return copy.deepcopy(self.live_reply)
        if req.get("boot") == "fake" and req.get("version") == self.live_version:
            async with self._live_changed:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._live_changed.wait(), float(req["wait_s"]))
        return {
            "ok": True,
            "boot": "fake",
            "version": self.live_version,
            "sessions": copy.deepcopy(self.live_sessions),
        }

    async def handle(self, req: dict[str, Any]) -> dict[str, Any]:
        if req.get("op") == "answer":
            self.answers.append(req["response"])
            return dict(self.answer_reply)
        if req.get("op") == "message_read":  # as the daemon: noted, and shown read from now on
            for message in self.status.get("messages", []):
                if message["version"] == req.get("version"):
                    message["read_at"] = "2026-11-22T10:00:00.000+00:00"
                    return {"ok": True, "version": message["version"]}
            return {"ok": False, "error": "there is no such message"}
        if req.get("op") == "live":
            return await self._live(req)
        if req.get("op") != "status":
            return {"ok": False, "error": f"unknown op {req.get('op')!r}"}
        return copy.deepcopy(self.status)

    async def start(self) -> None:
        self.server = await serve(self.path, self.handle)

    async def stop(self) -> None:
        async with self._live_changed:
            self._live_changed.notify_all()  # held "live" requests are answered, not cut off
        if self.server is not None:
            self.server.close()
            await self.server.wait_closed()
            self.server = None


def shown(app: App[Any], selector: str) -> str:
    """The text a widget shows, or "" when it (or a container around it) is hidden or absent."""
    found = app.screen.query(selector)  # the screen on top: home, or the questionnaire
    if not found:
        return ""
    widget = found.first()
    node: Any = widget
    while isinstance(node, Widget):
        if not node.display:
            return ""
        node = node.parent
    if isinstance(widget, Digits):
        return widget.value
    if isinstance(widget, Button):
        return str(widget.label)
    return str(widget.content) if isinstance(widget, Static) else ""


def screen_text(app: App[Any]) -> str:
    texts = (shown(app, f"#{w.id}") for w in app.screen.query("*") if w.id)
    return "\n".join(t for t in texts if t)


async def wait_until(pilot: Pilot[None], condition: Callable[[], bool], what: str) -> None:
    """Let the app run until `condition` holds; fail with what the screen shows after ~5 s."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 5.0
    while not condition():
        if loop.time() > deadline:
            pytest.fail(f"still waiting for {what}; the screen shows:\n{screen_text(pilot.app)}")
        await pilot.pause(0.05)
