"""The equipment inventory's shell: it reads the facts from the database, asks the lifecycle
(centre/equipment/lifecycle.py) and writes what it says, with its audit entry, in one
transaction. The rows two technicians could change at once are locked first (SELECT ... FOR
UPDATE on PostgreSQL; SQLite lets one writer in at a time), and the database itself refuses a
second open use of one piece of equipment (models.py)."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import QuerySet

from centre.equipment import lifecycle
from centre.equipment.lifecycle import Kind, State
from centre.equipment.models import Equipment, EquipmentUse
from centre.errors import CentreError
from centre.people.models import AuditEntry, CareEpisode, Patient
from centre.records.models import Hub
from hub.wire.topics import HUB_ID_PATTERN

_ADDRESS = re.compile(r"[0-9A-Fa-f]{2}([:-][0-9A-Fa-f]{2}){5}")
NOTE_MAX = 200  # one note, as typed with a change
NOTES_KEPT = 2000  # the newest part of the notes is kept
Taking = Callable[[lifecycle.Item, str | None], lifecycle.Taken]


class EquipmentError(CentreError, ValueError):
    """Equipment that cannot be added or found as asked; says why."""


class HubIdTaken(EquipmentError):
    """The new hub id asked for is another piece of equipment's, or not a hub id."""


class NotYours(EquipmentError):
    """The equipment is in use by a patient the asker may not see (another team's): the web
    answers 404, as for every page of such a patient; nothing was done."""

    def __init__(self) -> None:
        super().__init__("it is in use by a patient you may not see: nothing was done")


class Changed(EquipmentError):
    """The equipment changed after the page (or command) that asks was shown."""

    def __init__(self) -> None:
        super().__init__("it changed since the page was shown: look at it again")


@dataclass
class Change:
    """What one change did: to the equipment, and to which patients' care."""

    equipment: Equipment
    patient: Patient | None = None  # whose care episode it concerned
    episode_ended: int | None = None  # a hub given back ends its care episode
    devices_returned: list[Equipment] = field(default_factory=list)  # ... and brings these


def normal_address(text: str) -> str:
    """A Bluetooth address as stored: AA:BB:CC:DD:EE:FF (typed with - or in lower case too)."""
    typed = text.strip()
    if not _ADDRESS.fullmatch(typed):
        raise EquipmentError(
            "a Bluetooth address is six pairs of hexadecimal digits, as 00:1A:7D:DA:71:13"
        )
    return typed.replace("-", ":").upper()


def key_fingerprint(signing_key: str) -> str:
    """What is compared to see that a hub has a new signing key (the whole SHA-256 of it)."""
    return hashlib.sha256(signing_key.encode()).hexdigest()


def item_of(equipment: Equipment) -> lifecycle.Item:
    return lifecycle.Item(
        Kind(equipment.kind), State(equipment.state), equipment.hub_id, equipment.key_at_return
    )


def add(
    kind: str,
    model: str,
    serial: str,
    *,
    hub_id: str | None = None,
    address: str | None = None,
    profile: str = "",
    notes: str = "",
    by: str,
) -> Equipment:
    """New equipment, in stock: a hub with its hub id, a device with its address and profile."""
    if kind not in {k.value for k in Kind}:
        raise EquipmentError(f"kind {kind[:20]!r} is not one of hub, device")
    if kind == Kind.HUB:
        if not hub_id or address or profile:
            raise EquipmentError("a hub has a hub id, and no Bluetooth address or profile")
    elif not address or not profile or hub_id:
        raise EquipmentError("a device has a Bluetooth address and a profile, and no hub id")
    made = Equipment(
        kind=kind,
        model=model.strip(),
        serial=serial.strip(),
        hub_id=hub_id.strip() if hub_id else None,
        address=normal_address(address) if address else None,
        profile=profile,
        notes=notes,
    )
    try:
        made.full_clean()
    except ValidationError as exc:
        raise EquipmentError("; ".join(exc.messages)) from None
    try:
        with transaction.atomic():
            made.save()
            _audit(by, made, "added", None)
    except IntegrityError:  # added by someone else in the meantime
        raise EquipmentError(
            "that serial number, hub id or address is registered already"
        ) from None
    return made


def find(reference: str) -> Equipment:
    """Equipment by a hub's id, a device's Bluetooth address, or its number (`list` shows it)."""
    typed = reference.strip()
    found = Equipment.objects.filter(hub_id=typed).first()
    if found is None and _ADDRESS.fullmatch(typed):
        found = Equipment.objects.filter(address=normal_address(typed)).first()
    if found is None and typed.isascii() and typed.isdigit() and len(typed) < 19:
        found = Equipment.objects.filter(pk=int(typed)).first()
    if found is None:
        raise EquipmentError(
            f"no equipment {typed[:40]!r}: give a hub's id, a device's Bluetooth address or "
            "the number `centre equipment list` shows"
        )
    return found


def deploy(pk: int, patient_id: int, *, by: str, seen: int | None = None) -> Change:
    """Into the patient's care episode: a hub starts it (or takes her open one with that very
    hub); a device joins her open episode."""
    try:
        with transaction.atomic():
            equipment = _locked(pk, seen)
            # Locked too: two hubs deployed to her at once must not both start an episode.
            patient = Patient.objects.select_for_update().get(pk=patient_id)
            open_episode = (
                CareEpisode.objects.filter(patient=patient, ended=None).order_by("-started").first()
            )
            facts = lifecycle.Patient(
                patient.pk,
                open_episode.pk if open_episode else None,
                open_episode.hub_id if open_episode else None,
            )
            item = item_of(equipment)
            if item.kind is Kind.HUB:
                done = lifecycle.deploy_hub(item, _hub_at_centre(str(equipment.hub_id)), facts)
            else:
                done = lifecycle.deploy_device(item, facts)
            now = datetime.now(UTC)
            if done.episode is None:
                episode = CareEpisode.objects.create(
                    patient=patient, hub_id=str(equipment.hub_id), started=now
                )
            else:
                episode = CareEpisode.objects.get(pk=done.episode)
            EquipmentUse.objects.create(equipment=equipment, episode=episode, started=now)
            _save(equipment, done.item)
            _audit(by, equipment, f"deployed in care episode {episode.pk}", patient)
    except IntegrityError:  # the constraints caught a race the locks could not (SQLite)
        raise EquipmentError(
            "someone else changed this equipment or the patient's hub at the same moment: "
            "look at the page again"
        ) from None
    return Change(equipment, patient)


def give_back(
    pk: int,
    note: str = "",
    *,
    by: str,
    seen: int | None = None,
    visible: QuerySet[Patient] | None = None,
) -> Change:
    """`visible`: the patients the asker may see (the web's user: centre/people/access.py); the
    equipment's open use must be one of theirs. None: anyone's (`centre equipment`, run by the
    centre's administrator on the server)."""
    return _take(pk, lifecycle.give_back, "given back", by, note, seen, visible)


def mark_faulty(
    pk: int,
    note: str = "",
    *,
    by: str,
    seen: int | None = None,
    visible: QuerySet[Patient] | None = None,
) -> Change:
    """`visible` as for give_back."""
    return _take(pk, lifecycle.mark_faulty, "marked faulty", by, note, seen, visible)


def restock(
    pk: int,
    note: str = "",
    *,
    memory_cleared: bool = False,
    hub_id: str | None = None,
    by: str,
    seen: int | None = None,
) -> Change:
    """Back in stock; a hub wiped and enrolled under a new id with `hub_id`."""
    with transaction.atomic():
        equipment = _locked(pk, seen)
        if hub_id is not None and hub_id != equipment.hub_id:
            if equipment.kind != Kind.HUB or not re.fullmatch(HUB_ID_PATTERN, hub_id):
                raise HubIdTaken(f"{hub_id[:63]!r} is not a hub id (or this is not a hub)")
            if Equipment.objects.filter(hub_id=hub_id).exists():
                raise HubIdTaken(f"hub {hub_id} is another piece of equipment already")
        key = _key_now(equipment, hub_id)
        renamed = _new_hub_id(equipment, hub_id) if hub_id is not None else None
        item = lifecycle.restock(item_of(equipment), key, memory_cleared, renamed)
        what = "back in stock" if item.hub_id == equipment.hub_id else f"back in stock as {hub_id}"
        _save(equipment, item, note)
        _audit(by, equipment, what, None)
    return Change(equipment)


def retire(pk: int, note: str = "", *, by: str, seen: int | None = None) -> Change:
    with transaction.atomic():
        equipment = _locked(pk, seen)
        _save(equipment, lifecycle.retire(item_of(equipment)), note)
        _audit(by, equipment, "retired", None)
    return Change(equipment)


def _take(
    pk: int,
    decide: Taking,
    what: str,
    by: str,
    note: str,
    seen: int | None,
    visible: QuerySet[Patient] | None,
) -> Change:
    """Give back or mark faulty: end its use, and for a hub her care episode and the uses of
    the devices in it (they come back with it: `returned`)."""
    with transaction.atomic():
        equipment = _locked(pk, seen)
        use = (
            EquipmentUse.objects.select_related("episode__patient")
            .filter(equipment=equipment, ended=None)
            .first()
        )
        # Checked under the lock: the use it ends is the one the asker may see.
        mine = visible is None or use is None or visible.filter(pk=use.episode.patient_id).exists()
        if not mine:
            raise NotYours
        taken = decide(item_of(equipment), _key_now(equipment))
        change = Change(equipment)
        now = datetime.now(UTC)
        if taken.ended_use and use is not None:
            _end(use, now)
            change.patient = use.episode.patient
            if taken.ends_episode:
                change.devices_returned = _bring_back_devices(use.episode, now, by)
                change.episode_ended = _end_episode(use.episode, now)
        _save(equipment, taken.item, note)
        _audit(by, equipment, what, change.patient)
    return change


def _bring_back_devices(episode: CareEpisode, now: datetime, by: str) -> list[Equipment]:
    back = []
    uses = EquipmentUse.objects.filter(episode=episode, ended=None, equipment__kind=Kind.DEVICE)
    for use in uses.select_related("equipment").order_by("pk"):
        device = _locked(use.equipment_id)
        _save(device, lifecycle.give_back(item_of(device)).item)
        _end(use, now)
        _audit(by, device, f"given back with hub {episode.hub_id}", episode.patient)
        back.append(device)
    return back


def _end_episode(episode: CareEpisode, now: datetime) -> int | None:
    """End her care episode with the hub, unless it was ended already (centre end-episode)."""
    fresh = CareEpisode.objects.select_for_update().get(pk=episode.pk)
    if fresh.ended is not None:
        return None
    if now <= fresh.started:
        raise EquipmentError("the care episode started this very moment: try again in a second")
    fresh.ended = now
    fresh.save(update_fields=["ended"])
    return fresh.pk


def _end(use: EquipmentUse, now: datetime) -> None:
    use.ended = max(now, use.started)
    use.save(update_fields=["ended"])


def _locked(pk: int, seen: int | None = None) -> Equipment:
    """The equipment, locked for this transaction; `seen`: the version the asker saw."""
    found = Equipment.objects.select_for_update().filter(pk=pk).first()
    if found is None:
        raise EquipmentError(f"no equipment number {pk}")
    if seen is not None and seen != found.version:
        raise Changed
    return found


def _hub_at_centre(hub_id: str) -> lifecycle.HubAtCentre:
    hub = Hub.objects.filter(hub_id=hub_id).values("revoked_at").first()
    holder = (
        CareEpisode.objects.filter(hub_id=hub_id, ended=None)
        .values_list("patient_id", flat=True)
        .first()
    )
    return lifecycle.HubAtCentre(
        enrolled=hub is not None,
        revoked=hub is not None and hub["revoked_at"] is not None,
        open_episode_patient=holder,
    )


def _new_hub_id(equipment: Equipment, hub_id: str) -> lifecycle.NewHubId:
    """The facts a restock under `hub_id` needs: when it was enrolled against when the hub's
    last use ended, and whether its old hub id can still send."""
    new = Hub.objects.filter(hub_id=hub_id).values("enrolled_at").first()
    returned = (
        EquipmentUse.objects.filter(equipment=equipment, ended__isnull=False)
        .order_by("-ended")
        .values_list("ended", flat=True)
        .first()
    )
    old = Hub.objects.filter(hub_id=equipment.hub_id).values("revoked_at").first()
    return lifecycle.NewHubId(
        hub_id=hub_id,
        enrolled=new is not None,
        enrolled_after_return=new is not None
        and (returned is None or new["enrolled_at"] > returned),
        old_revoked=old is None or old["revoked_at"] is not None,
    )


def _key_now(equipment: Equipment, hub_id: str | None = None) -> str | None:
    """The fingerprint of a hub's signing key at the centre now, under its id or `hub_id`
    (None: a device, or no key)."""
    if equipment.kind != Kind.HUB:
        return None
    named = hub_id or equipment.hub_id
    key = Hub.objects.filter(hub_id=named).values_list("signing_key", flat=True)
    found = key.first()
    return key_fingerprint(found) if found else None


def _save(equipment: Equipment, item: lifecycle.Item, note: str = "") -> None:
    equipment.state = item.state.value
    equipment.key_at_return = item.key_at_return
    equipment.hub_id = item.hub_id
    equipment.version += 1
    fields = ["state", "key_at_return", "hub_id", "version"]
    if note.strip():
        line = f"{datetime.now(UTC):%Y-%m-%d} {item.state.value}: {note.strip()[:NOTE_MAX]}"
        equipment.notes = "\n".join(filter(None, (equipment.notes, line)))[-NOTES_KEPT:]
        fields.append("notes")
    equipment.save(update_fields=fields)


def _audit(by: str, equipment: Equipment, what: str, patient: Patient | None) -> None:
    kind = "hub" if equipment.kind == Kind.HUB else "device"
    AuditEntry.objects.create(
        user=by[:150],
        action=AuditEntry.Action.CHANGE,
        patient=patient,
        what=f"equipment {equipment.pk} ({kind} {equipment.model} {equipment.serial}): {what}"[
            :500
        ],
    )
