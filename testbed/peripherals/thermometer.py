"""An emulated thermometer: Health Thermometer Service (0x1809), with Current Time and Battery
services, over BlueZ's D-Bus API.

Temperature Measurement (0x2A1C) is indicated: the thermometer keeps measurements it could not
deliver and indicates them one confirmed at a time once a hub subscribes. Temperature Type
(0x2A1D) is readable and says where it measures. Intermediate Temperature (0x2A1E) is notified
while a measurement runs, for display only; a thermometer streams it to whoever subscribed and to
nobody otherwise (the hub does not subscribe: only finished measurements are stored).
"""

import asyncio
import collections
import random
from dataclasses import dataclass

from hub.devices.ieee11073 import Number
from hub.devices.profiles import sig_uuid
from hub.devices.thermometer import (
    TemperatureUnit,
    build_temperature_measurement,
    build_temperature_type,
)
from testbed.peripherals.device import EmulatedDevice
from testbed.peripherals.gatt import GattCharacteristic

HEALTH_THERMOMETER_SERVICE = sig_uuid(0x1809)
TEMPERATURE_MEASUREMENT = sig_uuid(0x2A1C)
TEMPERATURE_TYPE = sig_uuid(0x2A1D)
INTERMEDIATE_TEMPERATURE = sig_uuid(0x2A1E)


@dataclass
class EmulatedThermometer(EmulatedDevice):
    adapter: str = "hci4"
    name: str = "DHO sim thermometer"
    base_path: str = "/no/dho/sim/thermometer"
    unit: TemperatureUnit = "C"
    temperature_type: str = "ear"  # served on 0x2A1D
    intermediate_interval_s: float = 0.2  # between Intermediate Temperature values

    def build(self) -> None:
        self.peripheral.add_service(HEALTH_THERMOMETER_SERVICE)
        self.measurement = self.characteristic(TEMPERATURE_MEASUREMENT, ["indicate"])
        self.characteristic(
            TEMPERATURE_TYPE,
            ["read"],
            on_read=lambda: build_temperature_type(self.temperature_type),
        )
        self.intermediate = self.characteristic(INTERMEDIATE_TEMPERATURE, ["notify"])
        # Intermediate values of the measurement in progress, streamed before it is indicated.
        self.live: collections.deque[bytes] = collections.deque()
        self.intermediate_streamed: list[bytes] = []  # offered on 0x2A1E
        self.intermediate_delivered: list[bytes] = []  # actually notified to a subscriber

    @property
    def record_channel(self) -> GattCharacteristic:
        return self.measurement

    def measure(
        self,
        value: Number,
        unit: TemperatureUnit | None = None,
        temperature_type: str | int | None = None,
        intermediates: tuple[Number, ...] = (),
    ) -> bytes:
        """Take a measurement now, stamped by the thermometer's own clock; returns the stored
        value. ``temperature_type`` puts the measuring site in the value itself (omitted: the
        site is the one 0x2A1D serves). ``intermediates`` are streamed on 0x2A1E when a hub
        connects, before the finished measurement is indicated."""
        unit = unit or self.unit
        self.live.extend(
            build_temperature_measurement(v, unit, intermediate=True) for v in intermediates
        )
        record = build_temperature_measurement(
            value, unit, timestamp=self.clock.now(), temperature_type=temperature_type
        )
        self.take_measurement(record)
        return record

    async def send_records(self, channel: GattCharacteristic) -> None:
        """Stream the measurement in progress on 0x2A1E, then indicate the stored records."""
        while self.live and channel.notifying:
            value = self.live.popleft()
            self.intermediate_streamed.append(value)
            if await self.intermediate.send(value):
                self.intermediate_delivered.append(value)
            await asyncio.sleep(self.intermediate_interval_s)
        await super().send_records(channel)

    def demo_measurement(self, rng: random.Random) -> None:
        final = round(rng.uniform(36.2, 38.4), 1)
        self.measure(
            final,
            temperature_type=self.temperature_type,
            intermediates=tuple(round(final - d, 1) for d in (1.2, 0.6, 0.2)),
        )
