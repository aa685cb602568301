"""Nagle's algorithm is off on every MQTT socket: the hub daemon's, the centre worker's and the
broker's end of each (issue 12: an urgent reading waited for delayed ACKs, 40 ms instead of 7).
Read with getsockopt on the very sockets the running processes hold (pidfd_getfd)."""

from __future__ import annotations

import ctypes
import os
import socket
from pathlib import Path

import pytest

from centre.admin import broker_config
from centre.config import load_centre_config
from testbed.home import SimulatedHome
from testbed.processes import wait_until

SYS_PIDFD_OPEN = 434
SYS_PIDFD_GETFD = 438
ESTABLISHED = "01"


def _syscall(number: int, *args: int) -> int:
    libc = ctypes.CDLL(None, use_errno=True)
    result: int = libc.syscall(number, *args)
    if result < 0:
        err = ctypes.get_errno()
        raise OSError(err, os.strerror(err))
    return result


def tcp_sockets(pid: int) -> dict[int, tuple[int, int]]:
    """The established TCP sockets of the process's network namespace (all its processes'):
    inode -> (local port, remote port). nodelay_of keeps those the process holds."""
    ports: dict[int, tuple[int, int]] = {}
    for table in ("tcp", "tcp6"):
        lines = Path(f"/proc/{pid}/net/{table}").read_text().splitlines()[1:]
        for line in lines:
            fields = line.split()
            if fields[3] == ESTABLISHED:
                local, remote = (int(f.rsplit(":", 1)[1], 16) for f in fields[1:3])
                ports[int(fields[9])] = (local, remote)
    return ports


def nodelay_of(pid: int, wanted: tuple[int | None, int | None]) -> list[int]:
    """TCP_NODELAY of each of the process's sockets whose (local, remote) ports match."""
    ports = tcp_sockets(pid)
    found = []
    pidfd = _syscall(SYS_PIDFD_OPEN, pid, 0)
    try:
        for fd in os.listdir(f"/proc/{pid}/fd"):
            try:
                target = os.readlink(f"/proc/{pid}/fd/{fd}")
            except FileNotFoundError:
                continue
            if not target.startswith("socket:["):
                continue
            local_remote = ports.get(int(target[8:-1]))
            if local_remote is None or any(
                w is not None and w != p for w, p in zip(wanted, local_remote, strict=True)
            ):
                continue
            ours = _syscall(SYS_PIDFD_GETFD, pidfd, int(fd), 0)
            with socket.socket(fileno=ours) as sock:
                found.append(sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))
    finally:
        os.close(pidfd)
    return found


def test_the_generated_broker_configuration_turns_nagle_off(home: SimulatedHome) -> None:
    files = broker_config(load_centre_config(home.centre_config), home.workdir / "conf")
    assert "set_tcp_nodelay true" in files.conf.read_text().splitlines()


def test_every_mqtt_socket_of_hub_centre_and_broker_has_nodelay(home: SimulatedHome) -> None:
    # Subscribed, so connected: /proc/<pid>/net/tcp lists the whole network namespace's
    # sockets, and the hub's own made an earlier wait on it pass before the worker connected.
    centre = home.start_centre(taking_batches=True).pid
    hub = home.start_hub()
    wait_until(lambda: home.hub_status()["broker_connected"], 30, "the hub to connect")
    assert home.broker.process is not None
    broker = home.broker.process.pid
    try:
        assert nodelay_of(hub.pid, (None, home.broker.port)) == [1]
    except PermissionError:
        pytest.fail("pidfd_getfd needs ptrace rights over the hub: run the tests as root")
    assert nodelay_of(centre, (None, home.broker.centre_port)) == [1]
    # The broker's ends: one for the hub, at least one for the centre's worker.
    assert nodelay_of(broker, (home.broker.port, None)) == [1]
    assert set(nodelay_of(broker, (home.broker.centre_port, None))) == {1}


def test_a_client_of_the_shared_factory_has_nodelay_after_a_reconnect(
    home: SimulatedHome,
) -> None:
    client = home.mqtt_client("hub-cccc")
    sock = client.socket()
    assert isinstance(sock, socket.socket)  # TLS: an ssl.SSLSocket
    assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) == 1
    client.reconnect()
    sock = client.socket()
    assert isinstance(sock, socket.socket)
    assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) == 1
    client.disconnect()
