"""The hub's BlueZ pairing agent over real D-Bus: registered with BlueZoo's AgentManager1, then
called the way bluetoothd calls an agent. (BlueZoo itself only pairs Just Works, so passkey
entry is exercised by calling Agent1 as bluetoothd would.)"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from dbus_fast import BusType, Message, MessageType
from dbus_fast.aio import MessageBus

from hub.devices.ble.agent import (
    AGENT_PATH,
    JUST_WORKS,
    PASSKEY_ENTRY,
    AgentRegistration,
    PairingAgent,
    address_of,
)
from testbed.bluetooth import SimulatedBluetooth

KNOWN = "00:BB:00:00:00:02"
NEW_METER = "00:BB:00:00:00:06"
NEIGHBOUR = "11:22:33:44:55:66"


def path_of(address: str) -> str:
    return f"/org/bluez/hci0/dev_{address.replace(':', '_')}"


Agent = tuple[PairingAgent, AgentRegistration, MessageBus]


@pytest.fixture
async def agent(short_tmp: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Agent]:
    bluetooth = SimulatedBluetooth(short_tmp / "bt")
    monkeypatch.setenv("DBUS_SYSTEM_BUS_ADDRESS", bluetooth.env["DBUS_SYSTEM_BUS_ADDRESS"])
    hub_bus = await MessageBus(bus_type=BusType.SYSTEM).connect()
    caller = await MessageBus(bus_type=BusType.SYSTEM).connect()  # stands in for bluetoothd
    pairing = PairingAgent(lambda address: address == KNOWN)
    registration = AgentRegistration(hub_bus, pairing)
    try:
        yield pairing, registration, caller
    finally:
        hub_bus.disconnect()
        caller.disconnect()
        bluetooth.stop()


async def call(
    caller: MessageBus, destination: str | None, member: str, signature: str, body: list[object]
) -> Message:
    reply = await caller.call(
        Message(
            destination=destination,
            path=AGENT_PATH,
            interface="org.bluez.Agent1",
            member=member,
            signature=signature,
            body=body,
        )
    )
    assert reply is not None
    return reply


def test_address_of_device_path() -> None:
    assert address_of("/org/bluez/hci0/dev_00_BB_00_00_00_02") == "00:BB:00:00:00:02"


async def test_registers_just_works_then_passkey_entry_with_bluez(agent: Agent) -> None:
    _, registration, _ = agent
    await registration.register(JUST_WORKS)
    assert registration.capability == JUST_WORKS
    await registration.register(PASSKEY_ENTRY)  # unregisters first: BlueZ allows one per client
    assert registration.capability == PASSKEY_ENTRY


async def test_passkey_typed_by_technician_is_given_for_that_device_only(agent: Agent) -> None:
    pairing, registration, caller = agent
    await registration.register(PASSKEY_ENTRY)
    name = registration.bus.unique_name
    pairing.expect(NEW_METER, 123456)

    reply = await call(caller, name, "RequestPasskey", "o", [path_of(NEW_METER)])
    assert reply.message_type == MessageType.METHOD_RETURN and reply.body == [123456]
    reply = await call(caller, name, "RequestPinCode", "o", [path_of(NEW_METER)])
    assert reply.body == ["123456"]

    refused = await call(caller, name, "RequestPasskey", "o", [path_of(NEIGHBOUR)])
    assert refused.message_type == MessageType.ERROR
    assert refused.error_name == "org.bluez.Error.Rejected"

    pairing.done(NEW_METER)
    after = await call(caller, name, "RequestPasskey", "o", [path_of(NEW_METER)])
    assert after.error_name == "org.bluez.Error.Rejected"


async def test_known_device_without_passkey_is_told_to_pair_again(agent: Agent) -> None:
    _, registration, caller = agent
    await registration.register(JUST_WORKS)
    reply = await call(
        caller, registration.bus.unique_name, "RequestPasskey", "o", [path_of(KNOWN)]
    )
    assert reply.error_name == "org.bluez.Error.Rejected"
    assert "no passkey" in str(reply.body)


async def test_just_works_confirmation_only_for_our_devices(agent: Agent) -> None:
    pairing, registration, caller = agent
    await registration.register(JUST_WORKS)
    name = registration.bus.unique_name
    ok = await call(caller, name, "RequestConfirmation", "ou", [path_of(KNOWN), 0])
    assert ok.message_type == MessageType.METHOD_RETURN
    pairing.expect(NEW_METER)
    ok = await call(caller, name, "RequestAuthorization", "o", [path_of(NEW_METER)])
    assert ok.message_type == MessageType.METHOD_RETURN
    no = await call(caller, name, "RequestConfirmation", "ou", [path_of(NEIGHBOUR), 0])
    assert no.error_name == "org.bluez.Error.Rejected"
    no = await call(
        caller,
        name,
        "AuthorizeService",
        "os",
        [path_of(NEIGHBOUR), "00001810-0000-1000-8000-00805f9b34fb"],
    )
    assert no.error_name == "org.bluez.Error.Rejected"
