"""systemd's watchdog, proven without systemd: `hub run` and `centre serve` run as real processes
with NOTIFY_SOCKET pointing at a datagram socket this test owns (what systemd gives a
`Type=notify` unit). They must say READY=1 once they serve, WATCHDOG=1 at half of WATCHDOG_USEC
while their loop turns, nothing while it is stuck (that is when systemd restarts them) and
STOPPING=1 on SIGTERM. This container has no systemd as PID 1, so these tests are the proof."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest

from centre.serve import Backoff, run_loop
from hub import ipc
from hub.config import load_config
from hub.notify import Notifier, NotifySettings, keep_pinging, notify_settings
from testbed.home import SimulatedHome
from testbed.processes import Process, wait_until

PING_PERIOD_USEC = 1_000_000  # pings every 0.5 s
QUIET_S = 3.0  # six ping periods without a ping: what systemd would act on


class SystemdStandIn:
    """The notification socket systemd would listen on: collects what the service sends."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(str(path))
        self.received: list[str] = []

    def drain(self) -> list[str]:
        """Everything that arrived since the last drain (already sent datagrams are queued)."""
        new: list[str] = []
        self.sock.setblocking(False)
        while True:
            try:
                new.append(self.sock.recv(4096).decode())
            except BlockingIOError:
                break
        self.received += new
        return new

    def wait_for(self, state: str, timeout: float = 60.0) -> None:
        self.sock.settimeout(timeout)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.sock.setblocking(True)
            self.sock.settimeout(max(0.01, deadline - time.monotonic()))
            try:
                message = self.sock.recv(4096).decode()
            except TimeoutError:
                break
            self.received.append(message)
            if message == state:
                return
        raise AssertionError(f"no {state} within {timeout:g} s; got {self.received[-10:]}")

    def close(self) -> None:
        self.sock.close()


@pytest.fixture
def systemd(short_tmp: Path) -> Iterator[SystemdStandIn]:
    stand_in = SystemdStandIn(short_tmp / "notify.sock")
    yield stand_in
    stand_in.close()


def wait_stopped(pid: int) -> None:
    """SIGSTOP is delivered asynchronously: wait until the kernel shows the process stopped."""

    def stopped() -> bool:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        return state in ("T", "t")

    wait_until(stopped, 30, f"process {pid} to stop")


def expect_pings_stop_while_stopped(process: Process, systemd: SystemdStandIn) -> None:
    """A stuck process (here: SIGSTOP) sends no WATCHDOG=1; it pings again once it runs."""
    for _ in range(3):
        systemd.wait_for("WATCHDOG=1")
    os.kill(process.pid, signal.SIGSTOP)
    try:
        wait_stopped(process.pid)
        systemd.drain()  # what it sent before it stopped
        time.sleep(QUIET_S)
        assert "WATCHDOG=1" not in systemd.drain(), "pings went on while the process was stopped"
    finally:
        os.kill(process.pid, signal.SIGCONT)
    systemd.wait_for("WATCHDOG=1")


def start(home: SimulatedHome, name: str, argv: list[str], systemd: SystemdStandIn) -> Process:
    env = {**home.env, "NOTIFY_SOCKET": str(systemd.path), "WATCHDOG_USEC": str(PING_PERIOD_USEC)}
    process = Process(name, argv, home.workdir / "logs" / f"{name}.log", env=env)
    home.processes.append(process)  # stopped with the home
    return process


def test_hub_run_is_ready_once_it_serves_and_pings_from_its_loop(
    home: SimulatedHome, systemd: SystemdStandIn
) -> None:
    hub = start(
        home,
        "hub",
        [sys.executable, "-m", "hub.cli", "--config", str(home.hub_config), "run"],
        systemd,
    )
    systemd.wait_for("READY=1")
    # READY comes after the socket serves: the patient screen may start at once.
    status = ipc.request_blocking(load_config(home.hub_config).socket_path, "status")
    assert status["ok"]
    expect_pings_stop_while_stopped(hub, systemd)
    hub.stop()
    assert hub.popen.returncode == 0
    systemd.drain()
    assert "STOPPING=1" in systemd.received


def test_centre_serve_is_ready_once_subscribed_and_pings_from_its_loop(
    home: SimulatedHome, systemd: SystemdStandIn
) -> None:
    centre = start(
        home,
        "centre",
        [sys.executable, "-m", "centre.cli", "--config", str(home.centre_config), "serve"],
        systemd,
    )
    systemd.wait_for("READY=1")
    assert "subscribing" in centre.log_path.read_text()
    expect_pings_stop_while_stopped(centre, systemd)
    centre.stop()
    assert centre.popen.returncode == 0
    systemd.drain()
    assert "STOPPING=1" in systemd.received


async def test_hub_pings_stop_while_its_event_loop_is_stuck(systemd: SystemdStandIn) -> None:
    """The ping is a task on the daemon's event loop, not a thread: code that blocks the loop
    (here: a blocking sleep, as a hung handler would) stops the pings for as long as it blocks."""
    notifier = Notifier(NotifySettings(str(systemd.path), ping_every_s=0.05))
    pinging = asyncio.create_task(keep_pinging(notifier))
    try:
        await asyncio.to_thread(systemd.wait_for, "WATCHDOG=1")
        systemd.drain()
        time.sleep(QUIET_S / 3)  # noqa: ASYNC251 - on purpose: the loop is stuck between drains
        assert systemd.drain() == []
        await asyncio.to_thread(systemd.wait_for, "WATCHDOG=1")  # and back once it turns
    finally:
        pinging.cancel()


def test_centre_pings_stop_while_a_batch_is_being_handled(
    home: SimulatedHome, systemd: SystemdStandIn
) -> None:
    """The worker pings from paho's network loop, the thread that hands each batch to ingest
    (centre/serve.py run_loop): a handler that hangs stops the pings until it returns."""
    centre = home.centre
    subscribed, handling, release = threading.Event(), threading.Event(), threading.Event()

    def on_connect(c: mqtt.Client, _u: object, _f: object, _r: object, _p: object) -> None:
        c.subscribe(f"$share/{centre.share_group}/dho/v1/hub/+/batch", qos=1)

    def on_message(_c: mqtt.Client, _u: object, _m: mqtt.MQTTMessage) -> None:
        handling.set()
        release.wait(120)  # a hung ingest

    worker = home.mqtt_client(centre.ingest_name, centre_side=True)
    worker.on_connect = on_connect
    worker.on_subscribe = lambda *_: subscribed.set()
    worker.on_message = on_message
    notifier = Notifier(NotifySettings(str(systemd.path), ping_every_s=0.05))
    stopping = threading.Event()
    loop = threading.Thread(target=run_loop, args=(worker, notifier, Backoff(), stopping.is_set))
    loop.start()
    hub = home.mqtt_client(home.hub_id)
    hub.loop_start()
    try:
        assert subscribed.wait(60)
        systemd.wait_for("WATCHDOG=1")
        hub.publish(f"dho/v1/hub/{home.hub_id}/batch", b"{}", qos=1)
        assert handling.wait(60)
        systemd.drain()  # pings sent before the handler started
        time.sleep(QUIET_S / 3)
        assert systemd.drain() == [], "pings went on while a batch was being handled"
        release.set()
        systemd.wait_for("WATCHDOG=1")
    finally:
        release.set()
        stopping.set()
        worker.disconnect()
        loop.join(30)
        hub.loop_stop()
        hub.disconnect()
    assert not loop.is_alive()


@pytest.mark.parametrize(
    ("environ", "pid", "expected"),
    [
        ({}, 7, NotifySettings(None, None)),
        ({"NOTIFY_SOCKET": "/run/systemd/notify"}, 7, NotifySettings("/run/systemd/notify", None)),
        ({"NOTIFY_SOCKET": "@sd-notify"}, 7, NotifySettings("\0sd-notify", None)),
        ({"NOTIFY_SOCKET": "/n", "WATCHDOG_USEC": "60000000"}, 7, NotifySettings("/n", 30.0)),
        (
            {"NOTIFY_SOCKET": "/n", "WATCHDOG_USEC": "60000000", "WATCHDOG_PID": "7"},
            7,
            NotifySettings("/n", 30.0),
        ),
        # The watchdog is meant for another process (the daemon's parent or child): not us.
        (
            {"NOTIFY_SOCKET": "/n", "WATCHDOG_USEC": "60000000", "WATCHDOG_PID": "8"},
            7,
            NotifySettings("/n", None),
        ),
        ({"NOTIFY_SOCKET": "/n", "WATCHDOG_USEC": "0"}, 7, NotifySettings("/n", None)),
        ({"NOTIFY_SOCKET": "/n", "WATCHDOG_USEC": "soon"}, 7, NotifySettings("/n", None)),
        ({"NOTIFY_SOCKET": "/n", "WATCHDOG_USEC": "-5"}, 7, NotifySettings("/n", None)),
        # Not a Unix socket (vsock, relative path): no notifications, the service still runs.
        ({"NOTIFY_SOCKET": "vsock:2:1234", "WATCHDOG_USEC": "1000"}, 7, NotifySettings(None, None)),
        ({"WATCHDOG_USEC": "60000000"}, 7, NotifySettings(None, None)),
    ],
)
def test_notify_settings_read_the_environment_as_sd_notify_does(
    environ: dict[str, str], pid: int, expected: NotifySettings
) -> None:
    assert notify_settings(environ, pid) == expected


def test_a_notification_that_cannot_be_sent_does_not_stop_the_service(short_tmp: Path) -> None:
    notifier = Notifier(NotifySettings(str(short_tmp / "nobody-listens"), ping_every_s=1.0))
    notifier.ready()
    notifier.ping()
    notifier.stopping()


def test_an_abstract_notify_socket_is_reached(short_tmp: Path) -> None:
    name = f"dho-test-{os.getpid()}-{time.monotonic_ns()}"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as listener:
        listener.bind("\0" + name)
        listener.settimeout(10)
        Notifier(notify_settings({"NOTIFY_SOCKET": "@" + name}, os.getpid())).ready()
        assert listener.recv(64) == b"READY=1"
