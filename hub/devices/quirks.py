"""What individual device models need beyond the SIG profiles, as data in one registry.

Drivers read a ``Quirks`` value; they never test a model name. Add a model by adding a
``QuirkRule`` with its source (see docs/devices.md, "Quirks registry").
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

ClockWrite = Literal["on_connect", "after_time_notification", "never"]


@dataclass(frozen=True)
class Quirks:
    # When to set the device clock: right after connecting, once the device has notified its
    # own Current Time (Omron), or never.
    clock_write: ClockWrite = "on_connect"
    # Seconds after connecting within which the clock must be written (A&D: ~100 ms); the hub
    # then writes before anything else and logs when it was too slow.
    time_write_deadline_s: float | None = None
    # Pair (bond) right after connecting, before touching any characteristic.
    bond_before_discovery: bool = False
    # The device keeps one bond only: pairing with the hub unpairs the patient's phone app.
    single_bond: bool = False
    # Pulse oximeter offers spot-check only; never wait for a continuous stream.
    spot_check_only: bool = False
    # The device sends stored records by itself once subscribed (no RACP needed).
    stored_records_on_connect: bool = True
    # Seconds a continuous oximeter is sampled before the settled value is stored.
    continuous_window_s: float = 30.0


@dataclass(frozen=True)
class QuirkRule:
    model: str
    name_prefix: str  # the advertised local name starts with this
    quirks: Quirks
    source: str


REGISTRY: tuple[QuirkRule, ...] = (
    QuirkRule(
        model="Omron BLEsmart blood pressure monitors",
        name_prefix="BLESmart_",
        quirks=Quirks(
            clock_write="after_time_notification", bond_before_discovery=True, single_bond=True
        ),
        source="StanfordSpezi/SpeziDevices OmronReverseEngineering.md; eigger/hass-omron",
    ),
    QuirkRule(
        model="A&D UA-651BLE blood pressure monitor",
        name_prefix="A&D_UA-651",
        quirks=Quirks(time_write_deadline_s=0.1),
        source="andengineering/AndroidSampleCode BleReceivedService.java (Date Time per connect)",
    ),
    QuirkRule(
        model="A&D UC-352BLE scale",
        name_prefix="A&D_UC-352",
        quirks=Quirks(time_write_deadline_s=0.1),
        source="andengineering/AndroidSampleCode BleReceivedService.java",
    ),
    QuirkRule(
        model="Masimo MightySat",
        name_prefix="MightySat",
        quirks=Quirks(spot_check_only=True),
        source="weliem/blessed-android issue 81 (spot-check 0x2A5E only)",
    ),
    QuirkRule(
        model="Nonin 3230",
        name_prefix="Nonin3230",
        quirks=Quirks(bond_before_discovery=True),
        source="public ESP32 firmware: Nonin needs an encrypted link",
    ),
    QuirkRule(
        model="Beurer BF720 scale",
        name_prefix="BF720",
        quirks=Quirks(bond_before_discovery=True),
        source="KristianP26/ble-scale-sync issue 168 (refuses CCCD writes unbonded)",
    ),
    QuirkRule(
        model="Accu-Chek Guide / Instant glucose meters",
        name_prefix="meter+",
        quirks=Quirks(bond_before_discovery=True, stored_records_on_connect=False),
        source="NightscoutFoundation/xDrip issues 208, 308 (passkey pairing, RACP download)",
    ),
)

DEFAULT = Quirks()


def _rule_for(local_name: str | None) -> QuirkRule | None:
    # Case-blind: Omron advertises "BLEsmart_" in pairing mode and "BLESmart_" in transfer mode.
    name = (local_name or "").casefold()
    return next((r for r in REGISTRY if name.startswith(r.name_prefix.casefold())), None)


def quirks_for(local_name: str | None) -> Quirks:
    """The quirks of the model that advertises ``local_name``; the SIG defaults otherwise."""
    rule = _rule_for(local_name)
    return rule.quirks if rule else DEFAULT


def model_for(local_name: str | None) -> str | None:
    rule = _rule_for(local_name)
    return rule.model if rule else None
