"""The care plan a nurse sets for a patient: what to measure when, and the limits outside which a
reading needs a nurse now. Pure models and rules; the wire format that carries them is
hub/wire/documents.py.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from hub.core.plausibility import standard_value
from hub.core.printable import check_printable


class _Frozen(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Limit(_Frozen):
    """A value outside [min, max] makes the reading urgent: it goes to the centre at once."""

    min: float | None = None
    max: float | None = None


class ScheduledMeasurement(_Frozen):
    kind: str
    times: tuple[str, ...] = Field(default=(), description="local times, HH:MM")


class CarePlan(_Frozen):
    schedule: tuple[ScheduledMeasurement, ...] = ()
    # kind -> value name -> limits, e.g. {"blood_pressure": {"systolic": {"max": 180}}}
    thresholds: dict[str, dict[str, Limit]] = {}
    questionnaire: dict[str, Any] | None = None  # a FHIR Questionnaire (issue 5)
    centre_phone: str | None = None


class PatientMessage(_Frozen):
    text: str = Field(min_length=1, max_length=2000)

    @field_validator("text")
    @classmethod
    def _printable(cls, text: str) -> str:
        # Shown on her terminal: an ESC in it would be a command to it (hub/core/printable.py).
        return check_printable(text, "the message to the patient")


def outside_limits(kind: str, values: dict[str, Any], plan: CarePlan | None) -> tuple[str, ...]:
    """Which of a reading's values the care plan says need a nurse now, as problem codes."""
    if plan is None:
        return ()
    problems = []
    for name, limit in plan.thresholds.get(kind, {}).items():
        # Limits are in mmHg, kg, C (docs/devices.md, "Plausibility"): a kPa cuff's 17.1 is
        # 128 mmHg, not below a minimum of 90.
        value = standard_value(kind, name, values)
        if value is None:
            continue  # absent, or a special value (already a failed reading)
        if limit.min is not None and value < limit.min:
            problems.append(f"{name}_below_care_plan")
        if limit.max is not None and value > limit.max:
            problems.append(f"{name}_above_care_plan")
    return tuple(problems)
