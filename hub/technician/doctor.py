"""`hub doctor`'s rules: gathered facts in, one verdict per check out (pure).

The shell (hub/technician/probes.py) looks at the bus, the broker, the disk, the clock, the
processes and the daemon's answers, and hands over what it saw as the frozen facts below; the
rules here say, for each check, whether it is ok and, if not, what the technician should do.
No I/O here: tests/test_doctor_rules.py holds the rules to a table.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

# Below this the outbox cannot grow to its budget during a long outage, or SQLite may fail.
DISK_MIN_FRACTION = 0.05
CLOCK_OFFSET_MAX_S = 60.0  # behind or ahead of the centre by more than this: the clock is wrong
QUIET_AFTER = timedelta(hours=48)  # a device not heard from in two days: the patient stopped?


@dataclass(frozen=True)
class BusFacts:
    """The D-Bus system bus and BlueZ on it, as the probe found them."""

    address: str
    bus_error: str | None  # why the bus could not be reached; None: reached
    bluez: bool  # org.bluez has an owner on the bus
    adapter: str
    adapter_present: bool
    adapter_powered: bool


@dataclass(frozen=True)
class BrokerFacts:
    """The broker as the daemon sees it (when it answers) and as a TLS probe with this hub's
    certificate saw it (None: not probed, the daemon is connected)."""

    address: str  # host:port
    daemon_connected: bool | None  # None: the daemon does not answer
    probe_error: str | None  # why the TLS probe failed; None: it succeeded or did not run
    probed: bool


@dataclass(frozen=True)
class DeviceFacts:
    address: str
    profile: str
    name: str | None
    paired_at: datetime
    last_connected_at: datetime | None


@dataclass(frozen=True)
class Facts:
    now: datetime
    daemon_error: str | None  # why the daemon does not answer; None: it answers
    bus: BusFacts
    broker: BrokerFacts
    keys_missing: tuple[str, ...]  # key and certificate files this hub cannot read
    clock_synchronised: bool
    clock_offset_s: float | None  # behind the centre (daemon's measure); None: not known
    disk_free_bytes: int
    disk_total_bytes: int
    outbox_budget_bytes: int
    state_dir: str
    devices: tuple[DeviceFacts, ...] | None  # None: not known (the daemon does not answer)
    screen_pids: tuple[int, ...]  # `hub ui` processes found
    quiet_after: timedelta = QUIET_AFTER


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    says: str  # what was found
    todo: str = ""  # what to do about it (empty when ok)

    def line(self) -> str:
        if self.ok:
            return f"ok       {self.name}: {self.says}"
        return f"PROBLEM  {self.name}: {self.says} -> {self.todo}"


def checks(facts: Facts) -> list[Check]:
    """Every check, in the order a technician would fix them."""
    return [
        daemon(facts),
        bluetooth(facts.bus),
        adapter(facts.bus),
        broker(facts.broker),
        keys(facts.keys_missing),
        clock(facts.clock_synchronised, facts.clock_offset_s),
        disk(facts),
        *devices(facts),
        screen(facts.screen_pids),
    ]


def exit_status(found: list[Check]) -> int:
    """0: every check ok; 1: at least one problem (for scripts)."""
    return 0 if all(c.ok for c in found) else 1


def daemon(facts: Facts) -> Check:
    if facts.daemon_error is None:
        return Check("hub daemon", True, "answers on its socket")
    return Check(
        "hub daemon",
        False,
        facts.daemon_error,
        "systemctl status dho-hub; journalctl -u dho-hub says why it stopped or refuses",
    )


def bluetooth(bus: BusFacts) -> Check:
    if bus.bus_error is not None:
        return Check(
            "D-Bus and BlueZ",
            False,
            f"the system bus at {bus.address} cannot be reached ({bus.bus_error})",
            "start D-Bus (systemctl start dbus) or fix DBUS_SYSTEM_BUS_ADDRESS",
        )
    if not bus.bluez:
        return Check(
            "D-Bus and BlueZ",
            False,
            "the system bus answers, but BlueZ (org.bluez) is not on it",
            "install and start BlueZ: apt install bluez; systemctl start bluetooth",
        )
    return Check("D-Bus and BlueZ", True, "the system bus answers and BlueZ is on it")


def adapter(bus: BusFacts) -> Check:
    name = f"adapter {bus.adapter}"
    if bus.bus_error is not None or not bus.bluez:
        return Check(name, False, "not known: BlueZ cannot be asked", "fix D-Bus and BlueZ first")
    if not bus.adapter_present:
        return Check(
            name,
            False,
            "BlueZ has no such adapter",
            "check the Bluetooth hardware (bluetoothctl list) and [bluetooth] adapter in hub.toml",
        )
    if not bus.adapter_powered:
        return Check(
            name,
            False,
            "present but powered off",
            "power it on: bluetoothctl power on (rfkill list: is Bluetooth blocked?)",
        )
    return Check(name, True, "present and powered")


def broker(facts: BrokerFacts) -> Check:
    name = f"broker {facts.address}"
    if facts.daemon_connected:
        return Check(name, True, "the hub daemon is connected")
    if facts.probe_error is not None:
        return Check(
            name,
            False,
            f"a TLS connection with this hub's certificate failed: {facts.probe_error}",
            "check the network and [mqtt] host/port in hub.toml; a refused certificate: "
            "enrol the hub again (centre enrol, hub provision); is the hub revoked?",
        )
    if facts.daemon_connected is False:
        return Check(
            name,
            False,
            "the daemon is not connected, though the broker takes this hub's certificate over TLS",
            "wait a minute (it reconnects by itself); if it stays so, journalctl -u dho-hub "
            "says why the broker refuses the session",
        )
    return Check(
        name,
        True,
        "takes a TLS connection with this hub's certificate (the daemon is not running)",
    )


def keys(missing: tuple[str, ...]) -> Check:
    if not missing:
        return Check("keys", True, "the centre's keys and this hub's keys and certificates")
    return Check(
        "keys",
        False,
        "cannot read " + ", ".join(missing),
        "provision the hub again from its enrolment bundle (hub provision)",
    )


def clock(synchronised: bool, offset_s: float | None) -> Check:
    if not synchronised:
        return Check(
            "clock",
            False,
            "not synchronised (the kernel says no NTP source keeps it)",
            "check the network and timedatectl / systemctl status systemd-timesyncd",
        )
    if offset_s is not None and abs(offset_s) > CLOCK_OFFSET_MAX_S:
        way = "behind" if offset_s > 0 else "ahead of"
        return Check(
            "clock",
            False,
            f"synchronised, but {abs(offset_s):.0f} s {way} the centre's",
            "check the NTP server the hub uses (timedatectl timesync-status)",
        )
    measured = "not measured yet" if offset_s is None else f"{offset_s:+.1f} s from the centre"
    return Check("clock", True, f"synchronised ({measured})")


def disk(facts: Facts) -> Check:
    name = f"disk {facts.state_dir}"
    free, total, budget = facts.disk_free_bytes, facts.disk_total_bytes, facts.outbox_budget_bytes
    says = f"{free / 1e6:.0f} MB free of {total / 1e6:.0f} MB"
    if free < budget or (total > 0 and free / total < DISK_MIN_FRACTION):
        return Check(
            name,
            False,
            f"{says} (the outbox may need {budget / 1e6:.0f} MB during an outage)",
            "free space on the SD card (journalctl --vacuum-size, old files) or replace it",
        )
    return Check(name, True, says)


def devices(facts: Facts) -> list[Check]:
    if facts.devices is None:
        return [Check("devices", False, "not known: the daemon does not answer", "start it")]
    if not facts.devices:
        return [Check("devices", False, "none paired", "pair the patient's devices (hub pair)")]
    return [device(d, facts.now, facts.quiet_after) for d in facts.devices]


def device(d: DeviceFacts, now: datetime, quiet_after: timedelta) -> Check:
    name = f"device {d.address} ({d.name or d.profile})"
    if d.last_connected_at is None:
        if now - d.paired_at > quiet_after:
            return Check(
                name,
                False,
                f"never connected since pairing at {_when(d.paired_at)}",
                "ask the patient to measure; if it still does not come, pair it again",
            )
        return Check(name, True, f"paired at {_when(d.paired_at)}, not used yet")
    if now - d.last_connected_at > quiet_after:
        return Check(
            name,
            False,
            f"last connected {_when(d.last_connected_at)}",
            "ask the patient whether she still measures; check its batteries; pair it again "
            "if it was reset",
        )
    return Check(name, True, f"last connected {_when(d.last_connected_at)}")


def screen(pids: tuple[int, ...]) -> Check:
    if pids:
        listed = ", ".join(str(p) for p in pids)
        return Check("patient screen", True, f"a `hub ui` process runs (pid {listed})")
    return Check(
        "patient screen",
        False,
        "no `hub ui` process runs",
        "systemctl start dho-hub-ui; journalctl -u dho-hub-ui says why it stopped",
    )


def is_screen(argv: tuple[str, ...]) -> bool:
    """Whether a process's command line is the patient screen: the `hub` command (its script,
    run itself or by python, or `python -m hub.cli`) with the subcommand `ui`. Options before
    it are skipped; `ui` as the value of --config is not the subcommand."""
    for i, arg in enumerate(argv):
        if arg == "hub.cli" and i > 0 and argv[i - 1] == "-m":
            return _subcommand(argv[i + 1 :]) == "ui"
        by_python = i == 1 and "python" in argv[0].rsplit("/", 1)[-1]
        if (i == 0 or by_python) and (arg == "hub" or arg.endswith("/hub")):
            return _subcommand(argv[i + 1 :]) == "ui"
    return False


def _subcommand(rest: tuple[str, ...]) -> str | None:
    skip = False
    for arg in rest:
        if skip:
            skip = False
        elif arg == "--config":
            skip = True
        elif not arg.startswith("-"):
            return arg
    return None


def _when(at: datetime) -> str:
    return at.isoformat(timespec="seconds")
