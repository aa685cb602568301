"""What may happen to a piece of equipment, and why not (issue 15): plain functions over plain
data, no Django (the import contract "The equipment lifecycle is pure", pyproject.toml). The
shell (centre/equipment/service.py) reads the facts from the database, asks here, and writes
what the answer says, in one transaction.

A hub or a Bluetooth device is never bound to a patient directly: a time-limited use of it in
the patient's care episode is (as in Denmark's national infrastructure). The states:

    in_stock --deploy--> deployed --give_back--> returned --restock--> in_stock
    in_stock, deployed, returned --mark_faulty--> faulty --restock (repaired)--> in_stock
    in_stock, returned, faulty --retire--> retired (final)

Rules, chosen here:

- Deploying a hub starts the patient's care episode with that hub, or uses her open episode
  with that very hub (made by `centre add-patient --hub`). A patient has one hub at a time; a hub
  that is not enrolled, is revoked, or has an open episode with another patient stays put.
- A device is deployed into the patient's open care episode: she must have a hub first.
- Giving a hub back ends its use and her care episode; the devices in use in that episode come
  back with it (the kit comes home together): their uses end and they become `returned`, to be
  checked one by one before they go back in stock.
- Marking deployed equipment faulty takes it out of use as giving it back does (a faulty hub
  ends the care episode too); marking it faulty while in stock or returned ends nothing.
- A hub that has served a patient goes back in stock only once it has been wiped: the proof is
  that the centre holds a new signing key for it (`hub wipe` destroys its keys; `centre enrol`
  and `hub provision` make new ones), under its hub id or a new one. The fingerprint of its key
  is kept when its use ends and compared when it is put back in stock.
- Under a new hub id, only one enrolled after the hub came back (a spare id enrolled before
  proves nothing about this box), and only once its old hub id is revoked: an unwiped box keeps
  its old identity's keys and could still send as it from the next patient's home.
- A device goes back in stock only when the technician confirms that its stored measurements
  were cleared (a cuff keeps records; the next patient's hub would download them): the centre
  cannot see that, so it asks.
- Retired is final.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from enum import StrEnum

from centre.errors import CentreError


class Kind(StrEnum):
    HUB = "hub"
    DEVICE = "device"


class State(StrEnum):
    IN_STOCK = "in_stock"
    DEPLOYED = "deployed"
    RETURNED = "returned"
    FAULTY = "faulty"
    RETIRED = "retired"


ALLOWED: Mapping[State, frozenset[State]] = {
    State.IN_STOCK: frozenset({State.DEPLOYED, State.FAULTY, State.RETIRED}),
    State.DEPLOYED: frozenset({State.RETURNED, State.FAULTY}),
    State.RETURNED: frozenset({State.IN_STOCK, State.FAULTY, State.RETIRED}),
    State.FAULTY: frozenset({State.IN_STOCK, State.RETIRED}),
    State.RETIRED: frozenset(),
}
"""Every change of state there is (the table tests and docs/operations.md read it)."""

REASONS: Mapping[str, str] = {
    "retired": "it is retired: retired equipment never goes back into use",
    "deployed": "it is with a patient: give it back first",
    "returned": (
        "it has come back and is not in stock yet: put it back in stock first (a hub once it is "
        "wiped and enrolled again)"
    ),
    "faulty": "it is marked faulty: repair it and put it back in stock first",
    "in_stock": "it is in stock already",
    "not_deployed": "it is not with a patient: only deployed equipment can be given back",
    "already_faulty": "it is marked faulty already",
    "no_episode": (
        "the patient has no hub with her: deploy a hub to her first (a device is used through "
        "her care episode with a hub)"
    ),
    "hub_not_enrolled": (
        "hub {hub_id} is not enrolled at this centre: enrol it (centre enrol) and provision it "
        "(hub provision) first"
    ),
    "hub_revoked": (
        "hub {hub_id} is revoked: enrol it again (centre enrol) and provision it (hub provision) "
        "first"
    ),
    "hub_with_other_patient": (
        "hub {hub_id} has an open care episode with another patient: end that episode first "
        "(centre end-episode {hub_id})"
    ),
    "patient_has_other_hub": (
        "the patient has hub {other} already: give that hub back first (a patient has one hub "
        "at a time)"
    ),
    "not_wiped": (
        "hub {hub_id} still has the signing key it came back with, so it has not been wiped: "
        "wipe it (hub wipe), enrol it under a new id (centre enrol <new id>) and provision it "
        "(hub provision), then put it back in stock with --hub-id <new id>"
    ),
    "no_key": (
        "hub {hub_id} is not enrolled at this centre, so nothing shows it was wiped: enrol it "
        "(centre enrol) and provision it (hub provision), then put it back in stock"
    ),
    "new_id_enrolled_before": (
        "hub {hub_id} was enrolled before this hub came back, so it shows nothing of this box: "
        "wipe the hub (hub wipe), enrol it under a new id now (centre enrol) and provision it "
        "(hub provision), then put it back in stock under that id"
    ),
    "old_id_not_revoked": (
        "its old hub id {old} is still enrolled and not revoked (the box could still send as "
        "it): revoke hub {old} first (centre revoke {old}, or Revoke on its page), then put it "
        "back in stock under {hub_id}"
    ),
    "memory_not_cleared": (
        "confirm that the device's stored measurements were cleared (--memory-cleared): the "
        "next patient's hub would otherwise receive them"
    ),
}
"""Why a change is refused, for the command line; the web has the same in its languages
(centre/web/views/equipment.py REFUSALS), by code."""


class Refused(CentreError, ValueError):
    """A change the rules do not allow; `code` names the reason (REASONS) and `details` fills
    it in, so each user interface can say it in its own words."""

    def __init__(self, code: str, **details: str) -> None:
        self.code = code
        self.details = details
        super().__init__(REASONS[code].format(**details))


@dataclass(frozen=True)
class Item:
    kind: Kind
    state: State
    hub_id: str | None = None  # a hub's id at the centre; None for a device
    # The fingerprint of a hub's signing key when its last use ended; None once it is back in
    # stock (or when it never served a patient).
    key_at_return: str | None = None


@dataclass(frozen=True)
class Patient:
    """What deploying needs to know of the patient: her open care episode, if any."""

    patient: int
    open_episode: int | None = None
    open_episode_hub: str | None = None


@dataclass(frozen=True)
class HubAtCentre:
    """What deploying a hub needs to know of it at the centre (centre/records/models.py Hub)."""

    enrolled: bool
    revoked: bool = False
    open_episode_patient: int | None = None  # the patient of its open care episode, if any


@dataclass(frozen=True)
class NewHubId:
    """What putting a hub back in stock under a new hub id needs to know at the centre."""

    hub_id: str
    enrolled: bool  # the new id is enrolled at the centre
    enrolled_after_return: bool  # enrolled after the hub's last use ended (or it had none)
    old_revoked: bool  # its old hub id is revoked, or not enrolled at all


@dataclass(frozen=True)
class Deployment:
    item: Item
    episode: int | None  # the care episode the use belongs to; None: start one (a hub's)


@dataclass(frozen=True)
class Taken:
    """Equipment taken out of use (given back, or found faulty)."""

    item: Item
    ended_use: bool  # its open use ends
    ends_episode: bool  # its care episode ends too, and the devices in use in it come back


def _refuse_state(item: Item, wanted: State) -> None:
    """Refuse a change the table does not have, with the reason of the state it is in."""
    if wanted in ALLOWED[item.state]:
        return
    if item.state is State.RETIRED:
        raise Refused("retired")
    if wanted is State.RETURNED:
        raise Refused("not_deployed")
    if wanted is State.FAULTY:
        raise Refused("already_faulty")
    raise Refused(item.state.value)


def deploy_hub(item: Item, hub: HubAtCentre, patient: Patient) -> Deployment:
    assert item.kind is Kind.HUB and item.hub_id is not None, "a hub has a hub id"
    _refuse_state(item, State.DEPLOYED)
    if not hub.enrolled:
        raise Refused("hub_not_enrolled", hub_id=item.hub_id)
    if hub.revoked:
        raise Refused("hub_revoked", hub_id=item.hub_id)
    if hub.open_episode_patient not in (None, patient.patient):
        raise Refused("hub_with_other_patient", hub_id=item.hub_id)
    if patient.open_episode_hub not in (None, item.hub_id):
        raise Refused("patient_has_other_hub", other=str(patient.open_episode_hub))
    # Her open episode with this very hub (registered with `centre add-patient --hub`) is used.
    episode = patient.open_episode if patient.open_episode_hub == item.hub_id else None
    return Deployment(replace(item, state=State.DEPLOYED), episode)


def deploy_device(item: Item, patient: Patient) -> Deployment:
    assert item.kind is Kind.DEVICE, "a hub is deployed with deploy_hub"
    _refuse_state(item, State.DEPLOYED)
    if patient.open_episode is None:
        raise Refused("no_episode")
    return Deployment(replace(item, state=State.DEPLOYED), patient.open_episode)


def give_back(item: Item, key_now: str | None = None) -> Taken:
    """The patient gives it back. `key_now`: the fingerprint of a hub's signing key at the
    centre now (None if it has none), kept to be compared when it goes back in stock."""
    _refuse_state(item, State.RETURNED)
    return _taken(item, State.RETURNED, key_now)


def mark_faulty(item: Item, key_now: str | None = None) -> Taken:
    _refuse_state(item, State.FAULTY)
    if item.state is State.DEPLOYED:
        return _taken(item, State.FAULTY, key_now)
    return Taken(replace(item, state=State.FAULTY), ended_use=False, ends_episode=False)


def _taken(item: Item, state: State, key_now: str | None) -> Taken:
    hub = item.kind is Kind.HUB
    # A hub without a key (revoked and forgotten by hand) is kept as "" so that it still has
    # to show a key before it goes back in stock.
    key = (key_now or "") if hub else None
    return Taken(replace(item, state=state, key_at_return=key), ended_use=True, ends_episode=hub)


def restock(
    item: Item,
    key_now: str | None = None,
    memory_cleared: bool = False,
    new_id: NewHubId | None = None,
) -> Item:
    """Back in stock, from returned or faulty (repaired). A hub that served a patient since it
    was last in stock needs a new signing key at the centre (`key_now`, its fingerprint): under
    its own hub id, or under the new id it was enrolled as (`new_id`: docs/operations.md step 7
    enrols a wiped hub under a new id), which must have been enrolled after it came back, and
    its old id revoked. A device needs the technician's word that its stored measurements were
    cleared."""
    _refuse_state(item, State.IN_STOCK)
    renamed = new_id if new_id is not None and new_id.hub_id != item.hub_id else None
    named = renamed.hub_id if renamed is not None else item.hub_id
    if item.kind is Kind.HUB and item.key_at_return is not None:
        if key_now is None:
            raise Refused("no_key", hub_id=str(named))
        if key_now == item.key_at_return:
            raise Refused("not_wiped", hub_id=str(named))
    if renamed is not None:
        if not renamed.enrolled:
            raise Refused("no_key", hub_id=str(named))
        if not renamed.enrolled_after_return:
            raise Refused("new_id_enrolled_before", hub_id=str(named))
        if not renamed.old_revoked:
            raise Refused("old_id_not_revoked", hub_id=str(named), old=str(item.hub_id))
    if item.kind is Kind.DEVICE and not memory_cleared:
        raise Refused("memory_not_cleared")
    return replace(item, state=State.IN_STOCK, key_at_return=None, hub_id=named)


def retire(item: Item) -> Item:
    _refuse_state(item, State.RETIRED)
    return replace(item, state=State.RETIRED)
