"""One description of a reading (hub/core/reading.py READING_FIELDS): the hub store, the wire item
and the centre's table all follow it, so a field cannot be added in one place and missed in
another."""

from __future__ import annotations

import dataclasses
import sqlite3
from pathlib import Path

from centre.store import CentreStore
from hub import local_protocol
from hub.core.reading import READING_FIELDS, WIRE_FIELDS, StoredReading
from hub.store import ReadingStore
from hub.wire.batch import WireItem

READING = StoredReading(
    seq=7,
    kind="blood_pressure",
    characteristic="00002a35-0000-1000-8000-00805f9b34fb",
    device_address="00:BB:00:00:00:02",
    device_time="2026-12-01T10:00:00",
    received_at="2026-12-01T09:00:01.000+00:00",
    raw_hex="1e7d0050005b00",
    values={"systolic": 125.0, "diastolic": 80.0, "unit": "mmHg"},
    stored_at="2026-12-01T09:00:01.005+00:00",
    synced_at=None,
    measured_at="2026-12-01T09:00:00+00:00",
    time_source="device",
    clock_correction_s=None,
    hub_clock_synced=True,
    outcome="flagged",
    problems=("systolic_above_care_plan",),
    hub_clock_offset_s=-0.25,
)


def columns(path: Path, table: str) -> set[str]:
    with sqlite3.connect(path) as conn:
        return {row[1] for row in conn.execute(f"PRAGMA table_info({table})")}


def test_the_fields_are_the_reading_s_fields() -> None:
    names = [f.name for f in READING_FIELDS]
    assert sorted(names) == sorted(f.name for f in dataclasses.fields(StoredReading))
    assert len(set(names)) == len(names)


def test_a_reading_survives_its_columns_unchanged() -> None:
    assert StoredReading.from_columns(READING.to_columns()) == READING
    unsynced = dataclasses.replace(READING, problems=(), hub_clock_synced=False)
    assert StoredReading.from_columns(unsynced.to_columns()) == unsynced


def test_the_wire_item_is_the_reading_without_the_hub_s_bookkeeping() -> None:
    wire = READING.to_wire()
    assert set(wire) == {f.name for f in WIRE_FIELDS} == set(WireItem.model_fields)
    assert "stored_at" not in wire and "synced_at" not in wire
    assert WireItem.model_validate(wire).model_dump() == wire  # what the hub sends, taken


def test_both_stores_have_a_column_for_every_field(tmp_path: Path) -> None:
    hub = ReadingStore(tmp_path / "hub.sqlite")
    hub.close()
    assert {f.column for f in READING_FIELDS} <= columns(tmp_path / "hub.sqlite", "readings")
    CentreStore(tmp_path / "centre.sqlite", migrate=True).close()
    assert {f.column for f in WIRE_FIELDS} <= columns(tmp_path / "centre.sqlite", "readings")


def test_the_socket_contract_shows_the_reading_s_fields() -> None:
    """`hub readings` and the screen get the reading's own fields (hub/local_protocol.py)."""
    every = {f.name for f in READING_FIELDS} | {"synced"}
    assert set(local_protocol.StoredReading.model_fields) == every
    assert set(local_protocol.StatusReading.model_fields) <= every
    shown = local_protocol.StoredReading.model_validate(READING.to_json())
    assert shown.model_dump() == READING.to_json()
