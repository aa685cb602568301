"""The patient screen's test bench: a daemon stand-in on a real unix socket, and how to read
what the screen shows."""

from __future__ import annotations

import asyncio
import contextlib
import copy
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel
from textual.app import App
from textual.pilot import Pilot
from textual.widget import Widget
from textual.widgets import Button, Digits, Static

from hub.ipc import Peer, serve
from hub.local_protocol import (
    OPS,
    Answer,
    AnswerStored,
    CallMeAnswer,
    CallMeRequest,
    CallState,
    LiveAnswer,
    LiveRequest,
    LiveSession,
    Message,
    MessageReadAnswer,
    MessageReadRequest,
    Refusal,
    RequestRefused,
    StatusAnswer,
    StatusReading,
    parse,
)

# What a test leaves out of an answer. Built with the models' own constructors, so a field
# renamed in hub.local_protocol breaks the stand-in at type-check time; a test's dict naming a
# field the models do not have is refused when the stand-in builds its answer.
BASE_READING = StatusReading(
    kind="blood_pressure",
    seq=1,
    device_time=None,
    measured_at="",  # no time the screen can read: it falls back to the device's, then receipt
    time_source="device",
    received_at="",
    outcome="ok",
    problems=[],
    values={},
    synced=False,
    synced_at=None,
)
BASE_MESSAGE = Message(
    version=1,
    text="",
    issued_at="2026-11-22T08:00:00.000+00:00",
    received_at="2026-11-22T08:00:01.000+00:00",
    read_at=None,
)
BASE_STATUS = StatusAnswer(
    hub_id="hub-0001",
    readings=[],
    pending=0,
    broker_connected=True,
    last_ack_at=None,
    hub_clock_offset_s=None,
    store_problem=None,
    outbox_alarm=None,
    care_plan=None,
    care_plan_version=0,
    messages=[],
    centre_key_id="centre-key-1",
    downlink_refused=None,
    history=[],
    waiting_in_memory=0,
)


def _filled(base: BaseModel, given: object) -> object:
    return {**base.model_dump(), **given} if isinstance(given, Mapping) else given


def reading_of(fields: Mapping[str, Any]) -> StatusReading:
    """A status reading with the fields a test gives, the rest from BASE_READING."""
    return StatusReading.model_validate(_filled(BASE_READING, fields))


def status_of(fields: Mapping[str, Any]) -> StatusAnswer:
    """A status answer with the fields a test gives (readings and messages may leave fields
    out too), the rest from BASE_STATUS."""
    merged: dict[str, Any] = {**BASE_STATUS.model_dump(), **fields}
    merged.pop("ok", None)
    for field, base in (("readings", BASE_READING), ("messages", BASE_MESSAGE)):
        if isinstance(merged[field], list):
            merged[field] = [_filled(base, item) for item in merged[field]]
    return StatusAnswer.model_validate(merged)


class FakeDaemon:
    """Answers "status" on a real unix socket with whatever `status` currently holds (the
    fields a test sets; {"ok": false, ...} for a refusal), and "live" with `live_sessions`
    (held open until they change, as the daemon does). Requests are read and answers built with
    the models of hub.local_protocol, as the daemon does."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.status: dict[str, Any] = {"ok": True, "hub_id": "hub-0001", "readings": []}
        self.server: asyncio.Server | None = None
        self.answers: list[dict[str, Any]] = []  # what the screen handed over with "answer"
        self.answer_reply: AnswerStored | Refusal = AnswerStored(seq=1, stored_before=False)
        self.live_sessions: list[LiveSession] = []  # what "live" answers; see set_live
        self.live_version = 0
        self.live_reply: dict[str, Any] | None = None  # set: "live" answers this raw instead
        self.status_reply: dict[str, Any] | None = None  # set: "status" answers this raw
        self._live_changed = asyncio.Condition()
        self.clock: Callable[[], datetime] = lambda: datetime.now(UTC)  # "asked_at" of a call
        self.call_requests: list[str] = []  # request ids the screen sent with "call_me"
        self.call_reply: Refusal | None = None  # set: "call_me" is refused with this
        self.refuse_reads = 0  # message_read refused this many times

    async def set_live(self, sessions: list[dict[str, Any]]) -> None:
        """What the devices do now; a screen waiting on "live" hears of it at once."""
        async with self._live_changed:
            self.live_sessions = [LiveSession.model_validate(s) for s in sessions]
            self.live_version += 1
            self._live_changed.notify_all()

    async def _live(self, req: LiveRequest) -> LiveAnswer | dict[str, Any]:
        if self.live_reply is not None:
            await asyncio.sleep(0.05)  # a broken daemon, but not a busy loop
            return copy.deepcopy(self.live_reply)
        if req.boot == "fake" and req.version == self.live_version:
            async with self._live_changed:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._live_changed.wait(), req.wait_s)
        return LiveAnswer(boot="fake", version=self.live_version, sessions=self.live_sessions)

    def _message_read(self, req: MessageReadRequest) -> MessageReadAnswer | Refusal:
        """As the daemon: noted, and shown read from now on (refused while `refuse_reads`)."""
        if self.refuse_reads:
            self.refuse_reads -= 1
            return Refusal(error="the store is busy")
        for message in self.status.get("messages", []):
            if message["version"] == req.version:
                message["read_at"] = "2026-11-22T10:00:00.000+00:00"
                return MessageReadAnswer(version=req.version)
        return Refusal(error=f"there is no message {req.version}")

    def _call_me(self, req: CallMeRequest) -> CallMeAnswer | Refusal:
        """As the daemon: noted as asked (now), shown in the status from then on."""
        if self.call_reply is not None:
            return self.call_reply
        self.call_requests.append(req.request_id)
        state = CallState(
            state="asked", request_id=req.request_id, asked_at=self.clock().isoformat()
        )
        self.status["call_request"] = state.model_dump()
        return CallMeAnswer(call_request=state, stored_before=False)

    async def handle(
        self, req: dict[str, Any], _asker: Peer | None
    ) -> Answer | Refusal | dict[str, Any]:
        op = req.get("op")
        if not isinstance(op, str) or op not in OPS:
            return Refusal(error=f"unknown op {op!r}")
        try:
            request = parse(OPS[op].request, {k: v for k, v in req.items() if k != "op"})
        except RequestRefused as exc:
            return Refusal(error=str(exc))
        if isinstance(request, LiveRequest):
            return await self._live(request)
        if isinstance(request, MessageReadRequest):
            return self._message_read(request)
        if isinstance(request, CallMeRequest):
            return self._call_me(request)
        if op == "answer":
            self.answers.append(req["response"])
            return self.answer_reply
        if op != "status":
            return Refusal(error=f"the stand-in does not answer {op}")
        if self.status_reply is not None:  # a broken daemon: past the models
            return copy.deepcopy(self.status_reply)
        if self.status.get("ok") is False:
            return Refusal.model_validate(self.status)
        return status_of(copy.deepcopy(self.status))

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


async def tap(pilot: Pilot[Any], selector: str, expect: str | None = None) -> None:
    """Press a button as a finger would: once it (and the question `expect`) shows, is laid
    out, and the screen takes taps again after its last change (hub.ui.touch)."""
    app = pilot.app
    if expect is not None:
        await wait_until(pilot, lambda: expect in shown(app, "#q-text"), f"question {expect!r}")
    # Shown and laid out: a screen just pushed has its widgets before it has their places.
    await wait_until(
        pilot,
        lambda: bool(shown(app, selector)) and app.screen.query_one(selector).region.area > 0,
        f"button {selector}",
    )
    pause = getattr(app, "tap_pause", None)
    for _ in range(3):
        ignored = pause.ignored if pause is not None else 0
        if pause is not None:
            await wait_until(pilot, pause.taking_taps, "the screen to take taps again")
        clicked = await pilot.click(selector)
        # As a person taps: a Button ignores presses for 0.2 s after one (Textual's active effect).
        await pilot.pause(0.25)
        # On a loaded machine the screen may be between two layouts at the moment of the click,
        # which then reaches no button (pilot.click says so), or change between the wait and the
        # click, so that the button ignores the tap (hub.ui.touch counts it): tap again, as a
        # person would.
        if clicked and (pause is None or pause.ignored == ignored):
            return
    target = app.screen.query(selector)
    region = target.first().region if target else None
    under = app.get_widget_at(*region.center) if region else None  # type: ignore[arg-type]
    pytest.fail(  # after three taps
        f"{selector} could not be pressed: at {region} lies {under}, "
        f"screens {[s.id for s in app.screen_stack]}"
    )
