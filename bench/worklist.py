"""The worklist and the patient page with many patients (issue 13, "Figures"): render times and
query plans on SQLite and PostgreSQL.

    .venv/bin/python bench/worklist.py [--patients 2000] [--days 90] [--runs 10] [--only sqlite]

For each database (SQLite, the embedded default, not ANALYZEd: the centre never runs ANALYZE on
it; PostgreSQL, Debian's server started for the run by testbed/postgres.py, ANALYZEd after the
load as autovacuum would) a fresh, migrated centre database gets `--patients` patients in teams
of 100, each with a hub and an open care episode, a care plan (blood pressure at 08:00 and
20:00, SpO2 at 08:00, limits on both) and `--days` days of readings, about five a day: the
scheduled ones (3 % skipped: missing), a weight and a temperature, now and then one at an odd
time; 4 % flagged, 1 % over the limit, 0.5 % failed, 60 % of those acknowledged, a few marked
invalid; one batch per hub and day. The rows go in with executemany, not through the ingest.

Then a nurse in every team signs in (password and TOTP code, Django's test client, the whole
middleware); the worklist of all patients ("/") with nothing kept is rendered `--cold-runs`
times (what `centre web`'s warm-up spares the first nurse); then the warm-up runs as `centre
web` runs it as it starts (centre/web/serve.py: every summary kept, then the process's
long-lived objects frozen out of the garbage collector's passes) and is timed; then the
worklist is rendered `--runs` times (after one warm-up page), `--arrivals` hubs delivering a
reading before each, and the patient page with 90 days (/patients/<id>/?days=90) for `--runs`
patients. Printed: p50
and p95 in ms per page and database, the number of queries, and EXPLAIN (SQLite: EXPLAIN QUERY
PLAN) of every query the pages run, with a full scan of a table of more than BIG_TABLE rows
marked "FULL SCAN". Goal (issue 13): p95 <= 300 ms, no query without an index.
"""

from __future__ import annotations

import argparse
import cProfile
import json
import math
import pstats
import random
import re
import secrets
import statistics
import tempfile
import time
import tracemalloc
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from testbed.centre_db import configure_django, fresh_database
from testbed.postgres import Postgres, PostgresAddress

configure_django()

from django.contrib.auth.models import User  # noqa: E402
from django.db import connection, transaction  # noqa: E402
from django.test import Client  # noqa: E402
from django.test.utils import CaptureQueriesContext  # noqa: E402
from django_otp.oath import totp  # noqa: E402
from django_otp.plugins.otp_totp.models import TOTPDevice  # noqa: E402

from centre.followup.models import Acknowledgement, ReadingMark, Review  # noqa: E402
from centre.people.models import CareEpisode, Municipality, Patient, Team  # noqa: E402
from centre.records.models import Document, Hub  # noqa: E402
from centre.web import serve  # noqa: E402
from centre.web.accounts import add_user  # noqa: E402
from centre.web.worklist_data import (  # noqa: E402
    REFRESH_AFTER,
    forget_summaries,
    refresh,
    warm_up,
)

OSLO = ZoneInfo("Europe/Oslo")
TEAM_SIZE = 100
NURSE = "bench"
PASSWORD = "correct horse battery staple"
BIG_TABLE = 10_000  # a full scan of a table with more rows than this is flagged
GOAL_MS = 300.0
PLAN = {
    "schedule": [
        {"kind": "blood_pressure", "times": ["08:00", "20:00"]},
        {"kind": "spo2", "times": ["08:00"]},
    ],
    "thresholds": {
        "blood_pressure": {"systolic": {"max": 180}, "diastolic": {"max": 110}},
        "spo2": {"spo2": {"min": 90}},
    },
}
# (kind, local hour, minute): a day's readings, the first three the scheduled ones.
DAY = (("blood_pressure", 8, 0), ("spo2", 8, 5), ("weight", 7, 45), ("blood_pressure", 20, 0))
READING_COLUMNS = (
    "id",
    "hub_id",
    "seq",
    "kind",
    "characteristic",
    "device_address",
    "device_time",
    "measured_at",
    "time_source",
    "clock_correction_s",
    "hub_clock_synced",
    "hub_clock_offset_s",
    "received_at",
    "outcome",
    "problems_json",
    "raw_hex",
    "values_json",
    "batch_id",
    "stored_at",
    "content_digest",
)


@dataclass(frozen=True)
class Figures:
    label: str
    times_ms: list[float]  # wall clock
    cpu_ms: list[float]  # this process's CPU (the machine may be busy with other work)
    queries: list[str]


def _insert(table: str, columns: Sequence[str], rows: list[tuple[Any, ...]]) -> None:
    names = ", ".join(columns)
    marks = ", ".join(["%s"] * len(columns))
    with connection.cursor() as cursor:
        for first in range(0, len(rows), 20_000):
            cursor.executemany(
                f"INSERT INTO {table} ({names}) VALUES ({marks})", rows[first : first + 20_000]
            )


def _at(value: datetime) -> Any:
    """A time as the backend stores it (SQLite: text in UTC; PostgreSQL: the datetime)."""
    return connection.ops.adapt_datetimefield_value(value)


def _values(kind: str, rng: random.Random, red: bool) -> dict[str, Any]:
    if kind == "blood_pressure":
        systolic = rng.randint(185, 200) if red else rng.randint(110, 160)
        return {"systolic": systolic, "diastolic": rng.randint(60, 95), "pulse_rate": 70}
    if kind == "spo2":
        return {"spo2": rng.randint(80, 88) if red else rng.randint(92, 99), "pulse_rate": 72}
    if kind == "weight":
        return {"weight": round(rng.uniform(60, 90), 1)}
    return {"temperature": round(rng.uniform(36.2, 37.5), 1)}


def build(patients: int, days: int, now: datetime) -> list[int]:
    """The centre's data (see the module's text); returns the patients' ids."""
    rng = random.Random(13)
    started = now - timedelta(days=days + 10)
    place = Municipality.objects.create(name="Bench", number="9999")
    teams = Team.objects.bulk_create(
        Team(name=f"Team {n:03d}", municipality=place)
        for n in range((patients + TEAM_SIZE - 1) // TEAM_SIZE)
    )
    add_user(NURSE, "nurse", [t.name for t in teams], PASSWORD, "Bench Nurse")
    nurse = User.objects.get(username=NURSE)
    people = Patient.objects.bulk_create(
        Patient(
            name=f"Patient {n:05d}",
            birth_date=date(1940, 1, 1) + timedelta(days=n % 9000),
            national_id=f"{n:011d}",
            diagnosis="copd",
            team=teams[n // TEAM_SIZE],
        )
        for n in range(patients)
    )
    hubs = [f"hub-bench-{n:05d}" for n in range(patients)]
    Hub.objects.bulk_create(Hub(hub_id=h, signing_key="k", enrolled_at=started) for h in hubs)
    CareEpisode.objects.bulk_create(
        CareEpisode(patient=p, hub_id=h, started=started) for p, h in zip(people, hubs, strict=True)
    )
    Document.objects.bulk_create(
        Document(
            hub_id=h,
            doc_type="care_plan",
            version=1,
            issued_at=started,
            content_json=json.dumps(PLAN),
        )
        for h in hubs
    )
    readings: list[tuple[Any, ...]] = []
    batches: list[tuple[Any, ...]] = []
    acks: list[tuple[Any, ...]] = []
    marks: list[tuple[Any, ...]] = []
    today = now.astimezone(OSLO).date()
    for person, hub in zip(people, hubs, strict=True):
        seq = 0
        for back in range(days, -1, -1):
            day = today - timedelta(days=back)
            batch = f"{hub}-{day.isoformat()}"
            stored = None
            for kind, hour, minute in _day(rng):
                local = datetime(day.year, day.month, day.day, hour, minute, tzinfo=OSLO)
                measured = local.astimezone(UTC) + timedelta(minutes=rng.randint(-20, 20))
                if measured > now:
                    continue
                seq += 1
                rid = len(readings) + 1
                roll = rng.random()
                red = roll < 0.01 and kind in ("blood_pressure", "spo2")
                outcome = "failed" if roll > 0.995 else "flagged" if roll > 0.955 else "ok"
                problems = ["body_movement_detected"] if outcome != "ok" else []
                stored = measured + timedelta(minutes=3)
                readings.append(
                    (
                        rid,
                        hub,
                        seq,
                        kind,
                        "2a35",
                        "00:11:22:33:44:55",
                        None,
                        _at(measured),
                        "device",
                        None,
                        True,
                        -0.25,
                        _at(measured + timedelta(minutes=2)),
                        outcome,
                        json.dumps(problems),
                        "00",
                        json.dumps(_values(kind, rng, red)),
                        batch,
                        _at(stored),
                        secrets.token_hex(32),
                    )
                )
                if (red or outcome != "ok") and back > 1 and rng.random() < 0.6:
                    acks.append((person.id, f"reading:{rid}", nurse.id, _at(stored), False))
                elif rng.random() < 0.002:
                    marks.append((rid, "cuff put on wrong", nurse.id, _at(stored)))
            if stored is not None:
                batches.append((hub, batch, _at(stored)))
    _insert("readings", READING_COLUMNS, readings)
    _insert("batches", ("hub_id", "batch_id", "stored_at"), batches)
    table = Acknowledgement._meta.db_table
    _insert(table, ("patient_id", "key", "by_id", "at", "with_receipt"), acks)
    _insert(ReadingMark._meta.db_table, ("reading_id", "reason", "by_id", "at"), marks)
    Review.objects.bulk_create(
        Review(patient=p, by=nurse, at=now - timedelta(hours=rng.randint(1, 200)))
        for p in people
        if rng.random() < 0.5
    )
    return [p.id for p in people]


def _day(rng: random.Random) -> Iterator[tuple[str, int, int]]:
    for kind, hour, minute in DAY:
        scheduled = kind != "weight"
        if scheduled and rng.random() < 0.03:
            continue  # not taken: missing
        yield kind, hour, minute
    yield "temperature", rng.randint(9, 18), rng.randint(0, 59)
    if rng.random() < 0.01:
        yield "blood_pressure", 13, 30  # far from 08:00 and 20:00: odd time


def signed_in() -> Client:
    client = Client()
    client.post("/login/", {"username": NURSE, "password": PASSWORD})
    device = TOTPDevice.objects.get(user__username=NURSE)
    code = totp(device.bin_key, step=device.step, t0=device.t0, digits=device.digits)
    response = client.post(
        "/login/code/", {"otp_token": f"{code:06d}", "otp_device": device.persistent_id}
    )
    if response.status_code != 302:
        raise SystemExit(f"the bench nurse could not sign in: {response.status_code}")
    return client


def timed(
    label: str,
    get: Callable[[int], str],
    client: Client,
    runs: int,
    profile: bool,
    before: Callable[[], None] = lambda: None,
) -> Figures:
    def one(n: int) -> tuple[float, float]:
        before()  # outside the clock
        start, cpu = time.perf_counter(), time.process_time()
        response = client.get(get(n))
        elapsed = (time.perf_counter() - start) * 1000, (time.process_time() - cpu) * 1000
        if response.status_code != 200:
            raise SystemExit(f"{label}: {get(n)} answered {response.status_code}")
        return elapsed

    one(0)  # warm-up: templates, translations, the connection, the kept summaries
    times = [one(n) for n in range(runs)]
    before()
    with CaptureQueriesContext(connection) as captured:
        client.get(get(0))
    # Now: the next request empties the connection's log, which captured_queries reads.
    queries = [q["sql"] for q in captured.captured_queries]
    if profile:
        profiler = cProfile.Profile()
        profiler.runcall(one, 0)
        print(f"--- profile of one {label} ---")
        pstats.Stats(profiler).sort_stats("cumulative").print_stats(30)
    return Figures(label, [t for t, _ in times], [c for _, c in times], queries)


class Arrivals:
    """New readings between two pages, as the ingest stores them: `count` patients' hubs each
    deliver one reading (1 in 10 over the limit) in a batch of their own."""

    def __init__(self, count: int, hubs: Sequence[str]) -> None:
        self.count, self.hubs, self.rng = count, hubs, random.Random(7)
        with connection.cursor() as cursor:
            cursor.execute("SELECT MAX(id), MAX(seq) FROM readings")
            top, seq = cursor.fetchone()
        self.next_id, self.next_seq = int(top) + 1, int(seq) + 1_000_000

    def __call__(self) -> None:
        now = datetime.now(UTC)
        readings, batches = [], []
        for hub in self.rng.sample(list(self.hubs), self.count):
            batch = f"{hub}-{self.next_id}"
            red = self.rng.random() < 0.1
            readings.append(
                (
                    self.next_id,
                    hub,
                    self.next_seq,
                    "blood_pressure",
                    "2a35",
                    "00:11:22:33:44:55",
                    None,
                    _at(now - timedelta(minutes=2)),
                    "device",
                    None,
                    True,
                    -0.25,
                    _at(now - timedelta(minutes=1)),
                    "ok",
                    "[]",
                    "00",
                    json.dumps(_values("blood_pressure", self.rng, red)),
                    batch,
                    _at(now),
                    secrets.token_hex(32),
                )
            )
            batches.append((hub, batch, _at(now)))
            self.next_id += 1
            self.next_seq += 1
        with transaction.atomic():
            _insert("readings", READING_COLUMNS, readings)
            _insert("batches", ("hub_id", "batch_id", "stored_at"), batches)


def p95(values: Sequence[float]) -> float:
    """Nearest rank: the smallest value with at least 95 % of the values at or below it."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(0.95 * len(ordered)) - 1)]


def table_rows() -> dict[str, int]:
    counts = {}
    for table in connection.introspection.table_names():
        with connection.cursor() as cursor:
            cursor.execute(f'SELECT COUNT(*) FROM "{table}"')
            counts[table] = int(cursor.fetchone()[0])
    return counts


# SQLite's SCAN walks a whole table, or a whole index of it (SEARCH is a look-up).
_SQLITE_SCAN = re.compile(r"\bSCAN (\w+)")
_PG_SCAN = re.compile(r"Seq Scan on (\w+)")


def explain(sql: str, sizes: dict[str, int]) -> tuple[list[str], list[str]]:
    """The query's plan, and the big tables it reads in full."""
    sqlite = connection.vendor == "sqlite"
    with connection.cursor() as cursor:
        cursor.execute(("EXPLAIN QUERY PLAN " if sqlite else "EXPLAIN ") + sql)
        rows = cursor.fetchall()
    lines = [str(row[-1]) if sqlite else str(row[0]) for row in rows]
    pattern = _SQLITE_SCAN if sqlite else _PG_SCAN
    full = [
        f"{table} ({sizes[table]:,} rows)"
        for line in lines
        for table in pattern.findall(line)
        if sizes.get(table, 0) > BIG_TABLE
    ]
    return lines, full


def report(name: str, figures: Sequence[Figures], plans: bool) -> list[str]:
    sizes = table_rows()
    print(f"\n=== {name} ===")
    print("rows: " + ", ".join(f"{t} {n:,}" for t, n in sorted(sizes.items()) if n > BIG_TABLE))
    scans = []
    for fig in figures:
        verdict = "ok" if p95(fig.times_ms) <= GOAL_MS else "OVER THE GOAL"
        print(
            f"{fig.label}: p50 {statistics.median(fig.times_ms):.0f} ms, "
            f"p95 {p95(fig.times_ms):.0f} ms ({verdict}); this process's CPU p50 "
            f"{statistics.median(fig.cpu_ms):.0f} ms, p95 {p95(fig.cpu_ms):.0f} ms; "
            f"{len(fig.queries)} queries, {len(fig.times_ms)} runs"
        )
    for fig in figures:
        for n, sql in enumerate(fig.queries, 1):
            if not sql.lstrip().upper().startswith("SELECT"):
                if plans:
                    print(f"\n[{fig.label} #{n}] (not a SELECT) {sql[:160]}")
                continue
            lines, full = explain(sql, sizes)
            scans += [f"{name} {fig.label} #{n}: {table}" for table in full]
            if plans:
                print(f"\n[{fig.label} #{n}] {sql[:600]}{' ...' if len(sql) > 600 else ''}")
                for line in lines:
                    print(f"    {line}")
                for table in full:
                    print(f"    ^^^ FULL SCAN of {table}")
    return scans


def measure(name: str, kind: str, folder: Path, args: argparse.Namespace, pg: Any) -> list[str]:
    with fresh_database(kind, folder, pg):
        now = datetime.now(UTC)
        start = time.perf_counter()
        with transaction.atomic():  # one commit: SQLite syncs each one to the disk
            ids = build(args.patients, args.days, now)
        if kind == "postgres":
            with connection.cursor() as cursor:
                cursor.execute("ANALYZE")
        print(f"{name}: data built in {time.perf_counter() - start:.0f} s")
        client = signed_in()
        hubs = list(CareEpisode.objects.values_list("hub_id", flat=True))
        arrive = Arrivals(min(args.arrivals, len(hubs)), hubs) if args.arrivals else None
        cold = timed(
            "worklist, nothing kept (a process's first page)",
            lambda n: "/",
            client,
            args.cold_runs,
            args.profile,
            forget_summaries,
        )
        forget_summaries()
        tracemalloc.start()
        warm_up(datetime.now(UTC))
        held, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        print(
            f"{name}: the kept summaries of {len(ids)} patients hold {held / 1e6:.1f} MB "
            f"(tracemalloc; {peak / 1e6:.0f} MB at most while the warm-up computes them)"
        )
        # What `centre web` does as it starts, in a thread while it already serves: every
        # summary kept, then what the process holds for good left out of the collector's passes.
        forget_summaries()
        start = time.perf_counter()
        serve.warm_up()
        print(
            f"{name}: `centre web`'s warm-up kept every summary in "
            f"{time.perf_counter() - start:.1f} s (in a thread, while it already serves)"
        )
        figures = [
            timed(
                f"worklist, {args.arrivals} hubs delivered before each",
                lambda n: "/",
                client,
                args.runs,
                args.profile,
                arrive or (lambda: None),
            ),
            cold,
            timed(
                "patient page, 90 days",
                lambda n: f"/patients/{ids[(n * 7919) % len(ids)]}/?days=90",
                client,
                args.runs,
                args.profile,
            ),
        ]
        later = datetime.now(UTC) + REFRESH_AFTER + timedelta(seconds=1)
        cpu = time.process_time()
        refreshed = refresh(later, most=200)
        each = (time.process_time() - cpu) / max(refreshed, 1)
        print(
            f"{name}: `centre web`'s refresher computed {refreshed} summaries again, "
            f"{each * 1000:.1f} ms of CPU each: all {len(ids)} every "
            f"{REFRESH_AFTER.seconds // 60} minutes take "
            f"{len(ids) * each / REFRESH_AFTER.total_seconds():.1%} of a core"
        )
        assert User.objects.filter(username=NURSE).exists()
        return report(name, figures, not args.no_plans)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--patients", type=int, default=2000)
    parser.add_argument("--days", type=int, default=90)
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--cold-runs", type=int, default=3, help="pages with nothing kept")
    parser.add_argument(
        "--arrivals", type=int, default=20, help="hubs that deliver a reading before each page"
    )
    parser.add_argument("--only", choices=("sqlite", "postgres"))
    parser.add_argument("--no-plans", action="store_true", help="print no query plans")
    parser.add_argument("--profile", action="store_true", help="cProfile one render of each")
    args = parser.parse_args()
    scans: list[str] = []
    with tempfile.TemporaryDirectory(prefix="dho-bench-worklist-") as folder:
        if args.only != "postgres":
            scans += measure("SQLite", "sqlite", Path(folder), args, None)
        if args.only != "sqlite":
            server = Postgres()
            try:
                address: PostgresAddress = server.address
                scans += measure("PostgreSQL", "postgres", Path(folder), args, address)
            finally:
                server.stop()
    print(f"\n{args.patients} patients, {args.days} days; goal p95 <= {GOAL_MS:.0f} ms")
    print("full scans of big tables: " + ("; ".join(scans) if scans else "none"))


if __name__ == "__main__":
    main()
