"""Drivers for the Bluetooth SIG health profiles, one per profile, sharing the clock steps.

Every session: set the device clock first (some devices allow it only right after connecting),
read the battery level, subscribe to the measurements, then either wait until the device goes
quiet (it pushes its stored records) or, for glucose meters, download records through the Record
Access Control Point. The order and timings that differ per model come from ``ctx.quirks``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass
from datetime import datetime

from bleak.exc import BleakError

from hub.core.timing import ClockCheck, device_clock_offset
from hub.devices import racp
from hub.devices.battery import parse_battery_level
from hub.devices.ble.driver import Driver, GattLink, SessionContext, StaleBond
from hub.devices.current_time import encode_current_time, parse_current_time
from hub.devices.errors import ParseError
from hub.devices.gatt_time import encode_date_time, parse_date_time
from hub.devices.profiles import (
    BATTERY_LEVEL,
    BY_NAME,
    CURRENT_TIME,
    DATE_TIME,
    GLUCOSE,
    PLX_CONTINUOUS,
    PLX_SPOT_CHECK,
    RECORD_ACCESS_CONTROL_POINT,
    Profile,
    sig_uuid,
)
from hub.devices.pulse_oximeter import parse_plx_continuous

log = logging.getLogger(__name__)

RACP_TIMEOUT_S = 30.0
GLUCOSE_MEASUREMENT = sig_uuid(0x2A18)
TIME_NOTIFICATION_WAIT_S = 5.0
_ADJUST_REASON = ("manual_time_update",)


async def _read_device_clock(link: GattLink, uuid: str) -> bytes | None:
    if not link.can(uuid, "read"):
        return None
    try:
        return await link.read(uuid)
    except StaleBond:
        raise  # the session must end so the next one pairs afresh
    except BleakError as exc:
        log.info("%s: could not read its clock: %s", link.address, exc)
        return None


def _device_now(uuid: str, raw: bytes | None, address: str) -> datetime | None:
    if raw is None:
        return None
    try:
        if uuid == CURRENT_TIME:
            return parse_current_time(raw).timestamp
        return parse_date_time(raw)
    except ParseError as exc:
        log.warning("%s: unreadable clock value: %s", address, exc)
        return None


async def _wait_for_time_notification(link: GattLink, ctx: SessionContext) -> None:
    """Omron: the cuff notifies its Current Time and accepts a write only after that."""
    if not link.can(CURRENT_TIME, "notify"):
        return
    arrived = asyncio.Event()
    await link.subscribe(CURRENT_TIME, lambda _: arrived.set())
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(arrived.wait(), TIME_NOTIFICATION_WAIT_S)


async def set_clock(link: GattLink, ctx: SessionContext) -> bool:
    """Measure the device clock's error, then set it. Returns True when the clock was written.

    The error (before the write) corrects the stamps of records the device stored under its
    wrong clock; a hub that is itself unsynchronised neither measures nor writes.
    """
    quirks = ctx.quirks
    if quirks.clock_write == "never":
        return False
    uuid = next((u for u in (CURRENT_TIME, DATE_TIME) if link.can(u, "write")), None)
    if uuid is None:
        return False
    if not ctx.hub_clock_synced:
        log.warning("%s: hub clock not synchronised; leaving the device clock alone", link.address)
        return False
    if quirks.clock_write == "after_time_notification":
        await _wait_for_time_notification(link, ctx)
    device_now = _device_now(uuid, await _read_device_clock(link, uuid), link.address)
    now = ctx.hub_local_now()
    offset = device_clock_offset(device_now, now)
    ctx.clock = ClockCheck(offset=offset, clock_written=False)
    value = (
        encode_current_time(now, _ADJUST_REASON)
        if uuid == CURRENT_TIME
        else (encode_date_time(now.replace(microsecond=0)))
    )
    await link.write(uuid, value)
    ctx.clock = ClockCheck(offset=offset, clock_written=True, written_at=now)
    elapsed = asyncio.get_running_loop().time() - ctx.started
    deadline = quirks.time_write_deadline_s
    if deadline is not None and elapsed > deadline:
        log.warning(
            "%s: clock written %.0f ms after connecting, later than the model's %.0f ms",
            link.address,
            elapsed * 1000,
            deadline * 1000,
        )
    log.info(
        "%s: clock set to %s (%.0f ms after connecting; device was off by %s)",
        link.address,
        now.isoformat(timespec="seconds"),
        elapsed * 1000,
        offset or "<2 min",
    )
    return True


async def read_battery(link: GattLink, ctx: SessionContext) -> None:
    if not link.can(BATTERY_LEVEL, "read"):
        return
    try:
        ctx.battery_level = parse_battery_level(await link.read(BATTERY_LEVEL)).battery_level
    except StaleBond:
        raise
    except (BleakError, ParseError) as exc:
        log.info("%s: no battery level: %s", link.address, exc)


async def start_session(link: GattLink, ctx: SessionContext) -> bool:
    written = await set_clock(link, ctx)
    await read_battery(link, ctx)
    return written


async def _follow_progress(link: GattLink, ctx: SessionContext, uuid: str) -> None:
    """Subscribe to in-progress values; without them the screen only waits for the result, so
    no failure here may cost the measurement (a stale bond still ends the session)."""
    try:
        await link.subscribe(uuid, ctx.progress_receiver(uuid))
    except StaleBond:
        raise
    except (BleakError, TimeoutError, OSError, EOFError) as exc:
        log.info("%s: no progress values (%s): %s", link.address, uuid, exc)


@dataclass(frozen=True)
class PushProfileDriver:
    """Blood pressure, weight, body composition, thermometer: the device pushes its records."""

    profile: Profile

    async def run(self, link: GattLink, ctx: SessionContext) -> None:
        await start_session(link, ctx)
        subscribed = [u for u in self.profile.subscribe if link.has(u)]
        if not subscribed:
            raise BleakError(f"{link.address} offers none of {self.profile.title}'s measurements")
        # Progress first: a device may start measuring once its results are subscribed to.
        for uuid in self.profile.progress:
            if link.can(uuid, "notify"):
                await _follow_progress(link, ctx, uuid)
        for uuid in subscribed:
            await link.subscribe(uuid, ctx.receiver(uuid))
        await ctx.until_quiet()


@dataclass(frozen=True)
class PulseOximeterDriver:
    """Spot-check records are stored as sent. A continuous-only oximeter is sampled for
    ``continuous_window_s`` and its last valid sample is stored: one reading, not a stream."""

    async def run(self, link: GattLink, ctx: SessionContext) -> None:
        await start_session(link, ctx)
        if link.has(PLX_SPOT_CHECK) or ctx.quirks.spot_check_only:
            await link.subscribe(PLX_SPOT_CHECK, ctx.receiver(PLX_SPOT_CHECK))
            await ctx.until_quiet()
            return
        last_valid: list[bytes] = []

        def sample(data: bytes) -> None:
            ctx.touch()
            try:
                value = parse_plx_continuous(data)
            except ParseError as exc:
                log.warning("%s: unreadable continuous sample: %s", link.address, exc)
                return
            if isinstance(value.spo2, float) and isinstance(value.pulse_rate, float):
                last_valid[:] = [data]

        await link.subscribe(PLX_CONTINUOUS, sample)
        window = min(ctx.quirks.continuous_window_s, ctx.remaining_s())
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(ctx.until_disconnected(), window)
        if last_valid:
            ctx.emit(PLX_CONTINUOUS, last_valid[0])
        else:
            log.warning("%s: no valid SpO2 sample in %.0f s", link.address, window)


class RacpFailed(BleakError):
    """The meter answered the record request with an error or not at all."""


@dataclass(frozen=True)
class GlucoseDriver:
    """Download the records this hub has not stored yet through the RACP (0x2A52): ask how many
    there are, ask for them (all the first time, then those after the last stored sequence
    number), and check that as many arrived as the meter promised."""

    async def run(self, link: GattLink, ctx: SessionContext) -> None:
        await start_session(link, ctx)
        received = [0]

        def on_measurement(data: bytes) -> None:
            received[0] += 1
            ctx.emit(GLUCOSE_MEASUREMENT, data)

        for uuid in GLUCOSE.subscribe:
            if link.has(uuid):
                handler = on_measurement if uuid == GLUCOSE_MEASUREMENT else ctx.receiver(uuid)
                await link.subscribe(uuid, handler)
        if not link.has(RECORD_ACCESS_CONTROL_POINT):
            await ctx.until_quiet()  # a meter that pushes records by itself
            return
        responses: asyncio.Queue[racp.RacpResponse] = asyncio.Queue()

        def on_racp(data: bytes) -> None:
            ctx.touch()
            try:
                responses.put_nowait(racp.parse_racp_response(data))
            except ParseError as exc:
                log.warning("%s: unreadable RACP answer: %s", link.address, exc)

        await link.subscribe(RECORD_ACCESS_CONTROL_POINT, on_racp)
        last = ctx.last_record_number
        which = "(all)" if last is None else f"after #{last}"
        promised = await self._count(link, ctx, responses, last)
        if promised == 0:
            log.info("%s: no new glucose records %s", link.address, which)
            return
        log.info(
            "%s: asking for glucose records %s (%s promised)",
            link.address,
            which,
            "?" if promised is None else promised,
        )
        request = racp.report_all() if last is None else racp.report_newer_than(last)
        answer = await self._ask(link, ctx, responses, request)
        if answer.response_code == racp.ResponseCode.NO_RECORDS_FOUND:
            log.info("%s: no new glucose records", link.address)
            return
        if answer.response_code != racp.ResponseCode.SUCCESS:
            raise RacpFailed(
                f"{link.address}: record request answered "
                f"{racp.response_code_name(answer.response_code or 0)}"
            )
        # Notifications may trail the response on a busy link: collect them before leaving.
        await ctx.until_quiet()
        if promised is not None and received[0] < promised:
            log.warning(
                "%s: meter promised %d glucose records but sent %d",
                link.address,
                promised,
                received[0],
            )

    async def _count(
        self,
        link: GattLink,
        ctx: SessionContext,
        responses: asyncio.Queue[racp.RacpResponse],
        last: int | None,
    ) -> int | None:
        """How many records the meter holds for us; None if it will not say."""
        request = (
            racp.report_number_of_records()
            if last is None
            else racp.report_number_of_records_newer_than(last)
        )
        answer = await self._ask(link, ctx, responses, request)
        if answer.op_code == racp.OpCode.NUMBER_OF_STORED_RECORDS_RESPONSE:
            return answer.number_of_records
        if answer.response_code == racp.ResponseCode.NO_RECORDS_FOUND:
            return 0
        log.info(
            "%s: meter does not count its records (%s)",
            link.address,
            racp.response_code_name(answer.response_code or 0),
        )
        return None

    @staticmethod
    async def _ask(
        link: GattLink,
        ctx: SessionContext,
        responses: asyncio.Queue[racp.RacpResponse],
        request: bytes,
    ) -> racp.RacpResponse:
        """Write one RACP request and return the answer to it.

        Answers are matched to the request: a stale value (BlueZ may hand over the
        characteristic's last value when a new connection subscribes) is not taken for one.
        """
        while not responses.empty():
            responses.get_nowait()
        op_code = request[0]
        await link.write(RECORD_ACCESS_CONTROL_POINT, request)
        timeout = min(RACP_TIMEOUT_S, ctx.remaining_s())
        try:
            async with asyncio.timeout(timeout):
                while True:
                    answer = await responses.get()
                    if answer.request_op_code == op_code or (
                        op_code == racp.OpCode.REPORT_NUMBER_OF_STORED_RECORDS
                        and answer.op_code == racp.OpCode.NUMBER_OF_STORED_RECORDS_RESPONSE
                    ):
                        return answer
                    log.info(
                        "%s: ignoring RACP answer %s to another request",
                        ctx.address,
                        answer.to_json(),
                    )
        except TimeoutError:
            raise RacpFailed(
                f"{ctx.address}: no answer to the record request in {timeout:.0f} s"
            ) from None


DRIVERS: dict[str, Driver] = {
    "blood_pressure": PushProfileDriver(BY_NAME["blood_pressure"]),
    "weight_scale": PushProfileDriver(BY_NAME["weight_scale"]),
    "body_composition": PushProfileDriver(BY_NAME["body_composition"]),
    "thermometer": PushProfileDriver(BY_NAME["thermometer"]),
    "pulse_oximeter": PulseOximeterDriver(),
    "glucose": GlucoseDriver(),
}
