"""The SIG drivers' decisions against a scripted GattLink (our own interface, not bleak's):
the order of clock, battery and subscriptions, quirks honoured, RACP requests, PLX sampling.
The same drivers run over bleak and BlueZoo in tests/test_device_*.py."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from hub.devices import racp
from hub.devices.battery import encode_battery_level
from hub.devices.ble.driver import SessionContext
from hub.devices.ble.drivers import DRIVERS, RacpFailed, set_clock
from hub.devices.current_time import encode_current_time, parse_current_time
from hub.devices.events import DeviceValue
from hub.devices.profiles import (
    BATTERY_LEVEL,
    CURRENT_TIME,
    DATE_TIME,
    PLX_CONTINUOUS,
    PLX_SPOT_CHECK,
    RECORD_ACCESS_CONTROL_POINT,
    sig_uuid,
)
from hub.devices.pulse_oximeter import build_plx_continuous
from hub.devices.quirks import DEFAULT, REGISTRY, Quirks, model_for, quirks_for

OSLO = ZoneInfo("Europe/Oslo")
BPM = sig_uuid(0x2A35)
GLUCOSE = sig_uuid(0x2A18)


class ScriptedLink:
    """A connected device whose characteristics and answers a test lays out."""

    address = "00:BB:00:00:00:02"

    def __init__(self, chars: dict[str, set[str]], reads: dict[str, bytes] | None = None) -> None:
        self.chars = chars
        self.reads = reads or {}
        self.log: list[tuple[str, str]] = []
        self.handlers: dict[str, Callable[[bytes], None]] = {}
        self.on_write: Callable[[str, bytes], None] = lambda uuid, data: None

    def has(self, uuid: str) -> bool:
        return uuid in self.chars

    def can(self, uuid: str, prop: str) -> bool:
        return prop in self.chars.get(uuid, set())

    async def read(self, uuid: str) -> bytes:
        self.log.append(("read", uuid))
        return self.reads[uuid]

    async def write(self, uuid: str, data: bytes) -> None:
        self.log.append(("write", uuid))
        self.written = data
        self.on_write(uuid, data)

    async def subscribe(self, uuid: str, on_value: Callable[[bytes], None]) -> None:
        self.log.append(("subscribe", uuid))
        self.handlers[uuid] = on_value

    async def pair(self) -> None:
        self.log.append(("pair", ""))


def context(
    quirks: Quirks = DEFAULT, *, synced: bool = True, last: int | None = None, quiet_s: float = 0.2
) -> tuple[SessionContext, list[DeviceValue]]:
    values: list[DeviceValue] = []
    ctx = SessionContext(
        "00:BB:00:00:00:02",
        quirks,
        OSLO,
        hub_clock_synced=synced,
        emit=values.append,
        last_record_number=last,
        quiet_s=quiet_s,
        max_s=5.0,
        disconnected=asyncio.Event(),
    )
    return ctx, values


CUFF_CHARS = {
    BPM: {"indicate"},
    CURRENT_TIME: {"read", "write", "notify"},
    BATTERY_LEVEL: {"read"},
}


async def test_cuff_session_sets_the_clock_first_then_battery_then_subscribes() -> None:
    device_now = datetime.now(OSLO).replace(tzinfo=None) - timedelta(hours=3)
    link = ScriptedLink(
        CUFF_CHARS,
        {CURRENT_TIME: encode_current_time(device_now), BATTERY_LEVEL: encode_battery_level(40)},
    )
    ctx, _ = context()
    await DRIVERS["blood_pressure"].run(link, ctx)
    assert link.log == [
        ("read", CURRENT_TIME),
        ("write", CURRENT_TIME),
        ("read", BATTERY_LEVEL),
        ("subscribe", BPM),
    ]
    assert ctx.clock.clock_written and ctx.battery_level == 40
    assert ctx.clock.offset is not None
    assert abs(ctx.clock.offset - timedelta(hours=3)) < timedelta(seconds=5)
    written = parse_current_time(link.written)
    assert written.adjust_reason == ("manual_time_update",)
    assert written.timestamp is not None
    assert abs(written.timestamp - datetime.now(OSLO).replace(tzinfo=None)) < timedelta(seconds=5)


async def test_unsynchronised_hub_leaves_the_device_clock_alone() -> None:
    link = ScriptedLink(CUFF_CHARS, {BATTERY_LEVEL: encode_battery_level(40)})
    ctx, _ = context(synced=False)
    assert await set_clock(link, ctx) is False
    assert ("write", CURRENT_TIME) not in link.log and ctx.clock.offset is None


async def test_quirk_never_write_clock() -> None:
    link = ScriptedLink(CUFF_CHARS)
    ctx, _ = context(Quirks(clock_write="never"))
    assert await set_clock(link, ctx) is False and link.log == []


async def test_write_only_date_time_is_written_without_an_offset() -> None:
    link = ScriptedLink({BPM: {"indicate"}, DATE_TIME: {"write"}})
    ctx, _ = context(Quirks(time_write_deadline_s=0.1))
    assert await set_clock(link, ctx) is True
    assert link.log == [("write", DATE_TIME)] and len(link.written) == 7
    assert ctx.clock.offset is None and ctx.clock.clock_written


async def test_omron_quirk_waits_for_the_cuffs_own_time_notification() -> None:
    link = ScriptedLink(CUFF_CHARS, {CURRENT_TIME: encode_current_time(datetime(2026, 1, 1))})
    ctx, _ = context(Quirks(clock_write="after_time_notification"))
    task = asyncio.create_task(set_clock(link, ctx))
    await asyncio.sleep(0.1)
    assert link.log == [("subscribe", CURRENT_TIME)]  # waiting, not writing yet
    link.handlers[CURRENT_TIME](encode_current_time(datetime(2026, 1, 1)))
    assert await task is True
    assert link.log[-1] == ("write", CURRENT_TIME)


async def test_deadline_missed_is_logged(caplog: pytest.LogCaptureFixture) -> None:
    link = ScriptedLink({BPM: {"indicate"}, DATE_TIME: {"write"}})
    ctx, _ = context(Quirks(time_write_deadline_s=0.1))
    await asyncio.sleep(0.15)  # the link took this long to come up
    await set_clock(link, ctx)
    assert "later than the model's 100 ms" in caplog.text


def racp_answering(
    link: ScriptedLink, answer: bytes, records: list[bytes], count: bytes | None = None
) -> None:
    """Answer a count request with ``count`` (default: the number of records), a report with
    the records and then ``answer``."""
    link.requests = []  # type: ignore[attr-defined]

    def on_write(uuid: str, data: bytes) -> None:
        if uuid != RECORD_ACCESS_CONTROL_POINT:
            return
        link.requests.append(data)  # type: ignore[attr-defined]
        if data[0] == racp.OpCode.REPORT_NUMBER_OF_STORED_RECORDS:
            reply = count or racp.build_number_of_records_response(len(records))
            link.handlers[RECORD_ACCESS_CONTROL_POINT](reply)
            return
        for record in records:
            link.handlers[GLUCOSE](record)
        link.handlers[RECORD_ACCESS_CONTROL_POINT](answer)

    link.on_write = on_write


GLUCOSE_CHARS = {
    GLUCOSE: {"notify"},
    sig_uuid(0x2A34): {"notify"},
    RECORD_ACCESS_CONTROL_POINT: {"write", "indicate"},
}


@pytest.mark.parametrize(
    ("last", "expected"),
    [
        (None, [racp.report_number_of_records(), racp.report_all()]),
        (41, [racp.report_number_of_records_newer_than(41), racp.report_newer_than(41)]),
    ],
)
async def test_glucose_driver_counts_then_asks_for_what_the_hub_has_not_stored(
    last: int | None, expected: list[bytes]
) -> None:
    link = ScriptedLink(GLUCOSE_CHARS)
    racp_answering(link, racp.build_response_code(1, racp.ResponseCode.SUCCESS), [b"\x01"])
    ctx, values = context(last=last)
    await DRIVERS["glucose"].run(link, ctx)
    assert link.requests == expected  # type: ignore[attr-defined]
    assert [v.characteristic for v in values] == [GLUCOSE]  # records stored as they came
    subscribed = [u for op, u in link.log if op == "subscribe"]
    assert subscribed == [GLUCOSE, sig_uuid(0x2A34), RECORD_ACCESS_CONTROL_POINT]


async def test_glucose_no_records_is_fine_an_error_is_not() -> None:
    link = ScriptedLink(GLUCOSE_CHARS)
    racp_answering(link, racp.build_response_code(1, racp.ResponseCode.NO_RECORDS_FOUND), [])
    ctx, values = context(last=7)
    await DRIVERS["glucose"].run(link, ctx)
    assert values == []
    assert len(link.requests) == 1  # type: ignore[attr-defined]  # counted 0: no report asked
    link = ScriptedLink(GLUCOSE_CHARS)
    racp_answering(
        link,
        racp.build_response_code(1, racp.ResponseCode.OPERATOR_NOT_SUPPORTED),
        [],
        count=racp.build_number_of_records_response(1),
    )
    with pytest.raises(RacpFailed, match="operator_not_supported"):
        await DRIVERS["glucose"].run(link, context()[0])


async def test_meter_that_will_not_count_is_still_asked_and_a_shortfall_is_logged(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO)
    link = ScriptedLink(GLUCOSE_CHARS)
    not_counting = racp.build_response_code(4, racp.ResponseCode.OP_CODE_NOT_SUPPORTED)
    racp_answering(
        link, racp.build_response_code(1, racp.ResponseCode.SUCCESS), [b"\x01"], count=not_counting
    )
    ctx, values = context()
    await DRIVERS["glucose"].run(link, ctx)
    assert len(values) == 1 and "does not count its records" in caplog.text
    link = ScriptedLink(GLUCOSE_CHARS)
    racp_answering(
        link,
        racp.build_response_code(1, racp.ResponseCode.SUCCESS),
        [b"\x01"],
        count=racp.build_number_of_records_response(3),
    )
    await DRIVERS["glucose"].run(link, context()[0])
    assert "promised 3 glucose records but sent 1" in caplog.text


async def test_continuous_oximeter_stores_one_reading_the_last_valid_sample() -> None:
    link = ScriptedLink({PLX_CONTINUOUS: {"notify"}})
    ctx, values = context(Quirks(continuous_window_s=0.5))
    task = asyncio.create_task(DRIVERS["pulse_oximeter"].run(link, ctx))
    await asyncio.sleep(0.05)
    from hub.devices.ieee11073 import SpecialValue

    samples = [
        build_plx_continuous(SpecialValue.NAN, SpecialValue.NAN),
        build_plx_continuous(95, 70),
        build_plx_continuous(96, 71),
        b"\x00",
    ]
    for sample in samples:
        link.handlers[PLX_CONTINUOUS](sample)
    await task
    assert [v.data for v in values] == [samples[2]]


async def test_spot_check_oximeter_is_subscribed_not_sampled() -> None:
    link = ScriptedLink({PLX_SPOT_CHECK: {"indicate"}, PLX_CONTINUOUS: {"notify"}})
    ctx, _ = context()
    await DRIVERS["pulse_oximeter"].run(link, ctx)
    assert [u for op, u in link.log if op == "subscribe"] == [PLX_SPOT_CHECK]


def test_quirks_registry_is_data_with_sources() -> None:
    prefixes = [rule.name_prefix for rule in REGISTRY]
    assert len(prefixes) == len(set(prefixes))
    assert all(rule.source and rule.model for rule in REGISTRY)
    assert quirks_for("BLESmart_0000021F28FFB2A1E8F6").clock_write == "after_time_notification"
    # Pairing mode advertises "BLEsmart_", transfer mode "BLESmart_": the same model.
    assert quirks_for("BLEsmart_0000021F") == quirks_for("BLESmart_0000021F")
    assert quirks_for("A&D_UA-651_1234").time_write_deadline_s == 0.1
    assert quirks_for("MightySat RX").spot_check_only
    assert quirks_for(None) is DEFAULT and quirks_for("unknown") is DEFAULT
    assert model_for("BF720-1234") == "Beurer BF720 scale"
