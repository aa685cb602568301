"""`hub doctor`'s rules (hub/technician/doctor.py) and `hub status`'s words
(hub/technician/status.py) over given facts: no process, no bus, no broker."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from hub.local_protocol import Device, DevicesAnswer, StatusAnswer
from hub.technician.doctor import (
    BrokerFacts,
    BusFacts,
    Check,
    DeviceFacts,
    Facts,
    checks,
    exit_status,
    is_screen,
)
from hub.technician.status import StatusView, lines, to_json

NOW = datetime(2026, 12, 3, 12, 0, tzinfo=UTC)
BUS = BusFacts("unix:path=/run/dbus/system_bus_socket", None, True, "hci0", True, True)
BROKER = BrokerFacts("centre.example:8883", True, None, False)
CUFF = DeviceFacts("00:BB:00:00:00:02", "blood_pressure", "Cuff", NOW - timedelta(days=9), None)
HEALTHY = Facts(
    now=NOW,
    daemon_error=None,
    bus=BUS,
    broker=BROKER,
    keys_missing=(),
    clock_synchronised=True,
    clock_offset_s=0.4,
    disk_free_bytes=10_000_000_000,
    disk_total_bytes=30_000_000_000,
    outbox_budget_bytes=256_000_000,
    state_dir="/var/lib/dho-hub",
    devices=(replace(CUFF, last_connected_at=NOW - timedelta(hours=3)),),
    screen_pids=(812,),
)


def problems(facts: Facts) -> dict[str, Check]:
    return {c.name: c for c in checks(facts) if not c.ok}


def test_a_healthy_hub_is_all_ok_and_exits_0() -> None:
    found = checks(HEALTHY)
    assert [c for c in found if not c.ok] == []
    assert exit_status(found) == 0
    assert all(c.line().startswith("ok ") for c in found)


# (what changed, the check that fails, words its finding or advice must hold)
CASES: list[tuple[str, Facts, str, str]] = [
    (
        "daemon down",
        replace(HEALTHY, daemon_error="connection refused", devices=None),
        "hub daemon",
        "journalctl -u dho-hub",
    ),
    (
        "no system bus",
        replace(HEALTHY, bus=replace(BUS, bus_error="No such file or directory", bluez=False)),
        "D-Bus and BlueZ",
        "cannot be reached",
    ),
    ("no BlueZ", replace(HEALTHY, bus=replace(BUS, bluez=False)), "D-Bus and BlueZ", "bluez"),
    (
        "no adapter",
        replace(HEALTHY, bus=replace(BUS, adapter_present=False, adapter_powered=False)),
        "adapter hci0",
        "no such adapter",
    ),
    (
        "adapter off",
        replace(HEALTHY, bus=replace(BUS, adapter_powered=False)),
        "adapter hci0",
        "power it on",
    ),
    (
        "broker refuses TLS",
        replace(HEALTHY, broker=BrokerFacts("b:8883", False, "TLS refused: bad certificate", True)),
        "broker b:8883",
        "bad certificate",
    ),
    (
        "daemon not connected, TLS fine",
        replace(HEALTHY, broker=BrokerFacts("b:8883", False, None, True)),
        "broker b:8883",
        "journalctl -u dho-hub",
    ),
    (
        "key missing",
        replace(HEALTHY, keys_missing=("/var/lib/dho-hub/keys/mqtt-client.key",)),
        "keys",
        "hub provision",
    ),
    ("clock unsynchronised", replace(HEALTHY, clock_synchronised=False), "clock", "timedatectl"),
    ("clock far off", replace(HEALTHY, clock_offset_s=-3600.0), "clock", "3600 s ahead of"),
    (
        "disk below the outbox budget",
        replace(HEALTHY, disk_free_bytes=100_000_000),
        "disk /var/lib/dho-hub",
        "256 MB",
    ),
    (
        "disk under 5 %",
        replace(HEALTHY, disk_free_bytes=1_000_000_000, disk_total_bytes=30_000_000_000),
        "disk /var/lib/dho-hub",
        "free space",
    ),
    ("no device paired", replace(HEALTHY, devices=()), "devices", "hub pair"),
    (
        "device quiet for three days",
        replace(HEALTHY, devices=(replace(CUFF, last_connected_at=NOW - timedelta(days=3)),)),
        "device 00:BB:00:00:00:02 (Cuff)",
        "batteries",
    ),
    (
        "device never connected since pairing 9 days ago",
        replace(HEALTHY, devices=(CUFF,)),
        "device 00:BB:00:00:00:02 (Cuff)",
        "never connected",
    ),
    ("no screen", replace(HEALTHY, screen_pids=()), "patient screen", "dho-hub-ui"),
]


@pytest.mark.parametrize(("case", "facts", "check", "words"), CASES, ids=[c[0] for c in CASES])
def test_each_problem_names_its_check_and_what_to_do(
    case: str, facts: Facts, check: str, words: str
) -> None:
    found = problems(facts)
    assert check in found, f"{case}: {list(found)}"
    assert words.lower() in (found[check].says + " " + found[check].todo).lower()
    assert found[check].todo, "a problem always says what to do"
    assert found[check].line().startswith("PROBLEM ")
    assert exit_status(checks(facts)) == 1


def test_a_device_paired_today_and_not_used_yet_is_fine() -> None:
    fresh = replace(CUFF, paired_at=NOW - timedelta(hours=1))
    assert problems(replace(HEALTHY, devices=(fresh,))) == {}


def test_the_bus_missing_makes_the_adapter_unknown_not_absent() -> None:
    found = problems(replace(HEALTHY, bus=replace(BUS, bus_error="refused", bluez=False)))
    assert "fix D-Bus and BlueZ first" in found["adapter hci0"].todo


@pytest.mark.parametrize(
    ("argv", "screen"),
    [
        (
            ("/opt/dho-hub/venv/bin/python3", "/opt/dho-hub/venv/bin/hub", "--config", "x", "ui"),
            True,
        ),
        (("/opt/dho-hub/venv/bin/hub", "ui", "--lang", "nn"), True),
        (("python", "-m", "hub.cli", "--config", "/tmp/h.toml", "ui"), True),
        (("python", "-m", "hub.cli", "--config", "ui", "run"), False),
        (("python", "-m", "hub.cli", "--config", "/tmp/h.toml", "run"), False),
        (("/usr/bin/foot", "--", "/opt/dho-hub/venv/bin/hub", "ui"), False),  # the terminal
        (("vim", "hub", "ui"), False),
        (("grep", "-m", "hub.cli ui"), False),
        ((), False),
    ],
)
def test_which_process_is_the_patient_screen(argv: tuple[str, ...], screen: bool) -> None:
    assert is_screen(argv) is screen


def _view(**status: object) -> StatusView:
    fields: dict[str, object] = {
        "hub_id": "hub-0042",
        "readings": [],
        "pending": 3,
        "broker_connected": True,
        "last_ack_at": "2026-12-03T11:59:00.000+00:00",
        "hub_clock_offset_s": -0.25,
        "store_problem": None,
        "outbox_alarm": None,
        "care_plan": None,
        "care_plan_version": 4,
        "messages": [],
        "centre_key_id": "k1",
        "downlink_refused": None,
        "history": [],
        "waiting_in_memory": 0,
    }
    device = Device(
        address="00:BB:00:00:00:02",
        profile="blood_pressure",
        name="Cuff",
        paired_at="2026-11-20T10:00:00.000+00:00",
        bonded=True,
        last_connected_at="2026-12-03T08:00:00.000+00:00",
        clock_set_at=None,
        battery_level=None,
    )
    return StatusView(
        status=StatusAnswer.model_validate({**fields, **status}),
        devices=DevicesAnswer(devices=[device]),
        broker="centre.example:8883",
        broker_problem=None,
        outbox_budget_mb=256.0,
        clock_synchronised=True,
        screen_pids=(),
    )


def test_status_says_what_a_technician_acts_on() -> None:
    text = "\n".join(lines(_view()))
    assert "enrolled as     hub-0042" in text
    assert "connected to centre.example:8883" in text
    assert "last delivery   2026-12-03T11:59:00.000+00:00" in text
    assert "pending         3 readings" in text
    assert "budget 256 MB, no alarm" in text
    assert "care plan       version 4" in text
    assert "centre key      k1 (new readings are sealed to it)" in text  # rotate-key waits on it
    assert to_json(_view())["centre_key_id"] == "k1"
    assert "synchronised; 0.2 s ahead of the centre" in text
    assert "battery unknown, clock set never" in text  # not known: said, not invented
    assert "patient screen  NOT running" in text


def test_status_alarms_and_absences_in_words() -> None:
    view = replace(
        _view(
            broker_connected=False,
            last_ack_at=None,
            outbox_alarm="over_budget",
            care_plan_version=0,
            hub_clock_offset_s=None,
        ),
        broker_problem="connection refused",
        clock_synchronised=False,
    )
    text = "\n".join(lines(view))
    assert "NOT connected to centre.example:8883: connection refused" in text
    assert "none this hub still knows of" in text
    assert "ALARM over budget" in text
    assert "none received yet" in text
    assert "NOT synchronised" in text and "offset from the centre unknown" in text
    data = to_json(view)
    assert data["broker"] == {
        "address": "centre.example:8883",
        "connected": False,
        "problem": "connection refused",
    }
    assert data["care_plan_version"] is None
    assert data["outbox"]["used_mb"] is None  # not measured yet (the daemon's first minute)


def test_status_tells_what_the_daemon_heard_from_the_broker() -> None:
    refused = "the broker refused this hub's subscriptions (Not authorized): is the hub revoked"
    connected = "\n".join(lines(_view(broker_problem=refused)))
    assert f"connected to centre.example:8883, but {refused}" in connected
    lost = "the connection was lost: Keep alive timeout"
    view = replace(_view(broker_connected=False, broker_problem=lost), broker_problem=None)
    assert f"NOT connected to centre.example:8883: {lost}" in "\n".join(lines(view))
    assert to_json(view)["broker"]["problem"] == lost
    probed = replace(view, broker_problem="TLS refused: certificate revoked")
    assert "NOT connected to centre.example:8883: TLS refused: certificate revoked" in "\n".join(
        lines(probed)
    )  # what the probe finds now goes before what the daemon last heard


def test_status_tells_the_outbox_used_as_last_measured() -> None:
    view = _view(outbox_bytes=3 * 1024 * 1024 + 512 * 1024)
    assert "3.5 MB used of budget 256 MB, no alarm" in "\n".join(lines(view))
    assert to_json(view)["outbox"]["used_mb"] == 3.5


def test_a_suback_with_refusals_says_the_hub_may_be_revoked() -> None:
    from paho.mqtt.packettypes import PacketTypes
    from paho.mqtt.reasoncodes import ReasonCode

    from hub.sync.uplink import refused_subscriptions

    granted = ReasonCode(PacketTypes.SUBACK, identifier=1)
    refused = ReasonCode(PacketTypes.SUBACK, identifier=0x87)
    assert refused_subscriptions([granted, granted]) is None
    said = refused_subscriptions([granted, refused, refused])
    assert said is not None and "Not authorized" in said and "revoked" in said
    assert said.count("Not authorized") == 1


def test_a_connection_lost_without_words_points_to_hub_doctor() -> None:
    from paho.mqtt.packettypes import PacketTypes
    from paho.mqtt.reasoncodes import ReasonCode

    from hub.sync.uplink import lost_because

    unspecified = ReasonCode(PacketTypes.DISCONNECT, identifier=0x80)
    assert "hub doctor" in lost_because(unspecified, "b", 8883)
    taken_over = ReasonCode(PacketTypes.DISCONNECT, identifier=0x8E)
    assert lost_because(taken_over, "b", 8883) == "the connection was lost: Session taken over"
