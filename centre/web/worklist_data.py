"""The worklist's data: for the patients a nurse may see, what triage needs, loaded in a fixed
number of queries whatever the number of patients (issue 13: 2 000 patients on one page).

The queries: the patients; their care episodes; the readings of those episodes' hubs in the
window (the (hub, measured_at) index), each with whether a nurse marked it invalid; the
acknowledgements; the latest care plan of each hub; when each hub last delivered a batch; each
patient's latest review. Triage itself is centre/triage.py; this module only feeds it.

The window: every reading of the last WINDOW, and the readings of the last OPEN_WINDOW that were
not ok and are not acknowledged (a red reading left alone for three weeks must still show).

A patient's readings are those of her episodes' hubs measured within each episode's
[started, ended): a hub reused for the next patient never mixes the two.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

from django.db.models import Exists, OuterRef, Q, QuerySet, Subquery
from pydantic import ValidationError

from centre import triage
from centre.followup.models import Acknowledgement, ReadingMark, Review
from centre.people.models import CareEpisode, Patient
from centre.records.models import AcceptedBatch, Document, Hub
from centre.records.models import Reading as ReadingRow
from centre.reports import DONE_KIND
from hub.core.care_plan import CarePlan
from hub.core.outcome import Outcome

WINDOW = timedelta(days=14)
OPEN_WINDOW = timedelta(days=90)
READING_KEY = "reading:"
# Acknowledgements of a hub's state name the time it went quiet, which can be long ago.
TIMELESS_KEYS = ("hub_offline:", "outbox:")
OUTCOMES: frozenset[str] = frozenset({"ok", "flagged", "failed"})


@dataclass(frozen=True)
class Episode:
    hub_id: str
    started: datetime
    ended: datetime | None

    def holds(self, hub_id: str, at: datetime) -> bool:
        return (
            hub_id == self.hub_id and self.started <= at and (self.ended is None or at < self.ended)
        )


@dataclass(frozen=True)
class PlanDoc:
    plan: CarePlan | None  # None: the document does not read as a care plan
    issued_at: datetime


@dataclass(frozen=True)
class Row:
    """One line of the worklist: the patient, triage's summary, and the last review."""

    patient: Patient
    summary: triage.Summary
    reviewed_at: datetime | None
    reviewed_by: str | None
    hub_id: str | None  # the open episode's hub: where a receipt goes


@dataclass(frozen=True)
class Loaded:
    """What the queries found, keyed by patient id (plain data, for `build`)."""

    episodes: Mapping[int, Sequence[Episode]]
    readings: Mapping[str, Sequence[triage.Reading]]  # by hub
    acknowledged: Mapping[int, triage.Acknowledged]
    plans: Mapping[str, PlanDoc]  # by hub
    last_seen: Mapping[str, datetime]  # by hub
    reviews: Mapping[int, tuple[datetime, str]]


def open_episode(episodes: Sequence[Episode]) -> Episode | None:
    """The episode under way (the latest started, should the data hold two)."""
    running = [e for e in episodes if e.ended is None]
    return max(running, key=lambda e: e.started) if running else None


def patient_data(patient_id: int, loaded: Loaded, now: datetime) -> triage.PatientData:
    """What triage needs for one patient, from what the queries found."""
    episodes = loaded.episodes.get(patient_id, ())
    hubs = {e.hub_id for e in episodes}
    readings = tuple(
        reading
        for hub in sorted(hubs)
        for reading in loaded.readings.get(hub, ())
        if any(e.holds(hub, reading.measured_at) for e in episodes)
    )
    current = open_episode(episodes)
    plan, plan_since, hub_state = None, None, None
    if current is not None:
        doc = loaded.plans.get(current.hub_id)
        # A plan issued before the episode began was the previous patient's: not hers.
        if doc is not None and doc.plan is not None and doc.issued_at >= current.started:
            plan, plan_since = doc.plan, max(current.started, doc.issued_at)
        hub_state = triage.HubState(last_seen=loaded.last_seen.get(current.hub_id))
    return triage.PatientData(
        readings=readings,
        plan=plan,
        plan_since=plan_since,
        hub=hub_state,
        acknowledged=loaded.acknowledged.get(patient_id, triage.Acknowledged()),
    )


def build(patients: Sequence[Patient], loaded: Loaded, now: datetime) -> list[Row]:
    """The rows in triage's order (worst first, then oldest, then patient id)."""
    by_id = {patient.id: patient for patient in patients}
    data = {str(patient.id): patient_data(patient.id, loaded, now) for patient in patients}
    rows = []
    for summary in triage.worklist(data, now):
        pid = int(summary.patient)
        current = open_episode(loaded.episodes.get(pid, ()))
        review = loaded.reviews.get(pid)
        rows.append(
            Row(
                patient=by_id[pid],
                summary=summary,
                reviewed_at=review[0] if review else None,
                reviewed_by=review[1] if review else None,
                hub_id=current.hub_id if current else None,
            )
        )
    return rows


def load_worklist(patients: QuerySet[Patient], now: datetime) -> list[Row]:
    """The worklist of `patients` (already limited to what the user may see) at `now`."""
    chosen = list(patients.select_related("team__municipality").order_by("id"))
    return build(chosen, load([p.id for p in chosen], now), now)


def load(patient_ids: Sequence[int], now: datetime) -> Loaded:
    episodes = _episodes(patient_ids, now)
    hubs = sorted({e.hub_id for eps in episodes.values() for e in eps})
    acknowledged = _acknowledged(patient_ids, now)
    return Loaded(
        episodes=episodes,
        readings=_readings(hubs, now, acknowledged),
        acknowledged=acknowledged,
        plans=_plans(hubs),
        last_seen=_last_seen(hubs),
        reviews=_reviews(patient_ids),
    )


def _episodes(patient_ids: Sequence[int], now: datetime) -> dict[int, list[Episode]]:
    found: dict[int, list[Episode]] = {}
    rows = CareEpisode.objects.filter(patient_id__in=patient_ids, started__lte=now).filter(
        Q(ended__isnull=True) | Q(ended__gt=now - OPEN_WINDOW)
    )
    for pid, hub_id, started, ended in rows.values_list("patient_id", "hub_id", "started", "ended"):
        found.setdefault(pid, []).append(Episode(hub_id, started, ended))
    return found


def _acknowledged(patient_ids: Sequence[int], now: datetime) -> dict[int, triage.Acknowledged]:
    # A reading is acknowledged after it was measured, so acknowledgements older than the
    # window cannot concern a reading in it; a hub's state can be older than any window.
    timeless = Q()
    for prefix in TIMELESS_KEYS:
        timeless |= Q(key__startswith=prefix)
    rows = Acknowledgement.objects.filter(patient_id__in=patient_ids).filter(
        Q(at__gte=now - OPEN_WINDOW) | timeless
    )
    seqs: dict[int, set[int]] = {}
    keys: dict[int, set[str]] = {}
    for pid, key in rows.values_list("patient_id", "key"):
        reading_id = reading_id_of(key)
        if reading_id is not None:
            seqs.setdefault(pid, set()).add(reading_id)
        else:
            keys.setdefault(pid, set()).add(key)
    return {
        pid: triage.Acknowledged(frozenset(seqs.get(pid, ())), frozenset(keys.get(pid, ())))
        for pid in set(seqs) | set(keys)
    }


def reading_id_of(key: str) -> int | None:
    """The reading id in "reading:<id>", or None for another kind of key."""
    if not key.startswith(READING_KEY):
        return None
    digits = key[len(READING_KEY) :]
    return int(digits) if digits.isdigit() and len(digits) <= 18 else None


def _readings(
    hubs: Sequence[str], now: datetime, acknowledged: Mapping[int, triage.Acknowledged]
) -> dict[str, list[triage.Reading]]:
    silenced = {seq for ack in acknowledged.values() for seq in ack.seqs}
    rows = (
        ReadingRow.objects.filter(hub_id__in=hubs, measured_at__gte=now - OPEN_WINDOW)
        .filter(Q(measured_at__gte=now - WINDOW) | ~Q(outcome="ok"))
        .annotate(invalid=Exists(ReadingMark.objects.filter(reading=OuterRef("pk"))))
        .order_by()
        .values_list(
            "id",
            "hub_id",
            "kind",
            "values_json",
            "outcome",
            "problems_json",
            "measured_at",
            "received_at",
            "invalid",
        )
    )
    by_hub: dict[str, list[triage.Reading]] = {}
    for rid, hub_id, kind, values, outcome, problems, measured, received, invalid in rows:
        old = measured < now - WINDOW
        if old and rid in silenced:
            continue  # only the unacknowledged are kept from the longer window
        by_hub.setdefault(hub_id, []).append(
            triage.Reading(
                kind=DONE_KIND.get(kind, kind),  # answers count for the schedule's entry
                seq=rid,
                values=_json_object(values),
                outcome=_outcome(outcome),
                measured_at=measured,
                received_at=received,
                problems=tuple(str(p) for p in _json_list(problems)),
                invalid=bool(invalid),
            )
        )
    return by_hub


def _plans(hubs: Sequence[str]) -> dict[str, PlanDoc]:
    newest = (
        Document.objects.filter(hub_id=OuterRef("hub_id"), doc_type="care_plan")
        .order_by("-version")
        .values("version")[:1]
    )
    rows = Document.objects.filter(
        hub_id__in=hubs, doc_type="care_plan", version=Subquery(newest)
    ).values_list("hub_id", "content_json", "issued_at")
    return {hub_id: PlanDoc(_plan(content), issued_at) for hub_id, content, issued_at in rows}


def _plan(content: str) -> CarePlan | None:
    try:
        return CarePlan.model_validate(json.loads(content))
    except (ValueError, ValidationError):
        return None  # the centre checked it when it was issued; an old format reads as none


def _last_seen(hubs: Sequence[str]) -> dict[str, datetime]:
    # One newest batch per hub (a hub may have gone quiet long before any window); with an
    # index on (hub, stored_at) each is one step down the index.
    newest = (
        AcceptedBatch.objects.filter(hub_id=OuterRef("pk"))
        .order_by("-stored_at")
        .values("stored_at")[:1]
    )
    rows = (
        Hub.objects.filter(hub_id__in=hubs)
        .annotate(last=Subquery(newest))
        .values_list("hub_id", "last")
    )
    return {hub_id: last for hub_id, last in rows if last is not None}


def _reviews(patient_ids: Sequence[int]) -> dict[int, tuple[datetime, str]]:
    newest = Review.objects.filter(patient_id=OuterRef("patient_id")).order_by("-at", "-id")
    rows = Review.objects.filter(
        patient_id__in=patient_ids, id=Subquery(newest.values("id")[:1])
    ).values_list("patient_id", "at", "by__username", "by__first_name", "by__last_name")
    return {
        pid: (at, f"{first} {last}".strip() or username) for pid, at, username, first, last in rows
    }


def _json_object(text: str) -> dict[str, Any]:
    try:
        value = json.loads(text)
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def _json_list(text: str) -> list[Any]:
    try:
        value = json.loads(text)
    except ValueError:
        return []
    return value if isinstance(value, list) else []


def _outcome(text: str) -> Outcome:
    # An outcome the centre does not know is treated as a failed measurement: a nurse looks.
    return cast(Outcome, text) if text in OUTCOMES else "failed"


def item_keys(item: triage.Item) -> tuple[str, ...]:
    """What acknowledging an item stores: its readings as "reading:<id>", and its other keys."""
    return tuple(f"{READING_KEY}{seq}" for seq in item.seqs) + item.keys


def row_keys(items: Iterable[triage.Item]) -> tuple[str, ...]:
    return tuple(key for item in items for key in item_keys(item))
