"""Emulated scales: a weight scale (Weight Scale Service 0x181D) and a body composition scale
(Body Composition Service 0x181B), each with Current Time (or A&D-style Date Time) and Battery
services, over BlueZ's D-Bus API.

Like the scales in patients' homes they keep measurements they could not deliver and indicate
them all (one confirmed at a time) once a hub subscribes. Units follow the scale's setting:
kg and m, or lb and in (``unit="lb"``).
"""

import random
from dataclasses import dataclass, field

from hub.devices.body_composition import (
    build_body_composition_feature,
    build_body_composition_measurement,
)
from hub.devices.profiles import sig_uuid
from hub.devices.weight import MassUnit, build_weight_measurement, build_weight_scale_feature
from testbed.peripherals.device import EmulatedDevice
from testbed.peripherals.gatt import GattCharacteristic

WEIGHT_SCALE_SERVICE = sig_uuid(0x181D)
WEIGHT_MEASUREMENT = sig_uuid(0x2A9D)
WEIGHT_SCALE_FEATURE = sig_uuid(0x2A9E)
BODY_COMPOSITION_SERVICE = sig_uuid(0x181B)
BODY_COMPOSITION_MEASUREMENT = sig_uuid(0x2A9C)
BODY_COMPOSITION_FEATURE = sig_uuid(0x2A9B)

WEIGHT_FEATURES = build_weight_scale_feature(
    ["timestamp", "multiple_users", "bmi"], weight_resolution=0.05, height_resolution=0.001
)
BODY_COMPOSITION_FEATURES = build_body_composition_feature(
    [
        "timestamp",
        "multiple_users",
        "basal_metabolism",
        "muscle_percentage",
        "impedance",
        "weight",
        "height",
    ],
    mass_resolution=0.05,
    height_resolution=0.001,
)


@dataclass
class DemoWeight:
    """One person's weight from one weighing to the next: a slow walk of a few hundred grams
    around where it started, not a new person each time (the screen's 14-day trend shows it)."""

    kg: float | None = None

    def step(self, rng: random.Random) -> float:
        if self.kg is None:
            self.kg = round(rng.uniform(62.0, 90.0), 1)
        else:
            self.kg = round(min(150.0, max(40.0, self.kg + rng.gauss(0.0, 0.4))), 1)
        return self.kg


@dataclass
class EmulatedScale(EmulatedDevice):
    adapter: str = "hci3"
    name: str = "DHO sim scale"
    base_path: str = "/no/dho/sim/scale"
    unit: MassUnit = "kg"  # "lb": weight in lb, height in inches
    person: DemoWeight = field(default_factory=DemoWeight)

    def build(self) -> None:
        self.peripheral.add_service(WEIGHT_SCALE_SERVICE)
        self.measurement = self.characteristic(WEIGHT_MEASUREMENT, ["indicate"])
        self.characteristic(WEIGHT_SCALE_FEATURE, ["read"], on_read=lambda: WEIGHT_FEATURES)

    @property
    def record_channel(self) -> GattCharacteristic:
        return self.measurement

    def measure(
        self,
        weight: float | None,
        bmi: float | None = None,
        height: float | None = None,
        user_id: int = 1,
    ) -> bytes:
        """Weigh now, stamped by the scale's own clock; returns the stored value.

        ``weight`` None is "Measurement Unsuccessful" (the patient stepped off too soon).
        """
        value = build_weight_measurement(
            weight,
            unit=self.unit,
            timestamp=self.clock.now(),
            user_id=user_id,
            bmi=bmi,
            height=height,
        )
        self.take_measurement(value)
        return value

    def demo_measurement(self, rng: random.Random) -> None:
        height = 1.70
        weight = self.person.step(rng)
        bmi = round(weight / height**2, 1)
        if self.unit == "lb":
            self.measure(round(weight / 0.45359237, 1), bmi, round(height / 0.0254, 1))
        else:
            self.measure(weight, bmi, height)


@dataclass
class EmulatedBodyCompositionScale(EmulatedDevice):
    adapter: str = "hci3"
    name: str = "DHO sim body composition scale"
    base_path: str = "/no/dho/sim/bcs"
    unit: MassUnit = "kg"
    person: DemoWeight = field(default_factory=DemoWeight)

    def build(self) -> None:
        self.peripheral.add_service(BODY_COMPOSITION_SERVICE)
        self.measurement = self.characteristic(BODY_COMPOSITION_MEASUREMENT, ["indicate"])
        self.characteristic(
            BODY_COMPOSITION_FEATURE, ["read"], on_read=lambda: BODY_COMPOSITION_FEATURES
        )

    @property
    def record_channel(self) -> GattCharacteristic:
        return self.measurement

    def measure(
        self,
        body_fat_percentage: float | None,
        *,
        weight: float | None = None,
        height: float | None = None,
        muscle_percentage: float | None = None,
        basal_metabolism: int | None = None,
        impedance: float | None = None,
        user_id: int = 1,
    ) -> bytes:
        """Analyse now, stamped by the scale's own clock; returns the stored value.

        ``body_fat_percentage`` None is "Measurement Unsuccessful" (bare feet not on the pads).
        """
        value = build_body_composition_measurement(
            body_fat_percentage,
            unit=self.unit,
            timestamp=self.clock.now(),
            user_id=user_id,
            weight=weight,
            height=height,
            muscle_percentage=muscle_percentage,
            basal_metabolism=basal_metabolism,
            impedance=impedance,
        )
        self.take_measurement(value)
        return value

    def demo_measurement(self, rng: random.Random) -> None:
        weight = self.person.step(rng)
        self.measure(
            round(rng.uniform(12.0, 38.0), 1),
            weight=weight if self.unit == "kg" else round(weight / 0.45359237, 1),
            height=1.75 if self.unit == "kg" else 68.9,
            muscle_percentage=round(rng.uniform(30.0, 45.0), 1),
            basal_metabolism=rng.randint(5500, 8500),
            impedance=round(rng.uniform(400.0, 600.0), 1),
        )
