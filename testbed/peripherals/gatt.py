"""A GATT peripheral served through BlueZ's D-Bus API (GattManager1, LEAdvertisingManager1).

The same objects work against real BlueZ (a second adapter on a bench) and against BlueZoo in
tests and the demo. No `from __future__ import annotations`: dbus-fast reads the D-Bus
signatures from the annotations at runtime.
"""

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field

from dbus_fast import BusType, DBusError, Message, MessageType, Variant
from dbus_fast.aio import MessageBus
from dbus_fast.annotations import DBusBool, DBusBytes, DBusDict, DBusObjectPath, DBusStr
from dbus_fast.constants import PropertyAccess
from dbus_fast.service import ServiceInterface, dbus_property, method

log = logging.getLogger(__name__)

BLUEZ = "org.bluez"


class Advertisement(ServiceInterface):
    """org.bluez.LEAdvertisement1: a connectable advertisement naming our primary services."""

    def __init__(self, local_name: str, service_uuids: Sequence[str]) -> None:
        super().__init__("org.bluez.LEAdvertisement1")
        self._local_name = local_name
        self._service_uuids = list(service_uuids)
        self._news = 0

    def announce_news(self) -> None:
        """Change the advertising data, as devices do when they hold a new measurement.

        Scanners report a device again only when its advertisement changes.
        """
        self._news = (self._news + 1) % 0x10000
        self.emit_properties_changed({"ServiceData": self.ServiceData})

    @method()
    def Release(self) -> None:
        log.info("advertisement released by BlueZ")

    @dbus_property(access=PropertyAccess.READ)
    def Type(self) -> DBusStr:
        return "peripheral"

    @dbus_property(access=PropertyAccess.READ)
    def ServiceUUIDs(self) -> "as":  # type: ignore[valid-type]  # noqa: F722
        return self._service_uuids

    # Service data under our primary service: a counter that changes with each new measurement.
    @dbus_property(access=PropertyAccess.READ)
    def ServiceData(self) -> "a{sv}":  # type: ignore[valid-type]  # noqa: F722
        return {self._service_uuids[0]: Variant("ay", self._news.to_bytes(2, "little"))}

    @dbus_property(access=PropertyAccess.READ)
    def LocalName(self) -> DBusStr:
        return self._local_name

    # BlueZoo reports an LE advertisement only when it (or its adapter) is discoverable.
    @dbus_property(access=PropertyAccess.READ)
    def Discoverable(self) -> DBusBool:
        return True


class GattService(ServiceInterface):
    def __init__(self, uuid: str) -> None:
        super().__init__("org.bluez.GattService1")
        self._uuid = uuid

    @dbus_property(access=PropertyAccess.READ)
    def UUID(self) -> DBusStr:
        return self._uuid

    @dbus_property(access=PropertyAccess.READ)
    def Primary(self) -> DBusBool:
        return True


ReadHandler = Callable[[], bytes]
WriteHandler = Callable[[bytes], None]
# Runs before every read, write and subscription; raises DBusError to refuse (e.g. "bond first").
Guard = Callable[[], Awaitable[None]]


class GattCharacteristic(ServiceInterface):
    """org.bluez.GattCharacteristic1 with read, notify and indicate (confirmed) support."""

    def __init__(
        self,
        uuid: str,
        service_path: str,
        flags: Sequence[str],
        on_read: ReadHandler | None = None,
        on_write: WriteHandler | None = None,
        guard: Guard | None = None,
    ) -> None:
        super().__init__("org.bluez.GattCharacteristic1")
        self._guard = guard
        self._uuid = uuid
        self._service_path = service_path
        self._flags = list(flags)
        self._on_read = on_read
        self._on_write = on_write
        self._value = b""
        # Must start false: the central's StartNotify is what turns it on.
        self._notifying = False
        self._confirmed = asyncio.Event()
        self.subscribed = asyncio.Event()

    @property
    def notifying(self) -> bool:
        return self._notifying

    async def _check(self) -> None:
        if self._guard is not None:
            await self._guard()

    @method()
    async def ReadValue(self, options: DBusDict) -> DBusBytes:
        if self._on_read is None:
            raise DBusError("org.bluez.Error.NotPermitted", "read not permitted")
        await self._check()
        return self._on_read()

    @method()
    async def WriteValue(self, value: DBusBytes, options: DBusDict) -> None:
        if self._on_write is None:
            raise DBusError("org.bluez.Error.NotPermitted", "write not permitted")
        await self._check()
        self._on_write(bytes(value))

    @method()
    async def StartNotify(self) -> None:
        await self._check()
        self._set_notifying(True)

    @method()
    def StopNotify(self) -> None:
        self._set_notifying(False)

    @method()
    def Confirm(self) -> None:
        self._confirmed.set()

    @dbus_property(access=PropertyAccess.READ)
    def UUID(self) -> DBusStr:
        return self._uuid

    @dbus_property(access=PropertyAccess.READ)
    def Service(self) -> DBusObjectPath:
        return self._service_path

    @dbus_property(access=PropertyAccess.READ)
    def Flags(self) -> "as":  # type: ignore[valid-type]  # noqa: F722
        return self._flags

    @dbus_property(access=PropertyAccess.READ)
    def Value(self) -> DBusBytes:
        return self._value

    @dbus_property(access=PropertyAccess.READ)
    def Notifying(self) -> DBusBool:
        return self._notifying

    def _set_notifying(self, on: bool) -> None:
        log.info("%s notifications %s", self._uuid, "on" if on else "off")
        if on == self._notifying:
            return
        self._notifying = on
        self.emit_properties_changed({"Notifying": on})
        if on:
            self.subscribed.set()
        else:
            self.subscribed.clear()

    def reset(self) -> None:
        """Forget the subscription, as a peripheral does when its link drops."""
        self._set_notifying(False)

    async def send(self, value: bytes, confirm_timeout: float = 5.0) -> bool:
        """Notify or indicate `value`. For indications, wait for the central's confirmation.

        Returns False when nobody is subscribed or an indication was not confirmed in time.
        """
        if not self._notifying:
            return False
        self._confirmed.clear()
        self._value = value
        self.emit_properties_changed({"Value": value})
        if "indicate" not in self._flags:
            return True
        try:
            await asyncio.wait_for(self._confirmed.wait(), confirm_timeout)
        except TimeoutError:
            log.warning("indication of %s not confirmed within %.1f s", self._uuid, confirm_timeout)
            return False
        return True


@dataclass
class Peripheral:
    """One emulated device: a GATT application (one or more services) plus its advertisement.

    The first service added is the one advertised, as health devices do.
    """

    name: str
    adapter: str
    base_path: str
    services: dict[str, list[GattCharacteristic]] = field(default_factory=dict)
    _bus: MessageBus | None = None
    advertisement: Advertisement | None = None

    def add_service(self, uuid: str) -> None:
        self.services.setdefault(uuid, [])
        if self.advertisement is None:
            self.advertisement = Advertisement(self.name, [uuid])

    def _service_path(self, index: int) -> str:
        return f"{self.base_path}/service{index}"

    def add_characteristic(
        self,
        service_uuid: str,
        uuid: str,
        flags: Sequence[str],
        on_read: ReadHandler | None = None,
        on_write: WriteHandler | None = None,
        guard: Guard | None = None,
    ) -> GattCharacteristic:
        self.add_service(service_uuid)
        index = list(self.services).index(service_uuid)
        char = GattCharacteristic(uuid, self._service_path(index), flags, on_read, on_write, guard)
        self.services[service_uuid].append(char)
        return char

    async def start(self, bus: MessageBus | None = None) -> None:
        """Export the objects and register them with the adapter's managers."""
        assert self.advertisement is not None, "add a service first"
        self._bus = bus or await MessageBus(bus_type=BusType.SYSTEM).connect()
        for index, (uuid, chars) in enumerate(self.services.items()):
            path = self._service_path(index)
            self._bus.export(path, GattService(uuid))
            for number, char in enumerate(chars):
                self._bus.export(f"{path}/char{number}", char)
        self._bus.export(f"{self.base_path}/adv0", self.advertisement)
        adapter_path = f"/org/bluez/{self.adapter}"
        await self._call(
            adapter_path, "org.bluez.GattManager1", "RegisterApplication", self.base_path
        )
        await self._call(
            adapter_path,
            "org.bluez.LEAdvertisingManager1",
            "RegisterAdvertisement",
            f"{self.base_path}/adv0",
        )
        log.info("%s advertising %s on %s", self.name, next(iter(self.services)), self.adapter)

    async def stop(self) -> None:
        if self._bus is not None:
            self._bus.disconnect()
            self._bus = None

    async def _call(self, path: str, interface: str, member: str, target: str) -> None:
        assert self._bus is not None
        reply = await self._bus.call(
            Message(
                destination=BLUEZ,
                path=path,
                interface=interface,
                member=member,
                signature="oa{sv}",
                body=[target, {}],
            )
        )
        if reply is None or reply.message_type == MessageType.ERROR:
            detail = reply.body if reply is not None else "no reply"
            raise RuntimeError(f"{interface}.{member} on {path} failed: {detail}")
