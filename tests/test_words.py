"""The nurse's words for the centre's codes and values (centre/web/words.py): every reason shape
triage emits, the problem codes a reading carries, values in the nurse's units (glucose the same
number as the plot), and hostile input that must come back as text, never as a crash."""

from __future__ import annotations

import math
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from django.utils import translation

from centre import triage
from centre.web.views.patient import series_of
from centre.web.words import (
    KIND_LABELS,
    VALUE_WORDS,
    Measured,
    ReadingValues,
    kind_words,
    number_text,
    nurse_unit,
    problem_words,
    reading_values,
    reasons_words,
    value_words,
)
from hub.core.care_plan import CarePlan, Limit, ScheduledMeasurement
from hub.core.outcome import Outcome
from hub.core.plausibility import RANGES


@pytest.fixture(autouse=True)
def english() -> Iterator[None]:
    with translation.override("en"):
        yield


@pytest.mark.parametrize(
    ("code", "words"),
    [
        # triage: a reading far from its scheduled times (hours from 120 minutes)
        ("357_minutes_from_schedule", "6 h from the planned time"),
        ("181_minutes_from_schedule", "3 h from the planned time"),
        ("120_minutes_from_schedule", "2 h from the planned time"),
        ("119_minutes_from_schedule", "119 min from the planned time"),
        ("0_minutes_from_schedule", "0 min from the planned time"),
        ("999999999_minutes_from_schedule", "16666667 h from the planned time"),
        # triage: a missed scheduled time (local date and time)
        ("expected_2026-12-02_08:00", "expected at 08:00 on 2 Dec"),
        ("expected_2027-01-31_23:59", "expected at 23:59 on 31 Jan"),
        # triage: a questionnaire score over its threshold
        ("score_12_above_10", "questionnaire score 12, above 10"),
        ("score_7.5_above_7", "questionnaire score 7.5, above 7"),
        ("score_1e+06_above_-1", "questionnaire score 1e+06, above -1"),
        # triage: the hub's outbox alarms
        ("near_full", "the hub's outbox is nearly full"),
        ("over_budget", "the hub's outbox is over its budget"),
        # care plan limits (hub/core/care_plan.py outside_limits)
        ("systolic_above_care_plan", "systolic above the care plan's limit"),
        ("spo2_below_care_plan", "SpO2 below the care plan's limit"),
        ("glucose_concentration_above_care_plan", "glucose above the care plan's limit"),
        # the hub's outcome and plausibility problems
        ("diastolic_out_of_range", "diastolic impossible for a patient (a device fault)"),
        ("weight_not_a_number", "weight is not a number"),
        ("systolic_missing", "systolic missing"),
        ("unit_unknown", "unit: unknown unit"),
        ("pulse_rate_NaN", "pulse: the device sent no number"),
        ("temperature_+INF", "temperature: the device sent no number"),
        ("body_movement_detected", "body movement"),
        ("hub_could_not_assess", "the hub could not assess it"),
        # unknown or malformed: readable, never a crash
        ("sensor_displaced", "sensor displaced"),
        ("expected_2026-13-45_08:00", "expected 2026-13-45 08:00"),
        ("expected_2026-12-02_25:00", "expected 2026-12-02 25:00"),
        ("1234567890_minutes_from_schedule", "1234567890 minutes from schedule"),
        ("-5_minutes_from_schedule", "-5 minutes from schedule"),
        ("score_nan_above_10", "score nan above 10"),
        ("score_x_above_10", "score x above 10"),
        ("_above_care_plan", "above care plan"),
        ("", ""),
        ("<script>alert(1)</script>", "<script>alert(1)</script>"),
    ],
)
def test_codes_in_words(code: str, words: str) -> None:
    assert problem_words(code) == words


@pytest.mark.parametrize(
    "code", [None, 5, 1e308, math.nan, b"near_full", ["x"], "x" * 100_000, "_" * 1000]
)
def test_hostile_codes_come_back_as_short_text(code: object) -> None:
    words = problem_words(code)
    assert isinstance(words, str) and len(words) <= 120


def every_reason_triage_emits() -> list[str]:
    """Run triage on a patient who has each kind of finding, and collect its reasons."""
    now = datetime(2026, 12, 2, 13, 0, tzinfo=UTC)
    plan = CarePlan(
        schedule=(ScheduledMeasurement(kind="blood_pressure", times=("08:00",)),),
        thresholds={"blood_pressure": {"systolic": Limit(max=180)}},
    )

    def reading(seq: int, ago: timedelta, values: dict[str, Any], outcome: Outcome) -> Any:
        at = now - ago
        problems = ("irregular_pulse_detected",) if outcome == "flagged" else ()
        return triage.Reading("blood_pressure", seq, values, outcome, at, at, problems)

    patient = triage.PatientData(
        readings=(
            reading(1, timedelta(days=3, hours=-9), {"systolic": 190.0}, "ok"),  # 20:00, red
            reading(2, timedelta(days=4, hours=-9), {"systolic": 120.0}, "flagged"),
        ),
        plan=plan,
        plan_since=now - timedelta(days=5),
        questionnaires=(triage.QuestionnaireResult("q1", 12, 10, now - timedelta(hours=1)),),
        hub=triage.HubState(now - timedelta(days=2), "near_full"),
    )
    items = triage.triage(patient, now)
    return [reason for item in items for reason in item.reasons]


def test_every_reason_triage_emits_has_words_without_underscores() -> None:
    reasons = every_reason_triage_emits()
    shapes = {"minutes_from_schedule", "expected_", "score_", "above_care_plan", "near_full"}
    assert {s for s in shapes if any(s in r for r in reasons)} == shapes, reasons
    for reason in reasons:
        assert "_" not in problem_words(reason), reason


def test_reasons_are_worded_once() -> None:
    codes = ["357_minutes_from_schedule", "358_minutes_from_schedule", "near_full"]
    assert reasons_words(codes) == ("6 h from the planned time", "the hub's outbox is nearly full")
    assert reasons_words([]) == ()


@pytest.mark.parametrize(
    ("kind", "words"),
    [
        ("spo2", "Oxygen saturation"),
        ("blood_pressure", "Blood pressure"),
        ("questionnaire", "Questionnaire"),
        ("questionnaire_response", "Questionnaire"),
        ("ecg_strip", "ecg strip"),
        (None, ""),
        ("<b>" * 100, ("<b>" * 100)[:119] + "…"),
    ],
)
def test_kinds_in_words(kind: str | None, words: str) -> None:
    assert kind_words(kind) == words


def test_every_measured_kind_and_value_has_words() -> None:
    for kind, ranges in RANGES.items():
        assert kind in KIND_LABELS, kind
        assert set(ranges) <= set(VALUE_WORDS), kind
    assert value_words("pulse_rate") == "pulse" and value_words("user_id") == "user id"


def test_the_words_follow_the_language() -> None:
    with translation.override("nb"):
        assert kind_words("spo2") == "Oksygenmetning"
        assert problem_words("357_minutes_from_schedule") == "6 t fra planlagt tid"
        assert problem_words("expected_2026-12-02_08:00") == "ventet kl. 08:00 den 2. des"
    with translation.override("nn"):
        assert problem_words("expected_2026-12-02_08:00") == "venta kl. 08:00 den 2. des"


def measured(name: str, value: str, unit: str) -> Measured:
    return Measured(name, value, unit)


@pytest.mark.parametrize(
    ("kind", "values", "shown"),
    [
        (
            "weight",
            {
                "weight": 81.54,
                "unit": "kg",
                "height": 1.8,
                "height_unit": "m",
                "measurement_unsuccessful": False,
                "timestamp": "2026-12-02T08:00:00",
                "type": "weight_measurement",
                "user_id": 1,
            },
            ReadingValues(
                (measured("weight", "81.5", "kg"), measured("height", "1.80", "m")),
                (
                    ("unit", "kg"),
                    ("height unit", "m"),
                    ("measurement unsuccessful", "False"),
                    ("timestamp", "2026-12-02T08:00:00"),
                    ("type", "weight_measurement"),
                    ("user id", "1"),
                ),
            ),
        ),
        (  # the meter's kg/L, as the plot shows it: mmol/L
            "glucose",
            {"glucose_concentration": 0.00088, "unit": "kg/L", "context": "before_meal"},
            ReadingValues(
                (measured("glucose", "4.9", "mmol/L"),),
                (("unit", "kg/L"), ("context", "before_meal")),
            ),
        ),
        (  # a kPa cuff in mmHg, as the limits are
            "blood_pressure",
            {"systolic": 17.1, "diastolic": 10.6, "pulse_rate": 72.0, "unit": "kPa"},
            ReadingValues(
                (
                    measured("systolic", "128.3", "mmHg"),
                    measured("diastolic", "79.5", "mmHg"),
                    measured("pulse", "72", "/min"),
                ),
                (("unit", "kPa"),),
            ),
        ),
        (
            "blood_pressure",
            {"systolic": 128.0, "diastolic": 80.0},
            ReadingValues(
                (measured("systolic", "128", "mmHg"), measured("diastolic", "80", "mmHg")), ()
            ),
        ),
        (
            "spo2",
            {"spo2": 97.0, "pulse_rate": 61.4},
            ReadingValues((measured("SpO2", "97", "%"), measured("pulse", "61", "/min")), ()),
        ),
        (
            "temperature",
            {"temperature": 37.0, "unit": "C"},
            ReadingValues((measured("temperature", "37.0", "°C"),), (("unit", "C"),)),
        ),
        (  # special values and wrong types: as sent, with no unit
            "spo2",
            {"spo2": "NaN", "pulse_rate": True, "status": []},
            ReadingValues((measured("SpO2", "NaN", ""), measured("pulse", "True", "")), ()),
        ),
        (
            "temperature",
            {"temperature": math.nan},
            ReadingValues((measured("temperature", "nan", ""),), ()),
        ),
        (
            "weight",
            {"weight": 1e300, "unit": "kg"},
            ReadingValues((measured("weight", "1e+300", "kg"),), (("unit", "kg"),)),
        ),
        (  # a unit the hub cannot convert: the number as sent, its unit in the details
            "weight",
            {"weight": 80.0, "unit": "stone"},
            ReadingValues((measured("weight", "80", ""),), (("unit", "stone"),)),
        ),
        (
            "weight",
            {"weight": "<script>" * 100, "unit": None},
            ReadingValues((measured("weight", ("<script>" * 100)[:200], ""),), ()),
        ),
        (  # a kind the hub has no ranges for: every field as sent
            "ecg",
            {"lead": "II", "rate": 60.0},
            ReadingValues((measured("lead", "II", ""), measured("rate", "60", "")), ()),
        ),
        ("weight", None, ReadingValues((), ())),
        ("weight", ["weight", 80], ReadingValues((), ())),
        ("weight", {}, ReadingValues((), ())),
    ],
)
def test_reading_values_in_the_nurses_units(kind: str, values: Any, shown: ReadingValues) -> None:
    assert reading_values(kind, values) == shown


def test_glucose_is_the_same_number_in_the_table_as_in_the_plot() -> None:
    values = {"glucose_concentration": 0.00088, "unit": "kg/L"}
    at = datetime(2026, 12, 2, 8, tzinfo=UTC)
    (series,) = series_of([("glucose", values, at, "ok", False)], None)
    (point,) = series.points
    (shown,) = reading_values("glucose", values).measured
    assert series.unit == "mmol/L" == shown.unit
    assert shown.value == f"{point.value:.1f}" == "4.9"


def test_pairs_join_value_and_unit() -> None:
    shown = reading_values("spo2", {"spo2": 97.0, "pulse_rate": "NRes"})
    assert shown.pairs() == [("SpO2", "97 %"), ("pulse", "NRes")]


@pytest.mark.parametrize(
    ("value", "unit", "text"),
    [
        (128.0, "mmHg", "128"),
        (128.26, "mmHg", "128.3"),
        (4.885, "mmol/L", "4.9"),
        (5.0, "mmol/L", "5.0"),
        (-0.01, "C", "0.0"),
        (72.6, "/min", "73"),
        (1.804, "m", "1.80"),
        (3.14159, "furlong", "3.14"),
        (math.inf, "kg", "inf"),
        (-1e12, "kg", "-1e+12"),
    ],
)
def test_number_text(value: float, unit: str, text: str) -> None:
    assert number_text(value, unit) == text


def test_nurse_units() -> None:
    assert nurse_unit("glucose", "glucose_concentration") == ("mmol/L", 1000.0)
    assert nurse_unit("blood_pressure", "systolic") == ("mmHg", 1.0)
    assert nurse_unit("blood_pressure", "user_id") == ("", 1.0)
    assert nurse_unit("nothing", "x") == ("", 1.0)
