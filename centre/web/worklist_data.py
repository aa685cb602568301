"""The worklist's data: for the patients a nurse may see, what triage needs, loaded in a fixed
number of queries whatever the number of patients (issue 13: 2 000 patients on one page).

The queries: the patients; their care episodes; the readings of those episodes' hubs in the
window (the (hub, measured_at) index), each with whether a nurse marked it invalid; the
acknowledgements; the latest care plan of each hub; when each hub last delivered a batch; each
patient's latest review. Triage itself is centre/triage.py; this module only feeds it.

The window: every reading of the last WINDOW, and the readings of the last OPEN_WINDOW that were
not ok, or are questionnaire answers (which the centre alone judges) or call requests, and are
not acknowledged (a red reading, an answer or a call request left alone for three weeks must
still show).

A patient's readings are those of her episodes' hubs measured within each episode's
[started, ended): a hub reused for the next patient never mixes the two. A call request is
placed by when the centre stored it (`placed_at`), not by the hub's time of asking: a hub whose
clock is behind (a Raspberry Pi without a clock before NTP) put it in no episode, or in the
previous patient's, while her screen said the nurse had it.

Kept summaries (issue 13, "Figures": 2 000 patients, goal 300 ms): triage over every reading of
every patient takes seconds, so each process keeps each patient's summary and computes it again
only when it may have changed. Every page asks the database what changed since it last looked
(rows of readings, batches, documents, reading marks and acknowledgements with a higher id: an
index step each) and drops the summaries of the patients concerned; a patient whose episodes
differ, or whose summary's time is up (triage.changes_after, and the windows above), is computed
again. The database stays the only truth: a page never shows what a write it can see would
change, whichever process or tool wrote it. PostgreSQL may show a row with a higher id before
one with a lower id whose transaction commits later, so what was looked at moves on only to the
ids seen LAG before; and every summary is computed again after REFRESH_AFTER in any case (a few
per page), which also covers a transaction under way when a process keeps its first summaries.

`centre web` does most of that work before a page needs it (`refresh`, in a thread): it
computes again the summaries past REFRESH_AFTER, and computes ahead those whose time is up
within AHEAD for the moment it is. A scheduled time passing its grace changes every patient
with that schedule at once: without it, the next page would compute them all.
"""

from __future__ import annotations

import itertools
import json
import threading
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, cast, get_args

from django.db import connection
from django.db.models import Exists, Func, OuterRef, Q, QuerySet, Subquery, TextField
from pydantic import ValidationError

from centre import triage
from centre.followup.models import Acknowledgement, ReadingMark, Review
from centre.people.models import CareEpisode, Patient
from centre.records.models import AcceptedBatch, Document, Hub, OutboxAlarmChange
from centre.records.models import Reading as ReadingRow
from centre.reports import DONE_KIND
from hub.core.answers import KIND as ANSWERS
from hub.core.call_request import KIND as CALL
from hub.core.care_plan import CarePlan
from hub.core.health import KIND as HUB_HEALTH
from hub.core.outcome import Outcome
from hub.wire.status import Alarm

WINDOW = timedelta(days=14)
OPEN_WINDOW = timedelta(days=90)
READING_KEY = "reading:"
ANSWER_KEY = f"{triage.QUESTIONNAIRE}:"  # triage's key of a scored answer: its reading id
# Acknowledgements of a hub's state name the time it went quiet, which can be long ago.
TIMELESS_KEYS = ("hub_offline:", "outbox:")
OUTCOMES: frozenset[str] = frozenset({"ok", "flagged", "failed"})
LAG = 60.0  # seconds: longer than any transaction that writes these rows lasts
REFRESH_AFTER = timedelta(minutes=10)  # a kept summary is computed again after this at most
REFRESH_BUDGET = 100  # ... this many per page, beyond those that must be
AHEAD = timedelta(minutes=5)  # `refresh` computes summaries this long before their time is up
JUST_AFTER = timedelta(milliseconds=1)  # ... for this long after it is up
# Patients computed at one go (`warm_up`, a page with nothing kept): all 2 000 at once held
# every reading at the same moment, and PostgreSQL read the whole table for them.
COMPUTE_CHUNK = 200
REFRESH_CHUNK = 50  # summaries `refresh` computes at one go (the pages wait for the lock less)


@dataclass(frozen=True)
class Episode:
    hub_id: str
    started: datetime
    ended: datetime | None

    def holds(self, hub_id: str, at: datetime) -> bool:
        return (
            hub_id == self.hub_id and self.started <= at and (self.ended is None or at < self.ended)
        )


EpisodeRows = frozenset[tuple[Any, ...]]  # (hub id, started, ended) as the driver gives them


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
    hubs: Mapping[str, triage.HubState]  # by hub
    reviews: Mapping[int, tuple[datetime, str]]
    # When the first of a patient's acknowledgements leaves the window (its reading comes back).
    acks_until: Mapping[int, datetime] = field(default_factory=dict)


def open_episode(episodes: Sequence[Episode]) -> Episode | None:
    """The episode under way (the latest started, should the data hold two)."""
    running = [e for e in episodes if e.ended is None]
    return max(running, key=lambda e: e.started) if running else None


def placed_at(reading: triage.Reading) -> datetime:
    """The moment that places a reading in a care episode: when it was measured, but for a call
    request when the centre received it (`_readings` gives a call request the centre's receipt
    as its received_at). A request must reach the patient whose episode holds the hub when it
    arrives, whatever the hub's clock says: she waits for that call now."""
    return reading.received_at if reading.kind == CALL else reading.measured_at


def patient_data(patient_id: int, loaded: Loaded, now: datetime) -> triage.PatientData:
    """What triage needs for one patient, from what the queries found."""
    episodes = loaded.episodes.get(patient_id, ())
    hubs = {e.hub_id for e in episodes}
    readings = tuple(
        reading
        for hub in sorted(hubs)
        for reading in loaded.readings.get(hub, ())
        if any(e.holds(hub, placed_at(reading)) for e in episodes)
    )
    current = open_episode(episodes)
    plan, plan_since, hub_state = None, None, None
    if current is not None:
        doc = loaded.plans.get(current.hub_id)
        # A plan issued before the episode began was the previous patient's: not hers.
        if doc is not None and doc.plan is not None and doc.issued_at >= current.started:
            plan, plan_since = doc.plan, max(current.started, doc.issued_at)
        hub_state = loaded.hubs.get(current.hub_id, triage.HubState(last_seen=None))
    return triage.PatientData(
        readings=readings,
        plan=plan,
        plan_since=plan_since,
        questionnaires=triage.scored_answers(readings, plan, now),
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


@dataclass(frozen=True)
class Entry:
    """A patient's place in the worklist: triage's summary, before the row is dressed."""

    patient_id: int
    summary: triage.Summary
    hub_id: str | None  # the open episode's hub: where a receipt goes


def triaged(patients: QuerySet[Patient], now: datetime) -> list[Entry]:
    """Every one of `patients` (already limited to what the user may see) in triage's order at
    `now`, with the summaries kept where nothing changed (see the module's text). Only ids are
    read for all of them: a page dresses its own rows (`rows_of`)."""
    ids = list(patients.order_by("id").values_list("id", flat=True).distinct())
    episodes = _episode_rows(patients, now)
    summaries = _kept_summaries(ids, episodes, now)
    return [
        Entry(pid, summary, _open_hub(episodes.get(pid, frozenset())))
        for summary in triage.order_patients(summaries)
        for pid in (int(summary.patient),)
    ]


def rows_of(entries: Sequence[Entry]) -> list[Row]:
    """The rows of `entries` (a page of them), in their order: the patient and the last review."""
    ids = [entry.patient_id for entry in entries]
    patients = Patient.objects.filter(id__in=ids).select_related("team__municipality")
    by_id = {patient.id: patient for patient in patients}
    reviews = _reviews(ids)
    rows = []
    for entry in entries:
        review = reviews.get(entry.patient_id)
        rows.append(
            Row(
                patient=by_id[entry.patient_id],
                summary=entry.summary,
                reviewed_at=review[0] if review else None,
                reviewed_by=review[1] if review else None,
                hub_id=entry.hub_id,
            )
        )
    return rows


def load_worklist(patients: QuerySet[Patient], now: datetime) -> list[Row]:
    """The worklist of `patients` at `now`, every row dressed: as `build(chosen, load(ids,
    now), now)` would give."""
    return rows_of(triaged(patients, now))


def warm_up(now: datetime) -> int:
    """Compute and keep every patient's summary, so that a process's first worklist is as
    quick as its next (from nothing, 2 000 patients take seconds); returns how many. A few
    hundred at a time: all at once held every patient's readings at the same moment (190 MB
    for 2 000 patients, for 7 MB of summaries kept)."""
    return len(triaged(Patient.objects.all(), now))


def load(patient_ids: Sequence[int], now: datetime) -> Loaded:
    episodes = _episodes(patient_ids, now)
    hubs = sorted({e.hub_id for eps in episodes.values() for e in eps})
    acknowledged, acks_until = _acknowledged_until(patient_ids, now)
    return Loaded(
        episodes=episodes,
        readings=_readings(hubs, now, acknowledged),
        acknowledged=acknowledged,
        plans=_plans(hubs),
        hubs=_hub_states(hubs),
        reviews=_reviews(patient_ids),
        acks_until=acks_until,
    )


# Kept summaries


@dataclass(frozen=True)
class Kept:
    summary: triage.Summary
    episodes: EpisodeRows  # what it was computed for: other episodes, computed again
    hubs: frozenset[str]
    computed_at: datetime  # valid from `now` ...
    until: datetime | None  # ... to before this (None: until the data change)
    refresh_after: datetime
    tick: int  # when its data were loaded (a slower page never replaces a later one's)


@dataclass(frozen=True)
class Marks:
    """The highest id of each table whose new rows can change a summary."""

    readings: int
    batches: int
    documents: int
    reading_marks: int
    acknowledgements: int
    outbox_alarms: int

    def below(self, other: Marks) -> bool:
        return any(a < b for a, b in zip(self.ids(), other.ids(), strict=True))

    def ids(self) -> tuple[int, int, int, int, int, int]:
        return (
            self.readings,
            self.batches,
            self.documents,
            self.reading_marks,
            self.acknowledgements,
            self.outbox_alarms,
        )


@dataclass
class _Memory:
    database: tuple[str, ...] = ()
    kept: dict[int, Kept] = field(default_factory=dict)
    # Computed ahead by `refresh` for the moment a kept summary's time is up (its `until`).
    ahead: dict[int, Kept] = field(default_factory=dict)
    # The tick of the last change found for a patient or hub: a summary loaded before is refused.
    floor: dict[int, int] = field(default_factory=dict)
    hub_floor: dict[str, int] = field(default_factory=dict)
    looked: Marks | None = None  # every row up to these ids has been looked at
    samples: list[tuple[float, Marks]] = field(default_factory=list)  # (clock, marks)
    seen: set[Change] = field(default_factory=set)  # rows above `looked` already dealt with


_LOCK = threading.Lock()
_MEMORY = _Memory()
_TICKS = itertools.count(1)
_TABLES = (ReadingRow, AcceptedBatch, Document, ReadingMark, Acknowledgement, OutboxAlarmChange)
ACKNOWLEDGEMENTS = 4  # the one of _TABLES whose rows name a patient, not a hub


def forget_summaries() -> None:
    """Drop every kept summary (the next page computes them all)."""
    global _MEMORY
    with _LOCK:
        _MEMORY = _Memory()


def _database() -> tuple[str, ...]:
    db = connection.settings_dict
    return (connection.vendor, str(db["NAME"]), str(db.get("HOST", "")), str(db.get("PORT", "")))


def _marks() -> Marks:
    quote = connection.ops.quote_name
    columns = ", ".join(
        f"(SELECT MAX({quote('id')}) FROM {quote(model._meta.db_table)})" for model in _TABLES
    )
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {columns}")
        row = cursor.fetchone()
    return Marks(*(int(value or 0) for value in row))


Change = tuple[int, int, str]  # (table, id, hub id or patient id as text)


def _changed(since: Marks) -> set[Change]:
    """The rows above `since`, each with its hub (the acknowledgements: their patient); each
    query is an index step on the id. Readings and alarm changes come as one change per hub,
    its highest id: a hub draining its backlog stores thousands a second, and every page read
    each one again until LAG had passed (20 000 rows a page, and as many kept in `seen`). That
    is enough: a hub's rows of either are numbered in the order they are committed, since the
    store locks the hub's row before it writes them, until its commit (centre/store.py)."""
    found: set[Change] = set()
    for table, rows in enumerate(
        (
            _newest_by_hub(ReadingRow, since.readings),
            AcceptedBatch.objects.filter(id__gt=since.batches).values_list("id", "hub_id"),
            Document.objects.filter(id__gt=since.documents).values_list("id", "hub_id"),
            ReadingMark.objects.filter(id__gt=since.reading_marks).values_list(
                "id", "reading__hub_id"
            ),
            Acknowledgement.objects.filter(id__gt=since.acknowledgements).values_list(
                "id", "patient_id"
            ),
            _newest_by_hub(OutboxAlarmChange, since.outbox_alarms),
        )
    ):
        found.update((table, row_id, str(owner)) for row_id, owner in rows)
    return found


def _newest_by_hub(model: Any, since: int) -> list[tuple[int, str]]:
    """(highest id, hub) of each hub with rows of `model` above `since`: its readings, or its
    outbox alarm's changes (a hub's statuses may toggle it as often as it likes). On SQLite
    the GROUP BY term is written `+hub`, which keeps its planner on the ids above `since`:
    grouping by the plain column, it walked a whole index ordered by hub instead (900 000
    readings: 48 ms warm, 600 ms cold, bench/worklist.py)."""
    quote, column = connection.ops.quote_name, model._meta.get_field("hub").column
    table, hub, key = quote(model._meta.db_table), quote(column), quote("id")
    group = f"+{hub}" if connection.vendor == "sqlite" else hub
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT MAX({key}), {hub} FROM {table} WHERE {key} > %s GROUP BY {group}", [since]
        )
        return [(int(top), str(hub_id)) for top, hub_id in cursor.fetchall()]


def _kept_summaries(
    patient_ids: Sequence[int], episodes: Mapping[int, EpisodeRows], now: datetime
) -> list[triage.Summary]:
    clock = time.monotonic()
    marks, database = _marks(), _database()
    with _LOCK:
        memory = _MEMORY
        if memory.database != database or memory.looked is None or marks.below(memory.looked):
            memory = _restart(database, marks)
        since = memory.looked
    assert since is not None
    changes = _changed(since)
    with _LOCK:
        # The changes just found are visible to the load below; a page that loaded before
        # it took its tick may have missed them, and may not keep a summary they concern.
        # Rows an earlier page found are not news (they are found again until LAG has passed).
        tick = next(_TICKS)
        news = changes - memory.seen
        memory.seen |= news
        hubs = {owner for table, _, owner in news if table != ACKNOWLEDGEMENTS}
        patients = {int(owner) for table, _, owner in news if table == ACKNOWLEDGEMENTS}
        _drop(memory, hubs, patients, tick)
        due, shown = _due(memory, patient_ids, episodes, now)
    fresh: dict[int, Kept] = {}
    for start in range(0, len(due), COMPUTE_CHUNK):  # a page with nothing kept: a few at a time
        fresh.update(_compute(due[start : start + COMPUTE_CHUNK], now, tick, episodes))
    with _LOCK:
        _store(memory.kept, memory, fresh, tick)
        _look_further(memory, clock, marks)
    shown.update((pid, kept) for pid, kept in fresh.items())
    return [shown[pid].summary for pid in patient_ids]


def _store(into: dict[int, Kept], memory: _Memory, fresh: Mapping[int, Kept], tick: int) -> None:
    """Keep what was computed from data loaded at `tick`, unless a change found since concerns
    it or a summary loaded later is kept already (the caller holds _LOCK)."""
    for pid, kept in fresh.items():
        floor = max([memory.floor.get(pid, 0), *(memory.hub_floor.get(h, 0) for h in kept.hubs)])
        old = into.get(pid)
        if floor <= tick and (old is None or old.tick <= tick):
            into[pid] = kept


def _restart(database: tuple[str, ...], marks: Marks) -> _Memory:
    global _MEMORY
    _MEMORY = _Memory(database=database, looked=marks)
    return _MEMORY


def _drop(memory: _Memory, hubs: set[str], patients: set[int], tick: int) -> None:
    """Forget the summaries the changes concern, and refuse those loaded before `tick`."""
    for kept_ones in (memory.kept, memory.ahead):
        for pid, kept in list(kept_ones.items()):
            if pid in patients or not kept.hubs.isdisjoint(hubs):
                del kept_ones[pid]
    memory.floor.update(dict.fromkeys(patients, tick))
    memory.hub_floor.update(dict.fromkeys(hubs, tick))


def _due(
    memory: _Memory,
    patient_ids: Sequence[int],
    episodes: Mapping[int, EpisodeRows],
    now: datetime,
) -> tuple[list[int], dict[int, Kept]]:
    """The patients to compute (no summary, other episodes, or its time is up, and the
    REFRESH_BUDGET longest unrefreshed), and the summaries kept for the others."""
    due, shown, stale = [], {}, []
    for pid in patient_ids:
        kept = memory.kept.get(pid)
        if not _holds(kept, episodes.get(pid, frozenset()), now):
            kept = memory.ahead.pop(pid, None)  # computed ahead for the moment it ran out
            if kept is None or not _holds(kept, episodes.get(pid, frozenset()), now):
                due.append(pid)
                continue
            memory.kept[pid] = kept
        assert kept is not None
        shown[pid] = kept
        if now >= kept.refresh_after:
            stale.append(kept)
    stale.sort(key=lambda kept: kept.refresh_after)
    return due + [int(kept.summary.patient) for kept in stale[:REFRESH_BUDGET]], shown


def _holds(kept: Kept | None, episodes: EpisodeRows, now: datetime) -> bool:
    """Whether a kept summary is the answer at `now` for these episodes."""
    return (
        kept is not None
        and kept.episodes == episodes
        and kept.computed_at <= now
        and (kept.until is None or now < kept.until)
    )


def refresh(now: datetime, most: int = REFRESH_CHUNK) -> int:
    """Work the pages would otherwise do, done beforehand by `centre web`'s refresher thread
    (centre/web/serve.py); returns how many summaries it computed (at most `most`).

    Summaries past REFRESH_AFTER are computed again now. Summaries whose time is up within
    AHEAD (a scheduled time passing its grace: every patient with that schedule at once, 2 000
    summaries on the next page) are computed for that moment and kept until it comes; a change
    found before then drops them as it drops the kept ones. Neither looks for changes: pages do,
    and what a page would drop is what the floors refuse here."""
    with _LOCK:
        memory, tick = _MEMORY, next(_TICKS)
        stale = sorted(
            (k for k in memory.kept.values() if k.refresh_after <= now),
            key=lambda k: k.refresh_after,
        )[:most]
        coming: dict[datetime, list[Kept]] = {}
        for kept in memory.kept.values():
            ahead = memory.ahead.get(int(kept.summary.patient))
            if kept.until is None or not now < kept.until <= now + AHEAD:
                continue
            # Just after: at the moment itself changes_after may name the moment again.
            at = kept.until + JUST_AFTER
            if ahead is None or ahead.computed_at != at:
                coming.setdefault(at, []).append(kept)
    done = _refresh_group(memory, stale, now, tick, memory.kept)
    for at, group in sorted(coming.items()):
        if done >= most:
            break
        done += _refresh_group(memory, group[: most - done], at, tick, memory.ahead)
    return done


def _refresh_group(
    memory: _Memory, group: Sequence[Kept], at: datetime, tick: int, into: dict[int, Kept]
) -> int:
    if not group:
        return 0
    episodes = {int(k.summary.patient): k.episodes for k in group}
    fresh = _compute(list(episodes), at, tick, episodes)
    with _LOCK:
        _store(into, memory, fresh, tick)
    return len(group)


def _look_further(memory: _Memory, clock: float, marks: Marks) -> None:
    """Every row up to the marks sampled LAG or more before this page began has been looked at
    by it: their transactions were under way then at the latest, and had ended."""
    memory.samples.append((clock, marks))
    settled = [marks for at, marks in memory.samples if at <= clock - LAG]
    if memory.looked is not None:
        for sample in settled:
            memory.looked = Marks(*map(max, memory.looked.ids(), sample.ids()))
        looked = memory.looked.ids()
        memory.seen = {change for change in memory.seen if change[1] > looked[change[0]]}
    memory.samples = [(at, marks) for at, marks in memory.samples if at > clock - LAG]


def _compute(
    patient_ids: Sequence[int], now: datetime, tick: int, shown: Mapping[int, EpisodeRows]
) -> dict[int, Kept]:
    """The summaries of `patient_ids`, each kept for the episodes the page read (`shown`): if
    they changed before `load` read them, the next page finds them different and computes
    again."""
    loaded = load(patient_ids, now)
    out = {}
    for pid in patient_ids:
        data = patient_data(pid, loaded, now)
        summary = triage.summarise(str(pid), data, triage.triage(data, now), now)
        episodes = loaded.episodes.get(pid, ())
        ends = [
            at
            for r in data.readings
            for at in (r.measured_at + WINDOW, r.measured_at + OPEN_WINDOW)
            if at >= now
        ]
        for at in (triage.changes_after(data, now), loaded.acks_until.get(pid)):
            if at is not None:
                ends.append(at)
        out[pid] = Kept(
            summary=summary,
            episodes=shown.get(pid, frozenset()),
            hubs=frozenset(e.hub_id for e in episodes),
            computed_at=now,
            until=min(ends, default=None),
            refresh_after=_refresh_after(pid, now),
            tick=tick,
        )
    return out


def _refresh_after(patient_id: int, now: datetime) -> datetime:
    """Between half REFRESH_AFTER and all of it, spread by patient: summaries computed together
    (the warm-up's 2 000) are not all due again in the same moment."""
    share = (patient_id * 2654435761 % 1000) / 1000
    return now + REFRESH_AFTER * (0.5 + share / 2)


def _episodes(patient_ids: Sequence[int], now: datetime) -> dict[int, list[Episode]]:
    """The episodes of the patients that count at `now`, converted for triage."""
    found: dict[int, list[Episode]] = {}
    for pid, hub_id, started, ended in _raw(_episode_query(Q(patient_id__in=patient_ids), now)):
        found.setdefault(pid, []).append(Episode(hub_id, _moment(started), _optional(ended)))
    return found


def _episode_query(whose: Q, now: datetime) -> QuerySet[CareEpisode, tuple[Any, ...]]:
    rows = CareEpisode.objects.filter(whose, started__lte=now).filter(
        Q(ended__isnull=True) | Q(ended__gt=now - OPEN_WINDOW)
    )
    return rows.values_list("patient_id", "hub_id", UtcText("started"), UtcText("ended"))


class UtcText(Func):
    """A time column as ISO text in UTC without an offset, which `_moment` reads: the drivers'
    conversion to a datetime through Django's loaders cost more than the queries on PostgreSQL
    (15 us a value, 6 000 values a page: every patient's episodes, the changed ones' readings).
    On PostgreSQL through to_char, whatever the server's DateStyle; SQLite holds it so."""

    template = "CAST(%(expressions)s AS TEXT)"
    output_field = TextField()

    def as_postgresql(self, compiler: Any, connection: Any, **extra: Any) -> Any:
        utc = "to_char(%(expressions)s AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US')"
        return self.as_sql(compiler, connection, template=utc, **extra)


def _episode_rows(patients: QuerySet[Patient], now: datetime) -> dict[int, EpisodeRows]:
    """As `_episodes`, for every page: not converted (only compared with what a summary was
    kept for, and for the open episode's hub), which costs less than the query."""
    rows = _raw(_episode_query(Q(patient__in=patients), now))
    found: dict[int, set[tuple[Any, ...]]] = {}
    for pid, *episode in rows:
        found.setdefault(pid, set()).add(tuple(episode))
    return {pid: frozenset(episodes) for pid, episodes in found.items()}


def _open_hub(episodes: EpisodeRows) -> str | None:
    """The hub of the episode under way (the latest started, should the data hold two)."""
    running = [(started, hub_id) for hub_id, started, ended in episodes if ended is None]
    return str(max(running)[1]) if running else None


def _raw(query: QuerySet[Any, tuple[Any, ...]]) -> list[tuple[Any, ...]]:
    """The rows of `query` as the database driver gives them: every page reads every
    patient's episodes, a process's first page every patient's readings, and Django's
    conversion of each time costs more than the query."""
    sql, params = query.query.sql_with_params()
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        rows: list[tuple[Any, ...]] = cursor.fetchall()
    return rows


def _moment(text: str) -> datetime:
    """A time as `UtcText` writes it out: ISO text in UTC, without an offset."""
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def _optional(value: str | None) -> datetime | None:
    return None if value is None else _moment(value)


def _acknowledged(patient_ids: Sequence[int], now: datetime) -> dict[int, triage.Acknowledged]:
    return _acknowledged_until(patient_ids, now)[0]


def _acknowledged_until(
    patient_ids: Sequence[int], now: datetime
) -> tuple[dict[int, triage.Acknowledged], dict[int, datetime]]:
    """The acknowledgements of each patient, and when the first of them leaves the window."""
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
    until: dict[int, datetime] = {}
    for pid, key, at in rows.values_list("patient_id", "key", "at"):
        if not key.startswith(TIMELESS_KEYS):
            leaves = at + OPEN_WINDOW
            until[pid] = min(until.get(pid, leaves), leaves)
        reading_id = reading_id_of(key)
        if reading_id is not None:
            seqs.setdefault(pid, set()).add(reading_id)
        else:
            keys.setdefault(pid, set()).add(key)
    acknowledged = {
        pid: triage.Acknowledged(frozenset(seqs.get(pid, ())), frozenset(keys.get(pid, ())))
        for pid in set(seqs) | set(keys)
    }
    return acknowledged, until


def reading_id_of(key: str) -> int | None:
    """The reading id in "reading:<id>", or None for another kind of key."""
    return _id_after(READING_KEY, key)


def answer_id_of(key: str) -> int | None:
    """The answers' reading id in "questionnaire:<id>" (triage's key for a scored answer)."""
    return _id_after(ANSWER_KEY, key)


def _id_after(prefix: str, key: str) -> int | None:
    if not key.startswith(prefix):
        return None
    digits = key[len(prefix) :]
    return int(digits) if digits.isdigit() and len(digits) <= 18 else None


def _readings(
    hubs: Sequence[str], now: datetime, acknowledged: Mapping[int, triage.Acknowledged]
) -> dict[str, list[triage.Reading]]:
    silenced = {seq for ack in acknowledged.values() for seq in ack.seqs}
    silenced |= {
        answer
        for ack in acknowledged.values()
        for key in ack.keys
        if (answer := answer_id_of(key)) is not None
    }
    rows = (
        ReadingRow.objects.filter(hub_id__in=hubs, measured_at__gte=now - OPEN_WINDOW)
        .exclude(kind=HUB_HEALTH)  # the hub's own health: the technician's, not hers
        # Answers come "ok" from the hub: the centre judges their score, so they stay as long.
        # A call request unanswered stays as long, however old: she is still waiting. (Chosen
        # by the hub's time, for the (hub, measured_at) index: a request whose hub clock is
        # more than OPEN_WINDOW behind is not read; the hub's clock is synchronised by NTP.)
        .filter(Q(measured_at__gte=now - WINDOW) | ~Q(outcome="ok") | Q(kind__in=(ANSWERS, CALL)))
        .annotate(invalid=Exists(ReadingMark.objects.filter(reading=OuterRef("pk"))))
        .order_by()
        .values_list(
            "id",
            "hub_id",
            "kind",
            "values_json",
            "outcome",
            "problems_json",
            UtcText("measured_at"),
            UtcText("received_at"),
            UtcText("stored_at"),
            "invalid",
        )
    )
    by_hub: dict[str, list[triage.Reading]] = {}
    for row in _raw(rows):
        rid, hub_id, kind, values, outcome, problems, measured_raw, received, stored, invalid = row
        measured = _moment(measured_raw)
        # A call request's received_at is the hub's time of asking too: the centre's receipt
        # (stored_at) stands for it, to place it in an episode and rank it (`placed_at`).
        received = stored if kind == CALL else received
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
                received_at=_moment(received),
                problems=() if problems == "[]" else tuple(str(p) for p in _json_list(problems)),
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


def _hub_states(hubs: Sequence[str]) -> dict[str, triage.HubState]:
    """Each hub's last delivery (its newest batch: a hub may have gone quiet long before any
    window; with an index on (hub, stored_at) one step down the index) and its outbox alarm."""
    newest = (
        AcceptedBatch.objects.filter(hub_id=OuterRef("pk"))
        .order_by("-stored_at")
        .values("stored_at")[:1]
    )
    rows = (
        Hub.objects.filter(hub_id__in=hubs)
        .annotate(last=Subquery(newest))
        .values_list("hub_id", "last", "outbox_alarm", "outbox_since")
    )
    return {
        hub_id: triage.HubState(
            last_seen=last,
            outbox_alarm=OUTBOX_ALARMS.get(alarm),
            outbox_since=since if alarm in OUTBOX_ALARMS else None,
        )
        for hub_id, last, alarm, since in rows
    }


# What a hub's status may say (hub/wire/status.py); anything else recorded is read as none.
OUTBOX_ALARMS: dict[str | None, Alarm] = {alarm: alarm for alarm in get_args(Alarm)}


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
