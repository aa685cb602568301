"""What `hub status`, `hub doctor` and `hub run`'s start look at: the system bus and BlueZ, the
broker over TLS, the daemon's socket, the disk, the processes (the shell of
hub/technician/doctor.py, whose rules judge what is found here).

Every probe is bounded by a short timeout and turns what goes wrong into words: a missing bus
is a fact to report, never a traceback.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import socket
import ssl
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from hub import ipc
from hub.clock import hub_clock_synchronised
from hub.config import HubConfig
from hub.errors import HubError
from hub.local_protocol import (
    A,
    DevicesAnswer,
    DevicesRequest,
    Refusal,
    Request,
    StatusAnswer,
    StatusRequest,
    UnreadableAnswer,
    read_answer,
)
from hub.technician.doctor import QUIET_AFTER, BrokerFacts, BusFacts, DeviceFacts, Facts, is_screen
from hub.wire import strict
from hub.wire.strict import WireError

DEFAULT_SYSTEM_BUS = "unix:path=/var/run/dbus/system_bus_socket"
BUS_TIMEOUT_S = 3.0
BROKER_TIMEOUT_S = 5.0
DAEMON_TIMEOUT_S = 10.0
ANSWER_LIMIT = 16 * 2**20  # a status with 20 messages and 14 days of trends is about 50 KiB


class BluetoothUnavailable(HubError):
    """The D-Bus system bus or BlueZ on it cannot be reached: the hub cannot use Bluetooth."""


def system_bus_address() -> str:
    return os.environ.get("DBUS_SYSTEM_BUS_ADDRESS") or DEFAULT_SYSTEM_BUS


async def probe_bus(adapter: str, timeout_s: float = BUS_TIMEOUT_S) -> BusFacts:
    """Connect to the system bus; ask whether BlueZ is on it and whether `adapter` is there and
    powered."""
    from dbus_fast import BusType, Message, MessageType
    from dbus_fast.aio import MessageBus
    from dbus_fast.errors import DBusFastError

    address = system_bus_address()
    unreached = BusFacts(address, None, False, adapter, False, False)
    try:
        async with asyncio.timeout(timeout_s):
            bus = await MessageBus(bus_type=BusType.SYSTEM).connect()
    except (OSError, TimeoutError, DBusFastError, ValueError) as exc:
        return BusFacts(address, _words(exc), False, adapter, False, False)
    try:
        async with asyncio.timeout(timeout_s):
            owner = await bus.call(
                Message(
                    destination="org.freedesktop.DBus",
                    path="/org/freedesktop/DBus",
                    interface="org.freedesktop.DBus",
                    member="NameHasOwner",
                    signature="s",
                    body=["org.bluez"],
                )
            )
            if owner is None or owner.message_type != MessageType.METHOD_RETURN:
                return unreached
            if not owner.body[0]:
                return unreached
            objects = await bus.call(
                Message(
                    destination="org.bluez",
                    path="/",
                    interface="org.freedesktop.DBus.ObjectManager",
                    member="GetManagedObjects",
                )
            )
    except (OSError, TimeoutError, DBusFastError) as exc:
        return BusFacts(address, _words(exc), False, adapter, False, False)
    finally:
        bus.disconnect()
    interfaces = {}
    if objects is not None and objects.message_type == MessageType.METHOD_RETURN:
        interfaces = objects.body[0].get(f"/org/bluez/{adapter}", {})
    props = interfaces.get("org.bluez.Adapter1")
    powered = bool(props and "Powered" in props and props["Powered"].value)
    return BusFacts(address, None, True, adapter, props is not None, powered)


def require_bluetooth(adapter: str) -> None:
    """Before the daemon starts: the system bus and BlueZ must be there, or BluetoothUnavailable
    says which is missing (without them the daemon would die of a raw connection error)."""
    facts = asyncio.run(probe_bus(adapter))
    if facts.bus_error is not None:
        raise BluetoothUnavailable(
            f"cannot reach the D-Bus system bus at {facts.address} ({facts.bus_error}); the hub "
            "needs it for Bluetooth. Start D-Bus (systemctl start dbus) or fix "
            "DBUS_SYSTEM_BUS_ADDRESS; `hub doctor` checks the rest"
        )
    if not facts.bluez:
        raise BluetoothUnavailable(
            f"BlueZ (org.bluez) is not on the D-Bus system bus at {facts.address}; the hub "
            "needs it for Bluetooth. Install and start it (apt install bluez; systemctl start "
            "bluetooth)"
        )


def probe_broker_tls(config: HubConfig, timeout_s: float = BROKER_TIMEOUT_S) -> str | None:
    """A TCP and TLS connection to the broker with this hub's certificate, the broker checked
    against the centre's CA; None if the broker takes it, else why not.

    No MQTT session is opened: the broker makes every hub's client id its certificate name, so
    a session here would take over the daemon's (or, started clean, drop what the broker holds
    for this hub). The broker checks the client certificate in the handshake; under TLS 1.3
    its refusal arrives just after it, so a short read waits for it."""
    from hub.mqtt import TlsSetupError, client_context

    host, port = config.mqtt.host, config.mqtt.port
    try:
        context = client_context(config.mqtt_ca_path, config.mqtt_cert_path, config.mqtt_key_path)
    except TlsSetupError as exc:
        return str(exc)
    try:
        with (
            socket.create_connection((host, port), timeout=timeout_s) as raw,
            context.wrap_socket(raw, server_hostname=host) as tls,
        ):
            tls.settimeout(0.5)
            try:
                if tls.recv(1) == b"":
                    return "the broker closed the connection after the TLS handshake"
            except TimeoutError:
                pass  # the broker waits for an MQTT CONNECT: it took the certificate
    except ssl.SSLCertVerificationError as exc:
        return f"the broker's certificate is not the centre's: {exc.verify_message}"
    except ssl.SSLError as exc:
        return f"TLS refused: {exc.reason or exc}"
    except OSError as exc:
        return _words(exc)
    return None


@dataclass(frozen=True)
class DaemonView:
    """What the daemon answered (status and devices), or why it did not."""

    status: StatusAnswer | None
    devices: DevicesAnswer | None
    error: str | None


def ask_daemon(config: HubConfig, timeout_s: float = DAEMON_TIMEOUT_S) -> DaemonView:
    try:
        status = ask_bounded(config.socket_path, StatusRequest(), StatusAnswer, timeout_s)
        found = ask_bounded(config.socket_path, DevicesRequest(), DevicesAnswer, timeout_s)
    except ipc.DaemonUnavailable as exc:
        return DaemonView(None, None, str(exc))
    for answer in (status, found):
        if isinstance(answer, Refusal):
            return DaemonView(None, None, f"the hub daemon refused: {answer.error}")
    assert isinstance(status, StatusAnswer) and isinstance(found, DevicesAnswer)
    return DaemonView(status, found, None)


def ask_bounded(
    socket_path: Path, req: Request, model: type[A], timeout_s: float, limit: int = ANSWER_LIMIT
) -> A | Refusal:
    """One request, its answer read as `model`; DaemonUnavailable (in words) if nothing comes,
    or the answer is larger than `limit`, not strict JSON, or not the contract. Not
    hub.ipc.ask_blocking: that takes a full listing of readings (up to 256 MiB); a status or a
    device list is far smaller, and whatever answers on the socket is read no further."""
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.settimeout(timeout_s)
            sock.connect(str(socket_path))
            sock.sendall(json.dumps(req.wire()).encode() + b"\n")
            with sock.makefile("rb") as answer:
                line = answer.readline(limit + 1)
    except (FileNotFoundError, ConnectionRefusedError):
        raise ipc.DaemonUnavailable(
            f"the hub daemon is not running (nothing listens on {socket_path}); start it: "
            "systemctl start dho-hub"
        ) from None
    except OSError as exc:
        raise ipc.DaemonUnavailable(
            f"the hub daemon does not answer on {socket_path}: {_words(exc)}"
        ) from None
    if not line:
        raise ipc.DaemonUnavailable(f"the hub daemon closed {socket_path} without answering")
    if len(line) > limit or not line.endswith(b"\n"):
        raise ipc.DaemonUnavailable(
            f"what answers on {socket_path} sent more than {limit // 2**20} MiB for {req.op!r} "
            "(or an unfinished line); not read further"
        )
    try:
        raw = strict.load(line, f"the answer to {req.op!r}")
        return read_answer(model, raw)
    except (WireError, UnreadableAnswer) as exc:
        raise ipc.DaemonUnavailable(
            f"what answers on {socket_path} is not a hub daemon this tool can read: {exc}"
        ) from None


def screen_pids(proc: Path = Path("/proc")) -> tuple[int, ...]:
    """The `hub ui` processes on this machine (their command lines, from /proc)."""
    pids = []
    for entry in proc.iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            raw = (entry / "cmdline").read_bytes()
            argv = tuple(a.decode(errors="replace") for a in raw.split(b"\0") if a)
        except OSError:
            continue  # ended while we looked, or hidden from us
        if is_screen(argv):
            pids.append(int(entry.name))
    return tuple(sorted(pids))


def keys_missing(config: HubConfig) -> tuple[str, ...]:
    paths = (
        config.signing_key_path,
        config.encryption_key_path,
        config.mqtt_ca_path,
        config.mqtt_cert_path,
        config.mqtt_key_path,
    )
    missing = [str(p) for p in paths if not os.access(p, os.R_OK)]
    try:
        config.centre.check()
    except ValueError as exc:
        missing.append(f"the centre's keys in the config ({exc})")
    return tuple(missing)


def gather(config: HubConfig, now: datetime, quiet_after: timedelta = QUIET_AFTER) -> Facts:
    view = ask_daemon(config)
    status = view.status
    connected = status.broker_connected if status is not None else None
    probe_error = None if connected else probe_broker_tls(config)
    try:
        usage = shutil.disk_usage(config.state_dir)
        free, total = usage.free, usage.total
    except OSError:
        free, total = 0, 0  # no state dir: nothing can be stored, a problem to show
    return Facts(
        now=now,
        daemon_error=view.error,
        bus=asyncio.run(probe_bus(config.bluetooth.adapter)),
        broker=BrokerFacts(
            f"{config.mqtt.host}:{config.mqtt.port}", connected, probe_error, not connected
        ),
        keys_missing=keys_missing(config),
        clock_synchronised=hub_clock_synchronised(config.clock.source),
        clock_offset_s=status.hub_clock_offset_s if status is not None else None,
        disk_free_bytes=free,
        disk_total_bytes=total,
        outbox_budget_bytes=int(config.sync.outbox_budget_mb * 1e6),
        state_dir=str(config.state_dir),
        devices=None if view.devices is None else device_facts(view.devices),
        screen_pids=screen_pids(),
        quiet_after=quiet_after,
    )


def device_facts(answer: DevicesAnswer) -> tuple[DeviceFacts, ...]:
    return tuple(
        DeviceFacts(
            d.address,
            d.profile,
            d.name,
            instant(d.paired_at, "paired_at"),
            None if d.last_connected_at is None else instant(d.last_connected_at, "last seen"),
        )
        for d in answer.devices
    )


def instant(text: str, what: str) -> datetime:
    """A time the daemon gave, with its offset; DaemonUnavailable if it is not one."""
    try:
        at = datetime.fromisoformat(text)
    except ValueError:
        at = None
    if at is None or at.tzinfo is None:
        raise ipc.DaemonUnavailable(f"the hub daemon's {what} {text[:40]!r} is not a time")
    return at


def _words(exc: BaseException) -> str:
    if isinstance(exc, TimeoutError):
        return "no answer in time"
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    return str(exc) or type(exc).__name__
