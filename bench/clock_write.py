"""How soon after connecting does the hub set a device's clock? (A&D allows about 100 ms.)

Runs the real hub daemon against the emulated cuff on BlueZoo and reads, for each session, the
delay the hub logs between the link coming up and the Current Time write completing (the hub
first reads the device clock, then writes). The baseline, in the same run on the same cuff, is a
bare bleak client that writes Current Time the moment connect() returns: the floor BlueZ (here
BlueZoo) and D-Bus set. The ratio shows what the hub's own steps add.

    .venv/bin/python bench/clock_write.py [--sessions 20]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import shutil
import statistics
import tempfile
import time
from datetime import datetime
from pathlib import Path

from bleak import BleakClient, BleakScanner

from hub.devices.current_time import encode_current_time
from hub.devices.profiles import CURRENT_TIME
from testbed.bluetooth import DEVICE_ADAPTERS
from testbed.home import SimulatedHome
from testbed.peripherals.cuff import EmulatedCuff

CLOCK_LINE = re.compile(r"clock set to \S+ \((\d+) ms after connecting")


def p(values: list[float], q: int) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1]


async def baseline(address: str, sessions: int) -> list[float]:
    device = await BleakScanner.find_device_by_address(
        address, timeout=20, bluez={"adapter": "hci0"}
    )
    assert device is not None, "the cuff did not advertise"
    delays = []
    for _ in range(sessions):
        client = BleakClient(device, bluez={"adapter": "hci0"})
        await client.connect()
        start = time.perf_counter()
        await client.write_gatt_char(
            CURRENT_TIME, encode_current_time(datetime.now()), response=True
        )
        delays.append((time.perf_counter() - start) * 1000)
        await client.disconnect()
    return delays


SESSION_ENDED = re.compile(r"session with \S+ ended")


async def logged(log: Path, line: re.Pattern[str], count: int, failure: str) -> None:
    """Until the hub's log holds `count` lines matching `line` (within 30 s). The log is another
    process's file: there is no event to wait on, so it is read every 0.2 s."""
    deadline = time.monotonic() + 30
    while len(line.findall(await asyncio.to_thread(log.read_text))) < count:
        if time.monotonic() > deadline:
            raise SystemExit(f"{failure}; see {log}")
        await asyncio.sleep(0.2)


async def hub_sessions(home: SimulatedHome, cuff: EmulatedCuff, sessions: int) -> list[float]:
    home.start_hub()
    cuff.pairing_mode = True  # the baseline's connections took it out of pairing mode
    await asyncio.to_thread(home.pair, DEVICE_ADAPTERS[cuff.adapter])
    log = next(p for p in home.processes if p.name == "hub").log_path
    for i in range(sessions):
        cuff.measure(120 + i, 80, 60)
        # + the pairing connection
        await logged(log, CLOCK_LINE, i + 2, f"session {i + 1} did not set the clock")
        # Let the session end (quiet period) so the next measurement opens a new one.
        await logged(log, SESSION_ENDED, i + 1, f"session {i + 1} did not end")
    return [float(ms) for ms in CLOCK_LINE.findall(log.read_text())[1:]]


async def run(sessions: int) -> None:
    workdir = Path(tempfile.mkdtemp(prefix="dho-bench-", dir="/tmp"))
    home = SimulatedHome(workdir)
    os.environ.update(home.bluetooth.env)
    cuff = EmulatedCuff()
    await cuff.start()
    try:
        floor = await baseline(DEVICE_ADAPTERS[cuff.adapter], sessions)
        hub = await hub_sessions(home, cuff, sessions)
    finally:
        await cuff.stop()
        home.stop()
        shutil.rmtree(workdir, ignore_errors=True)
    print(f"sessions: {sessions}")
    print(
        f"baseline: bare bleak write after connect  p50 {p(floor, 50):6.1f} ms  "
        f"p95 {p(floor, 95):6.1f} ms  max {max(floor):6.1f} ms"
    )
    print(
        f"hub: clock read + write after connect      p50 {p(hub, 50):6.1f} ms  "
        f"p95 {p(hub, 95):6.1f} ms  max {max(hub):6.1f} ms"
    )
    print(f"ratio hub/baseline (p50): {p(hub, 50) / p(floor, 50):.1f}")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sessions", type=int, default=20)
    asyncio.run(run(parser.parse_args().sessions))


if __name__ == "__main__":
    main()
