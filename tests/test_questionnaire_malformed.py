"""Whatever JSON a care plan brings as its questionnaire, parse_questionnaire ends in a
Questionnaire the engine can ask or in a QuestionnaireError: never TypeError, AttributeError,
RecursionError or any other exception a technician cannot act on. Named cases first, then
hypothesis over arbitrary JSON and over mutations of the shipped questionnaires."""

from __future__ import annotations

import copy
import json
from importlib import resources
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hub.questionnaire import SHIPPED, SHIPPED_LANGUAGES
from hub.questionnaire.engine import build_response, questions, score
from hub.questionnaire.model import (
    MAX_DEPTH,
    MAX_ITEMS,
    MAX_OPTIONS,
    Questionnaire,
    QuestionnaireError,
    parse_questionnaire,
)

AUTHORED = "2026-11-22T10:39:30+01:00"


def questionnaire(*items: Any, **extra: Any) -> dict[str, Any]:
    return {"resourceType": "Questionnaire", "url": "urn:test:q", "item": list(items), **extra}


def choice(**extra: Any) -> dict[str, Any]:
    return {"linkId": "c", "type": "choice", **extra}


def after(condition: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    return {"linkId": "a", "type": "boolean"}, {
        "linkId": "b",
        "type": "display",
        "enableWhen": condition,
    }


def deep(levels: int) -> dict[str, Any]:
    item: dict[str, Any] = {"linkId": "leaf", "type": "boolean"}
    for n in range(levels - 1):
        item = {"linkId": f"g{n}", "type": "group", "item": [item]}
    return questionnaire(item)


@pytest.mark.parametrize(
    ("doc", "message"),
    [
        (questionnaire(5), r"item\[0\]: not an item"),
        (questionnaire(item=None), "questionnaire: item must be a list, not null"),
        (questionnaire(item={"linkId": "a"}), "item must be a list, not an object"),
        (questionnaire({"linkId": ["a"], "type": "boolean"}), "linkId is missing"),
        (questionnaire({"linkId": "a", "type": ["boolean"]}), "item type a list cannot be asked"),
        (questionnaire({"linkId": "a", "type": {"x": 1}}), "item type an object cannot be"),
        (questionnaire({"linkId": "a", "type": "boolean", "text": 5}), "text must be a text"),
        (questionnaire({"linkId": "a", "type": "boolean", "text": {}}), "not an object"),
        (questionnaire({"linkId": "a", "type": "boolean", "prefix": []}), "prefix must be a"),
        (questionnaire({"linkId": "a", "type": "boolean", "required": "yes"}), "true or false"),
        (questionnaire({"linkId": "a", "type": "boolean", "item": "x"}), "item must be a list"),
        (questionnaire({"linkId": "a", "type": "boolean", "extension": {}}), "extension must"),
        (questionnaire(choice(answerOption="yes")), "answerOption must be a list"),
        (questionnaire(choice(answerOption=["yes"])), "not an answer option"),
        (questionnaire(choice(answerOption=[{"valueCoding": "y"}])), "a coding needs a code"),
        (questionnaire(choice(answerOption=[{"valueCoding": {"code": 1}}])), "needs a code"),
        (
            questionnaire(choice(answerOption=[{"valueCoding": {"code": "y", "display": 1}}])),
            "system and display must be texts",
        ),
        (
            questionnaire(choice(answerOption=[{"valueCoding": {"code": "y", "system": []}}])),
            "system and display must be texts",
        ),
        (questionnaire(choice(answerOption=[{"valueInteger": True}])), "unsupported type"),
        (questionnaire(choice(answerOption=[{"valueString": 3}])), "unsupported type"),
        (questionnaire(choice(answerOption=[{}])), "unsupported type"),
        (
            questionnaire(choice(answerOption=[{"valueInteger": n} for n in range(101)])),
            f"101 answer options; the screen shows at most {MAX_OPTIONS}",
        ),
        (questionnaire(choice(answerValueSet=["#vs"])), "answerValueSet a list is not"),
        (
            questionnaire(
                choice(answerValueSet="#vs"),
                contained=[{"resourceType": "ValueSet", "id": "vs", "compose": []}],
            ),
            "compose must be an object",
        ),
        (
            questionnaire(
                choice(answerValueSet="#vs"),
                contained=[{"resourceType": "ValueSet", "id": "vs", "compose": {"include": 1}}],
            ),
            "include must be a list",
        ),
        (
            questionnaire(
                choice(answerValueSet="#vs"),
                contained=[{"resourceType": "ValueSet", "id": "vs", "compose": {"include": [1]}}],
            ),
            "an include must be an object",
        ),
        (
            questionnaire(
                choice(answerValueSet="#vs"),
                contained=[
                    {
                        "resourceType": "ValueSet",
                        "id": "vs",
                        "compose": {"include": [{"concept": [{"display": "no code"}]}]},
                    }
                ],
            ),
            "a coding needs a code",
        ),
        (questionnaire({"linkId": "a", "type": "boolean"}, contained={}), "contained must be"),
        (questionnaire(*after({"question": "a"})), r"enableWhen must be a list"),
        (questionnaire(*after(["a"])), r"enableWhen\[0\]: enableWhen needs a question"),
        (questionnaire(*after([{"question": 1}])), "enableWhen needs a question"),
        (
            questionnaire(*after([{"question": "a", "operator": ["="], "answerBoolean": True}])),
            "operator a list is not one of",
        ),
        (questionnaire(*after([{"question": "a", "operator": "="}])), "exactly one answer"),
        (
            questionnaire(*after([{"question": "a", "operator": "=", "answerCoding": "y"}])),
            "a coding needs a code",
        ),
        (
            questionnaire(*after([{"question": "a", "operator": "=", "answerFoo": 1}])),
            "answerFoo is not supported",
        ),
        (
            questionnaire(
                {"linkId": "a", "type": "decimal"},
                {
                    "linkId": "b",
                    "type": "display",
                    "enableWhen": [
                        {"question": "a", "operator": ">", "answerDecimal": float("nan")}
                    ],
                },
            ),
            "not a finite number",
        ),
        (
            questionnaire(
                *after([{"question": "a", "operator": "=", "answerBoolean": True}] * 2),
            ),
            "several enableWhen need enableBehavior",
        ),
        (
            {
                **questionnaire(
                    *after([{"question": "a", "operator": "=", "answerBoolean": True}] * 2)
                ),
                "item": [
                    {"linkId": "a", "type": "boolean"},
                    {
                        "linkId": "b",
                        "type": "display",
                        "enableBehavior": {"x": 1},
                        "enableWhen": [
                            {"question": "a", "operator": "exists", "answerBoolean": True}
                        ],
                    },
                ],
            },
            "enableBehavior an object is neither",
        ),
        (questionnaire({"linkId": "a", "type": "boolean"}, url=5), "url must be a text, not 5"),
        (questionnaire({"linkId": "a", "type": "boolean"}, title=["t"]), "title must be a text"),
        (questionnaire({"linkId": "a", "type": "boolean"}, version=1), "version must be a text"),
        (questionnaire({"linkId": "a", "type": "boolean"}, language={}), "language must be a"),
        (
            {
                "resourceType": "Questionnaire",
                "id": 7,
                "item": [{"linkId": "a", "type": "boolean"}],
            },
            "id must be a text",
        ),
        (deep(MAX_DEPTH + 1), f"items nested more than {MAX_DEPTH} deep; flatten"),
        (deep(5000), f"items nested more than {MAX_DEPTH} deep"),
        (
            questionnaire(*({"linkId": f"q{n}", "type": "boolean"} for n in range(100_000))),
            f"more than {MAX_ITEMS} items",
        ),
    ],
)
def test_a_malformed_questionnaire_is_refused_saying_where_and_what(
    doc: dict[str, Any], message: str
) -> None:
    with pytest.raises(QuestionnaireError, match=message):
        parse_questionnaire(doc)


def test_the_deepest_and_largest_that_are_taken() -> None:
    assert parse_questionnaire(deep(MAX_DEPTH)).by_link_id["leaf"]
    many = questionnaire(*({"linkId": f"q{n}", "type": "boolean"} for n in range(MAX_ITEMS)))
    assert len(parse_questionnaire(many).items) == MAX_ITEMS


def test_a_long_value_is_shortened_in_the_message() -> None:
    with pytest.raises(QuestionnaireError) as refused:
        parse_questionnaire(questionnaire({"linkId": "a", "type": "x" * 10_000}))
    assert len(str(refused.value)) < 200


# --- hypothesis -----------------------------------------------------------------------------

# Keys a questionnaire has, so arbitrary objects often look like the real thing.
KEYS = st.sampled_from(
    [
        "resourceType",
        "url",
        "id",
        "version",
        "title",
        "language",
        "item",
        "linkId",
        "type",
        "text",
        "prefix",
        "required",
        "enableWhen",
        "enableBehavior",
        "question",
        "operator",
        "answerBoolean",
        "answerInteger",
        "answerDecimal",
        "answerCoding",
        "answerOption",
        "answerValueSet",
        "valueCoding",
        "valueInteger",
        "valueDecimal",
        "valueString",
        "code",
        "system",
        "display",
        "extension",
        "contained",
        "compose",
        "include",
        "concept",
    ]
)
SCALARS = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats()  # NaN and infinities too: Python's json reads them
    | st.text(max_size=20)
    | st.sampled_from(
        [
            *("Questionnaire", "ValueSet", "boolean", "choice", "integer", "decimal", "group"),
            *("display", "open-choice", "=", "!=", ">", "exists", "all", "any", "a", "#vs"),
            "http://hl7.org/fhir/StructureDefinition/minValue",
            "http://hl7.org/fhir/StructureDefinition/maxValue",
            "http://hl7.org/fhir/StructureDefinition/maxDecimalPlaces",
        ]
    )
)
JSON = st.recursive(
    SCALARS,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(KEYS | st.text(), inner, max_size=6)
    ),
    max_leaves=40,
)


def usable(q: Questionnaire) -> None:
    """What the screen and the engine do with a parsed questionnaire works on it."""
    for item in q.by_link_id.values():
        assert isinstance(item.label, str)
        assert all(isinstance(option.label, str) for option in item.options)
    questions(q, {})
    score(q, {})
    build_response(q, {}, "r", AUTHORED, "in-progress")


def parsed_or_refused(doc: Any) -> None:
    try:
        q = parse_questionnaire(doc)
    except QuestionnaireError:
        return
    usable(q)


@given(JSON)
@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
def test_any_json_is_a_questionnaire_or_refused(doc: Any) -> None:
    parsed_or_refused(doc)


@given(st.lists(JSON, max_size=4), st.dictionaries(KEYS, JSON, max_size=4))
@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
def test_any_items_are_a_questionnaire_or_refused(items: list[Any], extra: dict[str, Any]) -> None:
    parsed_or_refused({**extra, "resourceType": "Questionnaire", "url": "urn:t", "item": items})


def shipped_json(name: str, language: str) -> dict[str, Any]:
    text = (
        resources.files("hub.questionnaire").joinpath("data", f"{name}.{language}.json").read_text()
    )
    loaded: dict[str, Any] = json.loads(text)
    return loaded


SHIPPED_DOCS = [shipped_json(n, lang) for n in SHIPPED for lang in SHIPPED_LANGUAGES]


def places(node: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """The path of every value in the JSON."""
    found = [path]
    if isinstance(node, dict):
        for key, value in node.items():
            found.extend(places(value, (*path, key)))
    elif isinstance(node, list):
        for n, value in enumerate(node):
            found.extend(places(value, (*path, n)))
    return found


@st.composite
def mutated(draw: st.DrawFn) -> Any:
    """A shipped questionnaire with a few of its values replaced by arbitrary JSON, deleted,
    or copied elsewhere."""
    doc = copy.deepcopy(draw(st.sampled_from(SHIPPED_DOCS)))
    for _ in range(draw(st.integers(1, 3))):
        spots = places(doc)
        path = draw(st.sampled_from(spots))
        if not path:
            doc = draw(JSON)
            continue
        *parents, last = path
        holder = doc
        for step in parents:
            holder = holder[step]
        how = draw(st.sampled_from(["replace", "delete", "copy"]))
        if how == "delete" and isinstance(holder, dict):
            del holder[last]
        elif how == "copy":
            holder[last] = copy.deepcopy(draw(st.sampled_from([doc, *SHIPPED_DOCS])))
        else:
            holder[last] = draw(JSON)
        if not isinstance(doc, dict | list):
            break
    return doc


@given(mutated())
@settings(max_examples=500, suppress_health_check=[HealthCheck.too_slow])
def test_a_mutated_shipped_questionnaire_is_a_questionnaire_or_refused(doc: Any) -> None:
    parsed_or_refused(doc)
