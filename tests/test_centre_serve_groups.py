"""`centre serve`'s own grouping (centre/serve.py), in order: each ack is published and each
PUBACK sent only after the group holding its batch was handled (committed), and once the worker
is stopping it takes no new group, so what it had not acknowledged goes to the next worker.
The broker and database behaviour are tests/test_centre_hostile.py's (a real mosquitto); here a
recording client stands in for paho, since the order of its calls is what is asserted."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import cast

import paho.mqtt.client as mqtt
import pytest

from centre.ingest import GROUP_MESSAGES, Ingest, Message, Reply
from centre.serve import Backoff, Waiting, forget_unhandled, handle_waiting, run_loop
from hub.notify import Notifier, NotifySettings


@dataclass
class Recorder:
    """Stands in for the paho client and for Ingest: every call, in order."""

    events: list[tuple[str, object]] = field(default_factory=list)
    stop_after_groups: int | None = None
    groups: int = 0

    # paho's side
    def loop(self, timeout: float = 1.0) -> int:
        return int(mqtt.MQTT_ERR_SUCCESS)

    def socket(self) -> None:
        return None  # nothing more waits at the socket

    def publish(self, topic: str, payload: bytes, qos: int = 0) -> None:
        self.events.append(("publish", topic))

    def ack(self, mid: int, qos: int) -> None:
        self.events.append(("puback", mid))

    def disconnect(self) -> None:
        self.events.append(("disconnect", None))

    def reconnect(self) -> None:
        self.events.append(("connect", None))

    # Ingest's side
    def handle_group(self, messages: Sequence[Message]) -> list[Reply | None]:
        self.groups += 1
        self.events.append(("commit", tuple(m.topic for m in messages)))
        return [Reply(f"ack/{m.topic}", b"") for m in messages]

    def stopping(self) -> bool:
        return self.stop_after_groups is not None and self.groups >= self.stop_after_groups


def as_client(recorder: Recorder) -> mqtt.Client:
    return cast(mqtt.Client, recorder)


def as_ingest(recorder: Recorder) -> Ingest:
    return cast(Ingest, recorder)


def waiting(count: int) -> Waiting:
    return [(Message(f"batch-{mid}", b"x"), mid, 1, 1) for mid in range(1, count + 1)]


def test_every_ack_and_puback_follow_the_commit_of_their_group() -> None:
    recorder, queued = Recorder(), waiting(GROUP_MESSAGES + 3)
    handle_waiting(
        as_client(recorder), as_ingest(recorder), queued, Notifier(NotifySettings(None, None))
    )
    assert not queued
    committed: set[str] = set()
    for kind, what in recorder.events:
        if kind == "commit":
            assert isinstance(what, tuple)
            committed.update(what)
        elif kind == "publish":
            assert isinstance(what, str)
            assert what.removeprefix("ack/") in committed, f"{what} before its commit"
        elif kind == "puback":
            assert f"batch-{what}" in committed, f"PUBACK {what} before its commit"
    assert [kind for kind, _ in recorder.events].count("commit") == 2
    assert [kind for kind, _ in recorder.events].count("puback") == GROUP_MESSAGES + 3


def test_stopping_takes_no_new_group_and_leaves_the_rest_unacknowledged() -> None:
    recorder, queued = Recorder(stop_after_groups=1), waiting(GROUP_MESSAGES + 3)
    handle_waiting(
        as_client(recorder),
        as_ingest(recorder),
        queued,
        Notifier(NotifySettings(None, None)),
        recorder.stopping,
    )
    assert len(queued) == 3  # never acknowledged: the broker hands them to the next worker
    acked = {what for kind, what in recorder.events if kind == "puback"}
    assert acked == set(range(1, GROUP_MESSAGES + 1))


def test_the_worker_disconnects_only_after_the_last_group_is_acknowledged() -> None:
    recorder, queued = Recorder(stop_after_groups=1), waiting(4)
    turns = iter([False, True])
    run_loop(
        as_client(recorder),
        Notifier(NotifySettings(None, None)),
        Backoff(),
        lambda: next(turns, True),
        lambda: handle_waiting(
            as_client(recorder), as_ingest(recorder), queued, Notifier(NotifySettings(None, None))
        ),
    )
    kinds = [kind for kind, _ in recorder.events]
    assert kinds.index("disconnect") > max(i for i, kind in enumerate(kinds) if kind == "puback")
    assert kinds.count("disconnect") == 1


def test_messages_read_before_the_connection_was_lost_are_left_to_the_broker(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """On a new connection (`centre serve`'s on_connect) what was read on the old one and not
    handled is dropped, never acknowledged with the old connection's message ids, which on
    the new one may name other messages: the broker hands them over again."""
    recorder, queued = Recorder(), waiting(3)
    forget_unhandled(queued)
    handle_waiting(
        as_client(recorder), as_ingest(recorder), queued, Notifier(NotifySettings(None, None))
    )
    assert recorder.events == []
    assert "3 messages read before the broker connection was lost" in caplog.text
    forget_unhandled(queued)  # nothing waiting: nothing said
    assert caplog.text.count("messages read before") == 1
