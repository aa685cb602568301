"""What the patient screen's `status`, asked every second, costs the hub daemon.

    .venv/bin/python bench/status_cost.py [--days 365] [--stream-days 14] [--window 60]

A store kept `--days` (10 spot readings a day of five kinds) plus `--stream-days` of a 1 Hz
pulse oximeter, all delivered (issue 12's "a year of readings"). Prints:

1. The store's answers to one `status` (latest of each kind, pending count, care plan version,
   messages, trends), asked as the screen asks them (`measured_since` one second later each
   time), against the plain queries of schema v8 in the same run (the baseline).
2. A real daemon with that store (centre and broker up, every part a real process): its CPU
   over `--window` seconds idle, then over `--window` seconds answering `status` every second,
   as hub/ui does; and its memory (RSS, PSS, USS: bench/memory.py). Target (issue 12): <= 0.2 %
   of a core with the screen open. The daemon runs with systemd/dho-hub.service's Environment=.
3. The import floor: a python that has imported what `hub run` imports, and nothing else.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from memory import memory, unit_environment

from hub import ipc
from hub.config import load_config
from hub.store import ReadingStore
from testbed.home import SimulatedHome

KINDS = ("blood_pressure", "weight", "temperature", "glucose", "questionnaire_response")
TREND_DAYS = 14
OLD_STATUS = {
    "latest": "SELECT seq FROM readings WHERE seq IN (SELECT max(seq) FROM readings GROUP BY kind)"
    " ORDER BY seq DESC",
    "pending": "SELECT (SELECT count(*) FROM outbox)"
    " + (SELECT count(*) FROM readings WHERE sealed = 0 AND synced_at IS NULL)",
    "held": "SELECT version FROM downlink WHERE doc_type = 'care_plan'",
    "messages": "SELECT version, text, issued_at, received_at, read_at FROM patient_messages"
    " ORDER BY version DESC LIMIT 20",
    "history": "SELECT seq FROM readings WHERE seq IN (SELECT max(seq) FROM readings"
    " WHERE measured_at >= :since AND outcome != 'failed'"
    " GROUP BY kind, substr(measured_at, 1, 13)) ORDER BY measured_at",
}


def iso(t: datetime) -> str:
    return t.isoformat(timespec="milliseconds")


def fill(db_path: Path, days: int, stream_days: float, now: datetime) -> int:
    """Readings as the daemon would have stored and delivered them, written in bulk."""
    store = ReadingStore(db_path)  # makes the schema
    store.db.execute("PRAGMA synchronous=OFF")  # set-up, not what is measured
    rows = []
    for day in range(days, 0, -1):
        for i in range(10):
            t = now - timedelta(days=day) + timedelta(hours=8 + i)
            rows.append((KINDS[i % len(KINDS)], t, '{"value": 1.0}'))
    start = now - timedelta(days=stream_days)
    for s in range(int(stream_days * 86400)):
        t = start + timedelta(seconds=s)
        rows.append(("spo2", t, '{"spo2": 97.0, "pulse_rate": 61.0}'))
    rows.sort(key=lambda r: r[1])
    with store._transaction("fill"):
        store.db.conn.executemany(
            "INSERT INTO readings (seq, kind, characteristic, device_address, device_time,"
            " received_at, raw_hex, values_json, stored_at, measured_at, synced_at, sealed)"
            " VALUES (?, ?, '00002a5f-0000-1000-8000-00805f9b34fb', '00:BB:00:00:00:05',"
            " NULL, ?, '00', ?, ?, ?, ?, 1)",
            (
                (seq, kind, iso(t), values, iso(t), iso(t), iso(t + timedelta(seconds=2)))
                for seq, (kind, t, values) in enumerate(rows, start=1)
            ),
        )
        store.db.execute("UPDATE hub_sequence SET last = ?", [len(rows)])
    store.close()
    return len(rows)


def store_cost(db_path: Path, now: datetime, asks: int) -> None:
    """Milliseconds per `status` in the store: the v8 queries against the store's methods."""
    store = ReadingStore(db_path, readonly=True)
    since = [iso(now - timedelta(days=TREND_DAYS) + timedelta(seconds=i)) for i in range(asks)]

    def old(since: str) -> None:
        for sql in OLD_STATUS.values():
            store.db.conn.execute(sql, {"since": since} if ":since" in sql else []).fetchall()

    def new(since: str) -> None:
        store.latest_per_kind()
        store.pending_count()
        store.held_version("care_plan")
        store.patient_messages()
        store.history(since)

    results = {}
    for name, ask in (("v8 queries", old), ("store now", new)):
        times = []
        for s in since:
            start = time.perf_counter()
            ask(s)
            times.append((time.perf_counter() - start) * 1000)
        results[name] = times
        print(
            f"  {name:<11} first {times[0]:8.2f} ms   then median"
            f" {statistics.median(times[1:]):8.3f}"
            f" ms per status (over {asks - 1} asks, each a second later)"
        )
    ratio = statistics.median(results["v8 queries"][1:]) / statistics.median(
        results["store now"][1:]
    )
    print(f"  ratio v8 / now (steady): {ratio:.0f}x")
    store.close()


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def daemon_cost(home: SimulatedHome, window: float) -> None:
    socket_path = load_config(home.hub_config).socket_path
    home.start_centre()
    os.environ.update(unit_environment())  # the daemon runs as systemd/dho-hub.service has it
    hub = home.start_hub()
    deadline = time.monotonic() + 60
    while not ipc.request_blocking(socket_path, "status", timeout=10)["broker_connected"]:
        if time.monotonic() > deadline:
            raise SystemExit("the hub did not connect to the broker")
        time.sleep(0.5)
    time.sleep(5)  # start-up work (sealing backlog, housekeeping) done

    before, start = cpu_seconds(hub.pid), time.monotonic()
    time.sleep(window)
    idle = (cpu_seconds(hub.pid) - before) / (time.monotonic() - start) * 100
    idle_memory = memory(hub.pid)

    size = 0
    before, start = cpu_seconds(hub.pid), time.monotonic()
    next_ask = start
    while time.monotonic() - start < window:
        answer = ipc.request_blocking(socket_path, "status", timeout=10)
        size = len(json.dumps(answer))
        next_ask += 1.0
        time.sleep(max(0.0, next_ask - time.monotonic()))
    polled = (cpu_seconds(hub.pid) - before) / (time.monotonic() - start) * 100
    print(f"  idle:                      {idle:6.3f} % of a core   {idle_memory}")
    print(
        f"  screen open (status 1/s):  {polled:6.3f} % of a core   {memory(hub.pid)}"
        f"   (answer {size / 1024:.0f} KiB; target <= 0.2 %)"
    )
    print(f"  status costs {polled - idle:+.3f} % of a core over idle")
    print(f"  environment from the unit: {unit_environment()}")


FLOOR = (
    "import os, sys\n"
    "sys.path.insert(0, {bench!r})\n"
    "from memory import memory\n"
    "before = memory(os.getpid())\n"
    "import hub.cli, hub.daemon\n"
    "print(before, '|', memory(os.getpid()))"
)


def import_floor() -> None:
    """A python that has imported what `hub run` imports, and nothing else."""
    code = FLOOR.format(bench=str(Path(__file__).resolve().parent))
    env = {**os.environ, **unit_environment()}
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env
    )
    bare, floor = out.stdout.strip().split(" | ")
    print(f"  python alone:                          {bare}")
    print(f"  python with `hub run`'s imports alone: {floor}")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument("--stream-days", type=float, default=14.0)
    parser.add_argument("--window", type=float, default=60.0, help="seconds measured, each")
    parser.add_argument("--asks", type=int, default=30, help="status asks in the store part")
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="dho-bench-", dir="/tmp"))
    home = SimulatedHome(workdir)
    os.environ.update(home.bluetooth.env)
    now = datetime.now(UTC)
    try:
        home.configure_hub(sync={"plaintext_days": args.days + 30})
        n = fill(load_config(home.hub_config).db_path, args.days, args.stream_days, now)
        print(
            f"store: {n} readings ({args.days} days of spot readings, {args.stream_days} of 1 Hz)"
        )
        print("1. the store's part of one status:")
        store_cost(load_config(home.hub_config).db_path, now, args.asks)
        print("2. the daemon:")
        daemon_cost(home, args.window)
        print("3. import floor:")
        import_floor()
    finally:
        home.stop()
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
