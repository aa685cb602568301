"""Glucose Service values: Glucose Measurement (0x2A18), Glucose Measurement Context (0x2A34) and
Glucose Feature (0x2A51), laid out as in the Bluetooth GATT Specification Supplement (GSS) and
the Glucose Service / Profile specifications. The Record Access Control Point (0x2A52) that
fetches stored records is in ``hub.devices.racp``.

0x2A18 layout (little-endian):
  byte 0      flags: bit0 time offset present, bit1 glucose concentration + type-sample location
              present, bit2 concentration units (0 kg/L, 1 mol/L), bit3 sensor status
              annunciation present, bit4 context information follows (a 0x2A34 with the same
              sequence number comes next); bits 5-7 RFU (ignored)
  bytes 1-2   sequence number (uint16)
  bytes 3-9   base time (Date Time, 7)
  then, in this order and only when flagged: time offset (sint16, minutes, 2),
  glucose concentration (SFLOAT, 2) + type-sample location (uint8, 1: low nibble type,
  high nibble sample location), sensor status annunciation (uint16, 2).
  The measurement time is base time + time offset; both are kept as well.

0x2A34 layout (little-endian):
  byte 0      flags: bit0 carbohydrate ID + carbohydrate, bit1 meal, bit2 tester-health,
              bit3 exercise duration + intensity, bit4 medication ID + medication,
              bit5 medication units (0 kilograms, 1 litres), bit6 HbA1c, bit7 extended flags
  bytes 1-2   sequence number (uint16) of the 0x2A18 it belongs to
  then, in this order and only when flagged: extended flags (uint8, all bits RFU),
  carbohydrate ID (uint8) + carbohydrate (SFLOAT, kilograms), meal (uint8),
  tester-health (uint8: low nibble tester, high nibble health), exercise duration (uint16,
  seconds, 0xFFFF = overrun) + exercise intensity (uint8, percent), medication ID (uint8) +
  medication (SFLOAT, kilograms or litres per bit5), HbA1c (SFLOAT, percent).

0x2A51 layout: one uint16 bit field of supported features (see FEATURE_NAMES); bits 11-15 RFU.

Nibble order: the SIG's characteristic definitions list nibble fields least significant nibble
first (Type before Sample Location, Tester before Health), so Type and Tester are bits 0-3.
Nordic's Android-BLE-Common-Library and Wireshark agree for Type-Sample Location; for
Tester-Health Wireshark and the Cordio sample database put Tester in the high nibble instead.

Sensor status bit 5 is "sensor result higher than the device can process" and bit 6 "lower";
Nordic's Android toolbox swaps the two names. Units are the GSS ones (kilograms, litres,
kg/L, mol/L), not grams or mg/dL.

Bytes after the last flagged field are accepted and counted in ``trailing_bytes``. Enumerated
values the specification reserves decode as "reserved" rather than raising.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal, TypeAlias

from hub.devices.errors import ParseError, RawBytes
from hub.devices.fields import (
    FieldReader,
    JsonDict,
    bits_from_names,
    feature_bits,
    names_from_bits,
    optional_number_json,
    timestamp_json,
)
from hub.devices.gatt_time import encode_date_time
from hub.devices.ieee11073 import Number, encode_sfloat

GLUCOSE_MEASUREMENT = "Glucose Measurement (0x2A18)"
GLUCOSE_MEASUREMENT_CONTEXT = "Glucose Measurement Context (0x2A34)"
GLUCOSE_FEATURE = "Glucose Feature (0x2A51)"

ConcentrationUnit: TypeAlias = Literal["kg/L", "mol/L"]
MedicationUnit: TypeAlias = Literal["kg", "L"]

RESERVED = "reserved"
"""JSON name of an enumerated value the specification reserves for future use."""

EXERCISE_DURATION_OVERRUN = 0xFFFF
"""Exercise Duration 65535 means "overrun" (longer than 65534 s); JSON shows "overrun"."""

# --- enumerations: index = code; None marks an RFU code inside the table -------------------

SAMPLE_TYPE_NAMES: tuple[str | None, ...] = (
    None,
    "capillary_whole_blood",
    "capillary_plasma",
    "venous_whole_blood",
    "venous_plasma",
    "arterial_whole_blood",
    "arterial_plasma",
    "undetermined_whole_blood",
    "undetermined_plasma",
    "interstitial_fluid",
    "control_solution",
)
SAMPLE_LOCATION_NAMES: dict[int, str] = {
    1: "finger",
    2: "alternate_site_test",
    3: "earlobe",
    4: "control_solution",
    15: "not_available",
}
CARBOHYDRATE_ID_NAMES: tuple[str | None, ...] = (
    None,
    "breakfast",
    "lunch",
    "dinner",
    "snack",
    "drink",
    "supper",
    "brunch",
)
MEAL_NAMES: tuple[str | None, ...] = (
    None,
    "preprandial",
    "postprandial",
    "fasting",
    "casual",
    "bedtime",
)
TESTER_NAMES: dict[int, str] = {
    1: "self",
    2: "health_care_professional",
    3: "lab_test",
    15: "not_available",
}
HEALTH_NAMES: dict[int, str] = {
    1: "minor_health_issues",
    2: "major_health_issues",
    3: "during_menses",
    4: "under_stress",
    5: "no_health_issues",
    15: "not_available",
}
MEDICATION_ID_NAMES: tuple[str | None, ...] = (
    None,
    "rapid_acting_insulin",
    "short_acting_insulin",
    "intermediate_acting_insulin",
    "long_acting_insulin",
    "pre_mixed_insulin",
)

# Sensor Status Annunciation (uint16), bit n -> name; bits 12-15 RFU.
SENSOR_STATUS_NAMES: tuple[str, ...] = (
    "device_battery_low",
    "sensor_malfunction",
    "sample_size_insufficient",
    "strip_insertion_error",
    "strip_type_incorrect",
    "sensor_result_too_high",  # higher than the device can process
    "sensor_result_too_low",  # lower than the device can process
    "sensor_temperature_too_high",
    "sensor_temperature_too_low",
    "sensor_read_interrupted",  # strip pulled too soon
    "general_device_fault",
    "time_fault",
)

# Glucose Feature (uint16), bit n -> name; bits 11-15 RFU.
FEATURE_NAMES: tuple[str, ...] = (
    "low_battery_detection",
    "sensor_malfunction_detection",
    "sensor_sample_size",
    "sensor_strip_insertion_error_detection",
    "sensor_strip_type_error_detection",
    "sensor_result_high_low_detection",
    "sensor_temperature_high_low_detection",
    "sensor_read_interrupt_detection",
    "general_device_fault",
    "time_fault",
    "multiple_bond",
)

# 0x2A18 flags
_FLAG_TIME_OFFSET = 0x01
_FLAG_CONCENTRATION = 0x02
_FLAG_MOL_PER_L = 0x04
_FLAG_SENSOR_STATUS = 0x08
_FLAG_CONTEXT_FOLLOWS = 0x10
_MEASUREMENT_MIN_LENGTH = 10  # flags + sequence number + base time

# 0x2A34 flags
_CTX_CARBOHYDRATE = 0x01
_CTX_MEAL = 0x02
_CTX_TESTER_HEALTH = 0x04
_CTX_EXERCISE = 0x08
_CTX_MEDICATION = 0x10
_CTX_MEDICATION_LITRES = 0x20
_CTX_HBA1C = 0x40
_CTX_EXTENDED_FLAGS = 0x80
_CONTEXT_MIN_LENGTH = 3  # flags + sequence number


def _name(code: int, names: tuple[str | None, ...] | dict[int, str]) -> str:
    if isinstance(names, dict):
        return names.get(code, RESERVED)
    name = names[code] if 0 <= code < len(names) else None
    return RESERVED if name is None else name


def _code(
    value: str | int,
    names: tuple[str | None, ...] | dict[int, str],
    what: str,
    *,
    limit: int = 0xFF,
) -> int:
    """Code for a name, or a raw code up to ``limit`` (so emulators can send RFU values)."""
    if isinstance(value, int) and not isinstance(value, bool):
        if not 0 <= value <= limit:
            raise ValueError(f"{what} code must be 0-{limit}, got {value}")
        return value
    table = names if isinstance(names, dict) else dict(enumerate(names))
    for code, name in table.items():
        if name is not None and name == value:
            return code
    raise ValueError(f"unknown {what} {value!r}")


# --- Glucose Measurement 0x2A18 -------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class GlucoseMeasurement:
    """A decoded 0x2A18 value.

    ``timestamp`` is ``base_time`` plus ``time_offset`` minutes (the real measurement time); it
    is None when the device sent a base time it does not know (year/month/day 0).
    ``glucose_concentration`` is in ``unit`` (kg/L: 75 mg/dL is 0.00075; mol/L: 5.5 mmol/L is
    0.0055). ``sensor_status`` is None when the flag is absent.
    """

    sequence_number: int
    base_time: datetime | None
    timestamp: datetime | None
    time_offset: int | None = None
    glucose_concentration: Number | None = None
    unit: ConcentrationUnit | None = None
    sample_type: str | None = None
    sample_location: str | None = None
    sensor_status: tuple[str, ...] | None = None
    context_information_follows: bool = False
    trailing_bytes: int = 0

    def to_json(self) -> JsonDict:
        return {
            "type": "glucose_measurement",
            "sequence_number": self.sequence_number,
            "timestamp": timestamp_json(self.timestamp),
            "base_time": timestamp_json(self.base_time),
            "time_offset": self.time_offset,
            "glucose_concentration": optional_number_json(self.glucose_concentration),
            "unit": self.unit,
            "sample_type": self.sample_type,
            "sample_location": self.sample_location,
            "sensor_status": None if self.sensor_status is None else list(self.sensor_status),
            "context_information_follows": self.context_information_follows,
        }


def parse_glucose_measurement(data: RawBytes) -> GlucoseMeasurement:
    """Parse a 0x2A18 value. Raises ParseError (only) when it is malformed."""
    reader = FieldReader(data, GLUCOSE_MEASUREMENT, min_length=_MEASUREMENT_MIN_LENGTH)
    flags = reader.uint(1, "flags", "flags")
    sequence_number = reader.uint(2, "sequence_number", "the sequence number (uint16)")
    base_time = reader.date_time("base_time", "the base time (Date Time, 7 bytes)")
    time_offset: int | None = None
    concentration: Number | None = None
    unit: ConcentrationUnit | None = None
    sample_type: str | None = None
    sample_location: str | None = None
    status: tuple[str, ...] | None = None
    if flags & _FLAG_TIME_OFFSET:
        time_offset = reader.sint(2, "time_offset", "a time offset (2 bytes)", flagged=True)
    if flags & _FLAG_CONCENTRATION:
        concentration = reader.sfloat(
            "glucose_concentration", "a glucose concentration (2 bytes)", flagged=True
        )
        type_location = reader.uint(
            1, "type_sample_location", "a type-sample location (1 byte)", flagged=True
        )
        unit = "mol/L" if flags & _FLAG_MOL_PER_L else "kg/L"
        sample_type = _name(type_location & 0x0F, SAMPLE_TYPE_NAMES)
        sample_location = _name(type_location >> 4, SAMPLE_LOCATION_NAMES)
    if flags & _FLAG_SENSOR_STATUS:
        raw = reader.uint(
            2, "sensor_status", "a sensor status annunciation (2 bytes)", flagged=True
        )
        status = names_from_bits(raw, SENSOR_STATUS_NAMES)
    timestamp = base_time
    if base_time is not None and time_offset is not None:
        try:
            timestamp = base_time + timedelta(minutes=time_offset)
        except OverflowError:
            raise ParseError(
                GLUCOSE_MEASUREMENT,
                "time_offset",
                f"base time {base_time.isoformat()} plus {time_offset} minutes is past year "
                "9999; the device clock may be corrupt",
                reader.data,
            ) from None
    return GlucoseMeasurement(
        sequence_number=sequence_number,
        base_time=base_time,
        timestamp=timestamp,
        time_offset=time_offset,
        glucose_concentration=concentration,
        unit=unit,
        sample_type=sample_type,
        sample_location=sample_location,
        sensor_status=status,
        context_information_follows=bool(flags & _FLAG_CONTEXT_FOLLOWS),
        trailing_bytes=reader.remaining,
    )


def build_glucose_measurement(
    sequence_number: int,
    base_time: datetime | None,
    *,
    time_offset: int | None = None,
    glucose_concentration: Number | None = None,
    unit: ConcentrationUnit = "mol/L",
    exponent: int = -5,
    sample_type: str | int | None = None,
    sample_location: str | int | None = None,
    sensor_status: Iterable[str] | None = None,
    context_information_follows: bool = False,
) -> bytes:
    """Encode a 0x2A18 value; flags follow from which optional fields are given.

    ``base_time=None`` sends an all-zero Date Time (clock never set). The concentration is an
    SFLOAT at ``exponent`` in ``unit`` (the default -5 gives 0.01 mmol/L steps in mol/L, or
    1 mg/dL steps in kg/L). A concentration needs ``sample_type`` and ``sample_location``
    (names, or raw nibble codes 0-15 to send reserved values). Raises ValueError for input that
    cannot be encoded.
    """
    if not 0 <= sequence_number <= 0xFFFF:
        raise ValueError(f"sequence_number must be 0-65535, got {sequence_number}")
    if unit not in ("kg/L", "mol/L"):
        raise ValueError(f"unit must be 'kg/L' or 'mol/L', got {unit!r}")
    flags = _FLAG_CONTEXT_FOLLOWS if context_information_follows else 0
    body = sequence_number.to_bytes(2, "little") + encode_date_time(base_time)
    if time_offset is not None:
        if not -0x8000 <= time_offset <= 0x7FFF:
            raise ValueError(f"time_offset must fit a sint16 (minutes), got {time_offset}")
        flags |= _FLAG_TIME_OFFSET
        body += time_offset.to_bytes(2, "little", signed=True)
    if glucose_concentration is not None:
        if sample_type is None or sample_location is None:
            raise ValueError("a glucose concentration needs sample_type and sample_location")
        flags |= _FLAG_CONCENTRATION | (_FLAG_MOL_PER_L if unit == "mol/L" else 0)
        type_code = _code(sample_type, SAMPLE_TYPE_NAMES, "sample type", limit=0x0F)
        location_code = _code(sample_location, SAMPLE_LOCATION_NAMES, "sample location", limit=0x0F)
        body += encode_sfloat(glucose_concentration, exponent)
        body += bytes((location_code << 4 | type_code,))
    elif sample_type is not None or sample_location is not None:
        raise ValueError("sample_type and sample_location are sent only with a concentration")
    if sensor_status is not None:
        flags |= _FLAG_SENSOR_STATUS
        body += bits_from_names(sensor_status, SENSOR_STATUS_NAMES, "sensor status").to_bytes(
            2, "little"
        )
    return bytes((flags,)) + body


# --- Glucose Measurement Context 0x2A34 -----------------------------------------------------


@dataclass(frozen=True, slots=True)
class GlucoseMeasurementContext:
    """A decoded 0x2A34 value: context for the 0x2A18 with the same ``sequence_number``.

    ``carbohydrate`` is in kilograms, ``medication`` in ``medication_unit`` (kilograms or
    litres), ``hba1c`` and ``exercise_intensity`` in percent, ``exercise_duration`` in seconds
    (65535 = overrun, "overrun" in JSON). ``extended_flags`` (all bits RFU) is kept but not put
    in JSON. Absent fields are None.
    """

    sequence_number: int
    carbohydrate_id: str | None = None
    carbohydrate: Number | None = None
    meal: str | None = None
    tester: str | None = None
    health: str | None = None
    exercise_duration: int | None = None
    exercise_intensity: int | None = None
    medication_id: str | None = None
    medication: Number | None = None
    medication_unit: MedicationUnit | None = None
    hba1c: Number | None = None
    extended_flags: int | None = None
    trailing_bytes: int = 0

    def to_json(self) -> JsonDict:
        duration: int | str | None = self.exercise_duration
        if duration == EXERCISE_DURATION_OVERRUN:
            duration = "overrun"
        return {
            "type": "glucose_measurement_context",
            "sequence_number": self.sequence_number,
            "carbohydrate_id": self.carbohydrate_id,
            "carbohydrate": optional_number_json(self.carbohydrate),
            "meal": self.meal,
            "tester": self.tester,
            "health": self.health,
            "exercise_duration": duration,
            "exercise_intensity": self.exercise_intensity,
            "medication_id": self.medication_id,
            "medication": optional_number_json(self.medication),
            "medication_unit": self.medication_unit,
            "hba1c": optional_number_json(self.hba1c),
        }


def parse_glucose_measurement_context(data: RawBytes) -> GlucoseMeasurementContext:
    """Parse a 0x2A34 value. Raises ParseError (only) when it is malformed."""
    reader = FieldReader(data, GLUCOSE_MEASUREMENT_CONTEXT, min_length=_CONTEXT_MIN_LENGTH)
    flags = reader.uint(1, "flags", "flags")
    sequence_number = reader.uint(2, "sequence_number", "the sequence number (uint16)")
    extended_flags: int | None = None
    carbohydrate_id: str | None = None
    carbohydrate: Number | None = None
    meal: str | None = None
    tester: str | None = None
    health: str | None = None
    exercise_duration: int | None = None
    exercise_intensity: int | None = None
    medication_id: str | None = None
    medication: Number | None = None
    medication_unit: MedicationUnit | None = None
    hba1c: Number | None = None
    if flags & _CTX_EXTENDED_FLAGS:
        extended_flags = reader.uint(1, "extended_flags", "extended flags (1 byte)", flagged=True)
    if flags & _CTX_CARBOHYDRATE:
        code = reader.uint(1, "carbohydrate_id", "a carbohydrate ID (1 byte)", flagged=True)
        carbohydrate_id = _name(code, CARBOHYDRATE_ID_NAMES)
        carbohydrate = reader.sfloat("carbohydrate", "a carbohydrate (2 bytes)", flagged=True)
    if flags & _CTX_MEAL:
        meal = _name(reader.uint(1, "meal", "a meal (1 byte)", flagged=True), MEAL_NAMES)
    if flags & _CTX_TESTER_HEALTH:
        raw = reader.uint(1, "tester_health", "a tester-health (1 byte)", flagged=True)
        tester = _name(raw & 0x0F, TESTER_NAMES)
        health = _name(raw >> 4, HEALTH_NAMES)
    if flags & _CTX_EXERCISE:
        exercise_duration = reader.uint(
            2, "exercise_duration", "an exercise duration (2 bytes)", flagged=True
        )
        exercise_intensity = reader.uint(
            1, "exercise_intensity", "an exercise intensity (1 byte)", flagged=True
        )
    if flags & _CTX_MEDICATION:
        code = reader.uint(1, "medication_id", "a medication ID (1 byte)", flagged=True)
        medication_id = _name(code, MEDICATION_ID_NAMES)
        medication = reader.sfloat("medication", "a medication (2 bytes)", flagged=True)
        medication_unit = "L" if flags & _CTX_MEDICATION_LITRES else "kg"
    if flags & _CTX_HBA1C:
        hba1c = reader.sfloat("hba1c", "an HbA1c (2 bytes)", flagged=True)
    return GlucoseMeasurementContext(
        sequence_number=sequence_number,
        carbohydrate_id=carbohydrate_id,
        carbohydrate=carbohydrate,
        meal=meal,
        tester=tester,
        health=health,
        exercise_duration=exercise_duration,
        exercise_intensity=exercise_intensity,
        medication_id=medication_id,
        medication=medication,
        medication_unit=medication_unit,
        hba1c=hba1c,
        extended_flags=extended_flags,
        trailing_bytes=reader.remaining,
    )


def _check_pair(first: object, second: object, names: str) -> None:
    if (first is None) != (second is None):
        raise ValueError(f"give both {names} or neither")


def build_glucose_context(
    sequence_number: int,
    *,
    extended_flags: int | None = None,
    carbohydrate_id: str | int | None = None,
    carbohydrate: Number | None = None,
    carbohydrate_exponent: int = -3,
    meal: str | int | None = None,
    tester: str | int | None = None,
    health: str | int | None = None,
    exercise_duration: int | None = None,
    exercise_intensity: int | None = None,
    medication_id: str | int | None = None,
    medication: Number | None = None,
    medication_unit: MedicationUnit = "kg",
    medication_exponent: int | None = None,
    hba1c: Number | None = None,
    hba1c_exponent: int = -1,
) -> bytes:
    """Encode a 0x2A34 value; flags follow from which optional fields are given.

    Paired fields (carbohydrate ID + carbohydrate, tester + health, exercise duration +
    intensity, medication ID + medication) go together. Enumerations take names or raw codes.
    Carbohydrate is kilograms at ``carbohydrate_exponent`` (default -3: grams); medication is
    at ``medication_exponent`` (default -6 for kg, i.e. milligrams, and -3 for L, i.e.
    millilitres). Raises ValueError for input that cannot be encoded.
    """
    if not 0 <= sequence_number <= 0xFFFF:
        raise ValueError(f"sequence_number must be 0-65535, got {sequence_number}")
    if medication_unit not in ("kg", "L"):
        raise ValueError(f"medication_unit must be 'kg' or 'L', got {medication_unit!r}")
    flags = 0
    body = b""
    if extended_flags is not None:
        if not 0 <= extended_flags <= 0xFF:
            raise ValueError(f"extended_flags must be 0-255, got {extended_flags}")
        flags |= _CTX_EXTENDED_FLAGS
        body += bytes((extended_flags,))
    _check_pair(carbohydrate_id, carbohydrate, "carbohydrate_id and carbohydrate")
    _check_pair(tester, health, "tester and health")
    _check_pair(exercise_duration, exercise_intensity, "exercise_duration and exercise_intensity")
    _check_pair(medication_id, medication, "medication_id and medication")
    if carbohydrate_id is not None and carbohydrate is not None:
        flags |= _CTX_CARBOHYDRATE
        body += bytes((_code(carbohydrate_id, CARBOHYDRATE_ID_NAMES, "carbohydrate ID"),))
        body += encode_sfloat(carbohydrate, carbohydrate_exponent)
    if meal is not None:
        flags |= _CTX_MEAL
        body += bytes((_code(meal, MEAL_NAMES, "meal"),))
    if tester is not None and health is not None:
        flags |= _CTX_TESTER_HEALTH
        tester_code = _code(tester, TESTER_NAMES, "tester", limit=0x0F)
        body += bytes((_code(health, HEALTH_NAMES, "health", limit=0x0F) << 4 | tester_code,))
    if exercise_duration is not None and exercise_intensity is not None:
        if not 0 <= exercise_duration <= 0xFFFF:
            raise ValueError(f"exercise_duration must be 0-65535 s, got {exercise_duration}")
        if not 0 <= exercise_intensity <= 0xFF:
            raise ValueError(f"exercise_intensity must be 0-255, got {exercise_intensity}")
        flags |= _CTX_EXERCISE
        body += exercise_duration.to_bytes(2, "little") + bytes((exercise_intensity,))
    if medication_id is not None and medication is not None:
        if medication_exponent is None:
            medication_exponent = -6 if medication_unit == "kg" else -3
        flags |= _CTX_MEDICATION | (_CTX_MEDICATION_LITRES if medication_unit == "L" else 0)
        body += bytes((_code(medication_id, MEDICATION_ID_NAMES, "medication ID"),))
        body += encode_sfloat(medication, medication_exponent)
    if hba1c is not None:
        flags |= _CTX_HBA1C
        body += encode_sfloat(hba1c, hba1c_exponent)
    return bytes((flags,)) + sequence_number.to_bytes(2, "little") + body


# --- Glucose Feature 0x2A51 -----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class GlucoseFeature:
    """A decoded 0x2A51 value: the names of the features the meter supports, in bit order."""

    features: tuple[str, ...]
    trailing_bytes: int = 0

    def to_json(self) -> JsonDict:
        return {"type": "glucose_feature", "features": list(self.features)}


def parse_glucose_feature(data: RawBytes) -> GlucoseFeature:
    """Parse a 0x2A51 value (uint16 bit field). Raises ParseError (only) when it is too short."""
    bits, trailing = feature_bits(data, GLUCOSE_FEATURE, 2)
    return GlucoseFeature(names_from_bits(bits, FEATURE_NAMES), trailing_bytes=trailing)


def build_glucose_feature(features: Iterable[str]) -> bytes:
    """Encode a 0x2A51 value from feature names (see FEATURE_NAMES)."""
    return bits_from_names(features, FEATURE_NAMES, "glucose feature").to_bytes(2, "little")


PARSERS: dict[int, tuple[str, Callable[[RawBytes], Any]]] = {
    0x2A18: (GLUCOSE_MEASUREMENT, parse_glucose_measurement),
    0x2A34: (GLUCOSE_MEASUREMENT_CONTEXT, parse_glucose_measurement_context),
    0x2A51: (GLUCOSE_FEATURE, parse_glucose_feature),
}
