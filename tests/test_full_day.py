"""A patient's whole morning by touch alone, in bokmål and in English: read the nurse's message,
measure blood pressure (the cuff pressure shown while it works) and weight, answer the daily
heart-failure questions; every task on the home screen ends up done."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from importlib import resources
from pathlib import Path
from typing import Any

import pytest

from hub.ui.app import PatientScreenApp
from hub.ui.measuring_screen import MeasuringScreen
from tests.test_questionnaire_screen import TOUCHSCREEN, answers_of
from tests.ui_support import FakeDaemon, shown, tap, wait_until

NOW = datetime(2026, 11, 22, 9, 30, tzinfo=UTC)  # 10.30 in Oslo: every morning task is due
CUFF, SCALE = "00:BB:00:00:00:02", "00:BB:00:00:00:04"
WORDS = {
    "nb": {
        "message": "Jeg har lest meldingen",
        "due": "Nå:",
        "done": "gjort i dag",
        "thanks": "Takk",
        "done_button": "OK",
    },
    "nn": {
        "message": "Eg har lese meldinga",
        "due": "No:",
        "done": "gjort i dag",
        "thanks": "Takk",
        "done_button": "OK",
    },
    "en": {
        "message": "I have read the message",
        "due": "Now:",
        "done": "done today",
        "thanks": "Thank you",
        "done_button": "OK",
    },
}


def questions(language: str) -> dict[str, str]:
    """linkId -> question text of the shipped heart-failure check in `language`."""
    data = (
        resources.files("hub.questionnaire")
        .joinpath("data", f"heart-failure-daily.{language}.json")
        .read_text()
    )
    return {item["linkId"]: item.get("text", "") for item in json.loads(data)["item"]}


def iso(moment: datetime) -> str:
    return moment.isoformat(timespec="milliseconds")


def stored(kind: str, values: dict[str, Any], seq: int) -> dict[str, Any]:
    return {
        "kind": kind,
        "seq": seq,
        "device_time": None,
        "measured_at": iso(NOW),
        "time_source": "device",
        "received_at": iso(NOW),
        "outcome": "ok",
        "problems": [],
        "values": values,
        "synced": False,
        "synced_at": None,
    }


def session(
    address: str, profile: str, progress: Any = None, results: tuple[dict[str, Any], ...] = ()
) -> dict[str, Any]:
    started = iso(NOW - timedelta(seconds=30))
    return {
        "key": f"{address}@{started}",
        "device_address": address,
        "profile": profile,
        "started_at": started,
        "ended_at": None,
        "progress": progress,
        "progress_count": 1 if progress else 0,
        "results": list(results),
    }


KIOSK = (50, 15)  # the 7" panel with the kiosk's 16x32 font (docs/kiosk.md)


@pytest.mark.parametrize(
    ("language", "size"),
    [("nb", KIOSK), ("nn", KIOSK), ("en", KIOSK), ("nb", TOUCHSCREEN), ("en", (80, 24))],
)
async def test_a_full_morning_by_touch(
    daemon: FakeDaemon, sock_path: Path, language: str, size: tuple[int, int]
) -> None:
    words, asked = WORDS[language], questions(language)
    daemon.status.update(
        {
            "broker_connected": True,
            "care_plan": {
                "schedule": [
                    {"kind": "blood_pressure", "times": ["08:00"]},
                    {"kind": "weight", "times": ["07:30"]},
                    {"kind": "questionnaire", "times": ["09:00"]},
                ],
                "questionnaire": {
                    "resourceType": "Questionnaire",
                    "url": "urn:dho:questionnaire:heart-failure-daily",
                },
                "centre_phone": "55 00 00 00",
            },
            "messages": [
                {
                    "version": 1,
                    "text": "God morgen! / Good morning!",
                    "issued_at": iso(NOW - timedelta(hours=2)),
                    "read_at": None,
                }
            ],
        }
    )
    await daemon.start()
    app = PatientScreenApp(sock_path, language, poll_interval=0.05, clock=lambda: NOW)
    async with app.run_test(size=size) as pilot:
        # The nurse's message first, on its own screen, read with one tap.
        await tap(pilot, "#message-read")
        await wait_until(pilot, lambda: shown(app, "#message-read") == "", "the message read")
        assert daemon.status["messages"][0]["read_at"] is not None
        await wait_until(
            pilot, lambda: shown(app, "#tasks-due").count(words["due"]) == 3, "three tasks due"
        )

        # Blood pressure: the cuff connects, its pressure moves, the result comes.
        await daemon.set_live(
            [session(CUFF, "blood_pressure", {"cuff_pressure": 150.0, "unit": "mmHg"})]
        )
        await wait_until(pilot, lambda: shown(app, "#m-progress") == "150", "the cuff pressure")
        pressure = stored(
            "blood_pressure",
            {"systolic": 132.0, "diastolic": 84.0, "unit": "mmHg", "pulse_rate": 68.0},
            1,
        )
        daemon.status["readings"] = [pressure]
        await daemon.set_live([session(CUFF, "blood_pressure", results=(pressure,))])
        await wait_until(pilot, lambda: shown(app, "#bp-value") == "132/84", "the result")
        assert shown(app, "#m-done") == words["done_button"]
        await tap(pilot, "#m-done")

        # Weight: the scale connects with its result.
        weight = stored("weight", {"weight": 78.25, "unit": "kg"}, 2)
        daemon.status["readings"] = [weight, pressure]
        await daemon.set_live([session(SCALE, "weight_scale", results=(weight,))])
        await wait_until(
            pilot,
            lambda: (
                isinstance(app.screen, MeasuringScreen) and shown(app, "#kind-weight-value") != ""
            ),
            "the weight",
        )
        await tap(pilot, "#m-done")
        await wait_until(pilot, lambda: not isinstance(app.screen, MeasuringScreen), "home")

        # The daily questions, no branch opened.
        await tap(pilot, "#next-action")
        await tap(pilot, "#answer-no", asked["breath-lying"][:20])
        await tap(pilot, "#option-0", asked["ankles"][:20])
        await tap(pilot, "#answer-no", asked["weight-gain"][:20])
        await tap(pilot, "#answer-no", asked["dizzy"][:20])
        await tap(pilot, "#option-0", asked["energy"][:20])
        await tap(pilot, "#q-done", words["thanks"])
        await wait_until(pilot, lambda: len(daemon.answers) == 1, "the answers at the daemon")
        daemon.status["readings"] = [
            {"kind": "questionnaire_response", "seq": 3, "measured_at": iso(NOW)},
            weight,
            pressure,
        ]

        # Home: nothing is due any more, all three tasks are done.
        await wait_until(
            pilot,
            lambda: (
                shown(app, "#tasks-due") == ""
                and shown(app, "#tasks-rest").count(words["done"]) == 3
            ),
            "every task done",
        )
        # The readings, a page each after today's tasks.
        while not shown(app, "#bp-value"):
            await tap(pilot, "#page-next")
        assert shown(app, "#bp-value") == "132/84"
    (response,) = daemon.answers
    assert response["language"] == language
    assert answers_of(response) == {
        "breath-lying": False,
        "ankles": "no",
        "weight-gain": False,
        "dizzy": False,
        "energy": "usual",
    }
