"""The questionnaire engine (pure): FHIR R4 Questionnaires in, branching, required items,
scores, and QuestionnaireResponses that validate as FHIR and go to the daemon as they are."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from fhir.resources.R4B.questionnaireresponse import QuestionnaireResponse

from hub.core.answers import to_answer_reading
from hub.questionnaire import SHIPPED, load_shipped
from hub.questionnaire.engine import (
    AnswerInvalid,
    AnswersIncomplete,
    build_response,
    check_answer,
    condition_holds,
    missing_required,
    questions,
    score,
)
from hub.questionnaire.model import (
    AnswerValue,
    Coding,
    EnableWhen,
    QuestionnaireError,
    parse_questionnaire,
)

AUTHORED = "2026-11-22T10:39:30+01:00"
SYS = "urn:dho:answers"


def c(code: str) -> Coding:
    return Coding(SYS, code)


def asked(q: Any, answers: dict[str, Any]) -> list[str]:
    return [item.link_id for item in questions(q, answers)]


def valid_fhir(response: dict[str, Any]) -> dict[str, Any]:
    QuestionnaireResponse.model_validate(response)  # raises if it is not a valid resource
    return response


@pytest.mark.parametrize("name", SHIPPED)
def test_shipped_questionnaires_load_alike_in_both_languages(name: str) -> None:
    nb, en = load_shipped(name, "nb"), load_shipped(name, "en")
    assert nb.canonical == en.canonical and nb.title != en.title
    assert list(nb.by_link_id) == list(en.by_link_id)
    assert [i.text for i in nb.by_link_id.values()] != [i.text for i in en.by_link_id.values()]
    with pytest.raises(QuestionnaireError, match="no shipped questionnaire"):
        load_shipped("asthma", "nb")


def test_copd_check_branches_scores_and_makes_a_valid_response() -> None:
    q = load_shipped("copd-daily", "nb")
    assert asked(q, {}) == ["breath", "cough", "sputum", "rescue", "note"]
    assert missing_required(q, {}) == ["breath", "cough", "sputum", "rescue"]
    answers: dict[str, Any] = {
        "breath": c("much-worse"),
        "cough": True,
        "sputum": True,
        "rescue": True,
    }
    assert asked(q, answers) == [
        "breath",
        "breath-rest",
        "cough",
        "sputum",
        "sputum-colour",
        "rescue",
        "rescue-count",
        "note",
    ]
    assert missing_required(q, answers) == ["breath-rest", "sputum-colour", "rescue-count"]
    answers.update({"breath-rest": False, "sputum-colour": c("green"), "rescue-count": 4})
    assert "rescue-advice" in asked(q, answers)  # >= 4
    assert missing_required(q, answers) == []
    assert score(q, answers) == 4.0  # much worse 2 + green 2
    response = valid_fhir(build_response(q, answers, "resp-1", AUTHORED))
    assert response["questionnaire"] == "urn:dho:questionnaire:copd-daily|1"
    assert response["extension"][0]["valueDecimal"] == 4.0
    sputum_group = next(i for i in response["item"] if i["linkId"] == "sputum-group")
    assert [i["linkId"] for i in sputum_group["item"]] == ["sputum", "sputum-colour"]
    assert sputum_group["item"][1]["answer"] == [
        {"valueCoding": {"system": SYS, "code": "green", "display": "Grønt eller brunt"}}
    ]
    # The same response is what the patient screen hands the daemon to store and send.
    reading = to_answer_reading(response, "2026-11-22T09:40:00.000+00:00")
    assert reading.kind == "questionnaire_response" and reading.values == response


def test_answers_to_items_that_are_switched_off_count_for_nothing() -> None:
    q = load_shipped("copd-daily", "en")
    answers: dict[str, Any] = {
        "breath": c("usual"),
        "cough": False,
        "sputum": False,
        "rescue": False,
        "breath-rest": True,
        "sputum-colour": c("blood"),
        "rescue-count": 9,
    }
    assert asked(q, answers) == ["breath", "cough", "sputum", "rescue", "note"]
    assert score(q, answers) == 0.0  # blood (3) would count if sputum-colour were on
    response = valid_fhir(build_response(q, answers, "resp-2", AUTHORED))
    linked = str(response["item"])
    assert "sputum-colour" not in linked and "rescue-count" not in linked
    # rescue-count is off, so the advice that depends on it is off too.
    assert "rescue-advice" not in asked(q, answers)


def test_heart_failure_check_uses_not_equal_all_and_exists() -> None:
    q = load_shipped("heart-failure-daily", "nb")
    base: dict[str, Any] = {
        "breath-lying": False,
        "ankles": c("no"),
        "weight-gain": True,
        "dizzy": False,
        "energy": c("usual"),
    }
    assert "fluid-advice" not in asked(q, base)  # ankles = no
    assert "fluid-advice" in asked(q, {**base, "ankles": c("more")})
    assert "fluid-advice" not in asked(q, {**base, "ankles": c("more"), "weight-gain": False})
    assert "fall" not in asked(q, base) and "fall" in asked(q, {**base, "dizzy": True})
    assert "pillows" in asked(q, {**base, "breath-lying": True})
    with pytest.raises(AnswersIncomplete, match="fall"):
        build_response(q, {**base, "dizzy": True}, "resp-3", AUTHORED)
    done = valid_fhir(build_response(q, {**base, "dizzy": True, "fall": False}, "r", AUTHORED))
    assert done["status"] == "completed"
    partial = valid_fhir(build_response(q, {"dizzy": True}, "r", AUTHORED, "in-progress"))
    assert partial["status"] == "in-progress"


@pytest.mark.parametrize(
    ("operator", "expected", "answer", "holds"),
    [
        ("exists", True, 3, True),
        ("exists", True, None, False),
        ("exists", False, None, True),
        ("exists", False, "x", False),
        ("=", 5, 5, True),
        ("=", 5, 6, False),
        ("=", True, True, True),
        ("=", True, 1, False),
        ("=", c("a"), Coding(None, "a"), True),
        ("=", c("a"), Coding("other", "a"), False),
        ("!=", c("a"), c("b"), True),
        ("!=", c("a"), c("a"), False),
        ("!=", 5, None, False),
        (">", 3, 4, True),
        (">", 3, 3, False),
        ("<", 3.5, 3.4, True),
        ("<", 3.5, 3.5, False),
        (">=", 4, 4, True),
        (">=", 4, 3, False),
        ("<=", "2026-11-22", "2026-11-01", True),
        ("<=", "2026-11-22", "2026-12-01", False),
        (">", 3, None, False),
        (">", True, True, False),
        (">", 3, "4", False),
        ("<", c("a"), c("a"), False),
    ],
)
def test_every_enable_when_operator(operator: str, expected: Any, answer: Any, holds: bool) -> None:
    assert condition_holds(EnableWhen("q", operator, expected), answer) is holds


def questionnaire(*items: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"resourceType": "Questionnaire", "url": "urn:test:q", "item": list(items), **extra}


def test_any_versus_all_and_a_switched_off_group_hides_its_children() -> None:
    q = parse_questionnaire(
        questionnaire(
            {"linkId": "a", "type": "boolean"},
            {"linkId": "b", "type": "boolean"},
            {
                "linkId": "any",
                "type": "display",
                "enableBehavior": "any",
                "enableWhen": [
                    {"question": "a", "operator": "=", "answerBoolean": True},
                    {"question": "b", "operator": "=", "answerBoolean": True},
                ],
            },
            {
                "linkId": "all",
                "type": "display",
                "enableBehavior": "all",
                "enableWhen": [
                    {"question": "a", "operator": "=", "answerBoolean": True},
                    {"question": "b", "operator": "=", "answerBoolean": True},
                ],
            },
            {
                "linkId": "g",
                "type": "group",
                "enableWhen": [{"question": "a", "operator": "=", "answerBoolean": True}],
                "item": [{"linkId": "inner", "type": "integer", "required": True}],
            },
        )
    )
    assert asked(q, {"a": True, "b": False}) == ["a", "b", "any", "inner"]
    assert asked(q, {"a": True, "b": True}) == ["a", "b", "any", "all", "inner"]
    assert asked(q, {"a": False, "b": False}) == ["a", "b"]
    assert missing_required(q, {"a": False}) == []
    assert missing_required(q, {"a": True}) == ["inner"]


def test_an_enable_when_cycle_switches_its_items_off_instead_of_looping() -> None:
    q = parse_questionnaire(
        questionnaire(
            {
                "linkId": "x",
                "type": "boolean",
                "enableWhen": [{"question": "y", "operator": "exists", "answerBoolean": True}],
            },
            {
                "linkId": "y",
                "type": "boolean",
                "enableWhen": [{"question": "x", "operator": "exists", "answerBoolean": True}],
            },
            {"linkId": "z", "type": "boolean"},
        )
    )
    assert asked(q, {"x": True, "y": True}) == ["z"]


# A questionnaire in the style of the public examples: a contained ValueSet for its answers,
# scores on the concepts, codes and extensions this engine ignores, an open-choice and a text.
PUBLIC_STYLE = {
    "resourceType": "Questionnaire",
    "id": "mood-2",
    "status": "draft",
    "name": "MoodTwo",
    "title": "Two mood questions",
    "meta": {"profile": ["http://hl7.org/fhir/uv/sdc/StructureDefinition/sdc-questionnaire"]},
    "contained": [
        {
            "resourceType": "ValueSet",
            "id": "freq",
            "status": "active",
            "compose": {
                "include": [
                    {
                        "system": "http://loinc.org",
                        "concept": [
                            {
                                "code": "LA6568-5",
                                "display": "Not at all",
                                "extension": [
                                    {
                                        "url": "http://hl7.org/fhir/StructureDefinition/itemWeight",
                                        "valueDecimal": 0,
                                    }
                                ],
                            },
                            {
                                "code": "LA6569-3",
                                "display": "Several days",
                                "extension": [
                                    {
                                        "url": "http://hl7.org/fhir/StructureDefinition/itemWeight",
                                        "valueDecimal": 1,
                                    }
                                ],
                            },
                        ],
                    }
                ]
            },
        }
    ],
    "item": [
        {
            "linkId": "g1",
            "type": "group",
            "text": "Over the last two weeks",
            "code": [{"system": "http://loinc.org", "code": "44249-1"}],
            "item": [
                {
                    "linkId": "g1/q1",
                    "type": "choice",
                    "answerValueSet": "#freq",
                    "text": "Little interest?",
                    "required": True,
                    "extension": [{"url": "http://example.org/ignored", "valueString": "x"}],
                },
                {
                    "linkId": "g1/q2",
                    "type": "open-choice",
                    "answerValueSet": "#freq",
                    "text": "Feeling down?",
                },
            ],
        },
        {"linkId": "comment", "type": "text", "text": "Anything else?"},
    ],
}


def test_a_questionnaire_written_elsewhere_loads_and_is_answerable() -> None:
    q = parse_questionnaire(PUBLIC_STYLE)
    assert q.canonical == "urn:dho:questionnaire:mood-2"
    loinc = Coding("http://loinc.org", "LA6569-3")
    answers: dict[str, AnswerValue] = {"g1/q1": loinc, "g1/q2": loinc, "comment": "Sleeping badly"}
    assert score(q, answers) == 2.0
    response = valid_fhir(build_response(q, answers, "r-9", AUTHORED))
    assert response["item"][0]["item"][0]["answer"][0]["valueCoding"]["display"] == ("Several days")
    assert response["item"][1] == {
        "linkId": "comment",
        "text": "Anything else?",
        "answer": [{"valueString": "Sleeping badly"}],
    }


def test_answers_must_fit_their_question() -> None:
    q = load_shipped("copd-daily", "en")
    breath, count = q.by_link_id["breath"], q.by_link_id["rescue-count"]
    assert check_answer(breath, Coding(None, "worse")) == Coding(None, "worse")
    for item, value in (
        (breath, c("sideways")),
        (breath, "worse"),
        (count, True),
        (count, 2.5),
        (q.by_link_id["note"], "   "),
        (q.by_link_id["cough"], "yes"),
    ):
        with pytest.raises(AnswerInvalid):
            check_answer(item, value)
    with pytest.raises(AnswerInvalid):
        build_response(
            q,
            {"breath": c("usual"), "cough": "no", "sputum": False, "rescue": False},
            "r",
            AUTHORED,
        )


def broken(change: Any) -> dict[str, Any]:
    doc = copy.deepcopy(PUBLIC_STYLE)
    change(doc)
    return doc


@pytest.mark.parametrize(
    ("doc", "message"),
    [
        ({"resourceType": "Patient"}, "not a FHIR Questionnaire"),
        (questionnaire(), "has no items"),
        (
            {"resourceType": "Questionnaire", "item": [{"linkId": "a", "type": "boolean"}]},
            "neither url nor id",
        ),
        (questionnaire({"type": "boolean"}), r"item\[0\]: linkId is missing"),
        (
            questionnaire({"linkId": "a", "type": "boolean"}, {"linkId": "a", "type": "string"}),
            "linkId 'a' is used twice",
        ),
        (
            questionnaire({"linkId": "a", "type": "attachment"}),
            "item type 'attachment' cannot be asked",
        ),
        (
            questionnaire({"linkId": "a", "type": "choice", "required": True}),
            "a required choice needs answer options",
        ),
        (
            questionnaire(
                {"linkId": "a", "type": "integer", "answerOption": [{"valueInteger": 1}]}
            ),
            "answer options on a 'integer' item are not supported",
        ),
        (
            questionnaire(
                {"linkId": "a", "type": "display", "item": [{"linkId": "b", "type": "boolean"}]}
            ),
            "a display item cannot have nested items",
        ),
        (
            questionnaire(
                {
                    "linkId": "a",
                    "type": "choice",
                    "answerValueSet": "http://example.org/ValueSet/elsewhere",
                }
            ),
            "'http://example.org/ValueSet/elsewhere' is not a contained ValueSet nor one built in "
            r"\(http://hl7.org/fhir/ValueSet/yesnodontknow\)",
        ),
        (
            questionnaire(
                {
                    "linkId": "a",
                    "type": "boolean",
                    "enableWhen": [{"question": "nope", "operator": "=", "answerBoolean": True}],
                }
            ),
            "'nope' is not a question here",
        ),
        (
            questionnaire(
                {"linkId": "a", "type": "boolean"},
                {
                    "linkId": "b",
                    "type": "display",
                    "enableWhen": [{"question": "a", "operator": "~", "answerBoolean": True}],
                },
            ),
            "operator '~' is not one of",
        ),
        (
            questionnaire(
                {"linkId": "a", "type": "integer"},
                {
                    "linkId": "b",
                    "type": "display",
                    "enableWhen": [{"question": "a", "operator": "exists", "answerInteger": 1}],
                },
            ),
            "'exists' needs answerBoolean",
        ),
        (
            questionnaire(
                {"linkId": "a", "type": "boolean"},
                {
                    "linkId": "b",
                    "type": "display",
                    "enableWhen": [{"question": "a", "operator": ">", "answerBoolean": True}],
                },
            ),
            "'>' cannot compare boolean answers",
        ),
        (
            questionnaire(
                {"linkId": "a", "type": "boolean"},
                {
                    "linkId": "b",
                    "type": "display",
                    "enableWhen": [{"question": "a", "operator": "=", "answerString": "yes"}],
                },
            ),
            "does not fit boolean question",
        ),
        (
            questionnaire(
                {"linkId": "a", "type": "boolean"},
                {
                    "linkId": "b",
                    "type": "display",
                    "enableWhen": [
                        {"question": "a", "operator": "=", "answerBoolean": True},
                        {"question": "a", "operator": "=", "answerBoolean": False},
                    ],
                },
            ),
            "several enableWhen need enableBehavior",
        ),
        (broken(lambda d: d.pop("contained")), "'#freq' is not a contained ValueSet"),
        (broken(lambda d: d["item"].__setitem__(1, "text")), r"item\[1\]: not an item"),
    ],
)
def test_a_broken_questionnaire_is_refused_saying_where(doc: dict[str, Any], message: str) -> None:
    with pytest.raises(QuestionnaireError, match=message):
        parse_questionnaire(doc)


def test_a_score_of_zero_counts_and_scores_may_sit_on_the_coding() -> None:
    ordinal = "http://hl7.org/fhir/StructureDefinition/ordinalValue"
    q = parse_questionnaire(
        questionnaire(
            {
                "linkId": "a",
                "type": "choice",
                "answerOption": [
                    {
                        "valueCoding": {
                            "code": "none",
                            "extension": [{"url": ordinal, "valueDecimal": 0}],
                        }
                    },
                    {
                        "valueCoding": {
                            "code": "lots",
                            "extension": [{"url": ordinal, "valueInteger": 3}],
                        }
                    },
                    {"valueCoding": {"code": "unscored"}},
                ],
            }
        )
    )
    assert score(q, {"a": Coding(None, "none")}) == 0.0
    assert score(q, {"a": Coding(None, "lots")}) == 3.0
    assert score(q, {"a": Coding(None, "unscored")}) is None


def test_items_nested_under_a_question_go_under_its_answer_in_the_response() -> None:
    q = parse_questionnaire(
        questionnaire(
            {
                "linkId": "pain",
                "type": "boolean",
                "text": "Pain?",
                "item": [
                    {"linkId": "where", "type": "string", "text": "Where?"},
                    {
                        "linkId": "how",
                        "type": "group",
                        "item": [{"linkId": "score", "type": "integer", "text": "How bad (0-10)?"}],
                    },
                ],
            },
            {"linkId": "done", "type": "display", "text": "Thanks"},
        )
    )
    assert asked(q, {}) == ["pain", "where", "score", "done"]  # each after its parent
    response = valid_fhir(build_response(q, {"pain": True, "score": 6}, "r", AUTHORED))
    assert response["item"] == [
        {
            "linkId": "pain",
            "text": "Pain?",
            "answer": [
                {
                    "valueBoolean": True,
                    "item": [
                        {
                            "linkId": "how",
                            "item": [
                                {
                                    "linkId": "score",
                                    "text": "How bad (0-10)?",
                                    "answer": [{"valueInteger": 6}],
                                }
                            ],
                        }
                    ],
                }
            ],
        }
    ]
    # No answer to hang them on: the nested answers stay under the question's item.
    unanswered = valid_fhir(build_response(q, {"where": "knee"}, "r", AUTHORED))
    assert unanswered["item"] == [
        {
            "linkId": "pain",
            "text": "Pain?",
            "item": [{"linkId": "where", "text": "Where?", "answer": [{"valueString": "knee"}]}],
        }
    ]


def test_a_known_value_set_by_canonical_url_and_labels_for_items_without_text() -> None:
    q = parse_questionnaire(
        questionnaire(
            {
                "linkId": "a",
                "type": "choice",
                "prefix": "1.",
                "answerValueSet": "http://hl7.org/fhir/ValueSet/yesnodontknow|4.0.1",
                "code": [{"code": "ANG"}, {"system": "urn:s", "code": "x", "display": "Angina"}],
            },
            {"linkId": "b", "type": "boolean", "code": [{"code": "SMOKER"}]},
            {"linkId": "c", "type": "boolean", "text": "Smoke?", "code": [{"display": "no code"}]},
            {"linkId": "d", "type": "boolean", "code": "not a list"},
        )
    )
    yes, no, unknown = q.by_link_id["a"].options
    assert [o.label_key for o in (yes, no, unknown)] == ["q.yes", "q.no", "q.dont_know"]
    assert yes.value == Coding("http://terminology.hl7.org/CodeSystem/v2-0136", "Y", "Yes")
    assert [i.label for i in q.by_link_id.values()] == ["1. Angina", "SMOKER", "Smoke?", "d"]
    response = valid_fhir(build_response(q, {"a": unknown.value}, "r", AUTHORED))
    assert response["item"][0] == {
        "linkId": "a",
        "answer": [
            {
                "valueCoding": {
                    "system": "http://terminology.hl7.org/CodeSystem/data-absent-reason",
                    "code": "asked-unknown",
                    "display": "Don't know",
                }
            }
        ],
    }  # no text: none is made up


def test_a_choice_nobody_can_answer_is_not_asked_and_an_open_choice_without_options_is_text() -> (
    None
):
    q = parse_questionnaire(
        questionnaire(
            {"linkId": "stage", "type": "choice"},
            {"linkId": "other", "type": "open-choice"},
            {
                "linkId": "after",
                "type": "display",
                "enableWhen": [{"question": "stage", "operator": "exists", "answerBoolean": False}],
            },
        )
    )
    stage, other = q.by_link_id["stage"], q.by_link_id["other"]
    assert not stage.answerable and other.type == "string" and other.answerable
    assert asked(q, {}) == ["other", "after"]
    for value in ("T1", Coding(None, "T1")):
        with pytest.raises(AnswerInvalid):
            check_answer(stage, value)
    assert valid_fhir(build_response(q, {"other": "T2"}, "r", AUTHORED))["item"] == [
        {"linkId": "other", "answer": [{"valueString": "T2"}]}
    ]
