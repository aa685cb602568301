"""The patient's touchscreen: the latest measurements in large digits and whether they were sent.

A separate process from the hub daemon; it only asks the daemon for its status over the local
socket, so a crash or restart of either side never loses a measurement.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import ClassVar

from textual.app import App, ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.css.query import NoMatches
from textual.widgets import Button

from hub.ipc import DaemonUnavailable, ask
from hub.local_protocol import (
    A,
    LiveAnswer,
    LiveRequest,
    LiveSession,
    MessageReadAnswer,
    MessageReadRequest,
    Refusal,
    Request,
    StatusAnswer,
    StatusRequest,
)
from hub.questionnaire.model import Questionnaire
from hub.ui.flow import QuestionnaireError, Walk, questionnaire_for
from hub.ui.i18n import DEFAULT_LANGUAGE, Catalogue, other_language
from hub.ui.measuring import measuring_view, session_to_show
from hub.ui.measuring_screen import MeasuringScreen
from hub.ui.present import ReadingView, present_status
from hub.ui.questionnaire_screen import QuestionnaireScreen
from hub.ui.today import MessageView, newest_message, tasks_view
from hub.ui.widgets import ReadingCard, Text

log = logging.getLogger(__name__)

REQUEST_TIMEOUT = 3.0
LIVE_WAIT_S = 20.0  # the daemon holds a `live` request this long when nothing happens


class PatientScreenApp(App[None]):
    """Polls the daemon's status and shows it to the patient; needs no keyboard."""

    CSS_PATH = "patient.tcss"
    ENABLE_COMMAND_PALETTE = False
    AUTO_FOCUS: ClassVar[str | None] = None  # a focus ring means nothing on a touchscreen
    # Technicians (and the demo) stop the screen with Ctrl-C; systemd restarts it on the kiosk.
    BINDINGS: ClassVar[list[BindingType]] = [Binding("ctrl+c", "quit", show=False, priority=True)]

    def __init__(
        self,
        socket_path: Path,
        language: str = DEFAULT_LANGUAGE,
        poll_interval: float = 1.0,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        super().__init__()
        self.socket_path = socket_path
        self.poll_interval = poll_interval
        self.now = clock  # "today", "yesterday" and due tasks are relative to it
        self.catalogue = Catalogue(language)
        self._status: StatusAnswer | None = None  # last good answer, kept while daemon is down
        self._daemon_ok: bool | None = None  # None until the first answer or failure
        self._render_lock = asyncio.Lock()  # the poller and the language button both re-render
        self._questionnaire: Questionnaire | None = None
        self._message: MessageView | None = None
        self._read_here: set[int] = set()  # read on this screen, before the daemon's next answer
        self._live: list[LiveSession] = []  # the daemon's device sessions (`live`), newest last
        self._closed_sessions: set[str] = set()  # sessions the patient closed: not shown again

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
        self.run_worker(self._follow_live(), name="live", group="live", exclusive=True)

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
            answer = await self._ask(MessageReadRequest(version=version), MessageReadAnswer)
        except DaemonUnavailable as exc:
            log.warning("message %d not marked read: %s", version, exc)
            return
        if isinstance(answer, Refusal):
            log.warning("message %d not marked read: %s", version, answer.error)
            return
        self._read_here.add(version)
        await self._render()

    async def _ask(
        self, req: Request, model: type[A], within_s: float = REQUEST_TIMEOUT
    ) -> A | Refusal:
        """The daemon's answer; DaemonUnavailable also when it does not answer in time."""
        try:
            async with asyncio.timeout(within_s):
                return await ask(self.socket_path, req, model)
        except TimeoutError:
            raise DaemonUnavailable(f"no answer to {req.op} within {within_s:g} s") from None

    def _take_questionnaire(self, status: StatusAnswer) -> None:
        """The care plan's questionnaire, or the last good one if the new one is broken."""
        try:
            found = questionnaire_for(status.care_plan, self.language)
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
            status = await self._ask(StatusRequest(), StatusAnswer)
        except DaemonUnavailable as exc:  # also an answer this screen cannot read
            if self._daemon_ok is not False:
                log.warning("%s", exc)
            self._daemon_ok = False
        else:
            if isinstance(status, StatusAnswer):
                self._status, self._daemon_ok = status, True
            else:
                log.warning("daemon refused status: %r", status.error)
                self._daemon_ok = False
        await self._render()

    async def _follow_live(self) -> None:
        """Long-poll the daemon's `live` state: a device connecting brings up the measuring
        screen at once, and its cuff pressure moves as the cuff sends it."""
        last: tuple[str | None, int | None] = (None, None)  # (boot, version) of the last answer
        while True:
            try:
                last = await self._follow_live_once(last)
            except Exception:
                # As the status poll: the patient's screen must outlive any bad answer.
                log.exception("live state could not be shown")
                last = (None, None)
                await asyncio.sleep(self.poll_interval)

    async def _follow_live_once(
        self, last: tuple[str | None, int | None]
    ) -> tuple[str | None, int | None]:
        boot, version = last
        req = LiveRequest(boot=boot, version=version, wait_s=LIVE_WAIT_S)
        answer: LiveAnswer | Refusal | None
        try:
            answer = await self._ask(req, LiveAnswer, LIVE_WAIT_S + 5)
        except DaemonUnavailable as exc:  # the status poll tells the patient
            log.debug("no live state: %s", exc)
            answer = None
        if isinstance(answer, Refusal):
            log.warning("daemon refused live: %r", answer.error)
        live = answer if isinstance(answer, LiveAnswer) else None
        self._live = [] if live is None else live.sessions
        if live is not None:  # a session the daemon no longer holds cannot come back
            self._closed_sessions &= {s.key for s in live.sessions}
        try:
            async with self._render_lock:
                await self._show_measuring()
        except NoMatches:
            log.debug("screen closed before the measuring screen was shown")
        if live is None:
            await asyncio.sleep(self.poll_interval)
            return None, None
        return live.boot, live.version

    def _measuring_screen(self) -> MeasuringScreen | None:
        return next((s for s in self.screen_stack if isinstance(s, MeasuringScreen)), None)

    async def _show_measuring(self) -> None:
        """Bring up, update or close the measuring screen for what the devices do now."""
        # A daemon that stopped answering knows nothing of its devices any more.
        sessions = self._live if self._daemon_ok is not False else []
        session = session_to_show(sessions, self._closed_sessions, self.now())
        screen = self._measuring_screen()
        if session is None:
            if screen is not None and screen is self.screen:
                screen.dismiss(None)  # gone by itself: not closed by the patient
            return
        view = measuring_view(session, self._status, self.now(), self.catalogue)
        done = self.catalogue.translate("measuring.done")
        if screen is not None:
            await screen.show(view, done)
            return
        await self.push_screen(MeasuringScreen(view, done), self._closed_measuring)

    def _closed_measuring(self, key: str | None) -> None:
        if key is not None:
            self._closed_sessions.add(key)

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
                shown = present_status(self._status, self.now(), cat)
                views, alarm = shown.readings, shown.alarm
            alarm_banner = self.query_one("#outbox-alarm", Text)
            alarm_banner.update(alarm)
            alarm_banner.display = bool(alarm)
            self._render_today(cat)
            try:
                await self._show_measuring()  # its sync state and language follow the status
            except NoMatches:
                raise
            except Exception:
                # A broken live session is not a daemon that stopped answering.
                log.exception("measuring screen could not be shown")
            no_readings = self.query_one("#no-readings", Text)
            no_readings.update(
                f"{cat.translate('readings.none')}\n\n{cat.translate('readings.none_hint')}"
            )
            # Before the first answer we do not know whether there are readings: say nothing.
            no_readings.display = self._status is not None and not views
            await self._show_cards(views)

    def _render_today(self, cat: Catalogue) -> None:
        status = self._status
        now = self.now()
        tasks = () if status is None else tasks_view(status, now, cat)
        due = "\n".join(t.text for t in tasks if t.state == "due")
        rest = "\n".join(t.text for t in tasks if t.state != "due")
        for selector, text in (("#tasks-due", due), ("#tasks-rest", rest)):
            widget = self.query_one(selector, Text)
            widget.update(text)
            widget.display = bool(text)
        self.query_one("#today").display = bool(tasks)
        message = None if status is None else newest_message(status)
        self._message = message
        unread = message is not None and not message.read and message.version not in self._read_here
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
