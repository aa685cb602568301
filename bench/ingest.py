"""The centre's ingest, one worker: sealed, signed batches in, readings stored, acks signed out.

    .venv/bin/python bench/ingest.py [--readings 20000] [--batch 200]

For each database (SQLite, the embedded default; PostgreSQL, Debian's server started for the
run by testbed/postgres.py) a fresh centre database gets N readings from one hub in batches of
`--batch` items (the hub's default batch_max is 200), each through `Ingest.handle` exactly as
`centre serve` calls it for a message from the broker: header, HPKE open, signature, item
checks, the store's transaction, the signed ack. The batches are built before the clock starts.

Baseline, in the same run: the same items opened and checked (`open_batch`) without storing, to
show what the store's share is. Prints readings per second per database and the store's share,
and readings per second of this process's CPU time: on a shared, busy machine the wall clock
also counts the time others had the CPU, while the CPU figure leaves out what the worker waits
for (the disk's fsync at each commit; PostgreSQL's own work, in its server's processes).
Target (issue 13): >= 10 000 readings/s per worker on both databases, wall clock; the batch
size is the hub's default (sync.batch_max, 200), the size a draining hub sends.
"""

from __future__ import annotations

import argparse
import dataclasses
import secrets
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import psycopg
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
from psycopg import sql

from centre.ingest import Ingest
from centre.store import CentreStore
from hub.core.outbox import SealedItem, SealedSegment
from hub.wire.batch import batch_body, open_batch
from hub.wire.envelope import BatchHeader, seal_envelope
from hub.wire.public_keys import public_text
from hub.wire.sealing import ItemSealer
from hub.wire.suites import x25519_pair
from hub.wire.topics import batch_topic
from testbed.postgres import Postgres

HUB = "hub-bench-0001"
HUB_KEY = Ed25519PrivateKey.generate()
CENTRE = x25519_pair(X25519PrivateKey.generate())
CENTRE_SIGNING = Ed25519PrivateKey.generate()


def reading(seq: int) -> dict[str, Any]:
    minute = seq % 60
    return {
        "seq": seq,
        "kind": "blood_pressure",
        "characteristic": "2a35",
        "device_address": "00:BB:00:00:00:02",
        "device_time": None,
        "received_at": f"2026-11-22T10:{minute:02d}:00.{seq % 1000:03d}+00:00",
        "raw_hex": f"1e{seq:08x}0000",
        "values": {"systolic": 120.0 + seq % 40, "diastolic": 80.0, "pulse": 70.0},
        "measured_at": f"2026-11-22T10:{minute:02d}:00+00:00",
        "time_source": "device",
        "clock_correction_s": None,
        "hub_clock_synced": True,
        "hub_clock_offset_s": -0.25,
        "outcome": "ok",
        "problems": [],
    }


def batches(readings: int, size: int) -> list[bytes]:
    sealer = ItemSealer(HUB, CENTRE.public)
    out = []
    for first in range(1, readings + 1, size):
        items = [reading(seq) for seq in range(first, min(first + size, readings + 1))]
        sealed, segments = [], {}
        for item in items:
            segment, blob = sealer.seal(item["seq"], item)
            sealed.append(SealedItem(item["seq"], segment.segment_id, blob))
            segments[segment.segment_id] = segment.public()
        header = BatchHeader(
            hub_id=HUB,
            batch_id=str(uuid.uuid4()),
            seq_first=items[0]["seq"],
            seq_last=items[-1]["seq"],
            count=len(items),
            key_id=CENTRE.public.key_id,
            created_at="2026-11-22T11:00:00.000+00:00",
        )
        body = batch_body(sealed, list[SealedSegment](segments.values()))
        out.append(seal_envelope(header, body, HUB_KEY, CENTRE.public))
    return out


def timed_ingest(url: str, envelopes: list[bytes], readings: int) -> tuple[float, float]:
    store = CentreStore(url, migrate=True)
    store.enrol(HUB, public_text(HUB_KEY.public_key()))
    ingest = Ingest(store, {CENTRE.public.key_id: CENTRE}, CENTRE_SIGNING)
    topic = batch_topic(HUB)
    start, cpu = time.perf_counter(), time.process_time()
    for envelope in envelopes:
        if ingest.handle(topic, envelope) is None:
            raise SystemExit(f"a batch was refused: {store.rejections()[-1]['reason']}")
    elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu
    held = store.highest_contiguous(HUB)
    if held != readings:
        raise SystemExit(f"the centre holds 1..{held}, not 1..{readings}")
    store.close()
    return readings / elapsed, readings / cpu


def timed_open(envelopes: list[bytes], readings: int) -> tuple[float, float]:
    start, cpu = time.perf_counter(), time.process_time()
    for envelope in envelopes:
        open_batch(envelope, {CENTRE.public.key_id: CENTRE}, HUB_KEY.public_key())
    return readings / (time.perf_counter() - start), readings / (time.process_time() - cpu)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--readings", type=int, default=20_000)
    parser.add_argument("--batch", type=int, default=200)
    args = parser.parse_args()
    envelopes = batches(args.readings, args.batch)
    opened, opened_cpu = timed_open(envelopes, args.readings)
    print(f"baseline, open and check only: {opened:,.0f} readings/s  ({opened_cpu:,.0f}/s of CPU)")
    with tempfile.TemporaryDirectory(prefix="dho-bench-ingest-") as folder:
        url = f"sqlite:///{Path(folder) / 'centre.sqlite'}"
        rate, cpu = timed_ingest(url, envelopes, args.readings)
        print(
            f"SQLite:     {rate:,.0f} readings/s  (store's share {1 - rate / opened:.0%})"
            f"  ({cpu:,.0f}/s of CPU)"
        )
    server = Postgres()
    try:
        address = server.address
        name = f"bench_{secrets.token_hex(4)}"
        with psycopg.connect(address.url, autocommit=True) as conn:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        url = dataclasses.replace(address, dbname=name).url
        rate, cpu = timed_ingest(url, envelopes, args.readings)
        print(
            f"PostgreSQL: {rate:,.0f} readings/s  (store's share {1 - rate / opened:.0%})"
            f"  ({cpu:,.0f}/s of CPU)"
        )
    finally:
        server.stop()
    print(f"{args.readings} readings in batches of {args.batch}, one worker; target >= 10,000/s")


if __name__ == "__main__":
    main()
