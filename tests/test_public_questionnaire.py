"""A questionnaire not written here: HL7's example Questionnaire "3141" (Cancer Quality Forum
Questionnaire 2012), as the `fhirstarter` package ships it among the FHIR specification's
examples, loads and is answered through the engine and on the touchscreen.

It is read from the installed package at test time (nothing of it is copied into this
repository). fhirstarter ships the R4B edition of the examples: Questionnaire and
QuestionnaireResponse are the same in R4 and R4B, and the engine's own tests validate against
fhir.resources' R4B models too. The example has what our own questionnaires lack: no text at
all (codes and prefixes instead), choices bound to the FHIR value set yesnodontknow by URL,
questions nested under questions, an enableWhen on a coded answer, and a choice without any
answer options.
"""

from __future__ import annotations

import importlib.util
import json
import zipfile
from functools import cache
from pathlib import Path
from typing import Any

import pytest
from fhir.resources.R4B.questionnaire import Questionnaire as FhirQuestionnaire
from fhir.resources.R4B.questionnaireresponse import QuestionnaireResponse

from hub.questionnaire.engine import build_response, missing_required, questions, score
from hub.questionnaire.model import Coding, parse_questionnaire
from hub.ui.app import PatientScreenApp
from hub.ui.flow import Walk
from tests.test_questionnaire_screen import TOUCHSCREEN
from tests.ui_support import FakeDaemon, shown, tap, wait_until

EXAMPLE_ID = "3141"
AUTHORED = "2026-11-22T10:39:30+01:00"


@cache
def _examples(name: str) -> dict[str, Any]:
    """One file of fhirstarter's R4B examples.zip: a mapping of example id to its entry.

    Found through the package's location without importing it (no web framework is needed to
    read a zip)."""
    spec = importlib.util.find_spec("fhirstarter")
    if spec is None or not spec.submodule_search_locations:
        pytest.fail("fhirstarter is not installed: pip install -e '.[test]'")
    package = Path(next(iter(spec.submodule_search_locations)))
    archive = package / "fhir_specification" / "sequences" / "R4B" / "examples.zip"
    with zipfile.ZipFile(archive) as examples:
        found: dict[str, Any] = json.loads(examples.read(name))
    return found


def example(name: str = "questionnaire.json") -> dict[str, Any]:
    entry = _examples(name)[EXAMPLE_ID]
    resource: dict[str, Any] = json.loads(json.dumps(entry["value"]))  # a fresh copy each time
    return resource


def raw_items(obj: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Every item of the example's JSON by linkId, through nested items."""
    found: dict[str, dict[str, Any]] = {}
    for item in obj.get("item", []):
        found[item["linkId"]] = item
        found.update(raw_items(item))
    return found


def link_ids(items: list[dict[str, Any]]) -> list[str]:
    """The linkIds of a QuestionnaireResponse, depth first, through item and answer.item."""
    out: list[str] = []
    for item in items:
        out.append(item["linkId"])
        out.extend(link_ids(item.get("item", [])))
        for answer in item.get("answer", []):
            out.extend(link_ids(answer.get("item", [])))
    return out


def answered(items: list[dict[str, Any]]) -> dict[str, str]:
    """linkId -> the code answered, through groups and answers."""
    found: dict[str, str] = {}
    for item in items:
        for answer in item.get("answer", []):
            found[item["linkId"]] = answer["valueCoding"]["code"]
            found.update(answered(answer.get("item", [])))
        found.update(answered(item.get("item", [])))
    return found


def asked(q: Any, answers: dict[str, Any]) -> list[str]:
    return [item.link_id for item in questions(q, answers)]


def test_the_example_is_a_valid_questionnaire_written_elsewhere() -> None:
    raw = example()
    FhirQuestionnaire.model_validate(raw)  # as HL7 published it
    q = parse_questionnaire(raw)
    assert raw["resourceType"] == "Questionnaire" and raw["id"] == EXAMPLE_ID
    assert q.canonical == raw["url"] and q.title == raw["title"]
    assert list(q.by_link_id) == list(raw_items(raw))  # every item, in document order
    assert not any("text" in item for item in raw_items(raw).values())  # written without text


def test_items_without_text_are_shown_by_prefix_and_code() -> None:
    raw = example()
    items = raw_items(raw)
    q = parse_questionnaire(raw)
    for link_id, item in q.by_link_id.items():
        codes = items[link_id]["code"]
        shown_code = next((c["display"] for c in codes if "display" in c), codes[0]["code"])
        prefix = items[link_id].get("prefix")
        assert item.label == (f"{prefix} {shown_code}" if prefix else shown_code)


def test_the_coded_yes_opens_the_nested_branch_and_no_closes_it() -> None:
    raw = example()
    q = parse_questionnaire(raw)
    comorbidity = q.by_link_id["1.1"]
    # The enableWhen of the nested group names a coding the built-in yesnodontknow offers.
    (condition,) = raw_items(raw)["1.1.1"]["enableWhen"]
    wanted = Coding(condition["answerCoding"]["system"], condition["answerCoding"]["code"])
    yes, no, unknown = (option.value for option in comorbidity.options)
    assert isinstance(yes, Coding) and yes.matches(wanted)
    assert not any(isinstance(v, Coding) and v.matches(wanted) for v in (no, unknown))
    # The histopathology choice has no answer options: nobody can answer it, so it is not
    # asked; everything else is optional.
    assert not q.by_link_id["2.1.2"].answerable
    assert asked(q, {}) == ["1.1"]
    branch = ["1.1", "1.1.1.1", "1.1.1.1.1", "1.1.1.1.2", "1.1.1.2"]
    assert asked(q, {"1.1": yes}) == branch  # children right after the question they are under
    assert asked(q, {"1.1": no}) == asked(q, {"1.1": unknown}) == ["1.1"]
    assert missing_required(q, {}) == []
    # Going through the walk the screen uses: the count grows as the branch opens.
    walk = Walk(q)
    assert walk.position == (1, 1)
    walk = walk.answer(yes)
    assert walk.position == (2, 5) and walk.current is not None
    assert walk.current.link_id == "1.1.1.1"


def test_answered_in_full_it_makes_a_valid_response_nested_as_hl7_nests_it() -> None:
    raw = example()
    q = parse_questionnaire(raw)
    yes, no, unknown = (option.value for option in q.by_link_id["1.1"].options)
    answers = {"1.1": yes, "1.1.1.1": yes, "1.1.1.1.1": no, "1.1.1.1.2": unknown, "1.1.1.2": yes}
    response = build_response(q, answers, "resp-3141", AUTHORED)
    QuestionnaireResponse.model_validate(response)
    assert response["questionnaire"] == raw["url"] and "extension" not in response  # no scores
    assert score(q, answers) is None
    # Every linkId in the response is one of the example's, nested as in the questionnaire:
    # the cardiac group under the answer to the comorbidity question, the angina and infarction
    # questions under the answer to theirs; the histopathology group has nothing to send.
    assert link_ids(response["item"]) == [
        "1",
        "1.1",
        "1.1.1",
        "1.1.1.1",
        "1.1.1.1.1",
        "1.1.1.1.2",
        "1.1.1.2",
    ]
    assert set(link_ids(response["item"])) <= set(raw_items(raw))
    assert answered(response["item"]) == {
        "1.1": "Y",
        "1.1.1.1": "Y",
        "1.1.1.1.1": "N",
        "1.1.1.1.2": "asked-unknown",
        "1.1.1.2": "Y",
    }
    # HL7's own example response to this questionnaire puts the cardiac group in the same place.
    theirs = example("questionnaireresponse.json")
    QuestionnaireResponse.model_validate(theirs)
    path = ("item", 0, "item", 0, "answer", 0, "item", 0, "linkId")

    def at(doc: Any) -> Any:
        for step in path:
            doc = doc[step]
        return doc

    assert at(response) == at(theirs) == "1.1.1"
    # Answering "no" afterwards closes the branch: its answers are no longer sent.
    closed = build_response(q, {**answers, "1.1": no}, "resp-3141b", AUTHORED)
    QuestionnaireResponse.model_validate(closed)
    assert link_ids(closed["item"]) == ["1", "1.1"]


async def test_the_example_by_touch_in_bokmal(daemon: FakeDaemon, sock_path: Any) -> None:
    """Sent as the care plan's questionnaire, it is asked on the screen as our own are: the
    yes/no/don't-know buttons in the patient's language, the branch counted as it opens."""
    raw = example()
    items = raw_items(raw)
    daemon.status["care_plan"] = {"questionnaire": raw}
    await daemon.start()
    app = PatientScreenApp(sock_path, "nb", poll_interval=0.05)
    async with app.run_test(size=TOUCHSCREEN) as pilot:
        await wait_until(
            pilot,
            lambda: shown(app, "#next-action") == "Svar på dagens spørsmål",
            "the questionnaire button",
        )
        await tap(pilot, "#next-action")
        first = items["1.1"]
        assert shown(app, "#q-text") == f"{first['prefix']} {first['code'][0]['code']}"
        assert shown(app, "#q-progress") == "Spørsmål 1"
        assert [shown(app, f"#option-{n}") for n in range(3)] == ["Ja", "Nei", "Vet ikke"]
        assert shown(app, "#q-skip") == "Hopp over"  # nothing in it is required
        await tap(pilot, "#option-0")  # yes: the cardiac branch opens
        await wait_until(
            pilot, lambda: shown(app, "#q-progress") == "Spørsmål 2", "the branch counted"
        )
        await tap(pilot, "#option-0")  # cardiac comorbidity: yes
        await tap(pilot, "#q-back")
        await tap(pilot, "#q-back")
        assert shown(app, "#q-progress") == "Spørsmål 1"  # answers kept going back
        await tap(pilot, "#option-0")
        await tap(pilot, "#option-0")
        angina = items["1.1.1.1.1"]
        await wait_until(
            pilot,
            lambda: shown(app, "#q-text") == f"{angina['prefix']} {angina['code'][0]['display']}",
            "angina",
        )
        await tap(pilot, "#option-1")  # no
        await tap(pilot, "#option-2")  # infarction: don't know
        await tap(pilot, "#q-skip")  # vascular comorbidity skipped
        await wait_until(pilot, lambda: "Takk!" in shown(app, "#q-text"), "the thank-you")
        await tap(pilot, "#q-done")
        await wait_until(pilot, lambda: bool(shown(app, "#next-action")), "home again")
    (response,) = daemon.answers
    QuestionnaireResponse.model_validate(response)
    assert response["questionnaire"] == raw["url"]
    assert answered(response["item"]) == {
        "1.1": "Y",
        "1.1.1.1": "Y",
        "1.1.1.1.1": "N",
        "1.1.1.1.2": "asked-unknown",
    }
    assert set(link_ids(response["item"])) <= set(items)
