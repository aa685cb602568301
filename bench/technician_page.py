"""The technician's page with many hubs (issue 15): render times and queries on SQLite and
PostgreSQL.

    .venv/bin/python bench/technician_page.py [--hubs 2000] [--devices 3] [--runs 20]
        [--only sqlite]

For each database (SQLite, not ANALYZEd, as the centre runs it; PostgreSQL, Debian's server
started for the run by testbed/postgres.py, ANALYZEd after the load) a fresh, migrated centre
database gets `--hubs` hubs: 90 % at a patient's home (an open care episode, teams of 100 in
municipalities of 500 hubs), 10 % offline (half of them for more than a day), 2 % never heard
from, 1 % revoked; each with a newest health report (5 % with the clock not synchronised),
`--devices` devices each (3 % with a battery at or below BATTERY_LOW), and `--history` health
reports in the readings table. The rows go in with bulk_create, not through the ingest.

A technician signs in (password and TOTP code, Django's test client, the whole middleware);
then each page is fetched once to warm up and `--runs` times timed: the whole list's first
page (/technician/), the list "battery low", a text search, the last page of the whole list,
and a hub's own page. Printed: p50 and p95 wall-clock and this process's CPU time in ms, and
the number of queries of each page.
"""

from __future__ import annotations

import argparse
import cProfile
import json
import math
import pstats
import random
import statistics
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from testbed.centre_db import configure_django, fresh_database
from testbed.postgres import Postgres

configure_django()

from django.db import connection, transaction  # noqa: E402
from django.test import Client  # noqa: E402
from django.test.utils import CaptureQueriesContext  # noqa: E402
from django_otp.oath import totp  # noqa: E402
from django_otp.plugins.otp_totp.models import TOTPDevice  # noqa: E402

from centre.people.models import CareEpisode, Municipality, Patient, Team  # noqa: E402
from centre.records.models import Hub, HubDeviceHealth, HubHealthReport, Reading  # noqa: E402
from centre.web.accounts import add_user  # noqa: E402
from hub.core.health import BATTERY_LOW  # noqa: E402

TECHNICIAN = "bench-tech"
PASSWORD = "correct horse battery staple"
TEAM_SIZE, MUNICIPALITY_SIZE = 100, 500


@dataclass(frozen=True)
class Figures:
    label: str
    times_ms: list[float]  # wall clock
    cpu_ms: list[float]  # this process's CPU (the machine may be busy with other work)
    queries: int
    query_ms: float  # the database's time for the queries of one page (Django's measure)
    slowest: str
    size_kb: float


def p95(values: Sequence[float]) -> float:
    """Nearest rank: the smallest value with at least 95 % of the values at or below it."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(0.95 * len(ordered)) - 1)]


def health_values(rng: random.Random, devices: int, synced: bool) -> dict[str, Any]:
    return {
        "software_version": "1.4.2",
        "uptime_s": rng.randint(60, 30 * 86400),
        "disk_free_bytes": rng.randint(1, 20) << 30,
        "disk_total_bytes": 30 << 30,
        "clock_synced": synced,
        "clock_offset_s": round(rng.uniform(-2, 2), 2),
        "outbox_pending": rng.randint(0, 5),
        "outbox_alarm": None,
        "devices": [
            {"address": f"AA:BB:CC:DD:EE:{n:02X}", "profile": "blood_pressure", "battery_level": 80}
            for n in range(devices)
        ],
    }


def build(hubs: int, devices: int, history: int, now: datetime) -> list[str]:
    """The hubs, their homes, reports and devices; returns the hub ids."""
    rng = random.Random(15)
    places = [
        Municipality.objects.create(name=f"Kommune {n}", number=f"{1000 + n:04d}")
        for n in range(math.ceil(hubs / MUNICIPALITY_SIZE))
    ]
    teams = [
        Team.objects.create(
            name=f"Team {n}", municipality=places[n * TEAM_SIZE // MUNICIPALITY_SIZE]
        )
        for n in range(math.ceil(hubs / TEAM_SIZE))
    ]
    add_user(TECHNICIAN, "technician", [], PASSWORD, "Bench Tekniker")
    ids = [f"hub-bench-{n:05d}" for n in range(hubs)]
    rows = []
    for hub_id in ids:
        roll = rng.random()
        state = "never" if roll < 0.02 else "offline" if roll < 0.12 else "online"
        quiet = timedelta(days=2) if rng.random() < 0.5 else timedelta(hours=2)
        rows.append(
            Hub(
                hub_id=hub_id,
                signing_key="k",
                enrolled_at=now - timedelta(days=60),
                status_state=None if state == "never" else state,
                status_since=None if state == "never" else now - timedelta(days=7),
                status_at=None if state == "never" else now - timedelta(days=7),
                seen_at=None
                if state == "never"
                else now - (quiet if state == "offline" else timedelta(minutes=5)),
                revoked_at=now - timedelta(days=1) if rng.random() < 0.01 else None,
            )
        )
    Hub.objects.bulk_create(rows, batch_size=500)
    people = Patient.objects.bulk_create(
        (
            Patient(
                name=f"Pasient {n:05d}",
                birth_date=date(1940, 1, 1) + timedelta(days=n % 9000),
                national_id=f"{n:011d}",
                diagnosis="copd",
                team=teams[n // TEAM_SIZE],
            )
            for n in range(hubs)
            if n % 10
        ),
        batch_size=500,
    )
    at_home = [hub_id for n, hub_id in enumerate(ids) if n % 10]
    CareEpisode.objects.bulk_create(
        (
            CareEpisode(patient=p, hub_id=h, started=now - timedelta(days=30))
            for p, h in zip(people, at_home, strict=True)
        ),
        batch_size=500,
    )
    reports, kit, readings = [], [], []
    for hub_id in ids:
        synced = rng.random() >= 0.05
        reports.append(
            HubHealthReport(
                hub_id=hub_id,
                seq=history,
                at=now - timedelta(hours=1),
                stored_at=now - timedelta(minutes=50),
                software_version="1.4.2",
                uptime_s=rng.randint(60, 30 * 86400),
                disk_free_bytes=rng.randint(1, 20) << 30,
                disk_total_bytes=30 << 30,
                clock_synced=synced,
                clock_offset_s=round(rng.uniform(-2, 2), 2),
                outbox_pending=rng.randint(0, 5),
            )
        )
        for d in range(devices):
            low = rng.random() < 0.03
            kit.append(
                HubDeviceHealth(
                    hub_id=hub_id,
                    address=f"AA:BB:CC:DD:EE:{d:02X}",
                    profile="blood_pressure",
                    name=f"Device {d}",
                    battery_level=rng.randint(0, BATTERY_LOW) if low else rng.randint(25, 100),
                    last_connected_at=now - timedelta(hours=rng.randint(1, 48)),
                    clock_set_at=now - timedelta(days=1),
                )
            )
        for seq in range(1, history + 1):
            at = now - timedelta(hours=6 * (history - seq))
            readings.append(
                Reading(
                    hub_id=hub_id,
                    seq=seq,
                    kind="hub_health",
                    characteristic="dho:hub-health",
                    device_address="hub",
                    measured_at=at,
                    time_source="hub_received",
                    hub_clock_synced=True,
                    received_at=at,
                    outcome="ok",
                    problems_json="[]",
                    raw_hex="00",
                    values_json=json.dumps(health_values(rng, devices, synced)),
                    batch_id=f"{hub_id}-{seq}",
                    stored_at=at,
                    content_digest=f"{hub_id}-{seq}".ljust(64, "0")[:64],
                )
            )
    HubHealthReport.objects.bulk_create(reports, batch_size=500)
    HubDeviceHealth.objects.bulk_create(kit, batch_size=500)
    Reading.objects.bulk_create(readings, batch_size=1000)
    return ids


def signed_in() -> Client:
    client = Client()
    client.post("/login/", {"username": TECHNICIAN, "password": PASSWORD})
    device = TOTPDevice.objects.get(user__username=TECHNICIAN)
    code = totp(device.bin_key, step=device.step, t0=device.t0, digits=device.digits)
    response = client.post(
        "/login/code/", {"otp_token": f"{code:06d}", "otp_device": device.persistent_id}
    )
    if response.status_code != 302:
        raise SystemExit(f"the bench technician could not sign in: {response.status_code}")
    return client


def timed(label: str, address: str, client: Client, runs: int, profile: bool) -> Figures:
    def one() -> tuple[float, float, int]:
        start, cpu = time.perf_counter(), time.process_time()
        response = client.get(address)
        wall, used = (time.perf_counter() - start) * 1000, (time.process_time() - cpu) * 1000
        if response.status_code != 200:
            raise SystemExit(f"{label}: {address} answered {response.status_code}")
        return wall, used, len(response.content)

    one()  # warm-up: templates, translations, the connection
    times = [one() for _ in range(runs)]
    with CaptureQueriesContext(connection) as captured:
        client.get(address)
    queries = captured.captured_queries
    slowest = max(queries, key=lambda q: float(q["time"]))
    if profile:
        profiler = cProfile.Profile()
        profiler.runcall(one)
        print(f"--- profile of {label} ---")
        pstats.Stats(profiler).sort_stats("cumulative").print_stats(25)
    return Figures(
        label,
        [t for t, _, _ in times],
        [c for _, c, _ in times],
        len(queries),
        sum(float(q["time"]) for q in queries) * 1000,
        f"{float(slowest['time']) * 1000:.0f} ms: {slowest['sql'][:160]}",
        times[-1][2] / 1024,
    )


def measure(name: str, kind: str, folder: Path, args: argparse.Namespace, pg: Any) -> None:
    with fresh_database(kind, folder, pg):
        now = datetime.now(UTC)
        start = time.perf_counter()
        with transaction.atomic():  # one commit: SQLite syncs each one to the disk
            ids = build(args.hubs, args.devices, args.history, now)
        if kind == "postgres":
            with connection.cursor() as cursor:
                cursor.execute("ANALYZE")
        print(f"{name}: {len(ids)} hubs built in {time.perf_counter() - start:.0f} s")
        client = signed_in()
        last = math.ceil(len(ids) / 100)
        pages: list[tuple[str, str]] = [
            ("the list, first page", "/technician/"),
            ("battery low", "/technician/?problem=battery_low"),
            ("search 'pasient 01'", "/technician/?q=pasient+01"),
            ("the list, last page", f"/technician/?page={last}"),
            ("a hub's page", f"/technician/hubs/{ids[len(ids) // 2]}/"),
        ]
        figures = [
            timed(label, address, client, args.runs, args.profile) for label, address in pages
        ]
        print(f"\n=== {name}: {args.hubs} hubs, {args.devices} devices each, {args.runs} runs ===")
        for fig in figures:
            print(
                f"{fig.label}: p50 {statistics.median(fig.times_ms):.0f} ms, "
                f"p95 {p95(fig.times_ms):.0f} ms wall; CPU p50 "
                f"{statistics.median(fig.cpu_ms):.0f} ms, p95 {p95(fig.cpu_ms):.0f} ms; "
                f"{fig.queries} queries taking {fig.query_ms:.0f} ms; {fig.size_kb:.0f} KiB"
            )
            print(f"    slowest query {fig.slowest}")


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--hubs", type=int, default=2000)
    parser.add_argument("--devices", type=int, default=3)
    parser.add_argument("--history", type=int, default=20, help="health reports kept per hub")
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--only", choices=("sqlite", "postgres"))
    parser.add_argument("--profile", action="store_true", help="cProfile one render of each")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="dho-bench-technician-") as folder:
        if args.only != "postgres":
            measure("SQLite", "sqlite", Path(folder), args, None)
        if args.only != "sqlite":
            server = Postgres()
            try:
                measure("PostgreSQL", "postgres", Path(folder), args, server.address)
            finally:
                server.stop()


if __name__ == "__main__":
    main()
