"""Run an emulated device: `python -m hub.devices.sim cuff --adapter hci1 --every 8`."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import random
from datetime import datetime
from zoneinfo import ZoneInfo

from hub.devices.blood_pressure import build_blood_pressure_measurement
from hub.devices.sim.cuff import EmulatedCuff

OSLO = ZoneInfo("Europe/Oslo")


def local_now() -> datetime:
    """Cuffs keep Norwegian wall-clock time without a zone; so does the emulator."""
    return datetime.now(OSLO).replace(tzinfo=None, microsecond=0)


def plausible_measurement(rng: random.Random) -> bytes:
    systolic = rng.randint(115, 165)
    diastolic = rng.randint(65, 95)
    return build_blood_pressure_measurement(
        systolic, diastolic, round(diastolic + (systolic - diastolic) / 3),
        timestamp=local_now(), pulse_rate=rng.randint(55, 95),
        user_id=1, measurement_status=[],
    )


async def run_cuff(adapter: str, every: float) -> None:
    cuff = EmulatedCuff(adapter=adapter)
    await cuff.start()
    rng = random.Random()
    try:
        while True:
            await asyncio.sleep(every)
            cuff.take_measurement(plausible_measurement(rng))
            logging.info("cuff measured; %d waiting to be sent", len(cuff.pending))
    finally:
        await cuff.stop()


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m hub.devices.sim")
    parser.add_argument("device", choices=["cuff"])
    parser.add_argument("--adapter", default="hci1")
    parser.add_argument("--every", type=float, default=8.0, help="seconds between measurements")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(run_cuff(args.adapter, args.every))


if __name__ == "__main__":
    main()
