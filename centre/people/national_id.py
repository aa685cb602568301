"""The Norwegian national identity number (fødselsnummer, and the D-number given to people
without one): 11 digits, a date of birth, an individual number and two check digits (modulus 11,
Skatteetaten's rules). Pure; a nurse who types one wrong is told at once, before a patient is
mixed up with another."""

from __future__ import annotations

from datetime import date

from centre.errors import CentreError

_FIRST = (3, 7, 6, 1, 8, 9, 4, 5, 2)
_SECOND = (5, 4, 3, 2, 7, 6, 5, 4, 3, 2)


class NationalIdError(CentreError, ValueError):
    """A number that is not a valid Norwegian national identity number, and why."""


def _check_digit(digits: str, weights: tuple[int, ...]) -> int | None:
    """The check digit for `digits`; None when modulus 11 gives 10 (no such number exists)."""
    rest = 11 - sum(int(d) * w for d, w in zip(digits, weights, strict=True)) % 11
    if rest == 11:
        return 0
    return None if rest == 10 else rest


def birth_date(number: str) -> date:
    """The date of birth in a national identity number (a D-number adds 4 to the first digit);
    the century comes from the individual number, as Skatteetaten assigns them."""
    day, month, year = int(number[0:2]), int(number[2:4]), int(number[4:6])
    if day > 40:
        day -= 40  # D-number
    individual = int(number[6:9])
    if individual < 500:
        century = 1900
    elif individual < 750 and year >= 54:
        century = 1800
    elif year < 40:
        century = 2000
    elif individual >= 900:
        century = 1900
    else:
        raise NationalIdError(f"{number[:6]}… has no century for individual number {individual}")
    try:
        return date(century + year, month, day)
    except ValueError:
        raise NationalIdError(f"{number[:6]}… does not start with a date of birth") from None


def check_national_id(text: str) -> str:
    """The number, checked: 11 digits, a real date of birth, both check digits right. Spaces
    are allowed where people type them; NationalIdError says what is wrong."""
    number = text.replace(" ", "")
    if len(number) != 11 or not number.isascii() or not number.isdigit():
        raise NationalIdError("a national identity number is 11 digits")
    birth_date(number)
    first = _check_digit(number[:9], _FIRST)
    second = None if first is None else _check_digit(number[:9] + str(first), _SECOND)
    if first is None or second is None or number[9:] != f"{first}{second}":
        raise NationalIdError("the check digits do not match: a digit is wrong or swapped")
    return number
