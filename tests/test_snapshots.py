"""Snapshots of the patient's key screens at 80x24 (a technician's terminal) and at the 7"
touchscreen's 100x30: home, a question, the cuff pressure while measuring, the result with
advice, and the hub not answering. A fixed clock and a daemon stand-in make them repeatable.

After a deliberate change of the screens: `./run.sh test tests/test_snapshots.py
--snapshot-update`, then look at the new SVGs in tests/__snapshots__/ before committing them.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from textual.pilot import Pilot

from hub.ui.app import PatientScreenApp
from hub.ui.measuring_screen import MeasuringScreen
from tests.ui_support import FakeDaemon, shown, wait_until

NOW = datetime(2026, 11, 22, 9, 30, tzinfo=UTC)  # 10.30 in Oslo
SIZES = {"terminal": (80, 24), "touchscreen": (100, 30)}
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
        reading("weight", {"weight": 82.4, "unit": "kg"}, 140),
    ],
    "history": [
        {
            "kind": "weight",
            "measured_at": at(140 + day * 1440),
            "values": {"weight": 82.4 - day * 0.3},
        }
        for day in range(13, -1, -1)
    ],
    "care_plan": {
        "schedule": [
            {"kind": "weight", "times": ["08:00"]},
            {"kind": "blood_pressure", "times": ["08:00", "20:00"]},
            {"kind": "spo2", "times": ["08:00"]},
            {"kind": "questionnaire", "times": ["09:00"]},
        ],
        "questionnaire": {
            "resourceType": "Questionnaire",
            "url": "urn:dho:questionnaire:copd-daily",
        },
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


@pytest.mark.parametrize("size", SIZES)
def test_home(snap_compare: Snap, sock_path: Path, size: str) -> None:
    assert snapshot(
        snap_compare, sock_path, size, lambda app: shown(app, "#bp-value") == "168/94", HOME_STATUS
    )


@pytest.mark.parametrize("size", SIZES)
def test_question(snap_compare: Snap, sock_path: Path, size: str) -> None:
    async def open_questionnaire(pilot: Pilot[None]) -> None:
        await wait_until(
            pilot,
            lambda: bool(shown(pilot.app, "#questionnaire-start")),
            "the questionnaire button",
        )
        await pilot.click("#questionnaire-start")

    assert snapshot(
        snap_compare,
        sock_path,
        size,
        lambda app: "Hvordan er pusten" in shown(app, "#q-text"),
        HOME_STATUS,
        steps=open_questionnaire,
    )


@pytest.mark.parametrize("size", SIZES)
def test_cuff_pressure_while_measuring(snap_compare: Snap, sock_path: Path, size: str) -> None:
    live = [session(progress={"cuff_pressure": 172.0, "unit": "mmHg"})]
    assert snapshot(
        snap_compare,
        sock_path,
        size,
        lambda app: shown(app, "#m-progress") == "172",
        HOME_STATUS,
        live,
    )


@pytest.mark.parametrize("size", SIZES)
def test_result_with_advice(snap_compare: Snap, sock_path: Path, size: str) -> None:
    result = reading(
        "blood_pressure",
        {"systolic": 171.0, "diastolic": 96.0, "unit": "mmHg", "pulse_rate": 81.0},
        0.5,
        outcome="flagged",
        problems=["systolic_above_care_plan", "cuff_too_loose"],
        synced=False,
        synced_at=None,
    )
    assert snapshot(
        snap_compare,
        sock_path,
        size,
        lambda app: isinstance(app.screen, MeasuringScreen) and shown(app, "#bp-value") == "171/96",
        HOME_STATUS,
        [session(results=(result,))],
    )


def test_hub_not_answering(snap_compare: Snap, sock_path: Path) -> None:
    assert snapshot(
        snap_compare,
        sock_path,
        "terminal",
        lambda app: "Huben svarer ikke" in shown(app, "#daemon-state"),
        None,
    )
