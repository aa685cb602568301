"""The GATT health profiles the hub reads, as data: what identifies a device, what it sends."""

from __future__ import annotations

from dataclasses import dataclass

SIG_BASE = "0000{:04x}-0000-1000-8000-00805f9b34fb"


def sig_uuid(short: int) -> str:
    return SIG_BASE.format(short)


# Services and characteristics the drivers use beyond the measurements.
CURRENT_TIME_SERVICE = sig_uuid(0x1805)
CURRENT_TIME = sig_uuid(0x2A2B)
DATE_TIME = sig_uuid(0x2A08)
BATTERY_SERVICE = sig_uuid(0x180F)
BATTERY_LEVEL = sig_uuid(0x2A19)
RECORD_ACCESS_CONTROL_POINT = sig_uuid(0x2A52)
PLX_SPOT_CHECK = sig_uuid(0x2A5E)
PLX_CONTINUOUS = sig_uuid(0x2A5F)


@dataclass(frozen=True)
class Profile:
    """One SIG health profile.

    ``name`` is the stable id stored with a paired device; ``kinds`` maps each measurement
    characteristic the hub subscribes to onto the kind of reading it makes.
    """

    name: str
    title: str
    service_uuid: str
    kinds: dict[str, str]
    # Values sent while a measurement runs, for the screen only (subscribed when offered).
    progress: tuple[str, ...] = ()

    @property
    def subscribe(self) -> tuple[str, ...]:
        return tuple(self.kinds)


BLOOD_PRESSURE = Profile(
    name="blood_pressure",
    title="blood pressure monitor",
    service_uuid=sig_uuid(0x1810),
    kinds={sig_uuid(0x2A35): "blood_pressure"},
    progress=(sig_uuid(0x2A36),),  # Intermediate Cuff Pressure
)
PULSE_OXIMETER = Profile(
    name="pulse_oximeter",
    title="pulse oximeter",
    service_uuid=sig_uuid(0x1822),
    kinds={PLX_SPOT_CHECK: "spo2", PLX_CONTINUOUS: "spo2"},
)
WEIGHT_SCALE = Profile(
    name="weight_scale",
    title="weight scale",
    service_uuid=sig_uuid(0x181D),
    kinds={sig_uuid(0x2A9D): "weight"},
)
BODY_COMPOSITION = Profile(
    name="body_composition",
    title="body composition scale",
    service_uuid=sig_uuid(0x181B),
    kinds={sig_uuid(0x2A9C): "body_composition"},
)
THERMOMETER = Profile(
    name="thermometer",
    title="thermometer",
    service_uuid=sig_uuid(0x1809),
    kinds={sig_uuid(0x2A1C): "temperature"},
    progress=(sig_uuid(0x2A1E),),  # Intermediate Temperature
)
GLUCOSE = Profile(
    name="glucose",
    title="glucose meter",
    service_uuid=sig_uuid(0x1808),
    kinds={sig_uuid(0x2A18): "glucose", sig_uuid(0x2A34): "glucose_context"},
)

PROFILES: tuple[Profile, ...] = (
    BLOOD_PRESSURE,
    PULSE_OXIMETER,
    WEIGHT_SCALE,
    BODY_COMPOSITION,
    THERMOMETER,
    GLUCOSE,
)
BY_NAME = {p.name: p for p in PROFILES}


def profile_for_services(service_uuids: set[str]) -> Profile | None:
    """The profile a device offers, by its advertised (or discovered) service UUIDs."""
    lowered = {u.lower() for u in service_uuids}
    return next((p for p in PROFILES if p.service_uuid in lowered), None)


def kind_of(characteristic: str) -> str | None:
    return next((p.kinds[characteristic] for p in PROFILES if characteristic in p.kinds), None)
