"""Technician mode on the touchscreen (issue 15), against the real daemon (`hub run`) with an
emulated cuff on BlueZoo: the PIN set with `hub set-technician-pin`, five taps and the PIN on
the keypad, pairing with the device-clock sentence, a test measurement stored as a normal
reading, the device list, forgetting; and the hostile side: wrong PINs, the lockout (kept by
the daemon across a restart of the screen, and in its store across its own restart), what is
no PIN, tries sent at once, a hub without a PIN, the PIN never in a log; every button
finger-sized; leaving by itself after five minutes.

The rules alone (hashing, the lockout state machine, the words): test_technician_mode_logic.py.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import subprocess
import sys
from collections.abc import Callable, Iterator
from functools import partial
from pathlib import Path
from typing import Any

import pytest
from textual.pilot import Pilot
from textual.screen import Screen
from textual.widgets import Button

from hub.clock import hub_clock_synchronised
from hub.config import load_config
from hub.core.technician_pin import LOCK_S, MAX_FAILURES
from hub.local_protocol import Refusal
from hub.ui.app import PatientScreenApp
from hub.ui.technician import IDLE_S, KNOCKS
from hub.ui.technician_screen import (
    DevicesScreen,
    PairScreen,
    PinScreen,
    TechnicianPart,
    TechnicianScreen,
    TrialMeasurementScreen,
)
from testbed.bluetooth import DEVICE_ADAPTERS
from testbed.home import SimulatedHome
from testbed.peripherals.cuff import EmulatedCuff
from tests.conftest import devices, hub_log, readings
from tests.test_touch_targets import FINGER_MM, PANEL_MM
from tests.ui_support import screen_text, shown, tap, wait_until

PIN = "739146"
CUFF = DEVICE_ADAPTERS["hci1"]
SIZES = {"kiosk": (50, 15), "80x24": (80, 24), "100x30": (100, 30)}


def set_pin(home: SimulatedHome, pin: str = PIN) -> None:
    """What the technician does once, on the hub: `hub set-technician-pin` (stdin: a script)."""
    done = subprocess.run(
        [sys.executable, "-m", "hub.cli", "--config", str(home.hub_config), "set-technician-pin"],
        input=pin + "\n",
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert pin not in done.stderr + done.stdout


class Clock:
    """Technician mode's monotonic clock, moved by the test (the idle timeout)."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def screen_app(home: SimulatedHome, clock: Clock | None = None, **kwargs: Any) -> PatientScreenApp:
    """The patient screen as `hub ui` starts it for this home's config."""
    config = load_config(home.hub_config)
    return PatientScreenApp(
        config.socket_path,
        kwargs.pop("language", "nb"),
        poll_interval=0.2,
        technician=config.technician_pin is not None,
        hub_clock_synced=partial(hub_clock_synchronised, config.clock.source),
        technician_clock=clock or Clock(),
        **kwargs,
    )


async def knock(pilot: Pilot[None]) -> None:
    """Five taps on the sentence under the top band."""
    app = pilot.app
    await wait_until(pilot, lambda: bool(shown(app, "#standing")), "the sentence on home")
    for _ in range(KNOCKS):
        assert await pilot.click("#standing")


async def tap_to(
    pilot: Pilot[None], selector: str, condition: Callable[[], bool], what: str
) -> None:
    """Tap until `condition` holds: a tap that lands just as a screen changes is ignored on
    purpose (hub/ui/touch.py), and a technician taps again, as this does (three times)."""
    loop = asyncio.get_running_loop()
    for _ in range(3):
        await tap(pilot, selector)
        deadline = loop.time() + 2.0
        while loop.time() < deadline:
            if condition():
                return
            await pilot.pause(0.05)
    pytest.fail(f"tapped {selector} three times, still no {what}:\n{screen_text(pilot.app)}")


def on_top(app: Any, kind: type[Screen[Any]]) -> Callable[[], bool]:
    return lambda: isinstance(app.screen, kind)


async def type_digits(pilot: Pilot[None], digits: str) -> None:
    """Each digit on the PIN keypad, tapped again if the screen let it pass: a screen just
    shown ignores taps for a moment (hub/ui/touch.py), and says so only after it is drawn."""
    screen = pilot.app.screen
    assert isinstance(screen, PinScreen)
    for digit in digits:
        typed = len(screen.entry.typed)
        for _ in range(3):
            await tap(pilot, f"#pin-key-{digit}")
            if len(screen.entry.typed) > typed:
                break
        else:
            pytest.fail(f"the key {digit} was not taken")


async def type_pin(pilot: Pilot[None], pin: str) -> None:
    await type_digits(pilot, pin)
    screen = pilot.app.screen
    assert isinstance(screen, PinScreen)
    # Taken: the entry is emptied at once, whatever the daemon then answers.
    await tap_to(pilot, "#pin-ok", lambda: not screen.entry.typed, "PIN sent")


async def unlock(pilot: Pilot[None], pin: str = PIN) -> None:
    await knock(pilot)
    await wait_until(pilot, lambda: isinstance(pilot.app.screen, PinScreen), "the PIN screen")
    await type_pin(pilot, pin)
    await wait_until(
        pilot, lambda: isinstance(pilot.app.screen, TechnicianScreen), "technician mode"
    )


@pytest.fixture
def pinned_home(home: SimulatedHome) -> Iterator[SimulatedHome]:
    set_pin(home)
    home.start_hub()
    yield home


# --- what a technician does ----------------------------------------------------------------


async def test_pair_test_measure_list_and_forget_from_the_touchscreen(
    pinned_home: SimulatedHome,
) -> None:
    home = pinned_home
    cuff = EmulatedCuff()
    await cuff.start()  # advertising, not yet paired: what pairing mode is to the hub
    app = screen_app(home)
    try:
        async with app.run_test(size=(50, 15)) as pilot:
            await unlock(pilot)
            await wait_until(
                pilot, lambda: "Ingen enheter" in shown(app, "#tech-summary"), "no devices yet"
            )
            # Pair: no passkey (the cuff shows none), then the CLI's result with the clock.
            await tap_to(pilot, "#tech-pair", on_top(app, PairScreen), "pairing")
            searching = partial(lambda: "Leter" in shown(app, "#pair-said"))
            await tap_to(pilot, "#pair-start", searching, "searching")
            loop = asyncio.get_running_loop()
            deadline = loop.time() + 90
            while "Koblet til:" not in shown(app, "#pair-said"):
                assert loop.time() < deadline, screen_text(app)
                assert "Ikke koblet" not in shown(app, "#pair-said"), screen_text(app)
                await pilot.pause(0.2)
            said = shown(app, "#pair-said")
            assert f"DHO sim BP cuff ({CUFF})" in said
            assert "Enhetens klokke ble stilt til hubens tid kl." in said, said
            (paired,) = devices(home)
            assert paired["address"] == CUFF
            await tap_to(pilot, "#pair-back", on_top(app, TechnicianScreen), "the menu")
            await wait_until(
                pilot, lambda: "Enheter koblet til huben: 1." in shown(app, "#tech-summary"), "1"
            )
            # A test measurement: shown here, stored as a normal reading, not the patient's
            # measuring screen.
            await tap_to(pilot, "#tech-test", on_top(app, TrialMeasurementScreen), "the test")
            await cuff.measure_live(141, 87, 66, [40, 120, 160, 100], interval_s=0.3)
            deadline = loop.time() + 60
            while "Lagret som måling nr." not in shown(app, "#test-said"):
                assert loop.time() < deadline, screen_text(app)
                assert isinstance(app.screen, TrialMeasurementScreen), screen_text(app)
                await pilot.pause(0.2)
            (stored,) = await readings(home, 1)
            assert stored["kind"] == "blood_pressure"
            assert (stored["values"]["systolic"], stored["values"]["diastolic"]) == (141, 87)
            said = shown(app, "#test-said")
            assert f"nr. {stored['seq']}: en vanlig måling, som sendes til" in said, said
            await wait_until(pilot, lambda: shown(app, "#bp-value") == "141/87", "the value")
            await tap_to(pilot, "#test-back", on_top(app, TechnicianScreen), "the menu")
            # The list: name, address, battery, last connection.
            await tap_to(pilot, "#tech-devices", on_top(app, DevicesScreen), "the devices")
            await wait_until(pilot, lambda: CUFF in shown(app, "#dev-lines"), "the cuff")
            lines = shown(app, "#dev-lines")
            assert "DHO sim BP cuff" in lines and "Batteri" in lines, lines
            assert shown(app, "#dev-title") == "Enhet 1 av 1"
            # Forget, after saying no once.
            asking = partial(lambda: bool(shown(app, "#tech-forget-no")))
            await tap_to(pilot, "#dev-forget", asking, "the question")
            await tap_to(pilot, "#tech-forget-no", on_top(app, DevicesScreen), "the devices")
            await wait_until(pilot, lambda: CUFF in shown(app, "#dev-lines"), "still paired")
            assert len(devices(home)) == 1
            await tap_to(pilot, "#dev-forget", asking, "the question")
            assert CUFF in shown(app, "#notice-text")
            await tap_to(pilot, "#tech-forget-yes", on_top(app, DevicesScreen), "the devices")
            await wait_until(pilot, lambda: "er glemt" in shown(app, "#dev-said"), "forgotten")
            assert shown(app, "#dev-lines") == "Ingen enheter er koblet til huben."
            assert devices(home) == []
            await tap_to(pilot, "#dev-back", on_top(app, TechnicianScreen), "the menu")
            await tap_to(pilot, "#tech-leave", lambda: len(app.screen_stack) == 1, "home")
            # The test reading does not come back on the patient's measuring screen.
            await pilot.pause(1.0)
            assert len(app.screen_stack) == 1, screen_text(app)
            await wait_until(pilot, lambda: shown(app, "#bp-value") == "141/87", "home's card")
    finally:
        await cuff.stop()
    assert PIN not in hub_log(home)


# --- hostile -------------------------------------------------------------------------------


async def test_wrong_pins_lock_the_way_in_and_a_restarted_screen_is_still_locked(
    pinned_home: SimulatedHome, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)  # everything the screen logs
    home = pinned_home
    wrong = ("111111", "000000", "739147", "7391460", "123456789012")
    async with screen_app(home).run_test(size=(50, 15)) as pilot:
        app = pilot.app
        await knock(pilot)
        await wait_until(pilot, lambda: isinstance(app.screen, PinScreen), "the PIN screen")
        # Five digits: OK is not there to press.
        await type_digits(pilot, "73914")
        screen = app.screen
        assert isinstance(screen, PinScreen)
        assert app.screen.query_one("#pin-ok", Button).disabled
        for digits in range(4, -1, -1):
            erased = partial(lambda n: len(screen.entry.typed) == n, digits)
            await tap_to(pilot, "#pin-key-erase", erased, f"{digits} digits")
        for n, pin in enumerate(wrong, start=1):
            await type_pin(pilot, pin)
            if n < MAX_FAILURES:
                left = f"Forsøk igjen: {MAX_FAILURES - n}."
                said = partial(lambda text: text in shown(app, "#pin-said"), left)
                await wait_until(pilot, said, left)
        await wait_until(pilot, lambda: "Prøv igjen om 5 min." in shown(app, "#pin-said"), "locked")
        assert isinstance(app.screen, PinScreen)
    # `hub ui` restarts (systemd): the lock is the daemon's, so the right PIN is refused too.
    async with screen_app(home).run_test(size=(50, 15)) as pilot:
        app = pilot.app
        await knock(pilot)
        await wait_until(pilot, lambda: isinstance(app.screen, PinScreen), "the PIN screen")
        await type_pin(pilot, PIN)
        await wait_until(pilot, lambda: "For mange feil" in shown(app, "#pin-said"), "locked")
        assert not any(isinstance(s, TechnicianScreen) for s in app.screen_stack)
        await tap_to(pilot, "#pin-back", lambda: len(app.screen_stack) == 1, "home")
    log = hub_log(home)
    assert "technician PIN: 5 wrong in a row" in log
    for pin in (*wrong, PIN):
        assert pin not in log, f"a PIN in the hub's log: {pin}"
        assert pin not in caplog.text, f"a PIN in the screen's log: {pin}"
    assert "technician mode: a wrong PIN (0 tries left" in caplog.text  # the screen's log


async def test_the_daemon_checks_the_pin_and_holds_the_lockout(pinned_home: SimulatedHome) -> None:
    home = pinned_home

    def unlock_op(pin: object) -> dict[str, Any]:
        return home.ask_hub("technician_unlock", pin=pin)

    # What is no PIN is refused in words that do not repeat it, and is not a try.
    for bad in ("12345", "1234567890123", "12a456", "١٢٣٤٥٦", 739146, None, [PIN], PIN + "\n"):
        answer = await asyncio.to_thread(unlock_op, bad)
        assert answer["ok"] is False and "6 to 12 digits" in answer["error"], answer
        assert "12a456" not in answer["error"]
    refused = await asyncio.to_thread(home.ask_hub, "technician_unlock", pin=PIN, extra=1)
    assert refused["ok"] is False
    right = await asyncio.to_thread(unlock_op, PIN)
    assert right == {"ok": True, "unlocked": True, "tries_left": 5, "locked_for_s": 0.0}
    # Ten wrong tries sent at once: checked one at a time, so five count and the rest are
    # refused unchecked: then not even the right PIN opens.
    answers = await asyncio.gather(
        *(asyncio.to_thread(unlock_op, f"{n:06d}") for n in range(100000, 100010))
    )
    assert all(a["ok"] is True and a["unlocked"] is False for a in answers), answers
    assert sorted(a["tries_left"] for a in answers) == [0] * 6 + [1, 2, 3, 4]
    locked = await asyncio.to_thread(unlock_op, PIN)
    assert locked["unlocked"] is False and locked["tries_left"] == 0
    assert 0 < locked["locked_for_s"] <= LOCK_S
    # The other ops are untouched by the lock (the screen's status, the technician's tools).
    assert (await asyncio.to_thread(home.ask_hub, "status"))["ok"] is True
    log = hub_log(home)
    assert PIN not in log and "100003" not in log


async def test_pulling_the_plug_keeps_the_lockout(home: SimulatedHome) -> None:
    """The lockout is kept in the daemon's store (issue 15 review): before, it lived in the
    daemon's memory, and a power cycle gave five fresh tries per boot (a 6-digit PIN in weeks
    with a smart plug). Here the daemon is killed as a power cut would (SIGKILL) and started
    again: still locked, the right PIN not even checked."""
    set_pin(home)
    hub = home.start_hub()

    def unlock_op(pin: str) -> dict[str, Any]:
        return home.ask_hub("technician_unlock", pin=pin)

    for n in range(MAX_FAILURES):
        await asyncio.to_thread(unlock_op, f"{100000 + n:06d}")
    hub.kill()
    home.start_hub()
    locked = await asyncio.to_thread(unlock_op, PIN)
    assert (locked["unlocked"], locked["tries_left"]) == (False, 0), locked
    assert 0 < locked["locked_for_s"] <= LOCK_S


def test_a_restart_keeps_the_wrong_tries_and_the_lock(tmp_path: Path) -> None:
    """The daemon's side with its real store, a restart being a new store and SocketOps on the
    same file: the wrong tries in a row are kept, so is the lock (by the wall clock, as a boot
    starts the monotonic clock again), and the lock still runs out."""
    from types import SimpleNamespace

    from hub.core.technician_pin import hash_pin
    from hub.local_protocol import TechnicianUnlockRequest
    from hub.requests import SocketOps
    from hub.store import ReadingStore

    kept = hash_pin(PIN)
    clocks = {"monotonic": 1000.0, "wall": 1_800_000_000.0}

    def start() -> SocketOps:
        store = ReadingStore(tmp_path / "hub.sqlite")
        hub = SimpleNamespace(config=SimpleNamespace(technician_pin=SimpleNamespace(kept=kept)))
        ops = SocketOps(hub, lockout_keeper=store)  # type: ignore[arg-type]
        ops.monotonic, ops.wall = (lambda: clocks["monotonic"]), (lambda: clocks["wall"])
        return ops

    def tries(ops: SocketOps, *pins: str) -> list[tuple[bool, int, float]]:
        async def run() -> list[tuple[bool, int, float]]:
            answers = []
            for pin in pins:
                answer = await ops.technician_unlock(TechnicianUnlockRequest(pin=pin))
                assert not isinstance(answer, Refusal), answer
                answers.append((answer.unlocked, answer.tries_left, answer.locked_for_s))
            return answers

        return asyncio.run(run())

    assert tries(start(), "000001", "000002") == [(False, 4, 0.0), (False, 3, 0.0)]
    clocks["monotonic"] = 5.0  # a boot: the monotonic clock starts again
    assert tries(start(), "000003", "000004", "000005")[-1] == (False, 0, LOCK_S)
    clocks["monotonic"], clocks["wall"] = 7.0, clocks["wall"] + 60  # a minute's power cut
    assert tries(start(), PIN) == [(False, 0, LOCK_S - 60)]
    clocks["wall"] += LOCK_S  # the lock ran out while the daemon was down
    assert tries(start(), PIN) == [(True, MAX_FAILURES, 0.0)]


async def test_a_hub_without_a_pin_offers_no_technician_mode(home: SimulatedHome) -> None:
    home.start_hub()
    answer = await asyncio.to_thread(home.ask_hub, "technician_unlock", pin=PIN)
    assert answer["ok"] is False and "no technician PIN is set" in answer["error"]
    async with screen_app(home).run_test(size=(50, 15)) as pilot:
        app = pilot.app
        await knock(pilot)
        await knock(pilot)
        await pilot.pause(0.5)
        assert len(app.screen_stack) == 1, screen_text(app)


# --- leaving by itself, and finger-sized ---------------------------------------------------


async def test_technician_mode_leaves_by_itself_after_five_minutes_untouched(
    pinned_home: SimulatedHome,
) -> None:
    clock = Clock()
    async with screen_app(pinned_home, clock).run_test(size=(50, 15)) as pilot:
        app = pilot.app
        await unlock(pilot)
        await tap_to(pilot, "#tech-devices", on_top(app, DevicesScreen), "the devices")
        await wait_until(pilot, lambda: bool(shown(app, "#dev-lines")), "the devices")
        clock.now += IDLE_S - 10
        # A touch: five minutes more from now.
        await tap_to(pilot, "#dev-back", on_top(app, TechnicianScreen), "the menu")
        clock.now += 20
        await pilot.pause(1.5)
        assert isinstance(app.screen, TechnicianScreen), "left although touched"
        clock.now += IDLE_S
        await wait_until(pilot, lambda: len(app.screen_stack) == 1, "home, by itself")
        assert not any(isinstance(s, TechnicianPart) for s in app.screen_stack)


async def test_every_technician_button_is_a_whole_finger_sized_target(
    pinned_home: SimulatedHome,
) -> None:
    checked: set[str] = set()
    for (size, (width, height)), language in itertools.product(SIZES.items(), ("nb", "en")):
        app = screen_app(pinned_home, language=language)
        async with app.run_test(size=(width, height)) as pilot:
            checked |= await every_screen(pilot, width, height, f"{size} {language}")
    assert {"pin-ok", "pin-key-0", "pin-key-erase", "tech-leave", "dev-back", "pair-start"} <= (
        checked
    )


async def every_screen(pilot: Pilot[None], width: int, height: int, where: str) -> set[str]:
    """The PIN, the menu, the devices, pairing and the test screen, each measured."""
    app = pilot.app
    await knock(pilot)
    await wait_until(pilot, lambda: isinstance(app.screen, PinScreen), "PIN")
    await type_digits(pilot, PIN)  # every key, and OK, on screen
    checked = measure(app, width, height, f"PIN {where}")
    await tap_to(pilot, "#pin-ok", on_top(app, TechnicianScreen), "the menu")
    checked |= measure(app, width, height, f"menu {where}")
    for opening, closing in (
        ("#tech-devices", "#dev-back"),
        ("#tech-pair", "#pair-back"),
        ("#tech-test", "#test-back"),
    ):
        await tap_to(pilot, opening, partial(lambda c: bool(shown(app, c)), closing), closing)
        await pilot.pause(0.2)
        checked |= measure(app, width, height, f"{opening} {where}")
        await tap_to(pilot, closing, on_top(app, TechnicianScreen), "the menu")
    return checked


def measure(app: Any, width: int, height: int, where: str) -> set[str]:
    """Every button shown is at least a finger each way on the 7" panel, and whole."""
    seen = set()
    for button in app.screen.query(Button):
        if not (shown(app, f"#{button.id}") and button.visible and not button.disabled):
            continue
        region = button.region
        tall = region.height * PANEL_MM[1] / height
        wide = region.width * PANEL_MM[0] / width
        assert tall >= FINGER_MM, f"{where}: {button.id} is {region.height} rows ({tall:.1f} mm)"
        assert wide >= FINGER_MM, f"{where}: {button.id} is {region.width} cols ({wide:.1f} mm)"
        assert region.y >= 0 and region.bottom <= height and region.right <= width, (
            f"{where}: {button.id} at {region} is cut off"
        )
        seen.add(str(button.id))
    assert seen, f"{where}: no buttons"
    return seen
