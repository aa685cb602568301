"""A FHIR R4 export of one patient's period (issue 13, "Reports"): one Bundle with the Patient,
the hub as the gateway Device, a Device per measuring device, an Observation per measured value
(as the HL7 Personal Health Device IG and Norway's velferdsteknologi (VKP) Observation profiles
code them) and the patient's QuestionnaireResponses.

Pure: plain frozen dataclasses in, a JSON-able dict out; no Django, no database, no clock (the
caller passes when the export was made). Ids are UUIDs derived from the patient, hub and reading,
so exporting the same period twice gives the same Bundle.

The Bundle is of type "collection": a set of resources handed over together with no processing
rule. Not "document" (that needs a Composition as its first entry, attested by an author, and is
a signed clinical document such as the GP summary, not a data export); not "transaction" or
"batch" (those are instructions to a server, as the PHD upload or NHN's "Pasientens måledata"
batch would be: a sender for those can re-wrap these same resources with entry.request).

What is left out, and why, is returned beside the Bundle (`Export.skipped`), never dropped
silently: a reading of a kind with no code table, a glucose control-solution test, an answer
set that is not a QuestionnaireResponse.
"""

from __future__ import annotations

import math
import re
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from centre.errors import CentreError
from hub.core.care_plan import CarePlan, outside_limits
from hub.core.plausibility import CONVERSIONS
from hub.questionnaire.engine import SCORE_EXTENSION


class ExportError(CentreError, ValueError):
    """The export cannot be made, and why (a wrong identity number, a time without a zone)."""


# --- code systems --------------------------------------------------------------------------
LOINC = "http://loinc.org"
SNOMED = "http://snomed.info/sct"
MDC = "urn:iso:std:iso:11073:10101"  # PHD IG: the 32-bit code, partition * 65536 + term
UCUM = "http://unitsofmeasure.org"
NLK = "urn:oid:2.16.578.1.12.4.1.1.7280"  # Norwegian lab code list (NPU codes), VKP glucose
OBSERVATION_CATEGORY = "http://terminology.hl7.org/CodeSystem/observation-category"
PHD_CATEGORY = "http://hl7.org/fhir/uv/phd/CodeSystem/PhdObservationCategories"
INTERPRETATION = "http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation"
DATA_ABSENT = "http://terminology.hl7.org/CodeSystem/data-absent-reason"
GATEWAY_EXTENSION = "http://hl7.org/fhir/StructureDefinition/observation-gatewayDevice"
BLUETOOTH_SYSTEM = "http://hl7.org/fhir/sid/eui-48/bluetooth"  # PHD IG, PhdDevice identifier
HUB_SYSTEM = "urn:dho:hub"  # the project's own namespace (as hub/questionnaire/engine.py's)
DEVICE_SYSTEM = "urn:dho:device-address"  # a device address that is not a Bluetooth MAC
READING_SYSTEM = "urn:ietf:rfc:3986"  # identifier value: the resource's urn:uuid
# Norwegian identity numbers (HL7 Norway no-basis; /work/shared/reference/sync_security.md 5.5).
FNR_SYSTEM = "urn:oid:2.16.578.1.12.4.1.4.1"  # fødselsnummer
DNR_SYSTEM = "urn:oid:2.16.578.1.12.4.1.4.2"  # D-nummer

# FHIR R4 (2.1.28.0): a string SHALL NOT exceed 1 MB; a longer one is cut here, marked so.
MAX_TEXT = 1024 * 1024
CUT_MARK = " [cut: longer than FHIR allows]"
MAX_ITEM_DEPTH = 32  # nested questionnaire items: deeper than any form, shallower than recursion

_UUID_NAMESPACE = uuid.UUID("6f1c2a44-2f0e-5d6a-9b1e-6e0d6c0f4a11")  # this export's own


@dataclass(frozen=True)
class Code:
    system: str
    code: str
    display: str

    def to_fhir(self) -> dict[str, str]:
        return {"system": self.system, "code": self.code, "display": self.display}


@dataclass(frozen=True)
class Measure:
    """One coded value: an Observation of its own, or a component of a panel."""

    value_name: str  # the hub's values key
    codes: tuple[Code, ...]  # MDC first (PHD IG: the MDC code SHALL be present), then LOINC, SNOMED
    vital_sign: bool  # FHIR vital-signs category (and a LOINC coding SHALL be present)


def _mdc(code: int, display: str) -> Code:
    return Code(MDC, str(code), display)


# Codes: PHD IG (hl7.fhir.uv.phd 2.0.0, input/pagecontent/Nomenclaturecodes.md) for MDC, the FHIR
# R4 vital-signs profiles for LOINC, HL7Norway/VkpObservation input/pages/index.md (stage 1
# table) for SNOMED CT; collected in /work/shared/reference/sync_security.md 5.2. MDC terms
# checked against the IEEE 11073-10101 nomenclature headers (partition 2 SCADA = 131072 + term:
# MDC_PRESS_BLD_NONINV 18948 -> 150020, MDC_PULS_RATE_NON_INV 18474 -> 149546).
SYSTOLIC = Measure(
    "systolic",
    (
        _mdc(150021, "MDC_PRESS_BLD_NONINV_SYS"),
        Code(LOINC, "8480-6", "Systolic blood pressure"),
        Code(SNOMED, "271649006", "Systolic blood pressure"),
    ),
    True,
)
DIASTOLIC = Measure(
    "diastolic",
    (
        _mdc(150022, "MDC_PRESS_BLD_NONINV_DIA"),
        Code(LOINC, "8462-4", "Diastolic blood pressure"),
        Code(SNOMED, "271650006", "Diastolic blood pressure"),
    ),
    True,
)
MEAN_PRESSURE = Measure(
    "mean_arterial_pressure",
    (
        _mdc(150023, "MDC_PRESS_BLD_NONINV_MEAN"),
        # Optional in PHD (its example has MDC only); VKP's example uses it.
        Code(LOINC, "8478-0", "Mean blood pressure"),
    ),
    True,
)
BLOOD_PRESSURE_PANEL = (
    _mdc(150020, "MDC_PRESS_BLD_NONINV"),
    Code(LOINC, "85354-9", "Blood pressure panel with all children optional"),
    Code(SNOMED, "75367002", "Blood pressure"),
)
# PHD IG: a cuff's pulse is its own PhdNumericObservation (not a component of the compound BP),
# coded 149546; an oximeter's is 149530. Both map to LOINC 8867-4 (many-to-one).
CUFF_PULSE = Measure(
    "pulse_rate",
    (
        _mdc(149546, "MDC_PULS_RATE_NON_INV"),
        Code(LOINC, "8867-4", "Heart rate"),
        Code(SNOMED, "364075005", "Heart rate"),
    ),
    True,
)
OXIMETER_PULSE = Measure(
    "pulse_rate",
    (
        _mdc(149530, "MDC_PULS_OXIM_PULS_RATE"),
        Code(LOINC, "8867-4", "Heart rate"),
        Code(SNOMED, "364075005", "Heart rate"),
    ),
    True,
)
SPO2 = Measure(
    "spo2",
    (
        _mdc(150456, "MDC_PULS_OXIM_SAT_O2"),
        # 2708-6 is what the R4 oxygensat profile requires; 59408-5 says "by pulse oximetry".
        Code(LOINC, "2708-6", "Oxygen saturation in Arterial blood"),
        Code(LOINC, "59408-5", "Oxygen saturation in Arterial blood by Pulse oximetry"),
        Code(SNOMED, "431314004", "Peripheral oxygen saturation"),
    ),
    True,
)
BODY_WEIGHT = Measure(
    "weight",
    (
        _mdc(188736, "MDC_MASS_BODY_ACTUAL"),
        # VKP's index table reads "29563-7": a typo, its instance and FHIR use 29463-7.
        Code(LOINC, "29463-7", "Body weight"),
        Code(SNOMED, "27113001", "Body weight"),
    ),
    True,
)
BODY_TEMPERATURE = Measure(
    "temperature",
    (
        _mdc(150364, "MDC_TEMP_BODY"),
        Code(LOINC, "8310-5", "Body temperature"),
        Code(SNOMED, "276885007", "Core body temperature"),
    ),
    True,
)
# Body fat: MDC_BODY_FAT (SCADA term 57676 -> 188748, IEEE 11073-10420 headers); LOINC 41982-0
# "Percentage of body fat Measured". Not a FHIR vital sign.
BODY_FAT = Measure(
    "body_fat_percentage",
    (
        _mdc(188748, "MDC_BODY_FAT"),
        Code(LOINC, "41982-0", "Percentage of body fat Measured"),
    ),
    False,
)
# Blood glucose: SNOMED CT 434912009 "Blood glucose concentration" (VKP's glucose example);
# NOT 431314004, which the published VKP glucose profile pins by mistake: that is peripheral
# oxygen saturation (SPO2 above). LOINC 15074-8 (moles/volume, VKP) or 2339-0 (mass/volume)
# follows the unit the meter sent; NPU02187 (NLK) is B-Glucose in mmol/L only.
GLUCOSE_SNOMED = Code(SNOMED, "434912009", "Blood glucose concentration")
GLUCOSE_MOLAR = Code(LOINC, "15074-8", "Glucose [Moles/volume] in Blood")
GLUCOSE_MASS = Code(LOINC, "2339-0", "Glucose [Mass/volume] in Blood")
GLUCOSE_NPU = Code(NLK, "NPU02187", "B—Glucose")
# MDC by the meter's sample type (IEEE 11073-10417 terms 29112-29132, 29140; 29296 undetermined
# plasma as in the PHD IG's glucose example). Undetermined whole blood: MDC_CONC_GLU_GEN.
GLUCOSE_MDC: Mapping[str, Code] = {
    "capillary_whole_blood": _mdc(160184, "MDC_CONC_GLU_CAPILLARY_WHOLEBLOOD"),
    "capillary_plasma": _mdc(160188, "MDC_CONC_GLU_CAPILLARY_PLASMA"),
    "venous_whole_blood": _mdc(160192, "MDC_CONC_GLU_VENOUS_WHOLEBLOOD"),
    "venous_plasma": _mdc(160196, "MDC_CONC_GLU_VENOUS_PLASMA"),
    "arterial_whole_blood": _mdc(160200, "MDC_CONC_GLU_ARTERIAL_WHOLEBLOOD"),
    "arterial_plasma": _mdc(160204, "MDC_CONC_GLU_ARTERIAL_PLASMA"),
    "undetermined_plasma": _mdc(160368, "MDC_CONC_GLU_UNDETERMINED_PLASMA"),
    "interstitial_fluid": _mdc(160212, "MDC_CONC_GLU_ISF"),
}
GLUCOSE_GENERAL = _mdc(160020, "MDC_CONC_GLU_GEN")

# Device types (PHD IG PhdDevice/PhgDevice; sync_security.md 5.2, centre_and_fleet.md 2.1).
PHD_DEVICE_TYPE = _mdc(65573, "MDC_MOC_VMS_MDS_SIMP")
GATEWAY_DEVICE_TYPE = _mdc(531981, "MDC_MOC_VMS_MDS_AHD")
SPECIALIZATION: Mapping[str, Code] = {  # 8::41zz, the IEEE 11073-104zz specialisation
    "spo2": _mdc(528388, "MDC_DEV_SPEC_PROFILE_PULS_OXIM"),
    "blood_pressure": _mdc(528391, "MDC_DEV_SPEC_PROFILE_BPM"),
    "temperature": _mdc(528392, "MDC_DEV_SPEC_PROFILE_TEMP"),
    "weight": _mdc(528399, "MDC_DEV_SPEC_PROFILE_SCALE"),
    "glucose": _mdc(528401, "MDC_DEV_SPEC_PROFILE_GLUCOSE"),
}

# UCUM codes for the hub's units (hub/devices/*.py emit "mmHg", "kPa", "kg", "lb", "C", "F",
# "%", "kg/L", "mol/L"); FHIR vital signs require mm[Hg] for pressures, /min for rates.
_UCUM = {"mm[Hg]": "mmHg", "/min": "/min", "%": "%", "kg": "kg", "[lb_av]": "lb"}
_UCUM.update({"Cel": "°C", "[degF]": "°F", "mmol/L": "mmol/L", "mg/dL": "mg/dL"})

# A device's special value (hub/devices/ieee11073.py SpecialValue) as data-absent-reason.
ABSENT_REASON: Mapping[str, str] = {
    "NaN": "not-a-number",
    "+INF": "positive-infinity",
    "-INF": "negative-infinity",
    "NRes": "error",
    "Reserved": "error",
}

READING_KINDS = frozenset({"blood_pressure", "spo2", "weight", "temperature", "glucose"})
READING_KINDS |= {"body_composition"}


# --- input ---------------------------------------------------------------------------------
def _aware(name: str, value: datetime) -> None:
    if value.utcoffset() is None:
        raise ExportError(f"{name} has no time zone: {value.isoformat()}")


@dataclass(frozen=True)
class PatientInfo:
    key: str  # the centre's own id for the patient: seeds the export's ids
    identity_number: str  # fødselsnummer or D-number, 11 digits
    family_name: str
    given_names: str
    birth_date: date


@dataclass(frozen=True)
class DeviceInfo:
    address: str
    name: str | None = None  # what the technician or the device calls it


@dataclass(frozen=True)
class ExportReading:
    """One reading as the centre holds it, with the device that measured it."""

    seq: int
    kind: str
    values: Mapping[str, Any]
    outcome: str  # "ok", "flagged", "failed" (hub/core/outcome.py)
    measured_at: datetime
    device_address: str
    problems: tuple[str, ...] = ()
    invalid: bool = False  # marked invalid by a nurse: exported as entered-in-error
    invalid_reason: str | None = None

    def __post_init__(self) -> None:
        _aware("measured_at", self.measured_at)


@dataclass(frozen=True)
class AnswerSet:
    """One QuestionnaireResponse as the hub sent it (hub/core/answers.py), and its seq."""

    seq: int
    response: Mapping[str, Any]


@dataclass(frozen=True)
class Skipped:
    seq: int
    kind: str
    reason: str


@dataclass(frozen=True)
class Export:
    bundle: dict[str, Any]
    skipped: tuple[Skipped, ...]


# --- identity ------------------------------------------------------------------------------
_K1 = (3, 7, 6, 1, 8, 9, 4, 5, 2)
_K2 = (5, 4, 3, 2, 7, 6, 5, 4, 3, 2)


def _check_digit(digits: Sequence[int], weights: Sequence[int]) -> int | None:
    rest = 11 - sum(d * w for d, w in zip(digits, weights, strict=True)) % 11
    return 0 if rest == 11 else None if rest == 10 else rest


def identity_system(number: str) -> str:
    """The identifier system of a Norwegian identity number: a D-number has 4 added to its
    first digit (day 41-71); 8 or 9 first is a help number (FH-nummer), not a person's own.
    Checks both mod-11 check digits."""
    if not re.fullmatch(r"\d{11}", number):
        raise ExportError("the identity number must be 11 digits")
    digits = [int(c) for c in number]
    if _check_digit(digits[:9], _K1) != digits[9] or _check_digit(digits[:10], _K2) != digits[10]:
        raise ExportError("the identity number's check digits are wrong (a typing error?)")
    if digits[0] >= 8:
        raise ExportError("a help number (FH-nummer) is not a fødselsnummer or D-number")
    return DNR_SYSTEM if digits[0] >= 4 else FNR_SYSTEM


# --- helpers -------------------------------------------------------------------------------
def _id(*parts: object) -> str:
    return str(uuid.uuid5(_UUID_NAMESPACE, "|".join(str(p) for p in parts)))


def _url(resource_id: str) -> str:
    return f"urn:uuid:{resource_id}"


def _text(value: str) -> str | None:
    """A FHIR string: not empty, not only blanks, at most MAX_TEXT. Script or markup is kept as
    it is: it is data, and the JSON encoder and the reader's renderer escape it."""
    text = value.strip()
    if not text:
        return None
    return text if len(text) <= MAX_TEXT else text[: MAX_TEXT - len(CUT_MARK)] + CUT_MARK


def _number(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if math.isfinite(value) else None


def _tidy(value: float) -> float:
    """A converted value without the float noise of the conversion (6 significant digits: more
    than a device's SFLOAT carries)."""
    return float(f"{value:.6g}")


def _absent_reason(raw: object) -> str:
    if isinstance(raw, str):
        return ABSENT_REASON.get(raw, "error")
    if isinstance(raw, float) and math.isnan(raw):
        return "not-a-number"
    if isinstance(raw, float) and math.isinf(raw):
        return "positive-infinity" if raw > 0 else "negative-infinity"
    return "unknown" if raw is None else "error"


def _quantity(value: float, ucum: str) -> dict[str, Any]:
    return {"value": value, "unit": _UCUM[ucum], "system": UCUM, "code": ucum}


def _value(raw: object, ucum: str, convert: float | None = None) -> dict[str, Any]:
    """valueQuantity, or dataAbsentReason for a special, missing or non-finite value."""
    number = _number(raw)
    if number is None:
        reason = _absent_reason(raw)
        return {"dataAbsentReason": {"coding": [{"system": DATA_ABSENT, "code": reason}]}}
    if convert is not None:
        number = _tidy(number * convert)
    return {"valueQuantity": _quantity(number, ucum)}


def _concept(codes: Iterable[Code]) -> dict[str, Any]:
    return {"coding": [c.to_fhir() for c in codes]}


def _interpretation(name: str, red: Sequence[str]) -> list[dict[str, Any]]:
    out = []
    if f"{name}_above_care_plan" in red:
        out.append(("H", "High"))
    if f"{name}_below_care_plan" in red:
        out.append(("L", "Low"))
    return [{"coding": [{"system": INTERPRETATION, "code": c, "display": d}]} for c, d in out]


# --- units per kind ------------------------------------------------------------------------
@dataclass(frozen=True)
class Unit:
    ucum: str
    factor: float | None = None  # the hub's value times this is in ucum
    note: str | None = None  # said in a note when the value was converted


def _pressure_unit(values: Mapping[str, Any]) -> Unit:
    if values.get("unit") == "kPa":
        # FHIR's bp profile requires mm[Hg]: 1 kPa = 760/101.325 mmHg (exact definitions).
        return Unit("mm[Hg]", CONVERSIONS[("kPa", "mmHg")](1.0), "converted from kPa")
    return Unit("mm[Hg]")


def _weight_unit(values: Mapping[str, Any]) -> Unit:
    return Unit("[lb_av]") if values.get("unit") == "lb" else Unit("kg")


def _temperature_unit(values: Mapping[str, Any]) -> Unit:
    return Unit("[degF]") if values.get("unit") == "F" else Unit("Cel")


def _glucose_unit(values: Mapping[str, Any]) -> Unit:
    # The hub keeps SI (hub/devices/glucose.py): kg/L (75 mg/dL is 0.00075) or mol/L.
    if values.get("unit") == "mol/L":
        return Unit("mmol/L", 1000.0)
    return Unit("mg/dL", 100000.0)


# --- observations --------------------------------------------------------------------------
@dataclass(frozen=True)
class Context:
    patient_ref: str
    hub_ref: str
    device_refs: Mapping[str, str]
    plan: CarePlan | None


def _observation(
    reading: ExportReading, part: str, codes: Sequence[Code], vital: bool, ctx: Context
) -> dict[str, Any]:
    resource_id = _id(ctx.patient_ref, "observation", reading.device_address, reading.seq, part)
    category = [{"coding": [{"system": PHD_CATEGORY, "code": "phd"}]}]
    if vital:
        category.insert(0, {"coding": [{"system": OBSERVATION_CATEGORY, "code": "vital-signs"}]})
    obs: dict[str, Any] = {
        "resourceType": "Observation",
        "id": resource_id,
        "identifier": [{"system": READING_SYSTEM, "value": _url(resource_id)}],
        "extension": [{"url": GATEWAY_EXTENSION, "valueReference": {"reference": ctx.hub_ref}}],
        "status": "entered-in-error" if reading.invalid else "final",
        "category": category,
        "code": _concept(codes),
        "subject": {"reference": ctx.patient_ref},
        "effectiveDateTime": reading.measured_at.isoformat(),
        "performer": [{"reference": ctx.patient_ref}],
        "device": {"reference": ctx.device_refs[reading.device_address]},
    }
    notes = _notes(reading)
    if notes:
        obs["note"] = [{"text": n} for n in notes]
    return obs


def _notes(reading: ExportReading) -> list[str]:
    notes = []
    if reading.invalid:
        reason = _text(reading.invalid_reason or "")
        notes.append(f"Marked invalid by a nurse: {reason}" if reason else "Marked invalid")
    if reading.outcome in ("flagged", "failed") and reading.problems:
        notes.append(_text(f"{reading.outcome}: {', '.join(reading.problems)}") or "")
    elif reading.outcome in ("flagged", "failed"):
        notes.append(reading.outcome)
    return [n for n in notes if n]


def _red(reading: ExportReading, ctx: Context) -> tuple[str, ...]:
    """The values outside the patient's limits, as triage finds them: never for a failed
    reading (its values are a device fault) or one marked invalid."""
    if reading.outcome == "failed" or reading.invalid:
        return ()
    return outside_limits(reading.kind, dict(reading.values), ctx.plan)


def _single(
    reading: ExportReading, measure: Measure, unit: Unit, ctx: Context, extra: str = ""
) -> dict[str, Any]:
    obs = _observation(reading, measure.value_name, measure.codes, measure.vital_sign, ctx)
    obs.update(_value(reading.values.get(measure.value_name), unit.ucum, unit.factor))
    interpretation = _interpretation(measure.value_name, _red(reading, ctx))
    if interpretation:
        obs["interpretation"] = interpretation
    if extra:
        obs["note"] = [*obs.get("note", []), {"text": extra}]
    return obs


def _blood_pressure(reading: ExportReading, ctx: Context) -> list[dict[str, Any]]:
    unit = _pressure_unit(reading.values)
    red = _red(reading, ctx)
    panel = _observation(reading, "panel", BLOOD_PRESSURE_PANEL, True, ctx)
    components = []
    for measure in (SYSTOLIC, DIASTOLIC, MEAN_PRESSURE):
        if measure.value_name not in reading.values:
            continue  # the mean is optional in the GSS too
        component: dict[str, Any] = {"code": _concept(measure.codes)}
        component.update(_value(reading.values[measure.value_name], unit.ucum, unit.factor))
        interpretation = _interpretation(measure.value_name, red)
        if interpretation:
            component["interpretation"] = interpretation
        components.append(component)
    panel["component"] = components
    overall = [
        i for m in (SYSTOLIC, DIASTOLIC, MEAN_PRESSURE) for i in _interpretation(m.value_name, red)
    ]
    if overall:
        panel["interpretation"] = list({repr(i): i for i in overall}.values())
    if unit.note:
        raw = ", ".join(
            f"{m.value_name} {reading.values[m.value_name]}"
            for m in (SYSTOLIC, DIASTOLIC, MEAN_PRESSURE)
            if _number(reading.values.get(m.value_name)) is not None
        )
        panel["note"] = [*panel.get("note", []), {"text": f"{unit.note} ({raw} kPa)"}]
    out = [panel]
    if reading.values.get("pulse_rate") is not None:
        out.append(_single(reading, CUFF_PULSE, Unit("/min"), ctx))
    return out


def _spo2(reading: ExportReading, ctx: Context) -> list[dict[str, Any]]:
    out = [_single(reading, SPO2, Unit("%"), ctx)]
    if reading.values.get("pulse_rate") is not None:
        out.append(_single(reading, OXIMETER_PULSE, Unit("/min"), ctx))
    return out


def _temperature(reading: ExportReading, ctx: Context) -> list[dict[str, Any]]:
    obs = _single(reading, BODY_TEMPERATURE, _temperature_unit(reading.values), ctx)
    site = reading.values.get("temperature_type")
    if isinstance(site, str) and (text := _text(site.replace("_", " "))):
        obs["bodySite"] = {"text": text}
    return [obs]


def _glucose(reading: ExportReading, ctx: Context) -> list[dict[str, Any]]:
    unit = _glucose_unit(reading.values)
    sample = reading.values.get("sample_type")
    mdc = GLUCOSE_MDC.get(sample, GLUCOSE_GENERAL) if isinstance(sample, str) else GLUCOSE_GENERAL
    blood = sample != "interstitial_fluid"
    codes: list[Code] = [mdc]
    if blood and unit.ucum == "mmol/L":
        codes += [GLUCOSE_MOLAR, GLUCOSE_SNOMED, GLUCOSE_NPU]
    elif blood:
        codes += [GLUCOSE_MASS, GLUCOSE_SNOMED]
    measure = Measure("glucose_concentration", tuple(codes), False)
    obs = _single(reading, measure, unit, ctx)
    obs["category"].insert(0, {"coding": [{"system": OBSERVATION_CATEGORY, "code": "laboratory"}]})
    return [obs]


def _skip_reason(reading: ExportReading) -> str | None:
    if reading.kind not in READING_KINDS:
        return f"no FHIR code table for readings of kind {reading.kind[:60]!r}"
    if not isinstance(reading.values, Mapping):
        return "the reading's values are not a mapping"
    if reading.kind == "glucose" and reading.values.get("sample_type") == "control_solution":
        return "a control-solution test of the meter, not the patient's blood"
    if reading.device_address.strip() == "":
        return "the reading names no device"
    return None


def observations(reading: ExportReading, ctx: Context) -> list[dict[str, Any]]:
    """The Observations of one reading (a kind _skip_reason let through)."""
    if reading.kind == "blood_pressure":
        return _blood_pressure(reading, ctx)
    if reading.kind == "spo2":
        return _spo2(reading, ctx)
    if reading.kind == "weight":
        return [_single(reading, BODY_WEIGHT, _weight_unit(reading.values), ctx)]
    if reading.kind == "temperature":
        return _temperature(reading, ctx)
    if reading.kind == "glucose":
        return _glucose(reading, ctx)
    return [_single(reading, BODY_FAT, Unit("%"), ctx)]  # body_composition


# --- devices and patient -------------------------------------------------------------------
_MAC = re.compile(r"[0-9A-Fa-f]{2}([:-][0-9A-Fa-f]{2}){5}")


def _device_identifier(address: str) -> dict[str, str]:
    if _MAC.fullmatch(address):
        return {"system": BLUETOOTH_SYSTEM, "value": address.upper().replace(":", "-")}
    return {"system": DEVICE_SYSTEM, "value": _text(address) or "unknown"}


def _device(
    address: str, kinds: Iterable[str], info: DeviceInfo | None, patient_ref: str
) -> dict[str, Any]:
    device: dict[str, Any] = {
        "resourceType": "Device",
        "id": _id(patient_ref, "device", address),
        "identifier": [_device_identifier(address)],
        "type": _concept([PHD_DEVICE_TYPE]),
    }
    specialisations = [
        {"systemType": _concept([SPECIALIZATION[k]])}
        for k in sorted(set(kinds))
        if k in SPECIALIZATION
    ]
    if specialisations:
        device["specialization"] = specialisations
    if info is not None and info.name and (name := _text(info.name)):
        device["deviceName"] = [{"name": name, "type": "user-friendly-name"}]
    return device


def _gateway(hub_id: str, patient_ref: str) -> dict[str, Any]:
    return {
        "resourceType": "Device",
        "id": _id(patient_ref, "gateway", hub_id),
        "identifier": [{"system": HUB_SYSTEM, "value": _text(hub_id) or "unknown"}],
        "type": _concept([GATEWAY_DEVICE_TYPE]),
    }


def _patient(patient: PatientInfo) -> dict[str, Any]:
    system = identity_system(patient.identity_number)
    name: dict[str, Any] = {"use": "official"}
    if family := _text(patient.family_name):
        name["family"] = family
    given = [g for g in (_text(part) for part in patient.given_names.split()) if g]
    if given:
        name["given"] = given
    resource: dict[str, Any] = {
        "resourceType": "Patient",
        "id": _id("patient", patient.key),
        "identifier": [{"system": system, "value": patient.identity_number}],
        "birthDate": patient.birth_date.isoformat(),
    }
    if len(name) > 1:
        resource["name"] = [name]
    return resource


# --- questionnaire responses ---------------------------------------------------------------
_ANSWER_TYPES = frozenset({"valueBoolean", "valueInteger", "valueDecimal", "valueString"})
_ANSWER_TYPES |= {"valueDate", "valueDateTime", "valueTime", "valueCoding"}


class _BadAnswers(CentreError, ValueError):
    """A questionnaire response that cannot be rebuilt; the export skips it, with this reason."""


def _answer_value(answer: Mapping[str, Any]) -> dict[str, Any]:
    keys = [k for k in answer if k.startswith("value")]
    if len(keys) != 1 or keys[0] not in _ANSWER_TYPES:
        raise _BadAnswers(f"an answer of type {', '.join(k[:40] for k in keys) or 'none'}")
    key, value = keys[0], answer[keys[0]]
    if key == "valueBoolean" and isinstance(value, bool):
        return {key: value}
    if key == "valueInteger" and isinstance(value, int) and not isinstance(value, bool):
        return {key: value}
    if key == "valueDecimal" and _number(value) is not None:
        return {key: value}
    if key == "valueCoding" and isinstance(value, Mapping):
        coding = {
            k: text
            for k, v in value.items()
            if k in ("system", "code", "display") and isinstance(v, str) and (text := _text(v))
        }
        if coding:
            return {key: coding}
    textual = key not in ("valueBoolean", "valueInteger", "valueDecimal", "valueCoding")
    if textual and isinstance(value, str) and (text := _text(value)):
        return {key: text}
    raise _BadAnswers(f"{key} holds {type(value).__name__}, not a valid value")


def _items(raw: object, depth: int) -> list[dict[str, Any]]:
    if depth > MAX_ITEM_DEPTH:
        raise _BadAnswers(f"items nested deeper than {MAX_ITEM_DEPTH}")
    if not isinstance(raw, list):
        raise _BadAnswers("item is not a list")
    out = []
    for item in raw:
        if not isinstance(item, Mapping) or not isinstance(item.get("linkId"), str):
            raise _BadAnswers("an item without a linkId")
        link_id = _text(item["linkId"])
        if link_id is None:
            raise _BadAnswers("an item with an empty linkId")
        entry: dict[str, Any] = {"linkId": link_id}
        if isinstance(item.get("text"), str) and (text := _text(item["text"])):
            entry["text"] = text
        answers = []
        for answer in item.get("answer", []) if isinstance(item.get("answer"), list) else ():
            if not isinstance(answer, Mapping):
                raise _BadAnswers("an answer that is not an object")
            value = _answer_value(answer)
            if "item" in answer:
                value["item"] = _items(answer["item"], depth + 1)
            answers.append(value)
        if answers:
            entry["answer"] = answers
        if "item" in item:
            entry["item"] = _items(item["item"], depth + 1)
        out.append(entry)
    return out


QR_STATUSES = frozenset({"in-progress", "completed", "amended", "entered-in-error", "stopped"})


def _authored(raw: object) -> str:
    if not isinstance(raw, str):
        raise _BadAnswers("no authored time")
    try:
        moment = datetime.fromisoformat(raw)
    except ValueError:
        raise _BadAnswers(f"authored {raw[:40]!r} is not a date-time") from None
    if moment.utcoffset() is None:
        raise _BadAnswers("authored has no time zone")
    return moment.isoformat()


def questionnaire_response(answers: AnswerSet, patient_ref: str) -> dict[str, Any]:
    """A clean copy of the hub's QuestionnaireResponse, with the export's subject: only the
    fields FHIR R4 defines and the hub writes, each checked (raises _BadAnswers)."""
    raw = answers.response
    if not isinstance(raw, Mapping) or raw.get("resourceType") != "QuestionnaireResponse":
        raise _BadAnswers("not a QuestionnaireResponse")
    status = raw.get("status")
    if status not in QR_STATUSES:
        raise _BadAnswers(f"status {str(status)[:40]!r} is not a QuestionnaireResponse status")
    resource_id = _id(patient_ref, "questionnaire-response", answers.seq)
    out: dict[str, Any] = {
        "resourceType": "QuestionnaireResponse",
        "id": resource_id,
        "identifier": {"system": READING_SYSTEM, "value": _url(resource_id)},
        "status": status,
        "subject": {"reference": patient_ref},
        "authored": _authored(raw.get("authored")),
        "source": {"reference": patient_ref},
        "item": _items(raw.get("item", []), 0),
    }
    canonical = raw.get("questionnaire")
    if isinstance(canonical, str) and re.fullmatch(r"\S{1,4096}", canonical):
        out["questionnaire"] = canonical
    for ext in raw.get("extension", []) if isinstance(raw.get("extension"), list) else ():
        if isinstance(ext, Mapping) and ext.get("url") == SCORE_EXTENSION:
            score = _number(ext.get("valueDecimal"))
            if score is not None:
                out["extension"] = [{"url": SCORE_EXTENSION, "valueDecimal": score}]
    if not out["item"]:
        del out["item"]
    return out


# --- the bundle ----------------------------------------------------------------------------
def _entry(resource: dict[str, Any]) -> dict[str, Any]:
    return {"fullUrl": _url(resource["id"]), "resource": resource}


def export_bundle(
    patient: PatientInfo,
    hub_id: str,
    readings: Iterable[ExportReading],
    answer_sets: Iterable[AnswerSet],
    plan: CarePlan | None,
    generated_at: datetime,
    devices: Iterable[DeviceInfo] = (),
) -> Export:
    """The patient's period as one FHIR R4 collection Bundle, and what was left out and why.
    Readings come out in the order they were measured, then by seq."""
    _aware("generated_at", generated_at)
    patient_resource = _patient(patient)
    patient_ref = _url(patient_resource["id"])
    gateway = _gateway(hub_id, patient_ref)
    skipped: list[Skipped] = []
    kept: list[ExportReading] = []
    for reading in sorted(readings, key=lambda r: (r.measured_at.astimezone(UTC), r.seq)):
        reason = _skip_reason(reading)
        if reason is None:
            kept.append(reading)
        else:
            skipped.append(Skipped(reading.seq, reading.kind[:60], reason))
    names = {d.address: d for d in devices}
    kinds: dict[str, list[str]] = {}
    for reading in kept:
        kinds.setdefault(reading.device_address, []).append(reading.kind)
    device_resources = [
        _device(address, found, names.get(address), patient_ref)
        for address, found in sorted(kinds.items())
    ]
    ctx = Context(
        patient_ref=patient_ref,
        hub_ref=_url(gateway["id"]),
        device_refs={
            d: _url(r["id"]) for d, r in zip(sorted(kinds), device_resources, strict=True)
        },
        plan=plan,
    )
    found = [obs for reading in kept for obs in observations(reading, ctx)]
    responses = []
    for answers in sorted(answer_sets, key=lambda a: a.seq):
        try:
            responses.append(questionnaire_response(answers, patient_ref))
        except _BadAnswers as exc:
            skipped.append(Skipped(answers.seq, "questionnaire_response", str(exc)))
    resources = [patient_resource, gateway, *device_resources, *found, *responses]
    bundle = {
        "resourceType": "Bundle",
        "id": _id(patient_ref, "bundle", hub_id, generated_at.isoformat()),
        "type": "collection",
        "timestamp": generated_at.isoformat(),
        "entry": [_entry(r) for r in resources],
    }
    return Export(bundle, tuple(skipped))
