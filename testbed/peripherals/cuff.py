"""An emulated blood-pressure cuff: Blood Pressure Service (0x1810), with Current Time and
Battery services, over BlueZ's D-Bus API.

Like the cuffs in patients' homes it keeps measurements it could not deliver and indicates them
all (one confirmed at a time) once a hub subscribes. (BlueZoo cannot carry a peripheral's
disconnect to the central, so the hub ends the session when the cuff goes quiet.)
"""

import asyncio
import random
from collections.abc import Sequence
from dataclasses import dataclass

from hub.devices.blood_pressure import (
    Unit,
    build_blood_pressure_feature,
    build_blood_pressure_measurement,
    build_intermediate_cuff_pressure,
)
from hub.devices.profiles import sig_uuid
from testbed.peripherals.device import EmulatedDevice
from testbed.peripherals.gatt import GattCharacteristic

BLOOD_PRESSURE_SERVICE = sig_uuid(0x1810)
BLOOD_PRESSURE_MEASUREMENT = sig_uuid(0x2A35)
BLOOD_PRESSURE_FEATURE = sig_uuid(0x2A49)
INTERMEDIATE_CUFF_PRESSURE = sig_uuid(0x2A36)
FEATURES = build_blood_pressure_feature(
    ["body_movement_detection", "cuff_fit_detection", "irregular_pulse_detection"]
)


@dataclass
class EmulatedCuff(EmulatedDevice):
    name: str = "DHO sim BP cuff"
    base_path: str = "/no/dho/sim/cuff"
    unit: Unit = "mmHg"

    def build(self) -> None:
        self.peripheral.add_service(BLOOD_PRESSURE_SERVICE)
        self.measurement = self.characteristic(BLOOD_PRESSURE_MEASUREMENT, ["indicate"])
        self.cuff_pressure = self.characteristic(INTERMEDIATE_CUFF_PRESSURE, ["notify"])
        self.characteristic(BLOOD_PRESSURE_FEATURE, ["read"], on_read=lambda: FEATURES)

    @property
    def record_channel(self) -> GattCharacteristic:
        return self.measurement

    def measure(
        self,
        systolic: float,
        diastolic: float,
        pulse: float,
        status: tuple[str, ...] = ("pulse_rate_within_range",),
    ) -> bytes:
        """Take a measurement now, stamped by the cuff's own clock; returns the stored value."""
        exponent = -1 if self.unit == "kPa" else 0
        value = build_blood_pressure_measurement(
            systolic,
            diastolic,
            round(diastolic + (systolic - diastolic) / 3, -exponent),
            unit=self.unit,
            exponent=exponent,
            timestamp=self.clock.now(),
            pulse_rate=pulse,
            user_id=1,
            measurement_status=status,
        )
        self.take_measurement(value)
        return value

    async def measure_live(
        self,
        systolic: float,
        diastolic: float,
        pulse: float,
        pressures: Sequence[float],
        interval_s: float = 0.2,
        status: tuple[str, ...] = ("pulse_rate_within_range",),
        watcher_wait_s: float | None = None,
    ) -> bytes:
        """Measure with a hub watching, as cuffs that connect when the patient presses start:
        advertise, wait for the hub to follow the cuff pressure, inflate and deflate through
        ``pressures`` (Intermediate Cuff Pressure), then indicate the result. With no hub
        within ``watcher_wait_s``, measure unwatched and keep the result for later."""
        self._news = True  # advertise now, before there is a stored record
        try:
            await asyncio.wait_for(self.cuff_pressure.subscribed.wait(), watcher_wait_s)
        except TimeoutError:
            return self.measure(systolic, diastolic, pulse, status)
        exponent = -1 if self.unit == "kPa" else 0
        for pressure in pressures:
            value = build_intermediate_cuff_pressure(
                pressure,
                unit=self.unit,
                exponent=exponent,
                timestamp=self.clock.now(),
            )
            await self.cuff_pressure.send(value)
            await asyncio.sleep(interval_s)
        return self.measure(systolic, diastolic, pulse, status)

    async def demo_session(self, rng: random.Random) -> None:
        """Press start with the hub watching: the screen follows the cuff inflating to about
        30 mmHg over the systolic pressure and deflating, then shows the result."""
        systolic, diastolic = rng.randint(115, 165), rng.randint(65, 95)
        top = systolic + 30
        pressures = [*range(20, top, 25), top, *range(top - 8, diastolic - 20, -8)]
        await self.measure_live(
            systolic, diastolic, rng.randint(55, 95), pressures, 0.4, watcher_wait_s=60
        )

    def demo_measurement(self, rng: random.Random) -> None:
        systolic, diastolic = rng.randint(115, 165), rng.randint(65, 95)
        self.measure(systolic, diastolic, rng.randint(55, 95))
