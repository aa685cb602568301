"""Values no patient can have: physiological ranges as data, per reading kind, with their source.

A value outside its range is not an abnormal measurement (a systolic 250 or an SpO2 70 % is a
number, and the care plan's limits flag it for a nurse) but a device fault or corrupted data:
such a reading is ``failed``, with a problem that names the range (``systolic_out_of_range``,
``systolic_below_diastolic``), and the patient is asked to measure again. The ranges are wide on
purpose: wider than any device can measure and than any survived value we know of.

Each value is checked in its own unit: a kPa, lb, inch, degF or kg/L value is converted to the
range's unit first, so a valid reading in any unit the GSS allows passes. A reading without its
unit field is in the GSS default (the unit flag clear): mmHg, kg and m, degC, kg/L.

Height and BMI on a scale come from the profile typed into the scale or its app, not from the
measurement; an impossible one says the profile is wrong, not the weight, so it flags the
reading (the nurse sees it) and the weight stays a number.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, NamedTuple

from hub.devices.ieee11073 import SpecialValue


@dataclass(frozen=True)
class Range:
    low: float  # inclusive
    high: float  # inclusive
    unit: str  # the unit of low and high
    source: str  # why these limits: a device standard, a device's specification, a record
    unit_field: str | None = None  # the values field that says the value's unit, if it varies
    default_unit: str | None = None  # the unit when that field is absent (GSS flag clear)
    fails: bool = True  # False: a profile setting, not a measurement; it flags instead


@dataclass(frozen=True)
class Order:
    """``lower`` must be below ``higher`` (or equal, unless ``strict``), both in one unit."""

    lower: str
    higher: str
    strict: bool
    problem: str
    source: str


# To the range's unit, keyed (from, to). Exact definitions: 1 mmHg = 101.325/760 kPa,
# 1 lb = 0.45359237 kg, 1 in = 0.0254 m; glucose C6H12O6 is 180.156 g/mol.
CONVERSIONS: dict[tuple[str, str], Callable[[float], float]] = {
    ("kPa", "mmHg"): lambda v: v * 760 / 101.325,
    ("lb", "kg"): lambda v: v * 0.45359237,
    ("in", "m"): lambda v: v * 0.0254,
    ("F", "C"): lambda v: (v - 32) * 5 / 9,
    ("kg/L", "mol/L"): lambda v: v / 0.180156,
}

_CUFF = (
    "IEC 80601-2-30 caps an adult cuff at 300 mmHg and home cuffs measure 0-299 mmHg "
    "(Omron, A&D UA-651BLE specifications)"
)
_PULSE = Range(
    15,
    350,
    "/min",
    "wider than any registered device measures (Nonin 3230 18-321/min, cuffs "
    "40-180/min); 0 or a negative rate is no pulse, above 350 no heart beats",
)
_WEIGHT = Range(
    0.5,
    650,
    "kg",
    "a premature newborn at home weighs more than 0.5 kg; the heaviest person on "
    "record about 635 kg (the GSS cannot send more than 327.675 kg anyway)",
    unit_field="unit",
    default_unit="kg",
)
_PROFILE_HEIGHT = Range(
    0.2,
    2.8,
    "m",
    "a newborn is over 0.2 m, the tallest person on record 2.72 m; typed "
    "into the scale, so a wrong one flags",
    unit_field="height_unit",
    default_unit="m",
    fails=False,
)

RANGES: dict[str, dict[str, Range]] = {
    "blood_pressure": {
        "systolic": Range(
            30,
            300,
            "mmHg",
            f"{_CUFF}; below 30 mmHg an oscillometric cuff finds no pulse",
            unit_field="unit",
            default_unit="mmHg",
        ),
        "diastolic": Range(
            10,
            300,
            "mmHg",
            f"{_CUFF}; a diastolic below 10 mmHg is no pulse",
            unit_field="unit",
            default_unit="mmHg",
        ),
        "mean_arterial_pressure": Range(
            10,
            300,
            "mmHg",
            f"{_CUFF}; the mean lies between the other two",
            unit_field="unit",
            default_unit="mmHg",
        ),
        "pulse_rate": _PULSE,
    },
    "spo2": {
        "spo2": Range(
            10,
            100,
            "%",
            "a saturation is at most 100 % (ISO 80601-2-61); below 10 % arterial "
            "blood would carry less oxygen than venous blood in shock",
        ),
        "pulse_rate": _PULSE,
    },
    "weight": {
        "weight": _WEIGHT,
        "height": _PROFILE_HEIGHT,
        "bmi": Range(
            5,
            250,
            "kg/m2",
            "the thinnest survivors on record are near BMI 7, the heaviest near 190; "
            "computed from the typed height, so a wrong one flags",
            fails=False,
        ),
    },
    "body_composition": {
        "body_fat_percentage": Range(
            1,
            90,
            "%",
            "essential fat alone is 2-3 % of body mass; nobody on record has reached 90 %",
        ),
        "muscle_percentage": Range(1, 100, "%", "a share of body mass: above 0 and at most 100 %"),
        "weight": _WEIGHT,
        "height": _PROFILE_HEIGHT,
    },
    "temperature": {
        "temperature": Range(
            10,
            47,
            "C",
            "clinical thermometers (ISO 80601-2-56) read about 32-43 degC; the "
            "coldest and hottest people known to survive were near 12-14 and "
            "46.5 degC; 10-47 also covers skin on a finger or toe",
            unit_field="unit",
            default_unit="C",
        ),
    },
    "glucose": {
        "glucose_concentration": Range(
            0.0001,
            0.2,
            "mol/L",
            "meters (ISO 15197) read about 0.6-33.3 mmol/L and "
            "flag beyond; the highest survived value on record is "
            "about 148 mmol/L; 0.1-200 mmol/L",
            unit_field="unit",
            default_unit="kg/L",
        ),
    },
}

ORDERS: dict[str, tuple[Order, ...]] = {
    "blood_pressure": (
        Order(
            "diastolic",
            "systolic",
            True,
            "systolic_below_diastolic",
            "systolic is the peak pressure, diastolic the lowest of the same beat",
        ),
        Order(
            "diastolic",
            "mean_arterial_pressure",
            False,
            "mean_arterial_pressure_below_diastolic",
            "a mean lies between its extremes",
        ),
        Order(
            "mean_arterial_pressure",
            "systolic",
            False,
            "mean_arterial_pressure_above_systolic",
            "a mean lies between its extremes",
        ),
    ),
}

# A scale's BMI is weight / height^2: a BMI that is not says the profile or the scale is wrong.
# Tolerance: the GSS resolutions (BMI 0.1, height 0.001 m or 0.1 in) and scales that compute
# from an unrounded weight stay far inside 1 kg/m2 or 5 %.
BMI_TOLERANCE = (1.0, 0.05)


class Findings(NamedTuple):
    failed: tuple[str, ...]
    flagged: tuple[str, ...]


def _special(number: float) -> str:
    if math.isnan(number):
        return SpecialValue.NAN.value
    return (SpecialValue.POSITIVE_INFINITY if number > 0 else SpecialValue.NEGATIVE_INFINITY).value


def special_value(value: object) -> str | None:
    """The special value a field holds: the decoder's string, or a non-finite float's name."""
    if isinstance(value, str):
        return value
    if isinstance(value, float) and not math.isfinite(value):
        return _special(value)
    return None


def _number(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if math.isfinite(value) else None


def in_range_unit(r: Range, value: float, values: dict[str, Any]) -> float | None:
    """``value`` in the range's unit; None if the values name a unit the hub cannot convert."""
    unit = values.get(r.unit_field) if r.unit_field is not None else None
    unit = r.default_unit if unit is None else unit
    if r.unit_field is None or unit == r.unit:
        return value
    convert = CONVERSIONS.get((unit, r.unit)) if isinstance(unit, str) else None
    return None if convert is None else convert(value)


def standard_value(kind: str, name: str, values: dict[str, Any]) -> float | None:
    """A reading's value in the unit its range is written in (mmHg, kg, C, ...), as care plan
    limits are; None if it is absent, special, or in a unit the hub cannot convert."""
    raw = values.get(name)
    if raw is None or special_value(raw) is not None:
        return None
    number = _number(raw)
    r = RANGES.get(kind, {}).get(name)
    if number is None or r is None:
        return number
    return in_range_unit(r, number, values)


def _ranges(kind: str, values: dict[str, Any]) -> tuple[list[tuple[str, bool]], dict[str, float]]:
    problems: list[tuple[str, bool]] = []  # (problem, fails)
    good: dict[str, float] = {}  # name -> value in the range's unit, for the relational checks
    for name, r in RANGES.get(kind, {}).items():
        raw = values.get(name)
        if raw is None or special_value(raw) is not None:
            continue  # absent, or a special value (outcome.py's rules judge those)
        number = _number(raw)
        if number is None:
            problems.append((f"{name}_not_a_number", True))
            continue
        converted = in_range_unit(r, number, values)
        if converted is None:
            problems.append((f"{r.unit_field}_unknown", True))
        elif not r.low <= converted <= r.high:
            problems.append((f"{name}_out_of_range", r.fails))
        else:
            good[name] = converted
    return problems, good


def _orders(kind: str, good: dict[str, float]) -> list[tuple[str, bool]]:
    problems = []
    for order in ORDERS.get(kind, ()):
        if order.lower in good and order.higher in good:
            low, high = good[order.lower], good[order.higher]
            if low > high or (order.strict and low == high):
                problems.append((order.problem, True))
    return problems


def _bmi(good: dict[str, float]) -> list[tuple[str, bool]]:
    if not {"weight", "height", "bmi"} <= good.keys():
        return []
    expected = good["weight"] / good["height"] ** 2
    absolute, relative = BMI_TOLERANCE
    if abs(good["bmi"] - expected) > max(absolute, relative * expected):
        return [("bmi_inconsistent_with_weight_and_height", False)]
    return []


def implausible(kind: str, values: dict[str, Any]) -> Findings:
    """The impossible values of one decoded reading of ``kind``, each named once: those that
    fail it and those that only flag it (a scale's profile)."""
    problems, good = _ranges(kind, values)
    problems += _orders(kind, good) + _bmi(good)
    unique = list(dict.fromkeys(problems))
    return Findings(
        tuple(p for p, fails in unique if fails), tuple(p for p, fails in unique if not fails)
    )
