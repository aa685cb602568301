"""The hub's health report (issue 15), pure and hub side: the facts made a report the centre
always takes (a table), what the centre's reader refuses (hostile values), the rule that holds
back a new report while one waits, the interval setting, and the report in the outbox's
routine lane behind an urgent reading. The centre's side: tests/test_hub_health_centre.py;
through the real daemon, broker and centre: tests/test_hub_health_end_to_end.py."""

from __future__ import annotations

import json
import math
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from hub.config import SyncSettings
from hub.core.canonical import canonical_json
from hub.core.health import (
    CHARACTERISTIC,
    HEALTH_EVERY,
    KIND,
    MOST_DEVICES,
    HealthFacts,
    HealthUnreadable,
    health_report,
    read_health,
    report_due,
    to_health_reading,
)
from hub.core.reading import ROUTINE, URGENT, KnownDevice
from hub.health_facts import disk_space, gather, software_version
from hub.store import ReadingStore
from hub.wire.sealing import ItemSealer
from tests.test_delivery_model import new_reading
from tests.test_envelope import CENTRE

AT = "2026-12-03T09:00:00.000+00:00"
LATER = "2026-12-03T15:00:00.000+00:00"
LAST = "2026-12-03T21:00:00.000+00:00"
CUFF = KnownDevice(
    "00:BB:00:00:00:02",
    "blood_pressure",
    "Cuff",
    "2026-12-01T08:00:00+00:00",
    True,
    last_connected_at="2026-12-03T07:00:00.123+00:00",
    clock_set_at="2026-12-03T07:00:01+00:00",
    battery_level=80,
)
FACTS = HealthFacts(
    software_version="0.1.0",
    uptime_s=3600.7,
    disk_free_bytes=10 << 30,
    disk_total_bytes=32 << 30,
    clock_synced=True,
    clock_offset_s=-0.25,
    outbox_pending=3,
    outbox_alarm=None,
    devices=(CUFF,),
)


def device(n: int, **changes: Any) -> KnownDevice:
    return replace(CUFF, address=f"00:BB:00:00:00:{n:02X}", **changes)


def report_of(facts: HealthFacts) -> dict[str, Any]:
    return health_report(facts).model_dump(mode="json")


# --- facts -> report: a table -----------------------------------------------------------------

CASES: list[tuple[str, HealthFacts, dict[str, Any]]] = [
    (
        "as gathered",
        FACTS,
        {
            "software_version": "0.1.0",
            "uptime_s": 3600,
            "disk_free_bytes": 10 << 30,
            "disk_total_bytes": 32 << 30,
            "clock_synced": True,
            "clock_offset_s": -0.25,
            "outbox_pending": 3,
            "outbox_alarm": None,
        },
    ),
    ("no version", replace(FACTS, software_version=""), {"software_version": "unknown"}),
    (
        "a version with a line break, too long",
        replace(FACTS, software_version="1.0\n" + "x" * 60),
        {"software_version": "1.0" + "x" * 37},
    ),
    ("negative uptime", replace(FACTS, uptime_s=-5.0), {"uptime_s": 0}),
    ("uptime not a number", replace(FACTS, uptime_s=math.nan), {"uptime_s": 0}),
    (
        "disk not asked",
        replace(FACTS, disk_free_bytes=None, disk_total_bytes=None),
        {"disk_free_bytes": 0, "disk_total_bytes": 0},
    ),
    (
        "more free than total",
        replace(FACTS, disk_free_bytes=5, disk_total_bytes=4),
        {"disk_free_bytes": 4, "disk_total_bytes": 4},
    ),
    ("no ack yet", replace(FACTS, clock_offset_s=None), {"clock_offset_s": None}),
    ("offset infinite", replace(FACTS, clock_offset_s=math.inf), {"clock_offset_s": None}),
    ("offset absurd", replace(FACTS, clock_offset_s=2e9), {"clock_offset_s": None}),
    ("clock not synced", replace(FACTS, clock_synced=False), {"clock_synced": False}),
    ("near full", replace(FACTS, outbox_alarm="near_full"), {"outbox_alarm": "near_full"}),
    ("over budget", replace(FACTS, outbox_alarm="over_budget"), {"outbox_alarm": "over_budget"}),
    ("an alarm unknown", replace(FACTS, outbox_alarm="on_fire"), {"outbox_alarm": None}),
    ("pending beyond", replace(FACTS, outbox_pending=1 << 60), {"outbox_pending": 1 << 40}),
]


@pytest.mark.parametrize(("facts", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_the_facts_make_a_report_the_centre_takes(
    facts: HealthFacts, expected: dict[str, Any]
) -> None:
    report = report_of(facts)
    assert {name: report[name] for name in expected} == expected
    assert read_health(json.loads(canonical_json(report))) == health_report(facts)


DEVICE_CASES: list[tuple[str, KnownDevice, dict[str, Any] | None]] = [
    (
        "as the store holds it",
        CUFF,
        {
            "address": "00:BB:00:00:00:02",
            "profile": "blood_pressure",
            "name": "Cuff",
            "battery_level": 80,
            "last_connected_at": "2026-12-03T07:00:00.123+00:00",
            "clock_set_at": "2026-12-03T07:00:01+00:00",
        },
    ),
    ("lower-case address", replace(CUFF, address="00:bb:00:00:00:02"), {"address": CUFF.address}),
    ("never connected", replace(CUFF, last_connected_at=None), {"last_connected_at": None}),
    ("no battery read", replace(CUFF, battery_level=None), {"battery_level": None}),
    ("battery 0 %", replace(CUFF, battery_level=0), {"battery_level": 0}),
    ("battery over 100", replace(CUFF, battery_level=101), {"battery_level": None}),
    ("battery a flag", replace(CUFF, battery_level=True), {"battery_level": None}),
    ("no name", replace(CUFF, name=None), {"name": None}),
    ("a name of control bytes", replace(CUFF, name="\x00\x1b[2J"), {"name": "[2J"}),
    ("a long name", replace(CUFF, name="N" * 100), {"name": "N" * 64}),
    ("a lone surrogate", replace(CUFF, name="a\ud800b"), {"name": "a?b"}),
    ("no profile", replace(CUFF, profile=""), {"profile": "unknown"}),
    (
        "a stamp not a time",
        replace(CUFF, clock_set_at="2026-13-03T07:00:00Z"),
        {"clock_set_at": None},
    ),
    (
        "a stamp without zone",
        replace(CUFF, clock_set_at="2026-12-03T07:00:00"),
        {"clock_set_at": None},
    ),
    (
        "a stamp in year 1",
        replace(CUFF, clock_set_at="0001-01-01T00:00:00Z"),
        {"clock_set_at": None},
    ),
    ("not an address", replace(CUFF, address="hub-screen"), None),
]


@pytest.mark.parametrize(
    ("known", "expected"), [c[1:] for c in DEVICE_CASES], ids=[c[0] for c in DEVICE_CASES]
)
def test_each_device_is_reported_as_the_centre_takes_it(
    known: KnownDevice, expected: dict[str, Any] | None
) -> None:
    devices = report_of(replace(FACTS, devices=(known,)))["devices"]
    if expected is None:
        assert devices == []
        return
    (reported,) = devices
    assert {name: reported[name] for name in expected} == expected


def test_the_first_sixteen_devices_are_named_once_each() -> None:
    many = tuple(device(n) for n in range(20))
    report = health_report(replace(FACTS, devices=(CUFF, *many, device(2))))
    addresses = [d.address for d in report.devices]
    assert len(addresses) == MOST_DEVICES == len(set(addresses))
    assert addresses[0] == CUFF.address


# --- the item ---------------------------------------------------------------------------------


def test_the_report_is_a_routine_item_of_its_own_kind_once_per_moment() -> None:
    health = health_report(FACTS)
    item = to_health_reading(health, AT)
    assert (item.kind, item.characteristic, item.device_address) == (KIND, CHARACTERISTIC, "hub")
    assert item.priority == ROUTINE and item.outcome == "ok" and item.problems == ()
    assert item.measured_at == item.received_at == AT
    assert bytes.fromhex(item.raw_hex) == canonical_json(item.values)
    assert read_health(item.values) == health
    assert (item.hub_clock_synced, item.hub_clock_offset_s) == (True, -0.25)
    assert to_health_reading(health, AT).record_key == item.record_key
    assert to_health_reading(health, "2026-12-03T15:00:00.000+00:00").record_key != item.record_key


# --- what the centre's reader refuses ---------------------------------------------------------

GOOD = report_of(FACTS)
DEEP: dict[str, Any] = {}
_level = DEEP
for _ in range(200):
    _level["x"] = {}
    _level = _level["x"]


def _device(**changes: Any) -> dict[str, Any]:
    return {**GOOD["devices"][0], **changes}


def dev(**changes: Any) -> dict[str, Any]:
    """The good report with its one device changed."""
    return {**GOOD, "devices": [_device(**changes)]}


HOSTILE: list[tuple[str, object, str]] = [
    ("not an object", [GOOD], "the report"),
    ("nothing", {}, "software_version"),
    ("a field more", {**GOOD, "root_password": "x"}, "root_password"),
    ("nested deep", {**GOOD, "devices": [DEEP]}, "devices.0.address"),
    ("a nest as a field", {**GOOD, "uptime_s": DEEP}, "uptime_s"),
    ("uptime as text", {**GOOD, "uptime_s": "3600"}, "uptime_s"),
    ("uptime a float", {**GOOD, "uptime_s": 3600.5}, "uptime_s"),
    ("uptime a flag", {**GOOD, "uptime_s": True}, "uptime_s"),
    ("pending a flag", {**GOOD, "outbox_pending": False}, "outbox_pending"),
    ("synced as 1", {**GOOD, "clock_synced": 1}, "clock_synced"),
    ("offset NaN", {**GOOD, "clock_offset_s": math.nan}, "clock_offset_s"),
    ("offset infinite", {**GOOD, "clock_offset_s": -math.inf}, "clock_offset_s"),
    ("offset as text", {**GOOD, "clock_offset_s": "0.5"}, "clock_offset_s"),
    ("offset a flag", {**GOOD, "clock_offset_s": True}, "clock_offset_s"),
    ("disk negative", {**GOOD, "disk_free_bytes": -1}, "disk_free_bytes"),
    ("disk beyond", {**GOOD, "disk_total_bytes": 1 << 64}, "disk_total_bytes"),
    ("free beyond total", {**GOOD, "disk_free_bytes": GOOD["disk_total_bytes"] + 1}, "the report"),
    ("an alarm unknown", {**GOOD, "outbox_alarm": "on_fire"}, "outbox_alarm"),
    ("a huge version", {**GOOD, "software_version": "v" * 1_000_000}, "software_version"),
    ("a version with NUL", {**GOOD, "software_version": "1\x00"}, "software_version"),
    (
        "17 devices",
        {**GOOD, "devices": [_device(address=f"00:BB:00:00:00:{n:02X}") for n in range(17)]},
        "devices",
    ),
    ("a device twice", {**GOOD, "devices": [GOOD["devices"][0]] * 2}, "the report"),
    ("devices not a list", {**GOOD, "devices": {"0": GOOD["devices"][0]}}, "devices"),
    ("a device's field more", dev(**{"pin": "0000"}), "devices.0.pin"),
    ("an address of text", dev(**{"address": "'; DROP TABLE"}), "devices.0.address"),
    ("a battery of 101", dev(**{"battery_level": 101}), "devices.0.battery_level"),
    ("a battery a flag", dev(**{"battery_level": True}), "devices.0.battery_level"),
    ("a battery a float", dev(**{"battery_level": 50.0}), "devices.0.battery_level"),
    ("a huge name", dev(**{"name": "n" * 100_000}), "devices.0.name"),
    ("a name with NUL", dev(**{"name": "a\x00b"}), "devices.0.name"),
    ("month 13", dev(**{"clock_set_at": "2026-13-01T00:00:00Z"}), "devices.0.clock_set_at"),
    (
        "year 9999 behind UTC",
        dev(**{"clock_set_at": "9999-12-31T23:59:59-23:59"}),
        "devices.0.clock_set_at",
    ),
    (
        "a stamp with a line break",
        dev(**{"last_connected_at": "2026-12-01T00:00:00Z\n"}),
        "devices.0.last_connected_at",
    ),
]


@pytest.mark.parametrize(("values", "where"), [c[1:] for c in HOSTILE], ids=[c[0] for c in HOSTILE])
def test_what_the_centre_does_not_take_as_a_health_report(values: object, where: str) -> None:
    with pytest.raises(HealthUnreadable) as refused:
        read_health(values)
    words = str(refused.value)
    assert words.startswith(f"hub health {where}:"), words
    assert len(words) < 400  # the hub's own words are not repeated back at length


# --- when a report is made --------------------------------------------------------------------


def test_no_new_report_while_the_newest_waits_for_the_centre() -> None:
    assert report_due(newest_is_pending=False)
    assert not report_due(newest_is_pending=True)


def test_the_store_says_which_report_waits_and_drops_a_refused_one(tmp_path: Path) -> None:
    """The daemon makes no report while the newest waits (report_due). Acknowledged, it no
    longer waits; refused by the centre, it leaves the outbox (the next report replaces it),
    so it neither stops the reports nor counts as one of the patient's readings waiting. A
    refused measurement is kept, set aside."""
    store = ReadingStore(tmp_path / "hub.sqlite", sealer=ItemSealer("hub-0001", CENTRE.public))
    assert store.health_report_waiting() is None  # none made yet
    first = store.add(to_health_reading(health_report(FACTS), AT))
    measured = store.add(new_reading(1, urgent=False))
    assert first is not None and measured is not None
    assert store.health_report_waiting() == first  # a measurement after it changes nothing
    store.outbox(10, 1_000_000)  # sealed: still waiting
    assert store.health_report_waiting() == first
    store.settle([first, measured], [], measured, AT)
    assert store.health_report_waiting() is None and store.pending_count() == 0
    second = store.add(to_health_reading(health_report(FACTS), LATER))
    other = store.add(new_reading(2, urgent=False))
    assert second is not None and other is not None
    store.outbox(10, 1_000_000)
    store.settle([], [], measured, LATER, refused=[second, other])
    assert store.health_report_waiting() is None
    assert store.pending_count() == 1  # the measurement, set aside; not the report
    third = store.add(to_health_reading(health_report(FACTS), LAST))
    assert third is not None and store.health_report_waiting() == third
    store.outbox(10, 1_000_000)
    store.settle([third], [], third, LAST)
    assert store.health_report_waiting() is None and store.pending_count() == 1
    store.close()


def test_the_interval_setting_defaults_to_six_hours_and_is_bounded() -> None:
    assert SyncSettings().health_every_s == HEALTH_EVERY.total_seconds()
    assert SyncSettings(health_every_s=1).health_every_s == 1
    assert SyncSettings(health_every_s=0).health_every_s == 0  # never: a bench
    for wrong in (0.5, -1, 8 * 86400):
        with pytest.raises(ValidationError, match="health_every_s"):
            SyncSettings(health_every_s=wrong)


def test_the_shell_gathers_what_it_can(tmp_path: Path) -> None:
    free, total = disk_space(tmp_path)
    assert free is not None and total is not None and 0 < free <= total
    assert disk_space(tmp_path / "gone") == (None, None)
    assert software_version() not in ("", None)
    facts = gather(
        started=0.0,
        state_dir=tmp_path,
        clock_source="assume_unsynchronised",
        clock_offset_s=None,
        outbox_pending=0,
        outbox_alarm=None,
        devices=[CUFF],
    )
    report = health_report(facts)
    assert report.uptime_s > 0 and report.clock_synced is False
    assert [d.address for d in report.devices] == [CUFF.address]


# --- in the outbox ----------------------------------------------------------------------------


def test_a_report_waits_in_the_routine_lane_behind_an_urgent_reading(tmp_path: Path) -> None:
    """The report never goes before a patient's urgent reading: the outbox gives urgent items
    first, whatever their number, and a batch of one item holds the urgent one."""
    store = ReadingStore(tmp_path / "hub.sqlite", sealer=ItemSealer("hub-0001", CENTRE.public))
    health_seq = store.add(to_health_reading(health_report(FACTS), AT))
    urgent_seq = store.add(new_reading(1, urgent=True))
    assert health_seq is not None and urgent_seq is not None and health_seq < urgent_seq
    items, more = store.outbox(10, 1_000_000)
    assert [(i.seq, i.priority) for i in items] == [(urgent_seq, URGENT), (health_seq, ROUTINE)]
    (first,), more = store.outbox(1, 1_000_000)
    assert first.seq == urgent_seq and more
    # Stored once per moment: the same report again takes no number.
    assert store.add(to_health_reading(health_report(FACTS), AT)) is None
    store.close()


# --- whatever the facts, a report the centre takes ----------------------------------------------

_texts = st.text(st.characters(codec=None, exclude_categories=()), max_size=120) | st.none()
_numbers = st.floats(allow_nan=True, allow_infinity=True) | st.integers(-(1 << 70), 1 << 70)
_known = st.builds(
    KnownDevice,
    address=st.from_regex(r"[0-9A-Fa-f]{2}(:[0-9A-Fa-f]{2}){5}", fullmatch=True) | st.text(),
    profile=st.text(max_size=80),
    name=_texts,
    paired_at=st.just(AT),
    bonded=st.booleans(),
    last_connected_at=_texts | st.datetimes(timezones=st.just(UTC)).map(datetime.isoformat),
    clock_set_at=_texts,
    battery_level=st.integers(-(1 << 40), 1 << 40) | st.none() | st.booleans(),
)


@settings(max_examples=300, deadline=None)
@given(
    version=st.text(max_size=80),
    uptime=_numbers,
    free=st.integers(-(1 << 60), 1 << 60) | st.none(),
    total=st.integers(-(1 << 60), 1 << 60) | st.none(),
    offset=_numbers | st.none(),
    pending=st.integers(-(1 << 60), 1 << 70),
    alarm=_texts,
    devices=st.lists(_known, max_size=24),
)
def test_any_facts_make_a_report_the_centre_reads_back(
    version: str,
    uptime: float,
    free: int | None,
    total: int | None,
    offset: float | None,
    pending: int,
    alarm: str | None,
    devices: list[KnownDevice],
) -> None:
    facts = HealthFacts(version, uptime, free, total, True, offset, pending, alarm, devices)
    report = health_report(facts)
    item = to_health_reading(report, AT)
    assert read_health(json.loads(canonical_json(item.values))) == report
