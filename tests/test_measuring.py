"""The measuring screen: a device connects, the cuff pressure moves, the result comes in large
digits with plain advice, over whatever the patient was doing; and the rules behind it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from hub.local_protocol import LiveSession
from hub.ui.app import PatientScreenApp
from hub.ui.i18n import Catalogue
from hub.ui.measuring import RESULT_SHOWN, measuring_view, session_to_show
from hub.ui.measuring_screen import MeasuringScreen
from hub.ui.present import measurement_advice, present_status
from tests.test_questionnaire_screen import TOUCHSCREEN, answers_of, with_plan
from tests.ui_support import FakeDaemon, screen_text, shown, status_of, tap, wait_until

CUFF = "00:BB:00:00:00:02"
NB, EN = Catalogue("nb"), Catalogue("en")


NBSP = "\N{NO-BREAK SPACE}"  # a phone number is never broken across lines


def iso(moment: datetime) -> str:
    return moment.isoformat(timespec="milliseconds")


def session(
    started: datetime,
    ended: datetime | None = None,
    progress: Any = None,
    results: tuple[dict[str, Any], ...] = (),
    profile: str = "blood_pressure",
    address: str = CUFF,
) -> dict[str, Any]:
    """A session as the daemon's `live` answer has it (see `live`, for the pure rules)."""
    return {
        "key": f"{address}@{iso(started)}",
        "device_address": address,
        "profile": profile,
        "started_at": iso(started),
        "ended_at": None if ended is None else iso(ended),
        "progress": progress,
        "progress_count": 1 if progress else 0,
        "results": list(results),
    }


def bp_result(
    systolic: float | str = 142,  # or a special value: "NaN"
    diastolic: float = 88,
    seq: int = 5,
    outcome: str = "ok",
    problems: tuple[str, ...] = (),
    measured: datetime | None = None,
) -> dict[str, Any]:
    moment = measured or datetime.now(UTC)
    return {
        "kind": "blood_pressure",
        "seq": seq,
        "device_time": None,
        "measured_at": iso(moment),
        "time_source": "device",
        "received_at": iso(moment),
        "outcome": outcome,
        "problems": list(problems),
        "values": {
            "systolic": systolic,
            "diastolic": diastolic,
            "unit": "mmHg",
            "pulse_rate": 71.0,
        },
        "synced": False,
        "synced_at": None,
    }


def live(started: datetime, ended: datetime | None = None, **fields: Any) -> LiveSession:
    return LiveSession.model_validate(session(started, ended, **fields))


# --- what to show (pure) ---------------------------------------------------------------------

NOW = datetime(2026, 11, 22, 9, 40, tzinfo=UTC)


def test_connected_device_is_shown_while_the_result_is_fetched() -> None:
    view = measuring_view(live(NOW), None, NOW, NB)
    assert (view.phase, view.title) == ("connecting", "Blodtrykk")
    assert view.hint == "Henter målingen fra blodtrykksmåleren …"
    assert view.progress is None and view.result is None


def test_cuff_pressure_in_large_digits_with_what_to_do_meanwhile() -> None:
    view = measuring_view(
        live(NOW, progress={"cuff_pressure": 162.0, "unit": "mmHg"}), None, NOW, NB
    )
    assert (view.phase, view.progress, view.progress_unit) == ("progress", "162", "mmHg")
    assert "Sitt stille" in view.hint
    kpa = measuring_view(live(NOW, progress={"cuff_pressure": 21.6, "unit": "kPa"}), None, NOW, NB)
    assert (kpa.progress, kpa.progress_unit) == ("21,6", "kPa")
    fever = measuring_view(
        live(NOW, profile="thermometer", progress={"temperature": 37.54, "unit": "C"}),
        None,
        NOW,
        EN,
    )
    assert (fever.title, fever.progress, fever.progress_unit) == ("Temperature", "37.5", "°C")
    assert fever.hint == "Measuring … Keep still."


def test_the_result_uses_the_status_copy_that_knows_it_was_sent() -> None:
    result = bp_result(seq=9, measured=NOW)
    sent = {**result, "synced": True, "synced_at": iso(NOW + timedelta(seconds=3))}
    shown_now = measuring_view(live(NOW, results=(result,)), status_of({}), NOW, NB)
    assert shown_now.phase == "result" and shown_now.result is not None
    assert shown_now.result.value == "142/88"
    assert shown_now.result.sync.startswith("Lagret")
    assert shown_now.result.sync.endswith("sendes til oppfølgingstjenesten nå")
    offline = measuring_view(
        live(NOW, results=(result,)), status_of({"broker_connected": False}), NOW, NB
    )
    assert offline.result is not None
    assert offline.result.sync.startswith("Venter på nett")
    later = measuring_view(live(NOW, results=(result,)), status_of({"readings": [sent]}), NOW, NB)
    assert later.result is not None and later.result.synced
    assert later.result.sync.startswith("Sendt til oppfølgingstjenesten kl.")


def test_a_value_beyond_the_care_plan_says_whom_to_call() -> None:
    result = bp_result(181, 95, outcome="flagged", problems=("systolic_above_care_plan",))
    status = status_of({"care_plan": {"centre_phone": "22 33 44 55"}})
    view = measuring_view(live(NOW, results=(result,)), status, NOW, NB)
    assert view.result is not None and view.result.value == "181/95"
    assert (
        "høyere enn grensen" in view.result.note
        and "22 33 44 55".replace(" ", NBSP) in view.result.note
    )


@pytest.mark.parametrize(
    ("problems", "says"),
    [
        (("cuff_too_loose",), "Mansjetten satt for løst"),
        (("body_movement_detected",), "Du beveget deg"),
        (("improper_measurement_position",), "hjertehøyde"),
        (("systolic_NaN", "cuff_too_loose"), "Målingen mislyktes"),
    ],
)
def test_a_failed_or_disturbed_measurement_says_what_to_do(
    problems: tuple[str, ...], says: str
) -> None:
    failed = any(p.endswith("_NaN") for p in problems)
    result = bp_result(
        "NaN" if failed else 150,
        90,
        outcome="failed" if failed else "flagged",
        problems=problems,
    )
    view = measuring_view(live(NOW, results=(result,)), None, NOW, NB)
    assert view.result is not None
    assert says in view.result.note
    assert (view.result.value is None) == failed  # a failed value is never shown as a number
    if "cuff_too_loose" in problems:
        assert "Fest den stramt rundt overarmen, rett på huden" in view.result.note
    assert view.hint == ("Det ble ingen måling denne gangen." if failed else "Målingen er ferdig.")


def test_advice_to_measure_again_is_for_the_moment_not_for_the_home_card_later() -> None:
    result = bp_result(
        150, 90, outcome="flagged", problems=("cuff_too_loose",), measured=NOW - timedelta(days=1)
    )
    home = present_status(status_of({"readings": [result]}), NOW, NB).readings[0]
    assert home.value == "150/90" and "Mansjetten" not in home.note
    failed = bp_result(
        "NaN",
        90,
        outcome="failed",
        problems=("systolic_NaN", "cuff_too_loose"),
    )
    assert present_status(status_of({"readings": [failed]}), NOW, NB).readings[0].note == (
        "Målingen mislyktes. Prøv å måle på nytt."
    )


def test_a_device_fault_says_whom_to_call_when_the_care_plan_has_a_number() -> None:
    assert measurement_advice(["general_device_fault"], EN, "55 00 00 00").endswith(
        "call the follow-up service on 55 00 00 00."
    )
    assert measurement_advice(["general_device_fault"], EN).endswith("call the follow-up service.")
    assert "{phone}" not in measurement_advice(["cuff_too_loose"], NB, "55 00 00 00")


def test_advice_is_one_instruction_the_first_in_a_fixed_order_for_known_problems() -> None:
    advice = measurement_advice(
        [
            "body_movement_detected",
            "cuff_too_loose",
            "sensor_displaced",
            "poor_signal_detected",
            "pulse_rate_NaN",
            7,
        ],
        EN,
    )
    # Never two instructions at once: the cuff is fixed before anything else is tried.
    assert advice.startswith("The cuff was too loose") and "\n" not in advice
    moved = measurement_advice(["sensor_displaced", "body_movement_detected"], EN)
    assert moved.startswith("You moved") and "\n" not in moved
    assert measurement_advice([7, "pulse_rate_NaN"], EN) == ""
    assert measurement_advice("cuff_too_loose", EN) == ""  # not a list: nothing to say


def test_a_session_that_ended_without_a_result_after_measuring_says_so() -> None:
    view = measuring_view(
        live(NOW, NOW, progress={"cuff_pressure": 80.0, "unit": "mmHg"}), None, NOW, NB
    )
    assert view.phase == "not_finished"
    assert view.hint == "Målingen ble ikke fullført. Vent ett minutt og mål igjen."


def test_which_session_is_shown() -> None:
    old = live(
        NOW - timedelta(minutes=5),
        NOW - RESULT_SHOWN - timedelta(seconds=1),
        results=(bp_result(),),
    )
    empty = live(NOW - timedelta(minutes=1), NOW - timedelta(seconds=30))
    recent = live(
        NOW - timedelta(seconds=40),
        NOW - timedelta(seconds=20),
        results=(bp_result(),),
        address="00:BB:00:00:00:09",
    )
    assert session_to_show([old, empty], {}, NOW) is None  # long gone, and nothing new
    assert session_to_show([old, recent, empty], {}, NOW) is recent
    assert session_to_show([old, recent], {recent.key: 1}, NOW) is None  # closed by the patient
    connected = live(NOW)
    assert session_to_show([recent, connected], {}, NOW) is connected
    assert session_to_show([], {}, NOW) is None


def test_a_result_on_screen_is_not_swapped_for_a_newer_one() -> None:
    """The one she is reading stays until she closes it; the next comes after."""
    first = live(NOW - timedelta(seconds=40), NOW - timedelta(seconds=20), results=(bp_result(),))
    second = live(
        NOW - timedelta(seconds=10),
        NOW - timedelta(seconds=5),
        results=(bp_result(),),
        address="00:BB:00:00:00:09",
    )
    connected = live(NOW, address="00:BB:00:00:00:0A")
    sessions = [first, second, connected]
    assert session_to_show(sessions, {}, NOW, showing=first.key) is first
    assert session_to_show(sessions, {first.key: 1}, NOW, showing=first.key) is connected
    # One on screen that is no longer worth showing gives way.
    assert session_to_show(sessions, {}, NOW + RESULT_SHOWN, showing=first.key) is connected
    assert session_to_show(sessions, {}, NOW, showing="gone") is connected


def test_closed_while_measuring_comes_back_with_its_result() -> None:
    """OK pressed while the cuff still pumps: the result it then stores is shown."""
    pumping = live(NOW - timedelta(seconds=30))
    done = live(NOW - timedelta(seconds=30), NOW, results=(bp_result(),))
    assert session_to_show([pumping], {pumping.key: 0}, NOW) is None
    assert session_to_show([done], {pumping.key: 0}, NOW) is done
    assert session_to_show([done], {pumping.key: 1}, NOW) is None
    ended_empty = live(NOW - timedelta(seconds=30), NOW)
    assert session_to_show([ended_empty], {pumping.key: 0}, NOW) is None


# --- on the screen (pilot) -------------------------------------------------------------------


async def test_a_cuff_measurement_from_start_to_result_by_touch(
    daemon: FakeDaemon, sock_path: Path
) -> None:
    daemon.status["care_plan"] = {"centre_phone": "22 33 44 55"}
    await daemon.start()
    app = PatientScreenApp(sock_path, "nb", poll_interval=0.1)
    started = datetime.now(UTC)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_until(pilot, lambda: shown(app, "#lang-toggle") != "", "the home screen")
        await daemon.set_live([session(started)])
        await wait_until(
            pilot,
            lambda: (
                isinstance(app.screen, MeasuringScreen)
                and shown(app, "#m-hint") == "Henter målingen fra blodtrykksmåleren …"
            ),
            "the measuring screen",
        )
        for pressure in (60.0, 145.0, 180.0, 120.0):
            await daemon.set_live(
                [session(started, progress={"cuff_pressure": pressure, "unit": "mmHg"})]
            )
            digits = f"{pressure:.0f}"
            await wait_until(
                pilot,
                lambda: shown(app, "#m-progress") == digits,  # noqa: B023 (awaited now)
                f"the cuff pressure {digits}",
            )
        assert shown(app, "#m-progress-unit") == "mmHg"
        assert "Sitt stille" in shown(app, "#m-hint")
        result = bp_result(
            168,
            97,
            outcome="flagged",
            problems=("systolic_above_care_plan", "body_movement_detected"),
        )
        await daemon.set_live([session(started, results=(result,))])
        await wait_until(pilot, lambda: shown(app, "#bp-value") == "168/97", "the result")
        assert shown(app, "#m-progress") == ""  # the pressure gives way to the result
        note = shown(app, "#bp-note")
        # One instruction at a time: a disturbed measurement is measured again before anyone
        # is called about its value; the value is still marked beyond the limit in words.
        assert "Du beveget deg" in note and "Ring" not in note
        assert shown(app, "#bp-flag") == "\N{BLACK UP-POINTING TRIANGLE} Over grensen"
        assert shown(app, "#m-done") == "OK"
        await tap(pilot, "#m-done")
        await wait_until(pilot, lambda: not isinstance(app.screen, MeasuringScreen), "home")
        # Closed is closed: the same session does not come back, even when it ends.
        await daemon.set_live([session(started, datetime.now(UTC), results=(result,))])
        await pilot.pause(0.3)
        assert not isinstance(app.screen, MeasuringScreen)


def weight_session(problems: tuple[str, ...] = (), outcome: str = "ok") -> dict[str, Any]:
    return session(
        datetime.now(UTC),
        profile="weight_scale",
        results=(
            {
                "kind": "weight",
                "seq": 3,
                "device_time": None,
                "measured_at": iso(datetime.now(UTC)),
                "time_source": "hub",
                "received_at": iso(datetime.now(UTC)),
                "outcome": outcome,
                "problems": list(problems),
                "values": {"weight": 81.35, "unit": "kg"},
                "synced": False,
                "synced_at": None,
            },
        ),
    )


async def test_a_measurement_during_the_questionnaire_waits_until_it_ends(
    daemon: FakeDaemon,
    sock_path: Path,
) -> None:
    with_plan(daemon, "urn:dho:questionnaire:copd-daily")
    await daemon.start()
    app = PatientScreenApp(sock_path, "nb", poll_interval=0.1)
    async with app.run_test(size=TOUCHSCREEN) as pilot:
        await wait_until(pilot, lambda: bool(shown(app, "#next-action")), "the button")
        await tap(pilot, "#next-action")
        await tap(pilot, "#option-3", "Hvordan er pusten")
        await wait_until(pilot, lambda: "sitter stille" in shown(app, "#q-text"), "question 2")
        # The scale sends a weight while the patient is answering: it waits.
        await daemon.set_live([weight_session()])
        await pilot.pause(0.5)
        assert not isinstance(app.screen, MeasuringScreen), "the questionnaire is not interrupted"
        assert shown(app, "#q-progress") == "Spørsmål 2"
        while not shown(app, "#q-done"):
            if shown(app, "#answer-no"):
                await tap(pilot, "#answer-no")
            elif shown(app, "#q-display-ok"):
                await tap(pilot, "#q-display-ok")
            else:
                await tap(pilot, "#q-skip")
        await tap(pilot, "#q-done", "Takk!")
        # The questionnaire is over: now the weight is shown.
        await wait_until(pilot, lambda: shown(app, "#kind-weight-value") == "81,4", "the weight")
        assert shown(app, "#m-title") == "Vekt"
    (response,) = daemon.answers
    answers = answers_of(response)
    assert answers["breath"] == "much-worse"
    assert (answers["breath-rest"], answers["cough"], answers["rescue"]) == (False,) * 3


async def test_a_value_beyond_the_limits_interrupts_the_questionnaire_and_keeps_the_answers(
    daemon: FakeDaemon,
    sock_path: Path,
) -> None:
    with_plan(daemon, "urn:dho:questionnaire:copd-daily")
    await daemon.start()
    app = PatientScreenApp(sock_path, "nb", poll_interval=0.1)
    async with app.run_test(size=TOUCHSCREEN) as pilot:
        await wait_until(pilot, lambda: bool(shown(app, "#next-action")), "the button")
        await tap(pilot, "#next-action")
        await tap(pilot, "#option-3", "Hvordan er pusten")
        await wait_until(pilot, lambda: "sitter stille" in shown(app, "#q-text"), "question 2")
        await daemon.set_live([weight_session(("weight_above_care_plan",), "flagged")])
        await wait_until(pilot, lambda: shown(app, "#kind-weight-value") == "81,4", "the weight")
        assert "Over grensen" in shown(app, "#kind-weight-flag")
        await tap(pilot, "#m-done")
        # Back where the patient was; the answers given before the weight came are kept.
        await wait_until(
            pilot, lambda: "sitter stille" in shown(app, "#q-text"), "the questionnaire again"
        )
        assert shown(app, "#q-progress") == "Spørsmål 2"
        await tap(pilot, "#q-back")
        await wait_until(pilot, lambda: "Hvordan er pusten" in shown(app, "#q-text"), "question 1")
        assert app.screen.walk.answers["breath"].code == "much-worse"  # type: ignore[attr-defined]


async def test_the_screen_goes_away_when_a_device_had_nothing_new(
    daemon: FakeDaemon, sock_path: Path
) -> None:
    await daemon.start()
    app = PatientScreenApp(sock_path, "en", poll_interval=0.1)
    started = datetime.now(UTC)
    async with app.run_test(size=(80, 24)) as pilot:
        await daemon.set_live([session(started, profile="pulse_oximeter")])
        await wait_until(
            pilot,
            lambda: shown(app, "#m-hint") == "Getting the measurement from the pulse oximeter …",
            "measuring",
        )
        await daemon.set_live([session(started, datetime.now(UTC), profile="pulse_oximeter")])
        await wait_until(pilot, lambda: not isinstance(app.screen, MeasuringScreen), "home")


async def test_an_unfinished_measurement_says_to_try_again_until_closed(
    daemon: FakeDaemon,
    sock_path: Path,
) -> None:
    await daemon.start()
    app = PatientScreenApp(sock_path, "nn", poll_interval=0.1)
    started = datetime.now(UTC)
    async with app.run_test(size=(80, 24)) as pilot:
        await daemon.set_live(
            [session(started, datetime.now(UTC), progress={"cuff_pressure": 95.0, "unit": "mmHg"})]
        )
        await wait_until(pilot, lambda: "ikkje fullført" in shown(app, "#m-hint"), "the advice")
        assert app.screen.query_one("#m-hint").has_class("warning")  # black on yellow
        assert shown(app, "#m-progress") == ""
        await pilot.press("escape")  # a technician's keyboard works too
        await wait_until(pilot, lambda: not isinstance(app.screen, MeasuringScreen), "home")


async def test_the_daemon_going_away_mid_measurement_closes_the_screen_and_says_so(
    daemon: FakeDaemon,
    sock_path: Path,
) -> None:
    await daemon.start()
    app = PatientScreenApp(sock_path, "nb", poll_interval=0.1)
    async with app.run_test(size=(80, 24)) as pilot:
        await daemon.set_live([session(datetime.now(UTC))])
        await wait_until(pilot, lambda: isinstance(app.screen, MeasuringScreen), "measuring")
        await daemon.stop()
        await wait_until(
            pilot,
            lambda: "Målestasjonen svarer ikke" in shown(app, "#standing"),
            f"the daemon-down banner; shown:\n{screen_text(app)}",
        )
        assert not isinstance(app.screen, MeasuringScreen)


@pytest.mark.parametrize(
    ("reply", "a_device"),
    [
        # Not the contract: read as no live state at all (the status poll goes on).
        ({"ok": True, "boot": "b", "version": 1, "sessions": "junk"}, False),
        (
            {
                "ok": True,
                "boot": "b",
                "version": 1,
                "sessions": [1, "x", {"key": 5, "profile": [], "results": "no", "progress": 7}],
            },
            False,
        ),
        ({"ok": True, "boot": 5, "version": "1", "sessions": []}, False),
        ({"ok": True, "boot": "b", "version": 1}, False),
        ({"ok": True, "boot": "b", "version": 1, "sessions": [], "more": 1}, False),
        ({"ok": "yes"}, False),
        ({"ok": False}, False),  # a refusal without words
        ({"ok": False, "error": "unknown op 'live'"}, False),  # a daemon older than this screen
        # The contract, but a device nobody knows with progress nobody reads: still a device
        # connected, said plainly.
        (
            {
                "ok": True,
                "boot": "b",
                "version": 1,
                "sessions": [
                    {
                        "key": "k",
                        "device_address": "?",
                        "profile": "toaster",
                        "started_at": "then",
                        "ended_at": None,
                        "progress": {"x": [7]},
                        "progress_count": -1,
                        "results": [],
                    }
                ],
            },
            True,
        ),
    ],
)
async def test_a_broken_live_answer_never_takes_the_screen_down(
    daemon: FakeDaemon,
    sock_path: Path,
    reply: dict[str, Any],
    a_device: bool,
) -> None:
    daemon.live_reply = reply
    daemon.status["readings"] = [bp_result(131, 85)]
    await daemon.start()
    app = PatientScreenApp(sock_path, "nb", poll_interval=0.05)
    async with app.run_test(size=(80, 24)) as pilot:
        if a_device:  # an open session of junk is still a device connected: say so plainly
            await wait_until(
                pilot,
                lambda: shown(app, "#m-hint") == "Henter målingen fra måleren …",
                "the junk session",
            )
            await tap(pilot, "#m-done")
        else:
            await pilot.pause(0.5)
            assert not isinstance(app.screen, MeasuringScreen)
        # The home screen still works and keeps polling the status.
        await wait_until(pilot, lambda: shown(app, "#bp-value") == "131/85", "the reading")
        daemon.status["readings"] = [bp_result(140, 90)]
        await wait_until(pilot, lambda: shown(app, "#bp-value") == "140/90", "the new reading")
        assert app.is_running


async def test_a_short_hiccup_of_the_daemon_does_not_count_as_closed_by_the_patient(
    daemon: FakeDaemon,
    sock_path: Path,
) -> None:
    await daemon.start()
    app = PatientScreenApp(sock_path, "nb", poll_interval=0.05)
    started = datetime.now(UTC)
    async with app.run_test(size=(80, 24)) as pilot:
        await daemon.set_live([session(started)])
        await wait_until(pilot, lambda: isinstance(app.screen, MeasuringScreen), "measuring")
        good = daemon.status
        daemon.status = {"ok": False, "error": "busy"}  # one refused poll: "not answering"
        await wait_until(pilot, lambda: not isinstance(app.screen, MeasuringScreen), "closed")
        daemon.status = good
        await daemon.set_live([session(started, results=(bp_result(133, 83),))])
        await wait_until(
            pilot,
            lambda: shown(app, "#bp-value") == "133/83" and isinstance(app.screen, MeasuringScreen),
            "the result after all",
        )


async def test_sessions_closed_long_ago_are_forgotten(daemon: FakeDaemon, sock_path: Path) -> None:
    await daemon.start()
    app = PatientScreenApp(sock_path, "nb", poll_interval=0.05)
    first = session(datetime.now(UTC), results=(bp_result(),))
    async with app.run_test(size=(80, 24)) as pilot:
        await daemon.set_live([first])
        await tap(pilot, "#m-done")
        await wait_until(pilot, lambda: not isinstance(app.screen, MeasuringScreen), "home")
        assert app._closed_sessions == {first["key"]: 1}
        # The daemon keeps a few ended sessions; once it drops this one, so does the screen.
        await daemon.set_live([])
        await wait_until(pilot, lambda: not app._closed_sessions, "the key forgotten")


async def test_ok_while_the_cuff_pumps_still_brings_up_the_result(
    daemon: FakeDaemon, sock_path: Path
) -> None:
    """A patient who presses OK while the cuff inflates has not seen the result: a 190/110
    with its advice comes on screen when the cuff stores it."""
    await daemon.start()
    app = PatientScreenApp(sock_path, "nb", poll_interval=0.05)
    started = datetime.now(UTC)
    pumping = session(started, progress={"cuff_pressure": 120.0, "unit": "mmHg"})
    async with app.run_test(size=(50, 15)) as pilot:
        await daemon.set_live([pumping])
        await wait_until(pilot, lambda: isinstance(app.screen, MeasuringScreen), "measuring")
        await tap(pilot, "#m-done")
        await wait_until(pilot, lambda: not isinstance(app.screen, MeasuringScreen), "closed")
        await daemon.set_live([session(started, results=(bp_result(190, 110),))])
        await wait_until(
            pilot,
            lambda: (
                isinstance(app.screen, MeasuringScreen) and shown(app, "#bp-value") == "190/110"
            ),
            "the result after all",
        )
        await tap(pilot, "#m-done")
        await wait_until(pilot, lambda: not isinstance(app.screen, MeasuringScreen), "closed")
        await pilot.pause(0.3)
        assert not isinstance(app.screen, MeasuringScreen), "seen once: not again"


async def test_a_second_result_waits_until_the_first_is_closed(
    daemon: FakeDaemon, sock_path: Path
) -> None:
    """The result she is reading is never swapped for another under her finger; the next one
    comes after her OK, on a new screen (so the tap pause holds her second tap)."""
    await daemon.start()
    app = PatientScreenApp(sock_path, "nb", poll_interval=0.05)
    now = datetime.now(UTC)
    first = session(now - timedelta(seconds=30), now, results=(bp_result(131, 85),))
    second = session(now, now, results=(bp_result(142, 91, seq=6),), address="00:BB:00:00:00:09")
    async with app.run_test(size=(50, 15)) as pilot:
        await daemon.set_live([first])
        await wait_until(pilot, lambda: shown(app, "#bp-value") == "131/85", "the first")
        reading = app.screen
        await daemon.set_live([first, second])
        await pilot.pause(0.5)  # several live answers later
        assert app.screen is reading and shown(app, "#bp-value") == "131/85"
        await tap(pilot, "#m-done")
        await wait_until(
            pilot,
            lambda: app.screen is not reading and shown(app, "#bp-value") == "142/91",
            "the second, on a screen of its own",
        )
        await tap(pilot, "#m-done")
        await wait_until(pilot, lambda: not isinstance(app.screen, MeasuringScreen), "home")
