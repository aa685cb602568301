"""Pilot tests: a patient taps through the daily questionnaires by touch alone, branches open and
close, the answers reach the daemon once, and a refusal is retried with the same answers."""

from __future__ import annotations

from typing import Any

import pytest
from fhir.resources.R4B.questionnaireresponse import QuestionnaireResponse

from hub.core.care_plan import CarePlan
from hub.local_protocol import AnswerStored, Refusal
from hub.ui.app import PatientScreenApp
from tests.ui_support import FakeDaemon, shown, tap, wait_until

TOUCHSCREEN = (100, 30)  # a 7" 800x480 panel with an 8x16 font
KIOSK = (50, 15)  # the same panel with the kiosk's 16x32 font (docs/kiosk.md)


def with_plan(daemon: FakeDaemon, url: str) -> None:
    daemon.status["care_plan"] = {"questionnaire": {"resourceType": "Questionnaire", "url": url}}


def answers_of(response: dict[str, Any]) -> dict[str, Any]:
    """linkId -> the answer's value, through groups."""
    found: dict[str, Any] = {}

    def walk(items: list[dict[str, Any]]) -> None:
        for item in items:
            if "answer" in item:
                (value,) = item["answer"][0].values()
                found[item["linkId"]] = value.get("code") if isinstance(value, dict) else value
            walk(item.get("item", []))

    walk(response["item"])
    return found


async def test_copd_check_by_touch_in_bokmal_with_every_branch(
    daemon: FakeDaemon, sock_path: Any
) -> None:
    with_plan(daemon, "urn:dho:questionnaire:copd-daily")
    await daemon.start()
    app = PatientScreenApp(sock_path, "nb", poll_interval=0.05)
    async with app.run_test(size=TOUCHSCREEN) as pilot:
        await wait_until(
            pilot,
            lambda: shown(app, "#next-action") == "Svar på dagens spørsmål",
            "the questionnaire button",
        )
        await tap(pilot, "#next-action")
        assert shown(app, "#q-progress") == "Spørsmål 1"
        await tap(pilot, "#option-3", "Hvordan er pusten")  # Mye verre: opens a question
        assert shown(app, "#q-progress") == "Spørsmål 2"
        await tap(pilot, "#answer-no", "sitter stille")
        await tap(pilot, "#q-back", "Hoster du")  # back: the earlier answer is kept
        await tap(pilot, "#answer-yes", "sitter stille")
        await tap(pilot, "#answer-yes", "Hoster du")
        await tap(pilot, "#answer-yes", "mer slim")
        await tap(pilot, "#option-2", "farge")  # green or brown
        await tap(pilot, "#answer-yes", "anfallsmedisin")
        # The keypad: 5, 1 is more than the question takes (at most 50), said in words.
        await tap(pilot, "#key-5", "Hvor mange ganger")
        await tap(pilot, "#key-1")
        assert shown(app, "#q-number") == "51"
        await tap(pilot, "#q-number-ok")
        assert shown(app, "#q-number-message") == "For stort. Svar fra 0 til 50."
        assert "Hvor mange ganger" in shown(app, "#q-text"), "not taken"
        await tap(pilot, "#key-erase")
        await tap(pilot, "#key-erase")
        assert app.screen.query_one("#key-comma").disabled, "a count takes no comma"
        await tap(pilot, "#key-4")
        assert shown(app, "#q-number") == "4"
        await tap(pilot, "#q-number-ok")
        # >= 4 opened the advice, which is not a numbered question.
        await wait_until(
            pilot, lambda: "Ring oppfølgingstjenesten i dag" in shown(app, "#q-text"), "advice"
        )
        assert shown(app, "#q-progress") == ""
        await tap(pilot, "#q-display-ok")
        # Free text needs a keyboard the patient does not have: "Ring meg" instead.
        await wait_until(pilot, lambda: "trykke «Ring meg»" in shown(app, "#q-text"), "free text")
        assert shown(app, "#q-progress") == "Spørsmål 8", "the advice was not counted"
        await tap(pilot, "#q-display-ok")
        await wait_until(pilot, lambda: "Takk!" in shown(app, "#q-text"), "the thank-you")
        await tap(pilot, "#q-done")
        await wait_until(pilot, lambda: bool(shown(app, "#next-action")), "home again")
    (response,) = daemon.answers
    QuestionnaireResponse.model_validate(response)
    assert response["questionnaire"] == "urn:dho:questionnaire:copd-daily|1"
    assert answers_of(response) == {
        "breath": "much-worse",
        "breath-rest": True,
        "cough": True,
        "sputum": True,
        "sputum-colour": "green",
        "rescue": True,
        "rescue-count": 4,
    }
    assert response["extension"][0]["valueDecimal"] == 4.0


async def test_heart_failure_check_in_english_at_80x24(daemon: FakeDaemon, sock_path: Any) -> None:
    with_plan(daemon, "urn:dho:questionnaire:heart-failure-daily")
    await daemon.start()
    app = PatientScreenApp(sock_path, "en", poll_interval=0.05)
    async with app.run_test(size=(80, 24)) as pilot:
        await tap(pilot, "#next-action")
        await tap(pilot, "#answer-no", "lying flat")
        await tap(pilot, "#option-0", "ankles")
        await tap(pilot, "#answer-yes", "weight gone up by more than 2 kilos")
        await tap(pilot, "#answer-yes", "dizzy")  # opens "Have you fallen?"
        await tap(pilot, "#answer-no", "fallen")
        await tap(pilot, "#option-1", "energy")
        await wait_until(pilot, lambda: "Thank you" in shown(app, "#q-text"), "the thank-you")
    (response,) = daemon.answers
    assert response["language"] == "en"
    assert answers_of(response) == {
        "breath-lying": False,
        "ankles": "no",
        "weight-gain": True,
        "dizzy": True,
        "fall": False,
        "energy": "tired",
    }


async def test_answers_the_daemon_could_not_store_are_kept_and_sent_again(
    daemon: FakeDaemon,
    sock_path: Any,
) -> None:
    with_plan(daemon, "urn:dho:questionnaire:heart-failure-daily")
    daemon.answer_reply = Refusal(error="the disk is full")
    await daemon.start()
    app = PatientScreenApp(sock_path, "en", poll_interval=0.05)
    async with app.run_test(size=TOUCHSCREEN) as pilot:
        await tap(pilot, "#next-action")
        for selector in ("#answer-no", "#option-0", "#answer-no", "#answer-no", "#option-0"):
            await tap(pilot, selector)
        await wait_until(
            pilot, lambda: "could not be saved" in shown(app, "#q-text"), "the failure"
        )
        daemon.answer_reply = AnswerStored(seq=9, stored_before=False)
        await tap(pilot, "#q-retry")
        await wait_until(pilot, lambda: "Thank you" in shown(app, "#q-text"), "the thank-you")
    first, again = daemon.answers
    assert first == again  # same id: the daemon stores it once however often it comes


@pytest.mark.parametrize("size", [KIOSK, TOUCHSCREEN])
async def test_answers_not_taken_can_wait_for_later_and_go_once_from_home(
    daemon: FakeDaemon, sock_path: Any, size: tuple[int, int]
) -> None:
    """A daemon that will not take the answers does not trap the patient on "Try again": "Later"
    goes home with them kept, home offers to go on, and going on sends them, with the same id,
    so the daemon stores them once."""
    with_plan(daemon, "urn:dho:questionnaire:heart-failure-daily")
    daemon.answer_reply = Refusal(error="the disk is full")
    await daemon.start()
    app = PatientScreenApp(sock_path, "en", poll_interval=0.05)
    async with app.run_test(size=size) as pilot:
        await tap(pilot, "#next-action")
        for selector in ("#answer-no", "#option-0", "#answer-no", "#answer-no", "#option-0"):
            await tap(pilot, selector)
        await wait_until(pilot, lambda: bool(shown(app, "#q-later")), "the failure")
        await tap(pilot, "#q-later")
        await wait_until(
            pilot, lambda: shown(app, "#next-action") == "Continue today's questions", "home"
        )
        daemon.answer_reply = AnswerStored(seq=9, stored_before=False)
        await tap(pilot, "#next-action")
        await wait_until(pilot, lambda: "Thank you" in shown(app, "#q-text"), "sent from home")
        await tap(pilot, "#q-done")
        # Home again, with nothing kept to go on with (the fake daemon does not count answers
        # as done, so the day's questions are offered afresh).
        await wait_until(
            pilot, lambda: shown(app, "#next-action") == "Answer today's questions", "home"
        )
        assert app._saved_walk is None and app._unsent is None
    first, again = daemon.answers
    assert first == again  # same id: the daemon stores it once however often it comes


async def test_cancel_goes_home_and_a_broken_questionnaire_is_not_offered(
    daemon: FakeDaemon,
    sock_path: Any,
) -> None:
    with_plan(daemon, "urn:dho:questionnaire:copd-daily")
    await daemon.start()
    app = PatientScreenApp(sock_path, "nb", poll_interval=0.05)
    async with app.run_test(size=TOUCHSCREEN) as pilot:
        await tap(pilot, "#next-action")
        await tap(pilot, "#option-3", "Hvordan er pusten")
        # One tap on "Avbryt" asks first; "Fortsett å svare" goes back to the same question.
        await tap(pilot, "#q-cancel", "sitter stille")
        assert shown(app, "#notice-title") == "Avslutte nå?"
        await tap(pilot, "#stop-no")
        await tap(pilot, "#q-cancel", "sitter stille")
        await tap(pilot, "#stop-yes")
        await wait_until(
            pilot,
            lambda: shown(app, "#next-action") == "Fortsett på dagens spørsmål",
            "home, offering to go on",
        )
        assert daemon.answers == []
        # Later today: on from where the patient stopped, the answer given before kept.
        await tap(pilot, "#next-action")
        await wait_until(pilot, lambda: "sitter stille" in shown(app, "#q-text"), "question 2")
        assert shown(app, "#q-progress") == "Spørsmål 2"
        await tap(pilot, "#q-back")
        await wait_until(pilot, lambda: "Hvordan er pusten" in shown(app, "#q-text"), "question 1")
        assert app.screen.walk.answers["breath"].code == "much-worse"  # type: ignore[attr-defined]
        await tap(pilot, "#q-cancel")
        await tap(pilot, "#stop-yes")
        await wait_until(pilot, lambda: bool(shown(app, "#next-action")), "home")
        # A new care plan with a questionnaire that cannot be asked: the last good one stays.
        daemon.status["care_plan"] = {
            "questionnaire": {"resourceType": "Questionnaire", "url": "urn:x", "item": []}
        }
        await pilot.pause(0.3)
        assert shown(app, "#next-action") == "Fortsett på dagens spørsmål"
        daemon.status["care_plan"] = {}
        await wait_until(
            pilot,
            lambda: shown(app, "#next-action") == "",
            "no questionnaire without one in the care plan",
        )


def test_the_walk_recounts_as_branches_open_and_can_step_back_from_the_end() -> None:
    from hub.questionnaire import load_shipped
    from hub.questionnaire.model import Coding
    from hub.ui.flow import Walk, questionnaire_for

    q = load_shipped("heart-failure-daily", "en")
    walk = Walk(q)
    assert (walk.current.link_id if walk.current else None, walk.position) == (
        "breath-lying",
        (1, 5),
    )
    walk = walk.answer(True)  # opens "pillows"
    assert walk.position == (2, 6) and walk.current is not None
    walk = walk.answer(2).answer(Coding(None, "no")).answer(False).answer(False)
    walk = walk.answer(Coding(None, "usual"))
    assert walk.finished and walk.missing == []
    back = walk.step(-1)
    assert back.current is not None and back.current.link_id == "energy"
    assert questionnaire_for(None, "nb") is None
    assert questionnaire_for(CarePlan(), "nb") is None
    assert (
        questionnaire_for(
            CarePlan(
                questionnaire={
                    "resourceType": "Questionnaire",
                    "url": "urn:dho:questionnaire:copd-daily",
                }
            ),
            "se",
        )
        is not None
    )  # a language without its own version gets bokmål
