"""The worklist's kept summaries (issue 13, "Figures"): triage's answer holds until
triage.changes_after says, and a page with kept summaries shows what one computed afresh shows
after a new reading, an acknowledgement, a reading marked invalid, a new care plan, an ended
episode and the passing of a scheduled time. The timings are bench/worklist.py's, not here."""

from __future__ import annotations

import gc
import logging
from datetime import UTC, datetime, time, timedelta
from typing import Any

import psycopg
import pytest
from django.contrib.auth.models import User
from django.db import OperationalError, connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from hypothesis import given, settings
from hypothesis import strategies as st

from centre import triage
from centre.followup.models import Acknowledgement, ReadingMark
from centre.people.models import CareEpisode, Patient
from centre.records.models import Hub, Reading
from centre.web import serve, worklist_data
from centre.web.worklist_data import build, forget_summaries, load, load_worklist
from hub.core.care_plan import CarePlan
from hub.core.outcome import Outcome
from tests.test_web_worklist import BP_PLAN, HIGH, NOW, World, send_plan
from tests.test_web_worklist import world as world

OSLO = triage.OSLO
# Around both of 2026's clock changes in Oslo, and an ordinary day.
DAYS = (datetime(2026, 3, 29, tzinfo=UTC), datetime(2026, 10, 25, tzinfo=UTC))
BASES = (*DAYS, datetime(2026, 6, 10, tzinfo=UTC))

# --- triage.changes_after: the answer holds until then ---------------------------------------

times = st.sampled_from(["00:30", "02:30", "08:00", "12:00", "20:00", "23:59"])
plans = st.builds(
    lambda bp, spo2, top: CarePlan.model_validate(
        {
            "schedule": [
                *([{"kind": "blood_pressure", "times": bp}] if bp else []),
                *([{"kind": "spo2", "times": spo2}] if spo2 else []),
            ],
            "thresholds": {"blood_pressure": {"systolic": {"max": top}}},
        }
    ),
    st.lists(times, max_size=3, unique=True),
    st.lists(times, max_size=2, unique=True),
    st.sampled_from([150, 180]),
)
OUTCOMES: tuple[Outcome, ...] = ("ok", "ok", "flagged", "failed")
minutes = st.integers(min_value=-12 * 24 * 60, max_value=2 * 24 * 60)


@st.composite
def patients(draw: Any) -> tuple[triage.PatientData, datetime]:
    now = draw(st.sampled_from(BASES)) + timedelta(minutes=draw(minutes))
    readings = tuple(
        triage.Reading(
            kind=draw(st.sampled_from(["blood_pressure", "spo2", "weight"])),
            seq=seq,
            values={"systolic": draw(st.sampled_from([120, 170, 200])), "spo2": 95},
            outcome=draw(st.sampled_from(OUTCOMES)),
            measured_at=(at := now + timedelta(minutes=draw(minutes))),
            received_at=at + timedelta(minutes=draw(st.integers(-600, 600))),
            invalid=draw(st.booleans()),
        )
        for seq in range(draw(st.integers(0, 12)))
    )
    seen = draw(st.none() | minutes.map(lambda m: now + timedelta(minutes=m)))
    since = draw(st.none() | minutes.map(lambda m: now + timedelta(minutes=m)))
    acked = frozenset(r.seq for r in readings if draw(st.booleans()))
    data = triage.PatientData(
        readings=readings,
        plan=draw(st.none() | plans),
        plan_since=since,
        hub=triage.HubState(last_seen=seen),
        acknowledged=triage.Acknowledged(seqs=acked),
    )
    return data, now


def answer(data: triage.PatientData, at: datetime) -> triage.Summary:
    return triage.summarise("p", data, triage.triage(data, at), at)


@settings(max_examples=300, deadline=None)
@given(patients(), st.floats(min_value=0, max_value=1, exclude_max=True))
def test_triage_gives_the_same_until_changes_after(
    patient: tuple[triage.PatientData, datetime], share: float
) -> None:
    data, now = patient
    until = triage.changes_after(data, now)
    assert until is None or until >= now
    later = now + ((until - now) if until else timedelta(days=30)) * share
    if until is not None and until > now:
        # A timedelta times a float rounds to the microsecond: a share just under 1 can land
        # on `until` itself, where the answer may change.
        later = min(later, until - timedelta(microseconds=1))
    assert answer(data, later) == answer(data, now)


@settings(max_examples=200, deadline=None)
@given(patients())
def test_just_after_changes_after_the_answer_may_change_but_before_it_never(
    patient: tuple[triage.PatientData, datetime],
) -> None:
    data, now = patient
    until = triage.changes_after(data, now)
    if until is not None and until > now:
        assert answer(data, until - timedelta(microseconds=1)) == answer(data, now)


def local(day: datetime, hh: int, mm: int) -> datetime:
    return datetime.combine(day.astimezone(OSLO).date(), time(hh, mm), tzinfo=OSLO)


@pytest.mark.parametrize(
    ("plan_times", "now_at", "expected"),
    [
        (["08:00"], (9, 0), (10, 0)),  # the 08:00 slot's grace ends
        (["08:00"], (10, 30), (5, 0)),  # tomorrow's 08:00 starts taking readings at 05:00
        (["08:00", "20:00"], (10, 30), (17, 0)),
        ([], (10, 30), None),  # nothing scheduled, no hub: the answer stays
    ],
)
def test_changes_after_names_the_next_moment_of_the_schedule(
    plan_times: list[str], now_at: tuple[int, int], expected: tuple[int, int] | None
) -> None:
    day = datetime(2026, 6, 10, tzinfo=UTC)
    plan = CarePlan.model_validate({"schedule": [{"kind": "weight", "times": plan_times}]})
    now = local(day, *now_at)
    # The plan began this morning: the week before holds no slots to leave the window.
    data = triage.PatientData(plan=plan, plan_since=local(day, 7, 0))
    found = triage.changes_after(data, now)
    if expected is None:
        assert found is None
        return
    assert found is not None
    wanted = local(day, *expected)
    assert found == (wanted if wanted > now else wanted + timedelta(days=1))


def test_a_reading_dated_in_the_future_and_a_hub_going_quiet_are_moments_too() -> None:
    now = datetime(2026, 6, 10, 12, tzinfo=UTC)
    ahead = triage.Reading(
        kind="weight",
        seq=1,
        values={},
        outcome="ok",
        measured_at=now + timedelta(hours=5),
        received_at=now - timedelta(minutes=1),
    )
    hub = triage.HubState(last_seen=now - timedelta(hours=20))
    assert triage.changes_after(triage.PatientData(readings=(ahead,)), now) == now + timedelta(
        hours=5
    )
    assert triage.changes_after(triage.PatientData(hub=hub), now) == now + timedelta(hours=4)


def test_changes_after_refuses_a_time_without_a_zone() -> None:
    with pytest.raises(ValueError, match="time zone"):
        triage.changes_after(triage.PatientData(), datetime(2026, 6, 10, 12))


# --- kept summaries against the database ------------------------------------------------------


def rows(now: datetime) -> dict[str, tuple[Any, ...]]:
    """The worklist of kari's patients as shown, by patient name."""
    return {
        row.patient.name: (row.summary, row.reviewed_at, row.hub_id)
        for row in load_worklist(Patient.objects.filter(team__members__username="kari"), now)
    }


def afresh(now: datetime) -> dict[str, tuple[Any, ...]]:
    """The same computed from nothing kept (build over load, as before summaries were kept)."""
    chosen = list(Patient.objects.filter(team__members__username="kari").order_by("id"))
    return {
        row.patient.name: (row.summary, row.reviewed_at, row.hub_id)
        for row in build(chosen, load([p.id for p in chosen], now), now)
    }


def worst(now: datetime, name: str) -> str | None:
    shown = rows(now)
    assert shown == afresh(now), "kept summaries differ from summaries computed afresh"
    return shown[name][0].worst  # type: ignore[no-any-return]


@pytest.fixture
def kept(world: World) -> World:
    forget_summaries()
    return world


def test_after_the_warm_up_the_first_page_reads_no_reading(
    kept: World, caplog: pytest.LogCaptureFixture
) -> None:
    _patient, hub = kept.followed("Kari W", BP_PLAN)
    kept.reading(hub, timedelta(minutes=30), values=HIGH)
    kept.followed("Kari X", BP_PLAN)
    gc.unfreeze()
    with caplog.at_level(logging.INFO, logger="centre.web.serve"):
        serve.warm_up()  # what `centre web` runs in a thread of its own as it starts
    now = timezone.now()  # a page after it
    assert f"{serve.WARMED}: {Patient.objects.count()} patients" in caplog.text
    # What it keeps is left out of the collector's full passes (the pages' p95, bench/)
    assert gc.get_freeze_count() > 0
    gc.unfreeze()
    with CaptureQueriesContext(connection) as queries:
        shown = rows(now)
    assert not [q for q in queries.captured_queries if "values_json" in q["sql"]]
    assert shown["Kari W"][0].worst == "red" and shown["Kari X"][0].worst is None
    assert shown == afresh(now)


def test_a_new_reading_changes_the_row(kept: World) -> None:
    now = timezone.now()
    _patient, hub = kept.followed("Kari A", BP_PLAN)
    kept.reading(hub, timedelta(hours=2))
    assert worst(now, "Kari A") is None
    kept.reading(hub, timedelta(hours=1), values=HIGH)
    assert worst(now, "Kari A") == "red"


def test_a_hub_draining_its_backlog_is_one_change_to_the_worklist_not_one_a_reading(
    kept: World,
) -> None:
    """Every page looks at the rows of the last LAG seconds again; a draining hub stores
    thousands a second, and each was read and remembered by every page (outsider review)."""
    now = timezone.now()
    _patient, draining = kept.followed("Kari Drain", BP_PLAN)
    _other, quiet = kept.followed("Kari Quiet", BP_PLAN)
    kept.reading(quiet, timedelta(hours=3))
    assert worst(now, "Kari Drain") is None
    for minutes in range(300, 0, -1):  # its backlog: 300 readings, the newest one high
        kept.reading(draining, timedelta(minutes=minutes), values=HIGH if minutes == 1 else None)
    with CaptureQueriesContext(connection) as queries:
        assert worst(now, "Kari Drain") == "red"
    changes = [
        q["sql"] for q in queries.captured_queries if 'FROM "readings" WHERE "id" >' in q["sql"]
    ]
    assert len(changes) == 1 and "GROUP BY" in changes[0], changes
    if connection.vendor == "sqlite":  # the ids above the mark, not a whole index by hub
        with connection.cursor() as cursor:
            cursor.execute("EXPLAIN QUERY PLAN " + changes[0])
            plan = " ".join(str(row[-1]) for row in cursor.fetchall())
        assert "SEARCH readings USING INTEGER PRIMARY KEY" in plan and "SCAN" not in plan, plan
    readings_seen = [c for c in worklist_data._MEMORY.seen if c[0] == 0]
    assert readings_seen == [(0, Reading.objects.latest("id").id, draining.hub_id)]
    assert worst(now, "Kari Drain") == "red" and worst(now, "Kari Quiet") is None
    assert [c for c in worklist_data._MEMORY.seen if c[0] == 0] == readings_seen


def test_a_hub_toggling_its_outbox_alarm_is_one_change_to_the_worklist(
    kept: World, centre_db: str
) -> None:
    """Each change of the alarm is a row of its own; a hub may send as many statuses as it
    likes, and every page read each row again (second outsider review)."""
    from centre.records.models import OutboxAlarmChange
    from centre.store import CentreStore
    from hub.wire.status import read_status, status_payload

    now = timezone.now()
    _patient, hub = kept.followed("Kari Toggle", BP_PLAN)
    kept.reading(hub, timedelta(hours=3))
    assert worst(now, "Kari Toggle") is None
    store = CentreStore(centre_db)
    for n in range(60):  # near_full, cleared, near_full, ... the last one raises it
        at = (now - timedelta(minutes=60 - n)).astimezone(UTC).isoformat(timespec="milliseconds")
        alarm = "near_full" if n % 2 else None
        status = read_status(status_payload(hub.hub_id, "online", at, at, alarm), hub.hub_id)
        store.record_status(hub.hub_id, status, live=True)
    assert OutboxAlarmChange.objects.filter(hub=hub).count() == 59  # the first: no alarm yet
    assert worst(now, "Kari Toggle") == "outbox_filling"
    alarms_seen = [c for c in worklist_data._MEMORY.seen if c[0] == 5]
    assert alarms_seen == [(5, OutboxAlarmChange.objects.latest("id").id, hub.hub_id)]


def test_an_acknowledgement_changes_the_row(kept: World) -> None:
    now = timezone.now()
    patient, hub = kept.followed("Kari B", BP_PLAN)
    high = kept.reading(hub, timedelta(hours=1), values=HIGH)
    assert worst(now, "Kari B") == "red"
    Acknowledgement.objects.create(
        patient=patient, key=f"reading:{high.id}", by=User.objects.get(username="kari")
    )
    assert worst(now, "Kari B") is None


def test_a_reading_marked_invalid_changes_the_row(kept: World) -> None:
    now = timezone.now()
    _patient, hub = kept.followed("Kari C", BP_PLAN)
    high = kept.reading(hub, timedelta(hours=1), values=HIGH)
    assert worst(now, "Kari C") == "red"
    ReadingMark.objects.create(reading=high, reason="cuff", by=User.objects.get(username="kari"))
    assert worst(now, "Kari C") is None


def test_a_new_care_plan_changes_the_row(kept: World) -> None:
    now = timezone.now()
    _patient, hub = kept.followed("Kari D", BP_PLAN)
    kept.reading(hub, timedelta(hours=1), values={"systolic": 170.0, "diastolic": 80.0})
    assert worst(now, "Kari D") is None
    send_plan(hub, {"thresholds": {"blood_pressure": {"systolic": {"max": 160}}}}, now)
    assert worst(now, "Kari D") == "red"


def test_an_ended_episode_changes_the_row(kept: World) -> None:
    now = timezone.now()
    patient, hub = kept.followed("Kari E", BP_PLAN)
    assert rows(now)["Kari E"][2] == hub.hub_id
    CareEpisode.objects.filter(patient=patient).update(ended=now - timedelta(minutes=5))
    assert rows(now)["Kari E"][2] is None
    assert rows(now) == afresh(now)


def test_the_passing_of_a_scheduled_time_changes_the_row(kept: World) -> None:
    yesterday = timezone.now() - timedelta(days=1)
    # Followed since 07:00 yesterday with a weight at 08:00: missing once 10:00 has passed.
    _patient, hub = kept.followed(
        "Kari F",
        {"schedule": [{"kind": "weight", "times": ["08:00"]}]},
        started=local(yesterday, 7, 0),
    )
    assert worst(local(yesterday, 9, 0), "Kari F") is None
    assert worst(local(yesterday, 9, 59), "Kari F") is None
    assert worst(local(yesterday, 10, 1), "Kari F") == "missing"
    # A reading at 08:10 takes the slot: the kept "missing" goes with it.
    kept.reading(hub, NOW - local(yesterday, 8, 10), kind="weight")
    assert worst(local(yesterday, 10, 2), "Kari F") is None


def reads_readings(now: datetime) -> bool:
    """Whether the worklist at `now` reads any reading (computes any summary)."""
    with CaptureQueriesContext(connection) as queries:
        rows(now)
    return any("values_json" in q["sql"] for q in queries.captured_queries)


def weight_at_eight(world: World, name: str, day: datetime) -> Hub:
    """Followed since 07:00 on `day` with a weight at 08:00: missing once 10:00 has passed."""
    _patient, hub = world.followed(
        name, {"schedule": [{"kind": "weight", "times": ["08:00"]}]}, started=local(day, 7, 0)
    )
    return hub


def test_a_summary_computed_ahead_of_a_scheduled_time_serves_the_page_after_it(
    kept: World,
) -> None:
    yesterday = timezone.now() - timedelta(days=1)
    weight_at_eight(kept, "Kari R", yesterday)
    weight_at_eight(kept, "Kari S", yesterday)
    assert worst(local(yesterday, 9, 57), "Kari R") is None
    # Every patient with that schedule changes at 10:00: computed at 09:58 for 10:00
    assert worklist_data.refresh(local(yesterday, 9, 58)) == 2
    assert worklist_data.refresh(local(yesterday, 9, 59)) == 0, "once is enough"
    assert not reads_readings(local(yesterday, 10, 1))
    assert worst(local(yesterday, 10, 1), "Kari R") == "missing"
    assert worst(local(yesterday, 10, 1), "Kari S") == "missing"


def test_a_reading_after_the_summary_was_computed_ahead_is_shown(kept: World) -> None:
    yesterday = timezone.now() - timedelta(days=1)
    hub = weight_at_eight(kept, "Kari T", yesterday)
    assert worst(local(yesterday, 9, 57), "Kari T") is None
    assert worklist_data.refresh(local(yesterday, 9, 58)) == 1
    kept.reading(hub, NOW - local(yesterday, 8, 10), kind="weight")  # the slot is taken
    assert worst(local(yesterday, 10, 1), "Kari T") is None


def test_a_reading_before_the_refresh_but_unseen_by_pages_is_in_what_it_computes(
    kept: World,
) -> None:
    yesterday = timezone.now() - timedelta(days=1)
    hub = weight_at_eight(kept, "Kari U", yesterday)
    assert worst(local(yesterday, 9, 57), "Kari U") is None
    kept.reading(hub, NOW - local(yesterday, 8, 10), kind="weight")
    worklist_data.refresh(local(yesterday, 9, 58))  # no page has looked for changes since
    assert worst(local(yesterday, 10, 1), "Kari U") is None


def test_summaries_past_their_refresh_time_are_computed_again_by_the_refresher(
    kept: World,
) -> None:
    now = timezone.now()
    for name in ("Kari V1", "Kari V2", "Kari V3"):
        kept.followed(name, BP_PLAN)
    rows(now)
    later = now + worklist_data.REFRESH_AFTER + timedelta(seconds=1)
    assert worklist_data.refresh(later, most=2) == 2
    assert worklist_data.refresh(later, most=2) == 1
    assert worklist_data.refresh(later) == 0
    assert not reads_readings(later)
    assert rows(later) == afresh(later)


def test_a_summary_computed_ahead_is_not_used_once_the_episode_ended(kept: World) -> None:
    yesterday = timezone.now() - timedelta(days=1)
    weight_at_eight(kept, "Kari Z", yesterday)
    assert worst(local(yesterday, 9, 57), "Kari Z") is None
    assert worklist_data.refresh(local(yesterday, 9, 58)) == 1
    CareEpisode.objects.filter(patient__name="Kari Z").update(ended=local(yesterday, 9, 59))
    at = local(yesterday, 10, 1)
    assert rows(at) == afresh(at)


def test_what_the_refresher_loaded_before_a_page_found_a_change_is_not_kept(
    kept: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The refresher has read the data; a reading arrives and another nurse's page finds it
    # before the refresher keeps what it computed: that must not be kept (the floors).
    now = timezone.now()
    _patient, hub = kept.followed("Kari Race", BP_PLAN)
    kept.followed("Other", BP_PLAN, team=kept.other)
    worklist_data.load_worklist(Patient.objects.all(), now)
    later = now + worklist_data.REFRESH_AFTER + timedelta(seconds=1)
    real_load = worklist_data.load

    def racing_load(patient_ids: Any, at: datetime) -> Any:
        loaded = real_load(patient_ids, at)
        if not raced:
            raced.append(True)
            kept.reading(hub, timedelta(minutes=1), values=HIGH)
            worklist_data.load_worklist(Patient.objects.filter(name="Other"), later)
        return loaded

    raced: list[bool] = []
    monkeypatch.setattr(worklist_data, "load", racing_load)
    worklist_data.refresh(later)
    monkeypatch.setattr(worklist_data, "load", real_load)
    assert raced and worst(later, "Kari Race") == "red"


@pytest.mark.parametrize(
    "failure",
    [OperationalError("server closed the connection unexpectedly"), KeyError("a triage bug")],
)
def test_the_refresher_goes_on_whatever_fails_and_says_so_once(
    kept: World,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
    failure: Exception,
) -> None:
    kept.followed("Kari W2", BP_PLAN)
    rows(timezone.now())
    real = worklist_data.refresh

    def failing(now: datetime, most: int = 0) -> int:
        raise failure

    monkeypatch.setattr(serve, "REFRESH_EVERY_S", 0.0)
    state = serve.Refresher()
    with caplog.at_level(logging.INFO, logger="centre.web.serve"):
        monkeypatch.setattr(worklist_data, "refresh", failing)
        assert serve.refresh_for_pages(state) == 0
        assert serve.refresh_for_pages(state) == 0
        monkeypatch.setattr(worklist_data, "refresh", real)
        serve.refresh_for_pages(state)
    assert caplog.text.count(serve.REFRESH_FAILING) == 1
    assert "refreshed ahead again" in caplog.text


def cut_connection() -> None:
    """End this thread's database connection underneath Django, as a PostgreSQL restart does
    (on SQLite: its connection closed)."""
    from django.db import connection

    raw = connection.connection
    assert raw is not None, "the thread has a connection to cut"
    if connection.vendor != "postgresql":
        raw.close()
        return
    settings = connection.settings_dict
    with psycopg.connect(
        host=settings["HOST"],
        port=settings["PORT"],
        user=settings["USER"],
        password=settings["PASSWORD"],
        dbname=settings["NAME"],
        autocommit=True,
    ) as admin:
        admin.execute("SELECT pg_terminate_backend(%s)", [raw.info.backend_pid])


def test_the_refresher_connects_again_after_its_connection_was_cut(
    kept: World, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The refresher thread works outside web requests, where Django mends no connection
    (the ingest worker's own: tests/test_centre_ingest_reconnect.py)."""
    from django.db import connection

    kept.followed("Kari Cut", BP_PLAN)
    rows(timezone.now())
    clock = [timezone.now()]
    monkeypatch.setattr(timezone, "now", lambda: clock[0])
    monkeypatch.setattr(serve, "REFRESH_EVERY_S", 0.0)
    state = serve.Refresher()

    def turn() -> int:
        clock[0] += worklist_data.REFRESH_AFTER  # every kept summary is due again
        return serve.refresh_for_pages(state)

    with caplog.at_level(logging.INFO, logger="centre.web.serve"):
        assert turn() == 1
        cut_connection()
        assert turn() == 0
        assert state.failing and connection.connection is None, "the broken one is dropped"
        assert turn() == 1
    assert not state.failing
    assert caplog.text.count(serve.REFRESH_FAILING) == 1
    assert "refreshed ahead again" in caplog.text


def test_summaries_are_due_again_spread_over_the_second_half_of_refresh_after() -> None:
    now = datetime(2026, 6, 10, 12, tzinfo=UTC)
    due = [worklist_data._refresh_after(pid, now) - now for pid in range(1, 2001)]
    half = worklist_data.REFRESH_AFTER / 2
    assert all(half <= at <= worklist_data.REFRESH_AFTER for at in due)
    assert max(due) - min(due) > half * 0.9, "spread, not all at once"


@pytest.mark.parametrize(
    "at",
    [
        datetime(2026, 3, 29, 0, 59, 59, 123456, tzinfo=UTC),  # before Oslo's clocks go forward
        datetime(2026, 10, 25, 1, 30, tzinfo=UTC),  # no fraction
        datetime(1999, 12, 31, 23, 59, 59, 1, tzinfo=UTC),
        datetime(2026, 6, 10, 12, 0, 0, 500000, tzinfo=triage.OSLO),
    ],
)
def test_a_time_read_as_text_is_the_time_stored_whatever_the_sessions_settings(
    kept: World, at: datetime
) -> None:
    patient, _hub = kept.followed("Kari Text", BP_PLAN, started=at)
    query = CareEpisode.objects.filter(patient=patient).values_list(
        worklist_data.UtcText("started"), flat=True
    )
    assert worklist_data._moment(query.get()) == at
    if connection.vendor == "postgresql":  # a server set up otherwise than Django's sessions
        with connection.cursor() as cursor:
            cursor.execute("SET DateStyle = 'SQL, DMY'")
            cursor.execute("SET TIME ZONE 'America/New_York'")
        assert worklist_data._moment(query.get()) == at
        connection.close()


def test_a_page_for_one_patient_leaves_the_others_summaries_right(kept: World) -> None:
    now = timezone.now()
    first, _first_hub = kept.followed("Kari G", BP_PLAN)
    _second, second_hub = kept.followed("Kari H", BP_PLAN)
    assert rows(now)["Kari H"][0].worst is None
    kept.reading(second_hub, timedelta(minutes=30), values=HIGH)
    # A page of the first patient alone looks at what changed, the second's included ...
    load_worklist(Patient.objects.filter(id=first.id), now)
    # ... and the full list still shows the second one's new reading.
    assert worst(now, "Kari H") == "red"


def test_summaries_kept_for_another_database_are_not_used(kept: World) -> None:
    now = timezone.now()
    kept.followed("Kari I", BP_PLAN)
    rows(now)
    assert worklist_data._MEMORY.kept  # kept for this database
    with pytest.MonkeyPatch.context() as patch:
        patch.setitem(connection.settings_dict, "NAME", "another")
        rows(now)
        assert worklist_data._MEMORY.database[1] == "another"
    assert rows(now) == afresh(now)


def test_the_newest_batch_of_a_hub_is_one_index_step(kept: World) -> None:
    with connection.cursor() as cursor:
        constraints = connection.introspection.get_constraints(cursor, "batches")
    assert constraints["batches_newest"]["columns"] == ["hub_id", "stored_at"]
