"""Impossible values are failed, never stored as `ok` (issue 11, finding 8): the ranges as data
(hub/core/plausibility.py), through `assess`, through `to_reading` with the parsers' own bytes,
on the patient's screen, and once end to end with the emulated cuff and the real daemon."""

from __future__ import annotations

import asyncio
import math
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from hub.core.outcome import RULES, assess
from hub.core.pipeline import to_reading
from hub.core.plausibility import CONVERSIONS, ORDERS, RANGES, implausible
from hub.core.timing import ClockCheck
from hub.devices.blood_pressure import Unit, build_blood_pressure_measurement
from hub.devices.body_composition import build_body_composition_measurement
from hub.devices.events import DeviceValue
from hub.devices.glucose import ConcentrationUnit, build_glucose_measurement
from hub.devices.ieee11073 import SpecialValue
from hub.devices.profiles import sig_uuid
from hub.devices.pulse_oximeter import build_plx_spot_check
from hub.devices.thermometer import build_temperature_measurement
from hub.devices.weight import build_weight_measurement
from hub.local_protocol import LiveSession, StatusReading
from hub.ui.i18n import LANGUAGES, Catalogue
from hub.ui.measuring import measuring_view
from hub.ui.present import present_reading
from testbed.home import SimulatedHome
from testbed.peripherals.cuff import EmulatedCuff
from tests.conftest import pair, readings
from tests.ui_support import reading_of

OSLO = ZoneInfo("Europe/Oslo")
STAMP = datetime(2026, 11, 22, 11, 40, 0)
NOW = datetime(2026, 11, 22, 10, 41, tzinfo=UTC)
BPM, PLX, WEIGHT, BODY, TEMPERATURE, GLUCOSE = (
    sig_uuid(n) for n in (0x2A35, 0x2A5E, 0x2A9D, 0x2A9C, 0x2A1C, 0x2A18)
)


# --- the table itself ---------------------------------------------------------------------------


def test_every_range_is_a_range_in_a_known_unit_and_says_where_it_comes_from() -> None:
    for kind, ranges in RANGES.items():
        for name, r in ranges.items():
            assert r.low < r.high, (kind, name)
            assert len(r.source) > 20, f"{kind}.{name} needs its source"
            if r.unit_field is not None:
                assert r.default_unit == r.unit or (r.default_unit, r.unit) in CONVERSIONS
                assert any(to == r.unit for _, to in CONVERSIONS), (kind, name)


def test_every_number_that_makes_a_reading_has_a_range() -> None:
    for kind, rules in RULES.items():
        for name in (*rules.primary, *rules.secondary):
            if name != "pulse_amplitude_index":  # a signal strength, not a measurement
                assert name in RANGES[kind], f"{kind}.{name} has no plausible range"


def test_orders_compare_values_of_the_same_kind_and_unit() -> None:
    for kind, orders in ORDERS.items():
        for order in orders:
            lower, higher = RANGES[kind][order.lower], RANGES[kind][order.higher]
            assert (lower.unit, lower.unit_field) == (higher.unit, higher.unit_field)


def test_conversions_agree_with_the_units_people_know() -> None:
    assert CONVERSIONS[("kPa", "mmHg")](16.0) == pytest.approx(120.0, abs=0.01)
    assert CONVERSIONS[("lb", "kg")](220.462) == pytest.approx(100.0, abs=0.001)
    assert CONVERSIONS[("in", "m")](70.0) == pytest.approx(1.778)
    assert CONVERSIONS[("F", "C")](98.6) == pytest.approx(37.0)
    # 99 mg/dL is 5.5 mmol/L (glucose 180.16 g/mol).
    assert CONVERSIONS[("kg/L", "mol/L")](0.00099) == pytest.approx(0.0055, abs=1e-5)


# --- assess: every value of the finding, and its possible neighbours ------------------------------


def bp(
    systolic: Any, diastolic: Any, mean: Any = None, pulse: Any = None, unit: str = "mmHg"
) -> dict[str, Any]:
    return {
        "systolic": systolic,
        "diastolic": diastolic,
        "mean_arterial_pressure": mean,
        "unit": unit,
        "pulse_rate": pulse,
        "measurement_status": [],
    }


def spo2(value: Any, pulse: Any = 70.0) -> dict[str, Any]:
    return {
        "spo2": value,
        "pulse_rate": pulse,
        "measurement_status": None,
        "device_and_sensor_status": None,
        "pulse_amplitude_index": None,
    }


def weight(
    value: Any, unit: str = "kg", bmi: Any = None, height: Any = None, height_unit: str = "m"
) -> dict[str, Any]:
    return {
        "weight": value,
        "unit": unit,
        "bmi": bmi,
        "height": height,
        "height_unit": height_unit,
        "measurement_unsuccessful": False,
    }


def temperature(value: Any, unit: str = "C") -> dict[str, Any]:
    return {"temperature": value, "unit": unit, "temperature_type": None}


def glucose(value: Any, unit: str = "mol/L") -> dict[str, Any]:
    return {"glucose_concentration": value, "unit": unit, "sensor_status": []}


def body(fat: Any, **more: Any) -> dict[str, Any]:
    return {
        "body_fat_percentage": fat,
        "unit": "kg",
        "height_unit": "m",
        "muscle_percentage": None,
        "weight": None,
        "height": None,
        "measurement_unsuccessful": False,
        **more,
    }


IMPOSSIBLE = [
    # The finding's values, each with the problem that names its range.
    ("blood_pressure", bp(60.0, 120.0), "systolic_below_diastolic"),
    ("blood_pressure", bp(900.0, 80.0), "systolic_out_of_range"),
    ("blood_pressure", bp(128.0, 82.0, pulse=-40.0), "pulse_rate_out_of_range"),
    ("blood_pressure", bp(128.0, 82.0, pulse=900.0), "pulse_rate_out_of_range"),
    ("spo2", spo2(97.0, pulse=-40.0), "pulse_rate_out_of_range"),
    ("spo2", spo2(97.0, pulse=900.0), "pulse_rate_out_of_range"),
    ("spo2", spo2(150.0), "spo2_out_of_range"),
    ("spo2", spo2(-5.0), "spo2_out_of_range"),
    ("weight", weight(0.0), "weight_out_of_range"),
    ("temperature", temperature(-40.0), "temperature_out_of_range"),
    ("temperature", temperature(95.0), "temperature_out_of_range"),
    ("glucose", glucose(-0.001), "glucose_concentration_out_of_range"),
    ("glucose", glucose(-0.001, "kg/L"), "glucose_concentration_out_of_range"),
    # Just past the edges, in every unit a device may send.
    ("blood_pressure", bp(301.0, 80.0), "systolic_out_of_range"),
    ("blood_pressure", bp(29.0, 20.0), "systolic_out_of_range"),
    ("blood_pressure", bp(120.0, 9.0), "diastolic_out_of_range"),
    ("blood_pressure", bp(120.0, 120.0), "systolic_below_diastolic"),
    ("blood_pressure", bp(120.0, 80.0, 130.0), "mean_arterial_pressure_above_systolic"),
    ("blood_pressure", bp(120.0, 80.0, 70.0), "mean_arterial_pressure_below_diastolic"),
    ("blood_pressure", bp(40.5, 10.0, unit="kPa"), "systolic_out_of_range"),  # 304 mmHg
    ("blood_pressure", bp(10.9, 17.1, unit="kPa"), "systolic_below_diastolic"),
    ("blood_pressure", bp(128.0, 82.0, pulse=14.0), "pulse_rate_out_of_range"),
    ("blood_pressure", bp(128.0, 82.0, pulse=351.0), "pulse_rate_out_of_range"),
    ("spo2", spo2(100.5), "spo2_out_of_range"),
    ("spo2", spo2(9.0), "spo2_out_of_range"),
    ("spo2", spo2(0.0), "spo2_out_of_range"),
    ("weight", weight(0.45), "weight_out_of_range"),
    ("weight", weight(0.9, "lb"), "weight_out_of_range"),  # 0.41 kg
    ("weight", weight(651.0), "weight_out_of_range"),
    ("temperature", temperature(9.9), "temperature_out_of_range"),
    ("temperature", temperature(47.1), "temperature_out_of_range"),
    ("temperature", temperature(117.0, "F"), "temperature_out_of_range"),  # 47.2 degC
    ("temperature", temperature(49.9, "F"), "temperature_out_of_range"),  # 9.9 degC
    ("temperature", temperature(-40.0, "F"), "temperature_out_of_range"),
    ("glucose", glucose(0.0), "glucose_concentration_out_of_range"),
    ("glucose", glucose(0.00009), "glucose_concentration_out_of_range"),  # 0.09 mmol/L
    ("glucose", glucose(0.201), "glucose_concentration_out_of_range"),  # 201 mmol/L
    ("glucose", glucose(0.00001, "kg/L"), "glucose_concentration_out_of_range"),  # 1 mg/dL
    ("glucose", glucose(0.0361, "kg/L"), "glucose_concentration_out_of_range"),  # 3610 mg/dL
    ("body_composition", body(0.0), "body_fat_percentage_out_of_range"),
    ("body_composition", body(90.1), "body_fat_percentage_out_of_range"),
    ("body_composition", body(25.0, muscle_percentage=101.0), "muscle_percentage_out_of_range"),
    ("body_composition", body(25.0, weight=0.0), "weight_out_of_range"),
]

POSSIBLE = [
    # Abnormal, some alarming, but a number a patient can have: the care plan's limits judge
    # these, so they stay numbers.
    ("blood_pressure", bp(250.0, 120.0, 163.0, 40.0)),
    ("blood_pressure", bp(300.0, 250.0, 267.0, 350.0)),
    ("blood_pressure", bp(30.0, 10.0, 15.0, 15.0)),
    ("blood_pressure", bp(121.0, 120.0, 120.0)),  # systolic just above diastolic, MAP on an edge
    ("blood_pressure", bp(120.0, 80.0, 120.0)),
    ("blood_pressure", bp(17.1, 10.9, 13.0, 72.0, unit="kPa")),
    ("blood_pressure", bp(39.9, 33.3, unit="kPa")),  # 299/250 mmHg
    ("blood_pressure", bp(4.1, 1.4, unit="kPa")),  # 31/11 mmHg
    ("blood_pressure", bp(128.0, 82.0)),  # a cuff that sends no MAP and no pulse
    ("spo2", spo2(70.0, 180.0)),
    ("spo2", spo2(100.0, 15.0)),
    ("spo2", spo2(10.0, 350.0)),
    ("spo2", spo2(97.5)),
    ("weight", weight(0.5)),
    ("weight", weight(1.2, "lb")),  # 0.54 kg
    ("weight", weight(327.675)),  # the largest weight the GSS can send in kg
    ("weight", weight(655.34, "lb")),  # and in lb
    ("weight", weight(82.35, bmi=25.4, height=1.80)),
    ("weight", weight(181.6, "lb", bmi=26.8, height=69.3, height_unit="in")),
    ("weight", weight(3.1, bmi=12.9, height=0.49)),  # a newborn
    ("temperature", temperature(10.0)),
    ("temperature", temperature(47.0)),
    ("temperature", temperature(34.2)),
    ("temperature", temperature(42.5)),
    ("temperature", temperature(50.1, "F")),
    ("temperature", temperature(116.5, "F")),
    ("temperature", temperature(99.14, "F")),
    ("glucose", glucose(0.0001)),  # 0.1 mmol/L
    ("glucose", glucose(0.2)),  # 200 mmol/L
    ("glucose", glucose(0.0333)),  # 33.3 mmol/L: the top of a meter's range
    ("glucose", glucose(0.00002, "kg/L")),  # 2 mg/dL
    ("glucose", glucose(0.036, "kg/L")),  # 3600 mg/dL
    ("glucose", glucose(0.00099, "kg/L")),
    ("body_composition", body(1.0)),
    ("body_composition", body(90.0)),
    ("body_composition", body(25.0, muscle_percentage=100.0, weight=80.0, height=1.80)),
]


@pytest.mark.parametrize(("kind", "values", "problem"), IMPOSSIBLE)
def test_an_impossible_value_fails_the_reading_naming_its_range(
    kind: str, values: dict[str, Any], problem: str
) -> None:
    a = assess(kind, values)
    assert a.outcome == "failed"
    assert problem in a.problems


@pytest.mark.parametrize(("kind", "values"), POSSIBLE)
def test_a_possible_value_stays_a_number(kind: str, values: dict[str, Any]) -> None:
    a = assess(kind, values)
    assert (a.outcome, a.problems) == ("ok", ())


def test_each_impossible_value_is_named_once() -> None:
    a = assess("blood_pressure", bp(900.0, 80.0, 950.0, 900.0))
    assert a.problems == (
        "systolic_out_of_range",
        "mean_arterial_pressure_out_of_range",
        "pulse_rate_out_of_range",
    )


def test_a_reading_that_failed_already_keeps_its_own_problems_first() -> None:
    a = assess(
        "blood_pressure", {**bp("NaN", 80.0, pulse=900.0), "measurement_status": ["cuff_too_loose"]}
    )
    assert a.outcome == "failed"
    assert a.problems == ("systolic_NaN", "pulse_rate_out_of_range", "cuff_too_loose")


def test_a_scale_profile_that_cannot_be_right_flags_the_weight_but_keeps_it() -> None:
    # Height is what was typed into the scale (or its app) and BMI follows from it: a wrong
    # profile says nothing about the weight, which the nurse needs every day.
    a = assess("weight", weight(80.0, bmi=0.1, height=9.0))
    assert a.outcome == "flagged"
    assert a.problems == ("height_out_of_range", "bmi_out_of_range")
    assert assess("weight", weight(80.0, bmi=31.2, height=1.80)).problems == (
        "bmi_inconsistent_with_weight_and_height",
    )  # 80 / 1.8^2 is 24.7
    assert assess("body_composition", body(25.0, weight=80.0, height=0.1)).problems == (
        "height_out_of_range",
    )
    # With an impossible weight the reading fails, and says why.
    failed = assess("weight", weight(0.0, bmi=0.0, height=1.80))
    assert failed.outcome == "failed" and failed.problems[0] == "weight_out_of_range"


@pytest.mark.parametrize("special", [math.nan, math.inf, -math.inf])
def test_a_non_finite_number_is_failed_like_the_special_value_it_means(special: float) -> None:
    name = "NaN" if math.isnan(special) else ("+INF" if special > 0 else "-INF")
    for kind, values, field in [
        ("blood_pressure", bp(special, 80.0), "systolic"),
        ("spo2", spo2(special), "spo2"),
        ("weight", weight(special), "weight"),
        ("body_composition", body(special), "body_fat_percentage"),
        ("temperature", temperature(special), "temperature"),
        ("glucose", glucose(special), "glucose_concentration"),
    ]:
        a = assess(kind, values)
        assert (a.outcome, a.problems) == ("failed", (f"{field}_{name}",)), kind
    # A secondary value's special value flags, as the string form does.
    pulse = assess("blood_pressure", bp(128.0, 82.0, pulse=special))
    assert (pulse.outcome, pulse.problems) == ("flagged", (f"pulse_rate_{name}",))


@pytest.mark.parametrize("junk", [True, [120], {"v": 120}, b"120"])
def test_a_value_that_is_no_number_fails(junk: object) -> None:
    a = assess("blood_pressure", bp(junk, 80.0))
    assert (a.outcome, a.problems) == ("failed", ("systolic_not_a_number",))


def test_a_unit_the_hub_does_not_know_fails_rather_than_guess() -> None:
    a = assess("temperature", temperature(37.0, "K"))
    assert (a.outcome, a.problems) == ("failed", ("unit_unknown",))
    a = assess("blood_pressure", bp(128.0, 82.0, unit="cmH2O"))
    assert (a.outcome, a.problems) == ("failed", ("unit_unknown",))


def test_without_a_unit_the_profile_default_unit_applies() -> None:
    # The GSS default when the unit flag is clear: mmHg, kg and m, Celsius, kg/L.
    assert assess("blood_pressure", {"systolic": 128.0, "diastolic": 80.0}).outcome == "ok"
    assert assess("temperature", {"temperature": 98.6}).outcome == "failed"
    assert implausible("glucose", {"glucose_concentration": 0.006}) == ((), ())


# --- to_reading: the parsers' own bytes, as a device sends them ----------------------------------


def value(characteristic: str, data: bytes) -> DeviceValue:
    return DeviceValue(
        "00:BB:00:00:00:02",
        characteristic,
        data,
        "2026-11-22T10:40:30.000+00:00",
        ClockCheck(),
        True,
    )


def glucose_bytes(
    concentration: float | SpecialValue, unit: ConcentrationUnit = "mol/L", exponent: int = -5
) -> bytes:
    return build_glucose_measurement(
        1,
        STAMP,
        glucose_concentration=concentration,
        unit=unit,
        exponent=exponent,
        sample_type="capillary_whole_blood",
        sample_location="finger",
    )


def cuff(
    systolic: float | SpecialValue,
    diastolic: float | SpecialValue,
    pulse: float = 70,
    unit: Unit = "mmHg",
) -> bytes:
    exponent = -1 if unit == "kPa" else 0
    mean = (
        SpecialValue.NAN
        if isinstance(systolic, str) or isinstance(diastolic, str)
        else round(diastolic + (systolic - diastolic) / 3, -exponent)
    )
    return build_blood_pressure_measurement(
        systolic,
        diastolic,
        mean,
        unit=unit,
        exponent=exponent,
        timestamp=STAMP,
        pulse_rate=pulse,
    )


DEVICE_IMPOSSIBLE = [
    (BPM, cuff(60, 120), "systolic_below_diastolic"),
    (BPM, cuff(900, 80), "systolic_out_of_range"),
    (BPM, cuff(128, 82, pulse=-40), "pulse_rate_out_of_range"),
    (BPM, cuff(128, 82, pulse=900), "pulse_rate_out_of_range"),
    (BPM, cuff(40.5, 10.0, unit="kPa"), "systolic_out_of_range"),
    (BPM, cuff(10.9, 17.1, unit="kPa"), "systolic_below_diastolic"),
    (PLX, build_plx_spot_check(97, -40), "pulse_rate_out_of_range"),
    (PLX, build_plx_spot_check(97, 900), "pulse_rate_out_of_range"),
    (PLX, build_plx_spot_check(150, 70), "spo2_out_of_range"),
    (PLX, build_plx_spot_check(-5, 70), "spo2_out_of_range"),
    (WEIGHT, build_weight_measurement(0.0), "weight_out_of_range"),
    (WEIGHT, build_weight_measurement(0.9, unit="lb"), "weight_out_of_range"),
    (BODY, build_body_composition_measurement(0.0), "body_fat_percentage_out_of_range"),
    (BODY, build_body_composition_measurement(25.0, weight=0.0), "weight_out_of_range"),
    (TEMPERATURE, build_temperature_measurement(-40.0), "temperature_out_of_range"),
    (TEMPERATURE, build_temperature_measurement(95.0), "temperature_out_of_range"),
    (TEMPERATURE, build_temperature_measurement(203.0, "F"), "temperature_out_of_range"),
    (GLUCOSE, glucose_bytes(-0.001), "glucose_concentration_out_of_range"),
    (GLUCOSE, glucose_bytes(-0.001, "kg/L"), "glucose_concentration_out_of_range"),
    (GLUCOSE, glucose_bytes(0.0361, "kg/L", -4), "glucose_concentration_out_of_range"),
]

DEVICE_POSSIBLE = [
    (BPM, cuff(250, 120)),
    (BPM, cuff(300, 250, pulse=350)),
    (BPM, cuff(121, 120, pulse=15)),
    (BPM, cuff(17.1, 10.9, unit="kPa")),
    (BPM, cuff(39.9, 33.3, unit="kPa")),
    (PLX, build_plx_spot_check(70, 180)),
    (PLX, build_plx_spot_check(100, 40)),
    (PLX, build_plx_spot_check(97.5, 64, spo2_exponent=-1)),
    (WEIGHT, build_weight_measurement(0.5)),
    (WEIGHT, build_weight_measurement(1.2, unit="lb")),
    (WEIGHT, build_weight_measurement(82.35, bmi=25.4, height=1.80)),
    (WEIGHT, build_weight_measurement(181.6, unit="lb", bmi=26.8, height=69.3)),
    (
        BODY,
        build_body_composition_measurement(25.0, weight=80.0, height=1.80, muscle_percentage=40.0),
    ),
    (TEMPERATURE, build_temperature_measurement(34.2)),
    (TEMPERATURE, build_temperature_measurement(42.5)),
    (TEMPERATURE, build_temperature_measurement(99.14, "F")),
    (TEMPERATURE, build_temperature_measurement(116.5, "F")),
    (GLUCOSE, glucose_bytes(0.0001)),
    (GLUCOSE, glucose_bytes(0.0333, exponent=-4)),
    (GLUCOSE, glucose_bytes(0.00002, "kg/L")),
    (GLUCOSE, glucose_bytes(0.036, "kg/L", -4)),
]

DEVICE_SPECIAL = [
    (BPM, cuff(SpecialValue.NAN, 80), "systolic_NaN"),
    (BPM, cuff(128, SpecialValue.POSITIVE_INFINITY), "diastolic_+INF"),
    (BPM, cuff(SpecialValue.NEGATIVE_INFINITY, 80), "systolic_-INF"),
    (PLX, build_plx_spot_check(SpecialValue.POSITIVE_INFINITY, 70), "spo2_+INF"),
    (PLX, build_plx_spot_check(SpecialValue.NAN, 70), "spo2_NaN"),
    (
        WEIGHT,
        build_weight_measurement(None, timestamp=STAMP, user_id=1),
        "measurement_unsuccessful",
    ),
    (
        TEMPERATURE,
        build_temperature_measurement(SpecialValue.NEGATIVE_INFINITY),
        "temperature_-INF",
    ),
    (TEMPERATURE, build_temperature_measurement(SpecialValue.NRES), "temperature_NRes"),
    (GLUCOSE, glucose_bytes(SpecialValue.POSITIVE_INFINITY), "glucose_concentration_+INF"),
]


@pytest.mark.parametrize(("characteristic", "data", "problem"), DEVICE_IMPOSSIBLE + DEVICE_SPECIAL)
def test_a_device_sending_an_impossible_value_gets_a_failed_reading(
    characteristic: str, data: bytes, problem: str
) -> None:
    reading = to_reading(value(characteristic, data), OSLO)
    assert reading is not None
    assert reading.outcome == "failed"
    assert problem in reading.problems


@pytest.mark.parametrize(("characteristic", "data"), DEVICE_POSSIBLE)
def test_a_device_sending_a_possible_value_gets_an_ok_reading(
    characteristic: str, data: bytes
) -> None:
    reading = to_reading(value(characteristic, data), OSLO)
    assert reading is not None
    assert (reading.outcome, reading.problems) == ("ok", ())


def test_a_scale_with_an_impossible_profile_keeps_its_weight_flagged() -> None:
    reading = to_reading(value(WEIGHT, build_weight_measurement(80.0, bmi=0.1, height=9.0)), OSLO)
    assert reading is not None
    assert reading.outcome == "flagged"
    assert reading.problems == ("height_out_of_range", "bmi_out_of_range")
    assert reading.values["weight"] == 80.0


# --- the patient's screen: "measure again", never the number --------------------------------------


def failed_reading(**values: Any) -> dict[str, Any]:
    return {
        "kind": "blood_pressure",
        "seq": 7,
        "device_time": None,
        "measured_at": "2026-11-22T10:40:00+00:00",
        "time_source": "device",
        "received_at": "2026-11-22T10:40:30+00:00",
        "outcome": "failed",
        "problems": ["systolic_below_diastolic", "pulse_rate_out_of_range"],
        "values": {
            "systolic": 60.0,
            "diastolic": 120.0,
            "mean_arterial_pressure": 100.0,
            "unit": "mmHg",
            "pulse_rate": 900.0,
            **values,
        },
        "synced": False,
        "synced_at": None,
    }


@pytest.mark.parametrize("language", LANGUAGES)
def test_an_impossible_reading_says_measure_again_and_shows_no_number(language: str) -> None:
    cat = Catalogue(language)
    for view in (
        present_reading(StatusReading.model_validate(failed_reading()), NOW, cat),
        present_reading(StatusReading.model_validate(failed_reading()), NOW, cat, advice=True),
    ):
        assert view.failed and view.value is None and view.pulse is None
        assert view.note.startswith(cat.translate("reading.failed"))
        shown = f"{view.value} {view.note} {view.pulse} {view.pulse_note} {view.trend}"
        assert not any(number in shown for number in ("60", "120", "900", "100"))


@pytest.mark.parametrize(
    ("kind", "values"),
    [
        ("spo2", {"spo2": 150.0, "pulse_rate": 70.0}),
        ("weight", {"weight": 0.0, "unit": "kg"}),
        ("temperature", {"temperature": 95.0, "unit": "C"}),
        ("glucose", {"glucose_concentration": -0.001, "unit": "mol/L"}),
        ("body_composition", {"body_fat_percentage": 0.0}),
    ],
)
def test_an_impossible_reading_of_any_kind_is_never_a_number(
    kind: str, values: dict[str, Any]
) -> None:
    view = present_reading(
        reading_of(
            {
                "kind": kind,
                "values": values,
                "outcome": "failed",
                "problems": [f"{next(iter(values))}_out_of_range"],
            }
        ),
        NOW,
        Catalogue("nb"),
    )
    assert view.value is None and view.note == "Målingen mislyktes. Prøv å måle på nytt."


def test_the_measuring_screen_says_no_measurement_for_an_impossible_result() -> None:
    session = {
        "key": "k",
        "device_address": "00:BB:00:00:00:02",
        "profile": "blood_pressure",
        "started_at": "2026-11-22T10:40:00.000+00:00",
        "ended_at": None,
        "progress": None,
        "progress_count": 0,
        "results": [failed_reading()],
    }
    view = measuring_view(LiveSession.model_validate(session), None, NOW, Catalogue("en"))
    assert view.hint == "No measurement this time."
    assert view.result is not None and view.result.value is None
    assert view.result.note.startswith("The measurement failed. Please measure again.")


# --- end to end: an emulated cuff sends 60/120 to the real daemon ---------------------------------


async def test_a_cuff_sending_systolic_below_diastolic_is_stored_failed(
    home: SimulatedHome,
) -> None:
    device = EmulatedCuff()
    await device.start()
    try:
        home.start_hub()
        await pair(home, device)
        device.measure(60, 120, 66)
        await asyncio.sleep(1.1)  # a distinct device time stamp
        device.measure(128, 82, 66)
        impossible, possible = await readings(home, 2)
    finally:
        await device.stop()
    assert impossible["outcome"] == "failed"
    assert "systolic_below_diastolic" in impossible["problems"]
    assert (possible["outcome"], possible["problems"]) == ("ok", [])
