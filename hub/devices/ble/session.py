"""Device sessions over bleak: pair a technician's device, then connect to it whenever it
advertises, run its driver, always disconnect.

The imperative shell around the drivers. Runs unchanged on real BlueZ and on BlueZoo. Only
devices paired with this hub are ever connected: a neighbour's cuff is not our patient's.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Protocol
from zoneinfo import ZoneInfo

from bleak import BleakClient, BleakScanner
from bleak.backends.device import BLEDevice
from bleak.backends.scanner import AdvertisementData
from bleak.exc import BleakError
from dbus_fast import BusType
from dbus_fast.aio import MessageBus

from hub.clock import ClockSource, hub_clock_synchronised
from hub.core.reading import KnownDevice, now_utc
from hub.devices.ble.agent import (
    JUST_WORKS,
    PASSKEY_ENTRY,
    AgentError,
    AgentRegistration,
    PairingAgent,
    drop_link,
    remove_bond,
)
from hub.devices.ble.driver import BleakLink, SessionContext
from hub.devices.ble.drivers import DRIVERS, set_clock
from hub.devices.events import DeviceProgress, DeviceValue, SessionEnded, SessionStarted
from hub.devices.profiles import BY_NAME, Profile, profile_for_services
from hub.devices.quirks import model_for, quirks_for
from hub.errors import HubError

log = logging.getLogger(__name__)

DeviceEvent = DeviceValue | DeviceProgress | SessionStarted | SessionEnded
OnEvent = Callable[[DeviceEvent], None]
_TRANSIENT = (BleakError, TimeoutError, OSError, EOFError)
GATHER_S = 0.5  # after the first paired device is seen, listen this long for others


class PairingError(HubError, RuntimeError):
    """Pairing did not complete; the message says what the technician can do."""


@dataclass(frozen=True)
class Sighting:
    device: BLEDevice
    name: str | None
    profile: Profile


class WatcherSettings(Protocol):
    """What the watcher needs of the hub's [bluetooth] settings (hub/config.py)."""

    @property
    def adapter(self) -> str: ...
    @property
    def scan_window_s(self) -> float: ...
    @property
    def connect_timeout_s(self) -> float: ...
    @property
    def max_session_s(self) -> float: ...
    @property
    def quiet_disconnect_s(self) -> float: ...
    @property
    def max_connections(self) -> int: ...
    @property
    def continuous_window_s(self) -> float | None: ...


class DeviceWatcher:
    """Scan for this hub's devices, run a session with each one that advertises; forever.

    The radio lock serialises scanning with pairing and forgetting; sessions run beside scans,
    as tasks of the daemon's task group (a session that fails stops the daemon).
    """

    def __init__(
        self,
        settings: WatcherSettings,
        zone: ZoneInfo,
        clock_source: ClockSource,
        known: Callable[[], dict[str, KnownDevice]],
        last_record_number: Callable[[str, str], int | None],
        on_event: OnEvent,
    ) -> None:
        self.settings = settings
        self.zone = zone
        self.clock_source = clock_source
        self.known = known
        self.last_record_number = last_record_number
        self.on_event = on_event
        self.agent = PairingAgent(lambda address: address in self.known())
        self._registration: AgentRegistration | None = None
        self._backoff: dict[str, float] = {}  # address -> next retry delay after a failure
        self._sessions: dict[str, asyncio.Task[None]] = {}  # address -> its running session
        self._session_ended = asyncio.Event()
        self._radio = asyncio.Lock()  # one scan or connection at a time on the adapter
        self._last_served: dict[str, float] = {}  # address -> loop time its last session ended
        self._pairing_wanted = asyncio.Event()  # a technician pairs: scans for sessions stop
        self._not_pairing = asyncio.Event()
        self._not_pairing.set()

    async def start_agent(self) -> None:
        bus = await MessageBus(bus_type=BusType.SYSTEM).connect()
        self._registration = AgentRegistration(bus, self.agent)
        await self._registration.register(JUST_WORKS)
        for address in self.known():
            try:
                if await drop_link(bus, self.settings.adapter, address):
                    log.info(
                        "%s was still connected from before this start: disconnected it "
                        "so that it advertises again",
                        address,
                    )
            except AgentError as exc:
                log.warning("could not disconnect %s left over from before: %s", address, exc)

    async def run(self, sessions: asyncio.TaskGroup) -> None:
        """Keep scanning; give every paired device that advertises a session of its own, a
        task in `sessions` (the daemon's task group: one that dies of something unexpected
        stops the daemon, and systemd restarts it whole).

        Sessions run side by side (up to ``bluetooth.max_connections``): a cuff whose radio is
        on for seconds after a measurement must not wait for a 30 s oximeter stream.
        """
        while True:
            await self._not_pairing.wait()  # the technician's pairing has the radio
            if len(self._sessions) >= self.settings.max_connections:
                self._session_ended.clear()
                await self._session_ended.wait()
                continue
            async with self._radio:
                sightings = await self._scan_for_known()
            free = self.settings.max_connections - len(self._sessions)
            for sighting in sightings[:free]:
                address = sighting.device.address.upper()
                task = sessions.create_task(
                    self._session_with_retry(sighting), name=f"session with {address}"
                )
                self._sessions[address] = task
                task.add_done_callback(functools.partial(self._ended, address))

    def _ended(self, address: str, _task: asyncio.Task[None]) -> None:
        self._sessions.pop(address, None)
        self._session_ended.set()

    async def _session_with_retry(self, sighting: Sighting) -> None:
        address = sighting.device.address.upper()
        try:
            await self._session(sighting)
            self._backoff.pop(address, None)
        except _TRANSIENT as exc:
            delay = self._backoff.get(address, 1.0)
            log.warning(
                "session with %s (%s) failed: %s; retrying in %.0f s",
                address,
                sighting.profile.title,
                exc,
                delay,
            )
            self._backoff[address] = min(delay * 2, 30.0)
            await asyncio.sleep(delay)  # the device stays busy: no new session before then

    async def _scan(
        self,
        wanted: Callable[[BLEDevice, AdvertisementData], Profile | None],
        window_s: float,  # how long to listen: an empty list after it is an answer, no error
        *,
        interruptible: bool = True,
        gather_s: float = 0.0,
    ) -> list[Sighting]:
        """Scan until ``wanted`` names a profile, then ``gather_s`` longer for others that
        advertise at the same moment. A technician's pairing request interrupts."""
        found: dict[str, Sighting] = {}
        first = asyncio.Event()

        def seen(device: BLEDevice, adv: AdvertisementData) -> None:
            profile = wanted(device, adv)
            if profile is not None:
                found[device.address.upper()] = Sighting(
                    device, adv.local_name or device.name, profile
                )
                first.set()

        waits = [first.wait()] + ([self._pairing_wanted.wait()] if interruptible else [])
        futures = [asyncio.ensure_future(w) for w in waits]
        try:
            async with BleakScanner(
                detection_callback=seen, bluez={"adapter": self.settings.adapter}
            ):
                await asyncio.wait(futures, timeout=window_s, return_when=asyncio.FIRST_COMPLETED)
                if interruptible and self._pairing_wanted.is_set():
                    return []
                if found and gather_s:
                    await asyncio.sleep(gather_s)
        except (BleakError, OSError) as exc:
            log.warning("scan on %s failed: %s", self.settings.adapter, exc)
            await asyncio.sleep(1.0)
            return []
        finally:
            for future in futures:
                future.cancel()
        return list(found.values())

    async def _scan_for_known(self) -> list[Sighting]:
        """Paired devices advertising now that have no session; least recently served first,
        so that one that always advertises first cannot starve the others."""
        known = self.known()

        def wanted(device: BLEDevice, _: AdvertisementData) -> Profile | None:
            address = device.address.upper()
            paired = known.get(address)
            if paired is None or address in self._sessions:
                return None
            return BY_NAME.get(paired.profile)

        if not known:
            await asyncio.sleep(min(self.settings.scan_window_s, 2.0))
            return []
        sightings = await self._scan(wanted, self.settings.scan_window_s, gather_s=GATHER_S)
        return sorted(sightings, key=lambda s: self._last_served.get(s.device.address.upper(), 0.0))

    def _client(self, device: BLEDevice, disconnected: asyncio.Event) -> BleakClient:
        # A fresh client per connection: bleak clients are not reusable across links.
        return BleakClient(
            device,
            disconnected_callback=lambda _: disconnected.set(),
            timeout=self.settings.connect_timeout_s,
            bluez={"adapter": self.settings.adapter},
        )

    def _context(self, sighting: Sighting, disconnected: asyncio.Event) -> SessionContext:
        address = sighting.device.address.upper()
        kind = next(iter(sighting.profile.kinds.values()))
        quirks = quirks_for(sighting.name)
        if self.settings.continuous_window_s is not None:
            quirks = replace(quirks, continuous_window_s=self.settings.continuous_window_s)
        return SessionContext(
            address,
            quirks,
            self.zone,
            hub_clock_synced=hub_clock_synchronised(self.clock_source),
            emit=self.on_event,
            progress=self.on_event,
            last_record_number=self.last_record_number(address, kind),
            quiet_s=self.settings.quiet_disconnect_s,
            max_s=self.settings.max_session_s,
            disconnected=disconnected,
        )

    async def _session(self, sighting: Sighting) -> None:
        device = sighting.device
        disconnected = asyncio.Event()
        client = self._client(device, disconnected)
        log.info("connecting to %s %s (%s)", sighting.profile.title, device.address, sighting.name)
        await client.connect()
        ctx = self._context(sighting, disconnected)
        try:
            self.on_event(SessionStarted(ctx.address, sighting.profile.name, now_utc()))
            link = BleakLink(client, ctx.address)
            if ctx.quirks.bond_before_discovery:
                await link.pair()
            await DRIVERS[sighting.profile.name].run(link, ctx)
        finally:
            with contextlib.suppress(*_TRANSIENT):
                await client.disconnect()
            self._last_served[ctx.address] = asyncio.get_running_loop().time()
            self.on_event(
                SessionEnded(ctx.address, now_utc(), ctx.clock.clock_written, ctx.battery_level)
            )
        log.info("session with %s ended", device.address)

    async def pair(self, address: str | None, passkey: int | None, search_s: float) -> KnownDevice:
        """Find a device in pairing mode (``address``, or the first health device that is not
        ours yet) within ``search_s`` (a scan window, not a deadline: bonding then takes what
        it takes), bond with it and set its clock. The caller stores the result. One pairing at
        a time: another is refused at once, not queued (a queue of them would hold the radio,
        and so every measurement, for as long as they all search)."""
        if self._pairing_wanted.is_set():
            raise PairingError(
                "another device is being paired now; try again when that pairing is done"
            )
        self._pairing_wanted.set()
        self._not_pairing.clear()
        try:
            async with self._radio:
                return await self._pair(address.upper() if address else None, passkey, search_s)
        finally:
            self._pairing_wanted.clear()
            self._not_pairing.set()

    async def _pair(self, address: str | None, passkey: int | None, search_s: float) -> KnownDevice:
        known = self.known()

        def wanted(device: BLEDevice, adv: AdvertisementData) -> Profile | None:
            if address is not None and device.address.upper() != address:
                return None
            if address is None and device.address.upper() in known:
                return None
            return profile_for_services(set(adv.service_uuids))

        sightings = await self._scan(wanted, search_s, interruptible=False)
        sighting = sightings[0] if sightings else None
        if sighting is None:
            raise PairingError(
                f"no {'device ' + address if address else 'new health device'} advertised "
                f"within {search_s:.0f} s: put it in pairing mode (see its manual) and try again"
            )
        found = sighting.device.address.upper()
        registration = self._registration
        if registration is None:
            raise PairingError("the pairing agent is not registered with BlueZ")
        self.agent.expect(found, passkey)
        try:
            if passkey is not None:
                await registration.register(PASSKEY_ENTRY)
            clock_written = await self._bond(sighting)
        except (*_TRANSIENT, AgentError) as exc:
            raise PairingError(f"pairing with {found} failed: {exc}") from exc
        finally:
            self.agent.done(found)
            if passkey is not None:
                with contextlib.suppress(AgentError):
                    await registration.register(JUST_WORKS)
        model = model_for(sighting.name)
        log.info("paired %s %s (%s)", sighting.profile.title, found, model or sighting.name)
        at = now_utc()
        # `hub pair` tells the technician whether the clock was set: say so only if it was.
        clock_set_at = at if clock_written else None
        return KnownDevice(
            found,
            sighting.profile.name,
            sighting.name,
            at,
            bonded=True,
            clock_set_at=clock_set_at,
        )

    async def _bond(self, sighting: Sighting) -> bool:
        """Bond, and set the device's clock on the same connection; True if it was written."""
        disconnected = asyncio.Event()
        client = self._client(sighting.device, disconnected)
        await client.connect()
        ctx = self._context(sighting, disconnected)
        try:
            await BleakLink(client, ctx.address).pair()
            # A&D sets the clock on the pairing connection; so does everyone else here.
            return await set_clock(BleakLink(client, ctx.address), ctx)
        finally:
            with contextlib.suppress(*_TRANSIENT):
                await client.disconnect()

    async def forget(self, address: str) -> None:
        """Remove BlueZ's bond so the device can be given to the next patient."""
        if self._registration is None:
            return
        async with self._radio:
            try:
                await remove_bond(self._registration.bus, self.settings.adapter, address)
            except AgentError as exc:
                log.info("no bond to remove for %s: %s", address, exc)
