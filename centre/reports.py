"""The report figures for a team or a patient (issue 13, "Reports"): per ISO week, the share of
scheduled measurements and questionnaires done (adherence), the time from a red item to its
acknowledgement, and the patients active; and their CSV download.

Pure functions over plain data: no Django, no database, no clock. The web side loads the
episodes (with their care-plan versions), what was done, and the red items, passes the time the
report is made (`as_of`), and renders or downloads what comes back.

Weeks are ISO weeks of the local calendar (Europe/Oslo): Monday 00:00 local to the next Monday,
so a week with a daylight-saving change is 167 or 169 hours long and still holds seven days of
scheduled times.
"""

from __future__ import annotations

import csv
import io
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from statistics import median

from centre.errors import CentreError
from centre.triage import OSLO, Rules, scheduled_instant
from hub.core.care_plan import CarePlan


class ReportError(CentreError, ValueError):
    """A report cannot be made from these inputs, and why."""


# The schedule names the questionnaire "questionnaire"; its answers arrive as readings of kind
# "questionnaire_response" (hub/core/answers.py; hub/ui/today.py maps them the same way).
QUESTIONNAIRE = "questionnaire"
DONE_KIND: Mapping[str, str] = {"questionnaire_response": QUESTIONNAIRE}
_HHMM = re.compile(r"([01]\d|2[0-3]):([0-5]\d)")
# A reading counts for a scheduled time within this of it, as for triage's "missing" items, so
# a slot the worklist called missing is one the report counts as not done.
WINDOW = Rules().odd_time


def _aware(name: str, value: datetime | None) -> None:
    if value is not None and value.utcoffset() is None:
        raise ReportError(f"{name} has no time zone: {value.isoformat()}")


# --- input ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class PlanVersion:
    since: datetime  # in effect from this instant until the next version
    plan: CarePlan

    def __post_init__(self) -> None:
        _aware("since", self.since)


@dataclass(frozen=True)
class Episode:
    """One patient's care episode: measured from start to end (None: still running)."""

    patient: str
    start: datetime
    end: datetime | None
    plans: tuple[PlanVersion, ...] = ()

    def __post_init__(self) -> None:
        _aware("start", self.start)
        _aware("end", self.end)
        if self.end is not None and self.end < self.start:
            raise ReportError(f"the episode of {self.patient[:60]} ends before it starts")


@dataclass(frozen=True)
class Done:
    """A reading or a questionnaire answer: when it was measured or answered. One a nurse
    marked invalid still counts as done (the patient did it)."""

    patient: str
    kind: str
    at: datetime
    invalid: bool = False

    def __post_init__(self) -> None:
        _aware("at", self.at)


@dataclass(frozen=True)
class RedItem:
    patient: str
    key: str
    raised_at: datetime
    acknowledged_at: datetime | None = None

    def __post_init__(self) -> None:
        _aware("raised_at", self.raised_at)
        _aware("acknowledged_at", self.acknowledged_at)


@dataclass(frozen=True)
class Period:
    """Local calendar days, first and last included; the report covers their ISO weeks."""

    first: date
    last: date

    def __post_init__(self) -> None:
        if self.last < self.first:
            raise ReportError("the report's last day is before its first")


# --- weeks ---------------------------------------------------------------------------------
Week = tuple[int, int]  # ISO year, ISO week


def week_label(week: Week) -> str:
    return f"{week[0]}-W{week[1]:02d}"


def week_of(instant: datetime, tz: tzinfo = OSLO) -> Week:
    year, number, _ = instant.astimezone(tz).isocalendar()
    return (year, number)


def monday(week: Week) -> date:
    return date.fromisocalendar(week[0], week[1], 1)


def weeks(period: Period) -> list[Week]:
    first = period.first - timedelta(days=period.first.weekday())
    count = (period.last - first).days // 7 + 1
    mondays = (first + timedelta(weeks=n) for n in range(count))
    return [(d.isocalendar().year, d.isocalendar().week) for d in mondays]


def _midnight(day: date, tz: tzinfo) -> datetime:
    """Local midnight as a UTC instant: Python compares and subtracts two times of one tzinfo
    by their wall clocks, which is an hour wrong across a daylight-saving change."""
    return datetime.combine(day, time(0, 0), tzinfo=tz).astimezone(UTC)


def week_bounds(week: Week, tz: tzinfo = OSLO) -> tuple[datetime, datetime]:
    """Monday 00:00 local to the next Monday 00:00 local, as instants."""
    start = monday(week)
    return _midnight(start, tz), _midnight(start + timedelta(days=7), tz)


# --- scheduled times -----------------------------------------------------------------------
def _times(plan: CarePlan) -> dict[str, tuple[time, ...]]:
    """kind -> its local times; a time that is not HH:MM is left out, as triage does (the
    care-plan editor refuses it)."""
    out: dict[str, set[time]] = {}
    for entry in plan.schedule:
        for text in entry.times:
            if match := _HHMM.fullmatch(text):
                out.setdefault(entry.kind, set()).add(time(int(match[1]), int(match[2])))
    return {kind: tuple(sorted(found)) for kind, found in out.items()}


def slots(
    episode: Episode, start: datetime, end: datetime, tz: tzinfo = OSLO
) -> dict[str, list[datetime]]:
    """kind -> the scheduled instants in [start, end) and in the episode, each under the plan
    version in effect at that instant. A local time that does not exist on the spring-forward
    day falls an hour later; one that happens twice in autumn counts once (its first)."""
    lo = max(start, episode.start)
    hi = end if episode.end is None else min(end, episode.end)
    versions = sorted(episode.plans, key=lambda v: v.since)
    out: dict[str, set[datetime]] = {}
    for i, version in enumerate(versions):
        until = versions[i + 1].since if i + 1 < len(versions) else hi
        v_lo, v_hi = max(lo, version.since), min(hi, until)
        if v_lo >= v_hi:
            continue
        first, last = v_lo.astimezone(tz).date(), v_hi.astimezone(tz).date()
        days = [first + timedelta(days=n) for n in range((last - first).days + 1)]
        for kind, times in _times(version.plan).items():
            for day in days:
                for at in times:
                    instant = scheduled_instant(day, at, tz)
                    if v_lo <= instant < v_hi:
                        out.setdefault(kind, set()).add(instant)
    return {kind: sorted(found) for kind, found in out.items()}


def _matched(scheduled: Sequence[datetime], done: Sequence[datetime]) -> list[bool]:
    """Which scheduled instants were done: each in time order takes the earliest unused
    reading within WINDOW of it (triage's rule for missing measurements)."""
    taken, i, out = sorted(done), 0, []
    for slot in scheduled:
        while i < len(taken) and taken[i] < slot - WINDOW:
            i += 1
        if i < len(taken) and taken[i] <= slot + WINDOW:
            i += 1
            out.append(True)
        else:
            out.append(False)
    return out


# --- adherence -----------------------------------------------------------------------------
@dataclass(frozen=True)
class AdherenceWeek:
    patient: str  # or the team's name, for a team's sum
    week: Week
    days: int  # days of this week inside the episode and the period (7 but at its ends)
    measurements_scheduled: int
    measurements_done: int
    questionnaires_scheduled: int
    questionnaires_done: int

    @property
    def scheduled(self) -> int:
        return self.measurements_scheduled + self.questionnaires_scheduled

    @property
    def done(self) -> int:
        return self.measurements_done + self.questionnaires_done

    @property
    def share(self) -> float | None:
        """Done over scheduled; None for a week with nothing scheduled (not 0 %, not 100 %)."""
        return self.done / self.scheduled if self.scheduled else None


def _days_inside(week: Week, lo: datetime, hi: datetime, tz: tzinfo) -> int:
    days = 0
    for n in range(7):
        day = monday(week) + timedelta(days=n)
        start, end = _midnight(day, tz), _midnight(day + timedelta(days=1), tz)
        days += start < hi and lo < end
    return days


def adherence(
    episode: Episode,
    done: Iterable[Done],
    period: Period,
    as_of: datetime,
    tz: tzinfo = OSLO,
) -> list[AdherenceWeek]:
    """One row per ISO week of the period for this episode's patient. A scheduled time counts
    once it can no longer be done (WINDOW after it has passed `as_of`) or once it is done; a
    time still open is not held against the patient."""
    _aware("as_of", as_of)
    start = _midnight(period.first, tz)
    end = min(_midnight(period.last + timedelta(days=1), tz), as_of + WINDOW)
    found: dict[str, list[datetime]] = {}
    for item in done:
        if item.patient == episode.patient:
            found.setdefault(DONE_KIND.get(item.kind, item.kind), []).append(
                item.at.astimezone(UTC)
            )
    counts: dict[Week, list[int]] = {w: [0, 0, 0, 0] for w in weeks(period)}
    for kind, scheduled in slots(episode, start, end, tz).items():
        column = 2 if kind == QUESTIONNAIRE else 0
        for slot, was_done in zip(scheduled, _matched(scheduled, found.get(kind, [])), strict=True):
            if not was_done and slot + WINDOW > as_of:
                continue  # still open
            row = counts.setdefault(week_of(slot, tz), [0, 0, 0, 0])
            row[column] += 1
            row[column + 1] += was_done
    lo = max(start, episode.start)
    hi = _midnight(period.last + timedelta(days=1), tz)
    hi = hi if episode.end is None else min(hi, episode.end)
    return [
        AdherenceWeek(episode.patient, week, _days_inside(week, lo, hi, tz), *row)
        for week, row in sorted(counts.items())
    ]


def team_adherence(name: str, rows: Iterable[AdherenceWeek]) -> list[AdherenceWeek]:
    """The team's weeks: the sums of its patients' (so a patient with more scheduled times
    weighs more, as each measurement is one the nurse expected). `days` is the most of any."""
    sums: dict[Week, list[int]] = {}
    for row in rows:
        s = sums.setdefault(row.week, [0, 0, 0, 0, 0])
        s[0] = max(s[0], row.days)
        s[1] += row.measurements_scheduled
        s[2] += row.measurements_done
        s[3] += row.questionnaires_scheduled
        s[4] += row.questionnaires_done
    return [AdherenceWeek(name, week, *s) for week, s in sorted(sums.items())]


# --- acknowledgement times -----------------------------------------------------------------
@dataclass(frozen=True)
class AcknowledgementWeek:
    week: Week  # the week the red items were raised
    raised: int
    acknowledged: int
    open: int  # not acknowledged by as_of: counted apart, never in the times
    median_minutes: float | None
    p90_minutes: float | None


def nearest_rank(values: Sequence[float], share: float) -> float:
    """The nearest-rank percentile: a value that happened (no interpolation), the smallest
    with at least `share` of the values at or below it."""
    if not values:
        raise ReportError("a percentile of nothing")
    ordered = sorted(values)
    return ordered[max(0, math.ceil(share * len(ordered)) - 1)]


def acknowledgement_times(
    items: Iterable[RedItem], period: Period, as_of: datetime, tz: tzinfo = OSLO
) -> list[AcknowledgementWeek]:
    """Per ISO week of the period (by when the item was raised): how many red items, how many
    acknowledged by `as_of` and how fast (median and 90th percentile, minutes), how many
    still open. An acknowledgement before its item (a clock fault) counts as 0 minutes."""
    _aware("as_of", as_of)
    wanted = set(weeks(period))
    minutes: dict[Week, list[float]] = {w: [] for w in wanted}
    still_open: dict[Week, int] = dict.fromkeys(wanted, 0)
    for item in items:
        week = week_of(item.raised_at, tz)
        if week not in wanted or item.raised_at > as_of:
            continue
        if item.acknowledged_at is None or item.acknowledged_at > as_of:
            still_open[week] += 1
        else:
            # In UTC: a wall-clock difference is an hour off across a daylight-saving change.
            took = item.acknowledged_at.astimezone(UTC) - item.raised_at.astimezone(UTC)
            seconds = took.total_seconds()
            minutes[week].append(max(0.0, seconds) / 60)
    return [
        AcknowledgementWeek(
            week,
            len(minutes[week]) + still_open[week],
            len(minutes[week]),
            still_open[week],
            median(minutes[week]) if minutes[week] else None,
            nearest_rank(minutes[week], 0.9) if minutes[week] else None,
        )
        for week in sorted(wanted)
    ]


# --- patients active -----------------------------------------------------------------------
@dataclass(frozen=True)
class ActiveWeek:
    week: Week
    enrolled: int  # patients whose episode covers some of the week
    measuring: int  # of those, patients with at least one reading or answer in the week


def patients_active(
    episodes: Iterable[Episode], done: Iterable[Done], period: Period, tz: tzinfo = OSLO
) -> list[ActiveWeek]:
    episodes = list(episodes)
    by_week: dict[Week, set[str]] = {}
    for item in done:
        by_week.setdefault(week_of(item.at, tz), set()).add(item.patient)
    rows = []
    for week in weeks(period):
        lo, hi = week_bounds(week, tz)
        enrolled = {e.patient for e in episodes if e.start < hi and (e.end is None or e.end > lo)}
        rows.append(ActiveWeek(week, len(enrolled), len(enrolled & by_week.get(week, set()))))
    return rows


# --- CSV -----------------------------------------------------------------------------------
# A spreadsheet runs a cell that starts with one of these as a formula (OWASP, "CSV Injection"):
# such a cell gets a leading apostrophe, which shows it as text.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")

Cell = str | int | float | None


def safe_cell(value: Cell) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.3f}".rstrip("0").rstrip(".") if math.isfinite(value) else ""
    text = str(value)
    return "'" + text if text.startswith(FORMULA_STARTS) else text


def to_csv(header: Sequence[str], rows: Iterable[Sequence[Cell]]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow([safe_cell(h) for h in header])
    for row in rows:
        writer.writerow([safe_cell(cell) for cell in row])
    return out.getvalue()


ADHERENCE_HEADER = (
    "patient",
    "week",
    "days",
    "measurements_scheduled",
    "measurements_done",
    "questionnaires_scheduled",
    "questionnaires_done",
    "share_done",
)


def adherence_csv(rows: Iterable[AdherenceWeek]) -> str:
    return to_csv(
        ADHERENCE_HEADER,
        (
            (
                r.patient,
                week_label(r.week),
                r.days,
                r.measurements_scheduled,
                r.measurements_done,
                r.questionnaires_scheduled,
                r.questionnaires_done,
                r.share,
            )
            for r in rows
        ),
    )


ACKNOWLEDGEMENT_HEADER = (
    "week",
    "red_items",
    "acknowledged",
    "open",
    "median_minutes",
    "p90_minutes",
)


def acknowledgement_csv(rows: Iterable[AcknowledgementWeek]) -> str:
    return to_csv(
        ACKNOWLEDGEMENT_HEADER,
        (
            (
                week_label(r.week),
                r.raised,
                r.acknowledged,
                r.open,
                r.median_minutes,
                r.p90_minutes,
            )
            for r in rows
        ),
    )


ACTIVE_HEADER = ("week", "patients_enrolled", "patients_measuring")


def active_csv(rows: Iterable[ActiveWeek]) -> str:
    return to_csv(ACTIVE_HEADER, ((week_label(r.week), r.enrolled, r.measuring) for r in rows))
