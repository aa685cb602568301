"""An emulated blood glucose meter: Glucose Service (0x1808) with its Record Access Control
Point (0x2A52), plus Current Time and Battery services, over BlueZ's D-Bus API.

Unlike the cuffs and scales a meter pushes nothing when a hub subscribes. It keeps every record
(sequence numbers counting up from 1, base time from its own clock, a Glucose Measurement
Context following a measurement that flags one) and answers RACP requests: "report stored
records" notifies the selected 0x2A18 records (each followed by its 0x2A34 when flagged) and
then indicates the response code; "report number of stored records" indicates the count;
"abort" stops a report in progress; every other op code is "op code not supported".

``Behaviour.keeps_records`` makes a meter that ignores the request's filter and reports all its
records every time (the hub must store each record once); ``garbage_first`` sends a malformed
0x2A18 before the records of a report.
"""

import asyncio
import contextlib
import logging
import random
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from dbus_fast import DBusError

from hub.devices.errors import ParseError
from hub.devices.glucose import (
    ConcentrationUnit,
    build_glucose_context,
    build_glucose_feature,
    build_glucose_measurement,
)
from hub.devices.ieee11073 import SpecialValue
from hub.devices.profiles import RECORD_ACCESS_CONTROL_POINT, sig_uuid
from hub.devices.racp import (
    OpCode,
    Operator,
    RacpRequest,
    ResponseCode,
    build_number_of_records_response,
    build_response_code,
    parse_racp_request,
)
from testbed.peripherals.device import GARBAGE, EmulatedDevice
from testbed.peripherals.gatt import GattCharacteristic

log = logging.getLogger(__name__)

GLUCOSE_SERVICE = sig_uuid(0x1808)
GLUCOSE_MEASUREMENT = sig_uuid(0x2A18)
GLUCOSE_MEASUREMENT_CONTEXT = sig_uuid(0x2A34)
GLUCOSE_FEATURE = sig_uuid(0x2A51)
FEATURES = build_glucose_feature(
    [
        "low_battery_detection",
        "sensor_malfunction_detection",
        "sensor_sample_size",
        "sensor_strip_insertion_error_detection",
        "sensor_result_high_low_detection",
        "time_fault",
        "multiple_bond",
    ]
)
# A meter sends one value per connection event (7.5-50 ms apart); pacing also keeps BlueZoo,
# which relays each characteristic on its own task, from reordering values as no link would.
CONNECTION_EVENT_S = 0.02
# What a meter shows, in the unit GSS sends: mg/dL for kg/L meters, mmol/L for mol/L meters.
_PER_DISPLAY_UNIT: dict[str, float] = {"kg/L": 1e-5, "mol/L": 1e-3}


@dataclass
class StoredRecord:
    sequence_number: int
    measurement: bytes  # 0x2A18
    context: bytes | None = None  # 0x2A34, sent right after the measurement


@dataclass
class EmulatedGlucoseMeter(EmulatedDevice):
    adapter: str = "hci5"
    name: str = "DHO sim glucose meter"
    base_path: str = "/no/dho/sim/glucose"
    unit: ConcentrationUnit = "kg/L"  # Roche meters send kg/L whatever unit they display

    def __post_init__(self) -> None:
        self.records: dict[int, StoredRecord] = {}  # every record, by sequence number
        self.racp_requests: list[RacpRequest] = []  # what hubs asked, in order
        self.next_sequence_number = 1
        self._procedure: asyncio.Task[None] | None = None
        super().__post_init__()

    def build(self) -> None:
        self.peripheral.add_service(GLUCOSE_SERVICE)
        self.measurement = self.characteristic(GLUCOSE_MEASUREMENT, ["notify"])
        self.context = self.characteristic(GLUCOSE_MEASUREMENT_CONTEXT, ["notify"])
        self.characteristic(GLUCOSE_FEATURE, ["read"], on_read=lambda: FEATURES)
        self.racp = self.characteristic(
            RECORD_ACCESS_CONTROL_POINT, ["write", "indicate"], on_write=self._on_racp_write
        )

    @property
    def record_channel(self) -> GattCharacteristic:
        """The RACP: a hub subscribing to it starts a connection (records go out on request)."""
        return self.racp

    async def send_records(self, channel: GattCharacteristic) -> None:
        """A meter pushes nothing when a hub subscribes: records go out only on RACP request."""

    # --- measuring ------------------------------------------------------------------------------

    def take_record(self, measurement: bytes, context: bytes | None = None) -> int:
        """Store a finished record under the next sequence number; it is kept for good."""
        number = self.next_sequence_number
        self.next_sequence_number += 1
        self.records[number] = StoredRecord(number, measurement, context)
        self.take_measurement(measurement)  # news to advertise until a hub asks for records
        return number

    def measure(
        self,
        concentration: float | SpecialValue | None,
        *,
        sensor_status: tuple[str, ...] | None = None,
        time_offset: int | None = None,
        sample_type: str = "capillary_whole_blood",
        sample_location: str = "finger",
        context: Mapping[str, Any] | None = None,
    ) -> int:
        """Take a measurement now, stamped by the meter's own clock; returns its sequence number.

        ``concentration`` is what the meter shows (mg/dL for a kg/L meter, mmol/L for a mol/L
        one), a special value, or None for a test without a result (a strip error).
        ``context`` holds ``build_glucose_context`` fields (e.g. ``{"meal": "preprandial"}``).
        """
        number = self.next_sequence_number
        value: float | SpecialValue | None = concentration
        if isinstance(concentration, int | float):
            value = concentration * _PER_DISPLAY_UNIT[self.unit]
        with_result = value is not None
        measurement = build_glucose_measurement(
            number,
            self.clock.now(),
            time_offset=time_offset,
            glucose_concentration=value,
            unit=self.unit,
            sample_type=sample_type if with_result else None,
            sample_location=sample_location if with_result else None,
            sensor_status=sensor_status,
            context_information_follows=context is not None,
        )
        context_value = None if context is None else build_glucose_context(number, **context)
        return self.take_record(measurement, context_value)

    def announce_sync(self) -> None:
        """The patient presses the meter's Bluetooth button: it advertises, nothing new or not."""
        self._news = True
        self._wake.set()

    def demo_measurement(self, rng: random.Random) -> None:
        shown = round(rng.uniform(4.0, 11.0), 1) if self.unit == "mol/L" else rng.randint(72, 200)
        meal = rng.choice([None, "preprandial", "postprandial", "fasting"])
        self.measure(shown, context=None if meal is None else {"meal": meal})

    # --- Record Access Control Point ------------------------------------------------------------

    def _on_racp_write(self, data: bytes) -> None:
        if not self.racp.notifying:
            # GLS: 0x81 "Client Characteristic Configuration Descriptor Improperly Configured".
            raise DBusError("org.bluez.Error.Failed", "RACP indications are not enabled")
        op_code = data[0] if data else 0
        busy = self._procedure is not None and not self._procedure.done()
        if busy and op_code != OpCode.ABORT_OPERATION:
            # GLS: 0x80 "Procedure Already In Progress".
            raise DBusError("org.bluez.Error.InProgress", "a RACP procedure is in progress")
        if busy and self._procedure is not None:
            self._procedure.cancel()
        self._procedure = asyncio.get_running_loop().create_task(self._answer(data))

    async def _answer(self, data: bytes) -> None:
        try:
            request = parse_racp_request(data)
        except ParseError as exc:
            code = ResponseCode.INVALID_OPERAND
            if exc.field in ("op_code", "operator"):
                code = ResponseCode.INVALID_OPERATOR
            await self._respond(data[0] if data else 0, code)
            return
        self.racp_requests.append(request)
        log.info("RACP request %s", request.to_json())
        if request.op_code == OpCode.ABORT_OPERATION:
            code = ResponseCode.SUCCESS
            if request.operator != Operator.NULL:
                code = ResponseCode.INVALID_OPERATOR
            elif request.operand:
                code = ResponseCode.INVALID_OPERAND
            await self._respond(request.op_code, code)
            return
        if request.op_code not in (
            OpCode.REPORT_STORED_RECORDS,
            OpCode.REPORT_NUMBER_OF_STORED_RECORDS,
        ):
            await self._respond(request.op_code, ResponseCode.OP_CODE_NOT_SUPPORTED)
            return
        selected = self._select(request)
        if isinstance(selected, ResponseCode):
            await self._respond(request.op_code, selected)
        elif request.op_code == OpCode.REPORT_NUMBER_OF_STORED_RECORDS:
            await self.racp.send(build_number_of_records_response(len(selected)))
        else:
            await self._report(selected)

    def _select(self, request: RacpRequest) -> tuple[int, ...] | ResponseCode:
        """The sequence numbers a request selects, or the response code refusing it."""
        if request.operator == Operator.NULL or request.operator > max(Operator):
            return ResponseCode.INVALID_OPERATOR
        if request.filter_type is not None and request.sequence_numbers is None:
            return ResponseCode.OPERAND_NOT_SUPPORTED  # e.g. the user facing time filter
        numbers = request.sequence_numbers or ()
        if request.trailing_bytes or (len(numbers) == 2 and numbers[0] > numbers[1]):
            return ResponseCode.INVALID_OPERAND
        if self.behaviour.keeps_records:
            return tuple(sorted(self.records))  # a meter that ignores the filter
        return request.select(self.records)

    async def _report(self, selected: tuple[int, ...]) -> None:
        if not selected:
            await self._respond(OpCode.REPORT_STORED_RECORDS, ResponseCode.NO_RECORDS_FOUND)
            self._delivered_all()
            return
        b = self.behaviour
        if b.garbage_first:
            await self._notify(self.measurement, GARBAGE)
        for number in selected:
            if not self.racp.notifying or (
                b.drop_after is not None and self._sent_this_connection >= b.drop_after
            ):
                return  # a dropped link: nothing more, not even the response code
            if b.send_interval_s:
                await asyncio.sleep(b.send_interval_s)
            record = self.records[number]
            self.sent_at.append(time.time())
            if await self._notify(self.measurement, record.measurement):
                self._sent_this_connection += 1
            if record.context is not None:
                await self._notify(self.context, record.context)
        await self._respond(OpCode.REPORT_STORED_RECORDS, ResponseCode.SUCCESS)
        self._delivered_all()

    async def _notify(self, channel: GattCharacteristic, value: bytes) -> bool:
        sent = await channel.send(value)
        if sent and value != GARBAGE:
            self.delivered.append(value)
        await asyncio.sleep(CONNECTION_EVENT_S)
        return sent

    def _delivered_all(self) -> None:
        """A hub has asked for what it wants: nothing new to advertise until the next test."""
        self.pending.clear()
        self._news = False

    async def _respond(self, request_op_code: int, code: ResponseCode) -> None:
        await self.racp.send(build_response_code(request_op_code, code))

    async def stop(self) -> None:
        if self._procedure is not None:
            self._procedure.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._procedure
        await super().stop()
