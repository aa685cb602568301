"""`centre equipment ...`: the inventory at the command line, as the web's equipment pages do it
(centre/web/views/equipment.py): add, list, deploy, return, faulty, restock, retire. A piece of
equipment is named by a hub's id, a device's Bluetooth address, or its number (`list`). Every
change is audited as made by `cli:<the operating system user>`."""

from __future__ import annotations

import argparse
import getpass
import json
from typing import Any

from centre.equipment.lifecycle import Kind, State

PROFILES = (
    "blood_pressure",
    "pulse_oximeter",
    "weight_scale",
    "body_composition",
    "thermometer",
    "glucose",
)


def add_commands(sub: Any) -> None:
    """The `equipment` command and its subcommands, on `centre`'s subparsers."""
    top = sub.add_parser("equipment", help="the inventory of hubs and Bluetooth devices")
    commands = top.add_subparsers(required=True, metavar="ACTION")
    p = commands.add_parser("add", help="new equipment, in stock")
    p.add_argument("kind", choices=[k.value for k in Kind])
    p.add_argument("--model", required=True, help="make and model, e.g. 'A&D UA-651BLE'")
    p.add_argument("--serial", required=True, help="the serial number on its label")
    p.add_argument("--hub-id", help="a hub's id at the centre (as enrolled)")
    p.add_argument("--address", help="a device's Bluetooth address, e.g. 00:1A:7D:DA:71:13")
    p.add_argument("--profile", choices=PROFILES, help="what a device measures")
    p.add_argument("--notes", default="")
    p.set_defaults(func=_add)
    p = commands.add_parser("list", help="the equipment, with its state")
    p.add_argument("--kind", choices=[k.value for k in Kind])
    p.add_argument("--state", choices=[s.value for s in State])
    p.set_defaults(func=_list)
    p = commands.add_parser(
        "deploy",
        help="to a patient: a hub starts her care episode, a device joins her open one",
    )
    p.add_argument("equipment", help="a hub's id, a device's address, or its number")
    p.add_argument("--national-id", required=True, help="the patient's 11 digits")
    p.set_defaults(func=_deploy)
    for name, helps in (
        ("return", "the patient gave it back (a hub: her care episode ends, its devices too)"),
        ("faulty", "it is faulty (in use: taken out of use, as by return)"),
        ("restock", "back in stock (a hub only with a new signing key: wiped, enrolled again)"),
        ("retire", "out of the inventory for good"),
    ):
        p = commands.add_parser(name, help=helps)
        p.add_argument("equipment", help="a hub's id, a device's address, or its number")
        p.add_argument("--note", default="", help="why, in a few words (kept in its notes)")
        if name == "restock":
            p.add_argument(
                "--memory-cleared",
                action="store_true",
                help="a device: its stored measurements are cleared",
            )
            p.add_argument("--hub-id", help="a hub: the new id it was enrolled under, if any")
        p.set_defaults(func=_change, action=name)


def _database(args: argparse.Namespace) -> None:
    from centre.cli import _people_database  # the same setup as the other registry commands

    _people_database(args)


def _by() -> str:
    return f"cli:{getpass.getuser()}"


def _shown(equipment: Any) -> dict[str, Any]:
    return {
        "equipment": equipment.pk,
        "kind": equipment.kind,
        "model": equipment.model,
        "serial": equipment.serial,
        "hub_id": equipment.hub_id,
        "address": equipment.address,
        "profile": equipment.profile or None,
        "state": equipment.state,
    }


def _add(args: argparse.Namespace) -> int:
    _database(args)
    from centre.equipment import service

    made = service.add(
        args.kind,
        args.model,
        args.serial,
        hub_id=args.hub_id,
        address=args.address,
        profile=args.profile or "",
        notes=args.notes,
        by=_by(),
    )
    print(json.dumps(_shown(made), ensure_ascii=False))
    return 0


def _list(args: argparse.Namespace) -> int:
    _database(args)
    from centre.equipment.models import Equipment

    items = Equipment.objects.order_by("kind", "model", "serial", "pk")
    if args.kind:
        items = items.filter(kind=args.kind)
    if args.state:
        items = items.filter(state=args.state)
    print(json.dumps([_shown(e) for e in items], indent=2, ensure_ascii=False))
    return 0


def _deploy(args: argparse.Namespace) -> int:
    _database(args)
    from centre.equipment import service
    from centre.people.models import Patient

    patient = Patient.objects.filter(national_id=args.national_id.replace(" ", "")).first()
    if patient is None:
        raise service.EquipmentError("no patient with that national identity number")
    change = service.deploy(service.find(args.equipment).pk, patient.pk, by=_by())
    print(json.dumps({**_shown(change.equipment), "patient": patient.pk}, ensure_ascii=False))
    return 0


def _change(args: argparse.Namespace) -> int:
    _database(args)
    from centre.equipment import service

    pk = service.find(args.equipment).pk
    if args.action == "return":
        change = service.give_back(pk, args.note, by=_by())
    elif args.action == "faulty":
        change = service.mark_faulty(pk, args.note, by=_by())
    elif args.action == "restock":
        change = service.restock(
            pk, args.note, memory_cleared=args.memory_cleared, hub_id=args.hub_id, by=_by()
        )
    else:
        change = service.retire(pk, args.note, by=_by())
    shown = _shown(change.equipment)
    if change.episode_ended is not None or change.devices_returned:
        shown["episode_ended"] = change.episode_ended
        shown["devices_returned"] = [d.pk for d in change.devices_returned]
    print(json.dumps(shown, ensure_ascii=False))
    return 0
