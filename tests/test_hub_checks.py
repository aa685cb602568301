"""`hub status` and `hub doctor` as a technician runs them, against real processes: a simulated
home (BlueZoo on a private D-Bus, Mosquitto, the centre, the hub daemon, the patient screen in a
terminal), healthy, with a device gone quiet, with the broker down, without D-Bus; and against
something on the hub's socket that answers nonsense."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import pty
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from hub.config import load_config
from testbed.bluetooth import DEVICE_ADAPTERS
from testbed.home import SimulatedHome
from testbed.peripherals.cuff import EmulatedCuff
from tests.conftest import eventually, pair, provisioned_hub

NO_BUS = "unix:path=/nonexistent/dho-test/system_bus_socket"


def hub(config: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    """The `hub` command as a technician types it, with `env` over this test's environment."""
    return subprocess.run(
        [sys.executable, "-m", "hub.cli", "--config", str(config), *args],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "DHO_LOG_LEVEL": "WARNING", **env},
    )


def problems(result: subprocess.CompletedProcess[str]) -> list[str]:
    return [line for line in result.stdout.splitlines() if line.startswith("PROBLEM")]


@contextlib.contextmanager
def patient_screen(home: SimulatedHome) -> Iterator[int]:
    """The real `hub ui` in a terminal of its own (a pty), as cage and foot run it."""
    controller, terminal = pty.openpty()
    screen = subprocess.Popen(
        [sys.executable, "-m", "hub.cli", "--config", str(home.hub_config), "ui"],
        stdin=terminal,
        stdout=terminal,
        stderr=terminal,
        env={**os.environ, **home.env, "TERM": "xterm-256color"},
        start_new_session=True,
    )
    os.close(terminal)
    # The screen's output is read and dropped, so that it never blocks on a full terminal.
    drain = threading.Thread(target=_drain, args=(controller,), daemon=True)
    drain.start()
    try:
        yield screen.pid
    finally:
        screen.terminate()
        try:
            screen.wait(10)
        except subprocess.TimeoutExpired:
            screen.kill()
            screen.wait()
        os.close(controller)


def _drain(fd: int) -> None:
    with contextlib.suppress(OSError):
        while os.read(fd, 65536):
            pass


async def test_a_healthy_home_then_a_quiet_device_then_the_broker_down(
    home: SimulatedHome,
) -> None:
    home.start_centre()
    home.start_hub()
    cuff = EmulatedCuff()
    await cuff.start()
    try:
        await pair(home, cuff)
    finally:
        await cuff.stop()
    address = DEVICE_ADAPTERS[cuff.adapter]
    await eventually(lambda: home.hub_status()["broker_connected"], what="the broker session")
    config = home.hub_config
    env = home.env
    with patient_screen(home) as screen_pid:
        # Healthy: every check ok, exit 0; the status names what the technician looks for.
        doctor = await eventually(
            lambda: (r := hub(config, "doctor", **env)).returncode == 0 and r,
            what="hub doctor to find everything ok (the screen started)",
        )
        assert problems(doctor) == []
        text = doctor.stdout
        for check in ("hub daemon", "D-Bus and BlueZ", "adapter hci0", "broker 127.0.0.1:"):
            assert f"ok       {check}" in text
        assert "ok       keys" in text and "ok       clock" in text
        assert f"ok       device {address}" in text
        assert f"a `hub ui` process runs (pid {screen_pid})" in text

        status = hub(config, "status", **env)
        assert status.returncode == 0, status.stderr
        assert f"enrolled as     {home.hub_id}" in status.stdout
        assert "broker          connected to 127.0.0.1:" in status.stdout
        assert "pending         0 readings" in status.stdout
        assert "care plan       none received yet" in status.stdout
        assert f"device          {address} blood_pressure" in status.stdout
        assert f"patient screen  running (hub ui, pid {screen_pid})" in status.stdout
        shown = json.loads(hub(config, "status", "--json", **env).stdout)
        assert shown["hub_id"] == home.hub_id
        assert shown["broker"]["connected"] is True
        assert shown["clock"]["synchronised"] is True
        assert [d["address"] for d in shown["devices"]] == [address]
        assert shown["screen"] == {"running": True, "pids": [screen_pid]}

        # The cuff has not connected within the last 0.36 s (its pairing was before): quiet.
        await asyncio.sleep(0.5)
        quiet = hub(config, "doctor", "--quiet-hours", "0.0001", **env)
        assert quiet.returncode == 1
        [line] = problems(quiet)
        assert line.startswith(f"PROBLEM  device {address} (")
        assert "ask the patient" in line

    # The screen stopped: a problem, with what to do.
    doctor = hub(config, "doctor", **env)
    assert doctor.returncode == 1
    assert any("patient screen: no `hub ui` process runs" in p for p in problems(doctor))

    # The broker down: the daemon says so, and the TLS probe says why.
    home.broker.stop()
    await eventually(lambda: not home.hub_status()["broker_connected"], what="the session lost")
    status = hub(config, "status", **env)
    assert status.returncode == 0, status.stderr
    assert "broker          NOT connected to 127.0.0.1:" in status.stdout
    assert "Connection refused" in status.stdout
    doctor = hub(config, "doctor", "--json", **env)
    assert doctor.returncode == 1
    broker = next(c for c in json.loads(doctor.stdout) if c["check"].startswith("broker"))
    assert broker["ok"] is False
    assert "Connection refused" in broker["says"]
    assert "network" in broker["todo"]


async def test_without_d_bus_hub_run_refuses_in_words_and_doctor_says_so(
    home: SimulatedHome,
) -> None:
    config = home.hub_config
    run = hub(config, "run", DBUS_SYSTEM_BUS_ADDRESS=NO_BUS)
    assert run.returncode == 2
    assert "Traceback" not in run.stderr
    assert f"hub: cannot reach the D-Bus system bus at {NO_BUS}" in run.stderr
    assert "systemctl start dbus" in run.stderr

    # No daemon: `hub status` says so and fails; doctor lists what is wrong, one line each.
    status = hub(config, "status", DBUS_SYSTEM_BUS_ADDRESS=NO_BUS)
    assert status.returncode == 2
    assert status.stderr.startswith("hub: the hub daemon is not running")
    assert "Traceback" not in status.stderr
    doctor = hub(config, "doctor", DBUS_SYSTEM_BUS_ADDRESS=NO_BUS)
    assert doctor.returncode == 1
    assert "Traceback" not in doctor.stderr
    found = "\n".join(problems(doctor))
    assert "hub daemon: the hub daemon is not running (nothing listens on" in found
    assert f"D-Bus and BlueZ: the system bus at {NO_BUS} cannot be reached" in found
    assert "adapter hci0: not known: BlueZ cannot be asked" in found
    assert "devices: not known" in found
    # The broker is up, though no daemon holds a session: the TLS probe shows it takes the hub.
    assert "ok       broker 127.0.0.1:" in doctor.stdout

    # With the daemon running on the real (simulated) bus, a doctor that cannot see the bus.
    home.start_hub()
    doctor = hub(config, "doctor", DBUS_SYSTEM_BUS_ADDRESS=NO_BUS)
    assert doctor.returncode == 1
    assert "ok       hub daemon" in doctor.stdout
    assert "PROBLEM  D-Bus and BlueZ" in doctor.stdout


def test_without_bluez_on_the_bus_hub_run_refuses_in_words(short_tmp: Path) -> None:
    """A system bus without BlueZ: a private dbus-daemon with nothing else on it."""
    config = provisioned_hub(short_tmp, "hub-nobluez")
    bus = short_tmp / "bus"
    daemon = subprocess.Popen(
        [
            "dbus-daemon",
            "--session",
            "--nofork",
            "--nopidfile",
            f"--address=unix:path={bus}",
        ]
    )
    try:
        wait_for = 0
        while not bus.exists() and wait_for < 100:
            wait_for += 1
            threading.Event().wait(0.05)
        address = f"unix:path={bus}"
        run = hub(config, "run", DBUS_SYSTEM_BUS_ADDRESS=address)
        assert run.returncode == 2
        assert "Traceback" not in run.stderr
        assert "hub: BlueZ (org.bluez) is not on the D-Bus system bus" in run.stderr
        doctor = hub(config, "doctor", DBUS_SYSTEM_BUS_ADDRESS=address)
        assert "PROBLEM  D-Bus and BlueZ: the system bus answers, but BlueZ" in doctor.stdout
    finally:
        daemon.terminate()
        daemon.wait(10)


HOSTILE: list[tuple[str, bytes, str]] = [
    ("not JSON", b"{this is not json\n", "not JSON"),
    ("an array", b"[1, 2, 3]\n", "StatusAnswer"),
    ("missing fields", b'{"ok": true}\n', "StatusAnswer"),
    ("wrong types", b'{"ok": true, "hub_id": 7}\n', "StatusAnswer"),
    ("NaN", b'{"ok": true, "pending": NaN}\n', "the answer"),
    ("deep", b"[" * 100_000 + b"]" * 100_000 + b"\n", "status"),
    ("huge", b'{"ok": true, "hub_id": "' + b"x" * (20 * 2**20) + b'"}\n', "more than 16 MiB"),
    ("unfinished", b'{"ok": true, "hub_id": "hub', "unfinished line"),
    ("nothing", b"", "without answering"),
    ("a refusal", b'{"ok": false, "error": "busy"}\n', "the hub daemon refused: busy"),
]


@contextlib.contextmanager
def answering(path: Path, answer: bytes) -> Iterator[None]:
    """Something on the hub's socket that reads a request line and answers `answer`."""
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(str(path))
    server.listen(8)
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                client, _ = server.accept()
            except OSError:
                return
            with client, contextlib.suppress(OSError):
                client.recv(65536)
                client.sendall(answer)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        server.shutdown(socket.SHUT_RDWR)
        server.close()
        thread.join(10)


@pytest.mark.parametrize(("case", "answer", "words"), HOSTILE, ids=[c[0] for c in HOSTILE])
def test_a_malformed_status_answer_is_refused_in_words(
    short_tmp: Path, case: str, answer: bytes, words: str
) -> None:
    config = provisioned_hub(short_tmp, "hub-hostile")
    socket_path = load_config(config).socket_path
    with answering(socket_path, answer):
        status = hub(config, "status", DBUS_SYSTEM_BUS_ADDRESS=NO_BUS)
        doctor = hub(config, "doctor", DBUS_SYSTEM_BUS_ADDRESS=NO_BUS)
    assert status.returncode == 2, status.stderr
    assert status.stderr.startswith("hub: "), status.stderr
    assert words in status.stderr
    assert len(status.stderr) < 2000, "the refusal quotes no megabytes"
    assert doctor.returncode == 1
    assert "PROBLEM  hub daemon: " in doctor.stdout
    for result in (status, doctor):
        assert "Traceback" not in result.stderr
