"""hub/ui/flow.py: which shipped questionnaire a care plan's url names, and the walk's counter
(`Walk.number`): one more for every step forward, one less for every step back, never a jump,
whatever branches open or close on the way; a total only where no answer can change it."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
)

from hub.core.care_plan import CarePlan
from hub.questionnaire import SHIPPED, SHIPPED_LANGUAGES, load_shipped, shipped_urls
from hub.questionnaire.model import AnswerValue, Coding, Item, parse_questionnaire
from hub.ui.flow import SHIPPED_URLS, Walk, questionnaire_for

# --- the shipped questionnaires by url --------------------------------------------------------


def plan_naming(url: str) -> CarePlan:
    return CarePlan.model_validate({"questionnaire": {"resourceType": "Questionnaire", "url": url}})


def test_each_url_names_the_shipped_questionnaire_whose_own_url_it_is() -> None:
    """A swapped or mistyped pair fails here: each url is checked against the file itself."""
    assert sorted(SHIPPED_URLS.values()) == sorted(SHIPPED)
    assert shipped_urls() == SHIPPED_URLS
    for url, name in SHIPPED_URLS.items():
        for language in SHIPPED_LANGUAGES:
            assert load_shipped(name, language).url == url, (name, language)
            chosen = questionnaire_for(plan_naming(url), language)
            assert chosen is not None
            assert (chosen.url, chosen.language) == (url, language)
            assert chosen is load_shipped(name, language)


def test_the_two_shipped_urls_as_care_plans_write_them() -> None:
    assert SHIPPED_URLS == {
        "urn:dho:questionnaire:copd-daily": "copd-daily",
        "urn:dho:questionnaire:heart-failure-daily": "heart-failure-daily",
    }


# --- the counter ------------------------------------------------------------------------------


def some_answer(item: Item) -> AnswerValue | None:
    """An answer the item takes (None for a display item: it is only read)."""
    if item.type == "boolean":
        return True
    if item.type == "choice":
        return item.options[-1].value
    if item.type in ("integer", "decimal"):
        return item.max_value if item.max_value is not None else 5
    if item.type == "string":
        return "fine"
    return None


def test_the_copd_check_counts_one_by_one_as_branches_open() -> None:
    """The patient who saw "1 of 5, 2 of 6, 5 of 7, 7 of 8" now sees 1, 2, 3, ..."""
    walk = Walk(load_shipped("copd-daily", "nb"))
    seen = []
    while not walk.finished:
        assert walk.current is not None
        seen.append((walk.number, walk.current.link_id, walk.total))
        walk = walk.answer(some_answer(walk.current))
    assert seen == [
        (1, "breath", None),
        (2, "breath-rest", None),  # much worse: opens
        (3, "cough", None),
        (4, "sputum", None),
        (5, "sputum-colour", None),  # more phlegm: opens
        (6, "rescue", None),
        (7, "rescue-count", None),  # more reliever: opens
        (8, "rescue-advice", None),  # 50 times: opens
        (9, "note", None),
    ]
    back = walk.step(-1)
    assert (back.number, back.at) == (9, "note")
    assert back.step(-1).step(-1).number == 7 and back.answers == walk.answers


def test_back_goes_to_the_item_shown_before_and_keeps_every_answer() -> None:
    q = load_shipped("heart-failure-daily", "en")
    walk = Walk(q).answer(True)  # short of breath lying flat: pillows opens
    assert (walk.number, walk.at) == (2, "pillows")
    walk = walk.answer(3)
    assert walk.number == 3
    walk = walk.step(-1).step(-1)
    assert (walk.number, walk.at) == (1, "breath-lying")
    assert walk.answers == {"breath-lying": True, "pillows": 3}
    assert walk.step(-1) == walk  # never below 1
    walk = walk.answer(False)  # pillows closes; its answer is kept but counts for nothing
    assert (walk.number, walk.at) == (2, "ankles")


def test_going_to_a_missing_question_is_one_step_on() -> None:
    q = parse_questionnaire(
        {
            "resourceType": "Questionnaire",
            "url": "urn:test:flow",
            "item": [
                {"linkId": "a", "type": "boolean", "required": True},
                {"linkId": "b", "type": "boolean", "required": True},
            ],
        }
    )
    walk = Walk(q).answer(None).answer(True)  # the screen offers no skip; the walk allows it
    assert walk.finished and walk.missing == ["a"] and walk.number == 3
    again = walk.go_to("a")
    assert (again.number, again.current, again.total) == (3, q.by_link_id["a"], None)
    assert again.step(-1).at == "b" and again.step(-1).number == 2


def test_a_total_only_where_no_answer_can_change_it() -> None:
    plain = parse_questionnaire(
        {
            "resourceType": "Questionnaire",
            "url": "urn:test:plain",
            "item": [{"linkId": x, "type": "boolean"} for x in "abc"],
        }
    )
    walk = Walk(plain)
    assert (walk.number, walk.total) == (1, 3)
    assert (walk.answer(True).number, walk.answer(True).total) == (2, 3)
    for name in SHIPPED:  # both branch: the count of what is left depends on answers
        assert Walk(load_shipped(name, "nb")).total is None


def test_a_walk_steps_by_one() -> None:
    with pytest.raises(ValueError, match="1 or -1"):
        Walk(load_shipped("copd-daily", "nb")).step(2)


# --- any sequence of answers, skips and steps back -------------------------------------------


class Walking(RuleBasedStateMachine):
    """A patient tapping through a shipped questionnaire in any order: the counter moves by
    exactly one each step, never below 1, and going back loses no answer."""

    walk: Walk

    @initialize(
        name=st.sampled_from(SHIPPED),
        language=st.sampled_from(SHIPPED_LANGUAGES),
    )
    def start(self, name: str, language: str) -> None:
        self.walk = Walk(load_shipped(name, language))

    def _moved(self, new: Walk, by: int) -> None:
        old = self.walk
        assert new.number == old.number + by, (old.at, new.at, old.number, new.number)
        self.walk = new

    @precondition(lambda self: self.walk.current is not None)
    @rule(data=st.data())
    def answer(self, data: st.DataObject) -> None:
        item = self.walk.current
        assert item is not None
        value = data.draw(answers_to(item))
        before = dict(self.walk.answers)
        self._moved(self.walk.answer(value), +1)
        kept = {k: v for k, v in before.items() if k != item.link_id}
        assert {k: v for k, v in self.walk.answers.items() if k != item.link_id} == kept

    @precondition(
        lambda self: (
            self.walk.current is not None
            and not (self.walk.current.is_question and self.walk.current.required)
        )
    )
    @rule()
    def skip(self) -> None:
        self._moved(self.walk.answer(None), +1)

    @rule()
    def back(self) -> None:
        before = self.walk
        after = before.step(-1)
        assert after.answers == before.answers  # going back keeps them
        self._moved(after, -1 if before.number > 1 else 0)
        if before.number > 1:
            assert after.at == before.trail[-1]

    @precondition(lambda self: self.walk.finished and bool(self.walk.missing))
    @rule()
    def to_the_missing(self) -> None:
        self._moved(self.walk.go_to(self.walk.missing[0]), 0)  # the last shown, plus one

    @invariant()
    def counts_what_was_shown(self) -> None:
        walk = getattr(self, "walk", None)
        if walk is None:
            return
        assert walk.number >= 1
        assert walk.number == len(walk.trail) + 1
        assert walk.finished or walk.current is not None  # never stuck on a switched-off item
        if walk.total is not None:
            assert walk.number <= walk.total


def answers_to(item: Item) -> st.SearchStrategy[Any]:
    if item.type == "boolean":
        return st.booleans()
    if item.type == "choice":
        return st.sampled_from([o.value for o in item.options]).map(
            lambda v: Coding(v.system, v.code) if isinstance(v, Coding) else v
        )
    if item.type == "integer":
        least = int(item.min_value) if item.min_value is not None else 0
        most = int(item.max_value) if item.max_value is not None else 100
        return st.integers(least, most)
    if item.type == "string":
        return st.text(min_size=1, max_size=10).filter(str.strip)
    return st.none()  # a display item: read, then on


Walking.TestCase.settings = settings(
    max_examples=150, stateful_step_count=30, suppress_health_check=[HealthCheck.too_slow]
)
test_walking = Walking.TestCase


def test_an_answer_that_switches_on_an_earlier_item_steps_on_from_the_one_answered() -> None:
    """An enableWhen on a later question (legal in FHIR, not in the shipped questionnaires):
    the walk goes on from the item answered and finds the earlier one at the end."""
    q = parse_questionnaire(
        {
            "resourceType": "Questionnaire",
            "url": "urn:test:forward",
            "item": [
                {
                    "linkId": "early",
                    "type": "boolean",
                    "required": True,
                    "enableWhen": [{"question": "late", "operator": "=", "answerBoolean": True}],
                },
                {"linkId": "late", "type": "boolean", "required": True},
            ],
        }
    )
    walk = Walk(q)
    assert (walk.number, walk.current, walk.total) == (1, q.by_link_id["late"], None)
    walk = walk.answer(True)
    assert walk.finished and walk.missing == ["early"]
    walk = walk.go_to("early")
    assert (walk.number, walk.at) == (2, "early")
    assert (walk.step(-1).number, walk.step(-1).at) == (1, "late")
