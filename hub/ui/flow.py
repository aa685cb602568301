"""Walking a patient through a questionnaire one item at a time (pure; no Textual).

The items to ask are recomputed from the answers after every step, so a branch opens or closes
the moment the answer that decides it is given; going back keeps the answers given so far.

The counter on screen is `Walk.number`: 1 on the first item, one more for every step forward,
one less for every step back, so it never jumps. A total ("3 of 5") is `Walk.total`, given only
where it cannot change: a questionnaire without branching. With branching the count of what is
left depends on answers not given yet, and a total that grew as branches opened ("1 of 5, 2 of
6, 5 of 7") is what confused patients.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from decimal import Decimal
from typing import Any

from hub.core.care_plan import CarePlan
from hub.questionnaire import SHIPPED_LANGUAGES, load_shipped, shipped_urls
from hub.questionnaire.engine import (
    as_written,
    build_response,
    check_answer,
    missing_required,
    questions,
)
from hub.questionnaire.model import (
    DECIMAL_LIMIT,
    DEFAULT_DECIMALS,
    FHIR_INTEGER,
    AnswerValue,
    Item,
    Questionnaire,
    QuestionnaireError,
    parse_questionnaire,
)
from hub.ui.keypad import DEFAULT_BOUNDS, Bounds

# Patient screens use the shipped version of a questionnaire the care plan names, in the
# screen's language (bokmål, nynorsk or English). The urls are read from the shipped files
# themselves, so a url and a file cannot be paired wrongly by hand.
SHIPPED_URLS = shipped_urls()


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


def keypad_bounds(item: Item) -> Bounds:
    """What the number keypad takes for an integer or decimal item: the questionnaire's
    minValue, maxValue and maxDecimalPlaces, and the keypad's defaults for what it leaves out,
    never more than check_answer takes (an integer FHIR can carry; a decimal up to
    DECIMAL_LIMIT). parse_questionnaire refuses bounds below 0 (the keypad types no minus
    sign); an item made otherwise has a least answer below 0 taken as 0."""
    default = DEFAULT_BOUNDS[item.type]
    least = default.least if item.min_value is None else as_written(item.min_value)
    # Not max(least, 0): that keeps a least of Decimal("-0.0"), shown to the patient as "-0".
    least = least if least > 0 else Decimal(0)
    if item.max_value is not None:
        most = as_written(item.max_value)
    else:  # room for one more digit than the least answer has, at the very least
        most = max(default.most, Decimal(10) ** (len(str(int(least))) + 1) - 1)
    most = min(most, Decimal(FHIR_INTEGER[1] if item.type == "integer" else DECIMAL_LIMIT))
    if item.type == "integer":
        decimals = 0
    else:
        # The default parse_questionnaire checked the bounds against: some answer is typable.
        decimals = DEFAULT_DECIMALS if item.decimals is None else item.decimals
    return Bounds(least, most if most > least else least, decimals)


def keypad_answer(item: Item, typed: Decimal) -> int | float:
    """The keypad's number as the answer `Walk.answer` takes for the item."""
    return int(typed) if item.type == "integer" else float(typed)


__all__ = ["QuestionnaireError", "Walk", "keypad_answer", "keypad_bounds", "questionnaire_for"]


@dataclass(frozen=True)
class Walk:
    questionnaire: Questionnaire
    answers: dict[str, AnswerValue] = field(default_factory=dict)
    at: str | None = None  # linkId of the item on screen; None before the first, "" after
    # The linkIds of the items shown before the one on screen, in the order the patient saw
    # them: back goes to the last of them, and the counter is their number plus one.
    trail: tuple[str, ...] = ()

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
    def number(self) -> int:
        """The counter on screen: 1 on the first item, one more after each step forward, one
        less after each step back; never below 1."""
        return len(self.trail) + 1

    @property
    def total(self) -> int | None:
        """How many items the patient is asked in all, where no answer can change it: a
        questionnaire without enableWhen, walked in order. None: show the number alone."""
        questionnaire_items = self.questionnaire.by_link_id.values()
        if any(item.enable_when for item in questionnaire_items):
            return None
        items, current = self.items, self.current
        if current is None or items.index(current) + 1 != self.number:
            return None  # finished, or an item shown out of order (`go_to`)
        return len(items)

    @property
    def position(self) -> tuple[int, int]:
        """Deprecated for the counter (the total grows as branches open and the number jumps):
        show `number`, and `total` where it is not None. (number of the item on screen among
        those enabled now, how many are enabled now), counting from 1."""
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
        # On from the item answered, even when the walk had not named one yet (at None): an
        # answer that switched on an item before it must not make that one "the first".
        return replace(self, answers=answers, at=item.link_id).step(1)

    def step(self, by: int) -> Walk:
        """Next (1) or previous (-1) item; past the last one the walk is finished. Back goes
        to the item shown before, whose answer is kept."""
        if by not in (1, -1):
            raise ValueError(f"a walk steps by 1 or -1, not {by}")
        if by < 0:
            return self._back()
        items, current = self.items, self.current
        if current is None:
            return self
        index = items.index(current) + 1
        return replace(
            self,
            at=items[index].link_id if index < len(items) else "",
            trail=(*self.trail, current.link_id),
        )

    def _back(self) -> Walk:
        enabled = {item.link_id for item in self.items}
        trail = list(self.trail)
        while trail:
            # Only an answer that switches off an item shown earlier (an enableWhen on a later
            # question) makes this pass over one: that item is no longer asked.
            previous = trail.pop()
            if previous in enabled:
                return replace(self, at=previous, trail=tuple(trail))
        return self

    def go_to(self, link_id: str) -> Walk:
        """Show an item out of order (a required one still unanswered, found at the end): one
        step forward for the counter, and back returns to the item shown before it."""
        current = self.current
        trail = self.trail if current is None else (*self.trail, current.link_id)
        return replace(self, at=link_id, trail=trail)

    @property
    def finished(self) -> bool:
        return self.at == ""

    @property
    def missing(self) -> list[str]:
        return missing_required(self.questionnaire, self.answers)

    def response(self, response_id: str, authored: str) -> dict[str, Any]:
        return build_response(self.questionnaire, self.answers, response_id, authored)
