"""Every button on the patient's screens is a finger-sized target that fits on the screen: at
least 3 rows tall, whole, at 80x24 and at the touchscreen's 100x30."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from textual.pilot import Pilot
from textual.widgets import Button

from hub.ui.app import PatientScreenApp
from tests.test_snapshots import HOME_STATUS, NOW, SIZES, reading, session
from tests.ui_support import FakeDaemon, shown, wait_until


async def to_question(pilot: Pilot[None]) -> None:
    await pilot.click("#questionnaire-start")
    await wait_until(pilot, lambda: bool(shown(pilot.app, "#q-text")), "the first question")


async def to_number_question(pilot: Pilot[None]) -> None:
    await to_question(pilot)
    for button in ("#option-3", "#answer-no", "#answer-no", "#answer-no", "#answer-yes"):
        await wait_until(pilot, lambda b=button: bool(shown(pilot.app, b)), button)  # type: ignore[misc]
        await pilot.click(button)
        await pilot.pause(0.25)
    await wait_until(pilot, lambda: bool(shown(pilot.app, "#q-plus")), "the number question")


async def to_measuring(daemon: FakeDaemon) -> None:
    result = reading(
        "blood_pressure",
        {"systolic": 150.0, "diastolic": 90.0, "unit": "mmHg", "pulse_rate": 70.0},
        0.5,
        outcome="flagged",
        problems=["cuff_too_loose", "body_movement_detected"],
    )
    await daemon.set_live([session(results=(result,))])


Steps = Callable[[Pilot[None], FakeDaemon], Awaitable[None]]
SCREENS: dict[str, tuple[Steps, str]] = {
    "home": (
        lambda pilot, daemon: wait_until(
            pilot, lambda: bool(shown(pilot.app, "#message-read")), "home"
        ),
        "#message-read",
    ),
    "question": (lambda pilot, daemon: to_question(pilot), "#option-0"),
    "number": (lambda pilot, daemon: to_number_question(pilot), "#q-number-ok"),
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
    daemon.status = dict(HOME_STATUS)
    await daemon.start()
    app = PatientScreenApp(sock_path, "nb", poll_interval=0.05, clock=lambda: NOW)
    width, height = SIZES[size]
    async with app.run_test(size=SIZES[size]) as pilot:
        await wait_until(pilot, lambda: bool(shown(app, "#questionnaire-start")), "home")
        await steps(pilot, daemon)
        await wait_until(pilot, lambda: bool(shown(app, expected)), expected)
        await pilot.pause(0.1)
        buttons: list[Any] = [b for b in app.screen.query(Button) if shown(app, f"#{b.id}")]
        assert buttons, "no buttons on this screen"
        for button in buttons:
            region = button.region
            assert region.height >= 3, f"{button.id} is {region.height} rows tall"
            assert region.width >= 8, f"{button.id} is {region.width} columns wide"
            assert region.y >= 0 and region.bottom <= height and region.right <= width, (
                f"{button.id} at {region} is cut off on a {width}x{height} screen"
            )
