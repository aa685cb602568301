"""The worklist's rules: which of a patient's readings, answers and hub events need a nurse, and
in what order the nurse sees the patients (issue 13, "The worklist").

Pure functions over plain data: no Django, no database, no clock. The web side loads a patient's
recent readings, care plan, questionnaire results, hub state and acknowledgements into the
dataclasses below, passes the time now, and renders what comes back.

The states, worst first:
- call_me: the patient pressed "Ring meg" on her screen and no nurse has answered yet. First,
  before red: she is waiting by the phone now, she asked for a person rather than a number,
  and the call that answers her also covers whatever her readings say (a red reading of hers
  shows on the same row);
- red: a value outside the patient's care-plan limits (in the limits' units: a kPa cuff's value
  is converted to mmHg first), or a questionnaire score over its threshold;
- yellow: a flagged or failed measurement (a failed one is never red: its values are a device
  fault, not the patient's);
- missing: a scheduled measurement not taken within a grace window after its time;
- odd_time: a measurement taken far from every scheduled time of its kind;
- hub_offline and outbox_filling: the hub, not the patient, needs a look.

A reading the nurse marked invalid still counts as done for its scheduled time, and raises
nothing. An acknowledged reading (by seq) or item (by key) never raises anything again.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from functools import lru_cache
from typing import Any, Literal
from zoneinfo import ZoneInfo

from hub.core.call_request import KIND as CALL_KIND
from hub.core.care_plan import CarePlan, outside_limits
from hub.core.outcome import Outcome
from hub.questionnaire.engine import total_score

OSLO = ZoneInfo("Europe/Oslo")

State = Literal["call_me", "red", "yellow", "missing", "odd_time", "hub_offline", "outbox_filling"]
# Worst first; the hub's two states share a rank: neither is worse than the other.
RANK: Mapping[State, int] = {
    "call_me": 0,
    "red": 1,
    "yellow": 2,
    "missing": 3,
    "odd_time": 4,
    "hub_offline": 5,
    "outbox_filling": 5,
}
QUESTIONNAIRE = "questionnaire"  # the kind of a questionnaire's red item
SCORE = "score"  # the care plan's limit on a questionnaire: thresholds["questionnaire"]["score"]
_HHMM = re.compile(r"([01]\d|2[0-3]):([0-5]\d)")


def _aware(name: str, value: datetime | None) -> None:
    if value is not None and value.utcoffset() is None:
        raise ValueError(f"{name} has no time zone: {value.isoformat()} (triage needs aware times)")


@dataclass(frozen=True)
class Reading:
    """One reading as the centre holds it."""

    kind: str
    seq: int
    values: Mapping[str, Any]
    outcome: Outcome
    measured_at: datetime
    received_at: datetime
    problems: tuple[str, ...] = ()
    invalid: bool = False  # marked invalid by a nurse: counts as done, raises nothing

    def __post_init__(self) -> None:
        _aware("measured_at", self.measured_at)
        _aware("received_at", self.received_at)


@dataclass(frozen=True)
class QuestionnaireResult:
    key: str  # the answer's identity at the centre; acknowledged as "questionnaire:<key>"
    score: float
    red_above: float  # a score over this is red; equal is not
    answered_at: datetime

    def __post_init__(self) -> None:
        _aware("answered_at", self.answered_at)


@dataclass(frozen=True)
class HubState:
    last_seen: datetime | None  # None: never seen (no offline item: it never came online)
    outbox_alarm: Literal["near_full", "over_budget"] | None = None
    outbox_since: datetime | None = None  # when the alarm began; last_seen if not known

    def __post_init__(self) -> None:
        _aware("last_seen", self.last_seen)
        _aware("outbox_since", self.outbox_since)


@dataclass(frozen=True)
class Acknowledged:
    seqs: frozenset[int] = frozenset()  # readings: silenced in every item
    keys: frozenset[str] = frozenset()  # missing slots, questionnaire results, hub events


@dataclass(frozen=True)
class PatientData:
    readings: tuple[Reading, ...] = ()
    plan: CarePlan | None = None
    plan_since: datetime | None = None  # no measurement is expected before (episode, plan)
    questionnaires: tuple[QuestionnaireResult, ...] = ()
    hub: HubState | None = None
    acknowledged: Acknowledged = Acknowledged()

    def __post_init__(self) -> None:
        _aware("plan_since", self.plan_since)


@dataclass(frozen=True)
class Rules:
    grace: timedelta = timedelta(hours=2)  # after a scheduled time, before it is missing
    odd_time: timedelta = timedelta(hours=3)  # farther than this from every scheduled time
    missing_window: timedelta = timedelta(days=7)  # how far back missed times are looked for
    hub_offline_after: timedelta = timedelta(hours=24)


@dataclass(frozen=True)
class Item:
    """One line of a patient's worklist entry: a state for one kind (or for the hub)."""

    state: State
    kind: str | None  # a reading kind, "questionnaire", or None for the hub's items
    since: datetime  # the oldest finding's time (a scheduled time for missing)
    count: int
    seqs: tuple[int, ...] = ()  # the readings involved (acknowledge them by seq)
    keys: tuple[str, ...] = ()  # the other findings involved (acknowledge them by key)
    reasons: tuple[str, ...] = ()  # problem codes, e.g. systolic_above_care_plan


@dataclass(frozen=True)
class Summary:
    patient: str
    worst: State | None  # None: nothing needs the nurse
    since: datetime | None  # the oldest item of the worst state
    counts: Mapping[State, int] = field(default_factory=dict)
    last_measured: datetime | None = None
    last_delivered: datetime | None = None
    items: tuple[Item, ...] = ()


def measured_time(reading: Reading, now: datetime) -> datetime:
    """When the reading was taken; a time in the future is a wrong clock, so the centre's
    receipt stands in for it."""
    return reading.received_at if reading.measured_at > now else reading.measured_at


def _times(plan: CarePlan | None) -> dict[str, tuple[time, ...]]:
    """kind -> its scheduled local times. A time that is not HH:MM is left out here: the
    care-plan editor refuses it (and lists it with bad_schedule_times)."""
    out: dict[str, set[time]] = {}
    for entry in plan.schedule if plan is not None else ():
        for text in entry.times:
            match = _HHMM.fullmatch(text)
            if match:
                out.setdefault(entry.kind, set()).add(time(int(match[1]), int(match[2])))
    return {kind: tuple(sorted(times)) for kind, times in out.items()}


def bad_schedule_times(plan: CarePlan | None) -> tuple[str, ...]:
    """The schedule's times triage cannot use (not HH:MM, 00:00-23:59), as kind@time."""
    if plan is None:
        return ()
    return tuple(
        f"{entry.kind}@{text}"
        for entry in plan.schedule
        for text in entry.times
        if not _HHMM.fullmatch(text)
    )


def scheduled_instant(day: date, at: time, tz: tzinfo) -> datetime:
    """A local date and time as an instant (UTC). On the spring-forward day a time that does
    not exist (02:30 in Europe/Oslo) falls an hour later (03:30 local); on the fall-back day a
    time that happens twice is its first occurrence."""
    return datetime.combine(day, at, tzinfo=tz).astimezone(UTC)


@lru_cache(maxsize=8192)
def _day_slots(times: tuple[time, ...], day: date, tz: tzinfo) -> tuple[datetime, ...]:
    """One day's scheduled instants, sorted. Cached: the patients of a centre share a few
    schedules, and the worklist asks for the same days for every one of them."""
    return tuple(sorted({scheduled_instant(day, at, tz) for at in times}))


def _slots(times: tuple[time, ...], first: date, last: date, tz: tzinfo) -> list[datetime]:
    days = (first + timedelta(days=n) for n in range((last - first).days + 1))
    # Two days' slots never coincide (a day's instants lie within that local day), so the
    # days' sorted slots joined in day order are sorted and without repeats.
    return [slot for day in days for slot in _day_slots(times, day, tz)]


def _local_date(instant: datetime, tz: tzinfo) -> date:
    return instant.astimezone(tz).date()


def _call_items(patient: PatientData, now: datetime) -> list[Item]:
    """The patient's call requests no nurse has answered, as one item since the oldest: the
    nurse answers (acknowledges) them by their readings. Since when by the centre's receipt,
    not the hub's own time of asking: a hub whose clock (or holder) back-dates a request would
    otherwise go above every patient who really asked earlier."""
    acked = patient.acknowledged.seqs
    open_ = sorted(
        (r.received_at, r.seq)
        for r in patient.readings
        if r.kind == CALL_KIND and not r.invalid and r.seq not in acked
    )
    if not open_:
        return []
    seqs = tuple(seq for _, seq in open_)
    return [Item("call_me", CALL_KIND, open_[0][0], len(open_), seqs=seqs)]


def _reading_items(patient: PatientData, now: datetime, tz: tzinfo, rules: Rules) -> list[Item]:
    acked = patient.acknowledged.seqs
    schedule = _times(patient.plan)
    found: dict[tuple[State, str], list[tuple[datetime, Reading, tuple[str, ...]]]] = {}
    for reading in patient.readings:
        if reading.invalid or reading.seq in acked or reading.kind == CALL_KIND:
            continue  # a call request is a request, not a measurement: _call_items
        at = measured_time(reading, now)
        red = (
            ()
            if reading.outcome == "failed"
            else outside_limits(reading.kind, dict(reading.values), patient.plan)
        )
        if red:
            found.setdefault(("red", reading.kind), []).append((at, reading, red))
        elif reading.outcome in ("flagged", "failed"):
            found.setdefault(("yellow", reading.kind), []).append((at, reading, reading.problems))
        times = schedule.get(reading.kind)
        if times:
            day = _local_date(at, tz)
            off = min(
                abs(at - slot)
                for near in (day - timedelta(days=1), day, day + timedelta(days=1))
                for slot in _day_slots(times, near, tz)
            )
            if off > rules.odd_time:
                minutes = int(off.total_seconds() // 60)
                reason = (f"{minutes}_minutes_from_schedule",)
                found.setdefault(("odd_time", reading.kind), []).append((at, reading, reason))
    items = []
    for (state, kind), hits in found.items():
        hits.sort(key=lambda hit: (hit[0], hit[1].seq))
        reasons = tuple(dict.fromkeys(code for _, _, codes in hits for code in codes))
        seqs = tuple(reading.seq for _, reading, _ in hits)
        items.append(Item(state, kind, hits[0][0], len(hits), seqs=seqs, reasons=reasons))
    return items


def missing_key(kind: str, slot: datetime) -> str:
    return f"missing:{kind}:{slot.astimezone(UTC).isoformat()}"


def _missing_items(patient: PatientData, now: datetime, tz: tzinfo, rules: Rules) -> list[Item]:
    start = now - rules.missing_window
    if patient.plan_since is not None:
        start = max(start, patient.plan_since)
    items = []
    for kind, times in sorted(_times(patient.plan).items()):
        # Slots up to one window after now too: an early reading belongs to its coming slot.
        slots = [
            slot
            for slot in _slots(
                times,
                _local_date(start, tz) - timedelta(days=1),
                _local_date(now + rules.odd_time, tz) + timedelta(days=1),
                tz,
            )
            if start <= slot <= now + rules.odd_time
        ]
        taken = sorted(measured_time(r, now) for r in patient.readings if r.kind == kind)
        # Each reading counts for one slot: slots in time order take the earliest reading
        # within odd_time of them (for windows of one length this matches the most slots).
        missed, i = [], 0
        for slot in slots:
            while i < len(taken) and taken[i] < slot - rules.odd_time:
                i += 1
            if i < len(taken) and taken[i] <= slot + rules.odd_time:
                i += 1
            elif now > slot + rules.grace:
                key = missing_key(kind, slot)
                if key not in patient.acknowledged.keys:
                    missed.append((slot, key))
        if missed:
            reasons = tuple(
                f"expected_{slot.astimezone(tz).strftime('%Y-%m-%d_%H:%M')}" for slot, _ in missed
            )
            keys = tuple(key for _, key in missed)
            items.append(
                Item("missing", kind, missed[0][0], len(missed), keys=keys, reasons=reasons)
            )
    return items


def scored_answers(
    readings: Iterable[Reading], plan: CarePlan | None, now: datetime
) -> tuple[QuestionnaireResult, ...]:
    """The questionnaire answers among `readings` (kind "questionnaire", their values the
    QuestionnaireResponse) with the score the hub put on them, judged by the plan's upper limit
    on the questionnaire's score; none without such a limit. An answer marked invalid raises
    nothing; the answer's reading id is its key; a time in the future is the receipt's, as for
    a measurement (measured_time)."""
    limit = plan.thresholds.get(QUESTIONNAIRE, {}).get(SCORE) if plan is not None else None
    if limit is None or limit.max is None:
        return ()
    answers = (r for r in readings if r.kind == QUESTIONNAIRE and not r.invalid)
    return tuple(
        QuestionnaireResult(str(r.seq), score, limit.max, measured_time(r, now))
        for r in answers
        if (score := total_score(r.values)) is not None
    )


def _questionnaire_items(patient: PatientData) -> list[Item]:
    red = sorted(
        (result.answered_at, f"questionnaire:{result.key}", result)
        for result in patient.questionnaires
        if result.score > result.red_above
        and f"questionnaire:{result.key}" not in patient.acknowledged.keys
    )
    if not red:
        return []
    reasons = tuple(f"score_{r.score:g}_above_{r.red_above:g}" for _, _, r in red)
    keys = tuple(key for _, key, _ in red)
    return [Item("red", QUESTIONNAIRE, red[0][0], len(red), keys=keys, reasons=reasons)]


def _hub_items(patient: PatientData, now: datetime, rules: Rules) -> list[Item]:
    hub, acked = patient.hub, patient.acknowledged.keys
    if hub is None:
        return []
    items = []
    if hub.last_seen is not None and now - hub.last_seen > rules.hub_offline_after:
        key = f"hub_offline:{hub.last_seen.astimezone(UTC).isoformat()}"
        if key not in acked:
            items.append(Item("hub_offline", None, hub.last_seen, 1, keys=(key,)))
    since = hub.outbox_since or hub.last_seen
    if hub.outbox_alarm is not None and since is not None:
        key = f"outbox:{hub.outbox_alarm}:{since.astimezone(UTC).isoformat()}"
        if key not in acked:
            items.append(
                Item("outbox_filling", None, since, 1, keys=(key,), reasons=(hub.outbox_alarm,))
            )
    return items


def item_order(item: Item) -> tuple[int, datetime, str, str]:
    return (RANK[item.state], item.since, item.kind or "", item.state)


def triage(
    patient: PatientData, now: datetime, tz: tzinfo = OSLO, rules: Rules = Rules()
) -> tuple[Item, ...]:
    """The patient's worklist items, worst first, then oldest first."""
    _aware("now", now)
    items = (
        _call_items(patient, now)
        + _reading_items(patient, now, tz, rules)
        + _questionnaire_items(patient)
        + _missing_items(patient, now, tz, rules)
        + _hub_items(patient, now, rules)
    )
    return tuple(sorted(items, key=item_order))


def changes_after(
    patient: PatientData, now: datetime, tz: tzinfo = OSLO, rules: Rules = Rules()
) -> datetime | None:
    """Until when triage's answer for `patient` at `now` stays the same as time passes (the data
    unchanged): `triage` and `summarise` give the same for every t with now <= t < the time
    returned; None: for ever. Not always the last such time, never a later one.

    Time enters triage at: a reading's time in the future (its receipt stands in until then);
    a scheduled time coming within odd_time of now (it takes readings from then), passing
    its grace (missing from then) and leaving the missing window; the hub's silence passing
    hub_offline_after."""
    _aware("now", now)
    found = [r.measured_at for r in patient.readings if r.measured_at > now]
    if patient.hub is not None and patient.hub.last_seen is not None:
        found.append(patient.hub.last_seen + rules.hub_offline_after)
    # The slots whose moments can be the next one: from those still in the missing window to
    # the first beyond now + odd_time (every day has its slots).
    first = _local_date(now - rules.missing_window, tz) - timedelta(days=1)
    last = _local_date(now + rules.odd_time, tz) + timedelta(days=2)
    for times in _times(patient.plan).values():
        for slot in _slots(times, first, last, tz):
            found += (slot - rules.odd_time, slot + rules.grace, slot + rules.missing_window)
    return min((at for at in found if at >= now), default=None)


def summarise(
    patient_id: str, patient: PatientData, items: Iterable[Item], now: datetime
) -> Summary:
    """One worklist row: the worst state and since when, counts per state, last measured (the
    device's time, or the receipt's if that was in the future) and last delivered."""
    ordered = tuple(sorted(items, key=item_order))
    counts: dict[State, int] = {}
    for item in ordered:
        counts[item.state] = counts.get(item.state, 0) + item.count
    worst = ordered[0] if ordered else None
    return Summary(
        patient=patient_id,
        worst=worst.state if worst else None,
        since=worst.since if worst else None,
        counts=counts,
        # A call request is no measurement: "last measured" must not say she measured just
        # now when she only asked to be called.
        last_measured=max(
            (measured_time(r, now) for r in patient.readings if r.kind != CALL_KIND), default=None
        ),
        last_delivered=max((r.received_at for r in patient.readings), default=None),
        items=ordered,
    )


_NOTHING = len(set(RANK.values()))  # the rank of a patient with nothing to see


def patient_order(summary: Summary) -> tuple[int, float, str]:
    """A call request first, then red, yellow, missing, odd time, then the hub's states;
    within one, the oldest first; patients with nothing last; the patient id breaks ties, so
    the order is total."""
    rank = _NOTHING if summary.worst is None else RANK[summary.worst]
    since = summary.since.timestamp() if summary.since is not None else float("inf")
    return (rank, since, summary.patient)


def order_patients(summaries: Iterable[Summary]) -> list[Summary]:
    return sorted(summaries, key=patient_order)


def worklist(
    patients: Mapping[str, PatientData],
    now: datetime,
    tz: tzinfo = OSLO,
    rules: Rules = Rules(),
) -> list[Summary]:
    """Every patient's row, in the order the nurse sees them."""
    return order_patients(
        summarise(pid, data, triage(data, now, tz, rules), now) for pid, data in patients.items()
    )
