"""What one batch of hub health reports costs the centre's store, next to as many readings.

    .venv/bin/python bench/health_batch.py [--reports 2000] [--sqlite-only]

A batch may hold 10 000 items (hub/wire/envelope.py MAX_ITEMS). Before the issue 15 review's
fix, store_batch took each health report in turn as its hub's newest health (a savepoint, an
upsert, a delete and a 16-row device insert each), inside the batch's one transaction: 2 000
reports naming 16 devices held the ingest worker 16-21 s on SQLite and 48 s on PostgreSQL
(the review's figures; 39 s and 71 s in its proof test on this machine with two runs side by
side), while other hubs' batches, urgent ones too, waited. Now every report is read and stored
as an item, and only the newest is written as the hub's health.

For each database (SQLite; PostgreSQL, Debian's server started for the run by
testbed/postgres.py, fsync on), a fresh centre stores N blood-pressure readings in one batch
for one hub, then N health reports of 16 devices each in one batch for another, timed by the
wall clock and by this process's CPU time (the machine is shared: the CPU figure leaves out
time others had the processor, and PostgreSQL's own work in its server). Prints both and the
ratio health / readings; the proof test (issue 15 review) asked for under 5x + 1 s.

Measured 2026-12-03 on the 2-core shared machine, 2 000 reports (wall, CPU of this process):
  before (the commit before ba0f745): SQLite 13.85 s (5.89 s CPU), 125x the readings' time;
                                      PostgreSQL 91.40 s (11.38 s CPU), 545x
  after:                              SQLite 0.88 s (0.27 s CPU), 4.1x;
                                      PostgreSQL 1.07 s (0.20 s CPU), 5.7x
"""

from __future__ import annotations

import argparse
import dataclasses
import secrets
import tempfile
import time
import uuid
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql

from centre.store import CentreStore
from hub.core.health import HealthFacts, health_report, to_health_reading
from hub.core.reading import KnownDevice
from testbed.postgres import Postgres

START = datetime(2026, 11, 1, tzinfo=UTC)
DEVICES = tuple(
    KnownDevice(
        f"00:BB:00:00:01:{n:02X}",
        "weight",
        f"Scale {n}",
        "2026-11-01T00:00:00+00:00",
        True,
        battery_level=n,
    )
    for n in range(16)
)
FACTS = HealthFacts("0.1.0", 3600.0, 10 << 30, 32 << 30, True, -0.25, 3, None, DEVICES)


def reading(seq: int) -> dict[str, Any]:
    return {
        "seq": seq,
        "kind": "blood_pressure",
        "characteristic": "2a35",
        "device_address": "00:BB:00:00:00:02",
        "device_time": None,
        "received_at": "2026-11-22T10:00:00.000+00:00",
        "raw_hex": f"{seq:08x}",
        "values": {"systolic": 120.0 + seq % 7},
        "measured_at": "2026-11-22T10:00:00+00:00",
        "time_source": "hub_received",
        "clock_correction_s": None,
        "hub_clock_synced": True,
        "hub_clock_offset_s": -0.25,
        "outcome": "ok",
        "problems": [],
    }


def health(seq: int) -> dict[str, Any]:
    at = (START + timedelta(seconds=seq)).isoformat(timespec="milliseconds")
    report = health_report(replace(FACTS, uptime_s=float(seq)))
    return to_health_reading(report, at).stored(seq, at).to_wire()


def timed(store: CentreStore, hub_id: str, items: list[dict[str, Any]]) -> tuple[float, float]:
    wall, cpu = time.perf_counter(), time.process_time()
    store.store_batch(hub_id, str(uuid.uuid4()), items)
    return time.perf_counter() - wall, time.process_time() - cpu


def measure(database: str, url: str, n: int) -> None:
    store = CentreStore(url, migrate=True)
    store.enrol("hub-0001", "key-text")
    store.enrol("hub-0002", "key-text")
    readings, reports = [reading(s) for s in range(1, n + 1)], [health(s) for s in range(1, n + 1)]
    plain = timed(store, "hub-0002", readings)
    hostile = timed(store, "hub-0001", reports)
    held = store.hub_health("hub-0001")
    assert held is not None and held["seq"] == n, "the newest report is the hub's health"
    store.close()
    print(
        f"{database + ',':<12}{n} readings {plain[0]:.2f} s ({plain[1]:.2f} s CPU); {n} health "
        f"reports {hostile[0]:.2f} s ({hostile[1]:.2f} s CPU); ratio {hostile[0] / plain[0]:.1f}x "
        f"wall, {hostile[1] / plain[1]:.1f}x CPU"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--reports", type=int, default=2000)
    parser.add_argument("--sqlite-only", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="dho-bench-health-") as folder:
        measure("SQLite", f"sqlite:///{Path(folder) / 'centre.sqlite'}", args.reports)
    if args.sqlite_only:
        return
    server = Postgres(durable=True)
    try:
        address = server.address
        name = f"bench_{secrets.token_hex(4)}"
        with psycopg.connect(address.url, autocommit=True) as conn:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        measure("PostgreSQL", dataclasses.replace(address, dbname=name).url, args.reports)
    finally:
        server.stop()


if __name__ == "__main__":
    main()
