"""The worklist's kept summaries as a state machine (hypothesis): readings arrive (late ones
too), patients ask to be called (Ring meg), findings are acknowledged, readings marked invalid,
care plans changed, hubs report their outbox alarms, time passes over scheduled times, the
refresher computes ahead and again, in any order; after every step a page shows exactly what a
worklist computed from nothing shows at that moment. On SQLite and PostgreSQL.
`DHO_MODEL_EXAMPLES` raises the number of runs (default 10)."""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from django.contrib.auth.models import User
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule, run_state_machine_as_test

from centre.followup.models import Acknowledgement, ReadingMark
from centre.people.models import CareEpisode, Patient, Team
from centre.records.models import Hub, Reading
from centre.store import CentreStore
from centre.web import worklist_data
from centre.web.worklist_data import build, forget_summaries, load, load_worklist, row_keys
from hub.core.call_request import KIND as CALL
from hub.wire.status import read_status, status_payload
from tests.test_web_worklist import NOW, World, send_plan
from tests.test_web_worklist import world as world
from tests.test_worklist_speed_summaries import local

EXAMPLES = int(os.environ.get("DHO_MODEL_EXAMPLES", "10"))
PLAN = {
    "schedule": [
        {"kind": "weight", "times": ["08:00"]},
        {"kind": "blood_pressure", "times": ["08:00", "20:00"]},
    ],
    "thresholds": {"blood_pressure": {"systolic": {"max": 180}}},
}
TIGHTER = {**PLAN, "thresholds": {"blood_pressure": {"systolic": {"max": 150}}}}
PATIENTS = 3


def shown(team: Team, now: datetime, *, kept: bool) -> dict[str, Any]:
    patients = Patient.objects.filter(team=team)
    if kept:
        rows = load_worklist(patients, now)
    else:
        chosen = list(patients.order_by("id"))
        rows = build(chosen, load([p.id for p in chosen], now), now)
    return {row.patient.name: (row.summary, row.reviewed_at, row.hub_id) for row in rows}


class KeptSummaries(RuleBasedStateMachine):
    world: World  # set by the test before it runs the machine
    store: CentreStore  # the ingest's, on the same database: hubs' statuses go through it

    def __init__(self) -> None:
        super().__init__()
        forget_summaries()
        runs = next(self.world.seqs)
        self.team = Team.objects.create(
            name=f"Model {runs}", municipality=self.world.east.municipality
        )
        self.team.members.add(User.objects.get(username="kari"))
        # Yesterday 06:00, Oslo: the day's scheduled times lie ahead of the steps.
        self.now = local(NOW - timedelta(days=1), 6, 0)
        self.nurse = User.objects.get(username="kari")
        self.hubs: list[Hub] = []
        for n in range(PATIENTS):
            _patient, hub = self.world.followed(
                f"Model {runs}.{n}", PLAN, team=self.team, started=self.now - timedelta(days=3)
            )
            self.hubs.append(hub)
        self.readings: list[Reading] = []
        self.said = 0  # statuses said: each a millisecond later than the one before

    @rule(
        patient=st.integers(0, PATIENTS - 1),
        minutes_ago=st.integers(-30, 36 * 60),
        kind=st.sampled_from(["blood_pressure", "weight"]),
        systolic=st.sampled_from([120.0, 160.0, 200.0]),
        outcome=st.sampled_from(["ok", "ok", "flagged", "failed"]),
    )
    def a_reading_arrives(
        self, patient: int, minutes_ago: int, kind: str, systolic: float, outcome: str
    ) -> None:
        values = {"systolic": systolic, "diastolic": 80.0} if kind == "blood_pressure" else None
        at = self.now - timedelta(minutes=minutes_ago)
        reading = self.world.reading(
            self.hubs[patient],
            NOW - at,
            kind=kind,
            values=values or {"weight": 80.0},
            outcome=outcome,
            problems=("cuff_loose",) if outcome != "ok" else (),
        )
        self.readings.append(reading)

    @rule(
        patient=st.integers(0, PATIENTS - 1),
        # Twenty days ago: past the worklist's window, kept while unanswered (OPEN_WINDOW).
        minutes_ago=st.sampled_from([0, 5, 600, 20 * 24 * 60]),
    )
    def the_patient_asks_to_be_called(self, patient: int, minutes_ago: int) -> None:
        """Ring meg: a call request item, as the ingest stores it (answered by acknowledging
        it, below: the web's "I am calling now" is that and a document to the hub)."""
        at = self.now - timedelta(minutes=minutes_ago)
        request = self.world.reading(
            self.hubs[patient],
            NOW - at,
            kind=CALL,
            values={"request_id": f"model-{len(self.readings):04d}", "asked_at": at.isoformat()},
        )
        self.readings.append(request)

    @rule(patient=st.integers(0, PATIENTS - 1), everything=st.booleans())
    def a_nurse_acknowledges(self, patient: int, everything: bool) -> None:
        name = Patient.objects.filter(team=self.team).order_by("id")[patient].name
        summary = shown(self.team, self.now, kept=False)[name][0]
        keys = row_keys(summary.items)
        for key in keys if everything else keys[:1]:
            Acknowledgement.objects.get_or_create(
                patient=Patient.objects.get(name=name), key=key, defaults={"by": self.nurse}
            )

    @rule(data=st.data())
    def a_reading_is_marked_invalid(self, data: st.DataObject) -> None:
        if self.readings:
            reading = data.draw(st.sampled_from(self.readings))
            if not ReadingMark.objects.filter(reading=reading).exists():
                ReadingMark.objects.create(reading=reading, reason="model", by=self.nurse)

    @rule(
        patient=st.integers(0, PATIENTS - 1),
        alarm=st.sampled_from([None, "near_full", "over_budget"]),
    )
    def the_hub_reports_its_outbox(self, patient: int, alarm: str | None) -> None:
        """A hub's status, as the ingest records it: the alarm raised, changed, cleared."""
        self.said += 1
        at = (self.now + timedelta(milliseconds=self.said)).astimezone(UTC)
        stamp = at.isoformat(timespec="milliseconds")
        hub = self.hubs[patient].hub_id
        payload = status_payload(hub, "online", stamp, stamp, alarm, 1)
        self.store.record_status(hub, read_status(payload, hub), live=True)

    @rule(patient=st.integers(0, PATIENTS - 1), tighter=st.booleans())
    def the_care_plan_changes(self, patient: int, tighter: bool) -> None:
        send_plan(self.hubs[patient], TIGHTER if tighter else PLAN, self.now)

    @rule(patient=st.integers(0, PATIENTS - 1), minutes_ago=st.sampled_from([0, 30, 600]))
    def the_episode_ends_or_a_new_one_starts(self, patient: int, minutes_ago: int) -> None:
        """The hub comes home (the episode ends), or the patient gets a new one (an episode on
        a fresh hub starts), as a technician records it."""
        name = Patient.objects.filter(team=self.team).order_by("id")[patient].name
        at = self.now - timedelta(minutes=minutes_ago)
        running = CareEpisode.objects.filter(patient__name=name, ended=None)
        if running.filter(started__lt=at).exists():
            running.update(ended=at)
        elif not running.exists():  # from now: never over the one that ended
            hub = self.world.hub()
            patient_row = Patient.objects.get(name=name)
            CareEpisode.objects.create(patient=patient_row, hub_id=hub.hub_id, started=self.now)
            send_plan(hub, PLAN, self.now)
            self.hubs[patient] = hub

    @rule(
        minutes=st.sampled_from([1, 2, 3, 7, 29, 60, 119, 121, 240, 600]),
        refresher=st.booleans(),
    )
    def time_passes(self, minutes: int, refresher: bool) -> None:
        if refresher:  # `centre web`'s thread turned in the meantime
            worklist_data.refresh(self.now)
        self.now += timedelta(minutes=minutes)

    @rule(
        seconds=st.sampled_from([1, 90, 240]),
        refresher=st.booleans(),
        arrives=st.sampled_from([None, *range(PATIENTS)]),
        which=st.integers(0, 3),
    )
    def time_comes_close_to_a_moment_a_summary_changes(
        self, seconds: int, refresher: bool, arrives: int | None, which: int
    ) -> None:
        """Where summaries computed ahead are used, and go wrong if anything does: close to
        the next moment a kept summary's time is up, the refresher computing ahead for it, and
        then a reading arriving that it could not know of."""
        before = timedelta(seconds=seconds)
        # the next moments kept summaries name: most change nothing shown, a few do
        moment = self.now
        for _ in range(which + 1):
            pages = shown(self.team, moment, kept=True)
            assert pages  # keeps what the next moment is
            ends = [
                kept.until
                for kept in worklist_data._MEMORY.kept.values()
                if kept.until is not None and kept.until > moment
            ]
            if not ends:
                break
            moment = min(ends) + timedelta(seconds=1)
        if moment - before > self.now:
            self.now = moment - before
        if refresher:
            worklist_data.refresh(self.now)
        if arrives is not None:
            self.a_reading_arrives(arrives, 10, "blood_pressure", 200.0, "ok")

    @rule(
        most=st.sampled_from([1, 2, worklist_data.REFRESH_CHUNK]), later=st.sampled_from([0, 4, 11])
    )
    def the_refresher_turns(self, most: int, later: int) -> None:
        # `later`: as `centre web`'s thread does while no page is asked for
        worklist_data.refresh(self.now + timedelta(minutes=later), most=most)

    @invariant()
    def a_page_shows_what_a_fresh_computation_shows(self) -> None:
        assert shown(self.team, self.now, kept=True) == shown(self.team, self.now, kept=False)


@pytest.mark.filterwarnings("ignore::hypothesis.errors.NonInteractiveExampleWarning")
def test_kept_summaries_are_always_what_a_fresh_computation_shows(
    world: World, centre_db: str
) -> None:
    KeptSummaries.world = world
    KeptSummaries.store = CentreStore(centre_db)
    run_state_machine_as_test(
        KeptSummaries,
        settings=settings(
            max_examples=EXAMPLES,
            stateful_step_count=25,
            deadline=None,
            suppress_health_check=list(HealthCheck),
        ),
    )
