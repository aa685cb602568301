"""A real Mosquitto broker on a free loopback port."""

from __future__ import annotations

import shutil
from pathlib import Path

from hub.testbed.processes import Process, TestbedError, free_port, port_open, wait_until


class Broker:
    def __init__(self, workdir: Path, port: int | None = None) -> None:
        exe = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
        if not Path(exe).exists():
            raise TestbedError("mosquitto not found: install the Debian package 'mosquitto'")
        self.exe = exe
        self.workdir = workdir
        workdir.mkdir(parents=True, exist_ok=True)
        self.port = port or free_port()
        self.conf = workdir / "mosquitto.conf"
        self.conf.write_text(
            f"listener {self.port} 127.0.0.1\nallow_anonymous true\npersistence false\n"
            "log_dest stdout\nlog_type error\nlog_type warning\nlog_type notice\n"
        )
        self.process: Process | None = None
        self.start()

    def start(self) -> None:
        self.process = Process("mosquitto", [self.exe, "-c", str(self.conf)],
                               self.workdir / "mosquitto.log")
        wait_until(lambda: self._up(), 10, f"mosquitto on port {self.port}")

    def _up(self) -> bool:
        assert self.process is not None
        self.process.check_alive()
        return port_open(self.port)

    def stop(self) -> None:
        if self.process is not None:
            self.process.stop()
            self.process = None
