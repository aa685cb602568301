"""centre/fhir_export.py: the FHIR R4 export of a patient's period, as tables of readings ->
codes, units and values, the whole Bundle validated with fhir.resources (its R4B models: R4B
changed nothing in Bundle, Patient, Device, Observation or QuestionnaireResponse that this export
uses), and hostile inputs."""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from datetime import UTC, date, datetime, timedelta, timezone
from typing import Any

import pytest
from fhir.resources.R4B.bundle import Bundle

from centre.errors import CentreError
from centre.fhir_export import (
    CUT_MARK,
    DNR_SYSTEM,
    FNR_SYSTEM,
    GLUCOSE_SNOMED,
    MAX_ITEM_DEPTH,
    MAX_TEXT,
    SPO2,
    AnswerSet,
    DeviceInfo,
    Export,
    ExportError,
    ExportReading,
    PatientInfo,
    export_bundle,
    identity_system,
)
from hub.core.care_plan import CarePlan, Limit

T0 = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)
CUFF, OXI, SCALE, THERMO, METER = (f"AA:BB:CC:DD:EE:0{i}" for i in range(5))
SCRIPT = "<script>alert('x')</script>"


def with_check_digits(first9: str) -> str | None:
    """first9 plus its two mod-11 check digits, or None if no valid number starts so."""
    digits = [int(c) for c in first9]
    for weights in ((3, 7, 6, 1, 8, 9, 4, 5, 2), (5, 4, 3, 2, 7, 6, 5, 4, 3, 2)):
        rest = 11 - sum(d * w for d, w in zip(digits, weights, strict=True)) % 11
        if rest == 10:
            return None
        digits.append(0 if rest == 11 else rest)
    return "".join(map(str, digits))


def numbers(prefix: str) -> Iterator[str]:
    for serial in range(100, 1000):
        number = with_check_digits(prefix + str(serial))
        if number is not None:
            yield number


FNR = next(numbers("150385"))  # born 15 March 1985
DNR = next(numbers("550385"))  # D-number: 4 added to the day's first digit
PATIENT = PatientInfo("patient-1", FNR, "Nordmann", "Kari Anne", date(1985, 3, 15))


def reading(kind: str, values: Mapping[str, Any], address: str, **kw: Any) -> ExportReading:
    seq = kw.pop("seq", 1)
    fields: dict[str, Any] = {"outcome": "ok", "measured_at": T0 + timedelta(minutes=seq)}
    fields.update(kw)
    return ExportReading(seq=seq, kind=kind, values=values, device_address=address, **fields)


def export(
    *readings: ExportReading,
    answers: tuple[AnswerSet, ...] = (),
    plan: CarePlan | None = None,
    patient: PatientInfo = PATIENT,
) -> Export:
    return export_bundle(patient, "hub-0001", readings, answers, plan, T0 + timedelta(days=1))


def resources(result: Export, kind: str) -> list[dict[str, Any]]:
    entries = result.bundle["entry"]
    return [e["resource"] for e in entries if e["resource"]["resourceType"] == kind]


def codes(concept: Mapping[str, Any]) -> set[tuple[str, str]]:
    return {(c["system"], c["code"]) for c in concept["coding"]}


def by_loinc(result: Export, loinc: str) -> dict[str, Any]:
    found = [
        o
        for o in resources(result, "Observation")
        if ("http://loinc.org", loinc) in codes(o["code"])
    ]
    assert len(found) == 1, f"{len(found)} Observations with LOINC {loinc}"
    return found[0]


LOINC, SCT, MDC = "http://loinc.org", "http://snomed.info/sct", "urn:iso:std:iso:11073:10101"
NLK = "urn:oid:2.16.578.1.12.4.1.1.7280"

# kind, values, device -> LOINC of the Observation, codes it must carry, value, UCUM code
SINGLE_VALUES = [
    (
        "spo2",
        {"spo2": 97.0, "pulse_rate": 64.0},
        OXI,
        "2708-6",
        {(MDC, "150456"), (SCT, "431314004"), (LOINC, "59408-5")},
        97.0,
        "%",
    ),
    ("weight", {"weight": 72.5, "unit": "kg"}, SCALE, "29463-7", {(MDC, "188736")}, 72.5, "kg"),
    (
        "weight",
        {"weight": 160.0, "unit": "lb"},
        SCALE,
        "29463-7",
        {(SCT, "27113001")},
        160.0,
        "[lb_av]",
    ),
    ("weight", {"weight": 80.0}, SCALE, "29463-7", set(), 80.0, "kg"),  # no unit field: GSS kg
    (
        "temperature",
        {"temperature": 37.2, "unit": "C"},
        THERMO,
        "8310-5",
        {(MDC, "150364"), (SCT, "276885007")},
        37.2,
        "Cel",
    ),
    ("temperature", {"temperature": 99.1, "unit": "F"}, THERMO, "8310-5", set(), 99.1, "[degF]"),
    (
        "glucose",
        {"glucose_concentration": 0.0055, "unit": "mol/L", "sample_type": "capillary_whole_blood"},
        METER,
        "15074-8",
        {(MDC, "160184"), (SCT, "434912009"), (NLK, "NPU02187")},
        5.5,
        "mmol/L",
    ),
    (
        "glucose",
        {"glucose_concentration": 0.00075, "unit": "kg/L", "sample_type": "capillary_plasma"},
        METER,
        "2339-0",
        {(MDC, "160188"), (SCT, "434912009")},
        75.0,
        "mg/dL",
    ),
    (
        "body_composition",
        {"body_fat_percentage": 24.5, "unit": "kg"},
        SCALE,
        "41982-0",
        {(MDC, "188748")},
        24.5,
        "%",
    ),
]


@pytest.mark.parametrize(
    ("kind", "values", "device", "loinc", "more", "value", "ucum"), SINGLE_VALUES
)
def test_single_value_observations(
    kind: str,
    values: dict[str, Any],
    device: str,
    loinc: str,
    more: set[tuple[str, str]],
    value: float,
    ucum: str,
) -> None:
    obs = by_loinc(export(reading(kind, values, device)), loinc)
    assert more <= codes(obs["code"])
    assert obs["code"]["coding"][0]["system"] == MDC  # PHD IG: the MDC code, first
    assert obs["valueQuantity"]["value"] == pytest.approx(value)
    assert obs["valueQuantity"]["code"] == ucum
    assert obs["valueQuantity"]["system"] == "http://unitsofmeasure.org"
    assert obs["status"] == "final"
    assert obs["effectiveDateTime"] == (T0 + timedelta(minutes=1)).isoformat()


VITAL = ("http://terminology.hl7.org/CodeSystem/observation-category", "vital-signs")


@pytest.mark.parametrize(
    ("kind", "values", "loinc", "vital"),
    [
        ("weight", {"weight": 70.0}, "29463-7", True),
        ("spo2", {"spo2": 97.0}, "2708-6", True),
        ("temperature", {"temperature": 37.0}, "8310-5", True),
        ("glucose", {"glucose_concentration": 0.006, "unit": "mol/L"}, "15074-8", False),
        ("body_composition", {"body_fat_percentage": 20.0}, "41982-0", False),
    ],
)
def test_vital_signs_category_only_on_vital_signs(
    kind: str, values: dict[str, Any], loinc: str, vital: bool
) -> None:
    obs = by_loinc(export(reading(kind, values, METER)), loinc)
    categories = {c for concept in obs["category"] for c in codes(concept)}
    assert (VITAL in categories) is vital
    assert ("http://hl7.org/fhir/uv/phd/CodeSystem/PhdObservationCategories", "phd") in categories


def test_blood_pressure_is_a_panel_and_the_pulse_its_own_observation() -> None:
    values = {
        "systolic": 128.0,
        "diastolic": 82.0,
        "mean_arterial_pressure": 97.0,
        "unit": "mmHg",
        "pulse_rate": 66.0,
    }
    result = export(reading("blood_pressure", values, CUFF))
    panel = by_loinc(result, "85354-9")
    assert {(MDC, "150020"), (SCT, "75367002")} <= codes(panel["code"])
    assert "valueQuantity" not in panel
    components = {c["code"]["coding"][1]["code"]: c for c in panel["component"]}
    expected = {"8480-6": (128.0, "150021"), "8462-4": (82.0, "150022"), "8478-0": (97.0, "150023")}
    assert components.keys() == expected.keys()
    for loinc, (value, mdc) in expected.items():
        assert components[loinc]["valueQuantity"]["value"] == value
        assert components[loinc]["valueQuantity"]["code"] == "mm[Hg]"
        assert (MDC, mdc) in codes(components[loinc]["code"])
    pulse = by_loinc(result, "8867-4")
    assert (MDC, "149546") in codes(pulse["code"])  # the cuff's pulse, not the oximeter's
    assert pulse["valueQuantity"] == {
        "value": 66.0,
        "unit": "/min",
        "system": "http://unitsofmeasure.org",
        "code": "/min",
    }


def test_a_kpa_cuff_is_exported_in_mmhg_and_says_so() -> None:
    result = export(
        reading("blood_pressure", {"systolic": 16.0, "diastolic": 10.7, "unit": "kPa"}, CUFF)
    )
    panel = by_loinc(result, "85354-9")
    systolic = panel["component"][0]["valueQuantity"]
    assert systolic["code"] == "mm[Hg]"
    assert systolic["value"] == pytest.approx(16.0 * 760 / 101.325, abs=0.001)
    assert [n["text"] for n in panel["note"]] == [
        "converted from kPa (systolic 16.0, diastolic 10.7 kPa)"
    ]


def test_the_oximeter_pulse_has_the_oximeter_code() -> None:
    pulse = by_loinc(export(reading("spo2", {"spo2": 95.0, "pulse_rate": 72.0}, OXI)), "8867-4")
    assert (MDC, "149530") in codes(pulse["code"])


def test_glucose_never_carries_the_spo2_snomed_code() -> None:
    """One published VKP glucose profile pins SNOMED CT 431314004: that is peripheral oxygen
    saturation. Blood glucose is 434912009; the two tables must never swap."""
    assert GLUCOSE_SNOMED.code == "434912009"
    assert (SCT, "431314004") in {(c.system, c.code) for c in SPO2.codes}
    assert (SCT, "434912009") not in {(c.system, c.code) for c in SPO2.codes}
    for unit, sample in (("mol/L", "capillary_whole_blood"), ("kg/L", "venous_plasma")):
        values = {"glucose_concentration": 0.005, "unit": unit, "sample_type": sample}
        result = export(reading("glucose", values, METER))
        (obs,) = resources(result, "Observation")
        assert (SCT, "434912009") in codes(obs["code"])
        assert (SCT, "431314004") not in codes(obs["code"])


# --- status, interpretation, notes -------------------------------------------------------------
PLAN = CarePlan(
    thresholds={
        "blood_pressure": {"systolic": Limit(max=180), "diastolic": Limit(min=50)},
        "spo2": {"spo2": Limit(min=90)},
        "weight": {"weight": Limit(max=100)},
    }
)


@pytest.mark.parametrize(
    ("kind", "values", "outcome", "loinc", "expected"),
    [
        ("spo2", {"spo2": 85.0}, "ok", "2708-6", ["L"]),
        ("spo2", {"spo2": 95.0}, "ok", "2708-6", []),
        ("spo2", {"spo2": 85.0}, "flagged", "2708-6", ["L"]),
        ("spo2", {"spo2": 85.0}, "failed", "2708-6", []),  # a device fault is not the patient's
        ("weight", {"weight": 101.0}, "ok", "29463-7", ["H"]),
        ("weight", {"weight": 100.0}, "ok", "29463-7", []),  # at the limit is inside
        ("blood_pressure", {"systolic": 190.0, "diastolic": 90.0}, "ok", "85354-9", ["H"]),
        ("blood_pressure", {"systolic": 190.0, "diastolic": 45.0}, "ok", "85354-9", ["H", "L"]),
        # 25 kPa is 187.5 mmHg: above a 180 mmHg limit (limits are in mmHg)
        (
            "blood_pressure",
            {"systolic": 25.0, "diastolic": 10.0, "unit": "kPa"},
            "ok",
            "85354-9",
            ["H"],
        ),
    ],
)
def test_interpretation_against_the_patients_limits(
    kind: str, values: dict[str, Any], outcome: str, loinc: str, expected: list[str]
) -> None:
    obs = by_loinc(export(reading(kind, values, OXI, outcome=outcome), plan=PLAN), loinc)
    found = [c["code"] for i in obs.get("interpretation", []) for c in i["coding"]]
    assert found == expected


def test_the_component_outside_its_limit_carries_the_interpretation() -> None:
    values = {"systolic": 190.0, "diastolic": 90.0}
    panel = by_loinc(export(reading("blood_pressure", values, CUFF), plan=PLAN), "85354-9")
    systolic, diastolic = panel["component"]
    assert systolic["interpretation"][0]["coding"][0]["code"] == "H"
    assert "interpretation" not in diastolic


def test_a_reading_marked_invalid_is_entered_in_error_with_the_reason_as_data() -> None:
    marked = reading(
        "weight", {"weight": 120.0}, SCALE, invalid=True, invalid_reason=f"the dog {SCRIPT}"
    )
    obs = by_loinc(export(marked, plan=PLAN), "29463-7")
    assert obs["status"] == "entered-in-error"
    assert "interpretation" not in obs
    assert [n["text"] for n in obs["note"]] == [f"Marked invalid by a nurse: the dog {SCRIPT}"]


@pytest.mark.parametrize(
    ("outcome", "problems", "note"),
    [
        ("flagged", ("body_movement_detected",), "flagged: body_movement_detected"),
        ("failed", ("systolic_NaN", "cuff_too_loose"), "failed: systolic_NaN, cuff_too_loose"),
        ("failed", (), "failed"),
    ],
)
def test_flagged_and_failed_readings_get_a_note(
    outcome: str, problems: tuple[str, ...], note: str
) -> None:
    values = {"systolic": 120.0, "diastolic": 80.0}
    marked = reading("blood_pressure", values, CUFF, outcome=outcome, problems=problems)
    panel = by_loinc(export(marked), "85354-9")
    assert [n["text"] for n in panel["note"]] == [note]


def test_an_ok_reading_has_no_note() -> None:
    assert "note" not in by_loinc(export(reading("weight", {"weight": 70.0}, SCALE)), "29463-7")


# --- devices, patient --------------------------------------------------------------------------
def test_each_observation_names_its_device_and_the_hub_as_gateway() -> None:
    result = export(
        reading("weight", {"weight": 70.0}, SCALE, seq=1),
        reading("spo2", {"spo2": 97.0}, OXI.lower(), seq=2),
        reading("weight", {"weight": 70.1}, SCALE, seq=3),
    )
    urls = {e["fullUrl"]: e["resource"] for e in result.bundle["entry"]}
    devices = resources(result, "Device")
    assert len(devices) == 3  # the hub and two devices, each once
    for obs in resources(result, "Observation"):
        device = urls[obs["device"]["reference"]]
        assert device["identifier"][0]["system"] == "http://hl7.org/fhir/sid/eui-48/bluetooth"
        assert (MDC, "65573") in codes(device["type"])
        (gateway_ext,) = obs["extension"]
        assert gateway_ext["url"] == (
            "http://hl7.org/fhir/StructureDefinition/observation-gatewayDevice"
        )
        gateway = urls[gateway_ext["valueReference"]["reference"]]
        assert (MDC, "531981") in codes(gateway["type"])
        assert gateway["identifier"][0]["value"] == "hub-0001"
    oximeter = urls[by_loinc(result, "2708-6")["device"]["reference"]]
    assert oximeter["identifier"][0]["value"] == "AA-BB-CC-DD-EE-01"  # PHD's EUI-48 form
    assert (MDC, "528388") in codes(oximeter["specialization"][0]["systemType"])


def test_a_device_name_is_kept_as_data() -> None:
    result = export_bundle(
        PATIENT,
        "hub-0001",
        [reading("weight", {"weight": 70.0}, SCALE)],
        [],
        None,
        T0,
        devices=[DeviceInfo(SCALE, f"Scale {SCRIPT}")],
    )
    scale = [d for d in resources(result, "Device") if "deviceName" in d]
    assert scale[0]["deviceName"] == [{"name": f"Scale {SCRIPT}", "type": "user-friendly-name"}]


@pytest.mark.parametrize(("number", "system"), [(FNR, FNR_SYSTEM), (DNR, DNR_SYSTEM)])
def test_patient_identity_system(number: str, system: str) -> None:
    patient = PatientInfo("p", number, "Nordmann", "Ola", date(1985, 3, 15))
    (resource,) = resources(export(patient=patient), "Patient")
    assert resource["identifier"] == [{"system": system, "value": number}]
    assert resource["name"] == [{"use": "official", "family": "Nordmann", "given": ["Ola"]}]
    assert resource["birthDate"] == "1985-03-15"


def test_every_observation_has_the_patient_as_subject() -> None:
    result = export(reading("weight", {"weight": 70.0}, SCALE))
    (patient,) = [e for e in result.bundle["entry"] if e["resource"]["resourceType"] == "Patient"]
    for obs in resources(result, "Observation"):
        assert obs["subject"] == {"reference": patient["fullUrl"]}


@pytest.mark.parametrize(
    ("number", "words"),
    [
        (FNR[:-1] + str((int(FNR[-1]) + 1) % 10), "check digits"),
        (FNR[:10], "11 digits"),
        (FNR + "0", "11 digits"),
        ("1503851234x", "11 digits"),
        ("", "11 digits"),
        (next(numbers("850385")), "help number"),
    ],
)
def test_a_wrong_identity_number_is_refused(number: str, words: str) -> None:
    with pytest.raises(ExportError, match=words) as raised:
        identity_system(number)
    assert isinstance(raised.value, CentreError)


# --- questionnaire responses -------------------------------------------------------------------
def response(**changes: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "resourceType": "QuestionnaireResponse",
        "id": "a1",
        "questionnaire": "urn:dho:questionnaire:copd|1",
        "status": "completed",
        "authored": "2026-03-02T09:00:00+01:00",
        "item": [
            {
                "linkId": "breath",
                "text": "Hvordan er pusten i dag?",
                "answer": [
                    {"valueCoding": {"system": "urn:x", "code": "worse", "display": "Verre"}}
                ],
            },
            {"linkId": "group", "item": [{"linkId": "steps", "answer": [{"valueInteger": 3}]}]},
            {"linkId": "free", "text": "Noe mer?", "answer": [{"valueString": SCRIPT}]},
        ],
        "extension": [{"url": "urn:dho:questionnaire-total-score", "valueDecimal": 4}],
    }
    base.update(changes)
    return base


def test_questionnaire_answers_are_exported_as_a_questionnaire_response() -> None:
    result = export(answers=(AnswerSet(7, response()),))
    (qr,) = resources(result, "QuestionnaireResponse")
    (patient,) = [e for e in result.bundle["entry"] if e["resource"]["resourceType"] == "Patient"]
    assert qr["subject"] == {"reference": patient["fullUrl"]}
    assert qr["questionnaire"] == "urn:dho:questionnaire:copd|1"
    assert qr["authored"] == "2026-03-02T09:00:00+01:00"
    breath, group, free = qr["item"]
    assert breath["linkId"] == "breath"
    assert breath["text"] == "Hvordan er pusten i dag?"
    assert breath["answer"] == [
        {"valueCoding": {"system": "urn:x", "code": "worse", "display": "Verre"}}
    ]
    assert group["item"] == [{"linkId": "steps", "answer": [{"valueInteger": 3}]}]
    assert free["answer"] == [{"valueString": SCRIPT}]  # script is data, kept as typed
    assert qr["extension"] == [{"url": "urn:dho:questionnaire-total-score", "valueDecimal": 4}]
    assert result.skipped == ()


def nested(depth: int) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = [{"linkId": "leaf", "answer": [{"valueBoolean": True}]}]
    for level in range(depth):
        items = [{"linkId": f"g{level}", "item": items}]
    return items


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        ({"resourceType": "Observation"}, "not a QuestionnaireResponse"),
        (response(status="done"), "status"),
        (response(authored="yesterday"), "not a date-time"),
        (response(authored="2026-03-02T09:00:00"), "time zone"),
        (response(item=[{"linkId": "x", "answer": [{"valueAttachment": {}}]}]), "valueAttachment"),
        (response(item=[{"linkId": "x", "answer": [{"valueInteger": "3"}]}]), "valueInteger"),
        (
            response(item=[{"linkId": "x", "answer": [{"valueDecimal": float("nan")}]}]),
            "valueDecimal",
        ),
        (response(item=[{"linkId": "x", "answer": [{"valueBoolean": 1}]}]), "valueBoolean"),
        (response(item=[{"text": "no link id"}]), "linkId"),
        (response(item=[{"linkId": "   "}]), "empty linkId"),
        (response(item="not a list"), "not a list"),
        (response(item=nested(MAX_ITEM_DEPTH + 5)), "deeper"),
    ],
)
def test_answers_the_export_cannot_use_are_skipped_with_a_reason(
    raw: dict[str, Any], reason: str
) -> None:
    result = export(answers=(AnswerSet(5, raw),))
    assert resources(result, "QuestionnaireResponse") == []
    (skipped,) = result.skipped
    assert (skipped.seq, skipped.kind) == (5, "questionnaire_response")
    assert reason in skipped.reason


def test_answers_nested_to_the_depth_allowed_are_kept() -> None:
    result = export(answers=(AnswerSet(5, response(item=nested(MAX_ITEM_DEPTH))),))
    assert len(resources(result, "QuestionnaireResponse")) == 1
    Bundle.model_validate(result.bundle)


# --- hostile readings --------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (float("nan"), "not-a-number"),
        (float("inf"), "positive-infinity"),
        (float("-inf"), "negative-infinity"),
        ("NaN", "not-a-number"),
        ("NRes", "error"),
        ("+INF", "positive-infinity"),
        ("Reserved", "error"),
        ("<b>97</b>", "error"),
        (None, "unknown"),
        (True, "error"),
        ([97], "error"),
    ],
)
def test_a_value_that_is_no_finite_number_is_a_data_absent_reason(raw: object, reason: str) -> None:
    result = export(reading("spo2", {"spo2": raw}, OXI, outcome="failed"))
    obs = by_loinc(result, "2708-6")
    assert "valueQuantity" not in obs
    assert obs["dataAbsentReason"]["coding"][0]["code"] == reason
    json.dumps(result.bundle, allow_nan=False)  # no NaN or Infinity reaches the JSON
    Bundle.model_validate(result.bundle)


def test_a_missing_component_value_is_absent_in_the_panel() -> None:
    values = {"systolic": "NaN", "diastolic": 80.0}
    panel = by_loinc(export(reading("blood_pressure", values, CUFF, outcome="failed")), "85354-9")
    systolic, diastolic = panel["component"]
    assert systolic["dataAbsentReason"]["coding"][0]["code"] == "not-a-number"
    assert diastolic["valueQuantity"]["value"] == 80.0


@pytest.mark.parametrize(
    ("kind", "values", "address", "reason"),
    [
        ("pizza", {"slices": 8}, CUFF, "no FHIR code table"),
        ("message_receipt", {"message_version": 1}, "hub-screen", "no FHIR code table"),
        ("x" * 10_000, {}, CUFF, "no FHIR code table"),
        ("spo2", ["not", "a", "mapping"], OXI, "not a mapping"),
        (
            "glucose",
            {"glucose_concentration": 0.005, "sample_type": "control_solution"},
            METER,
            "control-solution",
        ),
        ("weight", {"weight": 70.0}, "  ", "names no device"),
    ],
)
def test_readings_the_export_cannot_code_are_skipped_with_a_reason(
    kind: str, values: Any, address: str, reason: str
) -> None:
    result = export(
        reading(kind, values, address, seq=42), reading("weight", {"weight": 70.0}, SCALE)
    )
    (skipped,) = result.skipped
    assert skipped.seq == 42
    assert reason in skipped.reason
    assert len(skipped.kind) <= 60 and len(skipped.reason) < 200  # a huge kind is not echoed
    assert len(resources(result, "Observation")) == 1


def test_huge_text_is_cut_at_the_fhir_limit() -> None:
    huge = "a" * (MAX_TEXT + 10)
    marked = reading("weight", {"weight": 70.0}, SCALE, invalid=True, invalid_reason=huge)
    result = export(marked, answers=(AnswerSet(1, response(item=[{"linkId": "x", "text": huge}])),))
    note = by_loinc(result, "29463-7")["note"][0]["text"]
    assert note.endswith(CUT_MARK)
    (qr,) = resources(result, "QuestionnaireResponse")
    assert len(qr["item"][0]["text"]) == MAX_TEXT
    assert qr["item"][0]["text"].endswith(CUT_MARK)


def test_a_time_without_zone_is_refused() -> None:
    with pytest.raises(ExportError, match="time zone"):
        reading("weight", {"weight": 70.0}, SCALE, measured_at=datetime(2026, 3, 2, 8, 0))


# --- the whole bundle --------------------------------------------------------------------------
def a_period() -> Export:
    oslo = timezone(timedelta(hours=1))
    readings = [
        reading(
            "blood_pressure",
            {
                "systolic": 190.0,
                "diastolic": 85.0,
                "mean_arterial_pressure": 120.0,
                "pulse_rate": 70.0,
            },
            CUFF,
            seq=1,
        ),
        reading(
            "spo2",
            {"spo2": 88.0, "pulse_rate": 90.0},
            OXI,
            seq=2,
            outcome="flagged",
            problems=("low_perfusion_detected",),
        ),
        reading(
            "weight",
            {"weight": 71.2, "unit": "kg"},
            SCALE,
            seq=3,
            measured_at=datetime(2026, 3, 2, 7, 0, tzinfo=oslo),
        ),
        reading(
            "temperature",
            {"temperature": 38.4, "unit": "C", "temperature_type": "ear"},
            THERMO,
            seq=4,
        ),
        reading(
            "glucose",
            {
                "glucose_concentration": 0.0072,
                "unit": "mol/L",
                "sample_type": "capillary_whole_blood",
            },
            METER,
            seq=5,
        ),
        reading("body_composition", {"body_fat_percentage": 27.0}, SCALE, seq=6),
        reading("weight", {"weight": 200.0}, SCALE, seq=7, invalid=True, invalid_reason=SCRIPT),
        reading("pizza", {}, CUFF, seq=8),
    ]
    return export(*readings, answers=(AnswerSet(9, response()),), plan=PLAN)


def test_the_whole_bundle_is_valid_fhir() -> None:
    result = a_period()
    bundle = Bundle.model_validate(result.bundle)
    assert bundle.type == "collection"
    kinds = [e["resource"]["resourceType"] for e in result.bundle["entry"]]
    assert kinds[:2] == ["Patient", "Device"]
    assert kinds.count("Observation") == 9  # panel + pulse, SpO2 + pulse, and one each
    assert kinds.count("QuestionnaireResponse") == 1
    assert [s.seq for s in result.skipped] == [8]
    json.dumps(result.bundle, allow_nan=False)


def test_every_reference_resolves_inside_the_bundle() -> None:
    result = a_period()
    urls = [e["fullUrl"] for e in result.bundle["entry"]]
    assert len(urls) == len(set(urls))

    def references(node: object) -> Iterator[str]:
        if isinstance(node, dict):
            for key, value in node.items():
                if key == "reference":
                    yield value
                else:
                    yield from references(value)
        elif isinstance(node, list):
            for value in node:
                yield from references(value)

    found = set(references(result.bundle))
    assert found and found <= set(urls)


def test_the_export_is_deterministic() -> None:
    assert a_period().bundle == a_period().bundle


def test_observations_come_in_the_order_measured() -> None:
    times = [
        datetime.fromisoformat(o["effectiveDateTime"]) for o in resources(a_period(), "Observation")
    ]
    assert times == sorted(times)
