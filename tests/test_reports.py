"""centre/reports.py: adherence per ISO week (daylight-saving weeks, partial weeks at an episode's
ends, plan changes, invalid readings), time to acknowledge red items, patients active, and the
CSV download with its guard against formula injection. Tables of cases and hypothesis
properties."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from centre.errors import CentreError
from centre.reports import (
    FORMULA_STARTS,
    AcknowledgementWeek,
    AdherenceWeek,
    Done,
    Episode,
    Period,
    PlanVersion,
    RedItem,
    ReportError,
    acknowledgement_csv,
    acknowledgement_times,
    active_csv,
    adherence,
    adherence_csv,
    nearest_rank,
    patients_active,
    safe_cell,
    slots,
    team_adherence,
    to_csv,
    week_bounds,
    weeks,
)
from hub.core.care_plan import CarePlan, ScheduledMeasurement

OSLO = ZoneInfo("Europe/Oslo")


def oslo(month: int, day: int, hour: int = 0, minute: int = 0, year: int = 2026) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=OSLO)


def plan(**times: tuple[str, ...]) -> CarePlan:
    return CarePlan(schedule=tuple(ScheduledMeasurement(kind=k, times=t) for k, t in times.items()))


def episode(start: datetime, end: datetime | None = None, **times: tuple[str, ...]) -> Episode:
    return Episode("p1", start, end, (PlanVersion(start, plan(**times)),))


# 2026: ISO week 10 is Monday 2 March to Sunday 8 March; summer time begins Sunday 29 March
# (week 13) and ends Sunday 25 October (week 43).
W10 = Period(date(2026, 3, 2), date(2026, 3, 8))
W13 = Period(date(2026, 3, 23), date(2026, 3, 29))
W43 = Period(date(2026, 10, 19), date(2026, 10, 25))
LATER = oslo(12, 31)


def daily(first: datetime, days: int, kind: str = "blood_pressure", **kw: bool) -> list[Done]:
    return [Done("p1", kind, first + timedelta(days=n), **kw) for n in range(days)]


def only(rows: list[AdherenceWeek]) -> AdherenceWeek:
    assert len(rows) == 1
    return rows[0]


def test_a_week_fully_done() -> None:
    ep = episode(oslo(2, 1), blood_pressure=("08:00",), questionnaire=("09:00",))
    done = daily(oslo(3, 2, 8, 5), 7) + daily(oslo(3, 2, 9, 0), 7, "questionnaire_response")
    row = only(adherence(ep, done, W10, LATER))
    assert (row.measurements_scheduled, row.measurements_done) == (7, 7)
    assert (row.questionnaires_scheduled, row.questionnaires_done) == (7, 7)
    assert (row.days, row.share) == (7, 1.0)


@pytest.mark.parametrize(
    ("case", "done", "expected_done"),
    [
        ("none done", [], 0),
        ("every other day", [Done("p1", "weight", oslo(3, d, 7, 50)) for d in (2, 4, 6, 8)], 4),
        ("all marked invalid: still done", daily(oslo(3, 2, 8), 7, "weight", invalid=True), 7),
        ("3 h 1 min late: not this slot", daily(oslo(3, 2, 11, 1), 7, "weight"), 0),
        ("3 h late: still the slot", daily(oslo(3, 2, 11, 0), 7, "weight"), 7),
        ("another patient's", [Done("p2", "weight", oslo(3, 2, 8))], 0),
        ("another kind", daily(oslo(3, 2, 8), 7, "spo2"), 0),
        ("twice in one slot: once", [Done("p1", "weight", oslo(3, 2, 8, m)) for m in (0, 5)], 1),
    ],
)
def test_adherence_of_one_week(case: str, done: list[Done], expected_done: int) -> None:
    ep = episode(oslo(2, 1), weight=("08:00",))
    row = only(adherence(ep, done, W10, LATER))
    assert row.measurements_scheduled == 7, case
    assert row.measurements_done == expected_done, case
    assert row.share == pytest.approx(expected_done / 7)


def test_one_reading_counts_for_one_scheduled_time_only() -> None:
    ep = episode(oslo(2, 1), spo2=("08:00", "10:00"))
    row = only(
        adherence(
            ep,
            [Done("p1", "spo2", oslo(3, 2, 9))],
            Period(date(2026, 3, 2), date(2026, 3, 2)),
            LATER,
        )
    )
    assert (row.measurements_scheduled, row.measurements_done) == (2, 1)


@pytest.mark.parametrize(
    ("period", "at", "local_times"),
    [
        # 02:30 does not exist on 29 March: the slot falls at 03:30 summer time.
        (W13, "02:30", [(23 + n, "02:30") for n in range(6)] + [(29, "03:30")]),
        # 02:30 happens twice on 25 October: one slot, the first.
        (W43, "02:30", [(19 + n, "02:30") for n in range(7)]),
        (W13, "08:00", [(23 + n, "08:00") for n in range(7)]),
        (W43, "23:30", [(19 + n, "23:30") for n in range(7)]),
    ],
)
def test_daylight_saving_weeks_hold_seven_days_of_times(
    period: Period, at: str, local_times: list[tuple[int, str]]
) -> None:
    ep = episode(oslo(1, 1), temperature=(at,))
    start, end = week_bounds(weeks(period)[0])
    found = slots(ep, start, end)["temperature"]
    month = period.first.month
    assert [s.astimezone(OSLO).strftime("%d %H:%M") for s in found] == [
        f"{d:02d} {t}" for d, t in local_times
    ]
    assert all(s.astimezone(OSLO).month == month for s in found)
    done = [Done("p1", "temperature", s) for s in found]
    row = only(adherence(ep, done, period, LATER))
    assert (row.measurements_scheduled, row.measurements_done, row.days) == (7, 7, 7)


def test_the_autumn_week_is_169_hours_and_spring_167() -> None:
    for period, hours in ((W43, 169), (W13, 167), (W10, 168)):
        start, end = week_bounds(weeks(period)[0])
        assert (end - start) == timedelta(hours=hours)
        assert start.astimezone(OSLO).strftime("%a %H:%M") == "Mon 00:00"


@pytest.mark.parametrize(
    ("start", "end", "days", "scheduled"),
    [
        (oslo(3, 4, 12), None, 5, 4),  # from Wednesday noon: Thursday to Sunday at 08:00
        (oslo(3, 4, 8), None, 5, 5),  # from Wednesday 08:00: that time too
        (oslo(2, 1), oslo(3, 3, 10), 2, 2),  # ends Tuesday 10:00: Monday and Tuesday
        (oslo(2, 1), oslo(3, 3, 8), 2, 1),  # ends Tuesday 08:00: that time is after the end
        (oslo(3, 4, 12), oslo(3, 4, 13), 1, 0),  # one hour on Wednesday
        (oslo(3, 9), None, 0, 0),  # starts the week after
        (oslo(1, 1), oslo(3, 1), 0, 0),  # ended the day before
    ],
)
def test_partial_weeks_at_the_episodes_ends(
    start: datetime, end: datetime | None, days: int, scheduled: int
) -> None:
    ep = Episode("p1", start, end, (PlanVersion(oslo(1, 1), plan(weight=("08:00",))),))
    row = only(adherence(ep, [], W10, LATER))
    assert (row.days, row.measurements_scheduled) == (days, scheduled)
    assert row.share == (0.0 if scheduled else None)


def test_a_plan_change_applies_from_its_instant() -> None:
    versions = (
        PlanVersion(oslo(1, 1), plan(weight=("08:00",))),
        PlanVersion(oslo(3, 4), plan(weight=("08:00", "20:00"))),
    )
    row = only(adherence(Episode("p1", oslo(1, 1), None, versions), [], W10, LATER))
    assert row.measurements_scheduled == 2 + 5 * 2


def test_times_still_open_are_not_held_against_the_patient() -> None:
    ep = episode(oslo(2, 1), weight=("08:00",))
    as_of = oslo(3, 4, 9)  # Wednesday 09:00: its 08:00 can still be done until 11:00
    row = only(adherence(ep, daily(oslo(3, 2, 8), 2, "weight"), W10, as_of))
    assert (row.measurements_scheduled, row.measurements_done) == (2, 2)
    early = only(adherence(ep, daily(oslo(3, 2, 8), 3, "weight"), W10, as_of))
    assert (early.measurements_scheduled, early.measurements_done) == (3, 3)


@pytest.mark.parametrize(
    ("ep", "label"),
    [
        (Episode("p1", oslo(1, 1), None), "no plan"),
        (episode(oslo(1, 1)), "an empty schedule"),
        (episode(oslo(1, 1), weight=("8:00", "25:99", "")), "only times triage cannot use"),
    ],
)
def test_nothing_scheduled_is_no_share(ep: Episode, label: str) -> None:
    row = only(adherence(ep, daily(oslo(3, 2, 8), 7, "weight"), W10, LATER))
    assert (row.scheduled, row.done, row.share) == (0, 0, None), label


def test_one_row_per_week_of_the_period() -> None:
    period = Period(date(2026, 3, 4), date(2026, 3, 17))  # Wednesday of W10 to Tuesday of W12
    rows = adherence(episode(oslo(1, 1), weight=("08:00",)), [], period, LATER)
    assert [(r.week, r.days, r.measurements_scheduled) for r in rows] == [
        ((2026, 10), 5, 5),
        ((2026, 11), 7, 7),
        ((2026, 12), 2, 2),
    ]


def test_weeks_across_the_new_year() -> None:
    assert weeks(Period(date(2026, 12, 28), date(2027, 1, 10))) == [(2026, 53), (2027, 1)]


def test_team_adherence_sums_its_patients() -> None:
    a = AdherenceWeek("a", (2026, 10), 7, 7, 7, 7, 0)
    b = AdherenceWeek("b", (2026, 10), 3, 3, 0, 0, 0)
    (team,) = team_adherence("Team Nord", [a, b])
    assert (team.patient, team.days, team.scheduled, team.done) == ("Team Nord", 7, 17, 7)
    assert team.share == pytest.approx(7 / 17)


# --- acknowledgement times ---------------------------------------------------------------------
TUESDAY = datetime(2026, 3, 3, 10, tzinfo=OSLO)


def red(minutes: float | None, raised: datetime = TUESDAY, key: str = "k") -> RedItem:
    ack = None if minutes is None else raised + timedelta(minutes=minutes)
    return RedItem("p1", key, raised, ack)


@pytest.mark.parametrize(
    ("items", "expected"),
    [
        ([], (0, 0, 0, None, None)),
        ([red(10)], (1, 1, 0, 10.0, 10.0)),
        ([red(m) for m in range(10, 101, 10)], (10, 10, 0, 55.0, 90.0)),
        ([red(5), red(15), red(None), red(None)], (4, 2, 2, 10.0, 15.0)),
        ([red(None)], (1, 0, 1, None, None)),
        ([red(60 * 24 * 30)], (1, 0, 1, None, None)),  # acknowledged after as_of: still open
        ([red(-5)], (1, 1, 0, 0.0, 0.0)),  # a clock fault: never negative
        ([red(5, raised=oslo(3, 9, 10))], (0, 0, 0, None, None)),  # another week
        ([red(5, raised=oslo(3, 8, 23, 30))], (1, 1, 0, 5.0, 5.0)),  # Sunday 23:30 local: W10
    ],
)
def test_time_to_acknowledge(
    items: list[RedItem], expected: tuple[int, int, int, float | None, float | None]
) -> None:
    (row,) = acknowledgement_times(items, W10, as_of=oslo(3, 20))
    assert (row.raised, row.acknowledged, row.open, row.median_minutes, row.p90_minutes) == expected


def test_time_to_acknowledge_across_the_autumn_change_is_real_time() -> None:
    raised = datetime(2026, 10, 25, 2, 30, tzinfo=OSLO)  # summer time, the first 02:30
    acknowledged = datetime(2026, 10, 25, 2, 30, fold=1, tzinfo=OSLO)  # winter time
    items = [RedItem("p1", "k", raised, acknowledged)]
    (row,) = acknowledgement_times(items, W43, as_of=oslo(11, 1))
    assert row.median_minutes == 60.0


def test_a_red_item_raised_after_the_report_is_not_counted() -> None:
    (row,) = acknowledgement_times([red(5, raised=oslo(3, 6))], W10, as_of=oslo(3, 5))
    assert row.raised == 0


@pytest.mark.parametrize(
    ("values", "share", "expected"),
    [
        ([1.0], 0.9, 1.0),
        ([1.0, 2.0], 0.9, 2.0),
        ([3.0, 1.0, 2.0], 0.5, 2.0),
        ([5.0] * 20, 0.9, 5.0),
    ],
)
def test_nearest_rank(values: list[float], share: float, expected: float) -> None:
    assert nearest_rank(values, share) == expected


def test_a_percentile_of_nothing_is_a_report_error() -> None:
    with pytest.raises(ReportError) as raised:
        nearest_rank([], 0.9)
    assert isinstance(raised.value, CentreError)


# --- patients active ---------------------------------------------------------------------------
def test_patients_active_per_week() -> None:
    episodes = [
        Episode("a", oslo(1, 1), None),
        Episode("b", oslo(3, 8, 23), oslo(3, 10)),  # one hour of W10, two days of W11
        Episode("c", oslo(1, 1), oslo(3, 2)),  # ended at the start of W10
    ]
    done = [Done("a", "weight", oslo(3, 3, 8)), Done("b", "weight", oslo(3, 9, 8))]
    rows = patients_active(episodes, done, Period(date(2026, 3, 2), date(2026, 3, 15)))
    assert [(r.week, r.enrolled, r.measuring) for r in rows] == [
        ((2026, 10), 2, 1),
        ((2026, 11), 2, 1),
    ]


# --- input errors ------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "make",
    [
        lambda: Period(date(2026, 3, 2), date(2026, 3, 1)),
        lambda: Episode("p", oslo(3, 2), oslo(3, 1)),
        lambda: Episode("p", datetime(2026, 3, 2), None),
        lambda: Done("p", "weight", datetime(2026, 3, 2)),
        lambda: RedItem("p", "k", oslo(3, 2), datetime(2026, 3, 2)),
        lambda: adherence(Episode("p", oslo(3, 2), None), [], W10, datetime(2026, 3, 2)),
    ],
)
def test_wrong_inputs_are_report_errors(make: Callable[[], object]) -> None:
    with pytest.raises(ReportError):
        make()


# --- CSV ---------------------------------------------------------------------------------------
def parse(text: str) -> list[list[str]]:
    return list(csv.reader(io.StringIO(text)))


@pytest.mark.parametrize(
    ("cell", "written"),
    [
        ("=SUM(A1:A9)", "'=SUM(A1:A9)"),
        ("+47 99999999", "'+47 99999999"),
        ("-2+3", "'-2+3"),
        ("@cmd", "'@cmd"),
        ("\t=1", "'\t=1"),
        ("Kari Nordmann", "Kari Nordmann"),
        ("<script>alert(1)</script>", "<script>alert(1)</script>"),
        ('a,b\n"c"', 'a,b\n"c"'),
        ("", ""),
        (None, ""),
        (7, "7"),
        (0.8571428, "0.857"),
        (1.0, "1"),
        (0.0, "0"),
        (float("nan"), ""),
    ],
)
def test_csv_cells(cell: str | int | float | None, written: str) -> None:
    assert safe_cell(cell) == written
    assert parse(to_csv(["h"], [[cell]])) == [["h"], [written]]


def test_adherence_csv_has_a_header_and_a_row_per_patient_week() -> None:
    rows = [
        AdherenceWeek('=HYPERLINK("http://x")', (2026, 10), 7, 7, 6, 7, 7),
        AdherenceWeek("Ola", (2026, 11), 3, 0, 0, 0, 0),
    ]
    assert parse(adherence_csv(rows)) == [
        [
            "patient",
            "week",
            "days",
            "measurements_scheduled",
            "measurements_done",
            "questionnaires_scheduled",
            "questionnaires_done",
            "share_done",
        ],
        ['\'=HYPERLINK("http://x")', "2026-W10", "7", "7", "6", "7", "7", "0.929"],
        ["Ola", "2026-W11", "3", "0", "0", "0", "0", ""],
    ]


def test_acknowledgement_and_active_csv() -> None:
    ack = [AcknowledgementWeek((2026, 9), 3, 2, 1, 12.5, 20.0)]
    assert parse(acknowledgement_csv(ack))[1] == ["2026-W09", "3", "2", "1", "12.5", "20"]
    assert parse(acknowledgement_csv([])) == [
        ["week", "red_items", "acknowledged", "open", "median_minutes", "p90_minutes"]
    ]
    rows = patients_active([], [], W10)
    assert parse(active_csv(rows)) == [
        ["week", "patients_enrolled", "patients_measuring"],
        ["2026-W10", "0", "0"],
    ]


# --- properties --------------------------------------------------------------------------------
HHMM = st.builds(
    lambda h, m: f"{h:02d}:{m:02d}", st.integers(0, 23), st.sampled_from([0, 15, 30, 45])
)
KINDS = st.sampled_from(["weight", "spo2", "questionnaire"])
START = datetime(2026, 3, 20, tzinfo=UTC)  # the spring change inside the range
MOMENTS = st.integers(0, 21 * 24 * 60).map(lambda m: START + timedelta(minutes=m))


@settings(max_examples=60, deadline=None)
@given(
    schedule=st.dictionaries(KINDS, st.lists(HHMM, max_size=4).map(tuple), max_size=3),
    done=st.lists(st.tuples(KINDS, MOMENTS, st.booleans()), max_size=40),
    start=MOMENTS,
    length=st.one_of(st.none(), st.integers(0, 21 * 24 * 60)),
    as_of=MOMENTS,
)
def test_adherence_is_a_share(
    schedule: dict[str, tuple[str, ...]],
    done: list[tuple[str, datetime, bool]],
    start: datetime,
    length: int | None,
    as_of: datetime,
) -> None:
    end = None if length is None else start + timedelta(minutes=length)
    ep = Episode("p1", start, end, (PlanVersion(START, plan(**schedule)),))
    items = [
        Done("p1", "questionnaire_response" if k == "questionnaire" else k, at, invalid)
        for k, at, invalid in done
    ]
    period = Period(date(2026, 3, 16), date(2026, 4, 12))
    rows = adherence(ep, items, period, as_of)
    assert [r.week for r in rows] == weeks(period)
    for row in rows:
        assert 0 <= row.measurements_done <= row.measurements_scheduled
        assert 0 <= row.questionnaires_done <= row.questionnaires_scheduled
        assert row.share is None or 0.0 <= row.share <= 1.0
        assert 0 <= row.days <= 7
        if row.days == 0:
            assert row.scheduled == 0
    # Marking every reading invalid changes nothing: invalid ones count as done.
    flipped = [Done(d.patient, d.kind, d.at, not d.invalid) for d in items]
    assert adherence(ep, flipped, period, as_of) == rows
    # One more reading never lowers what is done.
    more = adherence(ep, [*items, Done("p1", "weight", as_of)], period, as_of)
    assert sum(r.done for r in more) >= sum(r.done for r in rows)


@settings(max_examples=60, deadline=None)
@given(
    acks=st.lists(
        st.tuples(MOMENTS, st.one_of(st.none(), st.integers(-60, 7 * 24 * 60))), max_size=30
    ),
    as_of=MOMENTS,
)
def test_acknowledgement_figures_hold_together(
    acks: list[tuple[datetime, int | None]], as_of: datetime
) -> None:
    items = [
        RedItem("p", str(n), at, None if m is None else at + timedelta(minutes=m))
        for n, (at, m) in enumerate(acks)
    ]
    for row in acknowledgement_times(items, Period(date(2026, 3, 16), date(2026, 4, 12)), as_of):
        assert row.raised == row.acknowledged + row.open
        if row.acknowledged:
            assert row.median_minutes is not None and row.p90_minutes is not None
            assert row.median_minutes >= 0
            assert row.p90_minutes >= 0
        else:
            assert row.median_minutes is None and row.p90_minutes is None


@settings(max_examples=100, deadline=None)
@given(cells=st.lists(st.text(max_size=30), min_size=1, max_size=8))
def test_no_csv_cell_starts_a_formula(cells: list[str]) -> None:
    (row,) = parse(to_csv(["h"] * len(cells), [cells]))[1:]
    for written, cell in zip(row, cells, strict=True):
        assert not written.startswith(FORMULA_STARTS)
        assert written in (cell, "'" + cell)
