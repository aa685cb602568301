"""Fixtures that start the real things a hub talks to: BlueZoo on a private D-Bus, Mosquitto,
and the hub and centre as processes."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from testbed.bluetooth import DEVICE_ADAPTERS
from testbed.centre_db import configure_django, fresh_database
from testbed.home import SimulatedHome
from testbed.peripherals.device import EmulatedDevice
from testbed.postgres import PostgresAddress, running_postgres
from tests.ui_support import FakeDaemon


@pytest.fixture
def short_tmp() -> Iterator[Path]:
    # AF_UNIX socket paths must stay under 108 bytes; pytest's tmp_path can be longer.
    path = Path(tempfile.mkdtemp(prefix="dho-", dir="/tmp"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def home(
    short_tmp: Path, monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest
) -> Iterator[SimulatedHome]:
    simulated = SimulatedHome(short_tmp)
    # Emulated devices created inside the test talk to the same private bus.
    for key, value in simulated.bluetooth.env.items():
        monkeypatch.setenv(key, value)
    yield simulated
    simulated.stop()
    report = getattr(request.node, "rep_call", None)
    if report is not None and report.failed:
        for process in simulated.processes:
            print(f"---- {process.name} log ----\n{process.tail(40)}")
        with contextlib.suppress(OSError):  # the broker is no Process of the home's
            print(f"---- broker log ----\n{simulated.broker_log()[-4000:]}")


def pytest_configure(config: pytest.Config) -> None:
    configure_django()  # the centre's settings, for Django's test client and the models
    # The async tests read the centre's store (synchronous SQL) from the event loop's thread;
    # Django refuses that by default, for servers, where it would stall other requests.
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"


@pytest.fixture(autouse=True)
def _database_connections_closed() -> Iterator[None]:
    """Close the test thread's database connections after each test. A CentreStore opens one
    per database, and each test's database is another: left open they piled up (1,100 files in
    one worker) until a socket's number passed 1023, which paho's select() refuses, and the
    centre's downlink inside the test process never connected (the broker saw "Protocol
    error": tests/test_fd_hygiene.py)."""
    yield
    from django.db import connections

    connections.close_all()


@pytest.fixture(params=["sqlite", "postgres"])
def centre_db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh, migrated centre database as Django's default, on SQLite and on PostgreSQL: a
    test that takes it runs on both. Yields the database URL."""
    server = request.getfixturevalue("postgres") if request.param == "postgres" else None
    with fresh_database(request.param, tmp_path, server) as url:
        yield url


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresAddress]:
    """A real PostgreSQL server for the centre's tests: one per xdist worker (each worker is its
    own session), on its own free port and folder, stopped and removed when the worker ends."""
    with running_postgres() as server:
        yield server.address


@pytest.hookimpl(tryfirst=True, hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[Any]) -> Iterator[None]:
    outcome = yield
    report = outcome.get_result()  # type: ignore[attr-defined]
    setattr(item, f"rep_{report.when}", report)


async def pair(
    home: SimulatedHome, device: EmulatedDevice, passkey: int | None = None
) -> dict[str, Any]:
    """Pair an emulated device (running on this test's event loop) as a technician would."""
    address = DEVICE_ADAPTERS[device.adapter]
    return await asyncio.to_thread(home.pair, address, passkey)


@pytest.fixture
def sock_path() -> Iterator[Path]:
    # Short on purpose: AF_UNIX paths are limited to 108 bytes, pytest's tmp_path can be longer.
    directory = Path(tempfile.mkdtemp(prefix="ui-", dir="/tmp"))
    yield directory / "hub.sock"
    shutil.rmtree(directory, ignore_errors=True)


@pytest.fixture
async def daemon(sock_path: Path) -> AsyncIterator[FakeDaemon]:
    """A stand-in for the hub daemon on a real unix socket, for the patient screen's tests."""
    fake = FakeDaemon(sock_path)
    yield fake
    await fake.stop()


def provisioned_hub(folder: Path, hub_id: str) -> Path:
    """A centre (once per folder) enrols `hub_id` and the hub is provisioned from the bundle;
    returns the hub's config path."""
    from centre.admin import enrol_hub, init_centre
    from centre.config import load_centre_config
    from hub.files import write_secret
    from hub.technician.provision import provision

    centre_toml = folder / "centre" / "centre.toml"
    if centre_toml.exists():
        centre = load_centre_config(centre_toml)
    else:
        centre = init_centre(
            centre_toml, folder / "centre" / "state", "127.0.0.1", 8884, "127.0.0.1", 8883
        )
    bundle = folder / hub_id / "bundle.json"
    write_secret(bundle, enrol_hub(centre, hub_id))
    config = folder / hub_id / "hub.toml"
    provision(config, bundle, folder / hub_id / "state")
    return config


def strict_json(value: dict[str, Any]) -> str:
    """JSON that refuses float NaN/inf: proves parsers emit the special-value strings instead."""
    return json.dumps(value, allow_nan=False)


async def readings(home: SimulatedHome, n: int) -> list[dict[str, Any]]:
    """Wait until the hub has stored at least ``n`` readings; return them all."""
    rows: list[dict[str, Any]] = await eventually(
        lambda: len(r := home.hub_readings()) >= n and r, what=f"{n} readings at the hub"
    )
    return rows


def devices(home: SimulatedHome) -> list[dict[str, Any]]:
    """`hub devices --json`: what the technician sees of the paired devices."""
    return home.hub_devices()


async def session_noted(home: SimulatedHome, after: str | None = None) -> str:
    """Wait until the hub notes a session with the first device ending (later than ``after``,
    or than its pairing, which is noted as its first connection); return when it ended."""
    after = after or devices(home)[0]["paired_at"]
    at: str = await eventually(
        lambda: (t := devices(home)[0]["last_connected_at"]) and t > after and t,
        what="the session end to be noted",
    )
    return at


def hub_log(home: SimulatedHome) -> str:
    return next(p for p in home.processes if p.name == "hub").log_path.read_text()


def close_to_now(iso: str, within: timedelta = timedelta(minutes=1)) -> bool:
    return abs(datetime.fromisoformat(iso) - datetime.now(UTC)) < within


async def eventually(check: Callable[[], Any], within: float = 30.0, what: str = "") -> Any:
    """Poll `check` until it returns something truthy; fail with `what` after `within` s."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while True:
        result = await asyncio.to_thread(check)
        if result:
            return result
        if loop.time() > deadline:
            raise AssertionError(f"timed out after {within:.0f} s waiting for {what}")
        await asyncio.sleep(0.2)


def centre_sql(store: Any, statement: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
    """Raw SQL on a centre store's database (Django's placeholders: %s), for a test that must
    break or inspect what the store's own methods never would."""
    from django.db import connections

    with connections[store.alias].cursor() as cursor:
        cursor.execute(statement, params)
        return list(cursor.fetchall()) if cursor.description else []


def centre_cli(config: Path, *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    """The `centre` command, as an operator runs it, on the centre configured at `config`."""
    return subprocess.run(
        [sys.executable, "-m", "centre.cli", "--config", str(config), *args],
        capture_output=True,
        text=True,
        input=stdin,
        timeout=120,
    )
