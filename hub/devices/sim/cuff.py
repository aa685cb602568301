"""An emulated blood-pressure cuff: Blood Pressure Service (0x1810) over BlueZ's D-Bus API.

Behaves like the cuffs in patients' homes: it keeps measurements it could not deliver, sends
them all (indications, one confirmed at a time) once a hub subscribes. (BlueZoo cannot carry a
peripheral's disconnect to the central, so the hub ends the session when the cuff goes quiet.)
"""

import asyncio
import collections
import contextlib
import logging
import time
from dataclasses import dataclass

from dbus_fast import BusType, Message
from dbus_fast.aio import MessageBus

from hub.devices.profiles import sig_uuid
from hub.devices.sim.gatt import BLUEZ, Peripheral

log = logging.getLogger(__name__)

BLOOD_PRESSURE_SERVICE = sig_uuid(0x1810)
BLOOD_PRESSURE_MEASUREMENT = sig_uuid(0x2A35)
BLOOD_PRESSURE_FEATURE = sig_uuid(0x2A49)
# Supported features: body movement, cuff fit, irregular pulse detection.
FEATURES = (0b0000_0111).to_bytes(2, "little")


@dataclass
class EmulatedCuff:
    adapter: str = "hci1"
    name: str = "DHO sim BP cuff"
    base_path: str = "/no/dho/sim/cuff"

    def __post_init__(self) -> None:
        self.peripheral = Peripheral(self.name, self.adapter, BLOOD_PRESSURE_SERVICE,
                                     self.base_path)
        self.measurement = self.peripheral.add_characteristic(
            BLOOD_PRESSURE_MEASUREMENT, ["indicate"])
        self.peripheral.add_characteristic(BLOOD_PRESSURE_FEATURE, ["read"],
                                           on_read=lambda: FEATURES)
        self.pending: collections.deque[bytes] = collections.deque()
        self.delivered: list[bytes] = []
        self.sent_at: list[float] = []  # wall-clock time of each indication, for benchmarks
        self._wake = asyncio.Event()  # a new measurement
        self._tasks: list[asyncio.Task[None]] = []
        self._bus: MessageBus | None = None

    async def start(self) -> None:
        self._bus = await MessageBus(bus_type=BusType.SYSTEM).connect()
        self._bus.add_message_handler(self._on_signal)
        await self._bus.call(Message(
            destination="org.freedesktop.DBus", path="/org/freedesktop/DBus",
            interface="org.freedesktop.DBus", member="AddMatch", signature="s",
            body=[f"type='signal',sender='{BLUEZ}',interface='org.freedesktop.DBus.Properties',"
                  f"member='PropertiesChanged',path_namespace='/org/bluez/{self.adapter}'"]))
        await self.peripheral.start(self._bus)
        self._tasks = [asyncio.create_task(self._transfer_loop()),
                       asyncio.create_task(self._advertise_loop())]

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        await self.peripheral.stop()

    def take_measurement(self, value: bytes) -> None:
        """Store a finished measurement; it is sent when a hub next subscribes."""
        self.pending.append(value)
        self._wake.set()

    async def _transfer_loop(self) -> None:
        while True:
            await self.measurement.subscribed.wait()
            while self.pending and self.measurement.notifying:
                self.sent_at.append(time.time())
                if await self.measurement.send(self.pending[0]):
                    self.delivered.append(self.pending.popleft())
            self._wake.clear()
            # Re-check now and then: a new subscriber does not set _wake.
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), 1.0)

    async def _advertise_loop(self) -> None:
        # Like a real cuff, keep advertising fresh data while a measurement waits for a hub:
        # a scanner that missed one advertisement sees the next.
        while True:
            if self.pending and not self.measurement.notifying:
                self.peripheral.advertisement.announce_news()
            await asyncio.sleep(1.0)

    def _on_signal(self, msg: Message) -> None:
        # A central that went away leaves no subscription behind, as on a real link.
        if msg.member != "PropertiesChanged" or not (msg.path or "").startswith(
                f"/org/bluez/{self.adapter}/dev_"):
            return
        interface, changed = msg.body[0], msg.body[1]
        connected = changed.get("Connected") if interface == "org.bluez.Device1" else None
        if connected is not None and not connected.value:
            self.measurement.reset()
