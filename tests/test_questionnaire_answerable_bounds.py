"""Bounds no keypad answer can meet are refused where a questionnaire is read (the hub's reader,
and so the centre's care plan editor): a required decimal question from 0.2 to 0.8 with no
decimals could never be answered, only cancelled, every day. And for any bounds the reader
takes, some number typed on the keypad is an answer the engine takes."""

from __future__ import annotations

import json
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal
from typing import Any

import pytest
from hypothesis import assume, example, given
from hypothesis import strategies as st

from centre.care_plan_form import EditorInput, ScheduleRow, check_plan
from hub.core.care_plan import CarePlan
from hub.questionnaire.engine import check_answer
from hub.questionnaire.model import (
    DEFAULT_DECIMALS,
    MAX_DECIMAL_PLACES,
    MAX_VALUE,
    MIN_VALUE,
    Item,
    QuestionnaireError,
    parse_questionnaire,
)
from hub.ui.flow import keypad_answer, keypad_bounds
from hub.ui.keypad import DEFAULT_BOUNDS, NumberEntry


def questionnaire(
    kind: str, least: float | None, most: float | None, places: int | None
) -> dict[str, Any]:
    value_key = "valueInteger" if kind == "integer" else "valueDecimal"
    extensions: list[dict[str, Any]] = [
        {"url": url, value_key: bound}
        for url, bound in ((MIN_VALUE, least), (MAX_VALUE, most))
        if bound is not None
    ]
    if places is not None:
        extensions.append({"url": MAX_DECIMAL_PLACES, "valueInteger": places})
    return {
        "resourceType": "Questionnaire",
        "url": "urn:test:answerable-bounds",
        "status": "active",
        "item": [
            {
                "linkId": "w",
                "type": kind,
                "text": "Hvor mye?",
                "required": True,
                "extension": extensions,
            }
        ],
    }


def item_of(kind: str, least: float | None, most: float | None, places: int | None = None) -> Item:
    return parse_questionnaire(questionnaire(kind, least, most, places)).items[0]


def typed_on_keypad(item: Item, text: str) -> NumberEntry:
    """The entry after pressing `text`'s keys one by one; every key must be taken."""
    entry = NumberEntry(keypad_bounds(item))
    for key in text:
        after = entry.press(key)
        assert after.typed == entry.typed + key, (text, entry.typed, key)
        entry = after
    return entry


def first_typable(item: Item) -> str:
    """The keys for the least number from the item's least answer up that has the decimals
    the keypad takes (the search starts there: nothing smaller is an answer)."""
    bounds = keypad_bounds(item)
    step = Decimal(1).scaleb(-bounds.decimals)
    first = (bounds.least / step).to_integral_value(ROUND_CEILING) * step
    return f"{first:.{bounds.decimals}f}".replace(".", ",")


def grid_between(least: Decimal, most: Decimal, places: int) -> list[Decimal]:
    """Every number with `places` decimals from `least` to `most`, found by counting (the
    range is small wherever this is asked)."""
    scale = Decimal(10) ** places
    low = int((least * scale).to_integral_value(ROUND_FLOOR))
    high = int((most * scale).to_integral_value(ROUND_CEILING))
    return [Decimal(k) / scale for k in range(low, high + 1) if least <= Decimal(k) / scale <= most]


# --- table --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("least", "most", "places", "message"),
    [
        (0.2, 0.8, 0, r"from minValue 0.2 to maxValue 0.8 .*maxDecimalPlaces 0.*first .* is 1\."),
        (0.01, 0.05, 1, r"maxDecimalPlaces 1\); the first from minValue up is 0.1\."),
        (1.25, 1.26, 1, r"the first from minValue up is 1.3\. Widen minValue or maxValue"),
        (0.5, 0.5, 0, "no answer fits"),
        (0.0000001, 0.0000009, 6, r"first from minValue up is 0.000001\."),
        # Without maxDecimalPlaces the keypad takes one decimal: said so.
        (0.01, 0.05, None, "without maxDecimalPlaces the keypad takes 1 decimal"),
        (999999999.91, 999999999.99, None, r"first from minValue up is 1000000000.0\."),
    ],
)
def test_bounds_no_typed_number_meets_are_refused_saying_what_to_change(
    least: float, most: float, places: int | None, message: str
) -> None:
    with pytest.raises(QuestionnaireError, match=message) as refused:
        item_of("decimal", least, most, places)
    assert str(refused.value).startswith("item[0] (w): no answer fits")


@pytest.mark.parametrize(
    ("least", "most", "places", "keys"),
    [
        (0.2, 0.8, 1, "0,2"),
        (0.2, 1.0, 0, "1"),
        (1.25, 1.3, 1, "1,3"),
        (1.25, 1.26, 2, "1,25"),
        (0.5, 0.5, 1, "0,5"),
        (1.0, 1.0, 0, "1"),
        (0.01, 0.1, None, "0,1"),
        (0.0000001, 0.000001, 6, "0,000001"),
        (999999999.91, 1e9, None, "1000000000,0"),
        (None, 0.0, 0, "0"),
        (0.0, None, 0, "0"),
    ],
)
def test_bounds_with_room_for_a_typed_answer_are_taken(
    least: float | None, most: float | None, places: int | None, keys: str
) -> None:
    item = item_of("decimal", least, most, places)
    assert first_typable(item) == keys
    entry = typed_on_keypad(item, keys)
    assert entry.verdict == "ok" and entry.value is not None
    answer = keypad_answer(item, entry.value)
    assert check_answer(item, answer) == answer


def test_the_attacker_repro_is_refused_by_the_centre_as_well() -> None:
    for least, most, places in ((0.2, 0.8, 0), (0.01, 0.05, 1), (1.25, 1.26, 1)):
        plan = check_plan(
            EditorInput(
                schedule=(ScheduleRow("questionnaire", ("08:00",)),),
                uploaded_questionnaire=json.dumps(questionnaire("decimal", least, most, places)),
            )
        )
        assert not isinstance(plan, CarePlan)
        assert "no answer fits" in repr(plan), plan


def test_the_keypad_default_is_the_one_bounds_are_checked_against() -> None:
    assert DEFAULT_BOUNDS["decimal"].decimals == DEFAULT_DECIMALS


@pytest.mark.parametrize(("least", "most"), [(-0.0, 5.0), (-0.0, None), (None, -0.0), (-0.0, -0.0)])
def test_a_bound_of_minus_zero_is_zero(least: float | None, most: float | None) -> None:
    """-0.0 is not below 0 (so not refused), but kept as is it showed as "-0" on the screen."""
    item = item_of("decimal", least, most, 1)
    for written, read in ((least, item.min_value), (most, item.max_value)):
        assert repr(read) == ("0.0" if written == 0 else repr(written))
    bounds = keypad_bounds(item)
    assert not bounds.least.is_signed() and not bounds.most.is_signed()
    assert str(bounds.least) == "0"
    hand_made = Item("w", "decimal", min_value=-0.0, max_value=-0.0, decimals=1)
    assert str(keypad_bounds(hand_made).least) == "0"
    assert str(keypad_bounds(hand_made).most) == "0"


# --- properties ---------------------------------------------------------------------------

# Bounds written with up to 8 decimals, from 0 to past the decimal limit, and some near it.
SMALL = st.builds(
    lambda units, places: float(Decimal(units).scaleb(-places)),
    st.integers(0, 10**6),
    st.integers(0, 8),
)
BOUND = st.one_of(
    st.none(),
    SMALL,
    st.floats(0, 1e9 + 1, allow_nan=False),
    st.integers(999_999_990, 10**9).map(lambda n: n - 0.05),
)
PLACES = st.one_of(st.none(), st.integers(0, 6))


@given(least=BOUND, most=BOUND, places=PLACES)
@example(least=0.2, most=0.8, places=0)
@example(least=0.01, most=0.05, places=1)
@example(least=1.25, most=1.26, places=1)
@example(least=999999999.95, most=1e9, places=None)
@example(least=5e-324, most=5e-324, places=6)
def test_bounds_taken_have_a_typed_answer_and_bounds_refused_have_none(
    least: float | None, most: float | None, places: int | None
) -> None:
    """Accepted: the least number from the least answer up with the keypad's decimals, typed
    key by key, is one OK takes and the engine takes. Refused for want of an answer: counting
    every number with those decimals between the bounds finds none."""
    try:
        item = item_of("decimal", least, most, places)
    except QuestionnaireError as exc:
        if "no answer fits" in str(exc):
            assert least is not None and most is not None
            decimals = DEFAULT_DECIMALS if places is None else places
            low, high = Decimal(repr(least)), Decimal(repr(most))
            assert grid_between(low, high, decimals) == []
        return
    entry = typed_on_keypad(item, first_typable(item))
    assert entry.verdict == "ok" and entry.value is not None, (entry, keypad_bounds(item))
    answer = keypad_answer(item, entry.value)
    assert check_answer(item, answer) == answer


@given(
    units=st.integers(0, 10**9),
    places=st.integers(0, 6),
    below=st.integers(0, 10**6),
    above=st.integers(0, 10**6),
    given_places=st.booleans(),
)
def test_bounds_around_a_typable_number_are_never_refused_for_want_of_an_answer(
    units: int, places: int, below: int, above: int, given_places: bool
) -> None:
    """The other way round: bounds that hold a number with the decimals the keypad takes are
    not refused as unanswerable (at most for being too large)."""
    if not given_places:
        places = DEFAULT_DECIMALS
    answer = Decimal(units).scaleb(-places)
    least = max(Decimal(0), answer - Decimal(below).scaleb(-8))
    most = answer + Decimal(above).scaleb(-8)
    low, high = float(least), float(most)
    # A float holds about 16 digits: past them the bound written is not the one meant.
    assume(Decimal(repr(low)) <= answer <= Decimal(repr(high)))
    try:
        item_of("decimal", low, high, places if given_places else None)
    except QuestionnaireError as exc:
        assert "no answer fits" not in str(exc), (least, most, places)


def test_integer_bounds_always_have_an_answer() -> None:
    item = item_of("integer", 7, 7)
    entry = typed_on_keypad(item, first_typable(item))
    assert entry.verdict == "ok"
