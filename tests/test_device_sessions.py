"""Sessions across devices: several of the patient's devices waiting at once are all served."""

from __future__ import annotations

import asyncio
from typing import Any

from testbed.bluetooth import DEVICE_ADAPTERS
from testbed.home import SimulatedHome
from testbed.peripherals.cuff import EmulatedCuff
from testbed.peripherals.thermometer import EmulatedThermometer
from tests.conftest import eventually, pair


async def test_a_device_that_always_advertises_first_does_not_starve_the_others(
    home: SimulatedHome,
) -> None:
    # BlueZoo reports adapters in order, so the cuff (hci1) is always seen before the
    # thermometer (hci4): a hub that took the first device it saw would only ever read the cuff.
    cuff, thermometer = EmulatedCuff(), EmulatedThermometer()
    await cuff.start()
    await thermometer.start()
    home.start_hub()
    try:
        await pair(home, cuff)
        await pair(home, thermometer)

        async def keep_measuring() -> None:
            for i in range(30):
                cuff.measure(120 + i, 80, 60)
                thermometer.measure(36.5 + i / 100)
                await asyncio.sleep(1.0)

        def from_both() -> list[dict[str, Any]] | None:
            found = home.hub_readings()
            both = {DEVICE_ADAPTERS["hci1"], DEVICE_ADAPTERS["hci4"]}
            return found if {r["device_address"] for r in found} == both else None

        measuring = asyncio.create_task(keep_measuring())
        try:
            rows = await eventually(from_both, what="readings from both devices")
        finally:
            measuring.cancel()
    finally:
        await cuff.stop()
        await thermometer.stop()
    assert {r["kind"] for r in rows} == {"blood_pressure", "temperature"}
