"""`centre serve`: the ingest worker. paho's loop runs in this thread, so does the store, and so
does the systemd watchdog ping (hub/notify.py).

Messages are handled in groups: those already waiting when one arrives (a draining hub, many
hubs) are read too, up to GROUP_MESSAGES and GROUP_READINGS (centre/ingest.py), and their
batches stored in one transaction (`Ingest.handle_group`). Each message's ack, and its MQTT
PUBACK (paho's manual_ack), leave only after the commit that holds its readings: a worker that
dies before leaves the message at the broker, which hands it over again."""

from __future__ import annotations

import logging
import select
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass
from types import FrameType

import paho.mqtt.client as mqtt

from centre.config import CentreConfig
from centre.ingest import Ingest, Message, group_size, readings_in
from centre.keyring import Keyring
from centre.store import CentreStore
from centre.web.runtime import setup
from hub.keys import load_signing_key
from hub.mqtt import client_context, mqtt_client, session_properties
from hub.notify import Notifier
from hub.wire.topics import shared_batch_subscription, status_topic

log = logging.getLogger(__name__)


LOOP_TIMEOUT_S = 1.0  # the loop turns at least this often, to ping the watchdog
FLUSH_S = 5.0  # on SIGTERM, at most this long to send what is queued
TAKING_BATCHES = "subscribed: taking batches"  # logged on every SUBACK; the testbed waits for it


def serve(config: CentreConfig, worker: int = 1) -> None:
    """Run ingest worker number `worker` (each worker of a centre needs its own number)."""
    setup(config)
    ingest = Ingest(
        CentreStore(config.database_url),
        Keyring(config.keyring_dir),
        load_signing_key(config.signing_key_path),
    )
    subscription = shared_batch_subscription(config.share_group)
    # The hubs' statuses on a plain subscription: MQTT v5 sends no retained message on a shared
    # one, and a worker that starts must learn every hub's state. Every worker then gets every
    # status; recording one is idempotent (centre/presence.py).
    statuses = status_topic("+")
    # A client id of its own per worker: workers share the load through the shared subscription.
    # The id is stable and the session persistent, so batches that arrive while a worker
    # restarts wait for it at the broker.
    client = mqtt_client(
        f"{config.ingest_name}-{worker}",
        client_context(config.ca_cert_path, config.ingest_cert_path, config.ingest_key_path),
    )

    notifier = Notifier.from_environment()
    retry = Backoff()
    waiting: Waiting = []

    def on_connect(c: mqtt.Client, _u: object, _f: object, reason: object, _p: object) -> None:
        log.info(
            "centre connected to broker: %s; subscribing %s and %s", reason, subscription, statuses
        )
        forget_unhandled(waiting)
        c.subscribe([(subscription, 1), (statuses, 1)])

    def on_subscribe(_c: mqtt.Client, _u: object, _m: object, _r: object, _p: object) -> None:
        retry.reset()
        log.info("%s", TAKING_BATCHES)
        notifier.ready()  # taking batches: the worker serves (sent again after a reconnect)

    def on_message(_c: mqtt.Client, _u: object, msg: mqtt.MQTTMessage) -> None:
        # Handled, and acknowledged, in groups (handle_waiting).
        payload = bytes(msg.payload)
        message = Message(msg.topic, payload, bool(msg.retain))
        waiting.append((message, msg.mid, msg.qos, readings_in(payload)))

    client.on_connect = on_connect
    client.on_subscribe = on_subscribe
    client.on_message = on_message
    client.manual_ack_set(True)  # the PUBACK goes after the commit (handle_waiting)
    stopping = False

    def stop(_sig: int, _frame: FrameType | None) -> None:
        # Only noted: the group under way is committed and its acks sent, then run_loop
        # disconnects (a DISCONNECT sent from here went out before that group's acks).
        nonlocal stopping
        stopping = True
        notifier.stopping()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    props = session_properties()
    client.connect_async(
        config.mqtt.host,
        config.mqtt.port,
        config.mqtt.keepalive_s,
        clean_start=False,
        properties=props,
    )
    log.info(
        "centre %s worker %d serving on %s:%d",
        config.centre_id,
        worker,
        config.mqtt.host,
        config.mqtt.port,
    )
    run_loop(
        client,
        notifier,
        retry,
        lambda: stopping,
        lambda: handle_waiting(client, ingest, waiting, notifier, lambda: stopping),
    )


@dataclass
class Backoff:
    """Seconds to wait before reconnecting: 1, 2, 4 ... 30, back to 1 once subscribed."""

    first_s: float = 1.0
    most_s: float = 30.0
    next_s: float = 1.0

    def take(self) -> float:
        wait, self.next_s = self.next_s, min(self.next_s * 2, self.most_s)
        return wait

    def reset(self) -> None:
        self.next_s = self.first_s


Waiting = list[tuple[Message, int, int, int]]
"""Messages read and not yet handled: each with its mid and QoS, and its readings_in."""


def handle_waiting(
    client: mqtt.Client,
    ingest: Ingest,
    waiting: Waiting,
    notifier: Notifier,
    stopping: Callable[[], bool] = lambda: False,
) -> None:
    """Handle the messages `on_message` put in `waiting`, with those already waiting at the
    socket, in groups; publish each ack and send each PUBACK once its group is committed.
    Stopping, it takes no new group: what is left was not acknowledged, and the broker hands
    it to the next worker."""
    while waiting and not stopping():
        _read_waiting(client, waiting)
        group = waiting[: group_size([readings for *_, readings in waiting])]
        del waiting[: len(group)]
        replies = ingest.handle_group([message for message, *_ in group])
        for (_, mid, qos, _), reply in zip(group, replies, strict=True):
            if reply is not None:
                client.publish(reply.topic, reply.payload, qos=1)
            client.ack(mid, qos)
        notifier.ping_if_due()


def forget_unhandled(waiting: Waiting) -> None:
    """On a new connection, drop the messages read on the one before and not handled yet:
    their PUBACKs would carry that connection's message ids, which on this one may name other
    messages. Nothing is lost: the broker hands them over again (the session is kept), or, if
    it lost the session, their hubs send them again (no signed ack came)."""
    if waiting:
        log.warning(
            "%d messages read before the broker connection was lost were not handled yet; "
            "the broker hands them over again",
            len(waiting),
        )
        waiting.clear()


def _read_waiting(client: mqtt.Client, waiting: Waiting) -> None:
    """Read what already waits at the socket, without waiting for more, until a group is full
    (messages read past it wait for the next group)."""
    while group_size([readings for *_, readings in waiting]) == len(waiting) and _readable(client):
        if client.loop(timeout=0) != mqtt.MQTT_ERR_SUCCESS:
            return  # the connection is lost: run_loop reconnects; what was read is handled


def _readable(client: mqtt.Client) -> bool:
    """Whether bytes from the broker wait to be read (in TLS's buffer, or at the socket)."""
    sock = client.socket()
    if sock is None:
        return False
    pending = getattr(sock, "pending", None)
    if pending is not None and pending() > 0:
        return True
    return bool(select.select([sock], [], [], 0)[0])


def run_loop(
    client: mqtt.Client,
    notifier: Notifier,
    retry: Backoff,
    stopping: Callable[[], bool],
    after_read: Callable[[], None] = lambda: None,
) -> None:
    """paho's network loop in this thread, like `loop_forever`, with the watchdog ping in the
    same loop: a message whose handling hangs stops the pings and systemd restarts the worker
    (unacknowledged batches wait at the broker for the next worker). `after_read` runs after
    each turn of the loop (`centre serve`: handle_waiting)."""
    _connect(client)
    while not stopping():
        notifier.ping_if_due()
        if client.loop(timeout=LOOP_TIMEOUT_S) == mqtt.MQTT_ERR_SUCCESS:
            after_read()
            continue
        wait_until = time.monotonic() + retry.take()
        while not stopping() and time.monotonic() < wait_until:
            notifier.ping_if_due()  # waiting to reconnect is not hanging
            time.sleep(min(LOOP_TIMEOUT_S, max(0.0, wait_until - time.monotonic())))
        if not stopping():
            _connect(client)
    # Send what is queued (acknowledgements, PUBACKs), then DISCONNECT, before leaving.
    client.disconnect()
    deadline = time.monotonic() + FLUSH_S
    while time.monotonic() < deadline and client.loop(timeout=0.1) == mqtt.MQTT_ERR_SUCCESS:
        pass


def _connect(client: mqtt.Client) -> None:
    try:
        client.reconnect()
    except OSError as exc:
        log.warning("cannot reach the broker: %s; retrying", exc)
