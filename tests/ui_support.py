"""The patient screen's test bench: a daemon stand-in on a real unix socket, and how to read
what the screen shows."""

from __future__ import annotations

import asyncio
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
    """Answers "status" on a real unix socket with whatever `status` currently holds."""

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
        if req.get("op") != "status":
            return {"ok": False, "error": f"unknown op {req.get('op')!r}"}
        return copy.deepcopy(self.status)

    async def start(self) -> None:
        self.server = await serve(self.path, self.handle)

    async def stop(self) -> None:
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
