"""Questionnaire answers take the readings' road: a sequence number, sealed, delivered once."""

from __future__ import annotations

from typing import Any

import pytest

from hub.core.answers import AnswerError, to_answer_reading
from testbed.home import SimulatedHome
from tests.test_faults import assert_exactly_once, drained

RECEIVED = "2026-11-22T10:40:01.000+00:00"


def response(**changes: object) -> dict[str, Any]:
    base: dict[str, Any] = {
        "resourceType": "QuestionnaireResponse",
        "id": "b1d0c5e2-0001",
        "questionnaire": "https://dho.example.no/Questionnaire/kols-daglig|1",
        "status": "completed",
        "authored": "2026-11-22T11:39:30+01:00",
        "item": [{"linkId": "breathless", "answer": [{"valueBoolean": True}]}],
    }
    base.update(changes)
    return base


def test_answers_become_an_item_recognised_if_sent_again() -> None:
    reading = to_answer_reading(response(), RECEIVED)
    assert (reading.kind, reading.device_address, reading.outcome) == (
        "questionnaire_response",
        "hub-screen",
        "ok",
    )
    assert reading.measured_at == "2026-11-22T10:39:30+00:00"
    assert reading.values["item"][0]["linkId"] == "breathless"
    assert reading.record_key == to_answer_reading(response(), RECEIVED).record_key
    later = to_answer_reading(response(authored="2027-01-01T00:00:00+01:00"), RECEIVED)
    assert later.measured_at == "2026-11-22T10:40:01+00:00"  # not after it arrived


@pytest.mark.parametrize(
    ("bad", "expected"),
    [
        ("not a dict", "not a FHIR QuestionnaireResponse"),
        (response(resourceType="Observation"), "not a FHIR QuestionnaireResponse"),
        (response(id=""), "QuestionnaireResponse.id is missing"),
        (response(status="done"), "status 'done' is not one of"),
        (response(authored="yesterday"), "is not a date-time"),
        (response(authored="2026-11-22T11:39:30"), "needs a time zone"),
        (response(item={"linkId": "x"}), "item must be a list"),
        (response(item=[{"text": "x" * 70_000}]), "larger than"),
        (response(item=[{"valueDecimal": float("nan")}]), "not plain JSON"),
        (response(authored="0001-01-01T00:00:00+01:00"), "outside the calendar"),
        (response(authored="9999-12-31T23:59:59-05:00"), "outside the calendar"),
        (response(status="s" * 60_000), "status 'sss"),
        (response(authored="a" * 60_000), "is not a date-time"),
    ],
)
def test_malformed_answers_are_refused_with_a_reason(bad: object, expected: str) -> None:
    with pytest.raises(AnswerError, match=expected) as refused:
        to_answer_reading(bad, RECEIVED)
    assert len(str(refused.value)) < 300  # a refusal never echoes the sender's text whole


async def test_answers_reach_the_centre_exactly_once(home: SimulatedHome) -> None:
    home.start_centre()
    home.start_hub()
    first = home.ask_hub("answer", response=response())
    assert first == {"ok": True, "seq": 1, "stored_before": False}
    # The screen did not hear the answer and sends again: stored once.
    assert home.ask_hub("answer", response=response()) == {
        "ok": True,
        "seq": None,
        "stored_before": True,
    }
    refused = home.ask_hub("answer", response=response(status="done"))
    assert refused["ok"] is False and "status 'done'" in refused["error"]
    assert home.ask_hub("answer", response=response(id="b1d0c5e2-0002"))["seq"] == 2
    assert_exactly_once(await drained(home, 2), 2)
    (row, _) = home.centre_readings()
    assert row["kind"] == "questionnaire_response"
    assert row["values"]["questionnaire"].endswith("kols-daglig|1")
