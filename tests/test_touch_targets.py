"""Every button on the patient's screens is a finger-sized target that fits on the screen: at
least 8.5 mm each way were the screen drawn on the 7" panel (154.21 x 85.92 mm), whole, at the
kiosk's 50x15 (2 rows: 11.5 mm), 80x24 and 100x30 (3 rows: 8.6 mm)."""

from __future__ import annotations

import copy
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from textual.pilot import Pilot
from textual.widgets import Button

from hub.ui.app import PatientScreenApp
from tests.test_snapshots import HOME_STATUS, NOW, SIZES, reading, session
from tests.ui_support import FakeDaemon, shown, tap, wait_until


async def to_question(pilot: Pilot[None], daemon: FakeDaemon) -> None:
    daemon.status["care_plan"]["schedule"] = []  # nothing to measure: the questionnaire leads
    await wait_until(pilot, lambda: "spørsmål" in shown(pilot.app, "#next-action"), "the button")
    await tap(pilot, "#next-action")
    await wait_until(pilot, lambda: bool(shown(pilot.app, "#q-text")), "the first question")


async def to_number_question(pilot: Pilot[None], daemon: FakeDaemon) -> None:
    await to_question(pilot, daemon)
    for button in ("#option-3", "#answer-no", "#answer-no", "#answer-no", "#answer-yes"):
        await tap(pilot, button)
    await wait_until(pilot, lambda: bool(shown(pilot.app, "#key-4")), "the number question")


async def to_measuring(daemon: FakeDaemon) -> None:
    result = reading(
        "blood_pressure",
        {"systolic": 150.0, "diastolic": 90.0, "unit": "mmHg", "pulse_rate": 70.0},
        0.5,
        outcome="flagged",
        problems=["cuff_too_loose", "body_movement_detected"],
    )
    await daemon.set_live([session(results=(result,))])


async def to_call(pilot: Pilot[None]) -> None:
    await tap(pilot, "#call-me")


Steps = Callable[[Pilot[None], FakeDaemon], Awaitable[None]]
PANEL_MM = (154.21, 85.92)  # the official 7" panel's active area, 800x480 px
FINGER_MM = 8.5

SCREENS: dict[str, tuple[Steps, str]] = {
    "home": (lambda pilot, daemon: pilot.pause(0), "#call-me"),
    "message": (lambda pilot, daemon: pilot.pause(0), "#message-read"),
    "call": (lambda pilot, daemon: to_call(pilot), "#call-yes"),
    "question": (to_question, "#option-0"),
    "number": (to_number_question, "#q-number-ok"),
    "measuring": (lambda pilot, daemon: to_measuring(daemon), "#m-done"),
}


@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("screen", SCREENS)
async def test_every_button_is_a_whole_finger_sized_target(
    daemon: FakeDaemon,
    sock_path: Path,
    size: str,
    screen: str,
) -> None:
    steps, expected = SCREENS[screen]
    daemon.status = copy.deepcopy(HOME_STATUS)
    await daemon.start()
    app = PatientScreenApp(sock_path, "nb", poll_interval=0.05, clock=lambda: NOW)
    width, height = SIZES[size]
    async with app.run_test(size=SIZES[size]) as pilot:
        await wait_until(pilot, lambda: bool(shown(app, "#message-read")), "the message")
        if screen != "message":  # read: home
            await tap(pilot, "#message-read")
            await wait_until(pilot, lambda: bool(shown(app, "#next-action")), "home")
        await steps(pilot, daemon)
        await wait_until(pilot, lambda: bool(shown(app, expected)), expected)
        await pilot.pause(0.1)
        buttons: list[Any] = [
            b  # a pager button with nowhere to go is neither drawn nor tappable
            for b in app.screen.query(Button)
            if shown(app, f"#{b.id}") and b.visible and not b.disabled
        ]
        assert buttons, "no buttons on this screen"
        for button in buttons:
            region = button.region
            tall = region.height * PANEL_MM[1] / height
            wide = region.width * PANEL_MM[0] / width
            assert tall >= FINGER_MM, f"{button.id} is {region.height} rows, {tall:.1f} mm tall"
            assert wide >= FINGER_MM, f"{button.id} is {region.width} columns, {wide:.1f} mm wide"
            assert region.y >= 0 and region.bottom <= height and region.right <= width, (
                f"{button.id} at {region} is cut off on a {width}x{height} screen"
            )
