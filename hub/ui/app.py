"""The patient's touchscreen: the latest measurements in large digits and whether they were sent.

A separate process from the hub daemon; it only asks the daemon for its status over the local
socket, so a crash or restart of either side never loses a measurement.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, date, datetime
from pathlib import Path
from typing import ClassVar

from textual import events
from textual.app import App, ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.css.query import NoMatches
from textual.screen import Screen

from hub.ipc import DaemonUnavailable, ask
from hub.local_protocol import (
    A,
    CallMeAnswer,
    CallMeRequest,
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
from hub.ui.home import (
    QUESTIONNAIRE,
    TODAY_PAGE,
    NextAction,
    call_line,
    next_action,
    page_after,
    standing,
)
from hub.ui.i18n import DEFAULT_LANGUAGE, Catalogue, other_language
from hub.ui.measuring import measuring_view, needs_nurse_now, session_to_show
from hub.ui.measuring_screen import MeasuringScreen
from hub.ui.notice_screen import NoticeScreen
from hub.ui.present import OSLO, ReadingView, centre_phone, present_status
from hub.ui.questionnaire_screen import QuestionnaireScreen, Unsent
from hub.ui.technician import idle_for, knocked
from hub.ui.technician_screen import (
    PinScreen,
    Technician,
    TechnicianPart,
    TechnicianScreen,
    TrialMeasurementScreen,
)
from hub.ui.today import MessageView, TaskView, newest_message, tasks_view
from hub.ui.touch import TapPause, TouchButton
from hub.ui.widgets import ReadingCard, Text

log = logging.getLogger(__name__)

REQUEST_TIMEOUT = 3.0
LIVE_WAIT_S = 20.0  # the daemon holds a `live` request this long when nothing happens
KNOCK_TARGETS = ("standing", "call-state")  # the sentence under the top band: no button
IDLE_CHECK_S = 1.0


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
        *,
        technician: bool = False,
        hub_clock_synced: Callable[[], bool] = lambda: True,
        technician_clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__()
        # 50x15 (the kiosk's 16x32 font) takes 2-row buttons; 24 rows and more take 3.
        self.VERTICAL_BREAKPOINTS = [(0, "-short"), (20, "-tall")]
        self.socket_path = socket_path
        self.poll_interval = poll_interval
        self.now = clock  # "today", "yesterday" and due tasks are relative to it
        self.catalogue = Catalogue(language)
        self.tap_pause = TapPause()  # hub.ui.touch: no tap is taken just after a screen change
        self._status: StatusAnswer | None = None  # last good answer, kept while daemon is down
        self._daemon_ok: bool | None = None  # None until the first answer or failure
        self._render_lock = asyncio.Lock()  # the poller and the language button both re-render
        self._questionnaire: Questionnaire | None = None
        self._message: MessageView | None = None
        self._read_here: set[int] = set()  # read on this screen, before the daemon's next answer
        self._shown_messages: set[int] = set()  # put on screen once; home has no message box
        self._shown_calls: set[str] = set()  # call requests whose answer was put on screen
        self._live: list[LiveSession] = []  # the daemon's device sessions (`live`), newest last
        # Sessions the patient closed, with the results they had then: not shown again unless
        # they store another.
        self._closed_sessions: dict[str, int] = {}
        self._held_sessions: set[str] = set()  # waiting for the questionnaire to end
        self._next: NextAction | None = None
        self._page: str | None = None  # the page of home shown: TODAY_PAGE or a card's slug
        self._pages: list[str] = []
        self._saved_walk: tuple[date, Walk] | None = None  # a questionnaire left for later today
        self._unsent: Unsent | None = None  # its finished answers the daemon did not take
        # Technician mode (hub/ui/technician.py): offered only when the hub has a PIN.
        self._technician = technician
        self._hub_clock_synced = hub_clock_synced
        self._technician_clock = technician_clock
        self._knocks: tuple[float, ...] = ()
        self._touched_at = technician_clock()

    @property
    def language(self) -> str:
        return self.catalogue.language

    def compose(self) -> ComposeResult:
        yield TouchButton("", id="next-action", classes="top-band")
        yield Text(id="standing")
        yield Text(id="call-state")
        with Vertical(id="page"):
            with Vertical(id="today"):
                yield Text(id="tasks-title", classes="card-title")
                yield Text(id="tasks-due")
                yield Text(id="tasks-rest")
            yield Text(id="no-readings")
        with Horizontal(id="footer"):
            yield TouchButton("\N{BLACK LEFT-POINTING TRIANGLE}", id="page-prev", classes="pager")
            yield TouchButton("\N{BLACK RIGHT-POINTING TRIANGLE}", id="page-next", classes="pager")
            yield TouchButton("", id="call-me")
            yield TouchButton("", id="lang-toggle")

    async def on_mount(self) -> None:
        self.screen_change_signal.subscribe(self, lambda _: self.tap_pause.screen_changed())
        await self._render()
        self.run_worker(self._poll_forever(), name="poll", group="poll", exclusive=True)
        self.run_worker(self._follow_live(), name="live", group="live", exclusive=True)
        if self._technician:
            self.set_interval(IDLE_CHECK_S, self._leave_technician_if_idle)

    async def on_button_pressed(self, event: TouchButton.Pressed) -> None:
        pressed = event.button.id
        if pressed == "lang-toggle":
            self.catalogue = Catalogue(other_language(self.language))
            self.tap_pause.screen_changed()  # every word changed under the finger
            await self._render()
        elif pressed in ("page-prev", "page-next"):
            self._page = page_after(self._pages, self._page, -1 if pressed == "page-prev" else 1)
            self.tap_pause.screen_changed()
            await self._render()
        elif pressed == "next-action" and self._next is not None:
            await self._do_next(self._next)
        elif pressed == "call-me":
            await self._offer_call()

    async def on_click(self, event: events.Click) -> None:
        """Five taps on the sentence under the top band, on home, ask for the technician PIN."""
        if not self._technician or len(self.screen_stack) > 1:
            return
        if event.widget is None or event.widget.id not in KNOCK_TARGETS:
            return
        self._knocks, opened = knocked(self._knocks, self._technician_clock())
        if opened:
            self.technician_touched()
            pin = PinScreen(self._technician_context())
            await self.push_screen(pin, lambda _: self._pin_closed(pin))

    def technician_touched(self) -> None:
        self._touched_at = self._technician_clock()

    def _technician_context(self) -> Technician:
        return Technician(
            catalogue=self.catalogue,
            ask=self._ask,
            now=self.now,
            hub_clock_synced=self._hub_clock_synced,
            touched=self.technician_touched,
            status=lambda: self._status,
            live=lambda: list(self._live),
        )

    async def _pin_closed(self, pin: PinScreen) -> None:
        if pin.unlocked:
            log.info("technician mode opened")
            await self.push_screen(TechnicianScreen(self._technician_context()), self._left)

    def _in_technician_mode(self) -> bool:
        return any(isinstance(s, TechnicianPart) for s in self.screen_stack)

    def _left(self, _: None) -> None:
        """Technician mode closed: what its test measurements showed is not brought up again
        on the patient's measuring screen."""
        log.info("technician mode left")
        for session in self._live:
            self._closed_sessions[session.key] = len(session.results)

    async def _leave_technician_if_idle(self) -> None:
        if not self._in_technician_mode():
            return
        if not idle_for(self._touched_at, self._technician_clock()):
            return
        log.info("technician mode: no touch for a while, back to the patient's screen")
        while len(self.screen_stack) > 1 and (
            isinstance(self.screen, TechnicianPart) or (self.screen.name or "").startswith("tech-")
        ):
            await self.screen.dismiss(None)  # closed, its callback run, before the next

    async def _do_next(self, action: NextAction) -> None:
        if action.kind == QUESTIONNAIRE:
            await self._start_questionnaire()
            return
        cat = self.catalogue
        key = f"howto.{action.kind}"
        title = cat.translate(
            f"kind.{action.kind}" if cat.has(f"kind.{action.kind}") else "kind.unknown"
        )
        text = cat.translate(key if cat.has(key) else "howto.measure")
        await self.push_screen(
            NoticeScreen(title, text, [("howto-back", cat.translate("howto.back"))], name="howto")
        )

    async def _start_questionnaire(self) -> None:
        if self._questionnaire is None:
            return
        walk = Walk(self._questionnaire)
        saved = self._saved_walk
        canonical = walk.questionnaire.canonical
        if (
            saved is not None
            and saved[1].questionnaire.canonical == canonical
            and (saved[0] == self._today())
        ):
            # Left earlier today: on from where the patient stopped, in the language now shown.
            walk = replace(saved[1], questionnaire=walk.questionnaire)
        unsent = self._unsent if walk.finished else None
        screen = QuestionnaireScreen(walk, self.catalogue, self.socket_path, unsent)
        await self.push_screen(screen, lambda sent: self._questionnaire_closed(screen, sent))

    def _questionnaire_closed(self, screen: QuestionnaireScreen, sent: bool | None) -> None:
        self._saved_walk = None if sent else (self._today(), screen.walk)
        self._unsent = None if sent else screen.unsent
        self.call_later(self._render)  # a measurement held back meanwhile is shown now

    def _today(self) -> date:
        return self.now().astimezone(OSLO).date()

    async def _offer_call(self) -> None:
        cat = self.catalogue
        choices = [("call-no", cat.translate("call.no")), ("call-yes", cat.translate("call.yes"))]
        notice = NoticeScreen(
            cat.translate("call.title"), cat.translate("call.ask"), choices, name="call"
        )
        await self.push_screen(notice, self._call_chosen)

    async def _call_chosen(self, choice: str | None) -> None:
        if choice != "call-yes":
            return
        request = CallMeRequest(request_id=str(uuid.uuid4()))
        try:
            answer = await self._ask(request, CallMeAnswer)
        except DaemonUnavailable as exc:
            answer = Refusal(error=str(exc))
        if isinstance(answer, Refusal):
            log.warning("call request not taken: %s", answer.error)
            await self._say_call_failed()
            return
        log.info("the patient asked to be called (%s)", answer.call_request.request_id)
        await self.poll_once()  # home says at once that the nurse has been asked

    async def _say_call_failed(self) -> None:
        cat = self.catalogue
        phone = centre_phone(self._status)
        text = (
            cat.translate("call.failed_phone", phone=phone)
            if phone
            else cat.translate("call.failed")
        )
        ok = [("call-failed-ok", cat.translate("q.ok"))]
        await self.push_screen(
            NoticeScreen(cat.translate("call.title"), text, ok, name="call-failed")
        )

    def _show_call_answer(self) -> None:
        """The nurse's "I am calling you" on a screen of its own, once, over home only."""
        call = None if self._status is None else self._status.call_request
        if call is None or call.state != "acknowledged" or call.request_id is None:
            return
        if call.request_id in self._shown_calls or len(self.screen_stack) > 1:
            return
        if not call_line(call, self.now(), self.catalogue):
            return  # answered long ago: not news
        self._shown_calls.add(call.request_id)
        cat = self.catalogue
        ok = [("call-answer-ok", cat.translate("q.ok"))]
        text = cat.translate("call.acknowledged")
        self.push_screen(NoticeScreen(cat.translate("call.title"), text, ok, name="call-answer"))

    def _show_message(self) -> None:
        """The nurse's newest unread message on its own screen, once, over home only."""
        message = self._message
        if message is None or message.read or message.version in self._read_here:
            return
        if message.version in self._shown_messages or len(self.screen_stack) > 1:
            return
        self._shown_messages.add(message.version)
        cat = self.catalogue
        button = [("message-read", cat.translate("message.read"))]
        notice = NoticeScreen(cat.translate("message.title"), message.text, button, name="message")
        version = message.version

        async def closed(choice: str | None) -> None:
            if choice != "message-read" or not await self._mark_read(version):
                # Not read, or the daemon did not take it: shown again, and no receipt yet.
                self._shown_messages.discard(version)

        self.push_screen(notice, closed)

    async def _mark_read(self, version: int) -> bool:
        """Tell the daemon (which sends the centre a receipt); the next poll shows it read."""
        try:
            answer = await self._ask(MessageReadRequest(version=version), MessageReadAnswer)
        except DaemonUnavailable as exc:
            log.warning("message %d not marked read: %s", version, exc)
            return False
        if isinstance(answer, Refusal):
            log.warning("message %d not marked read: %s", version, answer.error)
            return False
        self._read_here.add(version)
        await self._render()
        return True

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
            held = {s.key for s in live.sessions}
            self._closed_sessions = {k: n for k, n in self._closed_sessions.items() if k in held}
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

    def _answering(self) -> bool:
        """The patient is in the questionnaire (or deciding whether to leave it)."""
        return any(isinstance(s, QuestionnaireScreen) for s in self.screen_stack)

    async def _show_measuring(self) -> None:
        """Bring up, update or close the measuring screen for what the devices do now.

        During the questionnaire a measurement waits until it ends, unless the value is
        beyond the care plan's limits: then the patient is told at once."""
        # A daemon that stopped answering knows nothing of its devices any more.
        sessions = self._live if self._daemon_ok is not False else []
        if self._in_technician_mode():
            # Not the patient's measuring screen over technician mode: its test screen shows it.
            if isinstance(self.screen, TrialMeasurementScreen):
                await self.screen.show_sessions(sessions)
            return
        screen = self._measuring_screen()
        showing = None if screen is None else screen.view.key
        closed, held = self._closed_sessions, self._held_sessions
        session = session_to_show(sessions, closed, self.now(), held, showing)
        if session is None:
            if screen is not None and screen is self.screen:
                screen.dismiss(None)  # gone by itself: not closed by the patient
            return
        if screen is None and self._answering() and not needs_nurse_now(session):
            self._held_sessions.add(session.key)
            return
        view = measuring_view(session, self._status, self.now(), self.catalogue)
        done = self.catalogue.translate("measuring.done")
        if screen is not None:
            await screen.show(view, done)
            return
        if isinstance(self.screen, NoticeScreen) and self.screen.name == "howto":
            self.screen.dismiss(None)  # the instruction is done with: the device is measuring
        await self.push_screen(MeasuringScreen(view, done), self._closed_measuring)

    def _closed_measuring(self, closed: tuple[str, int] | None) -> None:
        if closed is not None:
            key, seen = closed
            self._closed_sessions[key] = seen
            self._held_sessions.discard(key)

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
            if not self.screen_stack:
                return  # the app is closing
            home = self.screen_stack[0]
            home.query_one("#lang-toggle", TouchButton).label = cat.translate("lang.toggle")
            home.query_one("#call-me", TouchButton).label = cat.translate("call.button")
            if self._status is not None:
                self._take_questionnaire(self._status)  # in the language now chosen
            now = self.now()
            tasks = () if self._status is None else tasks_view(self._status, now, cat)
            self._render_next(home, tasks, cat)
            said = standing(self._status, self._daemon_ok, now, cat)
            sentence = home.query_one("#standing", Text)
            sentence.update(said.text)
            sentence.set_class(said.warning, "warning")
            # One sentence: where "Ring meg" stands, unless something needs saying more.
            status = self._status
            phone = centre_phone(status)
            asked = (
                ""
                if status is None
                else call_line(status.call_request, now, cat, phone, status.broker_connected)
            )
            call = home.query_one("#call-state", Text)
            call.update(asked)
            call.display = bool(asked)
            sentence.display = said.warning or not asked
            views: tuple[ReadingView, ...] = ()
            if self._status is not None:
                views = present_status(self._status, now, cat).readings
            self._render_today(home, tasks, cat)
            try:
                await self._show_measuring()  # its sync state and language follow the status
            except NoMatches:
                raise
            except Exception:
                # A broken live session is not a daemon that stopped answering.
                log.exception("measuring screen could not be shown")
            no_readings = home.query_one("#no-readings", Text)
            # "Ingen målinger ennå" is the sentence above already: here only what comes.
            no_readings.update(cat.translate("readings.none_hint"))
            # Before the first answer we do not know whether there are readings: say nothing.
            no_readings.display = self._status is not None and not views
            await self._show_cards(home, views, bool(tasks))
            self._show_message()
            self._show_call_answer()

    def _render_next(
        self, home: Screen[object], tasks: tuple[TaskView, ...], cat: Catalogue
    ) -> None:
        saved = self._saved_walk
        resumable = saved is not None and saved[0] == self._today()
        action = next_action(tasks, self._questionnaire is not None, resumable, cat, self.now())
        button = home.query_one("#next-action", TouchButton)
        if action != self._next and self.screen is home:
            # Another action under the same finger. Not when a screen over home hides it: a tap
            # on that screen's button was ignored because home changed underneath.
            self.tap_pause.screen_changed()
        self._next = action
        button.label = action.label if action is not None else ""
        button.display = action is not None

    def _render_today(
        self, home: Screen[object], tasks: tuple[TaskView, ...], cat: Catalogue
    ) -> None:
        due = "\n".join(t.text for t in tasks if t.state == "due")
        rest = "\n".join(t.text for t in tasks if t.state != "due")
        home.query_one("#tasks-title", Text).update(cat.translate("tasks.title"))
        for selector, text in (("#tasks-due", due), ("#tasks-rest", rest)):
            widget = home.query_one(selector, Text)
            widget.update(text)
            widget.display = bool(text)
        status = self._status
        self._message = None if status is None else newest_message(status)

    async def _show_cards(
        self, home: Screen[object], views: tuple[ReadingView, ...], today: bool
    ) -> None:
        """Home shows one page at a time: today's tasks, then a reading of each kind."""
        page = home.query_one("#page", Vertical)
        cards = list(page.query(ReadingCard))
        if [card.id for card in cards] == [f"{v.slug}-card" for v in views]:
            for card, view in zip(cards, views, strict=True):
                card.show(view)
        else:
            # A new kind or a new order (newest first): rebuild, once per new measurement.
            await page.remove_children(ReadingCard)
            await page.mount_all(ReadingCard(view) for view in views)
        self._pages = ([TODAY_PAGE] if today else []) + [v.slug for v in views]
        if self._page not in self._pages:
            self._page = self._pages[0] if self._pages else None
        home.query_one("#today").display = self._page == TODAY_PAGE
        for card in page.query(ReadingCard):
            card.display = card.id == f"{self._page}-card"
        at = self._pages.index(self._page) if self._page in self._pages else 0
        # Always in their place, hidden when there is nowhere to go: "Ring meg" never moves.
        home.query_one("#page-prev", TouchButton).disabled = at == 0
        home.query_one("#page-next", TouchButton).disabled = at >= len(self._pages) - 1


def run(
    socket_path: Path,
    language: str,
    *,
    technician: bool = False,
    hub_clock_synced: Callable[[], bool] = lambda: True,
) -> None:
    """Run the patient's screen in the current terminal until it is closed; `technician`:
    the hub has a technician PIN, so the screen offers technician mode."""
    PatientScreenApp(
        socket_path, language, technician=technician, hub_clock_synced=hub_clock_synced
    ).run()
