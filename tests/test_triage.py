"""The worklist's triage rules (centre/triage.py): tables of cases over plain data, and a few
properties. No Django, no database: the rules are pure functions."""

from __future__ import annotations

import random
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from centre.triage import (
    OSLO,
    Acknowledged,
    HubState,
    Item,
    PatientData,
    QuestionnaireResult,
    Reading,
    Rules,
    State,
    Summary,
    bad_schedule_times,
    order_patients,
    scored_answers,
    summarise,
    triage,
)
from hub.core.care_plan import CarePlan, Limit, ScheduledMeasurement
from hub.core.outcome import Outcome


def local(text: str) -> datetime:
    """'2026-06-10 08:00' in Europe/Oslo."""
    return datetime.fromisoformat(text).replace(tzinfo=OSLO)


NOW = local("2026-06-10 12:00")
TODAY = local("2026-06-10 00:00")
PLAN = CarePlan(
    schedule=(ScheduledMeasurement(kind="blood_pressure", times=("08:00",)),),
    thresholds={
        "blood_pressure": {"systolic": Limit(min=90, max=180)},
        "spo2": {"spo2": Limit(min=90)},
    },
)


def bp(
    systolic: float,
    at: str = "2026-06-10 08:00",
    seq: int = 1,
    outcome: Any = "ok",
    unit: str | None = None,
    **kw: Any,
) -> Reading:
    values: dict[str, Any] = {"systolic": systolic, "diastolic": 60.0 if unit is None else 8.0}
    if unit is not None:
        values["unit"] = unit
    when = local(at)
    return Reading("blood_pressure", seq, values, outcome, when, kw.pop("received_at", when), **kw)


def states(items: tuple[Item, ...]) -> list[tuple[State, str | None]]:
    return [(item.state, item.kind) for item in items]


# -- red and yellow ------------------------------------------------------------------------

RED = ("red", "blood_pressure")
YELLOW = ("yellow", "blood_pressure")


@pytest.mark.parametrize(
    ("reading", "plan", "ack", "expected"),
    [
        pytest.param(bp(181), PLAN, (), [RED], id="above max"),
        pytest.param(bp(180), PLAN, (), [], id="exactly at max is inside"),
        pytest.param(bp(90), PLAN, (), [], id="exactly at min is inside"),
        pytest.param(bp(89), PLAN, (), [RED], id="below min"),
        # 24.5 kPa is 183.8 mmHg: above the 180 mmHg limit.
        pytest.param(bp(24.5, unit="kPa"), PLAN, (), [RED], id="kPa cuff above mmHg max"),
        # 17.1 kPa is 128 mmHg: the number is below 90, the pressure is not.
        pytest.param(bp(17.1, unit="kPa"), PLAN, (), [], id="kPa cuff inside mmHg limits"),
        # 23.99 kPa is 179.94 mmHg and 24.0 kPa 180.01 mmHg: the limit is compared in mmHg.
        pytest.param(bp(23.99, unit="kPa"), PLAN, (), [], id="kPa cuff just under 180 mmHg"),
        pytest.param(bp(24.0, unit="kPa"), PLAN, (), [RED], id="kPa cuff just over 180 mmHg"),
        pytest.param(bp(250, outcome="failed"), PLAN, (), [YELLOW], id="failed is never red"),
        pytest.param(bp(120, outcome="flagged"), PLAN, (), [YELLOW], id="flagged inside"),
        pytest.param(bp(200, outcome="flagged"), PLAN, (), [RED], id="flagged and outside: red"),
        pytest.param(bp(200, invalid=True), PLAN, (), [], id="invalid raises nothing"),
        pytest.param(bp(200, outcome="failed", invalid=True), PLAN, (), [], id="invalid failed"),
        pytest.param(bp(200), PLAN, (1,), [], id="acknowledged red is gone"),
        pytest.param(bp(120, outcome="failed"), PLAN, (1,), [], id="acknowledged yellow gone"),
        pytest.param(bp(200), PLAN, (2,), [RED], id="another seq acknowledged"),
        pytest.param(bp(250), None, (), [], id="no care plan: no red from limits"),
        pytest.param(bp(120, outcome="flagged"), None, (), [YELLOW], id="no plan: yellow"),
    ],
)
def test_red_and_yellow(
    reading: Reading,
    plan: CarePlan | None,
    ack: tuple[int, ...],
    expected: list[tuple[State, str | None]],
) -> None:
    patient = PatientData(
        readings=(reading,),
        plan=plan,
        plan_since=TODAY,
        acknowledged=Acknowledged(seqs=frozenset(ack)),
    )
    assert states(triage(patient, NOW)) == expected


def test_a_red_item_names_its_readings_problems_and_oldest_time() -> None:
    readings = (
        bp(200, at="2026-06-10 09:00", seq=7),
        bp(190, at="2026-06-10 08:00", seq=5),
        bp(70, at="2026-06-10 08:30", seq=6),
    )
    rules = Rules(odd_time=timedelta(hours=4))
    patient = PatientData(readings=readings, plan=PLAN, plan_since=TODAY)
    (item,) = triage(patient, NOW, rules=rules)
    assert item.state == "red" and item.count == 3
    assert item.seqs == (5, 6, 7)  # oldest first
    assert item.since == local("2026-06-10 08:00")
    assert item.reasons == ("systolic_above_care_plan", "systolic_below_care_plan")


def test_spo2_limit_is_read_from_its_own_kind() -> None:
    reading = Reading("spo2", 3, {"spo2": 88.0}, "ok", local("2026-06-10 09:00"), NOW)
    assert states(triage(PatientData(readings=(reading,), plan=PLAN, plan_since=NOW), NOW)) == [
        ("red", "spo2")  # spo2 is not scheduled: no odd time, no missing
    ]


# -- questionnaires --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("score", "ack", "expected"),
    [
        (5.0, (), [("red", "questionnaire")]),
        (4.0, (), []),  # at the threshold: not over it
        (3.0, (), []),
        (5.0, ("questionnaire:a1",), []),
        (5.0, ("questionnaire:other",), [("red", "questionnaire")]),
    ],
)
def test_questionnaire_score_over_threshold_is_red(
    score: float, ack: tuple[str, ...], expected: list[tuple[State, str | None]]
) -> None:
    result = QuestionnaireResult("a1", score, 4.0, local("2026-06-10 09:00"))
    patient = PatientData(questionnaires=(result,), acknowledged=Acknowledged(keys=frozenset(ack)))
    items = triage(patient, NOW)
    assert states(items) == expected
    if items:
        assert items[0].keys == ("questionnaire:a1",) and items[0].reasons == ("score_5_above_4",)


def answered(seq: int, score: object, invalid: bool = False) -> Reading:
    """A questionnaire answer as the worklist loads it: kind "questionnaire", the
    QuestionnaireResponse as its values, the score in the hub engine's extension."""
    extension = [{"url": "urn:dho:questionnaire-total-score", "valueDecimal": score}]
    at = local("2026-06-10 09:00")
    response = {"resourceType": "QuestionnaireResponse", "extension": extension}
    return Reading("questionnaire", seq, response, "ok", at, at, invalid=invalid)


SCORE_PLAN = CarePlan(thresholds={"questionnaire": {"score": Limit(max=4.0)}})


def test_an_answer_dated_in_the_future_counts_from_its_receipt() -> None:
    """A hub's clock (or a holder of its key) cannot date a red answer into the year 2196 and
    so sort it below newer reds: as for a measurement, the receipt stands in."""
    received = local("2026-06-10 09:00")
    answer = replace(answered(1, 9), measured_at=local("2196-06-10 09:00"), received_at=received)
    (result,) = scored_answers((answer,), SCORE_PLAN, NOW)
    assert result.answered_at == received
    (item,) = [i for i in triage(PatientData(questionnaires=(result,)), NOW)]
    assert item.since == received


@pytest.mark.parametrize(
    ("readings", "plan", "expected"),
    [
        ((answered(1, 5),), SCORE_PLAN, [("1", 5.0, 4.0)]),
        ((answered(1, 3.5), answered(2, 9)), SCORE_PLAN, [("1", 3.5, 4.0), ("2", 9.0, 4.0)]),
        ((answered(1, 5),), None, []),  # no plan: no limit
        ((answered(1, 5),), PLAN, []),  # a plan without a limit on the score
        ((answered(1, 5),), CarePlan(thresholds={"questionnaire": {"score": Limit(min=1)}}), []),
        ((answered(1, 5, invalid=True),), SCORE_PLAN, []),  # marked invalid: raises nothing
        ((answered(1, "5"),), SCORE_PLAN, []),  # a score that is not a number
        ((answered(1, True),), SCORE_PLAN, []),
        ((answered(1, float("inf")),), SCORE_PLAN, []),
        ((answered(1, float("nan")),), SCORE_PLAN, []),
        ((Reading("questionnaire", 1, {}, "ok", NOW, NOW),), SCORE_PLAN, []),  # no score
        ((bp(200),), SCORE_PLAN, []),  # a measurement is no answer
    ],
)
def test_answers_are_judged_by_the_plan_s_limit_on_the_score(
    readings: tuple[Reading, ...], plan: CarePlan | None, expected: list[tuple[str, float, float]]
) -> None:
    found = scored_answers(readings, plan, NOW)
    assert [(r.key, r.score, r.red_above) for r in found] == expected
    patient = PatientData(readings=readings, plan=plan, questionnaires=found)
    red = [i for i in triage(patient, NOW) if i.kind == "questionnaire"]
    assert len(red) == (1 if any(score > limit for _, score, limit in expected) else 0)


# -- missing ------------------------------------------------------------------------------


def plan_at(*times: str, kind: str = "blood_pressure") -> CarePlan:
    return CarePlan(schedule=(ScheduledMeasurement(kind=kind, times=times),))


@pytest.mark.parametrize(
    ("times", "readings", "now", "since", "expected"),
    [
        pytest.param(("08:00",), (), "2026-06-10 10:01", "2026-06-10 00:00",
                     ["2026-06-10_08:00"], id="past grace"),
        pytest.param(("08:00",), (), "2026-06-10 10:00", "2026-06-10 00:00",
                     [], id="exactly at the end of grace: not yet"),
        pytest.param(("08:00",), (), "2026-06-10 07:00", "2026-06-10 00:00",
                     [], id="not yet due"),
        pytest.param(("08:00",), (bp(120, at="2026-06-10 09:30"),), "2026-06-10 12:00",
                     "2026-06-10 00:00", [], id="taken within grace"),
        pytest.param(("08:00",), (bp(120, at="2026-06-10 11:00"),), "2026-06-10 12:00",
                     "2026-06-10 00:00", [], id="late but within odd time: done"),
        pytest.param(("08:00",), (bp(120, at="2026-06-10 11:01"),), "2026-06-10 12:00",
                     "2026-06-10 00:00", ["2026-06-10_08:00"], id="too late counts for nothing"),
        pytest.param(("08:00",), (bp(120, at="2026-06-10 05:00"),), "2026-06-10 12:00",
                     "2026-06-10 00:00", [], id="early within odd time: done"),
        pytest.param(("08:00",), (bp(250, at="2026-06-10 08:05", invalid=True),),
                     "2026-06-10 12:00", "2026-06-10 00:00", [], id="invalid counts as done"),
        pytest.param(("08:00",), (bp(120, at="2026-06-10 08:05", outcome="failed"),),
                     "2026-06-10 12:00", "2026-06-10 00:00", [], id="failed counts as done"),
        pytest.param(("08:00", "09:00"), (bp(120, at="2026-06-10 08:30"),), "2026-06-10 12:00",
                     "2026-06-10 00:00", ["2026-06-10_09:00"], id="one reading, one slot"),
        pytest.param(("08:00", "09:00"),
                     (bp(120, at="2026-06-10 08:40"), bp(120, at="2026-06-10 09:00", seq=2)),
                     "2026-06-10 12:00", "2026-06-10 00:00", [], id="late first, second on time"),
        pytest.param(("08:00",), (), "2026-06-10 12:00", "2026-06-10 09:00",
                     [], id="before the plan began: not expected"),
        pytest.param(("00:00",), (bp(120, at="2026-06-09 23:50"),), "2026-06-10 12:00",
                     "2026-06-09 12:00", [], id="midnight taken the evening before"),
        pytest.param(("00:00",), (), "2026-06-10 02:01", "2026-06-09 12:00",
                     ["2026-06-10_00:00"], id="midnight missed"),
        pytest.param(("00:00",), (), "2026-06-10 01:59", "2026-06-09 12:00",
                     [], id="midnight within grace"),
        # Spring forward: 2026-03-29 02:00 CET becomes 03:00 CEST; 02:30 is 03:30 that day.
        pytest.param(("02:30",), (), "2026-03-29 05:31", "2026-03-29 00:00",
                     ["2026-03-29_03:30"], id="DST spring: 02:30 is 03:30"),
        pytest.param(("02:30",), (), "2026-03-29 05:30", "2026-03-29 00:00",
                     [], id="DST spring: grace from 03:30"),
        pytest.param(("02:30",), (bp(120, at="2026-03-29 03:35"),), "2026-03-29 08:00",
                     "2026-03-29 00:00", [], id="DST spring: taken at 03:35"),
        pytest.param(("02:30",), (), "2026-03-30 05:00", "2026-03-28 12:00",
                     ["2026-03-29_03:30", "2026-03-30_02:30"], id="DST spring: around it"),
        # Fall back: 02:30 happens twice on 2026-10-25; it is expected once (the first).
        pytest.param(("02:30",), (), "2026-10-25 12:00", "2026-10-25 00:00",
                     ["2026-10-25_02:30"], id="DST autumn: once"),
    ],
)  # fmt: skip
def test_missing(
    times: tuple[str, ...],
    readings: tuple[Reading, ...],
    now: str,
    since: str,
    expected: list[str],
) -> None:
    patient = PatientData(readings=readings, plan=plan_at(*times), plan_since=local(since))
    missing = [item for item in triage(patient, local(now)) if item.state == "missing"]
    reasons = [reason for item in missing for reason in item.reasons]
    assert reasons == [f"expected_{slot}" for slot in expected]
    for item in missing:
        assert item.count == len(item.keys) == len(expected)


def test_missing_looks_back_one_window_and_is_acknowledged_per_time() -> None:
    patient = PatientData(plan=plan_at("08:00"))
    (item,) = triage(patient, NOW)
    assert item.state == "missing" and item.count == 7  # 06-04 .. 06-10; 06-03 08:00 is older
    assert item.since == local("2026-06-04 08:00")
    half = Acknowledged(keys=frozenset(item.keys[:3]))
    (rest,) = triage(replace(patient, acknowledged=half), NOW)
    assert rest.count == 4 and rest.since == local("2026-06-07 08:00")
    assert triage(replace(patient, acknowledged=Acknowledged(keys=frozenset(item.keys))), NOW) == ()


def test_no_care_plan_expects_nothing_and_nothing_is_odd() -> None:
    patient = PatientData(readings=(bp(120, at="2026-06-10 03:00"),))
    assert triage(patient, NOW) == ()


def test_a_time_that_is_not_hh_mm_is_named_and_expects_nothing() -> None:
    plan = plan_at("25:99", "8:00", "24:00", "08:00")
    assert bad_schedule_times(plan) == (
        "blood_pressure@25:99",
        "blood_pressure@8:00",
        "blood_pressure@24:00",
    )
    patient = PatientData(plan=plan, plan_since=TODAY)
    assert [item.reasons for item in triage(patient, NOW)] == [("expected_2026-06-10_08:00",)]


# -- odd time -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("times", "reading", "odd"),
    [
        pytest.param(("08:00",), bp(120, at="2026-06-10 11:00"), None, id="exactly 3 h: not odd"),
        pytest.param(("08:00",), bp(120, at="2026-06-10 11:01"), 181, id="3 h 1 min: odd"),
        pytest.param(("08:00",), bp(120, at="2026-06-10 04:59"), 181, id="early: odd"),
        pytest.param(("08:00", "20:00"), bp(120, at="2026-06-10 14:00"), 360, id="between"),
        pytest.param(("23:30",), bp(120, at="2026-06-10 02:00"), None, id="across midnight"),
        pytest.param(("08:00",), bp(120, at="2026-06-10 03:00", invalid=True), None,
                     id="invalid: never odd"),
        pytest.param(("08:00",), bp(120, at="2026-06-10 03:00"), 300, id="five hours early"),
        pytest.param(("08:00",), Reading("spo2", 1, {"spo2": 97.0}, "ok",
                     local("2026-06-10 03:00"), local("2026-06-10 03:00")), None,
                     id="a kind without a schedule is never odd"),
    ],
)  # fmt: skip
def test_odd_time(times: tuple[str, ...], reading: Reading, odd: int | None) -> None:
    patient = PatientData(readings=(reading,), plan=plan_at(*times), plan_since=NOW)
    found = [item for item in triage(patient, NOW) if item.state == "odd_time"]
    if odd is None:
        assert found == []
    else:
        (item,) = found
        assert item.reasons == (f"{odd}_minutes_from_schedule",) and item.seqs == (1,)


def test_odd_time_is_a_parameter() -> None:
    patient = PatientData(
        readings=(bp(120, at="2026-06-10 09:00"),), plan=plan_at("08:00"), plan_since=NOW
    )
    assert triage(patient, NOW) == ()
    rules = Rules(odd_time=timedelta(minutes=30))
    assert states(triage(patient, NOW, rules=rules)) == [("odd_time", "blood_pressure")]


# -- clock skew -----------------------------------------------------------------------------


def test_a_future_measured_at_is_taken_as_received() -> None:
    received = local("2026-06-10 08:10")
    skewed = bp(200, at="2026-06-10 23:00", received_at=received)
    patient = PatientData(readings=(skewed,), plan=PLAN, plan_since=TODAY)
    items = triage(patient, NOW)
    assert states(items) == [RED]  # not odd (23:00 would be), and the 08:00 slot is done
    assert items[0].since == received
    row = summarise("p1", patient, items, NOW)
    assert row.last_measured == received and row.last_delivered == received


def test_a_past_measured_at_is_kept() -> None:
    reading = bp(120, at="2026-06-10 08:00", received_at=local("2026-06-10 11:00"))
    row = summarise("p", PatientData(readings=(reading,)), (), NOW)
    assert row.last_measured == local("2026-06-10 08:00")
    assert row.last_delivered == local("2026-06-10 11:00")


def test_naive_times_are_refused() -> None:
    with pytest.raises(ValueError, match="no time zone"):
        Reading("spo2", 1, {}, "ok", datetime(2026, 6, 10, 8), NOW)
    with pytest.raises(ValueError, match="now has no time zone"):
        triage(PatientData(), datetime(2026, 6, 10, 8))


# -- the hub --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("hub", "ack", "expected"),
    [
        pytest.param(HubState(NOW - timedelta(hours=25)), (), ["hub_offline"], id="offline"),
        pytest.param(HubState(NOW - timedelta(hours=24)), (), [], id="exactly the limit"),
        pytest.param(HubState(None), (), [], id="never seen"),
        pytest.param(HubState(NOW, "near_full", NOW - timedelta(hours=1)), (),
                     ["outbox_filling"], id="outbox near full"),
        pytest.param(HubState(NOW - timedelta(days=2), "over_budget"), (),
                     ["hub_offline", "outbox_filling"], id="both"),
        pytest.param(HubState(NOW - timedelta(days=2)),
                     (f"hub_offline:{(NOW - timedelta(days=2)).astimezone(UTC).isoformat()}",),
                     [], id="offline acknowledged"),
        pytest.param(HubState(NOW, "near_full", local("2026-06-10 11:00")),
                     ("outbox:near_full:2026-06-10T09:00:00+00:00",), [], id="outbox acked"),
        pytest.param(HubState(NOW, "over_budget", local("2026-06-10 11:00")),
                     ("outbox:near_full:2026-06-10T09:00:00+00:00",), ["outbox_filling"],
                     id="a worse alarm alarms again"),
    ],
)  # fmt: skip
def test_hub_items(hub: HubState, ack: tuple[str, ...], expected: list[State]) -> None:
    patient = PatientData(hub=hub, acknowledged=Acknowledged(keys=frozenset(ack)))
    items = triage(patient, NOW)
    assert [item.state for item in items] == expected
    assert all(item.kind is None and item.count == 1 for item in items)


def test_offline_is_a_parameter_and_since_is_last_seen() -> None:
    seen = NOW - timedelta(hours=2)
    patient = PatientData(hub=HubState(seen))
    assert triage(patient, NOW) == ()
    (item,) = triage(patient, NOW, rules=Rules(hub_offline_after=timedelta(hours=1)))
    assert item.state == "hub_offline" and item.since == seen


# -- empty and summary ----------------------------------------------------------------------


def test_empty_patient() -> None:
    assert triage(PatientData(), NOW) == ()
    row = summarise("p", PatientData(), (), NOW)
    assert row == Summary("p", None, None, {}, None, None, ())


def test_summary_names_the_worst_and_counts_each_state() -> None:
    readings = (
        bp(120, at="2026-06-10 07:00", seq=1, outcome="flagged"),
        bp(200, at="2026-06-09 08:00", seq=2),
        bp(210, at="2026-06-10 08:00", seq=3),
        bp(120, at="2026-06-09 14:00", seq=4, outcome="failed"),
    )
    patient = PatientData(readings=readings, plan=PLAN, plan_since=local("2026-06-09 00:00"))
    items = triage(patient, NOW)
    assert states(items) == [RED, YELLOW, ("odd_time", "blood_pressure")]
    row = summarise("p", patient, items, NOW)
    assert row.worst == "red" and row.since == local("2026-06-09 08:00")
    assert row.counts == {"red": 2, "yellow": 2, "odd_time": 1}
    assert row.last_measured == local("2026-06-10 08:00")


# -- ordering -------------------------------------------------------------------------------


def row(pid: str, worst: State | None, since: str | None) -> Summary:
    return Summary(pid, worst, local(since) if since else None)


@pytest.mark.parametrize(
    ("rows", "expected"),
    [
        pytest.param(
            [row("a", "yellow", "2026-06-01 00:00"), row("b", "red", "2026-06-09 00:00")],
            ["b", "a"], id="red before an older yellow"),
        pytest.param(
            [row("a", "red", "2026-06-09 00:00"), row("b", "red", "2026-06-01 00:00")],
            ["b", "a"], id="oldest first"),
        pytest.param(
            [row("g", None, None), row("h", "outbox_filling", "2026-06-09 00:00"),
             row("o", "hub_offline", "2026-06-08 00:00"), row("t", "odd_time", "2026-06-10 00:00"),
             row("m", "missing", "2026-06-10 00:00"), row("y", "yellow", "2026-06-10 00:00"),
             row("r", "red", "2026-06-10 00:00")],
            ["r", "y", "m", "t", "o", "h", "g"], id="states in order; hub's by since"),
        pytest.param(
            [row("b", "red", "2026-06-09 00:00"), row("a", "red", "2026-06-09 00:00")],
            ["a", "b"], id="ties by patient"),
        pytest.param([], [], id="nobody"),
    ],
)  # fmt: skip
def test_order_patients(rows: list[Summary], expected: list[str]) -> None:
    assert [r.patient for r in order_patients(rows)] == expected


# -- properties -----------------------------------------------------------------------------

KINDS = ("blood_pressure", "spo2")
OUTCOMES: tuple[Outcome, ...] = ("ok", "flagged", "failed")
PROPERTY_PLAN = CarePlan(
    schedule=(
        ScheduledMeasurement(kind="blood_pressure", times=("00:00", "02:30", "08:00", "20:00")),
        ScheduledMeasurement(kind="spo2", times=("12:00",)),
    ),
    thresholds=PLAN.thresholds,
)
instants = st.datetimes(
    min_value=datetime(2026, 3, 20), max_value=datetime(2026, 4, 5), timezones=st.just(OSLO)
)


@st.composite
def readings(draw: st.DrawFn) -> tuple[Reading, ...]:
    out = []
    for seq in range(draw(st.integers(0, 8))):
        kind = draw(st.sampled_from(KINDS))
        value = draw(st.floats(40, 250))
        values = {"systolic": value} if kind == "blood_pressure" else {"spo2": value / 2.5}
        measured, received = draw(instants), draw(instants)
        outcome = draw(st.sampled_from(OUTCOMES))
        out.append(
            Reading(kind, seq, values, outcome, measured, received, invalid=draw(st.booleans()))
        )
    return tuple(out)


@st.composite
def patients(draw: st.DrawFn) -> PatientData:
    results = tuple(
        QuestionnaireResult(f"q{n}", draw(st.floats(0, 10)), 5.0, draw(instants))
        for n in range(draw(st.integers(0, 3)))
    )
    hub = draw(
        st.none()
        | st.builds(
            HubState,
            st.none() | instants,
            st.sampled_from((None, "near_full", "over_budget")),
            st.none() | instants,
        )
    )
    return PatientData(
        readings=draw(readings()),
        plan=draw(st.sampled_from((None, PROPERTY_PLAN))),
        plan_since=draw(st.none() | instants),
        questionnaires=results,
        hub=hub,
    )


@settings(max_examples=200, deadline=None)
@given(patients(), instants)
def test_acknowledging_every_item_leaves_none(patient: PatientData, now: datetime) -> None:
    items = triage(patient, now)
    for item in items:
        assert item.count == len(item.seqs) + len(item.keys) > 0
        invalid = {r.seq for r in patient.readings if r.invalid}
        failed = {r.seq for r in patient.readings if r.outcome == "failed"}
        assert not invalid & set(item.seqs)
        if item.state == "red":
            assert not failed & set(item.seqs)
    ack = Acknowledged(
        seqs=frozenset(s for item in items for s in item.seqs),
        keys=frozenset(k for item in items for k in item.keys),
    )
    assert triage(replace(patient, acknowledged=ack), now) == ()


@settings(max_examples=100, deadline=None)
@given(st.lists(patients(), max_size=6), instants, st.randoms(use_true_random=False))
def test_the_order_of_patients_is_total_and_ignores_input_order(
    data: list[PatientData], now: datetime, rnd: random.Random
) -> None:
    rows = [summarise(f"p{n}", p, triage(p, now), now) for n, p in enumerate(data)]
    ordered = order_patients(rows)
    shuffled = rows[:]
    rnd.shuffle(shuffled)
    assert order_patients(shuffled) == ordered
    ranks = [r.worst for r in ordered]
    worst_first = ["red", "yellow", "missing", "odd_time", "hub_offline", None]
    positions = [worst_first.index("hub_offline" if w == "outbox_filling" else w) for w in ranks]
    assert positions == sorted(positions)
