"""The driver interface: what a device driver may do during one connection, and what it gets.

A driver (``Driver``) runs one session with a connected device through a ``GattLink``: read,
write, subscribe, pair. Every value it wants stored goes through ``SessionContext.emit``, which
stamps it with the hub's receive time and what the hub knows of the device clock; the daemon
does the rest (decode, assess, store). Drivers for the SIG profiles are in
``hub.devices.ble.drivers``; a vendor protocol gets a driver of its own (docs/devices.md).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Protocol, TypeVar
from zoneinfo import ZoneInfo

from bleak import BleakClient
from bleak.backends.characteristic import BleakGATTCharacteristic
from bleak.exc import BleakDBusError, BleakError

from hub.core.reading import now_utc
from hub.core.timing import ClockCheck
from hub.devices.events import DeviceProgress, DeviceValue
from hub.devices.quirks import Quirks

log = logging.getLogger(__name__)
T = TypeVar("T")


class GattLink(Protocol):
    """A connected device as a driver sees it; UUIDs are full 128-bit lower-case strings."""

    address: str

    def has(self, uuid: str) -> bool: ...

    def can(self, uuid: str, prop: str) -> bool: ...

    async def read(self, uuid: str) -> bytes: ...

    async def write(self, uuid: str, data: bytes) -> None: ...

    async def subscribe(self, uuid: str, on_value: Callable[[bytes], None]) -> None: ...

    async def pair(self) -> None: ...


class Driver(Protocol):
    """Runs one connection. Return when the device has nothing more to send."""

    async def run(self, link: GattLink, ctx: SessionContext) -> None: ...


class SessionContext:
    """Per-connection state a driver shares with the hub."""

    def __init__(
        self,
        address: str,
        quirks: Quirks,
        zone: ZoneInfo,
        *,
        hub_clock_synced: bool,
        emit: Callable[[DeviceValue], None],
        progress: Callable[[DeviceProgress], None] = lambda _: None,
        last_record_number: int | None,
        quiet_s: float,
        max_s: float,
        disconnected: asyncio.Event,
    ) -> None:
        self.address = address
        self.quirks = quirks
        self.zone = zone
        self.hub_clock_synced = hub_clock_synced
        self.last_record_number = last_record_number
        self.clock = ClockCheck()
        self.battery_level: int | None = None
        self._emit = emit
        self._progress = progress
        self._quiet_s = quiet_s
        self._max_s = max_s
        self._disconnected = disconnected
        self._activity = asyncio.Event()
        loop = asyncio.get_running_loop()
        self.started = loop.time()
        self._deadline = self.started + max_s

    def hub_local_now(self) -> datetime:
        """Wall-clock time in the home, without zone, as device clocks keep it."""
        return datetime.now(self.zone).replace(tzinfo=None)

    def emit(self, characteristic: str, data: bytes) -> None:
        """Hand a value to the daemon to be stored (decoded, assessed and timed there)."""
        self._activity.set()
        self._emit(
            DeviceValue(
                self.address,
                characteristic,
                bytes(data),
                now_utc(),
                self.clock,
                self.hub_clock_synced,
            )
        )

    def receiver(self, characteristic: str) -> Callable[[bytes], None]:
        return lambda data: self.emit(characteristic, data)

    def show_progress(self, characteristic: str, data: bytes) -> None:
        """Hand an in-progress value to the daemon for the patient's screen; never stored."""
        self._activity.set()  # a cuff inflating is not a quiet link
        self._progress(DeviceProgress(self.address, characteristic, bytes(data), now_utc()))

    def progress_receiver(self, characteristic: str) -> Callable[[bytes], None]:
        return lambda data: self.show_progress(characteristic, data)

    def touch(self) -> None:
        """Something arrived that is not stored (a control point answer): not quiet yet."""
        self._activity.set()

    @property
    def disconnected(self) -> bool:
        return self._disconnected.is_set()

    async def until_disconnected(self) -> None:
        await self._disconnected.wait()

    async def until_quiet(self) -> None:
        """Wait until the device drops the link, sends nothing for quiet_s, or max_s is up.

        Devices send stored records right after subscription; a quiet link is freed so the
        device can sleep (and another hub or the patient's phone can connect).
        """
        loop = asyncio.get_running_loop()
        while not self._disconnected.is_set():
            self._activity.clear()
            remaining = self._deadline - loop.time()
            if remaining <= 0:
                log.info("session with %s reached %.0f s; ending it", self.address, self._max_s)
                return
            waits = [
                asyncio.ensure_future(self._disconnected.wait()),
                asyncio.ensure_future(self._activity.wait()),
            ]
            done, pending = await asyncio.wait(
                waits, timeout=min(self._quiet_s, remaining), return_when=asyncio.FIRST_COMPLETED
            )
            for fut in pending:
                fut.cancel()
            if not done:
                return

    def remaining_s(self) -> float:
        return max(0.0, self._deadline - asyncio.get_running_loop().time())


# D-Bus errors (and ATT codes in BlueZ messages) that mean "bond first".
_NEEDS_BOND_ERRORS = frozenset(
    {
        "org.bluez.Error.NotPermitted",
        "org.bluez.Error.NotAuthorized",
        "org.bluez.Error.AuthenticationFailed",
    }
)
_NEEDS_BOND_WORDS = ("authentication", "encryption", "0x05", "0x0f", "0x08")


class StaleBond(BleakError):
    """The device refused the hub's bond; it was removed so the next session pairs again."""


def needs_bond(exc: BleakError) -> bool:
    text = str(exc).lower()
    if isinstance(exc, BleakDBusError) and exc.dbus_error in _NEEDS_BOND_ERRORS:
        return True
    return any(word in text for word in _NEEDS_BOND_WORDS)


class BleakLink:
    """GattLink over a connected BleakClient. Bonds and retries once when the device asks."""

    def __init__(self, client: BleakClient, address: str) -> None:
        self.client = client
        self.address = address
        self.paired_now = False

    def _char(self, uuid: str) -> BleakGATTCharacteristic | None:
        return self.client.services.get_characteristic(uuid)

    def has(self, uuid: str) -> bool:
        return self._char(uuid) is not None

    def can(self, uuid: str, prop: str) -> bool:
        char = self._char(uuid)
        return char is not None and prop in char.properties

    async def pair(self) -> None:
        log.info("bonding with %s", self.address)
        await self.client.pair()
        self.paired_now = True

    async def _bonded(self, what: str, op: Callable[[], Awaitable[T]]) -> T:
        try:
            return await op()
        except BleakError as exc:
            if not needs_bond(exc):
                raise
            # Already bonded on this link (bond_before_discovery) yet refused: the retry below
            # fails too and the stale bond is removed, or such a device is never read again.
            if not self.paired_now:
                log.info("%s refused %s without a bond (%s); bonding", self.address, what, exc)
                await self.pair()
        try:
            return await op()
        except BleakError as exc:
            if not needs_bond(exc):
                raise
            # BlueZ holds a bond the device no longer has (it was reset, or rotates its keys):
            # remove ours so the next connection pairs afresh (hass-omron issue 20, PR 83).
            log.warning("%s refuses our bond (%s); removing it to pair again", self.address, exc)
            await self.client.unpair()
            raise StaleBond(
                f"{self.address} had forgotten its bond; it is paired again on the next connection"
            ) from exc

    async def read(self, uuid: str) -> bytes:
        data = await self._bonded(f"reading {uuid}", lambda: self.client.read_gatt_char(uuid))
        return bytes(data)

    async def write(self, uuid: str, data: bytes) -> None:
        await self._bonded(
            f"writing {uuid}", lambda: self.client.write_gatt_char(uuid, data, response=True)
        )

    async def subscribe(self, uuid: str, on_value: Callable[[bytes], None]) -> None:
        def receive(_: object, data: bytearray) -> None:
            on_value(bytes(data))

        await self._bonded(
            f"subscribing to {uuid}", lambda: self.client.start_notify(uuid, receive)
        )
