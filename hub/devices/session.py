"""Device sessions over bleak: find a known health device, subscribe, hand every value on.

The shell around the pure parsers. Runs unchanged on real BlueZ and on BlueZoo.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass

from bleak import BleakClient, BleakScanner
from bleak.backends.device import BLEDevice
from bleak.backends.scanner import AdvertisementData
from bleak.exc import BleakError

from hub.config import BluetoothSettings
from hub.devices.profiles import PROFILES, Profile
from hub.store import now_utc

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Indication:
    """One value exactly as a device sent it, with the hub's receive time."""

    device_address: str
    characteristic: str
    data: bytes
    received_at: str


OnValue = Callable[[Indication], None]


def _profile_for(adv: AdvertisementData) -> Profile | None:
    uuids = {u.lower() for u in adv.service_uuids}
    return next((p for p in PROFILES if p.service_uuid in uuids), None)


class DeviceWatcher:
    """Scan, connect when a known device advertises, receive, disconnect; forever."""

    def __init__(self, settings: BluetoothSettings, on_value: OnValue) -> None:
        self.settings = settings
        self.on_value = on_value
        self._backoff = 1.0
        self._activity = asyncio.Event()

    async def run(self) -> None:
        while True:
            found = await self._scan()
            if found is None:
                continue
            device, profile = found
            try:
                await self._session(device, profile)
                self._backoff = 1.0
            except (BleakError, TimeoutError, OSError) as exc:
                log.warning("session with %s (%s) failed: %s; retrying in %.0f s",
                            device.address, profile.name, exc, self._backoff)
                await asyncio.sleep(self._backoff)
                self._backoff = min(self._backoff * 2, 30.0)

    async def _scan(self) -> tuple[BLEDevice, Profile] | None:
        found: dict[str, Profile] = {}

        def wanted(_: BLEDevice, adv: AdvertisementData) -> bool:
            profile = _profile_for(adv)
            if profile is not None:
                found["profile"] = profile
            return profile is not None

        try:
            device = await BleakScanner.find_device_by_filter(
                wanted, timeout=self.settings.scan_window_s,
                bluez={"adapter": self.settings.adapter},
            )
        except (BleakError, OSError) as exc:
            log.warning("scan on %s failed: %s", self.settings.adapter, exc)
            await asyncio.sleep(self._backoff)
            return None
        return (device, found["profile"]) if device is not None else None

    async def _session(self, device: BLEDevice, profile: Profile) -> None:
        disconnected = asyncio.Event()
        self._activity = asyncio.Event()
        # A fresh client per connection: bleak clients are not reusable across links.
        client = BleakClient(
            device,
            disconnected_callback=lambda _: disconnected.set(),
            timeout=self.settings.connect_timeout_s,
            bluez={"adapter": self.settings.adapter},
        )
        log.info("connecting to %s %s", profile.name, device.address)
        try:
            await client.connect()
            for uuid in profile.subscribe:
                await client.start_notify(uuid, self._receiver(device.address, uuid))
            await self._until_done(disconnected)
        finally:
            await client.disconnect()
        log.info("session with %s ended", device.address)

    async def _until_done(self, disconnected: asyncio.Event) -> None:
        """Wait until the device drops the link, goes quiet, or the session runs too long.

        Devices that hold stored records send them right after subscription; a quiet link is
        one the hub should free so the device can sleep (and other hubs or phones can connect).
        """
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.settings.max_session_s
        while not disconnected.is_set():
            self._activity.clear()
            remaining = deadline - loop.time()
            if remaining <= 0:
                log.info("session reached %.0f s; disconnecting", self.settings.max_session_s)
                return
            quiet = min(self.settings.quiet_disconnect_s, remaining)
            done, _ = await asyncio.wait(
                [asyncio.ensure_future(disconnected.wait()),
                 asyncio.ensure_future(self._activity.wait())],
                timeout=quiet, return_when=asyncio.FIRST_COMPLETED)
            for fut in _:
                fut.cancel()
            if not done:
                return

    def _receiver(self, address: str, uuid: str) -> Callable[[object, bytearray], None]:
        def receive(_: object, data: bytearray) -> None:
            self._activity.set()
            self.on_value(Indication(address, uuid, bytes(data), now_utc()))

        return receive
