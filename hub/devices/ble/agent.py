"""The hub's own BlueZ pairing agent (org.bluez.Agent1), so pairing works headless.

Without a registered agent BlueZ answers a device's pairing request with AuthenticationFailed
(bleak issues 1434, 1380; hass-omron PR 73). The hub registers one at start-up:

- Just Works (capability NoInputNoOutput) for cuffs, scales and oximeters;
- passkey entry (capability KeyboardDisplay) only while a technician pairs a meter that shows
  a PIN: the passkey typed at `hub pair --passkey` is handed to BlueZ for that device only.

It agrees only for devices the technician is pairing now, or that are already known to this hub
(a device that lost its keys re-bonds); a neighbour's device asking to pair is refused.
No `from __future__ import annotations`: dbus-fast reads D-Bus signatures from annotations.
"""

import logging
from collections.abc import Callable

from dbus_fast import DBusError, Message, MessageType
from dbus_fast.aio import MessageBus
from dbus_fast.annotations import DBusObjectPath, DBusStr, DBusUInt16, DBusUInt32
from dbus_fast.service import ServiceInterface, method

from hub.errors import HubError

log = logging.getLogger(__name__)

AGENT_PATH = "/no/dho/hub/agent"
JUST_WORKS = "NoInputNoOutput"
PASSKEY_ENTRY = "KeyboardDisplay"
_REJECTED = "org.bluez.Error.Rejected"


def address_of(device_path: str) -> str:
    """'/org/bluez/hci0/dev_00_BB_00_00_00_02' -> '00:BB:00:00:00:02'."""
    return device_path.rsplit("/dev_", 1)[-1].replace("_", ":").upper()


class AgentError(HubError, RuntimeError):
    """BlueZ refused to register the hub's pairing agent."""


class PairingAgent(ServiceInterface):
    def __init__(self, is_known: Callable[[str], bool]) -> None:
        super().__init__("org.bluez.Agent1")
        self._is_known = is_known
        self._pairing: dict[str, int | None] = {}  # address -> passkey typed by the technician

    def expect(self, address: str, passkey: int | None = None) -> None:
        """A technician is pairing ``address`` now (with the PIN the device shows, if any)."""
        self._pairing[address.upper()] = passkey

    def done(self, address: str) -> None:
        self._pairing.pop(address.upper(), None)

    def _allowed(self, device: str) -> str:
        address = address_of(device)
        if address in self._pairing or self._is_known(address):
            return address
        log.warning("refusing to pair with %s: not a device of this hub", address)
        raise DBusError(_REJECTED, f"{address} is not being paired with this hub")

    def _passkey(self, device: str) -> int:
        address = self._allowed(device)
        passkey = self._pairing.get(address)
        if passkey is None:
            log.warning("%s asks for a passkey; pair it again with: hub pair --passkey", address)
            raise DBusError(_REJECTED, f"no passkey was given for {address}")
        return passkey

    @method()
    def Release(self) -> None:
        log.info("pairing agent released by BlueZ")

    @method()
    def RequestPinCode(self, device: DBusObjectPath) -> DBusStr:
        return f"{self._passkey(device):06d}"

    @method()
    def RequestPasskey(self, device: DBusObjectPath) -> DBusUInt32:
        return self._passkey(device)

    @method()
    def DisplayPinCode(self, device: DBusObjectPath, pincode: DBusStr) -> None:
        log.info("pairing %s: the device should show PIN %s", address_of(device), pincode)

    @method()
    def DisplayPasskey(
        self, device: DBusObjectPath, passkey: DBusUInt32, entered: DBusUInt16
    ) -> None:
        log.info("pairing %s: type passkey %06d on the device", address_of(device), passkey)

    @method()
    def RequestConfirmation(self, device: DBusObjectPath, passkey: DBusUInt32) -> None:
        self._allowed(device)  # Just Works asks this too on BlueZ >= 5.72; no one to ask

    @method()
    def RequestAuthorization(self, device: DBusObjectPath) -> None:
        self._allowed(device)

    @method()
    def AuthorizeService(self, device: DBusObjectPath, uuid: DBusStr) -> None:
        self._allowed(device)

    @method()
    def Cancel(self) -> None:
        log.info("BlueZ cancelled a pairing request")


async def _bluez_call(
    bus: MessageBus, path: str, interface: str, member: str, sig: str, body: list[object]
) -> None:
    reply = await bus.call(
        Message(
            destination="org.bluez",
            path=path,
            interface=interface,
            member=member,
            signature=sig,
            body=body,
        )
    )
    if reply is None or reply.message_type == MessageType.ERROR:
        detail = reply.body if reply is not None else "no reply"
        raise AgentError(f"{interface}.{member} failed: {reply and reply.error_name}: {detail}")


async def drop_link(bus: MessageBus, adapter: str, address: str) -> bool:
    """Disconnect a device BlueZ still holds a link to; True if it was connected.

    After the hub daemon is killed, bluetoothd keeps the link it had open: the device, still
    connected, does not advertise, and a new daemon (which connects on advertisements) would
    never hear from it again."""
    path = f"/org/bluez/{adapter}/dev_{address.upper().replace(':', '_')}"
    reply = await bus.call(
        Message(
            destination="org.bluez",
            path=path,
            interface="org.freedesktop.DBus.Properties",
            member="Get",
            signature="ss",
            body=["org.bluez.Device1", "Connected"],
        )
    )
    if reply is None or reply.message_type == MessageType.ERROR or not reply.body[0].value:
        return False
    await _bluez_call(bus, path, "org.bluez.Device1", "Disconnect", "", [])
    return True


class AgentRegistration:
    """Keeps the agent registered with BlueZ under the capability the moment needs."""

    def __init__(self, bus: MessageBus, agent: PairingAgent) -> None:
        self.bus = bus
        self.agent = agent
        self.capability: str | None = None
        bus.export(AGENT_PATH, agent)

    async def register(self, capability: str = JUST_WORKS) -> None:
        if capability == self.capability:
            return
        if self.capability is not None:
            await _bluez_call(
                self.bus,
                "/org/bluez",
                "org.bluez.AgentManager1",
                "UnregisterAgent",
                "o",
                [AGENT_PATH],
            )
        await _bluez_call(
            self.bus,
            "/org/bluez",
            "org.bluez.AgentManager1",
            "RegisterAgent",
            "os",
            [AGENT_PATH, capability],
        )
        self.capability = capability
        await _bluez_call(
            self.bus,
            "/org/bluez",
            "org.bluez.AgentManager1",
            "RequestDefaultAgent",
            "o",
            [AGENT_PATH],
        )
        log.info("pairing agent registered (%s)", capability)


async def remove_bond(bus: MessageBus, adapter: str, address: str) -> None:
    """Forget a device's keys in BlueZ (Adapter1.RemoveDevice), e.g. when it is reused."""
    path = f"/org/bluez/{adapter}/dev_{address.upper().replace(':', '_')}"
    await _bluez_call(
        bus, f"/org/bluez/{adapter}", "org.bluez.Adapter1", "RemoveDevice", "o", [path]
    )
