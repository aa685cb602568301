"""Technician mode's screens (issue 15): the PIN, the menu, the paired devices (forget one),
pairing a new device with its passkey on the keypad, and a test measurement.

They ask the daemon through `Technician` (the app's socket, language and clocks). Every touch
on them is told to `Technician.touched`, so the app leaves technician mode after IDLE_S
without one (hub/ui/technician.py). What they say is in the catalogues (`tech.*`); what the
daemon refuses (a device not found, say) is its own sentence, as `hub pair` prints it.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import ClassVar

from textual import events
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.screen import Screen
from textual.widgets import Digits

from hub.ipc import DaemonUnavailable
from hub.local_protocol import (
    A,
    Device,
    DevicesAnswer,
    DevicesRequest,
    ForgetAnswer,
    ForgetRequest,
    LiveSession,
    PairAnswer,
    PairRequest,
    Refusal,
    Request,
    StatusAnswer,
    TechnicianLockAnswer,
    TechnicianLockRequest,
    TechnicianUnlockAnswer,
    TechnicianUnlockRequest,
)
from hub.ui.i18n import Catalogue
from hub.ui.keypad import DIGITS, ERASE
from hub.ui.measuring import measuring_view
from hub.ui.notice_screen import NoticeScreen
from hub.ui.technician import (
    PAIR_SCAN_S,
    device_lines,
    paired_said,
    passkey_entry,
    passkey_ready,
    pin_entry,
    pin_ready,
    session_under_test,
    stored_said,
    unlock_said,
)
from hub.ui.touch import TouchButton, changed_under_the_finger
from hub.ui.widgets import Text, show_result

log = logging.getLogger(__name__)

KEY_ROWS = (DIGITS[:5], (*DIGITS[5:], ERASE))  # 1-5 / 6-9, 0, erase
ERASE_LABEL = "\N{ERASE TO THE LEFT}"
UNLOCK_WITHIN_S = 15.0  # scrypt in the daemon, on a busy Pi
LOCK_WITHIN_S = 5.0


@dataclass(frozen=True)
class Technician:
    """What technician mode's screens need of the app."""

    catalogue: Catalogue
    ask: Callable[[Request, type[A], float], Awaitable[A | Refusal]]
    now: Callable[[], datetime]
    hub_clock_synced: Callable[[], bool]
    touched: Callable[[], None]
    status: Callable[[], StatusAnswer | None]
    live: Callable[[], list[LiveSession]]  # the sessions the daemon follows now

    def t(self, key: str, **params: object) -> str:
        return self.catalogue.translate(key, **params)

    async def asked(self, req: Request, model: type[A], within_s: float) -> A | str:
        """The answer, or what to show instead: the daemon's refusal, or that it is down."""
        try:
            answer = await self.ask(req, model, within_s)
        except DaemonUnavailable as exc:
            log.warning("technician mode: %s: %s", req.op, exc)
            return self.t("tech.no_answer")
        if isinstance(answer, Refusal):
            if answer.error_kind == "needs_technician":  # the PIN's 5 minutes ran out
                log.warning("technician mode: %s refused: %s", req.op, answer.error)
                return self.t("tech.pin.again")
            return answer.error
        return answer

    async def lock(self) -> None:
        """Technician mode is left: the daemon ends the unlock the PIN gave this screen's user
        (`pair` and `forget` are refused again). If the daemon does not hear it, the unlock
        runs out by itself (hub/core/technician_unlock.py UNLOCK_S)."""
        answer = await self.asked(TechnicianLockRequest(), TechnicianLockAnswer, LOCK_WITHIN_S)
        if isinstance(answer, str):
            log.warning("technician mode: the daemon did not lock pairing again: %s", answer)


class TechnicianPart(Screen[None]):
    """A screen of technician mode: every touch keeps it open; Escape goes back."""

    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "back", show=False)]

    def __init__(self, tech: Technician, *, name: str) -> None:
        super().__init__(name=name, classes="notice technician")
        self.tech = tech

    def on_mouse_down(self, _: events.MouseDown) -> None:
        self.tech.touched()

    def on_key(self, _: events.Key) -> None:
        self.tech.touched()

    def action_back(self) -> None:
        self.dismiss(None)

    def keypad(self, prefix: str) -> ComposeResult:
        for keys in KEY_ROWS:
            with Horizontal(classes="key-row"):
                for key in keys:
                    label = ERASE_LABEL if key == ERASE else key
                    key_id = f"{prefix}-key-{'erase' if key == ERASE else key}"
                    yield TouchButton(label, id=key_id, classes="key")

    @staticmethod
    def key_of(button_id: str) -> str:
        tail = button_id.rsplit("-", 1)[-1]
        return ERASE if tail == "erase" else tail


class PinScreen(TechnicianPart):
    """The technician PIN on the keypad, shown as dots; checked by the daemon. Dismissed with
    None; `unlocked` says whether it opened technician mode."""

    def __init__(self, tech: Technician) -> None:
        super().__init__(tech, name="tech-pin")
        self.entry = pin_entry()
        self.unlocked = False

    def compose(self) -> ComposeResult:
        t = self.tech.t
        with Vertical(classes="n-body"):
            yield Text(t("tech.title"), id="tech-title", classes="n-title")
            yield Text(t("tech.pin.hint"), id="pin-said", classes="n-text")
            yield Text(self._typed(), id="pin-typed", classes="n-text")
        yield from self.keypad("pin")
        with Horizontal(classes="closing-band"):
            yield TouchButton(t("tech.back"), id="pin-back", classes="n-choice")
            yield TouchButton(t("tech.pin.ok"), id="pin-ok", classes="n-choice")
        yield Text("", classes="bottom-band")

    def on_mount(self) -> None:
        self._show()

    def _typed(self) -> str:
        return self.tech.t("tech.pin.typed", typed=self.entry.shown(hidden=True))

    def _show(self) -> None:
        self.query_one("#pin-typed", Text).update(self._typed())
        self.query_one("#pin-ok", TouchButton).disabled = not pin_ready(self.entry)

    async def on_button_pressed(self, event: TouchButton.Pressed) -> None:
        event.stop()
        self.tech.touched()
        pressed = event.button.id or ""
        if pressed == "pin-back":
            self.dismiss(None)
        elif pressed.startswith("pin-key-"):
            self.entry = self.entry.press(self.key_of(pressed))
            self._show()
        elif pressed == "pin-ok" and pin_ready(self.entry):
            await self._try()

    async def _try(self) -> None:
        pin, self.entry = self.entry.typed, pin_entry()  # gone from the screen at once
        self._show()
        said = self.query_one("#pin-said", Text)
        answer = await self.tech.asked(
            TechnicianUnlockRequest(pin=pin), TechnicianUnlockAnswer, UNLOCK_WITHIN_S
        )
        if isinstance(answer, str):
            refused = answer.startswith("no technician PIN")
            said.update(self.tech.t("tech.pin.unavailable") if refused else answer)
        elif answer.unlocked:
            self.unlocked = True
            self.dismiss(None)
            return
        else:
            # The journal's line for the technician; never the PIN.
            log.warning(
                "technician mode: a wrong PIN (%d tries left, locked for %.0f s)",
                answer.tries_left,
                answer.locked_for_s,
            )
            said.update(unlock_said(answer, self.tech.catalogue))
        said.add_class("warning")
        changed_under_the_finger(self.app)


class TechnicianScreen(TechnicianPart):
    """Technician mode's menu: how many devices are paired, and what to do."""

    def __init__(self, tech: Technician) -> None:
        super().__init__(tech, name="tech-menu")

    def compose(self) -> ComposeResult:
        t = self.tech.t
        with Vertical(classes="n-body"):
            yield Text(t("tech.title"), id="tech-title", classes="n-title")
            yield Text("", id="tech-summary", classes="n-text")
        with Vertical(id="tech-menu"):
            with Horizontal(classes="tech-row"):
                yield TouchButton(t("tech.menu.devices"), id="tech-devices")
                yield TouchButton(t("tech.menu.pair"), id="tech-pair")
            with Horizontal(classes="tech-row"):
                yield TouchButton(t("tech.menu.test"), id="tech-test")
                yield TouchButton(t("tech.menu.leave"), id="tech-leave")

    async def on_mount(self) -> None:
        await self.refresh_summary()

    def on_unmount(self) -> None:
        """Technician mode left (its button, Escape, or untouched for IDLE_S): pairing and
        forgetting are locked again at once, not only when the unlock runs out. On the app's
        loop: this screen's own workers end with it."""
        if self.app.is_running:
            self.app.run_worker(self.tech.lock(), name="technician lock", exit_on_error=False)

    async def on_screen_resume(self) -> None:
        await self.refresh_summary()  # back from pairing or forgetting: the count changed

    async def refresh_summary(self) -> None:
        answer = await self.tech.asked(DevicesRequest(), DevicesAnswer, 10)
        if isinstance(answer, str):
            said = answer
        elif answer.devices:
            said = self.tech.t("tech.devices.count", count=len(answer.devices))
        else:
            said = self.tech.t("tech.devices.none")
        self.query_one("#tech-summary", Text).update(said)

    async def on_button_pressed(self, event: TouchButton.Pressed) -> None:
        event.stop()
        self.tech.touched()
        pressed = event.button.id
        if pressed == "tech-leave":
            self.dismiss(None)
        elif pressed == "tech-devices":
            await self.app.push_screen(DevicesScreen(self.tech))
        elif pressed == "tech-pair":
            await self.app.push_screen(PairScreen(self.tech))
        elif pressed == "tech-test":
            await self.app.push_screen(TrialMeasurementScreen(self.tech, self.tech.live()))


class DevicesScreen(TechnicianPart):
    """The paired devices, one at a time (50x15 has room for one), with "forget"."""

    def __init__(self, tech: Technician) -> None:
        super().__init__(tech, name="tech-devices")
        self.devices: list[Device] = []
        self.at = 0

    def compose(self) -> ComposeResult:
        t = self.tech.t
        with Vertical(classes="n-body"):
            yield Text(t("tech.menu.devices"), id="dev-title", classes="n-title")
            yield Text("", id="dev-lines", classes="n-text")
            yield Text("", id="dev-said", classes="n-text")
        with Horizontal(classes="closing-band"):
            yield TouchButton("\N{BLACK LEFT-POINTING TRIANGLE}", id="dev-prev", classes="n-choice")
            yield TouchButton(
                "\N{BLACK RIGHT-POINTING TRIANGLE}", id="dev-next", classes="n-choice"
            )
            yield TouchButton(t("tech.forget.button"), id="dev-forget", classes="n-choice")
            yield TouchButton(t("tech.back"), id="dev-back", classes="n-choice")
        yield Text("", classes="bottom-band")

    async def on_mount(self) -> None:
        await self.load()

    async def load(self, said: str = "") -> None:
        answer = await self.tech.asked(DevicesRequest(), DevicesAnswer, 10)
        if isinstance(answer, str):
            self.devices, said = [], answer
        else:
            self.devices = answer.devices
        self.at = min(self.at, max(0, len(self.devices) - 1))
        self.query_one("#dev-said", Text).update(said)
        self._show()

    def _show(self) -> None:
        t, devices = self.tech.t, self.devices
        title = self.query_one("#dev-title", Text)
        lines = self.query_one("#dev-lines", Text)
        if not devices:
            title.update(t("tech.menu.devices"))
            lines.update(t("tech.devices.none"))
        else:
            device = devices[self.at]
            title.update(t("tech.devices.which", n=self.at + 1, of=len(devices)))
            lines.update("\n".join(device_lines(device, self.tech.now(), self.tech.catalogue)))
        self.query_one("#dev-prev", TouchButton).disabled = self.at == 0
        self.query_one("#dev-next", TouchButton).disabled = self.at >= len(devices) - 1
        self.query_one("#dev-forget", TouchButton).disabled = not devices

    async def on_button_pressed(self, event: TouchButton.Pressed) -> None:
        event.stop()
        self.tech.touched()
        pressed = event.button.id
        if pressed == "dev-back":
            self.dismiss(None)
        elif pressed in ("dev-prev", "dev-next"):
            self.at += -1 if pressed == "dev-prev" else 1
            self.at = max(0, min(self.at, len(self.devices) - 1))
            self.query_one("#dev-said", Text).update("")
            self._show()
            changed_under_the_finger(self.app)
        elif pressed == "dev-forget" and self.devices:
            await self._ask_forget(self.devices[self.at])

    async def _ask_forget(self, device: Device) -> None:
        t = self.tech.t
        name = device_lines(device, self.tech.now(), self.tech.catalogue)[0]
        choices = [
            ("tech-forget-no", t("tech.forget.no")),
            ("tech-forget-yes", t("tech.forget.yes")),
        ]
        notice = NoticeScreen(
            t("tech.forget.title"),
            t("tech.forget.ask", name=name, address=device.address),
            choices,
            name="tech-forget",
        )

        async def chosen(choice: str | None) -> None:
            self.tech.touched()
            if choice == "tech-forget-yes":
                await self._forget(device.address)

        await self.app.push_screen(notice, chosen)

    async def _forget(self, address: str) -> None:
        answer = await self.tech.asked(ForgetRequest(address=address), ForgetAnswer, 30)
        if isinstance(answer, str):
            await self.load(self.tech.t("tech.forget.failed", error=answer))
            return
        log.info("technician mode: %s forgotten", answer.address)
        await self.load(self.tech.t("tech.forget.done", address=answer.address))


class PairScreen(TechnicianPart):
    """Pair a new device: its passkey (if it shows one) on the keypad, then `pair`, as
    `hub pair`; the result with the device-clock sentence."""

    def __init__(self, tech: Technician) -> None:
        super().__init__(tech, name="tech-pair")
        self.entry = passkey_entry()
        self.pairing = False

    def compose(self) -> ComposeResult:
        t = self.tech.t
        with Vertical(classes="n-body"):
            yield Text(t("tech.menu.pair"), id="pair-title", classes="n-title")
            yield Text(t("tech.pair.hint"), id="pair-said", classes="n-text")
            yield Text("", id="pair-code", classes="n-text")
        with Vertical(id="pair-keypad"):
            yield from self.keypad("pair")
        with Horizontal(classes="closing-band"):
            yield TouchButton(t("tech.back"), id="pair-back", classes="n-choice")
            yield TouchButton(t("tech.pair.start"), id="pair-start", classes="n-choice")
        yield Text("", classes="bottom-band")

    def on_mount(self) -> None:
        self._show()

    def _show(self) -> None:
        typed = self.entry.shown(hidden=False)
        code = self.tech.t("tech.pair.code", typed=typed) if typed else ""
        self.query_one("#pair-code", Text).update(code)
        self.query_one("#pair-start", TouchButton).disabled = self.pairing or not passkey_ready(
            self.entry
        )
        self.query_one("#pair-keypad").display = not self.pairing

    async def on_button_pressed(self, event: TouchButton.Pressed) -> None:
        event.stop()
        self.tech.touched()
        pressed = event.button.id or ""
        if pressed == "pair-back":
            self.dismiss(None)
        elif pressed.startswith("pair-key-") and not self.pairing:
            self.entry = self.entry.press(self.key_of(pressed))
            self._show()
        elif pressed == "pair-start" and not self.pairing and passkey_ready(self.entry):
            self.run_worker(self._pair(), group="pair", exclusive=True)

    async def _pair(self) -> None:
        t, said = self.tech.t, self.query_one("#pair-said", Text)
        passkey = int(self.entry.typed) if self.entry.typed else None
        self.pairing = True
        said.update(t("tech.pair.searching", seconds=round(PAIR_SCAN_S)))
        self._show()
        req = PairRequest(passkey=passkey, scan_s=PAIR_SCAN_S)
        try:
            answer = await self.tech.asked(req, PairAnswer, PAIR_SCAN_S + 30)
        finally:
            self.pairing = False
            self.entry = passkey_entry()
        self.tech.touched()  # the search took a while: the technician is still here
        if isinstance(answer, str):
            said.update(t("tech.pair.failed", error=answer))
        else:
            log.info("technician mode: %s paired", answer.device.address)
            now, synced = self.tech.now(), self.tech.hub_clock_synced()
            said.update(paired_said(answer.device, synced, now, self.tech.catalogue))
        self._show()
        changed_under_the_finger(self.app)


class TrialMeasurementScreen(TechnicianPart):
    """A test measurement: the next device session the daemon follows (`live`), its progress
    and its result, and that it was stored as a normal reading (it goes to the centre)."""

    def __init__(self, tech: Technician, live_now: list[LiveSession]) -> None:
        super().__init__(tech, name="tech-test")
        self.before = frozenset(s.key for s in live_now)  # not this test's
        self.session: LiveSession | None = None

    def compose(self) -> ComposeResult:
        t = self.tech.t
        with Vertical(classes="n-body"):
            yield Text(t("tech.menu.test"), id="test-title", classes="n-title")
            yield Text(t("tech.test.wait"), id="test-said", classes="n-text")
            yield Digits("", id="test-progress")
            with Vertical(id="test-result"):
                pass
        with Horizontal(classes="closing-band"):
            yield TouchButton(t("tech.back"), id="test-back", classes="n-choice")
        yield Text("", classes="bottom-band")

    def on_mount(self) -> None:
        self.query_one("#test-progress").display = False

    async def show_sessions(self, sessions: list[LiveSession]) -> None:
        """What the daemon's devices do now (the app's `live` follower calls it, and its
        status poll, which knows when the reading has reached the centre)."""
        session = session_under_test(sessions, self.before)
        if session is None:
            return
        if self.session is None or session.key != self.session.key:
            changed_under_the_finger(self.app)
        self.session = session
        cat = self.tech.catalogue
        view = measuring_view(session, self.tech.status(), self.tech.now(), cat)
        title = f"{cat.translate('tech.menu.test')}: {view.title}"
        self.query_one("#test-title", Text).update(title)
        stored = stored_said(session, cat)
        self.query_one("#test-said", Text).update(stored or view.hint)
        progress = self.query_one("#test-progress", Digits)
        progress.update(view.progress or "")
        progress.display = view.progress is not None and view.result is None
        await show_result(self.query_one("#test-result", Vertical), view.result)

    def on_button_pressed(self, event: TouchButton.Pressed) -> None:
        event.stop()
        self.tech.touched()
        if event.button.id == "test-back":
            self.dismiss(None)
