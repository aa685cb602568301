"""The equipment shell (centre/equipment/service.py, issue 15) against a real database, SQLite and
PostgreSQL: a hypothesis state machine deploys, takes back, marks faulty, restocks and retires
two hubs and two devices among two patients, re-enrols hubs and ends care episodes by hand
(`centre end-episode`), and checks the rows after every step: at most one open use per piece,
deployed exactly when it has one, a hub in use only in an episode with its own hub id, a hub
never back in stock with the signing key it came back with, retired never changes, every
change audited."""

from __future__ import annotations

import contextlib
import itertools
from datetime import date

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule, run_state_machine_as_test

from centre.equipment import service
from centre.equipment.lifecycle import Refused
from centre.equipment.models import Equipment, EquipmentUse
from centre.people.models import AuditEntry, CareEpisode, Municipality, Patient, Team
from centre.people.registry import RegistryError, end_episode
from centre.records.models import Hub

_run = itertools.count(1)


class InventoryOnDisk(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        run = next(_run)
        place = Municipality.objects.get_or_create(number="0301", defaults={"name": "Oslo"})[0]
        team = Team.objects.get_or_create(name="Øst", municipality=place)[0]
        self.patients = [
            Patient.objects.create(
                name=f"P{run}-{n}",
                birth_date=date(1950, 1, 1),
                national_id=f"{run:06d}{n:05d}",
                diagnosis="other",
                team=team,
            ).pk
            for n in (1, 2)
        ]
        self.items: list[int] = []
        self.hub_ids: dict[int, str] = {}
        for n in (1, 2):
            hub_id = f"hub-{run}-{n}"
            Hub.objects.create(
                hub_id=hub_id, signing_key=f"{hub_id}-k0", enrolled_at="2026-01-01T00:00Z"
            )
            made = service.add("hub", "Pi", f"{run}-{n}", hub_id=hub_id, by="t")
            self.items.append(made.pk)
            self.hub_ids[made.pk] = hub_id
        for n in (1, 2):
            address = f"00:00:00:{run % 256:02X}:{run // 256 % 256:02X}:0{n}"
            made = service.add(
                "device", "Cuff", f"{run}-{n}", address=address, profile="blood_pressure", by="t"
            )
            self.items.append(made.pk)
        self.keys = itertools.count(1)
        self.returned_with: dict[int, str] = {}
        self.retired: set[int] = set()
        self.audited = self._changes()

    def _changes(self) -> int:
        return AuditEntry.objects.filter(user="t", action="change").count()

    def _key(self, pk: int) -> str:
        return str(Hub.objects.get(hub_id=self.hub_ids[pk]).signing_key)

    def _done(self, act: object) -> bool:
        before = self._changes()
        try:
            assert callable(act)
            act()
        except (Refused, service.EquipmentError, RegistryError):
            assert self._changes() == before, "a refusal changes nothing, audits nothing"
            return False
        assert self._changes() > before, "every change is audited"
        return True

    @rule(item=st.integers(0, 3), patient=st.integers(0, 1))
    def deploy(self, item: int, patient: int) -> None:
        pk = self.items[item]
        self._done(lambda: service.deploy(pk, self.patients[patient], by="t"))

    @rule(item=st.integers(0, 3), faulty=st.booleans())
    def take_back(self, item: int, faulty: bool) -> None:
        pk = self.items[item]
        in_use = EquipmentUse.objects.filter(equipment_id=pk, ended=None).exists()
        key = self._key(pk) if pk in self.hub_ids else None
        act = service.mark_faulty if faulty else service.give_back
        if self._done(lambda: act(pk, by="t")) and in_use and key is not None:
            self.returned_with[pk] = key

    @rule(item=st.integers(0, 3), cleared=st.booleans())
    def restock(self, item: int, cleared: bool) -> None:
        pk = self.items[item]
        done = self._done(lambda: service.restock(pk, memory_cleared=cleared, by="t"))
        if done and pk in self.returned_with:
            assert self._key(pk) != self.returned_with.pop(pk), "back in stock unwiped"

    @rule(item=st.integers(0, 3))
    def retire(self, item: int) -> None:
        pk = self.items[item]
        if self._done(lambda: service.retire(pk, by="t")):
            self.retired.add(pk)

    @rule(hub=st.integers(0, 1))
    def wipe_and_enrol_again(self, hub: int) -> None:
        hub_id = self.hub_ids[self.items[hub]]
        Hub.objects.filter(hub_id=hub_id).update(signing_key=f"{hub_id}-k{next(self.keys)}")

    @rule(hub=st.integers(0, 1))
    def end_episode_by_hand(self, hub: int) -> None:
        with contextlib.suppress(RegistryError):  # it has none open
            end_episode(self.hub_ids[self.items[hub]])

    @invariant()
    def the_rows_keep_the_rules(self) -> None:
        for pk in self.items:
            equipment = Equipment.objects.get(pk=pk)
            open_uses = list(
                EquipmentUse.objects.filter(equipment_id=pk, ended=None).select_related("episode")
            )
            assert len(open_uses) <= 1
            assert (equipment.state == "deployed") == (len(open_uses) == 1)
            if pk in self.hub_ids and open_uses:
                assert open_uses[0].episode.hub_id == equipment.hub_id
            if pk in self.retired:
                assert equipment.state == "retired"
        for patient in self.patients:
            assert CareEpisode.objects.filter(patient_id=patient, ended=None).count() <= 1


def test_the_inventory_keeps_its_rules_in_the_database(centre_db: str) -> None:
    run_state_machine_as_test(
        InventoryOnDisk,
        settings=settings(
            max_examples=40,
            stateful_step_count=25,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow],
        ),
    )
