"""The nurse's words for the codes the centre keeps: reading kinds, value names, problem and
worklist reason codes, and values in the units a nurse reads (issue 13, the web).

One place for the worklist's rows, the patient page (readings, plan summary, trends), the GP
summary and the care-plan editor, so a reading never shows two numbers in two units on two
pages. Pure: no database, no request; only Django's translation and date formatting.

Nothing here raises for a code or value it does not know: an unknown code is shown readably
(its underscores as spaces), a value that is not a number is shown as sent, shortened.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING, Any

from django.utils.formats import date_format
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext

from centre.care_plan_form import EDITOR_UNITS
from hub.core.answers import KIND as ANSWERS
from hub.core.answers import RECEIPT_KIND as RECEIPT
from hub.core.call_request import KIND as CALL
from hub.core.plausibility import RANGES, standard_value
from hub.devices.ieee11073 import SpecialValue

if TYPE_CHECKING:
    from django_stubs_ext import StrOrPromise

KIND_LABELS: Mapping[str, StrOrPromise] = {
    "blood_pressure": _("Blood pressure"),
    "spo2": _("Oxygen saturation"),
    "weight": _("Weight"),
    "body_composition": _("Body composition"),
    "temperature": _("Temperature"),
    "glucose": _("Blood glucose"),
    "questionnaire": _("Questionnaire"),  # the schedule's and triage's name for it
    ANSWERS: _("Questionnaire"),
    RECEIPT: _("Message read"),
    CALL: _("Call request"),
}
# Lower case: they run inside a sentence ("systolic above the care plan's limit"); a label
# that heads a field takes capfirst of them.
VALUE_WORDS: Mapping[str, StrOrPromise] = {
    "systolic": _("systolic"),
    "diastolic": _("diastolic"),
    "mean_arterial_pressure": _("mean arterial pressure"),
    "pulse_rate": _("pulse"),
    "spo2": _("SpO2"),
    "weight": _("weight"),
    "height": _("height"),
    "bmi": _("BMI"),
    "body_fat_percentage": _("body fat"),
    "muscle_percentage": _("muscle"),
    "temperature": _("temperature"),
    "glucose_concentration": _("glucose"),
    "score": _("score"),  # a questionnaire's total
}
# The ranges' units as a nurse writes them (mol/L becomes mmol/L through EDITOR_UNITS first).
UNIT_LABELS: Mapping[str, StrOrPromise] = {"/min": _("/min"), "C": "°C"}
# Decimals shown per unit (the nurse's unit); those in TRIMMED lose a trailing ".0" (a cuff's
# 128 mmHg is whole, a kPa cuff's 17.1 kPa is 128.3 mmHg), the others keep it (37.0 °C).
DECIMALS: Mapping[str, int] = {
    "mmHg": 1,
    "/min": 0,
    "%": 1,
    "kg": 1,
    "m": 2,
    "kg/m2": 1,
    "C": 1,
    "mmol/L": 1,
}
TRIMMED = frozenset({"mmHg", "%"})
HUGE = 1e9  # beyond this a number is shown in four significant digits, not hundreds of them
MAX_SHOWN = 200  # characters shown of a value that is not a number
MAX_CODE = 120  # characters shown of a code nobody has words for

WHOLE_PROBLEMS: Mapping[str, StrOrPromise] = {
    "hub_could_not_assess": _("the hub could not assess it"),
    "device_clock_not_set": _("the device's clock was not set"),
    "body_movement_detected": _("body movement"),
    "cuff_too_loose": _("cuff too loose"),
    "irregular_pulse_detected": _("irregular pulse"),
    "improper_measurement_position": _("improper measurement position"),
    # The hub's outbox alarms (hub status; triage's outbox_filling item).
    "near_full": _("the hub's outbox is nearly full"),
    "over_budget": _("the hub's outbox is over its budget"),
}
_SPECIAL = _("%(value)s: the device sent no number")
# Problem codes "<value>_<what>" (hub/core/outcome.py, plausibility.py, care_plan.py).
PROBLEM_ENDINGS: Sequence[tuple[str, StrOrPromise]] = (
    ("_above_care_plan", _("%(value)s above the care plan's limit")),
    ("_below_care_plan", _("%(value)s below the care plan's limit")),
    ("_out_of_range", _("%(value)s impossible for a patient (a device fault)")),
    ("_not_a_number", _("%(value)s is not a number")),
    ("_missing", _("%(value)s missing")),
    ("_unknown", _("%(value)s: unknown unit")),
    *((f"_{special.value}", _SPECIAL) for special in SpecialValue),
)
# Triage's reasons (centre/triage.py): a reading far from its times, a missed time, a score.
_MINUTES_OFF = re.compile(r"([0-9]{1,9})_minutes_from_schedule", re.ASCII)
_EXPECTED = re.compile(r"expected_([0-9]{4}-[0-9]{2}-[0-9]{2})_([01][0-9]|2[0-3]):([0-5][0-9])")
_SCORE = re.compile(r"score_([^_]{1,40})_above_([^_]{1,40})")
HOURS_FROM = 120  # from this many minutes off, hours say it better


def readable(code: object) -> str:
    """A code nobody has words for, as text: underscores as spaces, shortened."""
    text = str(code).replace("_", " ").strip()
    return text if len(text) <= MAX_CODE else text[: MAX_CODE - 1] + "…"


def kind_words(kind: str | None) -> str:
    if kind is None:
        return ""
    return str(KIND_LABELS.get(kind, readable(kind)))


def value_words(name: str) -> str:
    return str(VALUE_WORDS.get(name, readable(name)))


def unit_words(unit: str) -> str:
    return str(UNIT_LABELS.get(unit, unit))


def nurse_unit(kind: str, name: str) -> tuple[str, float]:
    """The unit a nurse reads a value in, and its factor from the hub's standard value (the
    care-plan editor's units: glucose in mmol/L, kept in mol/L); ("", 1) for a value the hub
    has no range for."""
    found = RANGES.get(kind, {}).get(name)
    if found is None:
        return "", 1.0
    if found.unit in EDITOR_UNITS:
        unit, power = EDITOR_UNITS[found.unit]
        return unit, 10.0**power
    return found.unit, 1.0


def _number(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None


def _minutes_off(minutes: int) -> str:
    if minutes >= HOURS_FROM:
        return str(_("%(hours)s h from the planned time") % {"hours": round(minutes / 60)})
    return str(_("%(minutes)s min from the planned time") % {"minutes": minutes})


def _expected(day: str, hour: str, minute: str) -> str | None:
    try:
        when = date.fromisoformat(day)
    except ValueError:
        return None
    shown = date_format(when, pgettext("a day and month, in Django's date format", "j M"))
    return str(_("expected at %(time)s on %(date)s") % {"time": f"{hour}:{minute}", "date": shown})


def _score(score: str, limit: str) -> str | None:
    got, red_above = _number(score), _number(limit)
    if got is None or red_above is None or not math.isfinite(got + red_above):
        return None
    return str(
        _("questionnaire score %(score)s, above %(limit)s")
        % {"score": f"{got:g}", "limit": f"{red_above:g}"}
    )


def _reason(code: str) -> str | None:
    if match := _MINUTES_OFF.fullmatch(code):
        return _minutes_off(int(match[1]))
    if match := _EXPECTED.fullmatch(code):
        return _expected(match[1], match[2], match[3])
    if match := _SCORE.fullmatch(code):
        return _score(match[1], match[2])
    return None


def problem_words(code: object) -> str:
    """A problem code (of a reading) or a reason code (of a worklist item) as a nurse reads
    it; an unknown one readably."""
    if not isinstance(code, str):
        return readable(code)
    if code in WHOLE_PROBLEMS:
        return str(WHOLE_PROBLEMS[code])
    for ending, words in PROBLEM_ENDINGS:
        if code.endswith(ending) and len(code) > len(ending):
            return str(words) % {"value": value_words(code[: -len(ending)])}
    return _reason(code) or readable(code)


def reasons_words(codes: Sequence[object]) -> tuple[str, ...]:
    """Codes in words, each wording once (357 and 358 minutes off are both "6 h")."""
    return tuple(dict.fromkeys(problem_words(code) for code in codes))


# --- values ----------------------------------------------------------------------------------


def shown_value(value: Any) -> str:
    """A value as sent, as text (not in the nurse's units: for what is not a measurement)."""
    if isinstance(value, bool) or value is None:
        return str(value)
    if isinstance(value, float):
        return f"{value:.3f}".rstrip("0").rstrip(".") if math.isfinite(value) else str(value)
    if isinstance(value, list):
        return ", ".join(shown_value(v).replace("_", " ") for v in value[:20])
    return str(value)[:MAX_SHOWN]


def values_text(values: Any) -> list[tuple[str, str]]:
    """A reading's values as sent, as (name, value) pairs with the names in words."""
    if not isinstance(values, dict):
        return []
    return [
        (value_words(str(name)), shown_value(value))
        for name, value in list(values.items())[:30]
        if value not in ([], None, "")
    ]


def number_text(value: float, unit: str) -> str:
    """A number in the nurse's unit, with the decimals that unit is read with."""
    if not math.isfinite(value):
        return str(value)
    if abs(value) >= HUGE:
        return f"{value:.4g}"
    text = f"{value:.{DECIMALS.get(unit, 2)}f}"
    if unit in TRIMMED and "." in text:
        text = text.rstrip("0").rstrip(".")
    return text.lstrip("-") if float(text) == 0 else text  # not "-0.0"


@dataclass(frozen=True)
class Measured:
    name: str  # in words
    value: str  # in the nurse's unit, or as sent if it is no number
    unit: str  # in words; "" if the value is not a number in a known unit


@dataclass(frozen=True)
class ReadingValues:
    measured: tuple[Measured, ...]  # what the patient's body gave
    details: tuple[tuple[str, str], ...]  # the rest as sent: units, flags, ids, device times

    def pairs(self) -> list[tuple[str, str]]:
        """The measured values as (name, "value unit")."""
        return [(m.name, f"{m.value} {m.unit}".strip()) for m in self.measured]


def _measured(kind: str, name: str, values: dict[str, Any]) -> Measured:
    standard = standard_value(kind, name, values)
    if standard is None:  # a special value, not a number, or a unit the hub cannot convert
        return Measured(value_words(name), shown_value(values[name]), "")
    unit, scale = nurse_unit(kind, name)
    return Measured(value_words(name), number_text(standard * scale, unit), unit_words(unit))


def reading_values(kind: str, values: Any) -> ReadingValues:
    """A reading's measured values (those the hub has ranges for, for its kind) in the nurse's
    units, the same numbers as the plots; the device's other fields as details. A kind the hub
    has no ranges for shows every field as sent."""
    if not isinstance(values, dict):
        return ReadingValues((), ())
    ranges = RANGES.get(kind)
    if not ranges:
        shown = values_text(values)
        return ReadingValues(tuple(Measured(n, v, "") for n, v in shown), ())
    measured = tuple(
        _measured(kind, name, values)
        for name in ranges
        if name in values and values[name] not in ([], None, "")
    )
    rest = {name: value for name, value in values.items() if name not in ranges}
    return ReadingValues(measured, tuple(values_text(rest)))
