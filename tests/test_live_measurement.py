"""The measuring screen end to end: the emulated cuff inflates with the hub watching
(Intermediate Cuff Pressure over bleak on BlueZoo), the real daemon follows it on its `live`
long poll, stores only the result and says the session is over; and the patient screen shows
it all."""

from __future__ import annotations

import asyncio
from typing import Any

from hub.config import load_config
from hub.ui.app import PatientScreenApp
from hub.ui.measuring_screen import MeasuringScreen
from testbed.bluetooth import DEVICE_ADAPTERS
from testbed.home import SimulatedHome
from testbed.peripherals.cuff import EmulatedCuff
from tests.conftest import eventually, hub_log, readings
from tests.test_device_cuff import started
from tests.ui_support import screen_text, shown, tap, wait_until

CUFF = DEVICE_ADAPTERS["hci1"]
PRESSURES = [20, 60, 110, 160, 185, 170, 150, 130, 105, 90, 70]


async def follow(home: SimulatedHome, until: Any, within: float = 60.0) -> list[dict[str, Any]]:
    """Long-poll `live` as the screen does; every answer seen, until `until(answer)` holds."""
    seen: list[dict[str, Any]] = []
    boot, version = None, None
    async with asyncio.timeout(within):
        while not seen or not until(seen[-1]):
            answer = await asyncio.to_thread(
                home.ask_hub, "live", boot=boot, version=version, wait_s=10
            )
            assert answer["ok"] is True
            boot, version = answer["boot"], answer["version"]
            seen.append(answer)
    return seen


def cuff_session(answer: dict[str, Any]) -> dict[str, Any] | None:
    return next((s for s in reversed(answer["sessions"]) if s["device_address"] == CUFF), None)


def has_result(answer: dict[str, Any]) -> bool:
    session = cuff_session(answer)
    return session is not None and bool(session["results"])


async def test_cuff_pressure_is_followed_live_and_only_the_result_is_stored(
    home: SimulatedHome,
) -> None:
    cuff: EmulatedCuff = await started(home)
    try:
        measuring = asyncio.create_task(cuff.measure_live(142, 88, 71, PRESSURES, interval_s=0.3))
        answers = await follow(home, has_result)
        await measuring
        ended = await follow(home, lambda a: (cuff_session(a) or {}).get("ended_at"))
    finally:
        await cuff.stop()
    sessions = [s for a in answers if (s := cuff_session(a))]
    assert {s["profile"] for s in sessions} == {"blood_pressure"}
    assert len({s["key"] for s in sessions}) == 1, "one connection, one session"
    pressures: list[float] = []
    for session in sessions:
        shown = session["progress"] and session["progress"]["cuff_pressure"]
        if shown and (not pressures or pressures[-1] != shown):
            pressures.append(shown)
    # Long polls may merge changes that come close together, but the cuff's own order stays
    # and most of its values reach the screen.
    sent = iter(float(p) for p in PRESSURES)
    assert all(p in sent for p in pressures), f"{pressures} out of the cuff's order"
    assert len(pressures) >= 5, pressures
    assert sessions[-1]["progress_count"] == len(PRESSURES)
    assert sessions[-1]["progress"]["unit"] == "mmHg"
    (result,) = sessions[-1]["results"]
    assert result["kind"] == "blood_pressure" and result["outcome"] == "ok"
    assert (result["values"]["systolic"], result["values"]["diastolic"]) == (142.0, 88.0)
    assert isinstance(result["seq"], int) and result["synced"] is False
    # The session ends when the cuff goes quiet; the in-progress values were never stored.
    assert cuff_session(ended[-1])["ended_at"] >= sessions[-1]["started_at"]  # type: ignore[index]
    rows = await readings(home, 1)
    assert [r["kind"] for r in rows] == ["blood_pressure"]
    assert rows[0]["seq"] == result["seq"]


async def test_unreadable_cuff_pressure_is_skipped_and_the_result_still_arrives(
    home: SimulatedHome,
) -> None:
    cuff: EmulatedCuff = await started(home)
    try:

        async def garbled_then_measure() -> None:
            cuff._news = True  # advertise: the patient pressed start
            await cuff.cuff_pressure.subscribed.wait()
            await cuff.cuff_pressure.send(b"\x00\x01")  # two bytes: no cuff pressure in it
            await cuff.measure_live(128, 79, 64, [150, 120], interval_s=0.3)

        measuring = asyncio.create_task(garbled_then_measure())
        answers = await follow(home, has_result)
        await measuring
    finally:
        await cuff.stop()
    session = cuff_session(answers[-1])
    assert session is not None
    assert session["results"][0]["values"]["systolic"] == 128.0
    # The garbled value counts for nothing on the screen, and the technician can read why.
    assert session["progress_count"] == 2
    log = await eventually(lambda: "unreadable progress value" in (t := hub_log(home)) and t)
    assert "from " + CUFF in log


async def test_a_screen_from_before_a_restart_is_answered_at_once(home: SimulatedHome) -> None:
    home.start_hub()
    first = await asyncio.to_thread(home.ask_hub, "live")
    assert first["ok"] is True and first["sessions"] == []
    loop = asyncio.get_running_loop()
    began = loop.time()
    # A boot id this daemon never had: the screen must not wait for a version it will not reach.
    answer = await asyncio.to_thread(
        home.ask_hub, "live", boot="not-this-one", version=99, wait_s=20
    )
    assert loop.time() - began < 10
    assert answer["boot"] == first["boot"] and answer["version"] == first["version"]


async def test_the_patient_screen_follows_the_cuff_from_pressure_to_result(
    home: SimulatedHome,
) -> None:
    cuff: EmulatedCuff = await started(home)
    app = PatientScreenApp(load_config(home.hub_config).socket_path, "nb", poll_interval=0.2)
    shown_pressures: list[str] = []
    try:
        async with app.run_test(size=(100, 30)) as pilot:
            measuring = asyncio.create_task(
                cuff.measure_live(138, 86, 66, PRESSURES, interval_s=0.4)
            )
            loop = asyncio.get_running_loop()
            deadline = loop.time() + 60
            while shown(app, "#bp-value") != "138/86":
                assert loop.time() < deadline, f"no result; the screen shows:\n{screen_text(app)}"
                digits = shown(app, "#m-progress")
                if digits and (not shown_pressures or shown_pressures[-1] != digits):
                    shown_pressures.append(digits)
                await pilot.pause(0.05)
            await measuring
            assert isinstance(app.screen, MeasuringScreen)
            assert shown(app, "#m-title") == "Blodtrykk"
            await tap(pilot, "#m-done")
            await wait_until(pilot, lambda: not isinstance(app.screen, MeasuringScreen), "home")
            # The home screen has the same reading, from the daemon's store.
            await wait_until(pilot, lambda: shown(app, "#bp-value") == "138/86", "the card")
    finally:
        await cuff.stop()
    sent = iter(str(p) for p in PRESSURES)
    assert all(p in sent for p in shown_pressures), shown_pressures  # in the cuff's order
    assert len(shown_pressures) >= 5, shown_pressures
