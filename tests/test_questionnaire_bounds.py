"""Bounds on number questions (FHIR R4 minValue, maxValue, maxDecimalPlaces on
Questionnaire.item): read strictly, refused with words a technician can act on, enforced by the
engine's check_answer, and turned into the keypad's Bounds by hub.ui.flow.keypad_bounds."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from hub.questionnaire import SHIPPED, SHIPPED_LANGUAGES, load_shipped
from hub.questionnaire.engine import AnswerInvalid, check_answer, decimal_places
from hub.questionnaire.model import (
    MAX_DECIMAL_PLACES,
    MAX_VALUE,
    MIN_VALUE,
    Item,
    QuestionnaireError,
    parse_questionnaire,
)
from hub.ui.flow import keypad_answer, keypad_bounds
from hub.ui.keypad import DEFAULT_BOUNDS, Bounds, NumberEntry


def ext(url: str, **value: Any) -> dict[str, Any]:
    return {"url": url, **value}


def item_of(kind: str, *extensions: dict[str, Any]) -> Item:
    q = parse_questionnaire(
        {
            "resourceType": "Questionnaire",
            "url": "urn:test:bounds",
            "item": [{"linkId": "n", "type": kind, "extension": list(extensions)}],
        }
    )
    return q.items[0]


TEMPERATURE = (
    ext(MIN_VALUE, valueDecimal=34.0),
    ext(MAX_VALUE, valueDecimal=43.0),
    ext(MAX_DECIMAL_PLACES, valueInteger=1),
)


def test_a_temperature_item_reads_its_bounds_and_the_engine_holds_to_them() -> None:
    item = item_of("decimal", *TEMPERATURE)
    assert (item.min_value, item.max_value, item.decimals) == (34.0, 43.0, 1)
    for fine in (34, 34.0, 38.6, 43, 43.0):
        assert check_answer(item, fine) == fine
    for wrong, why in (
        (33.9, "below"),
        (43.1, "above"),
        (386, "above"),  # the comma forgotten on the keypad
        (38.65, "more than the 1 decimals"),
        (float("nan"), "not a number"),
        (float("inf"), "not a number"),
    ):
        with pytest.raises(AnswerInvalid, match=why):
            check_answer(item, wrong)


def test_a_count_takes_whole_numbers_within_its_bounds() -> None:
    item = item_of("integer", ext(MIN_VALUE, valueInteger=0), ext(MAX_VALUE, valueInteger=50))
    assert (item.min_value, item.max_value, item.decimals) == (0, 50, None)
    assert check_answer(item, 0) == 0 and check_answer(item, 50) == 50
    for wrong in (-1, 51, 2**40):
        with pytest.raises(AnswerInvalid):
            check_answer(item, wrong)


def test_one_bound_alone_and_none_at_all() -> None:
    floor = item_of("integer", ext(MIN_VALUE, valueInteger=1))
    assert (floor.min_value, floor.max_value) == (1, None)
    assert check_answer(floor, 10**6) == 10**6
    with pytest.raises(AnswerInvalid, match="below"):
        check_answer(floor, 0)
    free = item_of("decimal")
    assert (free.min_value, free.max_value, free.decimals) == (None, None, None)
    assert check_answer(free, 12.345) == 12.345
    with pytest.raises(AnswerInvalid):  # whatever the bounds, a number FHIR can carry
        check_answer(free, float("nan"))


@pytest.mark.parametrize(
    ("kind", "extensions", "message"),
    [
        (
            "integer",
            [ext(MIN_VALUE, valueInteger=5), ext(MAX_VALUE, valueInteger=4)],
            r"item\[0\] \(n\): minValue 5 is above maxValue 4",
        ),
        ("integer", [ext(MIN_VALUE, valueDecimal=1.5)], "must be valueInteger, not valueDecimal"),
        ("decimal", [ext(MAX_VALUE, valueInteger=40)], "must be valueDecimal, not valueInteger"),
        ("decimal", [ext(MAX_VALUE, valueDecimal="40")], "must be a number, not '40'"),
        ("decimal", [ext(MAX_VALUE, valueDecimal=True)], "must be a number, not True"),
        ("decimal", [ext(MAX_VALUE, valueDecimal=float("inf"))], "not a finite number"),
        ("decimal", [ext(MIN_VALUE, valueDecimal=float("nan"))], "not a finite number"),
        ("integer", [ext(MAX_VALUE, valueInteger=2**31)], "is not a FHIR integer"),
        (
            "integer",
            [ext(MAX_VALUE, valueInteger=4), ext(MAX_VALUE, valueInteger=5)],
            "maxValue is given twice; give it once",
        ),
        ("integer", [ext(MAX_VALUE)], "needs exactly one value"),
        ("integer", [ext(MAX_VALUE, valueInteger=4, valueDecimal=4.0)], "exactly one value"),
        ("decimal", [ext(MAX_DECIMAL_PLACES, valueInteger=-1)], "takes 0 to 6"),
        ("decimal", [ext(MAX_DECIMAL_PLACES, valueInteger=50)], "takes 0 to 6"),
        ("decimal", [ext(MAX_DECIMAL_PLACES, valueDecimal=1.0)], "must be a valueInteger"),
        ("integer", [ext(MAX_DECIMAL_PLACES, valueInteger=0)], "on an integer item; leave it"),
        ("string", [ext(MAX_VALUE, valueInteger=4)], "only on integer and decimal items"),
        ("date", [ext(MIN_VALUE, valueDate="2026-01-01")], "only on integer and decimal items"),
        ("integer", ["not an extension"], r"extension\[0\] is not an extension"),
    ],
)
def test_bounds_that_are_wrong_are_refused_saying_what_to_fix(
    kind: str, extensions: list[Any], message: str
) -> None:
    with pytest.raises(QuestionnaireError, match=message):
        item_of(kind, *extensions)


def test_other_extensions_beside_the_bounds_are_ignored() -> None:
    item = item_of(
        "integer",
        ext("http://example.org/other", valueString="x"),
        ext(MAX_VALUE, valueInteger=9),
        {"url": ["not", "a", "url"]},
    )
    assert item.max_value == 9


@pytest.mark.parametrize(
    ("value", "places"), [(38.6, 1), (38.0, 0), (38, 0), (0.125, 3), (1e20, 0), (1e-7, 7)]
)
def test_decimal_places_as_written_shortest(value: float, places: int) -> None:
    assert decimal_places(value) == places


# --- the keypad -----------------------------------------------------------------------------


def test_keypad_bounds_from_the_item_and_the_keypad_defaults() -> None:
    assert keypad_bounds(item_of("decimal", *TEMPERATURE)) == Bounds(Decimal(34), Decimal(43), 1)
    assert keypad_bounds(item_of("integer")) == DEFAULT_BOUNDS["integer"]
    assert keypad_bounds(item_of("decimal")) == DEFAULT_BOUNDS["decimal"]
    two = item_of("decimal", ext(MAX_DECIMAL_PLACES, valueInteger=2))
    assert keypad_bounds(two) == Bounds(Decimal(0), Decimal("999.9"), 2)
    # A least answer past the default largest one: room for more digits.
    big = item_of("integer", ext(MIN_VALUE, valueInteger=1500))
    assert keypad_bounds(big) == Bounds(Decimal(1500), Decimal(99999), 0)
    # ... but never past what the engine takes: an integer FHIR carries, a decimal up to 1e9.
    huge = item_of("integer", ext(MIN_VALUE, valueInteger=2_000_000_000))
    assert keypad_bounds(huge) == Bounds(Decimal(2_000_000_000), Decimal(2**31 - 1), 0)
    large = item_of("decimal", ext(MIN_VALUE, valueDecimal=5e8))
    assert keypad_bounds(large) == Bounds(Decimal(500_000_000), Decimal(10**9), 1)
    # The keypad has no minus sign: an item made without the reader (which refuses bounds
    # below 0) has a least answer below 0 taken as 0.
    below = Item("n", "integer", min_value=-5, max_value=5)
    assert keypad_bounds(below) == Bounds(Decimal(0), Decimal(5), 0)


@pytest.mark.parametrize(
    ("kind", "extensions", "message"),
    [
        ("integer", [ext(MAX_VALUE, valueInteger=-1)], "maxValue -1 allows answers below 0"),
        (
            "decimal",
            [ext(MIN_VALUE, valueDecimal=-10.0), ext(MAX_VALUE, valueDecimal=10.0)],
            "minValue -10.0 allows answers below 0, and the patient's keypad has no minus key",
        ),
        ("integer", [ext(MIN_VALUE, valueInteger=-(2**31))], "allows answers below 0"),
        (
            "decimal",
            [ext(MIN_VALUE, valueDecimal=9007199254740993)],
            "larger than the patient's keypad takes for a decimal item; give bounds from 0 to",
        ),
        ("decimal", [ext(MAX_VALUE, valueDecimal=1e9 + 0.5)], "larger than the patient's keypad"),
    ],
)
def test_bounds_the_keypad_cannot_honour_are_refused_saying_why(
    kind: str, extensions: list[Any], message: str
) -> None:
    """A number the patient cannot type (below 0: no minus key), or one a decimal answer
    cannot hold exactly, would make the keypad say OK to an answer the engine refuses."""
    with pytest.raises(QuestionnaireError, match=message):
        item_of(kind, *extensions)


# Bounds of every size a questionnaire may give: none, small, below 0, FHIR's integer ends,
# around 2**53 (where a float stops holding every whole number), and any finite float.
BOUND = st.one_of(
    st.none(),
    st.integers(-50, 5000),
    st.integers(-(2**31), 2**31 - 1),
    st.integers(2**53 - 3, 2**53 + 3),
    st.floats(-1e12, 1e17, allow_nan=False, allow_infinity=False),
    st.floats(0, 10, allow_nan=False).map(lambda f: round(f, 3)),
)
KEYS = st.lists(st.sampled_from([*"0123456789", ","]), max_size=18).map("".join)


def typed(bounds: Bounds, text: str) -> NumberEntry:
    entry = NumberEntry(bounds)
    for key in text:
        entry = entry.press(key)
    return entry


def written(number: Decimal, decimals: int) -> str:
    """A number as the keypad's keys for it (rounded to the decimals it takes)."""
    return f"{number:.{decimals}f}".replace(".", ",")


@given(
    kind=st.sampled_from(["integer", "decimal"]),
    least=BOUND,
    most=BOUND,
    places=st.one_of(st.none(), st.integers(0, 6)),
    keys=KEYS,
)
@example(kind="integer", least=None, most=-1, places=None, keys="0")
@example(kind="decimal", least=-10.0, most=-0.5, places=None, keys="0")
@example(kind="integer", least=2_000_000_000, most=None, places=None, keys="99999999999")
@example(kind="decimal", least=9007199254740993, most=None, places=None, keys="9007199254740993")
def test_what_the_keypad_says_ok_to_the_engine_takes(
    kind: str, least: float | None, most: float | None, places: int | None, keys: str
) -> None:
    """For any number item the hub's reader accepts, a number the keypad lets OK take is an
    answer the engine takes: typed key by key, and typed as the least and the largest answer
    the keypad allows (where a float rounding or a clamped bound would show)."""
    value_key = "valueInteger" if kind == "integer" else "valueDecimal"
    extensions = [
        ext(url, **{value_key: bound})
        for url, bound in ((MIN_VALUE, least), (MAX_VALUE, most))
        if bound is not None
    ]
    if places is not None and kind == "decimal":
        extensions.append(ext(MAX_DECIMAL_PLACES, valueInteger=places))
    try:
        item = item_of(kind, *extensions)
    except QuestionnaireError:
        return  # refused with words: never on a patient's keypad
    bounds = keypad_bounds(item)
    for text in (keys, written(bounds.least, bounds.decimals), written(bounds.most, 0)):
        entry = typed(bounds, text)
        if entry.verdict == "ok" and entry.value is not None:
            answer = keypad_answer(item, entry.value)
            assert check_answer(item, answer) == answer, (text, bounds)


@pytest.mark.parametrize("name", SHIPPED)
@pytest.mark.parametrize("language", SHIPPED_LANGUAGES)
def test_every_shipped_number_question_has_bounds(name: str, language: str) -> None:
    numbers = [
        i for i in load_shipped(name, language).by_link_id.values() if i.type in DEFAULT_BOUNDS
    ]
    assert numbers
    for item in numbers:
        assert item.min_value is not None and item.max_value is not None, item.link_id
        assert item.type == "integer" or item.decimals is not None, item.link_id
        keypad_bounds(item)  # the keypad takes them


def test_the_shipped_counts() -> None:
    copd, hf = load_shipped("copd-daily", "nb"), load_shipped("heart-failure-daily", "nb")
    count, pillows = copd.by_link_id["rescue-count"], hf.by_link_id["pillows"]
    assert (count.min_value, count.max_value) == (0, 50)
    assert (pillows.min_value, pillows.max_value) == (0, 10)
    with pytest.raises(AnswerInvalid):
        check_answer(count, 51)
    with pytest.raises(AnswerInvalid):
        check_answer(pillows, 11)
