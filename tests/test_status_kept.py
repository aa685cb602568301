"""The daemon keeps its `status` answer while nothing it shows may have changed (the screen asks
every second): the same answer again, and a new one as soon as the store, the hour the trends
start in, or any of the daemon's own fields changes. A real store; the daemon's other parts are
plain fields here, as the answer reads them."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from hub import ipc
from hub.core.care_plan import CarePlan
from hub.core.reading import NewReading
from hub.local_protocol import Refusal, StatusAnswer, StatusRequest
from hub.requests import SocketOps
from hub.store import ReadingStore


def reading(systolic: float) -> NewReading:
    now = datetime.now(UTC)
    return NewReading(
        kind="blood_pressure",
        characteristic="00002a35-0000-1000-8000-00805f9b34fb",
        device_address="00:BB:00:00:00:02",
        device_time=None,
        received_at=now.isoformat(timespec="milliseconds"),
        raw_hex=f"{int(systolic):02x}",
        values={"systolic": systolic},
        measured_at=(now - timedelta(minutes=1)).isoformat(timespec="milliseconds"),
        outcome="ok",
        problems=(),
    )


class Daemon(SimpleNamespace):
    """What SocketOps.status reads of the daemon, as plain fields."""


@pytest.fixture
def daemon(tmp_path: Path) -> Iterator[Any]:
    store = ReadingStore(tmp_path / "hub.sqlite")
    hub = Daemon(
        config=SimpleNamespace(hub_id="hub-0001"),
        store=store,
        uplink=SimpleNamespace(
            ready=asyncio.Event(), last_ack_at=None, clock_offset_s=None, broker_problem=None
        ),
        store_problem=None,
        outbox_alarm=None,
        outbox_bytes=None,
        care_plan=None,
        sealer=SimpleNamespace(centre=SimpleNamespace(key_id="key-1")),
        downlink_refused=None,
        incoming=asyncio.Queue(),
    )
    yield hub
    store.close()


def status(ops: SocketOps) -> StatusAnswer:
    return asyncio.run(ops.status(StatusRequest()))


def test_an_unchanged_status_is_the_same_answer(daemon: Any) -> None:
    ops = SocketOps(daemon)
    daemon.store.add(reading(130.0))
    first = status(ops)
    assert status(ops) is first
    assert [h.values["systolic"] for h in first.history] == [130.0]


def _connected(hub: Any) -> None:
    hub.uplink.ready.set()


def _plan(hub: Any) -> None:
    hub.care_plan = CarePlan(centre_phone="+47 55 00 00 00")


def _other_plan(hub: Any) -> None:
    hub.care_plan = CarePlan(centre_phone="+47 22 22 22 22")


def _waiting(hub: Any) -> None:
    hub.incoming.put_nowait(object())


def _key(hub: Any) -> None:
    hub.sealer.centre = SimpleNamespace(key_id="key-2")


CHANGES: dict[str, tuple[Callable[[Any], None], Callable[[StatusAnswer], object]]] = {
    "a reading stored": (
        lambda hub: hub.store.add(reading(150.0)),
        lambda a: [h.values["systolic"] for h in a.history],
    ),
    "broker connected": (_connected, lambda a: a.broker_connected),
    "an ack": (
        lambda hub: setattr(hub.uplink, "last_ack_at", "2026-11-22T10:00:00.000+00:00"),
        lambda a: a.last_ack_at,
    ),
    "clock offset": (
        lambda hub: setattr(hub.uplink, "clock_offset_s", 0.25),
        lambda a: a.hub_clock_offset_s,
    ),
    "store problem": (
        lambda hub: setattr(hub, "store_problem", "disk full"),
        lambda a: a.store_problem,
    ),
    "outbox alarm": (
        lambda hub: setattr(hub, "outbox_alarm", "near_full"),
        lambda a: a.outbox_alarm,
    ),
    "broker problem": (
        lambda hub: setattr(hub.uplink, "broker_problem", "the connection was lost: gone"),
        lambda a: a.broker_problem,
    ),
    "outbox size": (
        lambda hub: setattr(hub, "outbox_bytes", 123_456),
        lambda a: a.outbox_bytes,
    ),
    "care plan": (_plan, lambda a: a.care_plan),
    "centre key": (_key, lambda a: a.centre_key_id),
    "downlink refused": (
        lambda hub: setattr(hub, "downlink_refused", "care_plan: forged"),
        lambda a: a.downlink_refused,
    ),
    "waiting in memory": (_waiting, lambda a: a.waiting_in_memory),
}


@pytest.mark.parametrize("change", CHANGES)
def test_any_change_the_screen_would_show_gives_a_new_answer(daemon: Any, change: str) -> None:
    ops = SocketOps(daemon)
    daemon.store.add(reading(130.0))
    make, shown = CHANGES[change]
    before = status(ops)
    make(daemon)
    after = status(ops)
    assert shown(after) != shown(before)
    assert status(ops) is after  # and kept again


def test_another_care_plan_of_equal_shape_is_a_change(daemon: Any) -> None:
    ops = SocketOps(daemon)
    _plan(daemon)
    before = status(ops)
    _other_plan(daemon)
    assert status(ops).care_plan == CarePlan(centre_phone="+47 22 22 22 22") != before.care_plan


def test_a_commit_by_another_connection_gives_a_new_answer(daemon: Any, tmp_path: Path) -> None:
    ops = SocketOps(daemon)
    before = status(ops)
    other = ReadingStore(tmp_path / "hub.sqlite")  # a technician's tool, say
    other.add(reading(170.0))
    other.close()
    assert before.readings == []
    assert [r.values["systolic"] for r in status(ops).readings] == [170.0]


def test_the_trends_start_moves_with_the_hour(daemon: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    ops = SocketOps(daemon)
    daemon.store.add(reading(130.0))
    first = status(ops)
    start = datetime.now(UTC) - timedelta(days=14)
    assert SocketOps._trend_start() == start.replace(minute=0, second=0, microsecond=0).isoformat(
        timespec="seconds"
    )
    # The hour turns: the next status is built again from the new start.
    monkeypatch.setattr(SocketOps, "_trend_start", staticmethod(lambda: "2999-01-01T00:00:00"))
    later = status(ops)
    assert later is not first and later.history == []


def test_sqlite_sees_its_own_and_others_writes_in_the_mark(tmp_path: Path) -> None:
    store = ReadingStore(tmp_path / "hub.sqlite")
    mark = store.changes()
    store.add(reading(120.0))
    assert store.changes() != mark
    mark = store.changes()
    with sqlite3.connect(tmp_path / "hub.sqlite") as other:
        other.execute("UPDATE readings SET outcome = 'flagged'")
    assert store.changes() != mark
    store.close()


async def test_the_socket_encodes_a_kept_answer_once_and_a_new_or_dict_answer_again(
    sock_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """hub.ipc keeps the last model answer's bytes: the same model is sent as it was encoded,
    a new model or a dict (which may have changed in place) is encoded again."""
    kept = Refusal(error="first")
    plain: dict[str, Any] = {"ok": True, "n": 1}
    replies: list[Any] = [kept, kept, Refusal(error="second"), plain, plain]
    encoded: list[object] = []
    real = ipc._encode_answer

    def counting(answer: Any) -> bytes:
        encoded.append(answer)
        return real(answer)

    async def handler(_: dict[str, Any], _asker: ipc.Peer | None) -> Any:
        return replies.pop(0)

    server = await ipc.serve(sock_path, handler)
    monkeypatch.setattr(ipc, "_encode_answer", counting)
    try:
        answers = []
        for _ in range(4):
            answers.append(await asyncio.to_thread(ipc.request_blocking, sock_path, "status"))
        plain["n"] = 2
        answers.append(await asyncio.to_thread(ipc.request_blocking, sock_path, "status"))
    finally:
        server.close()
        await server.wait_closed()
    assert [a.get("error", a.get("n")) for a in answers] == ["first", "first", "second", 1, 2]
    assert encoded == [kept, Refusal(error="second"), plain, plain]
