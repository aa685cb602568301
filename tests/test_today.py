"""Today's tasks from the care plan (done, due, later) and the centre's message with its read
receipt: the pure rules, and the home screen by touch."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from pathlib import Path
from typing import Any

from hub.local_protocol import StatusAnswer
from hub.ui.app import PatientScreenApp
from hub.ui.i18n import Catalogue
from hub.ui.today import newest_message, task_state, tasks_view
from hub.ui.trend_chart import trend_rows
from tests.ui_support import FakeDaemon, shown, status_of, tap, wait_until

NB = Catalogue("nb")
DASH = "\N{EN DASH}"  # as the catalogues write it


def oslo(hour: int, minute: int = 0) -> datetime:
    # 22 November: Oslo is UTC+1.
    return datetime(2026, 11, 22, hour - 1, minute, tzinfo=UTC)


def test_a_task_is_later_before_its_time_due_after_it_and_done_once_measured() -> None:
    times = [time(8, 0), time(20, 0)]
    assert task_state(times, None, oslo(7)) == ("later", time(8, 0))
    assert task_state(times, None, oslo(9)) == ("due", time(8, 0))
    assert task_state(times, oslo(8, 30), oslo(9)) == ("later", time(20, 0))
    assert task_state(times, oslo(8, 30), oslo(21)) == ("due", time(20, 0))
    assert task_state(times, oslo(20, 5), oslo(21)) == ("done", None)
    # Measured early in the evening slot (after 14.00, halfway): the evening task is done.
    assert task_state(times, oslo(15), oslo(21)) == ("done", None)
    assert task_state(times, datetime(2026, 11, 21, 20, tzinfo=UTC), oslo(9)) == (
        "due",
        time(8, 0),
    )  # yesterday's reading does not count


def status(**extra: Any) -> StatusAnswer:
    return status_of(extra)


PLAN = {
    "schedule": [
        {"kind": "weight", "times": ["08:00"]},
        {"kind": "blood_pressure", "times": ["08:00", "20:00"]},
        {"kind": "questionnaire", "times": ["09:00"]},
        {"kind": "weight", "times": ["nonsense"]},
    ]
}


def test_tasks_put_what_is_due_first_and_count_answers_and_only_good_readings() -> None:
    readings = [
        {"kind": "weight", "measured_at": oslo(7, 50).isoformat(), "outcome": "ok"},
        {"kind": "blood_pressure", "measured_at": oslo(8, 5).isoformat(), "outcome": "failed"},
        {"kind": "questionnaire_response", "measured_at": oslo(9, 10).isoformat()},
    ]
    tasks = tasks_view(status(care_plan=PLAN, readings=readings), oslo(10), NB)
    assert [(t.kind, t.state) for t in tasks] == [
        ("blood_pressure", "due"),
        ("weight", "done"),
        ("questionnaire", "done"),
    ]
    assert tasks[0].text == f"Nå: Mål blodtrykket {DASH} kl. 08.00"
    assert tasks[1].text == f"✓ Vei deg {DASH} gjort i dag"
    english = tasks_view(status(care_plan=PLAN, readings=readings), oslo(10), Catalogue("en"))
    assert english[0].text == f"Now: Measure your blood pressure {DASH} at 08:00"
    assert tasks_view(status(), oslo(10), NB) == ()


def test_the_newest_message_and_whether_it_was_read() -> None:
    messages = [
        {"version": 2, "text": "Ny", "read_at": None},
        {"version": 1, "text": "Gammel", "read_at": "2026-11-21T10:00:00+00:00"},
    ]
    newest = newest_message(status(messages=messages))
    assert newest is not None and (newest.version, newest.text, newest.read) == (2, "Ny", False)
    assert newest_message(status()) is None


async def test_home_shows_the_due_task_and_the_message_until_it_is_read(
    daemon: FakeDaemon,
    sock_path: Path,
) -> None:
    now = datetime.now(UTC)
    daemon.status["care_plan"] = {
        "schedule": [{"kind": "blood_pressure", "times": ["00:00"]}]
    }  # due all day, never measured here
    daemon.status["messages"] = [
        {
            "version": 3,
            "text": "Husk å veie deg i morgen.",
            "read_at": None,
            "issued_at": now.isoformat(),
            "received_at": now.isoformat(),
        }
    ]
    await daemon.start()
    app = PatientScreenApp(sock_path, "nb", poll_interval=0.05)
    async with app.run_test(size=(100, 30)) as pilot:
        # The message comes first, on a screen of its own, until the patient has read it.
        await wait_until(
            pilot,
            lambda: shown(app, "#notice-text") == "Husk å veie deg i morgen.",
            "the message",
        )
        assert shown(app, "#notice-title") == "Melding fra oppfølgingstjenesten"
        assert shown(app, "#message-read") == "Jeg har lest meldingen"
        await tap(pilot, "#message-read")
        await wait_until(
            pilot,
            lambda: shown(app, "#tasks-due") == f"Nå: Mål blodtrykket {DASH} kl. 00.00",
            "the due task",
        )
        assert shown(app, "#next-action") == "Mål blodtrykket nå"
    assert daemon.status["messages"][0]["read_at"] is not None


async def test_a_message_the_daemon_could_not_mark_read_comes_back(
    daemon: FakeDaemon,
    sock_path: Path,
) -> None:
    """'Jeg har lest meldingen' that does not reach the store sends no receipt: the message
    is not lost, it comes on screen again until the tap is taken."""
    now = datetime.now(UTC)
    daemon.status["messages"] = [
        {
            "version": 3,
            "text": "Husk å veie deg i morgen.",
            "read_at": None,
            "issued_at": now.isoformat(),
            "received_at": now.isoformat(),
        }
    ]
    daemon.refuse_reads = 1
    await daemon.start()
    app = PatientScreenApp(sock_path, "nb", poll_interval=0.05)
    async with app.run_test(size=(50, 15)) as pilot:
        await wait_until(pilot, lambda: shown(app, "#notice-text") != "", "the message")
        first = app.screen
        await tap(pilot, "#message-read")
        await wait_until(
            pilot,
            lambda: app.screen is not first and shown(app, "#notice-text") != "",
            "the message again",
        )
        assert daemon.status["messages"][0]["read_at"] is None
        await tap(pilot, "#message-read")
        await wait_until(pilot, lambda: daemon.status["messages"][0]["read_at"], "read")
        await pilot.pause(0.3)
        assert app.screen is app.screen_stack[0], "home: read once, not shown again"


async def test_a_card_draws_the_fourteen_day_trend(daemon: FakeDaemon, sock_path: Path) -> None:
    now = datetime.now(UTC)
    days = [now - timedelta(days=n) for n in (2, 1, 0)]
    daemon.status["readings"] = [
        {
            "kind": "weight",
            "seq": 3,
            "measured_at": now.isoformat(),
            "received_at": now.isoformat(),
            "outcome": "ok",
            "values": {"weight": 81.2, "unit": "kg"},
            "synced": False,
        }
    ]
    daemon.status["history"] = [
        {"kind": "weight", "measured_at": d.isoformat(), "values": {"weight": w}}
        for d, w in zip(days, (80.1, 80.9, 81.2), strict=True)
    ]
    await daemon.start()
    app = PatientScreenApp(sock_path, "nb", poll_interval=0.05)
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_until(pilot, lambda: shown(app, "#kind-weight-value") == "81,2", "the weight")
        assert shown(app, "#kind-weight-trend") == "\n".join(trend_rows((80.1, 80.9, 81.2), None))
        assert shown(app, "#kind-weight-trend-label") == "Siste 14 dager"


async def test_a_reminder_brings_the_task_forward_at_its_time_and_stops_once_done(
    daemon: FakeDaemon,
    sock_path: Path,
) -> None:
    now = [oslo(7, 59)]
    daemon.status.update(
        care_plan={
            "schedule": [
                {"kind": "blood_pressure", "times": ["08:00"]},
                {"kind": "weight", "times": ["07:00"]},
            ]
        },
        readings=[
            {
                "kind": "weight",
                "measured_at": oslo(7, 5).isoformat(),
                "outcome": "ok",
                "values": {"weight": 80.0},
            }
        ],
    )
    await daemon.start()
    app = PatientScreenApp(sock_path, "nb", poll_interval=0.05, clock=lambda: now[0])
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_until(
            pilot,
            lambda: "Mål blodtrykket kl. 08.00" in shown(app, "#tasks-rest"),
            "the blood pressure for later",
        )
        assert shown(app, "#tasks-due") == ""
        now[0] = oslo(8, 0)  # the care plan's time: the reminder
        await wait_until(
            pilot,
            lambda: shown(app, "#tasks-due") == f"Nå: Mål blodtrykket {DASH} kl. 08.00",
            "the reminder",
        )
        assert app.query_one("#tasks-due").region.y < app.query_one("#tasks-rest").region.y
        daemon.status["readings"].append(
            {
                "kind": "blood_pressure",
                "measured_at": oslo(8, 3).isoformat(),
                "outcome": "ok",
                "values": {"systolic": 128.0, "diastolic": 80.0},
            }
        )
        now[0] = oslo(8, 4)
        await wait_until(pilot, lambda: shown(app, "#tasks-due") == "", "the reminder to stop")
        assert f"✓ Mål blodtrykket {DASH} gjort i dag" in shown(app, "#tasks-rest")
