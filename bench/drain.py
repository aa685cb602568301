"""Draining a long outage: N buffered readings to the centre, with acknowledgements.

    .venv/bin/python bench/drain.py [--readings 100000]   (--readings 2000 for a quick check)

A simulated home (BlueZoo, Mosquitto with TLS and ACLs, centre, hub daemon; every part a real
process). The hub's store is filled with N sealed readings while the centre is down; then the
centre and the hub start, and the clock runs until the hub's outbox is empty (every reading
acknowledged) and the centre holds all N. Nothing asks the hub anything while it drains.

Baseline, in the same run and against the same broker: plain paho, over TLS with a hub
certificate, publishing the same number of messages of the same sizes at QoS 1 and waiting for
every PUBACK (no store, no crypto, no centre). Prints readings per second for both, the ratio,
and the hub daemon's memory as it starts and at its peak (RSS, PSS, USS: bench/memory.py). The
daemon runs with systemd/dho-hub.service's Environment= (MALLOC_ARENA_MAX).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import sqlite3
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from memory import Memory, PeakSampler, memory, peak_rss, unit_environment

from hub.config import load_config
from hub.core.outbox import OutboxItem
from hub.keys import load_signing_key
from hub.store import ReadingStore
from hub.wire.batch import build_batch
from hub.wire.topics import batch_topic
from testbed.home import SimulatedHome
from testbed.outage import fill_outbox
from testbed.processes import Process


def message_sizes(home: SimulatedHome, batch_max: int | None = None) -> list[int]:
    """The sizes of the batches the hub will send, cut by the same rules as its outbox (or, with
    `batch_max=1`, of one envelope per reading, as a hub without batching would send)."""
    config = load_config(home.hub_config)
    store = ReadingStore(config.db_path, readonly=True)
    rows = store.db.execute(
        "SELECT seq, segment_id, sealed, priority, stored_at FROM outbox ORDER BY priority, seq"
    ).fetchall()
    segments = store.segments({r[1] for r in rows})
    key = load_signing_key(config.signing_key_path)
    limit = batch_max or config.sync.batch_max
    sizes: list[int] = []
    batch: list[OutboxItem] = []
    size = 0
    for row in [*rows, None]:
        if (
            row is None
            or len(batch) >= limit
            or (batch and size + len(row[2]) > config.sync.batch_max_bytes)
        ):
            used = {item.segment_id for item in batch}
            _, envelope = build_batch(
                config.hub_id,
                batch,
                [s for s in segments if s.segment_id in used],
                key,
                config.centre.encryption,
                "2026-11-22T10:40:02.000+00:00",
            )
            sizes.append(len(envelope))
            batch, size = [], 0
        if row is not None:
            batch.append(OutboxItem(*row))
            size += len(row[2])
    store.close()
    return sizes


def baseline(home: SimulatedHome, sizes: list[int]) -> float:
    """Seconds for plain paho to publish messages of these sizes at QoS 1, all PUBACKed."""
    client = home.mqtt_client("hub-bench-baseline")
    done = threading.Event()
    # paho's message ids wrap at 65535: keep fewer than that outstanding.
    room = threading.Semaphore(1000)
    acked = 0

    def on_publish(*_: object) -> None:
        nonlocal acked
        acked += 1
        room.release()
        if acked == len(sizes):
            done.set()

    client.on_publish = on_publish
    client.loop_start()
    payloads = [os.urandom(size) for size in sizes]
    topic = batch_topic("hub-bench-baseline")
    start = time.perf_counter()
    for payload in payloads:
        room.acquire()
        client.publish(topic, payload, qos=1)
    if not done.wait(600):
        raise SystemExit(f"baseline: only {acked} of {len(sizes)} PUBACKs")
    elapsed = time.perf_counter() - start
    client.loop_stop()
    client.disconnect()
    return elapsed


@dataclass(frozen=True)
class Drained:
    seconds: float
    start: Memory  # as the hub answers (the drain starting)
    peak_rss: float  # the kernel's high-water mark
    peak_pss: float  # sampled every 0.5 s
    peak_uss: float


def wait_drained(home: SimulatedHome, n: int, hub: Process) -> float:
    """Seconds until the centre holds n readings and the hub's outbox is empty."""
    start = time.perf_counter()
    centre_db = home.centre_state / "centre.sqlite"
    hub_db = sqlite3.connect(f"file:{load_config(home.hub_config).db_path}?mode=ro", uri=True)
    held = 0
    while True:
        if held < n and centre_db.exists():
            db = sqlite3.connect(f"file:{centre_db}?mode=ro", uri=True)
            with contextlib.suppress(sqlite3.OperationalError):  # not made yet
                held = db.execute("SELECT count(*) FROM readings").fetchone()[0]
            db.close()
        if held >= n and hub_db.execute("SELECT 1 FROM outbox LIMIT 1").fetchone() is None:
            break
        hub.check_alive()
        if time.perf_counter() - start > 1800:
            raise SystemExit(f"drain: the centre holds {held} of {n} after 30 min")
        time.sleep(0.05)
    hub_db.close()
    return time.perf_counter() - start


def drain(home: SimulatedHome, n: int) -> Drained:
    """Seconds from the hub answering until everything is acknowledged, and the hub's memory
    (MiB): as it answers, and its peaks; its idle memory is bench/status_cost.py's.

    Watched without asking the hub anything (a `status` ten times a second was half its CPU):
    the centre's store is counted, then the hub's file is read, read-only, for an empty outbox
    (the hub deletes acknowledged items in the transaction that settles them, so this is
    after its COMMIT returned)."""
    home.start_centre()
    os.environ.update(unit_environment())  # the daemon runs as systemd/dho-hub.service has it
    hub = home.start_hub()
    first = memory(hub.pid)
    with PeakSampler(hub.pid) as sampler:
        elapsed = wait_drained(home, n, hub)
    drained = Drained(elapsed, first, peak_rss(hub.pid), sampler.pss, sampler.uss)
    centre_db = home.centre_state / "centre.sqlite"
    db = sqlite3.connect(centre_db)
    counts = db.execute("SELECT count(*), count(DISTINCT seq) FROM readings").fetchone()
    db.close()
    if counts != (n, n):
        raise SystemExit(f"the centre holds {counts[0]} rows ({counts[1]} distinct) of {n}")
    return drained


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--readings", type=int, default=100_000)
    args = parser.parse_args()
    n = args.readings
    workdir = Path(tempfile.mkdtemp(prefix="dho-bench-", dir="/tmp"))
    home = SimulatedHome(workdir)
    os.environ.update(home.bluetooth.env)
    try:
        fill_outbox(home.hub_config, n)
        sizes = message_sizes(home)
        base_s = baseline(home, sizes)
        single = message_sizes(home, batch_max=1)
        per_reading_s = baseline(home, single)
        drained = drain(home, n)
        hub_s = drained.seconds
    finally:
        home.stop()
        shutil.rmtree(workdir, ignore_errors=True)
    print(
        f"readings: {n}; the hub sent {len(sizes)} batches, mean "
        f"{sum(sizes) / len(sizes) / 1024:.1f} KiB; one reading alone is {single[0]} bytes"
    )
    for name, seconds in (
        ("A: paho, QoS 1, one message per reading", per_reading_s),
        ("B: paho, QoS 1, the hub's batch sizes", base_s),
        ("hub drain (outbox, sign, seal, centre stores, acks)", hub_s),
    ):
        print(f"{name:<52} {seconds:7.2f} s  {n / seconds:9.0f} readings/s")
    print(
        f"ratio hub / A: {per_reading_s / hub_s:.2f}   ratio hub / B: {base_s / hub_s:.2f}"
        "   (target >= 0.8)"
    )
    print(f"hub daemon as it starts:  {drained.start}")
    print(
        f"hub daemon peak in drain: RSS {drained.peak_rss:5.1f}  PSS {drained.peak_pss:5.1f}"
        f"  USS {drained.peak_uss:5.1f} MiB   (target RSS <= 55)"
    )
    print(f"environment from the unit: {unit_environment()}")


if __name__ == "__main__":
    main()
