"""The GATT health profiles the hub reads, as data: what to look for and what to subscribe to."""

from __future__ import annotations

from dataclasses import dataclass

SIG_BASE = "0000{:04x}-0000-1000-8000-00805f9b34fb"


def sig_uuid(short: int) -> str:
    return SIG_BASE.format(short)


@dataclass(frozen=True)
class Profile:
    name: str
    service_uuid: str
    # Characteristics whose values are indicated/notified, and the reading kind each makes.
    kinds: dict[str, str]

    @property
    def subscribe(self) -> tuple[str, ...]:
        return tuple(self.kinds)


BLOOD_PRESSURE = Profile(
    name="blood pressure cuff",
    service_uuid=sig_uuid(0x1810),
    kinds={sig_uuid(0x2A35): "blood_pressure"},
)

PROFILES: tuple[Profile, ...] = (BLOOD_PRESSURE,)


def kind_of(characteristic: str) -> str | None:
    return next((p.kinds[characteristic] for p in PROFILES if characteristic in p.kinds), None)
