"""Was a measurement a success? Pure rules over decoded values, kept as data per reading kind.

A device reports a failed measurement with a special SFLOAT/FLOAT value ("NaN", "NRes", ...),
"measurement unsuccessful", or status bits. Such a reading is stored with ``outcome`` "failed"
and never shown or sent as a number; a reading whose number stands but whose device raised a
concern (body movement, cuff too loose, questionable signal) is "flagged" with the reasons.
A value no patient can have (systolic below diastolic, SpO2 150 %) fails the reading too: the
ranges are data in ``plausibility.py``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from hub.core.plausibility import implausible, special_value

Outcome = Literal["ok", "flagged", "failed"]


@dataclass(frozen=True)
class Rules:
    # Fields that carry the measurement: a special value in any of them fails it.
    primary: tuple[str, ...]
    # Fields whose special value does not fail the reading but is worth a flag.
    secondary: tuple[str, ...] = ()
    # Status/condition names (from any list-valued field) that fail or flag the reading.
    failing: frozenset[str] = frozenset()
    flagging: frozenset[str] = frozenset()


RULES: dict[str, Rules] = {
    "blood_pressure": Rules(
        primary=("systolic", "diastolic"),
        secondary=("mean_arterial_pressure", "pulse_rate"),
        flagging=frozenset(
            {
                "body_movement_detected",
                "cuff_too_loose",
                "irregular_pulse_detected",
                "improper_measurement_position",
                "pulse_rate_exceeds_upper_limit",
                "pulse_rate_below_lower_limit",
            }
        ),
    ),
    "spo2": Rules(
        primary=("spo2",),
        secondary=("pulse_rate", "pulse_amplitude_index"),
        failing=frozenset({"measurement_unavailable", "invalid_measurement_detected"}),
        flagging=frozenset(
            {
                "questionable_measurement_detected",
                "early_estimated_data",
                "data_for_demonstration",
                "data_for_testing",
                "calibration_ongoing",
                "equipment_malfunction_detected",
                "signal_processing_irregularity_detected",
                "inadequate_signal_detected",
                "poor_signal_detected",
                "low_perfusion_detected",
                "erratic_signal_detected",
                "nonpulsatile_signal_detected",
                "questionable_pulse_detected",
                "sensor_interference_detected",
                "sensor_unconnected_to_user",
                "unknown_sensor_connected",
                "sensor_displaced",
                "sensor_malfunctioning",
                "sensor_disconnected",
            }
        ),
    ),
    "weight": Rules(primary=("weight",), secondary=("bmi", "height")),
    "body_composition": Rules(primary=("body_fat_percentage",)),
    "temperature": Rules(primary=("temperature",)),
    "glucose": Rules(
        primary=("glucose_concentration",),
        failing=frozenset(
            {
                "sensor_malfunction",
                "sample_size_insufficient",
                "strip_insertion_error",
                "strip_type_incorrect",
                "sensor_read_interrupted",
                "general_device_fault",
            }
        ),
        # A result beyond the meter's range is clinically urgent: keep it, flagged.
        flagging=frozenset(
            {
                "device_battery_low",
                "sensor_result_too_high",  # higher than the device can process
                "sensor_result_too_low",  # lower than the device can process
                "sensor_temperature_too_high",
                "sensor_temperature_too_low",
                "time_fault",
            }
        ),
    ),
}


@dataclass(frozen=True)
class Assessment:
    outcome: Outcome
    problems: tuple[str, ...]


def _conditions(values: dict[str, Any]) -> set[str]:
    names: set[str] = set()
    for value in values.values():
        if isinstance(value, list):
            names.update(v for v in value if isinstance(v, str))
    return names


def assess(kind: str, values: dict[str, Any]) -> Assessment:
    """Classify one decoded reading of ``kind``; unknown kinds are "ok" unless unsuccessful."""
    rules = RULES.get(kind, Rules(primary=()))
    failed: list[str] = []
    flagged: list[str] = []
    if values.get("measurement_unsuccessful") is True:
        failed.append("measurement_unsuccessful")
    for name in rules.primary:
        if (special := special_value(values.get(name))) is not None:
            failed.append(f"{name}_{special}")
        elif name in values and values[name] is None and not failed:
            failed.append(f"{name}_missing")
    for name in rules.secondary:
        if (special := special_value(values.get(name))) is not None:
            flagged.append(f"{name}_{special}")
    impossible = implausible(kind, values)
    failed += impossible.failed
    flagged += impossible.flagged
    conditions = _conditions(values)
    failed += sorted(conditions & rules.failing)
    flagged += sorted(conditions & rules.flagging)
    if failed:
        return Assessment("failed", (*failed, *flagged))
    if flagged:
        return Assessment("flagged", tuple(flagged))
    return Assessment("ok", ())
