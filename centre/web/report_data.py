"""The reports' data (issue 13, "Reports"): for the patients a user may see, what the pure
modules need (centre/reports.py for adherence, acknowledgement times and patients active;
centre/fhir_export.py for the FHIR Bundle), loaded in a fixed number of bounded queries
whatever the number of patients or weeks, and the GP summary's figures.

The queries (`load`): the care episodes overlapping the period; the readings of their hubs
measured in the period (the (hub, measured_at) index); the nurses' marks on those (invalid);
the care-plan versions of those hubs; the acknowledgements of those patients since the period
began (a reading is acknowledged after it was stored). A patient's readings are only
those of her episodes' hubs within each episode's [started, ended), as on the worklist.

Everything below `load` is pure: plain rows in, the pure modules' inputs and figures out.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, time, timedelta
from functools import cached_property
from statistics import median
from typing import Any

from django.db.models import Q
from pydantic import ValidationError

from centre import reports
from centre.followup.models import Acknowledgement, ReadingMark
from centre.people.models import CareEpisode
from centre.records.models import Document
from centre.records.models import Reading as ReadingModel
from centre.triage import OSLO
from centre.web.trends import Point
from hub.core.answers import KIND as ANSWERS
from hub.core.answers import RECEIPT_KIND as RECEIPT
from hub.core.call_request import KIND as CALL
from hub.core.care_plan import CarePlan, outside_limits
from hub.core.health import KIND as HUB_HEALTH

MAX_WEEKS = 52  # a year: the longest period a report covers
DEFAULT_WEEKS = 4
# Rows a report reads at most: a team of 100 patients measuring four times a day for a year is
# about 150 000. More is cut (the page says so) rather than let one request hold the server.
MAX_READINGS = 200_000
READING_KEY = "reading:"  # centre/followup/models.py reading_key


# --- the rows ----------------------------------------------------------------------------
@dataclass(frozen=True)
class EpisodeRow:
    id: int
    patient_id: int
    hub_id: str
    started: datetime
    ended: datetime | None

    def holds(self, hub_id: str, at: datetime) -> bool:
        return (
            hub_id == self.hub_id and self.started <= at and (self.ended is None or at < self.ended)
        )


@dataclass(frozen=True)
class ReadingRow:
    id: int
    hub_id: str
    seq: int
    kind: str
    values_json: str  # read only when needed: a team's year is hundreds of thousands
    outcome: str
    problems_json: str
    measured_at: datetime
    stored_at: datetime
    device_address: str
    marked_at: datetime | None = None  # marked invalid by a nurse, when
    marked_reason: str | None = None

    @property
    def invalid(self) -> bool:
        return self.marked_at is not None

    @cached_property
    def values(self) -> Mapping[str, Any]:
        return json_object(self.values_json)

    @cached_property
    def problems(self) -> tuple[str, ...]:
        return tuple(str(p)[:200] for p in json_list(self.problems_json)[:20])


@dataclass(frozen=True)
class PlanRow:
    hub_id: str
    version: int
    issued_at: datetime
    plan: CarePlan | None  # None: the stored document does not read as a care plan


@dataclass(frozen=True)
class AckRow:
    patient_id: int
    key: str
    at: datetime
    by: str
    with_receipt: bool


@dataclass(frozen=True)
class Loaded:
    episodes: Sequence[EpisodeRow]
    readings: Mapping[int, Sequence[ReadingRow]]  # by episode id, in measured order
    plans: Mapping[str, Sequence[PlanRow]]  # by hub, oldest first
    acknowledgements: Mapping[tuple[int, str], AckRow]  # by (patient id, key)
    capped: bool  # MAX_READINGS were reached: some readings were left out


# --- the period --------------------------------------------------------------------------
def parse_weeks(raw: str | None) -> int | None:
    """The number of weeks asked for (?weeks=): a whole number is clamped to 1..MAX_WEEKS;
    anything else is None (the view answers 400). No parameter: DEFAULT_WEEKS."""
    if raw is None or raw == "":
        return DEFAULT_WEEKS
    text = raw.strip()
    digits = text[1:] if text[:1] in "+-" else text
    if not digits.isascii() or not digits.isdigit():
        return None
    if text.startswith("-") or len(digits) > 3:
        return 1 if text.startswith("-") else MAX_WEEKS
    return min(MAX_WEEKS, max(1, int(digits)))


def period_of(weeks: int, today: date) -> reports.Period:
    """The last `weeks` ISO weeks up to and including today (this week so far counts)."""
    monday = today - timedelta(days=today.weekday())
    return reports.Period(monday - timedelta(weeks=weeks - 1), today)


def local_midnight(day: date) -> datetime:
    return datetime.combine(day, time(0, 0), tzinfo=OSLO).astimezone(UTC)


def bounds(period: reports.Period) -> tuple[datetime, datetime]:
    """The period's first local midnight and the one after its last day, as instants."""
    return local_midnight(period.first), local_midnight(period.last + timedelta(days=1))


# --- the queries -------------------------------------------------------------------------
def load(
    patient_ids: Sequence[int], start: datetime, end: datetime, limit: int = MAX_READINGS
) -> Loaded:
    """Five queries whatever the number of patients."""
    episodes = [
        EpisodeRow(*row)
        for row in CareEpisode.objects.filter(patient_id__in=patient_ids, started__lt=end)
        .filter(Q(ended__isnull=True) | Q(ended__gt=start))
        .order_by("patient_id", "started", "id")
        .values_list("id", "patient_id", "hub_id", "started", "ended")
    ]
    hubs = sorted({e.hub_id for e in episodes})
    readings, capped = _readings(episodes, hubs, start, end, limit)
    return Loaded(
        episodes=episodes,
        readings=readings,
        plans=_plans(hubs, end),
        acknowledgements=_acknowledgements(patient_ids, start),
        capped=capped,
    )


def _readings(
    episodes: Sequence[EpisodeRow],
    hubs: Sequence[str],
    start: datetime,
    end: datetime,
    limit: int,
) -> tuple[dict[int, list[ReadingRow]], bool]:
    if not hubs:
        return {}, False
    in_period = ReadingModel.objects.filter(
        hub_id__in=hubs, measured_at__gte=start, measured_at__lt=end
    ).exclude(kind__in=(RECEIPT, CALL, HUB_HEALTH))  # not measurements: not counted as measuring
    # Marks are few: one query of their own, not a subquery on every reading.
    marks = {
        rid: (at, why)
        for rid, at, why in ReadingMark.objects.filter(
            reading__in=in_period.values("id")
        ).values_list("reading_id", "at", "reason")
    }
    rows = in_period.order_by("measured_at", "id").values_list(
        "id",
        "hub_id",
        "seq",
        "kind",
        "values_json",
        "outcome",
        "problems_json",
        "measured_at",
        "stored_at",
        "device_address",
    )[: limit + 1]
    by_hub: dict[str, list[EpisodeRow]] = {}
    for episode in episodes:
        by_hub.setdefault(episode.hub_id, []).append(episode)
    found: dict[int, list[ReadingRow]] = {}
    count = 0
    for rid, hub, seq, kind, values, outcome, problems, measured, stored, device in rows:
        count += 1
        if count > limit:
            return found, True
        owner = next((e for e in by_hub.get(hub, ()) if e.holds(hub, measured)), None)
        if owner is None:
            continue  # measured while the hub served no one, or another patient of ours
        found.setdefault(owner.id, []).append(
            ReadingRow(
                id=rid,
                hub_id=hub,
                seq=seq,
                kind=kind,
                values_json=values,
                outcome=outcome,
                problems_json=problems,
                measured_at=measured,
                stored_at=stored,
                device_address=device,
                marked_at=marks[rid][0] if rid in marks else None,
                marked_reason=marks[rid][1] if rid in marks else None,
            )
        )
    return found, False


def _plans(hubs: Sequence[str], end: datetime) -> dict[str, list[PlanRow]]:
    rows = (
        Document.objects.filter(hub_id__in=hubs, doc_type="care_plan", issued_at__lt=end)
        .order_by("hub_id", "issued_at", "version")
        .values_list("hub_id", "version", "issued_at", "content_json")
    )
    found: dict[str, list[PlanRow]] = {}
    for hub, version, issued, content in rows:
        found.setdefault(hub, []).append(PlanRow(hub, version, issued, care_plan(content)))
    return found


def _acknowledgements(patient_ids: Sequence[int], start: datetime) -> dict[tuple[int, str], AckRow]:
    rows = Acknowledgement.objects.filter(
        patient_id__in=patient_ids, key__startswith=READING_KEY, at__gte=start
    ).values_list(
        "patient_id", "key", "at", "by__username", "by__first_name", "by__last_name", "with_receipt"
    )
    return {
        (pid, key): AckRow(pid, key, at, f"{first} {last}".strip() or user, receipt)
        for pid, key, at, user, first, last, receipt in rows
    }


def care_plan(content: str) -> CarePlan | None:
    try:
        return CarePlan.model_validate(json.loads(content))
    except (ValueError, RecursionError, ValidationError):
        return None  # checked when it was issued; one that no longer reads is no plan


def json_object(text: str) -> dict[str, Any]:
    try:
        value = json.loads(text)
    except (ValueError, RecursionError):
        return {}
    return value if isinstance(value, dict) else {}


def json_list(text: str) -> list[Any]:
    try:
        value = json.loads(text)
    except (ValueError, RecursionError):
        return []
    return value if isinstance(value, list) else []


# --- the pure modules' inputs ------------------------------------------------------------
def plan_versions(episode: EpisodeRow, plans: Sequence[PlanRow]) -> tuple[reports.PlanVersion, ...]:
    """The care-plan versions of the episode's hub issued during the episode (one issued before
    it began was the previous patient's), each in effect from when it was issued."""
    return tuple(
        reports.PlanVersion(max(episode.started, p.issued_at), p.plan)
        for p in plans
        if p.plan is not None
        and p.hub_id == episode.hub_id
        and p.issued_at >= episode.started
        and (episode.ended is None or p.issued_at < episode.ended)
    )


def plan_at(versions: Sequence[reports.PlanVersion], at: datetime) -> CarePlan | None:
    found = None
    for version in sorted(versions, key=lambda v: v.since):
        if version.since <= at:
            found = version.plan
    return found


def red_reasons(reading: ReadingRow, plan: CarePlan | None) -> tuple[str, ...]:
    """Triage's rule for red: a value outside the care plan in effect when it was measured;
    a failed measurement is the device's fault, and one a nurse marked invalid raises nothing."""
    if reading.invalid or reading.outcome == "failed" or reading.kind in (ANSWERS, RECEIPT):
        return ()
    if plan is None or reading.kind not in plan.thresholds:
        return ()  # no limit on this kind: its values need not be read
    return outside_limits(reading.kind, dict(reading.values), plan)


def episode_key(episode: EpisodeRow) -> str:
    return f"{episode.patient_id}:{episode.id}"


@dataclass(frozen=True)
class Inputs:
    """centre/reports.py's inputs; episodes and their Done are keyed by episode (a patient with
    two hubs in the period has two), patients' Done and red items by patient id."""

    episodes: Sequence[reports.Episode]
    episode_patient: Mapping[str, str]  # episode key -> patient key
    done_by_episode: Mapping[str, Sequence[reports.Done]]  # grouped: each episode reads its own
    done_by_patient: Sequence[reports.Done]
    patient_episodes: Sequence[reports.Episode]  # the same, keyed by patient
    red: Sequence[reports.RedItem]


def inputs(loaded: Loaded) -> Inputs:
    episodes, patient_episodes, by_patient, red = [], [], [], []
    by_episode: dict[str, list[reports.Done]] = {}
    owner = {}
    for row in loaded.episodes:
        key, patient = episode_key(row), str(row.patient_id)
        versions = plan_versions(row, loaded.plans.get(row.hub_id, ()))
        episodes.append(reports.Episode(key, row.started, row.ended, versions))
        patient_episodes.append(reports.Episode(patient, row.started, row.ended, versions))
        owner[key] = patient
        for reading in loaded.readings.get(row.id, ()):
            done = reports.Done(key, reading.kind, reading.measured_at, reading.invalid)
            by_episode.setdefault(key, []).append(done)
            by_patient.append(
                reports.Done(patient, reading.kind, reading.measured_at, reading.invalid)
            )
            if red_reasons(reading, plan_at(versions, reading.measured_at)):
                red.append(red_item(row.patient_id, reading, loaded.acknowledgements))
    return Inputs(episodes, owner, by_episode, by_patient, patient_episodes, red)


def red_item(
    patient_id: int, reading: ReadingRow, acks: Mapping[tuple[int, str], AckRow]
) -> reports.RedItem:
    """A red reading, raised when the centre stored it (when a nurse could first see it on the
    worklist, however late the hub delivered it), handled when acknowledged."""
    key = f"{READING_KEY}{reading.id}"
    ack = acks.get((patient_id, key))
    return reports.RedItem(str(patient_id), key, reading.stored_at, ack.at if ack else None)


# --- the figures -------------------------------------------------------------------------
@dataclass(frozen=True)
class PatientFigures:
    patient: str  # the patient's key
    adherence: Sequence[reports.AdherenceWeek]
    acknowledgements: Sequence[reports.AcknowledgementWeek]

    @property
    def total(self) -> reports.AdherenceWeek | None:
        """The whole period in one row (its week is the last week's)."""
        rows = reports.team_adherence(
            self.patient, [replace(r, week=(0, 0)) for r in self.adherence]
        )
        return rows[0] if rows else None

    @property
    def red(self) -> int:
        return sum(w.raised for w in self.acknowledgements)

    @property
    def open(self) -> int:
        return sum(w.open for w in self.acknowledgements)


@dataclass(frozen=True)
class Figures:
    """A group of patients' report (a team's, or one patient's alone)."""

    adherence: Sequence[reports.AdherenceWeek]  # summed over the patients
    acknowledgements: Sequence[reports.AcknowledgementWeek]
    active: Sequence[reports.ActiveWeek]
    patients: Mapping[str, PatientFigures]


def figures(
    given: Inputs,
    patients: Iterable[str],
    name: str,
    period: reports.Period,
    as_of: datetime,
) -> Figures:
    wanted = set(patients)
    per_patient: dict[str, list[reports.AdherenceWeek]] = {p: [] for p in wanted}
    for episode in given.episodes:
        patient = given.episode_patient[episode.patient]
        if patient in wanted:
            done = given.done_by_episode.get(episode.patient, ())
            rows = reports.adherence(episode, done, period, as_of)
            per_patient[patient].extend(rows)
    red = [r for r in given.red if r.patient in wanted]
    red_of: dict[str, list[reports.RedItem]] = {}
    for item in red:
        red_of.setdefault(item.patient, []).append(item)
    by_patient = {
        p: PatientFigures(
            p,
            [replace(r, patient=p) for r in reports.team_adherence(p, rows)],
            reports.acknowledgement_times(red_of.get(p, []), period, as_of),
        )
        for p, rows in per_patient.items()
    }
    return Figures(
        adherence=reports.team_adherence(name, (r for rows in per_patient.values() for r in rows)),
        acknowledgements=reports.acknowledgement_times(red, period, as_of),
        active=reports.patients_active(
            [e for e in given.patient_episodes if e.patient in wanted],
            [d for d in given.done_by_patient if d.patient in wanted],
            period,
        ),
        patients=by_patient,
    )


# --- the GP summary's figures ------------------------------------------------------------
STEADY = 0.03  # a change across the period under 3 % of the median is called steady
FEWEST_FOR_TREND = 3


@dataclass(frozen=True)
class ValueSummary:
    count: int
    low: float | None
    middle: float | None
    high: float | None
    change: float | None  # across the period, from the least-squares line
    direction: str  # "rising", "falling", "steady", "too_few"


def summarise(points: Sequence[Point]) -> ValueSummary:
    """min, median, max and the direction of a series' valid, finite points."""
    values = [p for p in points if not p.invalid and math.isfinite(p.value)]
    if not values:
        return ValueSummary(0, None, None, None, None, "too_few")
    numbers = [p.value for p in values]
    middle = float(median(numbers))
    change = trend_change(values)
    return ValueSummary(
        len(values), min(numbers), middle, max(numbers), change, direction(change, middle)
    )


def trend_change(points: Sequence[Point]) -> float | None:
    """How much the least-squares line rises from the first point's time to the last's; None
    for fewer than FEWEST_FOR_TREND points or all at one instant."""
    if len(points) < FEWEST_FOR_TREND:
        return None
    first = min(p.at for p in points)
    xs = [(p.at - first).total_seconds() / 86400 for p in points]
    ys = [p.value for p in points]
    mean_x, mean_y = sum(xs) / len(xs), sum(ys) / len(ys)
    spread = sum((x - mean_x) ** 2 for x in xs)
    if spread == 0:
        return None
    slope = sum((x - mean_x) * (y - mean_y) for x, y in zip(xs, ys, strict=True)) / spread
    change = slope * (max(xs) - min(xs))
    return change if math.isfinite(change) else None


def direction(change: float | None, middle: float) -> str:
    if change is None:
        return "too_few"
    if abs(change) <= STEADY * abs(middle):
        return "steady"
    return "rising" if change > 0 else "falling"
