"""The equipment lifecycle (centre/equipment/lifecycle.py, issue 15), pure: the table of changes
with the reason each refusal gives, and a hypothesis state machine over a small inventory (two
hubs, three devices, two patients) that checks after every step that a piece of equipment has at
most one open use, is deployed exactly when it has one, that a hub never goes back in stock with
the signing key it came back with, and that retired equipment never changes."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from centre.equipment import lifecycle
from centre.equipment.lifecycle import (
    ALLOWED,
    REASONS,
    HubAtCentre,
    Item,
    Kind,
    Patient,
    Refused,
    State,
)

HUB = Item(Kind.HUB, State.IN_STOCK, "hub-0001")
CUFF = Item(Kind.DEVICE, State.IN_STOCK)
ENROLLED = HubAtCentre(enrolled=True)
KARI = Patient(1)
KARI_WITH_HUB = Patient(1, open_episode=7, open_episode_hub="hub-0001")


def refusal(act: Callable[[], object]) -> str:
    with pytest.raises(Refused) as refused:
        act()
    return refused.value.code


# -- the table ---------------------------------------------------------------------------------


@pytest.mark.parametrize("state", list(State))
def test_deploying_needs_stock(state: State) -> None:
    hub, cuff = replace(HUB, state=state), replace(CUFF, state=state)
    if state is State.IN_STOCK:
        assert lifecycle.deploy_hub(hub, ENROLLED, KARI).item.state is State.DEPLOYED
        assert lifecycle.deploy_device(cuff, KARI_WITH_HUB).item.state is State.DEPLOYED
        return
    assert refusal(lambda: lifecycle.deploy_hub(hub, ENROLLED, KARI)) == state.value
    assert refusal(lambda: lifecycle.deploy_device(cuff, KARI_WITH_HUB)) == state.value


@pytest.mark.parametrize(
    ("state", "give_back", "faulty", "restock", "retire"),
    [
        (State.IN_STOCK, "not_deployed", State.FAULTY, "in_stock", State.RETIRED),
        (State.DEPLOYED, State.RETURNED, State.FAULTY, "deployed", "deployed"),
        (State.RETURNED, "not_deployed", State.FAULTY, State.IN_STOCK, State.RETIRED),
        (State.FAULTY, "not_deployed", "already_faulty", State.IN_STOCK, State.RETIRED),
        (State.RETIRED, "retired", "retired", "retired", "retired"),
    ],
)
def test_each_change_from_each_state(
    state: State,
    give_back: State | str,
    faulty: State | str,
    restock: State | str,
    retire: State | str,
) -> None:
    cuff = replace(CUFF, state=state)
    acts: list[tuple[Callable[[], Item], State | str]] = [
        (lambda: lifecycle.give_back(cuff).item, give_back),
        (lambda: lifecycle.mark_faulty(cuff).item, faulty),
        (lambda: lifecycle.restock(cuff, memory_cleared=True), restock),
        (lambda: lifecycle.retire(cuff), retire),
    ]
    for act, expected in acts:
        if isinstance(expected, State):
            assert act().state is expected
            assert expected in ALLOWED[state], "the table lists every change there is"
        else:
            assert refusal(act) == expected


def test_every_reason_reads_as_advice_without_gaps() -> None:
    details = {"hub_id": "hub-0001", "other": "hub-0002", "old": "hub-0009"}
    for code, words in REASONS.items():
        said = str(Refused(code, **{k: v for k, v in details.items() if "{" + k in words}))
        assert "{" not in said and said[0].islower() and len(said) < 300, code


def test_a_hub_starts_her_episode_or_takes_her_open_one_with_it() -> None:
    assert lifecycle.deploy_hub(HUB, ENROLLED, KARI).episode is None  # start one
    assert lifecycle.deploy_hub(HUB, HubAtCentre(True, False, 1), KARI_WITH_HUB).episode == 7


@pytest.mark.parametrize(
    ("hub", "patient", "code"),
    [
        (HubAtCentre(enrolled=False), KARI, "hub_not_enrolled"),
        (HubAtCentre(enrolled=True, revoked=True), KARI, "hub_revoked"),
        (HubAtCentre(True, False, open_episode_patient=2), KARI, "hub_with_other_patient"),
        (ENROLLED, Patient(1, 8, "hub-0002"), "patient_has_other_hub"),
    ],
)
def test_a_hub_stays_put_when_it_cannot_serve_her(
    hub: HubAtCentre, patient: Patient, code: str
) -> None:
    refused = refusal(lambda: lifecycle.deploy_hub(HUB, hub, patient))
    assert refused == code


def test_a_device_needs_her_care_episode() -> None:
    assert refusal(lambda: lifecycle.deploy_device(CUFF, KARI)) == "no_episode"
    assert lifecycle.deploy_device(CUFF, KARI_WITH_HUB).episode == 7


def test_a_hub_given_back_ends_the_episode_and_keeps_its_key() -> None:
    out = lifecycle.give_back(replace(HUB, state=State.DEPLOYED), key_now="k1")
    assert (out.item.state, out.item.key_at_return, out.ends_episode) == (
        State.RETURNED,
        "k1",
        True,
    )
    cuff = lifecycle.give_back(replace(CUFF, state=State.DEPLOYED))
    assert (cuff.item.state, cuff.ended_use, cuff.ends_episode) == (State.RETURNED, True, False)


def test_a_hub_goes_back_in_stock_only_with_a_new_key() -> None:
    back = replace(HUB, state=State.RETURNED, key_at_return="k1")
    assert refusal(lambda: lifecycle.restock(back, "k1")) == "not_wiped"
    assert refusal(lambda: lifecycle.restock(back, None)) == "no_key"
    assert lifecycle.restock(back, "k2") == replace(HUB, state=State.IN_STOCK)
    # Faulty from use keeps the key too; faulty from stock (it served nobody since) does not.
    faulty = lifecycle.mark_faulty(replace(HUB, state=State.DEPLOYED), "k1").item
    assert refusal(lambda: lifecycle.restock(faulty, "k1")) == "not_wiped"
    assert lifecycle.restock(lifecycle.mark_faulty(HUB, "k1").item, "k1").state is State.IN_STOCK


def test_a_hub_enrolled_under_a_new_id_goes_back_in_stock_under_it() -> None:
    back = replace(HUB, state=State.RETURNED, key_at_return="k1")
    fresh = lifecycle.NewHubId("hub-0009", True, enrolled_after_return=True, old_revoked=True)
    assert refusal(lambda: lifecycle.restock(back, None, new_id=fresh)) == "no_key"
    again = lifecycle.restock(back, "k9", new_id=fresh)
    assert (again.state, again.hub_id, again.key_at_return) == (State.IN_STOCK, "hub-0009", None)


def test_a_new_hub_id_is_one_enrolled_after_it_came_back_and_the_old_one_revoked() -> None:
    """Review of issue 15: a spare id enrolled before the hub came back shows nothing of this
    box, and an old id still enrolled lets an unwiped box send as it."""
    back = replace(HUB, state=State.RETURNED, key_at_return="k1")
    fresh = lifecycle.NewHubId("hub-0009", True, enrolled_after_return=True, old_revoked=True)
    spare = replace(fresh, enrolled_after_return=False)
    assert refusal(lambda: lifecycle.restock(back, "k9", new_id=spare)) == "new_id_enrolled_before"
    still = replace(fresh, old_revoked=False)
    assert refusal(lambda: lifecycle.restock(back, "k9", new_id=still)) == "old_id_not_revoked"
    unknown = replace(fresh, enrolled=False)
    assert refusal(lambda: lifecycle.restock(back, "k9", new_id=unknown)) == "no_key"
    # Faulty from stock (it served nobody): the old id must still be revoked first.
    faulty = lifecycle.mark_faulty(HUB).item
    assert refusal(lambda: lifecycle.restock(faulty, "k9", new_id=still)) == "old_id_not_revoked"
    # Its own id again is no new id: the key rule alone.
    same = replace(still, hub_id=str(HUB.hub_id), enrolled_after_return=False)
    assert lifecycle.restock(back, "k2", new_id=same).hub_id == HUB.hub_id


def test_a_device_goes_back_in_stock_when_its_memory_was_cleared() -> None:
    back = replace(CUFF, state=State.RETURNED)
    assert refusal(lambda: lifecycle.restock(back)) == "memory_not_cleared"
    assert lifecycle.restock(back, memory_cleared=True).state is State.IN_STOCK


# -- the state machine -------------------------------------------------------------------------


@dataclass
class Use:
    item: str
    episode: int
    open: bool = True


@dataclass
class Episode:
    patient: int
    hub_id: str
    open: bool = True


class Inventory(RuleBasedStateMachine):
    """The pure lifecycle driven as the shell drives it, against a model of the database."""

    HUBS = ("hub-0001", "hub-0002")
    DEVICES = ("cuff", "scale", "oximeter")
    PATIENTS = (1, 2)

    def __init__(self) -> None:
        super().__init__()
        self.items = {h: Item(Kind.HUB, State.IN_STOCK, h) for h in self.HUBS}
        self.items.update({d: Item(Kind.DEVICE, State.IN_STOCK) for d in self.DEVICES})
        self.keys: dict[str, str | None] = {h: f"{h}-key-0" for h in self.HUBS}
        self.revoked: set[str] = set()
        self.uses: list[Use] = []
        self.episodes: dict[int, Episode] = {}
        self.returned_with: dict[str, str | None] = {}  # the model's own record of the key
        self.retired: set[str] = set()
        self.new_keys = 0

    # What the shell reads from the database.
    def _patient(self, patient: int) -> Patient:
        open_ones = [(i, e) for i, e in self.episodes.items() if e.patient == patient and e.open]
        if not open_ones:
            return Patient(patient)
        number, episode = max(open_ones)
        return Patient(patient, number, episode.hub_id)

    def _hub(self, hub_id: str) -> HubAtCentre:
        holders = [e.patient for e in self.episodes.values() if e.hub_id == hub_id and e.open]
        return HubAtCentre(
            self.keys[hub_id] is not None, hub_id in self.revoked, holders[0] if holders else None
        )

    def _open_use(self, name: str) -> Use | None:
        return next((u for u in self.uses if u.item == name and u.open), None)

    def _key(self, name: str) -> str | None:
        return self.keys.get(name)

    @rule(name=st.sampled_from(HUBS + DEVICES), patient=st.sampled_from(PATIENTS))
    def deploy(self, name: str, patient: int) -> None:
        item = self.items[name]
        try:
            if item.kind is Kind.HUB:
                done = lifecycle.deploy_hub(item, self._hub(name), self._patient(patient))
            else:
                done = lifecycle.deploy_device(item, self._patient(patient))
        except Refused as refused:
            if item.state is not State.IN_STOCK:
                assert refused.code == item.state.value
            elif item.kind is Kind.DEVICE:
                assert refused.code == "no_episode"
                assert self._patient(patient).open_episode is None
            else:
                assert refused.code in {
                    "hub_not_enrolled",
                    "hub_revoked",
                    "hub_with_other_patient",
                    "patient_has_other_hub",
                }
            return
        assert item.state is State.IN_STOCK
        episode = done.episode
        if episode is None:
            episode = len(self.episodes) + 1
            self.episodes[episode] = Episode(patient, name)
        assert self.episodes[episode].patient == patient, "never into another patient's care"
        self.uses.append(Use(name, episode))
        self.items[name] = done.item

    @rule(name=st.sampled_from(HUBS + DEVICES), faulty=st.booleans())
    def take_back(self, name: str, faulty: bool) -> None:
        item = self.items[name]
        decide = lifecycle.mark_faulty if faulty else lifecycle.give_back
        try:
            taken = decide(item, self._key(name))
        except Refused:
            return
        use = self._open_use(name)
        if taken.ended_use:
            assert use is not None
            use.open = False
            if item.kind is Kind.HUB:
                self.returned_with[name] = self._key(name)
        if taken.ends_episode:
            assert use is not None
            for other in [u for u in self.uses if u.episode == use.episode and u.open]:
                back = lifecycle.give_back(self.items[other.item])
                assert not back.ends_episode, "only the hub ends the episode"
                self.items[other.item] = back.item
                other.open = False
            self.episodes[use.episode].open = False
        self.items[name] = taken.item

    @rule(name=st.sampled_from(HUBS + DEVICES), cleared=st.booleans())
    def restock(self, name: str, cleared: bool) -> None:
        try:
            item = lifecycle.restock(self.items[name], self._key(name), cleared)
        except Refused:
            return
        if name in self.returned_with:
            assert self._key(name) != self.returned_with.pop(name), "a hub back unwiped"
        self.items[name] = item

    @rule(name=st.sampled_from(HUBS + DEVICES))
    def retire(self, name: str) -> None:
        try:
            self.items[name] = lifecycle.retire(self.items[name])
        except Refused:
            return
        self.retired.add(name)

    @rule(hub=st.sampled_from(HUBS))
    def wipe_and_enrol_again(self, hub: str) -> None:
        self.new_keys += 1
        self.keys[hub] = f"{hub}-key-{self.new_keys}"
        self.revoked.discard(hub)

    @rule(hub=st.sampled_from(HUBS))
    def revoke(self, hub: str) -> None:
        self.revoked.add(hub)

    @rule(hub=st.sampled_from(HUBS))
    def end_episode_by_hand(self, hub: str) -> None:
        """`centre end-episode`, outside the inventory: the uses stay open until given back."""
        for episode in self.episodes.values():
            if episode.hub_id == hub:
                episode.open = False

    @invariant()
    def deployed_exactly_when_in_use_once(self) -> None:
        for name, item in self.items.items():
            open_uses = [u for u in self.uses if u.item == name and u.open]
            assert len(open_uses) <= 1
            assert (item.state is State.DEPLOYED) == (len(open_uses) == 1), name

    @invariant()
    def retired_never_changes(self) -> None:
        for name in self.retired:
            assert self.items[name].state is State.RETIRED

    @invariant()
    def a_hub_serves_one_patient_and_a_patient_has_one_hub(self) -> None:
        open_episodes = [e for e in self.episodes.values() if e.open]
        assert len({e.hub_id for e in open_episodes}) == len(open_episodes)
        assert len({e.patient for e in open_episodes}) == len(open_episodes)

    @invariant()
    def a_device_in_use_is_in_use_in_an_episode_its_hub_started(self) -> None:
        for use in self.uses:
            if use.open:
                assert use.episode in self.episodes


Inventory.TestCase.settings = settings(max_examples=200, stateful_step_count=40, deadline=None)
test_the_inventory_keeps_its_rules = Inventory.TestCase
