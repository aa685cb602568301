"""Typing a number on the patient screen's keypad (issue 14): digits, one decimal comma, erase.
Pure: the screen shows `NumberEntry.typed` and the keys, and takes `value` once `verdict` is
"ok". A temperature of 38,6 is four taps, not 386 taps on "+".

A second comma, or a decimal more than the question takes, is not typed at all. A whole number
may take one digit more than the largest answer has, and no more: 3, 8, 6 with the comma
forgotten must read 386, said to be too large when the patient presses OK (`verdict`), not 38
taken as if it were meant.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from decimal import Decimal
from typing import Literal

COMMA = ","  # what the keypad shows and types, whatever the language (nb, nn and en alike)
ERASE = "erase"
DIGITS = tuple("1234567890")
KEYS = (*DIGITS, COMMA, ERASE)

Verdict = Literal["ok", "empty", "below", "above"]


@dataclass(frozen=True)
class Bounds:
    """The answers a question takes: from `least` to `most`, with up to `decimals` decimals."""

    least: Decimal
    most: Decimal
    decimals: int

    def __post_init__(self) -> None:
        if self.decimals < 0 or self.least > self.most or self.least < 0:
            raise ValueError(f"bounds {self.least}..{self.most} ({self.decimals} decimals)")

    @property
    def whole_digits(self) -> int:
        """Digits the keypad takes before the comma: the largest answer's, and one more."""
        return len(str(int(self.most))) + 1


# When the questionnaire gives none (FHIR minValue / maxValue): a count or a score, and a
# measure with one decimal.
DEFAULT_BOUNDS = {
    "integer": Bounds(Decimal(0), Decimal(999), 0),
    "decimal": Bounds(Decimal(0), Decimal("999.9"), 1),
}


@dataclass(frozen=True)
class NumberEntry:
    bounds: Bounds
    typed: str = ""  # digits, with at most one COMMA

    def press(self, key: str) -> NumberEntry:
        """The entry after a key; the same entry for a key that cannot make a valid answer."""
        if key == ERASE:
            return replace(self, typed=self.typed[:-1])
        if key == COMMA:
            return self._comma()
        if key in DIGITS:
            return self._digit(key)
        return self

    def _comma(self) -> NumberEntry:
        if self.bounds.decimals == 0 or COMMA in self.typed:
            return self
        return replace(self, typed=(self.typed or "0") + COMMA)

    def _digit(self, digit: str) -> NumberEntry:
        whole, comma, decimals = self.typed.partition(COMMA)
        if comma:
            if len(decimals) >= self.bounds.decimals:
                return self
            return replace(self, typed=self.typed + digit)
        if whole == "0":  # "07" is 7
            return replace(self, typed=digit)
        if len(whole) >= self.bounds.whole_digits:
            return self
        return replace(self, typed=whole + digit)

    @property
    def value(self) -> Decimal | None:
        """The number typed; None while nothing is (a lone comma reads as nothing)."""
        whole, _, decimals = self.typed.partition(COMMA)
        if not whole and not decimals:
            return None
        return Decimal(f"{whole or 0}.{decimals or 0}")

    @property
    def verdict(self) -> Verdict:
        """Whether OK may take it: "empty", "below" least, "above" most, or "ok"."""
        value = self.value
        if value is None:
            return "empty"
        if value < self.bounds.least:
            return "below"
        if value > self.bounds.most:
            return "above"
        return "ok"


def typed_again(bounds: Bounds, answer: float | None) -> NumberEntry:
    """The entry showing an answer given before (going back to a question), as typed."""
    if answer is None or not 0 <= answer <= bounds.most:
        return NumberEntry(bounds)
    text = f"{Decimal(str(answer)):.{bounds.decimals}f}".replace(".", COMMA)
    return NumberEntry(bounds, text)
