"""End-to-end latency of the walking skeleton, every component real.

Prints p50 and p95 of (indication -> committed in the hub's SQLite, as the hub logs it after
COMMIT returned), (indication -> stored in the centre's SQLite) and their difference (the
uplink, broker and centre: the part after the hub's commit) over N readings from the emulated
cuff through BlueZoo, bleak, Mosquitto.

    .venv/bin/python bench/e2e_latency.py [--readings 200] [--interval 0.05] [--lane urgent]

`--lane urgent` (the default) sends a care plan first under which every reading of the cuff is
outside the limits, so each goes out at once (issue 12's target: p50 <= 15 ms to the centre;
the bench stops if any reading was stored in the routine lane, which would mix the lanes);
`--lane routine` measures readings that wait for a batch (up to sync.batch_max_age_s).

All clocks are this machine's wall clock, so the differences are comparable.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
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


# Every reading the cuff sends (systolic 100 to 179) is above this limit: all are urgent.
URGENT_PLAN = {
    "thresholds": {"blood_pressure": {"systolic": {"min": 0, "max": 99}}},
    "schedule": [{"kind": "blood_pressure", "times": ["08:00"]}],
    "centre_phone": "+47 55 00 00 00",
}
STORED = re.compile(r"^(\S+ \S+) INFO hub\.daemon: stored \S+ seq (\d+) from \S+ \(([^)]*)\)")


def send_urgent_plan(home: SimulatedHome) -> None:
    path = home.workdir / "plan.json"
    path.write_text(json.dumps(URGENT_PLAN))
    result = home.centre_cli("send-care-plan", home.hub_id, str(path))
    if result.returncode != 0:
        raise SystemExit(f"send-care-plan: {result.stderr}")
    deadline = time.monotonic() + 30
    while home.hub_status()["care_plan_version"] < 1:
        if time.monotonic() > deadline:
            raise SystemExit("the care plan did not reach the hub")
        time.sleep(0.2)


def committed_at(home: SimulatedHome) -> dict[int, float]:
    """When the hub logged each reading stored: after the store's COMMIT returned (ms)."""
    times = {}
    for line in (home.workdir / "logs" / "hub.log").read_text().splitlines():
        if m := STORED.match(line):
            local = datetime.strptime(m.group(1), "%Y-%m-%d %H:%M:%S,%f")
            times[int(m.group(2))] = local.timestamp()
    return times


def lanes(home: SimulatedHome) -> dict[int, str]:
    """Each reading's lane, as the hub logged it when storing it."""
    found = {}
    for line in (home.workdir / "logs" / "hub.log").read_text().splitlines():
        if m := STORED.match(line):
            found[int(m.group(2))] = "urgent" if m.group(3).endswith(", urgent") else "routine"
    return found


async def measure(
    home: SimulatedHome, n: int, interval: float, urgent: bool
) -> tuple[list[float], list[float], list[float]]:
    home.start_centre()
    home.start_hub()
    if urgent:
        await asyncio.to_thread(send_urgent_plan, home)
    cuff = EmulatedCuff()
    await cuff.start()
    try:
        await asyncio.to_thread(home.pair, DEVICE_ADAPTERS[cuff.adapter])
        for i in range(n):
            systolic, diastolic = 100 + i % 80, 60 + i % 30
            # A plausible mean (between the two): an implausible reading fails, and a failed
            # reading is judged by no care plan, so it would wait in the routine lane.
            mean = diastolic + (systolic - diastolic) // 3
            cuff.take_measurement(
                build_blood_pressure_measurement(systolic, diastolic, mean, pulse_rate=60 + i % 40)
            )
            await asyncio.sleep(interval)
        deadline = time.monotonic() + 120
        while len(rows := home.centre_readings()) < n:
            if time.monotonic() > deadline:
                raise SystemExit(f"only {len(rows)} of {n} readings reached the centre")
            await asyncio.sleep(0.5)
    finally:
        await cuff.stop()
    committed = committed_at(home)
    sent = cuff.sent_at  # the i-th indication became sequence number i + 1
    # A re-sent indication (not confirmed in time) would shift the mapping; refuse to guess.
    assert len(sent) == n, f"{len(sent)} indications sent for {n} readings"
    if urgent:
        routine = sorted(seq for seq, lane in lanes(home).items() if lane != "urgent")
        if routine:
            raise SystemExit(f"readings {routine[:10]} were not urgent; the figure would mix lanes")
    to_hub = [committed[i + 1] - sent[i] for i in range(n)]
    to_centre = [epoch(r["stored_at"]) - sent[r["seq"] - 1] for r in rows[:n]]
    hub_to_centre = [epoch(r["stored_at"]) - committed[r["seq"]] for r in rows[:n]]
    return to_hub, to_centre, hub_to_centre


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
    parser.add_argument("--lane", choices=["urgent", "routine"], default="urgent")
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="dho-bench-", dir="/tmp"))
    home = SimulatedHome(workdir)
    os.environ.update(home.bluetooth.env)
    try:
        to_hub, to_centre, hub_to_centre = asyncio.run(
            measure(home, args.readings, args.interval, args.lane == "urgent")
        )
    finally:
        home.stop()
        shutil.rmtree(workdir, ignore_errors=True)
    print(f"readings: {args.readings} ({args.lane}), one every {args.interval * 1000:.0f} ms")
    for name, values in (
        ("indication -> committed at hub", to_hub),  # log stamps: 1 ms steps
        ("indication -> stored at centre", to_centre),
        ("committed at hub -> at centre", hub_to_centre),  # the uplink, broker and centre
    ):
        ms = [v * 1000 for v in values]
        print(
            f"{name:<32} p50 {percentile(ms, 50):7.1f} ms   p95 {percentile(ms, 95):7.1f} ms"
            f"   max {max(ms):7.1f} ms"
        )


if __name__ == "__main__":
    main()
