"""An emulated pulse oximeter: Pulse Oximeter Service (0x1822), with Current Time and Battery
services, over BlueZ's D-Bus API.

Two kinds of oximeter, as in patients' homes:

- ``spot_check`` (``mode="spot_check"``): PLX Spot-Check Measurement (0x2A5E, indicate) and PLX
  Features (0x2A60). Like the cuff it stores finished spot checks, stamped by its own clock (with
  the Device Clock Not Set flag while nobody has set it), and indicates them all once a hub
  subscribes.
- ``continuous`` (``mode="continuous"``): PLX Continuous Measurement (0x2A5F, notify) and PLX
  Features, no spot-check characteristic. With a finger in it, it streams a sample every
  ``sample_interval_s`` while a hub is subscribed: a few invalid and early-estimate samples
  first, then settled valid ones; once the finger is out, invalid samples again. It advertises
  while a finger is in and no hub has yet received a settled sample of it.

No `from __future__ import annotations`: dbus-fast reads D-Bus signatures from annotations.
"""

import asyncio
import collections
import random
from dataclasses import dataclass
from typing import Literal

from hub.devices.ieee11073 import SpecialValue
from hub.devices.profiles import PLX_CONTINUOUS, PLX_SPOT_CHECK, sig_uuid
from hub.devices.pulse_oximeter import (
    build_plx_continuous,
    build_plx_features,
    build_plx_spot_check,
)
from testbed.peripherals.device import GARBAGE, RESET_TIME, EmulatedDevice
from testbed.peripherals.gatt import GattCharacteristic

PULSE_OXIMETER_SERVICE = sig_uuid(0x1822)
PLX_FEATURES = sig_uuid(0x2A60)

_STATUS_SUPPORT = (
    "measurement_ongoing",
    "early_estimated_data",
    "validated_data",
    "data_from_measurement_storage",
    "measurement_unavailable",
    "questionable_measurement_detected",
    "invalid_measurement_detected",
)
_DEVICE_STATUS_SUPPORT = (
    "signal_analysis_ongoing",
    "low_perfusion_detected",
    "erratic_signal_detected",
    "sensor_unconnected_to_user",
    "sensor_disconnected",
)
SPOT_CHECK_FEATURES = build_plx_features(
    ["spot_check_measurement_storage", "spot_check_timestamp", "pulse_amplitude_index"],
    measurement_status_support=_STATUS_SUPPORT,
    device_and_sensor_status_support=_DEVICE_STATUS_SUPPORT,
)
CONTINUOUS_FEATURES = build_plx_features(
    ["pulse_amplitude_index"],
    measurement_status_support=_STATUS_SUPPORT,
    device_and_sensor_status_support=_DEVICE_STATUS_SUPPORT,
)

NAN = SpecialValue.NAN
# What a continuous oximeter sends with no finger in it.
FINGER_OUT = build_plx_continuous(
    NAN,
    NAN,
    measurement_status=("measurement_unavailable",),
    device_and_sensor_status=("sensor_unconnected_to_user",),
)


@dataclass
class EmulatedOximeter(EmulatedDevice):
    adapter: str = "hci2"
    name: str = "DHO sim oximeter"
    base_path: str = "/no/dho/sim/oximeter"
    mode: Literal["spot_check", "continuous"] = "spot_check"
    sample_interval_s: float = 0.25  # continuous mode: real oximeters send every 0.2-0.5 s

    def __post_init__(self) -> None:
        self._samples: collections.deque[bytes] = collections.deque()  # planned for the finger
        self._hold = FINGER_OUT  # sent once the plan is used up: settled value, or finger out
        self._settled: set[bytes] = set()
        self.valid_sent: list[bytes] = []  # settled samples notified, in order
        super().__post_init__()

    def build(self) -> None:
        self.peripheral.add_service(PULSE_OXIMETER_SERVICE)
        if self.mode == "spot_check":
            self.spot_check = self.characteristic(PLX_SPOT_CHECK, ["indicate"])
            features = SPOT_CHECK_FEATURES
        else:
            self.continuous = self.characteristic(PLX_CONTINUOUS, ["notify"])
            features = CONTINUOUS_FEATURES
        self.characteristic(PLX_FEATURES, ["read"], on_read=lambda: features)

    @property
    def record_channel(self) -> GattCharacteristic:
        return self.spot_check if self.mode == "spot_check" else self.continuous

    # --- spot-check -------------------------------------------------------------------------

    @property
    def clock_not_set(self) -> bool:
        """Nobody has written the clock since it reset: it still counts from 2000-01-01."""
        return not self.clock.written and self.clock.now().year == RESET_TIME.year

    def measure(
        self,
        spo2: float | SpecialValue,
        pulse: float | SpecialValue,
        *,
        status: tuple[str, ...] = ("validated_data",),
        device_status: tuple[str, ...] = (),
        pai: float | None = 4.2,
    ) -> bytes:
        """Take a spot check now, stamped by the oximeter's clock; returns the stored value."""
        assert self.mode == "spot_check", "a continuous-only oximeter stores no spot checks"
        value = build_plx_spot_check(
            spo2,
            pulse,
            timestamp=self.clock.now(),
            device_clock_not_set=self.clock_not_set,
            measurement_status=status,
            device_and_sensor_status=device_status,
            pulse_amplitude_index=pai,
        )
        self.take_measurement(value)
        return value

    # --- continuous -------------------------------------------------------------------------

    def finger_in(
        self, spo2: float, pulse: float, *, early: int = 3, settled: int | None = None
    ) -> list[bytes]:
        """Put a finger in: ``early`` samples still searching (NaN, then an early estimate),
        then settled samples converging on ``spo2``/``pulse``. With ``settled`` the finger is
        taken out after that many settled samples; without, the last one is held.
        Returns the settled samples (their last is the value a hub should keep)."""
        assert self.mode == "continuous", "a spot-check oximeter does not stream"
        plan = [
            build_plx_continuous(
                NAN,
                NAN,
                measurement_status=("measurement_ongoing",),
                device_and_sensor_status=("signal_analysis_ongoing",),
            )
            for _ in range(max(0, early - 1))
        ]
        if early:
            plan.append(
                build_plx_continuous(
                    spo2 - 6,
                    pulse + 12,
                    measurement_status=("measurement_ongoing", "early_estimated_data"),
                    device_and_sensor_status=("signal_analysis_ongoing",),
                )
            )
        count = 4 if settled is None else settled
        steady = [
            build_plx_continuous(
                spo2 - k,
                pulse + 2 * k,
                measurement_status=("validated_data",),
                device_and_sensor_status=(),
                pulse_amplitude_index=4.2,
            )
            for k in (max(0, min(3, count - 1) - i) for i in range(count))
        ]
        self._samples = collections.deque(plan + steady)
        self._settled = set(steady)
        self._hold = steady[-1] if settled is None and steady else FINGER_OUT
        self._news = True
        self._wake.set()
        return steady

    def _next_sample(self) -> bytes:
        return self._samples.popleft() if self._samples else self._hold

    async def _stream(self, channel: GattCharacteristic) -> None:
        """Notify samples while the hub stays subscribed."""
        delivered_settled = False
        if self.behaviour.garbage_first:
            await channel.send(GARBAGE)
        while channel.notifying:
            await asyncio.sleep(self.sample_interval_s)
            if not channel.notifying:
                break
            sample = self._next_sample()
            if await channel.send(sample):
                self.delivered.append(sample)
                if sample in self._settled:
                    self.valid_sent.append(sample)
                    delivered_settled = True
        if delivered_settled and not self._samples:
            self._news = False  # a hub has the settled value; stop asking to be read

    async def _transfer_loop(self) -> None:
        if self.mode == "spot_check":
            await super()._transfer_loop()
            return
        channel = self.continuous
        while True:
            await channel.subscribed.wait()
            self.connections += 1
            await self._stream(channel)

    def demo_measurement(self, rng: random.Random) -> None:
        spo2, pulse = rng.randint(93, 99), rng.randint(55, 95)
        if self.mode == "spot_check":
            self.measure(spo2, pulse, pai=round(rng.uniform(1.0, 10.0), 1))
        else:
            self.finger_in(spo2, pulse, settled=rng.randint(5, 15))
