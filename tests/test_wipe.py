"""Reusing a hub for another patient: `hub wipe` leaves no byte of the previous patient's
readings, answers, messages or keys under the state folder (searched file by file, SQLite's
free pages included), removes the devices' Bluetooth bonds, and the same folder then takes a
newly provisioned hub whose patient's data flows. Also `hub pair`'s passkey check and clock
sentence, and `hub devices` with nothing paired."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from dbus_fast import BusType, Message, MessageType
from dbus_fast.aio import MessageBus

from hub.config import load_config
from hub.local_protocol import Device
from hub.technician.commands import clock_sentence
from hub.technician.provision import provision
from testbed.bluetooth import DEVICE_ADAPTERS
from testbed.home import SimulatedHome
from testbed.peripherals.cuff import EmulatedCuff
from tests.conftest import eventually, readings

CUFF = DEVICE_ADAPTERS["hci1"]
NEXT_HUB = "hub-sim-0002"
ANSWER_TEXT = "kanari-svar-8d2c-hoste"
MESSAGE_TEXT = "Kanari-melding 4b7a: husk vekta i morgon"


def hub(*args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "hub.cli", *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=60,
        env=dict(os.environ),
    )


@pytest.mark.parametrize("typed", ["12", "12345", "1234567", "12a456", "١٢٣٤٥٦", " 12345"])
def test_a_passkey_that_is_not_six_digits_is_refused_before_anything_scans(
    tmp_path: Path, typed: str
) -> None:
    # No config, no daemon: argparse refuses it before the command could scan for anything.
    result = hub("--config", str(tmp_path / "none.toml"), "pair", "--passkey", typed)
    assert result.returncode == 2
    assert "exactly the 6 digits the device shows" in result.stderr
    assert "not answering" not in result.stderr  # never got as far as the daemon


def device(clock_set_at: str | None) -> Device:
    return Device(
        address=CUFF,
        profile="blood_pressure",
        name="cuff",
        paired_at="2026-12-03T07:00:00+00:00",
        bonded=True,
        last_connected_at=None,
        clock_set_at=clock_set_at,
        battery_level=None,
    )


def test_pair_says_whether_the_device_clock_was_set_and_why_not() -> None:
    at = "2026-12-03T07:00:01+00:00"
    assert clock_sentence(device(at), True) == (
        f"The device's clock was set to the hub's time at {at}."
    )
    unsynced = clock_sentence(device(None), False)
    assert "NOT set" in unsynced and "hub's own clock is not synchronised" in unsynced
    assert "no clock the hub may set" in clock_sentence(device(None), True)


def state_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file())


def found_in(folder: Path, canaries: dict[str, bytes]) -> dict[str, list[str]]:
    """Which canaries occur, as raw bytes, in which file under `folder` (every byte of every
    file: SQLite's free pages, the WAL and logs too)."""
    hits: dict[str, list[str]] = {}
    for path in state_files(folder):
        data = path.read_bytes()
        for name, needle in canaries.items():
            if needle in data:
                hits.setdefault(name, []).append(str(path.relative_to(folder)))
    return hits


async def paired_in_bluez(env: dict[str, str], address: str) -> bool:
    """Whether the hub's adapter (hci0) holds a bond with `address`, asked of BlueZ(oo)."""
    bus = await MessageBus(
        bus_address=env["DBUS_SYSTEM_BUS_ADDRESS"], bus_type=BusType.SYSTEM
    ).connect()
    try:
        reply = await bus.call(
            Message(
                destination="org.bluez",
                path=f"/org/bluez/hci0/dev_{address.replace(':', '_')}",
                interface="org.freedesktop.DBus.Properties",
                member="Get",
                signature="ss",
                body=["org.bluez.Device1", "Paired"],
            )
        )
    finally:
        bus.disconnect()
    assert reply is not None
    return reply.message_type != MessageType.ERROR and bool(reply.body[0].value)


async def pair_cli(home: SimulatedHome) -> subprocess.CompletedProcess[str]:
    return await asyncio.to_thread(
        home.hub_cli, "pair", "--address", CUFF, "--timeout", "30", timeout=70
    )


def answers(text: str) -> dict[str, Any]:
    return {
        "resourceType": "QuestionnaireResponse",
        "id": "wipe-kanari-5e1f",
        "questionnaire": "https://dho.example.no/Questionnaire/kols-daglig|1",
        "status": "completed",
        "authored": "2026-12-03T08:10:00+01:00",
        "item": [{"linkId": "note", "answer": [{"valueString": text}]}],
    }


async def test_wipe_leaves_nothing_of_the_patient_and_the_hub_takes_the_next_one(
    home: SimulatedHome, short_tmp: Path
) -> None:
    # The first patient's hub has no NTP time: pairing says the cuff's clock was not set.
    home.configure_hub(clock={"source": "assume_unsynchronised"})
    config = load_config(home.hub_config)
    state = config.state_dir
    cuff = EmulatedCuff()
    await cuff.start()
    try:
        home.start_centre()
        first = home.start_hub()
        paired = await pair_cli(home)
        assert paired.returncode == 0, paired.stderr
        assert json.loads(paired.stdout)["clock_set_at"] is None
        assert "hub's own clock is not synchronised" in paired.stderr
        assert await paired_in_bluez(home.env, CUFF)

        # The patient's data: a reading, answers, a message from the centre.
        cuff.measure(173, 97, 59)
        (reading,) = await readings(home, 1)
        stored = home.ask_hub("answer", response=answers(ANSWER_TEXT))
        assert stored["ok"], stored
        sent = home.centre_cli("send-message", home.hub_id, MESSAGE_TEXT)
        assert sent.returncode == 0, sent.stderr
        await eventually(lambda: home.hub_status()["messages"], what="the message at the hub")
        canaries = {
            "reading": reading["raw_hex"].encode(),
            "answer": ANSWER_TEXT.encode(),
            "message": MESSAGE_TEXT.encode(),
            "answer id": b"wipe-kanari-5e1f",
            "signing key": config.signing_key_path.read_bytes().splitlines()[1],
        }
        (state / "ui.log").write_text(f"screen showed: {MESSAGE_TEXT}\n")  # as `hub ui` logs

        # While the daemon runs, wipe refuses and erases nothing.
        running = home.hub_cli("wipe", "--yes")
        assert running.returncode == 2
        assert "the hub daemon is running" in running.stderr
        assert "nothing was erased" in running.stderr and "systemctl stop" in running.stderr
        assert config.signing_key_path.exists() and config.db_path.exists()

        first.stop()
        before = found_in(state, canaries)
        assert set(before) == set(canaries), before  # the search finds them while they exist

        # Not confirmed: nothing erased.
        args = ("--config", str(home.hub_config), "wipe")
        refused = await asyncio.to_thread(hub, *args, stdin="no\n")
        assert refused.returncode == 2 and "not confirmed: nothing was erased" in refused.stderr
        assert found_in(state, canaries) == before

        # Confirmed with the hub id, as a technician types it.
        wiped = await asyncio.to_thread(hub, *args, stdin=f"{home.hub_id}\n")
        assert wiped.returncode == 0, wiped.stderr
        assert "5 key files erased first" in wiped.stdout
        assert CUFF in wiped.stdout and "ready for `hub provision`" in wiped.stdout
        assert state_files(state) == []  # not one file of the patient's left
        assert not home.hub_config.exists()
        assert not await paired_in_bluez(home.env, CUFF)  # the bond is gone from BlueZ

        # The next patient: a new hub id provisioned into the same folder.
        bundle = short_tmp / "next.bundle"
        enrolled = home.centre_cli("enrol", NEXT_HUB, "--out", str(bundle))
        assert enrolled.returncode == 0, enrolled.stderr
        provision(
            home.hub_config,
            bundle,
            state,
            expected_centre=json.loads(enrolled.stdout)["centre_fingerprint"],
            clock_source="assume_synchronised",
        )
        home.configure_hub(bluetooth={"quiet_disconnect_s": 2.0, "scan_window_s": 5.0})
        home.start_hub()
        listed = home.hub_cli("readings", "--json")
        assert listed.returncode == 0 and json.loads(listed.stdout) == []
        nothing = home.hub_cli("devices")
        assert nothing.stdout.strip() == "No devices are paired with this hub."
        assert json.loads(home.hub_cli("devices", "--json").stdout) == []

        again = await pair_cli(home)
        assert again.returncode == 0, again.stderr
        assert json.loads(again.stdout)["clock_set_at"] is not None
        assert "The device's clock was set to the hub's time" in again.stderr
        cuff.measure(128, 84, 70)
        (fresh,) = await readings(home, 1)
        assert fresh["values"]["systolic"] == 128.0 and fresh["seq"] == 1
        await eventually(
            lambda: any(r["hub_id"] == NEXT_HUB for r in home.centre_readings()),
            what="the new patient's reading at the centre",
        )
    finally:
        await cuff.stop()
    home.processes[-1].stop()
    assert found_in(state, canaries) == {}


def test_wipe_refuses_while_a_process_holds_the_store_and_leaves_the_folder_empty_after(
    tmp_path: Path,
) -> None:
    """A daemon still starting has its store open before its socket listens: the SQLite lock
    on the store is enough to refuse. Once it is closed, `--yes` erases without asking."""
    from hub.store import ReadingStore
    from tests.conftest import provisioned_hub

    path = provisioned_hub(tmp_path, "hub-wipe-0001")
    config = load_config(path)
    store = ReadingStore(config.db_path)
    try:
        held = hub("--config", str(path), "wipe", "--yes")
    finally:
        store.close()
    assert held.returncode == 2
    assert "has the hub's store" in held.stderr and "nothing was erased" in held.stderr
    assert config.signing_key_path.exists()
    wiped = hub("--config", str(path), "wipe", "--yes")
    assert wiped.returncode == 0, wiped.stderr
    assert "bonds removed: none" in wiped.stdout
    assert state_files(config.state_dir) == [] and not path.exists()
