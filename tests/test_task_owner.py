"""One owner for every task (issue 12): the daemon's parts run in one asyncio.TaskGroup. A part
that fails stops the daemon with its traceback, after every other part (paho's thread too) has
been awaited and before the store closes; an exception in a paho callback reaches the group.

Real BlueZoo, Mosquitto (TLS, ACLs) and SQLite; the failures are injected through real
constructor arguments (the systemd notifier, the uplink's downlink handler) or are real (a
thread that dies, a callback raising on paho's own thread)."""

from __future__ import annotations

import asyncio
import os
import signal
import sqlite3
import sys
import threading
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from hub import ipc
from hub.config import HubConfig, load_config
from hub.core.reading import now_utc
from hub.core.timing import ClockCheck
from hub.daemon import DaemonFailure, HubDaemon, PartEnded
from hub.devices.blood_pressure import build_blood_pressure_measurement
from hub.devices.events import DeviceValue
from hub.devices.profiles import sig_uuid
from hub.keys import load_signing_key
from hub.notify import Notifier, NotifySettings
from hub.store import ReadingStore
from hub.sync.uplink import Uplink, UplinkFailure
from hub.wire.sealing import ItemSealer
from hub.wire.topics import downlink_topic
from testbed.home import SimulatedHome
from testbed.processes import Process, wait_until
from tests.conftest import eventually
from tests.test_care_plan import publish_as_centre


class WatchdogGone(RuntimeError):
    pass


class BreakableWatchdog(Notifier):
    """systemd's notifier with a watchdog every 0.05 s, whose pings fail once `broken` is set
    (the daemon's "watchdog pings" part then fails)."""

    def __init__(self) -> None:
        super().__init__(NotifySettings(address=None, ping_every_s=0.05))
        self.broken = threading.Event()

    def ping(self) -> None:
        if self.broken.is_set():
            raise WatchdogGone("the watchdog socket is gone")
        super().ping()


def causes(exc: BaseException) -> list[BaseException]:
    """The exception, its causes, and what exception groups on the way hold."""
    found: list[BaseException] = []
    todo = [exc]
    while todo:
        current = todo.pop()
        found.append(current)
        if isinstance(current, BaseExceptionGroup):
            todo.extend(current.exceptions)
        if current.__cause__ is not None:
            todo.append(current.__cause__)
    return found


def closed_cleanly(config: HubConfig) -> None:
    """The last connection closed: SQLite checkpointed the WAL into the file and removed it."""
    assert not Path(f"{config.db_path}-wal").exists(), "the store was not closed"
    db = sqlite3.connect(config.db_path)
    try:
        assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    finally:
        db.close()


async def daemon_up(home: SimulatedHome, daemon: HubDaemon, run: asyncio.Task[None]) -> None:
    socket_path = load_config(home.hub_config).socket_path

    def up() -> bool:
        assert not run.done(), run
        try:
            answering = ipc.request_blocking(socket_path, "status", timeout=1.0)["ok"]
        except ipc.DaemonUnavailable:
            return False
        return bool(answering) and daemon.uplink.ready.is_set()

    await eventually(up, what="the daemon serving and connected to the broker")


def fail_by_the_watchdog(daemon: HubDaemon, watchdog: BreakableWatchdog) -> type[Exception]:
    watchdog.broken.set()
    return WatchdogGone


def fail_by_a_thread(daemon: HubDaemon, watchdog: BreakableWatchdog) -> type[Exception]:
    def work() -> None:
        raise MemoryError("a thread ran out of memory")

    threading.Thread(target=work, name="worker").start()
    return MemoryError


@pytest.mark.parametrize("fail", [fail_by_the_watchdog, fail_by_a_thread])
async def test_a_failing_part_stops_the_daemon_after_the_others_and_before_the_store_closes(
    home: SimulatedHome, fail: object
) -> None:
    home.start_centre()
    config = load_config(home.hub_config)
    watchdog = BreakableWatchdog()
    daemon = HubDaemon(config, watchdog)
    run = asyncio.create_task(daemon.run())
    await daemon_up(home, daemon, run)
    assert callable(fail)
    expected = fail(daemon, watchdog)
    with pytest.raises(DaemonFailure) as failed:
        async with asyncio.timeout(60):
            await run
    chain = causes(failed.value)
    (root,) = [e for e in chain if isinstance(e, expected)]
    assert root.__traceback__ is not None  # the traceback travels with it
    assert [e for e in chain if isinstance(e, PartEnded)], chain
    # Every part was awaited: no task of the daemon is left, nor paho's thread.
    assert [t for t in asyncio.all_tasks() if t is not asyncio.current_task()] == []
    assert not [t for t in threading.enumerate() if t.name.startswith("paho")]
    closed_cleanly(config)
    assert not config.socket_path.exists()


async def test_sigterm_stops_every_part_and_closes_the_store(home: SimulatedHome) -> None:
    config = load_config(home.hub_config)
    daemon = HubDaemon(config, BreakableWatchdog())
    run = asyncio.create_task(daemon.run())
    await daemon_up(home, daemon, run)
    os.kill(os.getpid(), signal.SIGTERM)  # the daemon's loop handles it
    async with asyncio.timeout(60):
        await run  # returns: a requested stop is no failure
    assert [t for t in asyncio.all_tasks() if t is not asyncio.current_task()] == []
    closed_cleanly(config)


class HandOverThenFail(BreakableWatchdog):
    """The watchdog part fails in the same step as a device hands over its stored records:
    the store writer (one value per turn of the loop) cannot store them all before the group
    stops."""

    def __init__(self, incoming: asyncio.Queue[Any], values: list[DeviceValue]) -> None:
        super().__init__()
        self.incoming, self.values = incoming, values

    def ping(self) -> None:
        if self.broken.is_set():
            for value in self.values:
                self.incoming.put_nowait(value)
        super().ping()


async def test_values_handed_over_as_the_daemon_stops_are_stored_before_the_store_closes(
    home: SimulatedHome,
) -> None:
    """A cuff deletes its records once delivered: a stop must not drop them (outside review)."""
    config = load_config(home.hub_config)
    first = datetime(2026, 12, 1, 8, 0)
    records = [
        build_blood_pressure_measurement(
            120 + n % 40, 80, 95, timestamp=first + timedelta(minutes=n)
        )
        for n in range(50)
    ]
    values = [
        DeviceValue("00:BB:00:00:00:02", sig_uuid(0x2A35), data, now_utc(), ClockCheck(), True)
        for data in records
    ]
    daemon = HubDaemon(config)
    watchdog = HandOverThenFail(daemon.incoming, values)
    daemon.notifier = watchdog
    run = asyncio.create_task(daemon.run())
    await daemon_up(home, daemon, run)
    watchdog.broken.set()
    with pytest.raises(DaemonFailure):
        async with asyncio.timeout(60):
            await run
    closed_cleanly(config)
    store = ReadingStore(config.db_path, readonly=True)
    try:
        assert sorted(r.raw_hex for r in store.all()) == sorted(data.hex() for data in records)
    finally:
        store.close()


SCRIPT = """
import logging, pathlib, sys
from hub.config import load_config
from hub.daemon import run
from hub.notify import Notifier, NotifySettings

class Watchdog(Notifier):
    def ping(self):
        if pathlib.Path(sys.argv[2]).exists():
            raise RuntimeError("the watchdog socket is gone")

logging.basicConfig(level="INFO", format="%(levelname)s %(name)s: %(message)s")
run(load_config(pathlib.Path(sys.argv[1])), Watchdog(NotifySettings(None, 0.1)))
"""


def test_hub_run_exits_non_zero_with_the_traceback_in_its_log(
    home: SimulatedHome, short_tmp: Path
) -> None:
    trigger = short_tmp / "break-the-watchdog"
    hub = Process(
        "hub",
        [sys.executable, "-c", SCRIPT, str(home.hub_config), str(trigger)],
        home.workdir / "logs" / "hub.log",
        env=home.env,
    )
    home.processes.append(hub)
    config = load_config(home.hub_config)

    def answering() -> bool:
        hub.check_alive()
        try:
            return bool(ipc.request_blocking(config.socket_path, "status", timeout=1.0)["ok"])
        except ipc.DaemonUnavailable:
            return False

    wait_until(answering, 30, "the hub daemon to answer on its socket", interval=0.1)
    trigger.touch()
    assert hub.popen.wait(timeout=60) == 1
    log = hub.log_path.read_text()
    assert "CRITICAL hub.daemon: the hub stopped: watchdog pings failed" in log
    assert "Traceback (most recent call last)" in log
    assert ", in ping\n" in log  # down to the failing frame
    assert "RuntimeError: the watchdog socket is gone" in log
    assert "hub.daemon: hub stopped" in log  # after the clean-up
    closed_cleanly(config)


def uplink_for(home: SimulatedHome, store: ReadingStore, cls: type[Uplink] = Uplink) -> Uplink:
    config = load_config(home.hub_config)
    sealer = ItemSealer(config.hub_id, config.centre.encryption)

    def refuse(topic: str, _payload: bytes) -> None:
        raise LookupError(f"no handler for {topic}")

    return cls(
        config,
        store,
        load_signing_key(config.signing_key_path),
        centre_key=lambda: sealer.centre,
        on_downlink=refuse,
    )


async def run_uplink(uplink: Uplink, then: object = None) -> ExceptionGroup[Exception]:
    """The uplink's parts in a task group, as the daemon runs them, until one fails."""
    uplink.start()
    try:
        with pytest.raises(ExceptionGroup) as raised:
            async with asyncio.timeout(60), asyncio.TaskGroup() as tasks:
                tasks.create_task(uplink.take_broker_events())
                tasks.create_task(uplink.take_documents())
                tasks.create_task(uplink.send_outbox())
                if callable(then):
                    await uplink.ready.wait()
                    await asyncio.to_thread(then)
    finally:
        await asyncio.to_thread(uplink.stop)
    return raised.value


async def test_an_exception_in_a_callback_handed_to_the_loop_reaches_the_task_group(
    home: SimulatedHome,
) -> None:
    store = ReadingStore(load_config(home.hub_config).db_path)
    topic = downlink_topic(home.hub_id, "care_plan")
    try:
        group = await run_uplink(
            uplink_for(home, store), lambda: publish_as_centre(home, topic, b"{}")
        )
    finally:
        store.close()
    (error,) = group.exceptions
    assert isinstance(error, LookupError) and topic in str(error)


class SubscriptionRefused(Uplink):
    """A callback that raises on paho's own thread (there paho would log it and end its
    thread, leaving the hub without a broker for good)."""

    def _on_subscribe(self, *_: object) -> None:
        raise KeyError("granted QoS")


async def test_an_exception_in_a_callback_on_pahos_thread_reaches_the_task_group(
    home: SimulatedHome,
) -> None:
    store = ReadingStore(load_config(home.hub_config).db_path)
    try:
        group = await run_uplink(uplink_for(home, store, SubscriptionRefused))
    finally:
        store.close()
    (error,) = group.exceptions
    assert isinstance(error, UplinkFailure) and "_on_subscribe" in str(error)
    assert isinstance(error.__cause__, KeyError)
