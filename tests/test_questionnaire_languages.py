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
from tests.test_questionnaire_screen import TOUCHSCREEN, answers_of, with_plan
from tests.ui_support import FakeDaemon, shown, tap, wait_until

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
    """What the engine asks and records, item by item in order, without the words: linkIds,
    types, branching, answer codes and scores, nesting, bounds."""
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
            (i.min_value, i.max_value, i.decimals),
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
    assert by_id["pillows"]["text"] == "Kor mange puter treng du under hovudet for å få sove?"
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
            lambda: shown(app, "#next-action") == "Svar på spørsmåla for i dag",
            "the questionnaire button",
        )
        await tap(pilot, "#next-action")
        await wait_until(
            pilot,
            lambda: shown(app, "#q-text") == q.by_link_id["breath"].text,
            "the first question in nynorsk",
        )
        assert shown(app, "#q-progress") == "Spørsmål 1"
        assert [shown(app, f"#option-{n}") for n in range(4)] == [
            "Betre enn vanleg",
            "Som vanleg",
            "Litt verre",
            "Mykje verre",
        ]
        await tap(pilot, "#option-2", "Korleis er pusten")  # Litt verre: opens a question
        assert shown(app, "#q-progress") == "Spørsmål 2"
        await tap(pilot, "#answer-yes", "andpusten sjølv når du sit stille")
        await tap(pilot, "#answer-no", "Hostar du meir")
        await tap(pilot, "#answer-yes", "meir slim")  # opens the colour
        await tap(pilot, "#option-0", "Kva farge har slimet")  # Klart eller kvitt
        await tap(pilot, "#answer-yes", "anfallsmedisin")
        await tap(pilot, "#key-4", "Kor mange gonger")
        assert shown(app, "#q-number") == "4"
        await tap(pilot, "#q-number-ok")
        await tap(pilot, "#q-display-ok", "Ring oppfølgingstenesta i dag")  # >= 4 opened it
        await tap(pilot, "#q-display-ok", "fortelje sjukepleiaren")  # left for the nurse's call
        await wait_until(pilot, lambda: "Takk!" in shown(app, "#q-text"), "the thank-you")
        await tap(pilot, "#q-done")
        await wait_until(pilot, lambda: bool(shown(app, "#next-action")), "home again")
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


# Every human text of the shipped questionnaires, reviewed item by item (docs: each must stand
# on its own on one screen, in plain words, with the same meaning in all three languages). A
# change to a text is a change to this table: (questionnaire, where, bokmål, nynorsk, English).
REVIEWED = [
    # copd-daily
    (
        "copd-daily",
        "title",
        "Daglig sjekk \N{EN DASH} KOLS",
        "Dagleg sjekk \N{EN DASH} KOLS",
        "Daily check \N{EN DASH} COPD",
    ),
    (
        "copd-daily",
        "breath",
        "Hvordan er pusten din i dag, sammenlignet med en vanlig dag?",
        "Korleis er pusten din i dag, samanlikna med ein vanleg dag?",
        "How is your breathing today, compared with a usual day?",
    ),
    ("copd-daily", "breath/better", "Bedre enn vanlig", "Betre enn vanleg", "Better than usual"),
    ("copd-daily", "breath/usual", "Som vanlig", "Som vanleg", "As usual"),
    ("copd-daily", "breath/worse", "Litt verre", "Litt verre", "A little worse"),
    ("copd-daily", "breath/much-worse", "Mye verre", "Mykje verre", "Much worse"),
    (
        "copd-daily",
        "breath-rest",
        "Blir du andpusten selv når du sitter stille?",
        "Blir du andpusten sjølv når du sit stille?",
        "Are you short of breath even when sitting still?",
    ),
    (
        "copd-daily",
        "cough",
        "Hoster du mer enn vanlig?",
        "Hostar du meir enn vanleg?",
        "Are you coughing more than usual?",
    ),
    ("copd-daily", "sputum-group", "Slim", "Slim", "Phlegm"),
    (
        "copd-daily",
        "sputum",
        "Hoster du opp mer slim enn vanlig?",
        "Hostar du opp meir slim enn vanleg?",
        "Are you coughing up more phlegm than usual?",
    ),
    (
        "copd-daily",
        "sputum-colour",
        "Hvilken farge har slimet du hoster opp?",
        "Kva farge har slimet du hostar opp?",
        "What colour is the phlegm you cough up?",
    ),
    (
        "copd-daily",
        "sputum-colour/clear",
        "Klart eller hvitt",
        "Klart eller kvitt",
        "Clear or white",
    ),
    ("copd-daily", "sputum-colour/yellow", "Gult", "Gult", "Yellow"),
    (
        "copd-daily",
        "sputum-colour/green",
        "Grønt eller brunt",
        "Grønt eller brunt",
        "Green or brown",
    ),
    ("copd-daily", "sputum-colour/blood", "Med blod i", "Med blod i", "With blood in it"),
    (
        "copd-daily",
        "rescue",
        ("Har du brukt mer anfallsmedisin (inhalator) enn vanlig det siste døgnet?"),
        ("Har du brukt meir anfallsmedisin (inhalator) enn vanleg det siste døgnet?"),
        ("Have you used more reliever medicine (inhaler) than usual in the last 24 hours?"),
    ),
    (
        "copd-daily",
        "rescue-count",
        ("Hvor mange ganger har du brukt anfallsmedisinen (inhalatoren) det siste døgnet?"),
        ("Kor mange gonger har du brukt anfallsmedisinen (inhalatoren) det siste døgnet?"),
        ("How many times have you used your reliever medicine (inhaler) in the last 24 hours?"),
    ),
    (
        "copd-daily",
        "rescue-advice",
        (
            "Du har brukt anfallsmedisinen mange ganger det siste "
            "døgnet. Ring oppfølgingstjenesten i dag."
        ),
        (
            "Du har brukt anfallsmedisinen mange gonger det siste "
            "døgnet. Ring oppfølgingstenesta i dag."
        ),
        (
            "You have used your reliever medicine many times in the last "
            "24 hours. Call the follow-up service today."
        ),
    ),
    (
        "copd-daily",
        "note",
        "Er det noe annet du vil fortelle sykepleieren? (valgfritt)",
        "Er det noko anna du vil fortelje sjukepleiaren? (valfritt)",
        ("Is there anything else you want to tell the nurse? (optional)"),
    ),
    # heart-failure-daily
    (
        "heart-failure-daily",
        "title",
        "Daglig sjekk \N{EN DASH} hjertesvikt",
        "Dagleg sjekk \N{EN DASH} hjartesvikt",
        "Daily check \N{EN DASH} heart failure",
    ),
    (
        "heart-failure-daily",
        "breath-lying",
        "Blir du tungpustet når du ligger flatt?",
        "Blir du tungpusta når du ligg flatt?",
        "Do you get short of breath when lying flat?",
    ),
    (
        "heart-failure-daily",
        "pillows",
        "Hvor mange puter trenger du under hodet for å få sove?",
        "Kor mange puter treng du under hovudet for å få sove?",
        ("How many pillows do you need under your head to be able to sleep?"),
    ),
    (
        "heart-failure-daily",
        "ankles",
        "Er anklene eller leggene dine hovne i dag?",
        "Er anklane eller leggane dine hovne i dag?",
        "Are your ankles or lower legs swollen today?",
    ),
    ("heart-failure-daily", "ankles/no", "Nei", "Nei", "No"),
    (
        "heart-failure-daily",
        "ankles/some",
        "Litt, som vanlig",
        "Litt, som vanleg",
        "A little, as usual",
    ),
    ("heart-failure-daily", "ankles/more", "Mer enn vanlig", "Meir enn vanleg", "More than usual"),
    (
        "heart-failure-daily",
        "weight-gain",
        "Har vekten din gått opp mer enn 2 kilo de siste tre dagene?",
        "Har vekta di gått opp meir enn 2 kilo dei siste tre dagane?",
        ("Has your weight gone up by more than 2 kilos in the last three days?"),
    ),
    (
        "heart-failure-daily",
        "fluid-advice",
        (
            "Hovne bein og vektøkning kan bety at kroppen samler "
            "væske. Ring oppfølgingstjenesten i dag."
        ),
        ("Hovne bein og vektauke kan bety at kroppen samlar væske. Ring oppfølgingstenesta i dag."),
        (
            "Swollen legs and weight gain can mean that your body is holding "
            "on to fluid. Call the follow-up service today."
        ),
    ),
    (
        "heart-failure-daily",
        "dizzy",
        "Har du vært svimmel eller nesten besvimt det siste døgnet?",
        ("Har du vore svimmel eller nær ved å svime av det siste døgnet?"),
        "Have you been dizzy or nearly fainted in the last 24 hours?",
    ),
    (
        "heart-failure-daily",
        "fall",
        "Har du falt det siste døgnet?",
        "Har du falle det siste døgnet?",
        "Have you fallen in the last 24 hours?",
    ),
    (
        "heart-failure-daily",
        "energy",
        "Hvordan er kreftene i dag?",
        "Korleis er kreftene i dag?",
        "How is your energy today?",
    ),
    ("heart-failure-daily", "energy/usual", "Som vanlig", "Som vanleg", "As usual"),
    (
        "heart-failure-daily",
        "energy/tired",
        "Mer sliten enn vanlig",
        "Meir sliten enn vanleg",
        "More tired than usual",
    ),
    (
        "heart-failure-daily",
        "energy/exhausted",
        "Helt utslitt",
        "Heilt utsliten",
        "Completely exhausted",
    ),
]


def test_every_text_is_the_reviewed_one() -> None:
    shipped = []
    for name in SHIPPED:
        per_language = [words(load_shipped(name, lang)) for lang in SHIPPED_LANGUAGES]
        for (where, nb), (at_nn, nn), (at_en, en) in zip(*per_language, strict=True):
            assert where == at_nn == at_en  # every text at the same place in each language
            shipped.append((name, where, nb, nn, en))
    assert shipped == REVIEWED


@pytest.mark.parametrize("name", SHIPPED)
def test_a_number_question_names_what_it_counts(name: str) -> None:
    """Shown alone on its screen, a count cannot lean on the question before: "how many times
    have you used it" must say what was used."""
    for language in SHIPPED_LANGUAGES:
        for item in load_shipped(name, language).by_link_id.values():
            if item.type not in ("integer", "decimal"):
                continue
            found = set(re.findall(r"\w+", item.text.lower())) & {"den", "it", "them"}
            assert not found, f"{name} {language} {item.link_id}: {item.text!r}"
