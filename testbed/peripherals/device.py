"""What every emulated health device shares: a clock, stored records, bonding, misbehaviour.

An ``EmulatedDevice`` registers its GATT services on its own BlueZoo adapter (one device per
adapter: BlueZoo gives a device its adapter's address). It keeps measurements it has not
delivered, advertises fresh data while any wait, and sends them when a hub subscribes. The
``Behaviour`` switches reproduce what real devices do to hubs (docs/devices.md):
bonding required, records re-sent on every connection, a clock reset to 2000 by a battery
change, a clock set only through Date Time (A&D), garbage payloads, slow or dropped links.
No `from __future__ import annotations`: dbus-fast reads D-Bus signatures from annotations.
"""

import asyncio
import collections
import contextlib
import logging
import random
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Literal
from zoneinfo import ZoneInfo

from dbus_fast import BusType, DBusError, Message, MessageType, Variant
from dbus_fast.aio import MessageBus

from hub.devices.battery import encode_battery_level
from hub.devices.current_time import encode_current_time, parse_current_time
from hub.devices.errors import ParseError
from hub.devices.gatt_time import parse_date_time
from hub.devices.profiles import (
    BATTERY_LEVEL,
    BATTERY_SERVICE,
    CURRENT_TIME,
    CURRENT_TIME_SERVICE,
    DATE_TIME,
)
from testbed.peripherals.gatt import (
    BLUEZ,
    GattCharacteristic,
    Peripheral,
    ReadHandler,
    WriteHandler,
)

log = logging.getLogger(__name__)

OSLO = ZoneInfo("Europe/Oslo")
RESET_TIME = datetime(2000, 1, 1, 0, 0, 0)  # where a clock starts after a battery change
GARBAGE = bytes.fromhex("ff")  # flags promising every field, and nothing after them


def local_now(zone: ZoneInfo = OSLO) -> datetime:
    """Devices keep Norwegian wall-clock time without a zone; so do the emulators."""
    return datetime.now(zone).replace(tzinfo=None, microsecond=0)


@dataclass
class Behaviour:
    needs_bonding: bool = False  # refuses reads, writes and subscriptions until bonded
    clock: Literal["current_time", "date_time", "none"] = "current_time"
    clock_unset: bool = False  # starts at 2000-01-01 00:00, as after a battery change
    keeps_records: bool = False  # re-sends every stored record on every connection
    garbage_first: bool = False  # sends one malformed value before its records
    send_interval_s: float = 0.0  # a slow device: pause before each record
    drop_after: int | None = None  # goes silent after this many values per connection
    battery_level: int | None = 87


class DeviceClock:
    """The device's own clock: runs from where it was set (or reset), in wall-clock time."""

    def __init__(self, unset: bool) -> None:
        self._set_to(RESET_TIME if unset else local_now())
        self.written: list[datetime] = []

    def _set_to(self, value: datetime) -> None:
        self._base = value
        self._at = time.monotonic()

    def now(self) -> datetime:
        elapsed = timedelta(seconds=time.monotonic() - self._at)
        return (self._base + elapsed).replace(microsecond=0)

    def set(self, value: datetime) -> None:
        self._set_to(value)
        self.written.append(value)


@dataclass
class EmulatedDevice:
    """Base of the per-profile emulators; subclasses add their services in ``build``."""

    adapter: str = "hci1"
    name: str = "DHO sim device"
    behaviour: Behaviour = field(default_factory=Behaviour)
    base_path: str = "/no/dho/sim/device"

    def __post_init__(self) -> None:
        self.peripheral = Peripheral(self.name, self.adapter, self.base_path)
        self.clock = DeviceClock(self.behaviour.clock_unset)
        self.pending: collections.deque[bytes] = collections.deque()
        self.delivered: list[bytes] = []
        self.sent_at: list[float] = []  # wall-clock time of each send, for benchmarks
        self.connections = 0
        self._sent_this_connection = 0
        self._news = False
        # Fresh out of the box a device waits in pairing mode, advertising, for a technician.
        self.pairing_mode = True
        self._centrals: set[str] = set()  # device object paths of connected centrals
        self._forgotten: set[str] = set()  # centrals' bonds this device no longer holds
        self.address = ""
        self._wake = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self._bus: MessageBus | None = None
        self.build()
        self._add_clock_and_battery()

    # --- subclasses -------------------------------------------------------------------------

    def build(self) -> None:
        raise NotImplementedError

    @property
    def record_channel(self) -> GattCharacteristic:
        """The characteristic stored records are pushed on (None for RACP-only meters)."""
        raise NotImplementedError

    @property
    def profile_service(self) -> str:
        return next(iter(self.peripheral.services))

    def characteristic(
        self,
        uuid: str,
        flags: list[str],
        *,
        service: str | None = None,
        on_read: ReadHandler | None = None,
        on_write: WriteHandler | None = None,
    ) -> GattCharacteristic:
        return self.peripheral.add_characteristic(
            service or self.profile_service,
            uuid,
            flags,
            on_read,
            on_write,
            guard=self._require_bond if self.behaviour.needs_bonding else None,
        )

    # --- lifecycle --------------------------------------------------------------------------

    async def start(self) -> None:
        self._bus = await MessageBus(bus_type=BusType.SYSTEM).connect()
        self._bus.add_message_handler(self._on_signal)
        for rule in (
            f"type='signal',sender='{BLUEZ}',interface='org.freedesktop.DBus.Properties',"
            f"member='PropertiesChanged',path_namespace='/org/bluez/{self.adapter}'",
            f"type='signal',sender='{BLUEZ}',interface='org.freedesktop.DBus.ObjectManager',"
            "member='InterfacesRemoved'",
        ):
            await self._bus.call(
                Message(
                    destination="org.freedesktop.DBus",
                    path="/org/freedesktop/DBus",
                    interface="org.freedesktop.DBus",
                    member="AddMatch",
                    signature="s",
                    body=[rule],
                )
            )
        reply = await self._bus.call(
            Message(
                destination=BLUEZ,
                path=f"/org/bluez/{self.adapter}",
                interface="org.freedesktop.DBus.Properties",
                member="Get",
                signature="ss",
                body=["org.bluez.Adapter1", "Address"],
            )
        )
        assert reply is not None and reply.message_type != MessageType.ERROR, reply
        self.address = reply.body[0].value
        await self.peripheral.start(self._bus)
        self._tasks = [
            asyncio.create_task(self._transfer_loop()),
            asyncio.create_task(self._advertise_loop()),
        ]

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        await self.peripheral.stop()

    async def demo_session(self, rng: random.Random) -> None:
        """What the patient does in the demo: by default, measure; the hub fetches it later."""
        self.demo_measurement(rng)

    def demo_measurement(self, rng: random.Random) -> None:
        raise NotImplementedError

    def take_measurement(self, value: bytes) -> None:
        """Store a finished measurement; it is sent when a hub next subscribes."""
        self.pending.append(value)
        self._news = True
        self._wake.set()

    @property
    def has_news(self) -> bool:
        """Something not yet delivered: what makes a device advertise after measuring."""
        return self._news

    # --- clock and battery ------------------------------------------------------------------

    def _add_clock_and_battery(self) -> None:
        if self.behaviour.clock == "current_time":
            self.characteristic(
                CURRENT_TIME,
                ["read", "write", "notify"],
                service=CURRENT_TIME_SERVICE,
                on_read=lambda: encode_current_time(self.clock.now()),
                on_write=self._write_current_time,
            )
        elif self.behaviour.clock == "date_time":
            # A&D puts Date Time inside the profile's own service.
            self.characteristic(DATE_TIME, ["write"], on_write=self._write_date_time)
        if self.behaviour.battery_level is not None:
            level = self.behaviour.battery_level
            self.characteristic(
                BATTERY_LEVEL,
                ["read"],
                service=BATTERY_SERVICE,
                on_read=lambda: encode_battery_level(level),
            )

    def _write_current_time(self, value: bytes) -> None:
        try:
            stamp = parse_current_time(value).timestamp
        except ParseError as exc:
            raise DBusError("org.bluez.Error.InvalidValueLength", str(exc)) from None
        if stamp is not None:
            self.clock.set(stamp)

    def _write_date_time(self, value: bytes) -> None:
        try:
            stamp = parse_date_time(value)
        except ParseError as exc:
            raise DBusError("org.bluez.Error.InvalidValueLength", str(exc)) from None
        if stamp is not None:
            self.clock.set(stamp)

    # --- bonding ----------------------------------------------------------------------------

    async def _require_bond(self) -> None:
        if not await self._bonded():
            raise DBusError("org.bluez.Error.NotPermitted", "Insufficient Authentication")

    async def _links(self) -> dict[str, dict[str, Variant]]:
        """The centrals' views of this device (``/org/bluez/hciX/dev_<our address>``).

        BlueZoo 1.0.2 does not keep the peripheral's own view of a link up to date once the
        central removes and re-discovers the device, so the bond is read from the central's
        side of the link, which is what link encryption would prove over the air.
        """
        assert self._bus is not None
        reply = await self._bus.call(
            Message(
                destination=BLUEZ,
                path="/",
                interface="org.freedesktop.DBus.ObjectManager",
                member="GetManagedObjects",
            )
        )
        if reply is None or reply.message_type == MessageType.ERROR:
            return {}
        mine = f"/dev_{self.address.replace(':', '_')}"
        return {
            path: interfaces["org.bluez.Device1"]
            for path, interfaces in reply.body[0].items()
            if path.endswith(mine) and "org.bluez.Device1" in interfaces
        }

    async def _bonded(self) -> bool:
        links = await self._links()
        return any(
            props["Connected"].value and props["Paired"].value and path not in self._forgotten
            for path, props in links.items()
        )

    async def forget_bonds(self) -> None:
        """Lose every bond, as a cuff does after a reset or an LTK rotation (Omron HEM-7380T1):
        the bond a hub holds goes stale until the hub removes it and pairs again."""
        self._forgotten.update(
            path for path, props in (await self._links()).items() if props["Paired"].value
        )

    # --- transfer ---------------------------------------------------------------------------

    async def send_records(self, channel: GattCharacteristic) -> None:
        """Send what is stored, as the behaviour says; called once a hub has subscribed."""
        b = self.behaviour
        if b.garbage_first and channel.notifying:
            await channel.send(GARBAGE)
        records = list(self.pending)
        for record in records:
            if not channel.notifying or (
                b.drop_after is not None and self._sent_this_connection >= b.drop_after
            ):
                return  # a dropped link: the rest waits for the next connection
            if b.send_interval_s:
                await asyncio.sleep(b.send_interval_s)
            self.sent_at.append(time.time())
            if await channel.send(record):
                self._sent_this_connection += 1
                self.delivered.append(record)
                if not b.keeps_records:
                    self.pending.popleft()
        self._news = False

    async def _transfer_loop(self) -> None:
        channel = self.record_channel
        while True:
            await channel.subscribed.wait()
            self.connections += 1
            self._sent_this_connection = 0
            await self.send_records(channel)
            # Wait for the next subscription (a new connection) or a new measurement.
            while channel.notifying:
                self._wake.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), 0.5)
                if self._wake.is_set() and channel.notifying:
                    await self.send_records(channel)

    async def _advertise_loop(self) -> None:
        # Like a real device, keep advertising fresh data while a measurement waits for a hub:
        # a scanner that missed one advertisement sees the next.
        assert self.peripheral.advertisement is not None
        while True:
            if (self.has_news or self.pairing_mode) and not self._centrals:
                self.peripheral.advertisement.announce_news()
            await asyncio.sleep(1.0)

    def _on_signal(self, msg: Message) -> None:
        if msg.member == "InterfacesRemoved":
            # A hub dropped the bond this device had forgotten: it may pair afresh.
            self._forgotten.discard(msg.body[0])
            return
        path = msg.path or ""
        if msg.member != "PropertiesChanged" or not path.startswith(
            f"/org/bluez/{self.adapter}/dev_"
        ):
            return
        interface, changed = msg.body[0], msg.body[1]
        connected = changed.get("Connected") if interface == "org.bluez.Device1" else None
        if connected is None:
            return
        if connected.value:
            self._centrals.add(path)
            self.pairing_mode = False
            return
        # A central that went away leaves no subscription behind, as on a real link.
        self._centrals.discard(path)
        for chars in self.peripheral.services.values():
            for char in chars:
                char.reset()
