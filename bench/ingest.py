"""The centre's ingest, one worker: sealed, signed batches in, readings stored, acks signed out.

    .venv/bin/python bench/ingest.py [--readings 20000] [--batch 200]

For each database (SQLite, the embedded default; PostgreSQL, Debian's server started for the
run by testbed/postgres.py, with the settings initdb gives a cluster: fsync on, 128 MB of
shared buffers) a new centre database gets N readings from one hub in batches of `--batch`
items (the hub's default batch_max is 200), each through the ingest as `centre serve` hands it
a message from the broker: header, HPKE open, signature, item checks, the store's transaction,
the signed ack. Before the clock starts, the batches are built and the centre is given as
many readings of another hub (`held_before`: a centre at work is not empty).

Each database is measured twice: one message at a time (`Ingest.handle`, a transaction and its
commit per batch: what a worker does when messages come one by one), and grouped, the path
`centre serve` takes for a backlog (a draining hub, many hubs): the messages already waiting,
up to GROUP_MESSAGES (10) and GROUP_READINGS (2 000) readings, through `Ingest.handle_group`,
one transaction and one commit per group (centre/serve.py). With batches of 200, a group is 10
batches.

Baseline, in the same run: the same items opened and checked (`open_batch`) without storing, to
show what the store's share is. Prints readings per second per database and the store's share,
and readings per second of this process's CPU time: on a shared, busy machine the wall clock
also counts the time others had the CPU, while the CPU figure leaves out what the worker waits
for (the disk's fsync at each commit; PostgreSQL's own work, in its server's processes).
Target (issue 13): >= 10 000 readings/s per worker on both databases, wall clock, for a
backlog (grouped); the batch size is the hub's default (sync.batch_max, 200), the size a
draining hub sends.
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

from centre.ingest import GROUP_MESSAGES, GROUP_READINGS, Ingest, Message, group_size, readings_in
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


def timed_ingest(
    url: str, envelopes: list[bytes], readings: int, *, grouped: bool
) -> tuple[float, float]:
    """Readings per second (wall clock, CPU) of `Ingest.handle` per message, or (`grouped`) of
    `Ingest.handle_group` on the groups `centre serve` makes of a backlog (group_size)."""
    store = CentreStore(url, migrate=True)
    store.enrol(HUB, public_text(HUB_KEY.public_key()))
    held_before(store, readings)
    ingest = Ingest(store, {CENTRE.public.key_id: CENTRE}, CENTRE_SIGNING)
    topic = batch_topic(HUB)
    messages = [Message(topic, envelope) for envelope in envelopes]
    counts = [readings_in(envelope) for envelope in envelopes]
    groups, start_at = [], 0
    while start_at < len(messages):
        size = group_size(counts[start_at:]) if grouped else 1
        groups.append(messages[start_at : start_at + size])
        start_at += size
    start, cpu = time.perf_counter(), time.process_time()
    for group in groups:
        if None in ingest.handle_group(group):
            raise SystemExit(f"a batch was refused: {store.rejections()[-1]['reason']}")
    elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu
    held = store.highest_contiguous(HUB)
    if held != readings:
        raise SystemExit(f"the centre holds 1..{held}, not 1..{readings}")
    store.close()
    return readings / elapsed, readings / cpu


def held_before(store: CentreStore, readings: int) -> None:
    """As many readings of another hub, stored before the clock starts: a centre at work holds
    readings already. (In an empty table PostgreSQL's planner takes a sequential scan for the
    look-ups of a batch's numbers and contents, cheaper while the table holds a few pages, and
    keeps it for the first group: 0.4 s of a 2 s run, once in a centre's life.)"""
    other = "hub-bench-0000"
    store.enrol(other, public_text(Ed25519PrivateKey.generate().public_key()))
    for first in range(1, readings + 1, GROUP_READINGS):
        items = [reading(seq) for seq in range(first, min(first + GROUP_READINGS, readings + 1))]
        store.store_batch(other, str(uuid.uuid4()), items)


def timed_open(envelopes: list[bytes], readings: int) -> tuple[float, float]:
    start, cpu = time.perf_counter(), time.process_time()
    for envelope in envelopes:
        open_batch(envelope, {CENTRE.public.key_id: CENTRE}, HUB_KEY.public_key())
    return readings / (time.perf_counter() - start), readings / (time.process_time() - cpu)


OPENED = [1.0]  # the baseline's readings per second, for the store's share


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--readings", type=int, default=20_000)
    parser.add_argument("--batch", type=int, default=200)
    args = parser.parse_args()
    envelopes = batches(args.readings, args.batch)
    opened, opened_cpu = timed_open(envelopes, args.readings)
    OPENED[0] = opened
    print(f"baseline, open and check only: {opened:,.0f} readings/s  ({opened_cpu:,.0f}/s of CPU)")
    with tempfile.TemporaryDirectory(prefix="dho-bench-ingest-") as folder:
        for grouped in (False, True):
            url = f"sqlite:///{Path(folder) / f'centre-{grouped}.sqlite'}"
            report("SQLite", grouped, *timed_ingest(url, envelopes, args.readings, grouped=grouped))
    server = Postgres(durable=True)
    try:
        address = server.address
        for grouped in (False, True):
            name = f"bench_{secrets.token_hex(4)}"
            with psycopg.connect(address.url, autocommit=True) as conn:
                conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
            url = dataclasses.replace(address, dbname=name).url
            rate, cpu = timed_ingest(url, envelopes, args.readings, grouped=grouped)
            report("PostgreSQL", grouped, rate, cpu)
    finally:
        server.stop()
    print(
        f"{args.readings} readings in batches of {args.batch}, one worker; grouped: up to "
        f"{GROUP_MESSAGES} messages and {GROUP_READINGS:,} readings per transaction, as `centre "
        "serve` takes a backlog; the centre held as many readings of another hub before; "
        "PostgreSQL as initdb configures it (fsync on); target >= 10,000/s"
    )


def report(database: str, grouped: bool, rate: float, cpu: float) -> None:
    how = "grouped:     " if grouped else "one by one:  "
    print(
        f"{database + ',':<12}{how}{rate:,.0f} readings/s  (store's share "
        f"{1 - rate / OPENED[0]:.0%})  ({cpu:,.0f}/s of CPU)"
    )


if __name__ == "__main__":
    main()
