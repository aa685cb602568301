"""The patient screen's number keypad (hub/ui/keypad.py, issue 14): tables of key presses and
what they type, and a property over any presses at all."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hub.ui.keypad import (
    COMMA,
    DEFAULT_BOUNDS,
    ERASE,
    KEYS,
    Bounds,
    NumberEntry,
    typed_again,
)

TEMPERATURE = Bounds(Decimal(34), Decimal(43), 1)
SCORE = Bounds(Decimal(0), Decimal(10), 0)


def typed(bounds: Bounds, *keys: str) -> NumberEntry:
    entry = NumberEntry(bounds)
    for key in keys:
        entry = entry.press(key)
    return entry


@pytest.mark.parametrize(
    ("bounds", "keys", "shown", "value", "verdict"),
    [
        (TEMPERATURE, "386", "386", Decimal(386), "above"),  # the comma forgotten: said so
        (TEMPERATURE, "3861", "386", Decimal(386), "above"),
        (TEMPERATURE, ["3", "8", COMMA, "6"], "38,6", Decimal("38.6"), "ok"),
        (TEMPERATURE, ["3", "8", COMMA, "6", "5"], "38,6", Decimal("38.6"), "ok"),  # 1 decimal
        (TEMPERATURE, ["3", "8", COMMA, COMMA, "6"], "38,6", Decimal("38.6"), "ok"),
        (TEMPERATURE, [COMMA, "5"], "0,5", Decimal("0.5"), "below"),
        (TEMPERATURE, ["3", "3"], "33", Decimal(33), "below"),
        (TEMPERATURE, [], "", None, "empty"),
        (TEMPERATURE, ["4", ERASE], "", None, "empty"),
        (TEMPERATURE, ["3", "9", ERASE, "8"], "38", Decimal(38), "ok"),
        (TEMPERATURE, ["0", "0", "4", "0"], "40", Decimal(40), "ok"),  # no leading zeros
        (SCORE, ["1", "0"], "10", Decimal(10), "ok"),
        (SCORE, ["1", "0", "0"], "100", Decimal(100), "above"),
        (SCORE, ["1", "0", "0", "0"], "100", Decimal(100), "above"),  # one digit more, no more
        (SCORE, ["7", COMMA, "5"], "75", Decimal(75), "above"),  # no comma for a whole number
        (SCORE, ["0"], "0", Decimal(0), "ok"),
        (SCORE, ["x", "", "11", "-", "<"], "", None, "empty"),  # not keys: nothing happens
        (DEFAULT_BOUNDS["decimal"], ["9", "9", "9", COMMA, "9", "9"], "999,9", None, "ok"),
    ],
)
def test_keys_type_what_the_patient_sees(
    bounds: Bounds, keys: list[str], shown: str, value: Decimal | None, verdict: str
) -> None:
    entry = typed(bounds, *keys)
    assert entry.typed == shown
    if value is not None or verdict == "empty":
        assert entry.value == value
    assert entry.verdict == verdict


@given(st.lists(st.sampled_from(KEYS), max_size=30), st.sampled_from(["decimal", "integer"]))
def test_whatever_is_pressed_the_entry_stays_a_number_the_question_can_take(
    keys: list[str], kind: str
) -> None:
    bounds = DEFAULT_BOUNDS[kind]
    entry = typed(bounds, *keys)
    whole, _, decimals = entry.typed.partition(COMMA)
    assert entry.typed.count(COMMA) <= 1 and len(decimals) <= bounds.decimals
    assert len(whole) <= bounds.whole_digits and (whole == "0" or not whole.startswith("0"))
    assert (entry.verdict == "ok") == (
        entry.value is not None and bounds.least <= entry.value <= bounds.most
    )
    if entry.typed:  # erase takes back one key, down to nothing
        assert len(entry.press(ERASE).typed) == len(entry.typed) - 1


@pytest.mark.parametrize(
    ("answer", "shown"),
    [(38.6, "38,6"), (38.0, "38,0"), (None, ""), (float("nan"), ""), (1e9, ""), (-1.0, "")],
)
def test_an_answer_given_before_is_shown_as_typed(answer: float | None, shown: str) -> None:
    assert typed_again(TEMPERATURE, answer).typed == shown


@pytest.mark.parametrize(("least", "most", "decimals"), [(5, 1, 0), (-1, 10, 0), (0, 10, -1)])
def test_bounds_that_take_no_answer_are_refused(least: int, most: int, decimals: int) -> None:
    with pytest.raises(ValueError, match="bounds"):
        Bounds(Decimal(least), Decimal(most), decimals)
