"""Walking a patient through a questionnaire one item at a time (pure; no Textual).

The items to ask are recomputed from the answers after every step, so a branch opens or closes
the moment the answer that decides it is given; going back keeps the answers given so far.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

from hub.core.care_plan import CarePlan
from hub.questionnaire import SHIPPED_LANGUAGES, load_shipped
from hub.questionnaire.engine import (
    build_response,
    check_answer,
    missing_required,
    questions,
)
from hub.questionnaire.model import (
    AnswerValue,
    Item,
    Questionnaire,
    QuestionnaireError,
    parse_questionnaire,
)

# Patient screens use the shipped version of a questionnaire the care plan names, in the
# screen's language (bokmål, nynorsk or English).
SHIPPED_URLS = {
    "urn:dho:questionnaire:copd-daily": "copd-daily",
    "urn:dho:questionnaire:heart-failure-daily": "heart-failure-daily",
}


def questionnaire_for(plan: CarePlan | None, language: str) -> Questionnaire | None:
    """The care plan's questionnaire in the screen's language; None if there is none.

    Raises QuestionnaireError for one that cannot be asked (the screen keeps its last good one).
    """
    given = None if plan is None else plan.questionnaire
    if given is None:
        return None
    shipped = SHIPPED_URLS.get(str(given.get("url")))
    if shipped is not None:
        # A screen language no shipped version is written in gets bokmål.
        return load_shipped(shipped, language if language in SHIPPED_LANGUAGES else "nb")
    return parse_questionnaire(given)


__all__ = ["QuestionnaireError", "Walk", "questionnaire_for"]


@dataclass(frozen=True)
class Walk:
    questionnaire: Questionnaire
    answers: dict[str, AnswerValue] = field(default_factory=dict)
    at: str | None = None  # linkId of the item on screen; None before the first

    @property
    def items(self) -> list[Item]:
        return questions(self.questionnaire, self.answers)

    @property
    def current(self) -> Item | None:
        items = self.items
        if self.at is None:
            return items[0] if items else None
        return next((i for i in items if i.link_id == self.at), None)

    @property
    def position(self) -> tuple[int, int]:
        """(number of the item on screen, how many there are now), counting from 1."""
        items, current = self.items, self.current
        index = items.index(current) + 1 if current in items else len(items)
        return index, len(items)

    def answer(self, value: Any) -> Walk:
        """Record the answer to the item on screen (None: skip an optional one) and step on."""
        item = self.current
        if item is None:
            return self
        answers = dict(self.answers)
        if value is None:
            answers.pop(item.link_id, None)
        else:
            answers[item.link_id] = check_answer(item, value)
        return replace(self, answers=answers).step(1)

    def step(self, by: int) -> Walk:
        """Next (1) or previous (-1) item; past the last one the walk is finished."""
        items, current = self.items, self.current
        if self.finished and by < 0 and items:
            return replace(self, at=items[-1].link_id)
        if current is None:
            return self
        index = items.index(current) + by
        if index < 0:
            return self
        return replace(self, at=items[index].link_id if index < len(items) else "")

    @property
    def finished(self) -> bool:
        return self.at == ""

    @property
    def missing(self) -> list[str]:
        return missing_required(self.questionnaire, self.answers)

    def response(self, response_id: str, authored: str) -> dict[str, Any]:
        return build_response(self.questionnaire, self.answers, response_id, authored)
