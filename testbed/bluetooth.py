"""BlueZ's D-Bus API served by BlueZoo on a private bus: hci0 for the hub, hci1-hci5 for
emulated devices (BlueZoo gives a device its adapter's address, so one device per adapter)."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

from testbed.processes import Process, TestbedError, wait_until

HUB_ADAPTER_ADDRESS = "00:AA:00:00:00:01"
DEVICE_ADAPTER_ADDRESS = "00:BB:00:00:00:02"
# hciN -> address, for the emulated devices.
DEVICE_ADAPTERS = {f"hci{n}": f"00:BB:00:00:00:{n + 1:02X}" for n in range(1, 6)}


class SimulatedBluetooth:
    def __init__(self, workdir: Path, scan_interval: int = 1) -> None:
        self.workdir = workdir
        workdir.mkdir(parents=True, exist_ok=True)
        self.bus_path = workdir / "system_bus_socket"
        self.address = f"unix:path={self.bus_path}"
        dbus = shutil.which("dbus-daemon")
        if dbus is None:
            raise TestbedError("dbus-daemon not found: install the Debian package 'dbus'")
        self.bus = Process(
            "dbus-daemon",
            [dbus, "--session", "--nofork", "--nopidfile", f"--address={self.address}"],
            workdir / "dbus-daemon.log",
        )
        wait_until(self.bus_path.exists, 10, "the private D-Bus socket")
        self.bluezoo = Process(
            "bluezoo",
            [
                sys.executable,
                "-m",
                "testbed.bluezoo_fixed",
                "--auto-enable",
                f"--scan-interval={scan_interval}",
                "-a",
                HUB_ADAPTER_ADDRESS,
                *(arg for address in DEVICE_ADAPTERS.values() for arg in ("-a", address)),
            ],
            workdir / "bluezoo.log",
            env={"DBUS_SYSTEM_BUS_ADDRESS": self.address},
        )
        wait_until(self._adapters_ready, 15, "BlueZoo's adapters")

    @property
    def env(self) -> dict[str, str]:
        return {"DBUS_SYSTEM_BUS_ADDRESS": self.address}

    def _adapters_ready(self) -> bool:
        self.bluezoo.check_alive()
        last = f"Adding adapter[{len(DEVICE_ADAPTERS)}]"
        return last in self.bluezoo.log_path.read_text(errors="replace")

    def stop(self) -> None:
        self.bluezoo.stop()
        self.bus.stop()
