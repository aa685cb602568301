"""The testbed's listening ports (testbed/processes.py free_port): below the kernel's
ephemeral range, where no outgoing connection's source port can take one before its server
binds it, never the same twice in a process, and each bindable when handed out."""

from __future__ import annotations

import socket
from pathlib import Path

from testbed.processes import LISTEN_PORTS_FROM, free_port


def test_ports_are_below_the_ephemeral_range_distinct_and_free() -> None:
    ephemeral = int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    ports = [free_port() for _ in range(50)]
    assert len(set(ports)) == 50
    assert all(LISTEN_PORTS_FROM <= port < ephemeral for port in ports)
    for port in ports:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            s.bind(("127.0.0.1", port))
