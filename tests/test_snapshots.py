"""Snapshots of the patient's key screens at the kiosk's 50x15 (docs/kiosk.md), at 80x24 (a
technician's terminal) and at 100x30: home and each reading's page, the nurse's message, how to
measure, a question of each type with the keypad, leaving the questionnaire, the cuff pressure
while measuring, the result with advice, "Ring meg" and its answer, and the measuring station
not answering. A fixed clock and a daemon stand-in make them repeatable.

After a deliberate change of the screens: `./run.sh test tests/test_snapshots.py
--snapshot-update`, look at the new SVGs in tests/__snapshots__/ before committing them, and
copy the 50x15 ones to docs/screens/ (`.venv/bin/python -m tests.screens_to_docs`;
tests/test_docs_screens.py fails until they match).
"""

from __future__ import annotations

import copy
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from textual.pilot import Pilot

from hub.ui.app import PatientScreenApp
from hub.ui.measuring_screen import MeasuringScreen
from tests.ui_support import FakeDaemon, shown, tap, wait_until

NOW = datetime(2026, 11, 22, 9, 30, tzinfo=UTC)  # 10.30 in Oslo
SIZES = {"kiosk": (50, 15), "terminal": (80, 24), "touchscreen": (100, 30)}
CUFF = "00:BB:00:00:00:02"
Snap = Callable[..., bool]


def at(minutes_ago: float) -> str:
    return (NOW - timedelta(minutes=minutes_ago)).isoformat(timespec="milliseconds")


def reading(kind: str, values: dict[str, Any], minutes_ago: float, **extra: Any) -> dict[str, Any]:
    return {
        "kind": kind,
        "seq": int(minutes_ago),
        "device_time": None,
        "measured_at": at(minutes_ago),
        "time_source": "device",
        "received_at": at(minutes_ago),
        "outcome": "ok",
        "problems": [],
        "values": values,
        "synced": True,
        "synced_at": at(minutes_ago - 1),
        **extra,
    }


HOME_STATUS: dict[str, Any] = {
    "ok": True,
    "hub_id": "hub-0001",
    "pending": 0,
    "broker_connected": True,
    "readings": [
        reading(
            "blood_pressure",
            {"systolic": 168.0, "diastolic": 94.0, "unit": "mmHg", "pulse_rate": 76.0},
            20,
            outcome="flagged",
            problems=["systolic_above_care_plan"],
        ),
        reading("temperature", {"temperature": 37.8, "unit": "C"}, 60),
        reading("glucose", {"glucose_concentration": 0.0071, "unit": "mol/L"}, 100),
        reading("weight", {"weight": 82.4, "unit": "kg"}, 140),
        # Yesterday evening: today's is still to come.
        reading("spo2", {"spo2": 93.0, "pulse_rate": 88.0}, 14 * 60, synced=False, synced_at=None),
    ],
    "history": [
        *(
            {
                "kind": "weight",
                "measured_at": at(140 + day * 1440),
                "values": {"weight": 82.4 - day * 0.3},
            }
            for day in range(13, -1, -1)
        ),
        *(
            {
                "kind": "blood_pressure",
                "measured_at": at(20 + day * 1440),
                "values": {"systolic": 168.0 - day * 2, "diastolic": 90.0},
            }
            for day in range(13, -1, -1)
        ),
    ],
    "care_plan": {
        "schedule": [
            {"kind": "weight", "times": ["08:00"]},
            {"kind": "blood_pressure", "times": ["08:00", "20:00"]},
            {"kind": "spo2", "times": ["10:15"]},  # due for 15 minutes: the next action
            {"kind": "questionnaire", "times": ["09:00"]},
        ],
        "questionnaire": {
            "resourceType": "Questionnaire",
            "url": "urn:dho:questionnaire:copd-daily",
        },
        "thresholds": {"blood_pressure": {"systolic": {"max": 160}}},
        "centre_phone": "55 00 00 00",
    },
    "messages": [
        {
            "version": 2,
            "text": "Husk legetimen på torsdag kl. 11.",
            "issued_at": at(60),
            "read_at": None,
        }
    ],
}


def session(
    progress: dict[str, Any] | None = None, results: tuple[dict[str, Any], ...] = ()
) -> dict[str, Any]:
    return {
        "key": f"{CUFF}@{at(1)}",
        "device_address": CUFF,
        "profile": "blood_pressure",
        "started_at": at(1),
        "ended_at": None,
        "progress": progress,
        "progress_count": 1 if progress else 0,
        "results": list(results),
    }


def snapshot(
    snap_compare: Snap,
    sock_path: Path,
    size: str,
    ready: Callable[[Any], bool],
    status: dict[str, Any] | None,
    live: list[dict[str, Any]] | None = None,
    steps: Callable[[Pilot[None]], Awaitable[None]] | None = None,
) -> bool:
    """Start the screen against a daemon stand-in holding `status` (None: no daemon), do
    `steps`, and compare once `ready` holds."""
    daemon = FakeDaemon(sock_path)
    app = PatientScreenApp(sock_path, "nb", poll_interval=0.05, clock=lambda: NOW)

    async def run_before(pilot: Pilot[None]) -> None:
        if status is not None:
            daemon.status = status
            await daemon.start()
        if steps is not None:
            await steps(pilot)
        if live is not None:
            await daemon.set_live(live)
        await wait_until(pilot, lambda: ready(app), "the screen to be ready")
        app.poll_interval = 3600  # nothing moves while the picture is taken
        await pilot.pause(0.2)

    return snap_compare(app, terminal_size=SIZES[size], run_before=run_before)


Steps = Callable[[Pilot[None], FakeDaemon], Awaitable[None]]


def snap(
    snap_compare: Snap,
    sock_path: Path,
    size: str,
    ready: Callable[[Any], bool],
    steps: Steps | None = None,
    status: dict[str, Any] | None = None,
) -> bool:
    """The screen `steps` lead to from home (its message read), once `ready` holds."""
    daemon = FakeDaemon(sock_path)
    daemon.clock = lambda: NOW - timedelta(minutes=1)
    app = PatientScreenApp(sock_path, "nb", poll_interval=0.05, clock=lambda: NOW)

    async def run_before(pilot: Pilot[None]) -> None:
        daemon.status = copy.deepcopy(HOME_STATUS if status is None else status)
        daemon.status["messages"][0]["read_at"] = at(30)
        await daemon.start()
        await wait_until(pilot, lambda: bool(shown(app, "#call-me")), "home")
        if steps is not None:
            await steps(pilot, daemon)
        await wait_until(pilot, lambda: ready(app), "the screen to be ready")
        app.poll_interval = 3600  # nothing moves while the picture is taken
        await pilot.pause(0.3)

    return snap_compare(app, terminal_size=SIZES[size], run_before=run_before)


async def to_page(pilot: Pilot[None], card: str) -> None:
    while not shown(pilot.app, f"#{card}-value"):
        await tap(pilot, "#page-next")


async def questions_first(pilot: Pilot[None], daemon: FakeDaemon) -> None:
    """Nothing left to measure: the questionnaire leads; open it."""
    daemon.status["care_plan"]["schedule"] = []
    await wait_until(pilot, lambda: "spørsmål" in shown(pilot.app, "#next-action"), "the button")
    await tap(pilot, "#next-action")


async def to_keypad(pilot: Pilot[None], daemon: FakeDaemon) -> None:
    await questions_first(pilot, daemon)
    for button in ("#option-3", "#answer-no", "#answer-no", "#answer-no", "#answer-yes"):
        await tap(pilot, button)
    for key in ("#key-5", "#key-1", "#q-number-ok"):  # more than the question takes
        await tap(pilot, key)


async def to_free_text(pilot: Pilot[None], daemon: FakeDaemon) -> None:
    await questions_first(pilot, daemon)
    for button in ("#option-1", "#answer-no", "#answer-no", "#answer-no"):
        await tap(pilot, button)


async def to_boolean(pilot: Pilot[None], daemon: FakeDaemon) -> None:
    await questions_first(pilot, daemon)
    await tap(pilot, "#option-3")


async def to_stop(pilot: Pilot[None], daemon: FakeDaemon) -> None:
    await to_boolean(pilot, daemon)
    await tap(pilot, "#q-cancel")


async def to_thanks(pilot: Pilot[None], daemon: FakeDaemon) -> None:
    await to_free_text(pilot, daemon)
    await tap(pilot, "#q-display-ok")


async def to_call_answered(pilot: Pilot[None], daemon: FakeDaemon) -> None:
    await tap(pilot, "#call-me")
    await tap(pilot, "#call-yes")
    await wait_until(pilot, lambda: bool(shown(pilot.app, "#call-state")), "asked")
    daemon.status["call_request"] = {
        **daemon.status["call_request"],
        "state": "acknowledged",
        "acknowledged_at": at(0),
    }


def tapped(selector: str) -> Steps:
    async def steps(pilot: Pilot[None], daemon: FakeDaemon) -> None:
        await tap(pilot, selector)

    return steps


def live(*sessions: dict[str, Any]) -> Steps:
    async def steps(pilot: Pilot[None], daemon: FakeDaemon) -> None:
        await daemon.set_live(list(sessions))

    return steps


RESULT = reading(
    "blood_pressure",
    {"systolic": 171.0, "diastolic": 96.0, "unit": "mmHg", "pulse_rate": 81.0},
    0.5,
    outcome="flagged",
    problems=["systolic_above_care_plan", "cuff_too_loose"],
    synced=False,
    synced_at=None,
)

# name -> (steps from home, what shows once the screen is ready)
SCREENS: dict[str, tuple[Steps | None, Callable[[Any], bool]]] = {
    "home": (None, lambda app: "I dag" in shown(app, "#tasks-title")),
    "page-blood-pressure": (
        lambda pilot, daemon: to_page(pilot, "bp"),
        lambda app: shown(app, "#bp-value") == "168/94",
    ),
    "page-temperature": (
        lambda pilot, daemon: to_page(pilot, "kind-temperature"),
        lambda app: bool(shown(app, "#kind-temperature-value")),
    ),
    "page-glucose": (
        lambda pilot, daemon: to_page(pilot, "kind-glucose"),
        lambda app: bool(shown(app, "#kind-glucose-value")),
    ),
    "page-weight": (
        lambda pilot, daemon: to_page(pilot, "kind-weight"),
        lambda app: bool(shown(app, "#kind-weight-value")),
    ),
    "page-spo2": (
        lambda pilot, daemon: to_page(pilot, "kind-spo2"),
        lambda app: bool(shown(app, "#kind-spo2-value")),
    ),
    "how-to-measure": (tapped("#next-action"), lambda app: bool(shown(app, "#howto-back"))),
    "question-choice": (questions_first, lambda app: bool(shown(app, "#option-3"))),
    "question-yes-no": (to_boolean, lambda app: bool(shown(app, "#answer-yes"))),
    "question-keypad": (to_keypad, lambda app: bool(shown(app, "#q-number-message"))),
    "question-for-the-call": (to_free_text, lambda app: "Ring meg" in shown(app, "#q-text")),
    "question-stop": (to_stop, lambda app: bool(shown(app, "#stop-yes"))),
    "questionnaire-sent": (to_thanks, lambda app: bool(shown(app, "#q-done"))),
    "measuring": (
        live(session(progress={"cuff_pressure": 172.0, "unit": "mmHg"})),
        lambda app: shown(app, "#m-progress") == "172",
    ),
    "result-with-advice": (
        live(session(results=(RESULT,))),
        lambda app: isinstance(app.screen, MeasuringScreen) and shown(app, "#bp-value") == "171/96",
    ),
    "call-me": (tapped("#call-me"), lambda app: bool(shown(app, "#call-yes"))),
    "call-answered": (
        to_call_answered,
        lambda app: shown(app, "#notice-text") == "Sykepleieren ringer deg snart.",
    ),
}


@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("screen", SCREENS)
def test_screen(snap_compare: Snap, sock_path: Path, size: str, screen: str) -> None:
    steps, ready = SCREENS[screen]
    assert snap(snap_compare, sock_path, size, ready, steps)


@pytest.mark.parametrize("size", SIZES)
def test_message(snap_compare: Snap, sock_path: Path, size: str) -> None:
    status = copy.deepcopy(HOME_STATUS)
    assert snapshot(
        snap_compare,
        sock_path,
        size,
        lambda app: bool(shown(app, "#message-read")),
        status,
    )


@pytest.mark.parametrize("size", SIZES)
def test_hub_not_answering(snap_compare: Snap, sock_path: Path, size: str) -> None:
    assert snapshot(
        snap_compare,
        sock_path,
        size,
        lambda app: "Målestasjonen svarer ikke" in shown(app, "#standing"),
        None,
    )
