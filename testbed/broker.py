"""A real Mosquitto broker on free loopback ports, configured by `centre broker-config`."""

from __future__ import annotations

import shutil
from pathlib import Path

from testbed.processes import Process, TestbedError, port_open, wait_until


class Broker:
    def __init__(self, workdir: Path, conf: Path, hub_port: int, centre_port: int) -> None:
        exe = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
        if not Path(exe).exists():
            raise TestbedError("mosquitto not found: install the Debian package 'mosquitto'")
        self.exe = exe
        self.workdir = workdir
        self.conf = conf
        self.port = hub_port  # the hubs' listener
        self.centre_port = centre_port
        self.process: Process | None = None
        self.start()

    def start(self) -> None:
        self.process = Process(
            "mosquitto", [self.exe, "-c", str(self.conf)], self.workdir / "mosquitto.log"
        )
        wait_until(lambda: self._up(), 10, f"mosquitto on ports {self.port}, {self.centre_port}")

    def _up(self) -> bool:
        assert self.process is not None
        self.process.check_alive()
        return port_open(self.port) and port_open(self.centre_port)

    def stop(self) -> None:
        if self.process is not None:
            self.process.stop()
            self.process = None
