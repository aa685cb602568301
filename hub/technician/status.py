"""`hub status` and `hub doctor`: what the hub is doing, and what is wrong with it, in words a
technician can act on.

`hub status` reports what the daemon knows (its `status` and `devices` answers) with what this
machine says of its clock and the patient screen; `hub doctor` runs every check of
hub/technician/doctor.py over the facts hub/technician/probes.py gathers. The rendering below
is pure; the two commands at the end are the shell.
"""

from __future__ import annotations

import argparse
import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from hub.errors import HubError
from hub.local_protocol import DevicesAnswer, StatusAnswer

UNKNOWN = "unknown"
MB = 1024 * 1024  # the outbox budget's megabyte (hub/core/pipeline.py outbox_alarm)


def _used(outbox_bytes: int | None) -> str:
    """The outbox's size as the daemon last measured it (each minute); nothing before that."""
    return "" if outbox_bytes is None else f"{outbox_bytes / MB:.1f} MB used of "


class DaemonNotRunning(HubError):
    """`hub status` found no daemon to ask (or one it cannot read)."""


@dataclass(frozen=True)
class StatusView:
    """Everything `hub status` shows: the daemon's answers and this machine's own facts."""

    status: StatusAnswer
    devices: DevicesAnswer
    broker: str  # host:port
    broker_problem: str | None  # why not connected (the TLS probe's words), when not connected
    outbox_budget_mb: float
    clock_synchronised: bool
    screen_pids: tuple[int, ...]


def to_json(view: StatusView) -> dict[str, Any]:
    s = view.status
    return {
        "hub_id": s.hub_id,
        "broker": {
            "address": view.broker,
            "connected": s.broker_connected,
            "problem": view.broker_problem or s.broker_problem,
        },
        "last_delivery_at": s.last_ack_at,
        "pending": s.pending,
        "waiting_in_memory": s.waiting_in_memory,
        "outbox": {
            "budget_mb": view.outbox_budget_mb,
            "alarm": s.outbox_alarm,
            "used_mb": None if s.outbox_bytes is None else round(s.outbox_bytes / MB, 3),
        },
        "care_plan_version": s.care_plan_version or None,
        "centre_key_id": s.centre_key_id,
        "clock": {"synchronised": view.clock_synchronised, "offset_s": s.hub_clock_offset_s},
        "store_problem": s.store_problem,
        "downlink_refused": s.downlink_refused,
        "devices": [
            {
                "address": d.address,
                "profile": d.profile,
                "name": d.name,
                "last_connected_at": d.last_connected_at,
                "battery_level": d.battery_level,
                "clock_set_at": d.clock_set_at,
            }
            for d in view.devices.devices
        ],
        "screen": {"running": bool(view.screen_pids), "pids": list(view.screen_pids)},
    }


def lines(view: StatusView) -> list[str]:
    s = view.status
    why = (
        view.broker_problem
        or s.broker_problem
        or (
            "the broker takes this hub's certificate; the daemon is reconnecting "
            "(journalctl -u dho-hub says why)"
        )
    )
    broker = (
        f"connected to {view.broker}" + (f", but {s.broker_problem}" if s.broker_problem else "")
        if s.broker_connected
        else f"NOT connected to {view.broker}: {why}"
    )
    alarm = {
        None: "no alarm",
        "near_full": "ALARM near full (80 % of it)",
        "over_budget": "ALARM over budget",
    }.get(s.outbox_alarm, f"ALARM {s.outbox_alarm}")
    out = [
        f"enrolled as     {s.hub_id}",
        f"broker          {broker}",
        "last delivery   "
        + (
            f"{s.last_ack_at} (the centre's acknowledgement)"
            if s.last_ack_at
            else "none this hub still knows of"
        ),
        f"pending         {s.pending} readings wait for the centre"
        + (f", {s.waiting_in_memory} more in memory" if s.waiting_in_memory else ""),
        f"outbox          {_used(s.outbox_bytes)}budget {view.outbox_budget_mb:g} MB, {alarm}",
        "care plan       "
        + (f"version {s.care_plan_version}" if s.care_plan_version else "none received yet"),
        f"clock           {_clock(view.clock_synchronised, s.hub_clock_offset_s)}",
        f"centre key      {s.centre_key_id} (new readings are sealed to it)",
    ]
    if s.store_problem:
        out.append(f"STORE PROBLEM   {s.store_problem}")
    if s.downlink_refused:
        out.append(f"centre document refused: {s.downlink_refused}")
    if not view.devices.devices:
        out.append("devices         none paired (hub pair)")
    for d in view.devices.devices:
        battery = UNKNOWN if d.battery_level is None else f"{d.battery_level} %"
        out.append(
            f"device          {d.address} {d.profile} ({d.name or 'no name'}): last connected "
            f"{d.last_connected_at or 'never'}, battery {battery}, clock set "
            f"{d.clock_set_at or 'never'}"
        )
    screen = (
        "running (hub ui, pid " + ", ".join(map(str, view.screen_pids)) + ")"
        if view.screen_pids
        else "NOT running (no `hub ui` process; systemctl start dho-hub-ui)"
    )
    out.append(f"patient screen  {screen}")
    return out


def _clock(synchronised: bool, offset_s: float | None) -> str:
    state = "synchronised" if synchronised else "NOT synchronised (no NTP source)"
    if offset_s is None:
        return f"{state}; offset from the centre {UNKNOWN} (no acknowledgement yet)"
    way = "behind" if offset_s >= 0 else "ahead of"
    return f"{state}; {abs(offset_s):.1f} s {way} the centre"


# --- the shell ------------------------------------------------------------------------------


def status(args: argparse.Namespace) -> int:
    from hub.clock import hub_clock_synchronised
    from hub.config import load_config
    from hub.technician.probes import ask_daemon, probe_broker_tls, screen_pids

    config = load_config(args.config)
    answered = ask_daemon(config)
    if answered.status is None or answered.devices is None:
        raise DaemonNotRunning(f"{answered.error}. `hub doctor` checks the rest")
    view = StatusView(
        status=answered.status,
        devices=answered.devices,
        broker=f"{config.mqtt.host}:{config.mqtt.port}",
        broker_problem=None if answered.status.broker_connected else probe_broker_tls(config),
        outbox_budget_mb=config.sync.outbox_budget_mb,
        clock_synchronised=hub_clock_synchronised(config.clock.source),
        screen_pids=screen_pids(),
    )
    if args.json:
        print(json.dumps(to_json(view), indent=2))
    else:
        print("\n".join(lines(view)))
    return 0


def doctor(args: argparse.Namespace) -> int:
    from hub.config import load_config
    from hub.technician.doctor import checks, exit_status
    from hub.technician.probes import gather

    config = load_config(args.config)
    facts = gather(config, datetime.now(UTC), timedelta(hours=args.quiet_hours))
    found = checks(facts)
    if args.json:
        print(
            json.dumps(
                [{"check": c.name, "ok": c.ok, "says": c.says, "todo": c.todo} for c in found],
                indent=2,
            )
        )
    else:
        print("\n".join(c.line() for c in found))
    return exit_status(found)
