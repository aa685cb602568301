"""The care-plan editor's check (centre/care_plan_form.py) and its forms
(centre/web/care_plan_forms.py): typos a nurse makes are refused with the field and the reason,
what the hub knows comes from the hub's own tables, and whatever comes in, the result is a plan
the hub takes or a list of problems, never an exception."""

from __future__ import annotations

import json
import os
from typing import Any

import django
import pytest
from django.conf import settings
from hypothesis import given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from centre.care_plan_form import (
    LIMIT_VALUES,
    MAX_QUESTIONNAIRE_BYTES,
    MAX_QUESTIONNAIRE_DEPTH,
    QUESTIONNAIRE_TASK,
    SCHEDULE_KINDS,
    SHIPPED_URLS,
    Code,
    EditorInput,
    LimitRow,
    Problem,
    ScheduleRow,
    check_plan,
    initial_values,
    normal_phone,
    normal_time,
    shipped_questionnaire,
    split_times,
)
from hub.core.care_plan import CarePlan, Limit, ScheduledMeasurement, outside_limits
from hub.core.plausibility import RANGES
from hub.questionnaire import SHIPPED
from hub.wire import documents

if not settings.configured:  # forms need settings and translations, no database
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "centre.web.typecheck")
    django.setup()

from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import translation
from django.utils.datastructures import MultiValueDict

from centre.web.care_plan_forms import (
    KIND_LABELS,
    MESSAGES,
    UNIT_LABELS,
    UPLOADED,
    VALUE_LABELS,
    CarePlanEditor,
)

QUESTIONNAIRE = {
    "resourceType": "Questionnaire",
    "url": "urn:example:questionnaire:ankles",
    "title": "Ankles <script>alert(1)</script>",
    "item": [
        {"linkId": "swollen", "type": "boolean", "text": "<script>alert(1)</script>?"},
    ],
}


def problems_of(given: EditorInput) -> set[tuple[tuple[str | int, ...], Code]]:
    result = check_plan(given)
    assert isinstance(result, tuple), f"accepted: {result}"
    return {(p.path, p.code) for p in result}


def plan_of(given: EditorInput) -> CarePlan:
    result = check_plan(given)
    assert isinstance(result, CarePlan), f"refused: {result}"
    return result


def bp(times: tuple[str, ...] = ("08:00",)) -> tuple[ScheduleRow, ...]:
    return (ScheduleRow("blood_pressure", times),)


# --- what the hub knows ------------------------------------------------------------------


def test_the_catalogue_is_the_hub_s_own() -> None:
    from hub.ui.flow import SHIPPED_URLS as SCREEN_URLS
    from hub.ui.i18n import Catalogue
    from hub.ui.today import READING_KIND

    assert QUESTIONNAIRE_TASK in READING_KIND  # the screen's name for it
    assert SHIPPED_URLS == SCREEN_URLS
    screen = Catalogue("nb")
    for kind in SCHEDULE_KINDS:  # the patient's screen can show every task the editor sets
        assert screen.has(f"task.{kind}"), kind
    assert "glucose_context" not in SCHEDULE_KINDS  # comes with a glucose reading, not asked
    for kind, values in LIMIT_VALUES.items():
        if kind == QUESTIONNAIRE_TASK:  # the total score the hub's engine puts on the answers
            assert set(values) == {"score"}
            continue
        assert set(values) <= set(RANGES[kind])
        assert "height" not in values and "bmi" not in values  # typed into a scale
    glucose = LIMIT_VALUES["glucose"]["glucose_concentration"]
    assert (glucose.unit, str(glucose.low), float(glucose.high)) == ("mmol/L", "0.1", 200.0)


def test_every_kind_value_unit_and_problem_has_a_label() -> None:
    assert set(SCHEDULE_KINDS) <= set(KIND_LABELS)
    for values in LIMIT_VALUES.values():
        assert set(values) <= set(VALUE_LABELS)
        assert all(spec.unit in UNIT_LABELS or spec.unit.isascii() for spec in values.values())
    assert set(MESSAGES) == set(Code)


# --- the check ---------------------------------------------------------------------------

REFUSED: list[tuple[str, EditorInput, set[tuple[tuple[str | int, ...], Code]]]] = [
    (
        "the issue's kind typo",
        EditorInput(schedule=(ScheduleRow("blodtrykk", ("08:00",)),)),
        {(("schedule", 0, "kind"), Code.UNKNOWN_KIND)},
    ),
    (
        "the issue's time typo",
        EditorInput(schedule=bp(("25:99",))),
        {(("schedule", 0, "times", 0), Code.BAD_TIME)},
    ),
    (
        "the issue's limit typo: kind",
        EditorInput(limits=(LimitRow("blood_presure", "systolc", max="180"),)),
        {(("limits", 0, "kind"), Code.UNKNOWN_KIND)},
    ),
    (
        "the issue's limit typo: value",
        EditorInput(limits=(LimitRow("blood_pressure", "systolc", max="180"),)),
        {(("limits", 0, "value"), Code.UNKNOWN_VALUE)},
    ),
    (
        "operations.md's SpO2 limit under a device's name",
        EditorInput(limits=(LimitRow("pulse_oximeter", "spo2", min="90"),)),
        {(("limits", 0, "kind"), Code.UNKNOWN_KIND)},
    ),
    (
        "no kind chosen",
        EditorInput(schedule=(ScheduleRow("", ("08:00",)),)),
        {(("schedule", 0, "kind"), Code.NO_KIND)},
    ),
    (
        "a kind twice",
        EditorInput(schedule=bp() + bp(("20:00",))),
        {(("schedule", 1, "kind"), Code.KIND_TWICE)},
    ),
    ("no times", EditorInput(schedule=bp(())), {(("schedule", 0, "times"), Code.NO_TIMES)}),
    (
        "too many times",
        EditorInput(schedule=bp((*(f"{h:02d}:30" for h in range(24)), "00:00"))),
        {(("schedule", 0, "times"), Code.TOO_MANY_TIMES)},
    ),
    (
        "a time twice, written two ways",
        EditorInput(schedule=bp(("8:00", "08.00"))),
        {(("schedule", 0, "times", 1), Code.TIME_TWICE)},
    ),
    (
        "24:00",
        EditorInput(schedule=bp(("24:00",))),
        {(("schedule", 0, "times", 0), Code.BAD_TIME)},
    ),
    (
        "a script for a kind",
        EditorInput(schedule=(ScheduleRow("<script>alert(1)</script>", ("08:00",)),)),
        {(("schedule", 0, "kind"), Code.UNKNOWN_KIND)},
    ),
    (
        "the questionnaire scheduled, none chosen",
        EditorInput(schedule=(ScheduleRow("questionnaire", ("10:00",)),)),
        {(("schedule", 0, "kind"), Code.QUESTIONNAIRE_NOT_CHOSEN)},
    ),
    (
        "a lower limit on the questionnaire's score",
        EditorInput(limits=(LimitRow("questionnaire", "score", min="1", max="3"),)),
        {(("limits", 0, "min"), Code.SCORE_UPPER_ONLY)},
    ),
    (
        "a limit on another value of the questionnaire",
        EditorInput(limits=(LimitRow("questionnaire", "systolic", max="3"),)),
        {(("limits", 0, "value"), Code.UNKNOWN_VALUE)},
    ),
    (
        "a questionnaire score beyond any questionnaire's",
        EditorInput(limits=(LimitRow("questionnaire", "score", max="1e6"),)),
        {(("limits", 0, "max"), Code.IMPLAUSIBLE)},
    ),
    (
        "a limit on a scale's typed-in height",
        EditorInput(limits=(LimitRow("weight", "height", max="2"),)),
        {(("limits", 0, "value"), Code.UNKNOWN_VALUE)},
    ),
    (
        "no value chosen",
        EditorInput(limits=(LimitRow("weight", "", max="90"),)),
        {(("limits", 0, "value"), Code.NO_VALUE)},
    ),
    (
        "a limit twice",
        EditorInput(
            limits=(LimitRow("weight", "weight", max="90"), LimitRow("weight", "weight", min="60"))
        ),
        {(("limits", 1, "value"), Code.LIMIT_TWICE)},
    ),
    (
        "a limit with no numbers",
        EditorInput(limits=(LimitRow("weight", "weight", " ", ""),)),
        {(("limits", 0, "min"), Code.LIMIT_EMPTY)},
    ),
    (
        "min above max",
        EditorInput(limits=(LimitRow("blood_pressure", "systolic", "180", "90"),)),
        {(("limits", 0, "min"), Code.MIN_ABOVE_MAX)},
    ),
    (
        "a limit no patient can reach (mmHg below the cuff's range)",
        EditorInput(limits=(LimitRow("blood_pressure", "systolic", min="0"),)),
        {(("limits", 0, "min"), Code.IMPLAUSIBLE)},
    ),
    (
        "glucose typed in mol/L is not mmol/L",
        EditorInput(limits=(LimitRow("glucose", "glucose_concentration", min="0.004"),)),
        {(("limits", 0, "min"), Code.IMPLAUSIBLE)},
    ),
    (
        "a phone with a script",
        EditorInput(centre_phone="<script>alert(1)</script>"),
        {(("centre_phone",), Code.BAD_PHONE)},
    ),
    (
        "a shipped questionnaire that is not",
        EditorInput(shipped_questionnaire="kols"),
        {(("questionnaire", "shipped"), Code.UNKNOWN_QUESTIONNAIRE)},
    ),
    (
        "a shipped and an uploaded questionnaire",
        EditorInput(shipped_questionnaire="copd-daily", uploaded_questionnaire="{}"),
        {(("questionnaire", "shipped"), Code.QUESTIONNAIRE_TWICE)},
    ),
]


@pytest.mark.parametrize(("case", "given", "expected"), REFUSED, ids=[c[0] for c in REFUSED])
def test_refused_with_the_field_and_the_reason(
    case: str, given: EditorInput, expected: set[tuple[tuple[str | int, ...], Code]]
) -> None:
    assert problems_of(given) == expected


def test_every_problem_is_reported_at_once() -> None:
    found = problems_of(
        EditorInput(
            schedule=(ScheduleRow("blodtrykk", ("25:99",)),),
            limits=(LimitRow("blood_presure", "systolc", max="180"),),
            centre_phone="1234",
        )
    )
    assert {code for _, code in found} == {
        Code.UNKNOWN_KIND,
        Code.BAD_TIME,
        Code.BAD_PHONE,
    }
    assert len(found) == 4


@pytest.mark.parametrize(
    ("typed", "expected"),
    [
        ("00:00", "00:00"),
        ("23:59", "23:59"),
        ("8:05", "08:05"),
        ("08.05", "08:05"),
        (" 20:00 ", "20:00"),
        ("24:00", None),
        ("25:99", None),
        ("12:60", None),
        ("-1:00", None),
        ("0800", None),
        ("08:5", None),
        ("\u0661\u0662:\u0660\u0660", None),  # Arabic-Indic digits: digits to Python only
        ("08:00:00", None),
        ("", None),
    ],
)
def test_times_of_day(typed: str, expected: str | None) -> None:
    assert normal_time(typed) == expected


def test_times_typed_in_one_field() -> None:
    assert split_times("08:00, 20:00;12.30  7:00") == ("08:00", "20:00", "12.30", "7:00")
    assert plan_of(EditorInput(schedule=bp(split_times("20:00, 8.00")))).schedule == (
        ScheduledMeasurement(kind="blood_pressure", times=("08:00", "20:00")),
    )


@pytest.mark.parametrize(
    ("typed", "code"),
    [
        ("NaN", Code.NOT_FINITE),
        ("nan", Code.NOT_FINITE),
        ("inf", Code.NOT_FINITE),
        ("-Infinity", Code.NOT_FINITE),
        ("1e308", Code.IMPLAUSIBLE),
        ("1e999999999", Code.IMPLAUSIBLE),
        ("-5", Code.IMPLAUSIBLE),
        ("9" * 40, Code.NOT_A_NUMBER),
        ("180 mmHg", Code.NOT_A_NUMBER),
        ("0x10", Code.NOT_A_NUMBER),
        ("1_000", Code.NOT_A_NUMBER),
        ("\u0661\u0668\u0660", Code.NOT_A_NUMBER),  # Arabic-Indic 180
        ("<script>", Code.NOT_A_NUMBER),
        ("1,2,3", Code.NOT_A_NUMBER),
    ],
)
def test_numbers_a_limit_cannot_be(typed: str, code: Code) -> None:
    found = problems_of(EditorInput(limits=(LimitRow("blood_pressure", "systolic", max=typed),)))
    assert found == {(("limits", 0, "max"), code)}


@pytest.mark.parametrize(
    ("kind", "name", "low", "high", "limit"),
    [
        ("blood_pressure", "systolic", "180", "180", Limit(min=180, max=180)),  # min == max
        ("blood_pressure", "systolic", "30", "300", Limit(min=30, max=300)),  # the range's ends
        ("temperature", "temperature", "35,5", "38.0", Limit(min=35.5, max=38)),  # comma
        ("spo2", "spo2", "90", "", Limit(min=90)),
        ("weight", "weight", "", "+120.5", Limit(max=120.5)),
        ("glucose", "glucose_concentration", "4", "15,5", Limit(min=0.004, max=0.0155)),
        ("body_composition", "weight", "1e2", "", Limit(min=100)),
        ("questionnaire", "score", "", "7,5", Limit(max=7.5)),  # red above; a score, no unit
    ],
)
def test_limits_in_the_hub_s_units(kind: str, name: str, low: str, high: str, limit: Limit) -> None:
    plan = plan_of(EditorInput(limits=(LimitRow(kind, name, low, high),)))
    assert plan.thresholds == {kind: {name: limit}}


def test_a_glucose_limit_in_mmol_flags_a_reading_in_mg_per_dl() -> None:
    """15.5 mmol/L typed by the nurse is what the hub compares a meter's kg/L value with."""
    plan = plan_of(EditorInput(limits=(LimitRow("glucose", "glucose_concentration", max="15,5"),)))
    high = {"glucose_concentration": 0.0030, "unit": "kg/L"}  # 300 mg/dL, 16.7 mmol/L
    normal = {"glucose_concentration": 0.0010, "unit": "kg/L"}  # 100 mg/dL, 5.6 mmol/L
    assert outside_limits("glucose", high, plan) == ("glucose_concentration_above_care_plan",)
    assert outside_limits("glucose", normal, plan) == ()


@pytest.mark.parametrize(("name", "highest"), [("copd-daily", 5), ("heart-failure-daily", 4)])
def test_the_shipped_questionnaires_scores_as_docs_operations_says(name: str, highest: int) -> None:
    """docs/operations.md, section 6: the highest total each shipped questionnaire can score,
    every choice at its highest-scored option (only choices carry scores)."""
    from hub.questionnaire import load_shipped

    questionnaire = load_shipped(name, "nb")
    best = 0.0
    for item in questionnaire.by_link_id.values():
        scores = [option.score for option in item.options if option.score is not None]
        assert not scores or item.type == "choice"
        best += max(scores, default=0.0)
    assert best == highest


def test_limits_on_a_kind_not_scheduled_are_kept() -> None:
    plan = plan_of(EditorInput(schedule=bp(), limits=(LimitRow("weight", "weight", max="90"),)))
    assert plan.thresholds == {"weight": {"weight": Limit(max=90)}}


@pytest.mark.parametrize(
    ("typed", "expected"),
    [
        ("55 00 00 00", "+47 55 00 00 00"),
        ("+47 55 00 00 00", "+47 55 00 00 00"),
        ("+4755000000", "+47 55 00 00 00"),
        ("0047 412 34 567", "+47 41 23 45 67"),
        (" 9 9 9 9 9 9 9 9 ", "+47 99 99 99 99"),
        ("5500000", None),  # 7 digits
        ("550000000", None),  # 9 digits
        ("+46 55 00 00 00", None),  # Sweden
        ("11 22 33 44", None),  # 1 starts a service code
        ("55-00-00-00", None),
        ("55 00 00 0O", None),
        ("\u0665" * 2 + "\u0660" * 6, None),  # Arabic-Indic digits
        ("<script>alert(1)</script>", None),
        ("5" * 10_000, None),
    ],
)
def test_phone_numbers(typed: str, expected: str | None) -> None:
    assert normal_phone(typed) == expected


def test_no_phone_is_no_phone() -> None:
    assert plan_of(EditorInput(centre_phone="  ")).centre_phone is None


# --- questionnaires ----------------------------------------------------------------------


def uploaded(text: str | bytes) -> set[Code]:
    return {code for _, code in problems_of(EditorInput(uploaded_questionnaire=text))}


def nested(depth: int) -> dict[str, Any]:
    """A questionnaire whose JSON is `depth` levels deep (groups in groups)."""
    item: dict[str, Any] = {"linkId": "q", "type": "boolean", "text": "?"}
    levels = 3  # the questionnaire, its item list, the item
    while levels + 2 <= depth:
        item = {"linkId": f"g{levels}", "type": "group", "item": [item]}
        levels += 2
    return {"resourceType": "Questionnaire", "url": "urn:example:deep", "item": [item]}


def depth_of(value: Any) -> int:
    if isinstance(value, dict):
        return 1 + max((depth_of(v) for v in value.values()), default=0)
    if isinstance(value, list):
        return 1 + max((depth_of(v) for v in value), default=0)
    return 0


def test_an_uploaded_questionnaire_goes_as_uploaded() -> None:
    plan = plan_of(EditorInput(uploaded_questionnaire=json.dumps(QUESTIONNAIRE)))
    assert plan.questionnaire == QUESTIONNAIRE  # a script in its text is text (shown escaped)


def test_a_shipped_questionnaire_goes_as_its_bokmal_json() -> None:
    for name in SHIPPED:
        plan = plan_of(
            EditorInput(
                schedule=(ScheduleRow("questionnaire", ("10:00",)),), shipped_questionnaire=name
            )
        )
        assert plan.questionnaire == shipped_questionnaire(name)
        assert plan.questionnaire["language"] == "nb"


QUESTIONNAIRES_REFUSED: list[tuple[str, str | bytes, Code]] = [
    ("not JSON", "{'resourceType': 'Questionnaire'", Code.QUESTIONNAIRE_MALFORMED),
    ("NaN", '{"resourceType": "Questionnaire", "x": NaN}', Code.QUESTIONNAIRE_MALFORMED),
    ("huge number", '{"x": 1e999}', Code.QUESTIONNAIRE_MALFORMED),
    ("lone surrogate", '{"x": "\\ud800"}', Code.QUESTIONNAIRE_MALFORMED),
    ("lone surrogate in text", '{"x": "\ud800"}', Code.QUESTIONNAIRE_MALFORMED),
    ("not UTF-8", b'{"x": "\xff"}', Code.QUESTIONNAIRE_MALFORMED),
    ("a list", "[]", Code.QUESTIONNAIRE_REFUSED),
    ("a Patient", '{"resourceType": "Patient"}', Code.QUESTIONNAIRE_REFUSED),
    (
        "no items",
        '{"resourceType": "Questionnaire", "url": "urn:x", "item": []}',
        Code.QUESTIONNAIRE_REFUSED,
    ),
    (
        "an item type the screen cannot ask",
        json.dumps({**QUESTIONNAIRE, "item": [{"linkId": "a", "type": "attachment", "text": "?"}]}),
        Code.QUESTIONNAIRE_REFUSED,
    ),
    (
        "an item type that crashes the hub's reader (TypeError)",
        json.dumps({**QUESTIONNAIRE, "item": [{"linkId": "a", "type": ["boolean"]}]}),
        Code.QUESTIONNAIRE_REFUSED,
    ),
    (
        "a value set that crashes the hub's reader (AttributeError)",
        json.dumps(
            {
                **QUESTIONNAIRE,
                "contained": [{"resourceType": "ValueSet", "id": "v", "compose": []}],
                "item": [{"linkId": "a", "type": "choice", "answerValueSet": "#v"}],
            }
        ),
        Code.QUESTIONNAIRE_REFUSED,
    ),
    (
        "a changed copy of a shipped one, under its url",
        json.dumps({**QUESTIONNAIRE, "url": "urn:dho:questionnaire:copd-daily"}),
        Code.QUESTIONNAIRE_SHIPPED_URL,
    ),
    ("deep", "[" * 100_000 + "]" * 100_000, Code.QUESTIONNAIRE_TOO_DEEP),
    ("deep and large", "[" * 200_000 + "]" * 200_000, Code.QUESTIONNAIRE_TOO_LARGE),
    ("deep objects", '{"a":' * 1000 + "1" + "}" * 1000, Code.QUESTIONNAIRE_TOO_DEEP),
    (
        "large",
        json.dumps({**QUESTIONNAIRE, "description": "x" * MAX_QUESTIONNAIRE_BYTES}),
        Code.QUESTIONNAIRE_TOO_LARGE,
    ),
    (
        "large in bytes, not in characters",
        json.dumps(
            {**QUESTIONNAIRE, "description": "ø" * (MAX_QUESTIONNAIRE_BYTES // 2)},
            ensure_ascii=False,
        ),
        Code.QUESTIONNAIRE_TOO_LARGE,
    ),
]


@pytest.mark.parametrize(
    ("case", "text", "code"), QUESTIONNAIRES_REFUSED, ids=[c[0] for c in QUESTIONNAIRES_REFUSED]
)
def test_questionnaires_refused(case: str, text: str | bytes, code: Code) -> None:
    assert uploaded(text) == {code}


def test_questionnaire_depth_limit_is_the_downlink_s() -> None:
    deepest = nested(MAX_QUESTIONNAIRE_DEPTH)
    assert depth_of(deepest) in (MAX_QUESTIONNAIRE_DEPTH, MAX_QUESTIONNAIRE_DEPTH - 1)
    plan = plan_of(EditorInput(uploaded_questionnaire=json.dumps(deepest)))
    assert plan.questionnaire == deepest
    too_deep = nested(MAX_QUESTIONNAIRE_DEPTH + 2)
    assert depth_of(too_deep) > MAX_QUESTIONNAIRE_DEPTH
    assert uploaded(json.dumps(too_deep)) == {Code.QUESTIONNAIRE_TOO_DEEP}


def test_a_questionnaire_just_under_the_size_limit_is_sent() -> None:
    text = json.dumps({**QUESTIONNAIRE, "description": ""})
    padded = json.dumps(
        {**QUESTIONNAIRE, "description": "x" * (MAX_QUESTIONNAIRE_BYTES - len(text))}
    )
    assert len(padded.encode()) == MAX_QUESTIONNAIRE_BYTES
    assert plan_of(EditorInput(uploaded_questionnaire=padded)).questionnaire is not None


# --- the other way: the plan the hub holds, in the editor --------------------------------

FULL = EditorInput(
    schedule=(
        ScheduleRow("blood_pressure", ("08:00", "20:00")),
        ScheduleRow("questionnaire", ("10:00",)),
        ScheduleRow("glucose", ("07:30",)),
    ),
    limits=(
        LimitRow("blood_pressure", "systolic", "90", "180"),
        LimitRow("spo2", "spo2", "90", ""),
        LimitRow("glucose", "glucose_concentration", "4", "15.3"),
        LimitRow("temperature", "temperature", "35.1", "38.3"),
        LimitRow("weight", "weight", "", "99.9"),
    ),
    shipped_questionnaire="heart-failure-daily",
    centre_phone="+47 55 00 00 00",
)


@pytest.mark.parametrize(
    "given",
    [
        FULL,
        EditorInput(),
        EditorInput(uploaded_questionnaire=json.dumps(QUESTIONNAIRE)),
        EditorInput(limits=(LimitRow("glucose", "glucose_concentration", "0.1", "199.99"),)),
    ],
)
def test_a_plan_round_trips_through_the_editor(given: EditorInput) -> None:
    plan = plan_of(given)
    again = initial_values(plan)
    assert plan_of(again) == plan
    assert initial_values(plan_of(again)) == again


def test_the_editor_shows_what_the_nurse_typed() -> None:
    assert initial_values(plan_of(FULL)) == FULL


def test_a_hand_written_plan_shows_its_typos_in_the_editor() -> None:
    """The plan the issue's typos made, as the hub holds it: the editor shows every typo."""
    held = CarePlan(
        schedule=(ScheduledMeasurement(kind="blodtrykk", times=("25:99",)),),
        thresholds={"blood_presure": {"systolc": Limit(max=180)}},
        centre_phone="ring oss",
    )
    assert problems_of(initial_values(held)) == {
        (("schedule", 0, "kind"), Code.UNKNOWN_KIND),
        (("schedule", 0, "times", 0), Code.BAD_TIME),
        (("limits", 0, "kind"), Code.UNKNOWN_KIND),
        (("centre_phone",), Code.BAD_PHONE),
    }


@hypothesis_settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.builds(
            ScheduleRow,
            st.sampled_from([*SCHEDULE_KINDS, "blodtrykk", "", "<b>"]) | st.text(max_size=12),
            st.lists(
                st.sampled_from(["00:00", "23:59", "24:00", "8.00", "25:99", ""])
                | st.text(max_size=8),
                max_size=5,
            ).map(tuple),
        ),
        max_size=4,
    ).map(tuple),
    st.lists(
        st.builds(
            LimitRow,
            st.sampled_from([*LIMIT_VALUES, "questionnaire", ""]) | st.text(max_size=8),
            st.sampled_from(sorted({n for v in LIMIT_VALUES.values() for n in v}))
            | st.text(max_size=8),
            st.sampled_from(["", "NaN", "inf", "1e308", "90", "35,5", "-0"])
            | st.decimals(allow_nan=True).map(str)
            | st.floats().map(str)
            | st.text(max_size=8),
            st.sampled_from(["", "180", "0.5", "650"]) | st.floats().map(str) | st.text(max_size=8),
        ),
        max_size=4,
    ).map(tuple),
    st.sampled_from(["", *SHIPPED, "kols"]) | st.text(max_size=8),
    st.sampled_from(["", json.dumps(QUESTIONNAIRE), "{", "[]"])
    | st.text(max_size=40)
    | st.binary(max_size=40),
    st.sampled_from(["", "55 00 00 00", "+47 412 34 567"]) | st.text(max_size=20),
)
def test_whatever_comes_in_a_plan_the_hub_takes_or_problems(
    schedule: tuple[ScheduleRow, ...],
    limits: tuple[LimitRow, ...],
    shipped: str,
    upload: str | bytes,
    phone: str,
) -> None:
    result = check_plan(EditorInput(schedule, limits, shipped, upload, phone))
    if isinstance(result, CarePlan):
        doc = documents.Document("care_plan", "hub-0001", 7, "2026-12-02T12:00:00+00:00", result)
        documents.check_sendable(doc)  # raises EnvelopeError for what a hub refuses
        assert documents.stored_document("care_plan", json.loads(doc.body())["content"]) == result
        assert plan_of(initial_values(result)) == result
    else:
        assert result and all(isinstance(p, Problem) for p in result)
        assert all(len(str(v)) <= 200 for p in result for v in p.params.values())


# --- the forms ---------------------------------------------------------------------------


def management(prefix: str, total: int, initial: int = 0) -> dict[str, str]:
    return {
        f"{prefix}-TOTAL_FORMS": str(total),
        f"{prefix}-INITIAL_FORMS": str(initial),
        f"{prefix}-MIN_NUM_FORMS": "0",
        f"{prefix}-MAX_NUM_FORMS": "1000",
    }


def post(**fields: str) -> dict[str, str]:
    return {**management("schedule", 2), **management("limits", 3), **fields}


@pytest.fixture(autouse=True)
def bokmal() -> Any:
    with translation.override("nb"):
        yield


def test_the_form_makes_the_plan() -> None:
    editor = CarePlanEditor(
        post(
            **{
                "schedule-0-kind": "blood_pressure",
                "schedule-0-times": "20:00, 8.00",
                "limits-0-measure": "blood_pressure.systolic",
                "limits-0-min": "90",
                "limits-0-max": "180",
                "limits-1-measure": "temperature.temperature",
                "limits-1-max": "38,5",
                "questionnaire": "copd-daily",
                "centre_phone": "55 00 00 00",
            }
        )
    )
    assert editor.is_valid(), (editor.main.errors, editor.schedule.errors, editor.limits.errors)
    assert editor.plan == CarePlan(
        schedule=(ScheduledMeasurement(kind="blood_pressure", times=("08:00", "20:00")),),
        thresholds={
            "blood_pressure": {"systolic": Limit(min=90, max=180)},
            "temperature": {"temperature": Limit(max=38.5)},
        },
        questionnaire=shipped_questionnaire("copd-daily"),
        centre_phone="+47 55 00 00 00",
    )


def test_the_issue_s_typos_in_the_form_each_on_its_field() -> None:
    editor = CarePlanEditor(
        post(
            **{
                "schedule-0-kind": "blodtrykk",
                "schedule-0-times": "25:99",
                "limits-0-measure": "blood_presure.systolc",
                "limits-0-max": "180",
                "limits-1-measure": "blood_pressure.systolc",
                "limits-1-max": "180",
            }
        )
    )
    assert not editor.is_valid() and editor.plan is None
    assert editor.schedule.forms[0].has_error("kind", "unknown_kind")
    assert editor.schedule.forms[0].has_error("times", "bad_time")
    assert editor.limits.forms[0].has_error("measure", "unknown_kind")
    assert editor.limits.forms[1].has_error("measure", "unknown_value")
    assert "blodtrykk" in str(editor.schedule.forms[0].errors["kind"])
    # the kind by its label in the nurse's language, not by its code
    assert str(KIND_LABELS["blood_pressure"]) in str(editor.limits.forms[1].errors["measure"])


def test_a_script_in_every_field_is_refused_and_shown_escaped() -> None:
    script = "<script>alert(1)</script>"
    editor = CarePlanEditor(
        post(
            **{
                "schedule-0-kind": script,
                "schedule-0-times": script,
                "limits-0-measure": script,
                "limits-0-min": script,
                "questionnaire": script,
                "centre_phone": script,
            }
        )
    )
    assert not editor.is_valid()
    html = "".join(
        str(part) for part in (editor.main, *editor.schedule.forms, *editor.limits.forms)
    )
    assert "<script>" not in html
    assert "&lt;script&gt;" in html
    assert editor.main.has_error("centre_phone", "bad_phone")
    assert editor.main.has_error("questionnaire", "unknown_questionnaire")


def test_numbers_in_messages_are_written_the_norwegian_way() -> None:
    editor = CarePlanEditor(
        post(**{"limits-0-measure": "glucose.glucose_concentration", "limits-0-max": "500"})
    )
    assert not editor.is_valid()
    message = str(editor.limits.forms[0].errors["max"])
    assert "0,1" in message and "mmol/L" in message


def test_the_form_shows_the_plan_the_hub_holds() -> None:
    held = plan_of(FULL)
    editor = CarePlanEditor(held=held)
    html = str(editor.main) + "".join(str(f) for f in editor.schedule.forms)
    assert "55 00 00 00" in html
    assert 'value="08:00, 20:00"' in html
    assert editor.limits.forms[2].initial == {
        "measure": "glucose.glucose_concentration",
        "min": "4",
        "max": "15.3",
    }
    # the form as the browser sends it back, unchanged, is the same plan
    data = {**management("schedule", 3, 3), **management("limits", 5, 5)}
    for prefix, formset in (("schedule", editor.schedule), ("limits", editor.limits)):
        for n, form in enumerate(formset.forms[: int(data[f"{prefix}-TOTAL_FORMS"])]):
            data.update({f"{prefix}-{n}-{k}": str(v) for k, v in form.initial.items()})
    data.update({k: str(v) for k, v in editor.main.initial.items()})
    again = CarePlanEditor(data, held=held)
    assert again.is_valid(), (again.main.errors, again.schedule.errors, again.limits.errors)
    assert again.plan == held


def test_an_uploaded_file_too_large_is_refused_without_reading_it_whole() -> None:
    huge = SimpleUploadedFile("q.json", b"{" + b" " * (5 * MAX_QUESTIONNAIRE_BYTES) + b"}")
    editor = CarePlanEditor(
        post(questionnaire=UPLOADED), MultiValueDict({"questionnaire_file": [huge]})
    )
    assert not editor.is_valid()
    assert editor.main.has_error("questionnaire_file", "questionnaire_too_large")


def test_an_uploaded_file_is_the_questionnaire() -> None:
    upload = SimpleUploadedFile("q.json", json.dumps(QUESTIONNAIRE).encode())
    editor = CarePlanEditor(
        post(questionnaire=UPLOADED), MultiValueDict({"questionnaire_file": [upload]})
    )
    assert editor.is_valid(), editor.main.errors
    assert editor.plan is not None and editor.plan.questionnaire == QUESTIONNAIRE


def test_uploaded_chosen_but_nothing_given() -> None:
    editor = CarePlanEditor(post(questionnaire=UPLOADED))
    assert not editor.is_valid()
    assert editor.main.has_error("questionnaire_json", "no_upload")


@pytest.mark.parametrize("total", ["1000000", "x", ""])
def test_forged_management_forms_are_refused(total: str) -> None:
    data = post(**{"schedule-TOTAL_FORMS": total})
    editor = CarePlanEditor(data)
    assert not editor.is_valid() and editor.plan is None


def test_the_form_says_what_is_wrong_with_a_hand_written_plan_the_hub_holds() -> None:
    held = CarePlan(
        schedule=(ScheduledMeasurement(kind="blodtrykk", times=("08:00",)),),
        thresholds={"pulse_oximeter": {"spo2": Limit(min=90)}},
    )
    editor = CarePlanEditor(held=held)
    assert [e.code for e in editor.held_problems] == ["unknown_kind", "unknown_kind"]
    shown = " ".join(m for e in editor.held_problems for m in e.messages)
    assert "blodtrykk" in shown and "pulse_oximeter" in shown
    assert CarePlanEditor(held=plan_of(FULL)).held_problems == ()
