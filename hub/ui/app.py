"""The patient's touchscreen: the latest measurements in large digits and whether they were sent.

A separate process from the hub daemon; it only asks the daemon for its status over the local
socket, so a crash or restart of either side never loses a measurement.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, ClassVar

from textual.app import App, ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.css.query import NoMatches
from textual.widgets import Button, Digits, Sparkline, Static

from hub.ipc import DaemonUnavailable, request
from hub.questionnaire.model import Questionnaire
from hub.ui.flow import QuestionnaireError, Walk, questionnaire_for
from hub.ui.i18n import DEFAULT_LANGUAGE, Catalogue, other_language
from hub.ui.present import ReadingView, present_status
from hub.ui.questionnaire_screen import QuestionnaireScreen
from hub.ui.today import MessageView, newest_message, tasks_view

log = logging.getLogger(__name__)

REQUEST_TIMEOUT = 3.0


class Text(Static):
    """A Static that never interprets markup: text from the daemon is shown as it is."""

    def __init__(self, content: str = "", **kwargs: Any) -> None:
        super().__init__(content, markup=False, **kwargs)


class ReadingCard(Vertical):
    """One kind of measurement: title, big digits, when it was measured and whether it was sent."""

    def __init__(self, view: ReadingView) -> None:
        super().__init__(id=f"{view.slug}-card", classes="card")
        self._view = view

    def compose(self) -> ComposeResult:
        slug = self._view.slug
        yield Text(id=f"{slug}-title", classes="card-title")
        with Horizontal(id=f"{slug}-row", classes="value-row"):
            yield Digits(id=f"{slug}-value", classes="value")
            yield Text(id=f"{slug}-unit", classes="unit")
            yield Text(id=f"{slug}-pulse-label", classes="pulse-label")
            yield Digits(id=f"{slug}-pulse", classes="value")
            yield Text(id=f"{slug}-pulse-unit", classes="unit")
        yield Sparkline([], id=f"{slug}-trend", classes="trend")
        yield Text(id=f"{slug}-note", classes="note")
        yield Text(id=f"{slug}-time", classes="time")
        yield Text(id=f"{slug}-sync", classes="sync-state")

    def on_mount(self) -> None:
        self._render_view()

    def show(self, view: ReadingView) -> None:
        if view != self._view:
            self._view = view
            self._render_view()

    def _render_view(self) -> None:
        view, slug = self._view, self._view.slug
        self.query_one(f"#{slug}-title", Text).update(view.title)
        self.query_one(f"#{slug}-row").display = view.value is not None or view.pulse is not None
        self._set_digits(f"#{slug}-value", view.value)
        self._set_text(f"#{slug}-unit", view.unit if view.value is not None else "")
        self._set_text(f"#{slug}-pulse-label", view.pulse_label if view.pulse else "")
        self._set_digits(f"#{slug}-pulse", view.pulse)
        self._set_text(f"#{slug}-pulse-unit", view.pulse_unit if view.pulse else "")
        self._set_text(f"#{slug}-note", "\n".join(n for n in (view.note, view.pulse_note) if n))
        self._set_text(f"#{slug}-time", view.measured)
        sparkline = self.query_one(f"#{slug}-trend", Sparkline)
        sparkline.data = list(view.trend)
        sparkline.display = len(view.trend) >= 2  # one point is no trend
        sync = self.query_one(f"#{slug}-sync", Text)
        sync.update(view.sync)
        sync.set_class(view.synced, "synced").set_class(not view.synced, "waiting")

    def _set_digits(self, selector: str, value: str | None) -> None:
        digits = self.query_one(selector, Digits)
        digits.update(value or "")
        digits.display = value is not None

    def _set_text(self, selector: str, text: str) -> None:
        widget = self.query_one(selector, Text)
        widget.update(text)
        widget.display = bool(text)


class PatientScreenApp(App[None]):
    """Polls the daemon's status and shows it to the patient; needs no keyboard."""

    CSS_PATH = "patient.tcss"
    ENABLE_COMMAND_PALETTE = False
    AUTO_FOCUS: ClassVar[str | None] = None  # a focus ring means nothing on a touchscreen
    # Technicians (and the demo) stop the screen with Ctrl-C; systemd restarts it on the kiosk.
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("ctrl+c", "quit", show=False, priority=True)
    ]

    def __init__(
        self, socket_path: Path, language: str = DEFAULT_LANGUAGE, poll_interval: float = 1.0
    ) -> None:
        super().__init__()
        self.socket_path = socket_path
        self.poll_interval = poll_interval
        self.catalogue = Catalogue(language)
        self._status: Mapping[str, Any] | None = None  # last good answer, kept while daemon is down
        self._daemon_ok: bool | None = None  # None until the first answer or failure
        self._render_lock = asyncio.Lock()  # the poller and the language button both re-render
        self._questionnaire: Questionnaire | None = None
        self._message: MessageView | None = None
        self._read_here: set[int] = set()  # read on this screen, before the daemon's next answer

    @property
    def language(self) -> str:
        return self.catalogue.language

    def compose(self) -> ComposeResult:
        yield Text(id="title")
        yield Text(id="daemon-state")
        yield Text(id="outbox-alarm")
        with Vertical(id="message-box"):
            yield Text(id="message-title")
            yield Text(id="message-text")
            yield Button("", id="message-read")
        with Vertical(id="today"):
            yield Text(id="tasks-due")
            yield Text(id="tasks-rest")
        with VerticalScroll(id="readings"):
            yield Text(id="no-readings")
        with Horizontal(id="footer"):
            yield Button("", id="questionnaire-start")
            yield Button("", id="lang-toggle")

    async def on_mount(self) -> None:
        await self._render()
        self.run_worker(self._poll_forever(), name="poll", group="poll", exclusive=True)

    async def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "lang-toggle":
            self.catalogue = Catalogue(other_language(self.language))
            await self._render()
        elif event.button.id == "message-read" and self._message is not None:
            await self._mark_read(self._message.version)
        elif event.button.id == "questionnaire-start" and self._questionnaire is not None:
            walk = Walk(self._questionnaire)
            await self.push_screen(QuestionnaireScreen(walk, self.catalogue, self.socket_path))

    async def _mark_read(self, version: int) -> None:
        """Tell the daemon (which sends the centre a receipt); the next poll shows it read."""
        try:
            answer = await request(self.socket_path, "message_read", timeout=REQUEST_TIMEOUT,
                                   version=version)
        except DaemonUnavailable as exc:
            log.warning("message %d not marked read: %s", version, exc)
            return
        if not answer.get("ok"):
            log.warning("message %d not marked read: %s", version, answer.get("error"))
            return
        self._read_here.add(version)
        await self._render()

    def _take_questionnaire(self, status: Mapping[str, Any]) -> None:
        """The care plan's questionnaire, or the last good one if the new one is broken."""
        try:
            found = questionnaire_for(dict(status), self.language)
        except QuestionnaireError as exc:
            log.error("care plan questionnaire refused, keeping the last good one: %s", exc)
            return
        self._questionnaire = found

    async def _poll_forever(self) -> None:
        while True:
            try:
                await self.poll_once()
            except Exception:
                # The patient's screen must outlive any bad answer; say the hub is not answering.
                log.exception("status poll failed")
                self._daemon_ok = False
                await self._render()
            await asyncio.sleep(self.poll_interval)

    async def poll_once(self) -> None:
        """Ask the daemon for its status once and show the answer."""
        try:
            status = await request(self.socket_path, "status", timeout=REQUEST_TIMEOUT)
        except DaemonUnavailable as exc:
            if self._daemon_ok is not False:
                log.warning("%s", exc)
            self._daemon_ok = False
        else:
            if status.get("ok") is True:
                self._status, self._daemon_ok = status, True
            else:
                log.warning("daemon refused status: %r", status.get("error"))
                self._daemon_ok = False
        await self._render()

    async def _render(self) -> None:
        try:
            await self._render_now()
        except NoMatches:
            # The widgets are gone only while the app is closing: nothing left to show.
            log.debug("screen closed before a render finished")

    async def _render_now(self) -> None:
        async with self._render_lock:
            cat = self.catalogue
            self.title = cat.translate("app.title")
            self.query_one("#title", Text).update(self.title)
            self.query_one("#lang-toggle", Button).label = cat.translate("lang.toggle")
            if self._status is not None:
                self._take_questionnaire(self._status)  # in the language now chosen
            start = self.query_one("#questionnaire-start", Button)
            start.label = cat.translate("q.start")
            start.display = self._questionnaire is not None
            banner = self.query_one("#daemon-state", Text)
            down = self._daemon_ok is False
            banner.update(cat.translate("daemon.down" if down else "daemon.connecting"))
            banner.display = self._daemon_ok is not True

            views: tuple[ReadingView, ...] = ()
            alarm = ""
            if self._status is not None:
                shown = present_status(self._status, datetime.now(UTC), cat)
                views, alarm = shown.readings, shown.alarm
            alarm_banner = self.query_one("#outbox-alarm", Text)
            alarm_banner.update(alarm)
            alarm_banner.display = bool(alarm)
            self._render_today(cat)
            no_readings = self.query_one("#no-readings", Text)
            no_readings.update(
                f"{cat.translate('readings.none')}\n\n{cat.translate('readings.none_hint')}"
            )
            # Before the first answer we do not know whether there are readings: say nothing.
            no_readings.display = self._status is not None and not views
            await self._show_cards(views)

    def _render_today(self, cat: Catalogue) -> None:
        status = self._status or {}
        now = datetime.now(UTC)
        tasks = tasks_view(status, now, cat)
        due = "\n".join(t.text for t in tasks if t.state == "due")
        rest = "\n".join(t.text for t in tasks if t.state != "due")
        for selector, text in (("#tasks-due", due), ("#tasks-rest", rest)):
            widget = self.query_one(selector, Text)
            widget.update(text)
            widget.display = bool(text)
        self.query_one("#today").display = bool(tasks)
        message = newest_message(status)
        self._message = message
        unread = message is not None and not message.read and \
            message.version not in self._read_here
        self.query_one("#message-box").display = unread
        if message is not None:
            self.query_one("#message-title", Text).update(cat.translate("message.title"))
            self.query_one("#message-text", Text).update(message.text)
            self.query_one("#message-read", Button).label = cat.translate("message.read")

    async def _show_cards(self, views: tuple[ReadingView, ...]) -> None:
        container = self.query_one("#readings", VerticalScroll)
        cards = list(container.query(ReadingCard))
        if [card.id for card in cards] == [f"{v.slug}-card" for v in views]:
            for card, view in zip(cards, views, strict=True):
                card.show(view)
            return
        # A new kind or a new order (newest first): rebuild; it happens once per new measurement.
        await container.remove_children(ReadingCard)
        await container.mount_all(ReadingCard(view) for view in views)


def run(socket_path: Path, language: str) -> None:
    """Run the patient's screen in the current terminal until it is closed."""
    PatientScreenApp(socket_path, language).run()
