"""The shipped questionnaires in bokmål, nynorsk and English: the same questionnaire in each (only
the words differ, so answers mean the same whatever language the patient reads), nynorsk really
in nynorsk, and a nynorsk patient tapping through the COPD check."""

from __future__ import annotations

import json
import re
from importlib import resources
from typing import Any

import pytest
from fhir.resources.R4B.questionnaireresponse import QuestionnaireResponse

from hub.core.care_plan import CarePlan
from hub.questionnaire import SHIPPED, SHIPPED_LANGUAGES, load_shipped
from hub.questionnaire.engine import build_response, questions
from hub.questionnaire.model import Coding, Questionnaire, QuestionnaireError
from hub.ui.app import PatientScreenApp
from hub.ui.flow import questionnaire_for
from tests.test_questionnaire_screen import TOUCHSCREEN, answers_of, tap, with_plan
from tests.ui_support import FakeDaemon, shown, wait_until

# The words a questionnaire's human text is made of; everything else must be the same.
TEXT_KEYS = frozenset({"text", "display", "title", "description"})
# Bokmål spellings that have no place in nynorsk text (nynorsk: korleis, kor, kva, ikkje, ...).
BOKMAL_ONLY = frozenset(
    {
        "hvordan",
        "hvor",
        "hvilken",
        "hva",
        "ikke",
        "mye",
        "noe",
        "annet",
        "mer",
        "vanlig",
        "daglig",
        "ganger",
        "sykepleieren",
        "oppfølgingstjenesten",
        "hjertesvikt",
        "hvitt",
        "bedre",
        "sitter",
        "ligger",
        "trenger",
        "vært",
        "de",
        "dagene",
        "helt",
        "utslitt",
        "samler",
        "fortelle",
        "valgfritt",
        "sammenlignet",
        "en",
        "falt",
        "hoster",
    }
)


def raw(name: str, language: str) -> dict[str, Any]:
    text = (
        resources.files("hub.questionnaire").joinpath("data", f"{name}.{language}.json").read_text()
    )
    loaded: dict[str, Any] = json.loads(text)
    return loaded


def without_words(node: Any) -> Any:
    """The JSON with every human text, and the resource's own id and language, left out."""
    if isinstance(node, dict):
        return {
            k: without_words(v) for k, v in node.items() if k not in TEXT_KEYS | {"id", "language"}
        }
    if isinstance(node, list):
        return [without_words(v) for v in node]
    return node


def structure(q: Questionnaire) -> list[tuple[Any, ...]]:
    """What the engine asks and records, item by item in order, without the words."""
    return [
        (
            i.link_id,
            i.type,
            i.required,
            i.enable_behavior,
            i.enable_when,
            [
                (o.value.system, o.value.code, o.score)
                if isinstance(o.value, Coding)
                else (o.value, o.score)
                for o in i.options
            ],
            [child.link_id for child in i.items],
        )
        for i in q.by_link_id.values()
    ]


def words(q: Questionnaire) -> list[tuple[str, str]]:
    """(where, text) for the title, every item's text and every answer option's display."""
    found = [("title", q.title)]
    for item in q.by_link_id.values():
        found.append((item.link_id, item.text))
        found.extend((f"{item.link_id}/{_code(o.value)}", o.label) for o in item.options)
    return found


def _code(value: Any) -> str:
    return value.code if isinstance(value, Coding) else str(value)


@pytest.mark.parametrize("name", SHIPPED)
@pytest.mark.parametrize("language", ["nn", "en"])
def test_every_language_is_the_same_questionnaire_in_other_words(name: str, language: str) -> None:
    nb, other = load_shipped(name, "nb"), load_shipped(name, language)
    assert other.language == language and nb.language == "nb"
    assert (other.url, other.version, other.canonical) == (nb.url, nb.version, nb.canonical)
    assert structure(other) == structure(nb)
    # Nothing outside the words differs either: codes, systems, ordinal extensions, operators.
    assert without_words(raw(name, language)) == without_words(raw(name, "nb"))
    assert raw(name, language)["id"] == f"{name}-{language}"


@pytest.mark.parametrize("name", SHIPPED)
@pytest.mark.parametrize("language", ["nn", "en"])
def test_the_words_are_translated_not_copied(name: str, language: str) -> None:
    nb, other = words(load_shipped(name, "nb")), words(load_shipped(name, language))
    assert [where for where, _ in other] == [where for where, _ in nb]
    assert all(text.strip() for _, text in other), "an empty text"
    differ = sum(a != b for (_, a), (_, b) in zip(nb, other, strict=True))
    # Some words are the same in bokmål and nynorsk ("Slim", "Nei", "Litt verre", "Gult").
    assert differ >= 0.6 * len(nb), f"only {differ} of {len(nb)} texts differ from bokmål"
    assert load_shipped(name, language).title != load_shipped(name, "nb").title


@pytest.mark.parametrize("name", SHIPPED)
def test_nynorsk_has_no_bokmal_spellings(name: str) -> None:
    for where, text in words(load_shipped(name, "nn")):
        found = set(re.findall(r"\w+", text.lower())) & BOKMAL_ONLY
        assert not found, f"{name} {where}: bokmål {sorted(found)} in {text!r}"


def test_a_language_without_a_version_is_refused_by_name_and_gets_bokmal_on_screen() -> None:
    assert SHIPPED_LANGUAGES == ("nb", "nn", "en")
    with pytest.raises(QuestionnaireError, match=r"not shipped in 'se'; it is in nb, nn, en"):
        load_shipped("copd-daily", "se")
    plan = {
        "care_plan": {
            "questionnaire": {
                "resourceType": "Questionnaire",
                "url": "urn:dho:questionnaire:copd-daily",
            }
        }
    }
    care_plan = CarePlan.model_validate(plan["care_plan"])
    chosen = {lang: questionnaire_for(care_plan, lang) for lang in ("nb", "nn", "en", "se")}
    assert {lang: q.language if q else None for lang, q in chosen.items()} == {
        "nb": "nb",
        "nn": "nn",
        "en": "en",
        "se": "nb",
    }


def test_a_nynorsk_response_says_so_and_carries_the_nynorsk_words() -> None:
    q = load_shipped("heart-failure-daily", "nn")
    answers: dict[str, Any] = {
        "breath-lying": True,
        "pillows": 3,
        "ankles": Coding("urn:dho:answers", "more"),
        "weight-gain": True,
        "dizzy": False,
        "energy": Coding("urn:dho:answers", "exhausted"),
    }
    response = build_response(q, answers, "resp-nn", "2026-11-22T10:39:30+01:00")
    QuestionnaireResponse.model_validate(response)
    assert response["language"] == "nn"
    assert response["extension"][0]["valueDecimal"] == 4.0  # more 2 + exhausted 2, as in nb
    by_id = {i["linkId"]: i for i in response["item"]}
    assert by_id["pillows"]["text"] == "Kor mange puter treng du for å sove?"
    assert by_id["energy"]["answer"] == [
        {
            "valueCoding": {
                "system": "urn:dho:answers",
                "code": "exhausted",
                "display": "Heilt utsliten",
            }
        }
    ]
    advice = next(i for i in questions(q, answers) if i.link_id == "fluid-advice")
    assert advice.text.endswith("Ring oppfølgingstenesta i dag.")  # swollen and heavier


async def test_copd_check_by_touch_in_nynorsk_with_a_branch(
    daemon: FakeDaemon, sock_path: Any
) -> None:
    q = load_shipped("copd-daily", "nn")
    with_plan(daemon, "urn:dho:questionnaire:copd-daily")
    await daemon.start()
    app = PatientScreenApp(sock_path, "nn", poll_interval=0.05)
    async with app.run_test(size=TOUCHSCREEN) as pilot:
        await wait_until(
            pilot,
            lambda: shown(app, "#questionnaire-start") == "Svar på spørsmåla for i dag",
            "the questionnaire button",
        )
        await tap(pilot, "#questionnaire-start")
        await wait_until(
            pilot,
            lambda: shown(app, "#q-text") == q.by_link_id["breath"].text,
            "the first question in nynorsk",
        )
        assert shown(app, "#q-progress") == "Spørsmål 1 av 5"
        assert [shown(app, f"#option-{n}") for n in range(4)] == [
            "Betre enn vanleg",
            "Som vanleg",
            "Litt verre",
            "Mykje verre",
        ]
        await tap(pilot, "#option-2", "Korleis er pusten")  # Litt verre: opens a question
        assert shown(app, "#q-progress") == "Spørsmål 2 av 6"
        await tap(pilot, "#answer-yes", "andpusten òg når du sit stille")
        await tap(pilot, "#answer-no", "Hostar du meir")
        await tap(pilot, "#answer-yes", "meir slim")  # opens the colour
        await tap(pilot, "#option-0", "Kva farge har slimet")  # Klart eller kvitt
        await tap(pilot, "#answer-yes", "anfallsmedisin")
        for _ in range(4):
            await tap(pilot, "#q-plus", "Kor mange gonger")
        assert shown(app, "#q-number") == "4"
        await tap(pilot, "#q-number-ok")
        await tap(pilot, "#q-display-ok", "Ring oppfølgingstenesta i dag")  # >= 4 opened it
        await tap(pilot, "#q-skip", "fortelje sjukepleiaren")
        await wait_until(pilot, lambda: "Takk!" in shown(app, "#q-text"), "the thank-you")
        await tap(pilot, "#q-done")
        await wait_until(pilot, lambda: bool(shown(app, "#questionnaire-start")), "home again")
    (response,) = daemon.answers
    QuestionnaireResponse.model_validate(response)
    assert response["language"] == "nn"
    assert response["questionnaire"] == "urn:dho:questionnaire:copd-daily|1"
    assert answers_of(response) == {
        "breath": "worse",
        "breath-rest": True,
        "cough": False,
        "sputum": True,
        "sputum-colour": "clear",
        "rescue": True,
        "rescue-count": 4,
    }
    assert response["extension"][0]["valueDecimal"] == 1.0  # Litt verre 1 + clear 0
    cough = next(i for i in response["item"] if i["linkId"] == "cough")
    assert cough["text"] == "Hostar du meir enn vanleg?"
    sputum = next(i for i in response["item"] if i["linkId"] == "sputum-group")
    assert sputum["item"][1]["answer"][0]["valueCoding"]["display"] == "Klart eller kvitt"
