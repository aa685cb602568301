"""Asking a questionnaire: which items are on, what is missing, the score, and the FHIR R4
QuestionnaireResponse to store (pure; no I/O, no Textual).

Answers are a mapping from linkId to one value: bool, int, float, str (strings and dates as
YYYY-MM-DD) or a Coding. An answer to an item that is not enabled counts as no answer: it is
neither scored, nor required, nor put in the response, nor able to enable other items.
"""

from __future__ import annotations

import math
import operator
import re
from collections.abc import Callable, Mapping
from decimal import Decimal
from typing import Any

from hub.errors import HubError
from hub.questionnaire.model import (
    FHIR_INTEGER,
    AnswerOption,
    AnswerValue,
    Coding,
    EnableWhen,
    Item,
    Questionnaire,
)

Answers = Mapping[str, AnswerValue]
SCORE_EXTENSION = "urn:dho:questionnaire-total-score"
DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def total_score(response: object) -> float | None:
    """The total score this engine put on a QuestionnaireResponse (its extension), if any and
    finite: what a care plan's limit on the questionnaire's score is compared with."""
    extensions = response.get("extension") if isinstance(response, Mapping) else None
    for ext in extensions if isinstance(extensions, list) else []:
        if isinstance(ext, Mapping) and ext.get("url") == SCORE_EXTENSION:
            score = ext.get("valueDecimal")
            if isinstance(score, int | float) and not isinstance(score, bool):
                return float(score) if math.isfinite(score) else None
    return None


class AnswerInvalid(HubError, ValueError):
    """An answer that does not fit its question (the screen should never offer one)."""


class AnswersIncomplete(HubError, ValueError):
    """Required questions are still unanswered."""


def check_answer(item: Item, value: object) -> AnswerValue:
    """The value if it fits the question (a number within the item's bounds), else
    AnswerInvalid saying why."""
    ok = {
        "boolean": isinstance(value, bool),
        "integer": isinstance(value, int) and not isinstance(value, bool),
        "decimal": isinstance(value, int | float) and not isinstance(value, bool),
        "string": isinstance(value, str) and bool(value.strip()),
        "date": isinstance(value, str) and bool(DATE.match(value)),
        "choice": _option_for(item, value) is not None,
    }.get(item.type, False)
    if not ok:
        raise AnswerInvalid(f"{value!r} is not an answer to {item.link_id} ({item.type})")
    if isinstance(value, int | float) and item.type in ("integer", "decimal"):
        _check_bounds(item, value)
    return value  # type: ignore[return-value]


def _check_bounds(item: Item, value: float) -> None:
    """The questionnaire's minValue, maxValue and maxDecimalPlaces; and always a finite number
    (an integer one FHIR can carry)."""
    least, most = item.min_value, item.max_value
    if not math.isfinite(value) or (
        item.type == "integer" and not FHIR_INTEGER[0] <= value <= FHIR_INTEGER[1]
    ):
        raise AnswerInvalid(f"{value!r} is not a number {item.link_id} can hold")
    # Compared as written (shortest), as the keypad compares what was typed with the bounds
    # (hub.ui.flow.keypad_bounds): both see 0.1 as 0.1, never as a binary fraction.
    if least is not None and as_written(value) < as_written(least):
        raise AnswerInvalid(f"{value!r} is below {item.link_id}'s least answer {least}")
    if most is not None and as_written(value) > as_written(most):
        raise AnswerInvalid(f"{value!r} is above {item.link_id}'s largest answer {most}")
    if item.decimals is not None and decimal_places(value) > item.decimals:
        raise AnswerInvalid(
            f"{value!r} has more than the {item.decimals} decimals {item.link_id} takes"
        )


def as_written(value: float) -> Decimal:
    """A finite number as the Decimal it is written as, shortest (0.1 is 0.1)."""
    return Decimal(repr(value))


def decimal_places(value: float) -> int:
    """Decimals of a number as written shortest (38.6 has 1, 38.0 and 38 have 0)."""
    exponent = Decimal(repr(value)).normalize().as_tuple().exponent
    return max(0, -exponent) if isinstance(exponent, int) else 0


def _option_for(item: Item, value: object) -> AnswerOption | None:
    for option in item.options:
        if isinstance(option.value, Coding) and isinstance(value, Coding):
            if option.value.matches(value):
                return option
        elif type(option.value) is type(value) and option.value == value:
            return option
    return None


def enabled_items(q: Questionnaire, answers: Answers) -> dict[str, Item]:
    """Every enabled item by linkId, in document order. A child of a disabled group is
    disabled; an enableWhen cycle disables the items in it."""
    memo: dict[str, bool] = {}

    def on(item: Item, parent_on: bool, visiting: frozenset[str]) -> bool:
        if not parent_on or item.link_id in visiting:
            return False
        if item.link_id not in memo:
            memo[item.link_id] = _conditions_hold(item, visiting | {item.link_id})
        return memo[item.link_id]

    def _conditions_hold(item: Item, visiting: frozenset[str]) -> bool:
        if not item.enable_when:
            return True
        results = [_holds(c, visiting) for c in item.enable_when]
        return all(results) if item.enable_behavior == "all" else any(results)

    def _holds(condition: EnableWhen, visiting: frozenset[str]) -> bool:
        target = q.by_link_id[condition.question]
        parent_chain_on = all(on(a, True, visiting) for a in _ancestors(q, target))
        answer = (
            answers.get(target.link_id)
            if (parent_chain_on and on(target, True, visiting))
            else None
        )
        return condition_holds(condition, answer)

    found: dict[str, Item] = {}

    def walk(items: tuple[Item, ...], parent_on: bool) -> None:
        for item in items:
            state = on(item, parent_on, frozenset())
            if state:
                found[item.link_id] = item
            walk(item.items, state)

    walk(q.items, True)
    return found


def _ancestors(q: Questionnaire, target: Item) -> list[Item]:
    chain: list[Item] = []

    def find(items: tuple[Item, ...], trail: list[Item]) -> bool:
        for item in items:
            if item is target:
                chain.extend(trail)
                return True
            if find(item.items, [*trail, item]):
                return True
        return False

    find(q.items, [])
    return chain


def condition_holds(condition: EnableWhen, answer: AnswerValue | None) -> bool:
    """One enableWhen against the answer (None: unanswered or not enabled). Without an answer
    only `exists = false` holds, as SDC and R5 make explicit."""
    if condition.operator == "exists":
        return (answer is not None) == condition.answer
    if answer is None:
        return False
    expected = condition.answer
    if isinstance(expected, Coding) or isinstance(answer, Coding):
        same = (
            isinstance(expected, Coding) and isinstance(answer, Coding) and expected.matches(answer)
        )
        return {"=": same, "!=": not same}.get(condition.operator, False)
    if condition.operator in ("=", "!="):
        same = answer == expected and isinstance(answer, bool) == isinstance(expected, bool)
        return same if condition.operator == "=" else not same
    if (
        isinstance(answer, bool)
        or isinstance(expected, bool)
        or isinstance(answer, str) != isinstance(expected, str)
    ):
        return False  # ordered comparison of a yes/no, or of a number with a text
    compare = _ORDERED.get(condition.operator)
    return compare is not None and bool(compare(answer, expected))


# Ordered comparisons; the caller has made sure both sides are numbers, or both texts.
_ORDERED: dict[str, Callable[[Any, Any], bool]] = {
    ">": operator.gt,
    "<": operator.lt,
    ">=": operator.ge,
    "<=": operator.le,
}


def questions(q: Questionnaire, answers: Answers) -> list[Item]:
    """What the screen asks (and shows), in order: enabled questions and display items. A
    question nested under another follows it; a choice without options is not asked."""
    return [
        item
        for item in enabled_items(q, answers).values()
        if item.type != "group" and (item.answerable or not item.is_question)
    ]


def missing_required(q: Questionnaire, answers: Answers) -> list[str]:
    return [
        link_id
        for link_id, item in enabled_items(q, answers).items()
        if item.required and item.is_question and answers.get(link_id) is None
    ]


def score(q: Questionnaire, answers: Answers) -> float | None:
    """The sum of the chosen options' ordinal scores; None if no chosen option carries one."""
    total, scored = 0.0, False
    for link_id, item in enabled_items(q, answers).items():
        option = _option_for(item, answers.get(link_id)) if item.type == "choice" else None
        if option is not None and option.score is not None:
            total, scored = total + option.score, True
    return total if scored else None


def build_response(
    q: Questionnaire,
    answers: Answers,
    response_id: str,
    authored: str,
    status: str = "completed",
) -> dict[str, Any]:
    """A FHIR R4 QuestionnaireResponse of the enabled, answered items (groups kept as groups;
    items nested under a question go under its answer, `answer.item`, as R4 has them).
    A completed response needs every required question answered."""
    if status == "completed" and (missing := missing_required(q, answers)):
        raise AnswersIncomplete(f"required questions unanswered: {', '.join(missing)}")
    enabled = enabled_items(q, answers)
    for link_id, value in answers.items():
        if link_id in enabled and value is not None:
            check_answer(enabled[link_id], value)
    response: dict[str, Any] = {
        "resourceType": "QuestionnaireResponse",
        "id": response_id,
        "questionnaire": q.canonical,
        "status": status,
        "authored": authored,
        "item": _response_items(q.items, answers, enabled),
    }
    if q.language:
        response["language"] = q.language
    total = score(q, answers)
    if total is not None:
        response["extension"] = [{"url": SCORE_EXTENSION, "valueDecimal": total}]
    return response


def _response_items(
    items: tuple[Item, ...], answers: Answers, enabled: dict[str, Item]
) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for item in items:
        if item.link_id not in enabled:
            continue
        entry: dict[str, Any] = {"linkId": item.link_id}
        if item.text:
            entry["text"] = item.text
        children = _response_items(item.items, answers, enabled)
        if item.is_question and answers.get(item.link_id) is not None:
            answer = _answer_json(item, answers[item.link_id])
            if children:
                answer["item"] = children
            out.append({**entry, "answer": [answer]})
        elif children:  # a group, or a question left unanswered whose children were answered
            out.append({**entry, "item": children})
    return out


def _answer_json(item: Item, value: AnswerValue) -> dict[str, Any]:
    if isinstance(value, Coding):
        option = _option_for(item, value)
        return {
            "valueCoding": (
                option.value if option and isinstance(option.value, Coding) else value
            ).to_fhir()
        }
    key = {
        "boolean": "valueBoolean",
        "integer": "valueInteger",
        "decimal": "valueDecimal",
        "date": "valueDate",
        "string": "valueString",
    }.get(item.type)
    if key is None:  # a choice with string or integer options
        key = "valueInteger" if isinstance(value, int) else "valueString"
    return {key: value}
