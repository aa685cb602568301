"""An emulated blood-pressure cuff: Blood Pressure Service (0x1810), with Current Time and
Battery services, over BlueZ's D-Bus API.

Like the cuffs in patients' homes it keeps measurements it could not deliver and indicates them
all (one confirmed at a time) once a hub subscribes. (BlueZoo cannot carry a peripheral's
disconnect to the central, so the hub ends the session when the cuff goes quiet.)
"""

import random
from dataclasses import dataclass

from hub.devices.blood_pressure import (
    build_blood_pressure_feature,
    build_blood_pressure_measurement,
)
from hub.devices.profiles import sig_uuid
from hub.devices.sim.device import EmulatedDevice
from hub.devices.sim.gatt import GattCharacteristic

BLOOD_PRESSURE_SERVICE = sig_uuid(0x1810)
BLOOD_PRESSURE_MEASUREMENT = sig_uuid(0x2A35)
BLOOD_PRESSURE_FEATURE = sig_uuid(0x2A49)
FEATURES = build_blood_pressure_feature(
    ["body_movement_detection", "cuff_fit_detection", "irregular_pulse_detection"]
)


@dataclass
class EmulatedCuff(EmulatedDevice):
    name: str = "DHO sim BP cuff"
    base_path: str = "/no/dho/sim/cuff"
    unit: str = "mmHg"

    def build(self) -> None:
        self.peripheral.add_service(BLOOD_PRESSURE_SERVICE)
        self.measurement = self.characteristic(BLOOD_PRESSURE_MEASUREMENT, ["indicate"])
        self.characteristic(BLOOD_PRESSURE_FEATURE, ["read"], on_read=lambda: FEATURES)

    @property
    def record_channel(self) -> GattCharacteristic:
        return self.measurement

    def measure(
        self,
        systolic: float,
        diastolic: float,
        pulse: float,
        status: tuple[str, ...] = ("pulse_rate_within_range",),
    ) -> bytes:
        """Take a measurement now, stamped by the cuff's own clock; returns the stored value."""
        exponent = -1 if self.unit == "kPa" else 0
        value = build_blood_pressure_measurement(
            systolic, diastolic, round(diastolic + (systolic - diastolic) / 3, -exponent),
            unit=self.unit,  # type: ignore[arg-type]
            exponent=exponent,
            timestamp=self.clock.now(),
            pulse_rate=pulse,
            user_id=1,
            measurement_status=status,
        )
        self.take_measurement(value)
        return value

    def demo_measurement(self, rng: random.Random) -> None:
        systolic, diastolic = rng.randint(115, 165), rng.randint(65, 95)
        self.measure(systolic, diastolic, rng.randint(55, 95))
