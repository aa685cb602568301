"""Run an emulated device: `python -m testbed.peripherals cuff --adapter hci1 --every 8`.

`--first` delays its first measurement (default: `--every`), so a home of several devices can
take turns rather than all measure at once (testbed/demo.py).

Each kind is an ``EmulatedDevice`` subclass whose ``demo_session(rng)`` takes a plausible
measurement on the device's own clock (the cuff with the hub watching its cuff pressure).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import importlib
import logging
import random

# kind -> (module, class, adapter the demo and tests give it)
KINDS = {
    "cuff": ("testbed.peripherals.cuff", "EmulatedCuff", "hci1"),
    "oximeter": ("testbed.peripherals.oximeter", "EmulatedOximeter", "hci2"),
    "scale": ("testbed.peripherals.scale", "EmulatedScale", "hci3"),
    "thermometer": ("testbed.peripherals.thermometer", "EmulatedThermometer", "hci4"),
    "glucose": ("testbed.peripherals.glucose_meter", "EmulatedGlucoseMeter", "hci5"),
}


async def run_device(kind: str, adapter: str, every: float, first: float | None = None) -> None:
    module, cls, _ = KINDS[kind]
    device = getattr(importlib.import_module(module), cls)(adapter=adapter)
    await device.start()
    rng = random.Random()
    wait = every if first is None else first
    try:
        while True:
            await asyncio.sleep(wait)
            wait = every
            await device.demo_session(rng)
            logging.info("%s measured; %d waiting to be sent", kind, len(device.pending))
    finally:
        await device.stop()


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m testbed.peripherals")
    parser.add_argument("device", choices=sorted(KINDS))
    parser.add_argument("--adapter", help="BlueZ adapter (default: the kind's own)")
    parser.add_argument("--every", type=float, default=8.0, help="seconds between measurements")
    parser.add_argument(
        "--first", type=float, help="seconds before the first measurement (default: --every)"
    )
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    adapter = args.adapter or KINDS[args.device][2]
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(run_device(args.device, adapter, args.every, args.first))


if __name__ == "__main__":
    main()
