"""End-to-end latency of the walking skeleton, every component real.

Prints p50 and p95 of (indication -> committed in the hub's SQLite) and (indication -> stored in
the centre's SQLite) over N readings from the emulated cuff through BlueZoo, bleak, Mosquitto.

    .venv/bin/python bench/e2e_latency.py [--readings 200] [--interval 0.05]

All clocks are this machine's wall clock, so the differences are comparable.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import statistics
import tempfile
import time
from datetime import datetime
from pathlib import Path

from hub.devices.blood_pressure import build_blood_pressure_measurement
from testbed.bluetooth import DEVICE_ADAPTERS
from testbed.home import SimulatedHome
from testbed.peripherals.cuff import EmulatedCuff


def epoch(iso: str) -> float:
    return datetime.fromisoformat(iso).timestamp()


def percentile(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[int(q) - 1]


async def measure(home: SimulatedHome, n: int, interval: float) -> tuple[list[float], list[float]]:
    home.start_centre()
    home.start_hub()
    cuff = EmulatedCuff()
    await cuff.start()
    try:
        await asyncio.to_thread(home.pair, DEVICE_ADAPTERS[cuff.adapter])
        for i in range(n):
            cuff.take_measurement(
                build_blood_pressure_measurement(
                    100 + i % 80, 60 + i % 30, 80, pulse_rate=60 + i % 40
                )
            )
            await asyncio.sleep(interval)
        deadline = time.monotonic() + 120
        while len(rows := home.centre_readings()) < n:
            if time.monotonic() > deadline:
                raise SystemExit(f"only {len(rows)} of {n} readings reached the centre")
            await asyncio.sleep(0.5)
    finally:
        await cuff.stop()
    hub_rows = {r["seq"]: r for r in home.hub_readings()}
    sent = cuff.sent_at  # the i-th indication became sequence number i + 1
    # A re-sent indication (not confirmed in time) would shift the mapping; refuse to guess.
    assert len(sent) == n, f"{len(sent)} indications sent for {n} readings"
    to_hub = [epoch(hub_rows[i + 1]["stored_at"]) - sent[i] for i in range(n)]
    to_centre = [epoch(r["stored_at"]) - sent[r["seq"] - 1] for r in rows[:n]]
    return to_hub, to_centre


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--readings", type=int, default=200)
    parser.add_argument(
        "--interval",
        type=float,
        default=0.05,
        help="seconds between measurements taken by the cuff",
    )
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="dho-bench-", dir="/tmp"))
    home = SimulatedHome(workdir)
    os.environ.update(home.bluetooth.env)
    try:
        to_hub, to_centre = asyncio.run(measure(home, args.readings, args.interval))
    finally:
        home.stop()
        shutil.rmtree(workdir, ignore_errors=True)
    print(f"readings: {args.readings}, one every {args.interval * 1000:.0f} ms")
    for name, values in (
        ("indication -> committed at hub", to_hub),
        ("indication -> stored at centre", to_centre),
    ):
        ms = [v * 1000 for v in values]
        print(
            f"{name:<32} p50 {percentile(ms, 50):7.1f} ms   p95 {percentile(ms, 95):7.1f} ms"
            f"   max {max(ms):7.1f} ms"
        )


if __name__ == "__main__":
    main()
