"""Uplink to the follow-up centre: sealed batches out over MQTT v5, signed acks back.

paho runs its network loop in its own thread (loop_start). Its callbacks do nothing there but
hand an event to the asyncio loop, where tasks of the daemon's task group handle it
(`take_broker_events`, `take_documents`): the store is only ever touched from the loop's thread,
and an exception in a callback, on either side, stops the daemon instead of being logged and
swallowed (by paho on its thread, or by the loop's exception handler).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import ParamSpec

import paho.mqtt.client as mqtt
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from hub.config import HubConfig
from hub.core.outbox import OutboxItem
from hub.core.reading import URGENT, now_utc
from hub.mqtt import client_context, mqtt_client, session_properties
from hub.store import ReadingStore, StoreError
from hub.sync.delivery import Delivery
from hub.wire.batch import build_batch
from hub.wire.envelope import EnvelopeError, clock_offset_s, open_ack
from hub.wire.public_keys import ed25519_public
from hub.wire.status import State
from hub.wire.status import status_payload as wire_status_payload
from hub.wire.suites import CentreKey
from hub.wire.topics import (
    ack_topic,
    batch_topic,
    downlink_topic,
    status_topic,
)

log = logging.getLogger(__name__)
P = ParamSpec("P")


class UplinkFailure(RuntimeError):
    """A callback on paho's network thread failed: the daemon stops (and is restarted)."""


@dataclass(frozen=True)
class Subscribed:
    """Connected, and subscribed to this hub's ack and downlink topics."""


@dataclass(frozen=True)
class Lost:
    """The broker connection dropped; paho reconnects by itself."""


@dataclass(frozen=True)
class AckArrived:
    payload: bytes


@dataclass(frozen=True)
class DocumentArrived:
    topic: str
    payload: bytes


@dataclass(frozen=True)
class CallbackFailed:
    callback: str
    error: Exception


BrokerEvent = Subscribed | Lost | AckArrived | DocumentArrived | CallbackFailed


def broker_unreachable(host: str, port: int) -> str:
    return (
        f"cannot connect to {host}:{port} (network, TLS or a refused certificate: "
        "`hub doctor` tries it and says which)"
    )


def lost_because(reason: object, host: str, port: int) -> str:
    """Why the connection went, in the broker's words; paho names a socket or TLS failure of
    its reconnection only "Unspecified error", which says nothing a technician can act on."""
    if str(reason) == "Unspecified error":
        return broker_unreachable(host, port)
    return f"the connection was lost: {reason}"


def refused_subscriptions(reasons: Sequence[object]) -> str | None:
    """What a SUBACK's reason codes say is wrong; None if the broker granted every one. A
    hub the centre revoked is refused them ("Not authorized")."""
    refused = [str(r) for r in reasons if getattr(r, "is_failure", False)]
    if not refused:
        return None
    return (
        f"the broker refused this hub's subscriptions ({', '.join(dict.fromkeys(refused))}): "
        "is the hub revoked at the centre?"
    )


def status_payload(
    hub_id: str,
    state: State,
    since: str,
    alarm: str | None = None,
    care_plan_version: int | None = None,
) -> bytes:
    """Retained presence: "online" on connect; "offline" when the hub stops, or, as its will,
    when the broker loses it (power cut, crash, network gone). `alarm` says the outbox is
    filling up ("near_full", "over_budget"); `care_plan_version` is the care plan the hub holds
    (None: none); `since` is when the current connection began (hub/wire/status.py)."""
    return wire_status_payload(hub_id, state, now_utc(), since, alarm, care_plan_version)


def batch_wait_s(items: list[OutboxItem], more: bool, max_age_s: float, now: datetime) -> float:
    """How long the batch may still fill (fewer, larger messages save power and airtime): 0,
    send now, if anything is urgent, the batch is full, or its oldest item has waited
    `max_age_s` since it was stored; otherwise until then. Counted from the oldest item's own
    arrival, so a later arrival does not start the wait again."""
    if more or any(item.priority == URGENT for item in items):
        return 0.0
    oldest = datetime.fromisoformat(min(item.stored_at for item in items))
    waited = (now - oldest).total_seconds()
    if waited < 0:  # the clock was set back: do not wait on it
        return 0.0
    return max(0.0, max_age_s - waited)


async def _until(event: asyncio.Event, within_s: float) -> None:
    """Wait for `event`, or `within_s` at most: either way the caller looks again (a bound on a
    wait, not a deadline that fails)."""
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(within_s):
            await event.wait()


class Uplink:
    def __init__(
        self,
        config: HubConfig,
        store: ReadingStore,
        hub_key: Ed25519PrivateKey,
        centre_key: Callable[[], CentreKey],
        on_synced: Callable[[], None] = lambda: None,
        on_downlink: Callable[[str, bytes], None] = lambda _t, _p: None,
        care_plan_version: int | None = None,
    ) -> None:
        self.config = config
        self.store = store
        self.hub_key = hub_key
        self._centre_key = centre_key
        self.on_synced = on_synced
        self.on_downlink = on_downlink
        self.centre_verify = ed25519_public(config.centre.signing_key)
        self.wake = asyncio.Event()  # news for the sender: a reading stored, an ack arrived
        self.ready = asyncio.Event()  # connected and subscribed to our ack topic
        self._events: asyncio.Queue[BrokerEvent] = asyncio.Queue()  # from paho's thread
        self._documents: asyncio.Queue[DocumentArrived] = asyncio.Queue()
        sync = config.sync
        self.delivery = Delivery(store, sync.window, sync.ack_timeout_s)
        self.alarm: str | None = None
        self.care_plan_version = care_plan_version  # the plan held, said in the status
        self.since = now_utc()  # when the current connection began (set with its will)
        # The last delivery: after a restart, the newest acknowledgement the store still holds.
        self.last_ack_at: str | None = store.last_synced_at()
        # Why the broker connection is down or refused, in the broker's words; None when fine.
        self.broker_problem: str | None = None
        # Centre clock minus hub clock, from the last ack of the batch in flight; None until then.
        self.clock_offset_s: float | None = None
        self._loop = asyncio.get_running_loop()
        self._client = self._make_client()

    def _make_client(self) -> mqtt.Client:
        config = self.config
        client = mqtt_client(
            config.hub_id,
            client_context(config.mqtt_ca_path, config.mqtt_cert_path, config.mqtt_key_path),
        )
        client.on_connect = self._on_paho_thread(self._on_connect)
        client.on_subscribe = self._on_paho_thread(self._on_subscribe)
        client.on_disconnect = self._on_paho_thread(self._on_disconnect)
        client.on_message = self._on_paho_thread(self._on_message)
        client.on_connect_fail = self._on_paho_thread(self._on_connect_fail)
        client.reconnect_delay_set(1, 30)
        self._new_will(client)
        return client

    def _new_will(self, client: mqtt.Client) -> None:
        """The will for the next connection, stamped with when it begins: the centre orders a
        hub's statuses by connection, so a will ends the connection it was made for and no
        other (hub/wire/status.py, order_key). paho sends it with every (re)connect."""
        hub_id, self.since = self.config.hub_id, now_utc()
        will = wire_status_payload(
            hub_id, "offline", self.since, self.since, self.alarm, self.care_plan_version
        )
        client.will_set(status_topic(hub_id), will, qos=1, retain=True)

    def _status(self, state: State) -> bytes:
        return status_payload(
            self.config.hub_id, state, self.since, self.alarm, self.care_plan_version
        )

    def start(self) -> None:
        props = session_properties()
        mqtt_cfg = self.config.mqtt
        self._client.connect_async(
            mqtt_cfg.host, mqtt_cfg.port, mqtt_cfg.keepalive_s, clean_start=False, properties=props
        )
        self._client.loop_start()

    def stop(self) -> None:
        # A clean disconnect does not send the will: say "offline" ourselves.
        hub_id = self.config.hub_id
        if self.ready.is_set():
            info = self._client.publish(
                status_topic(hub_id), self._status("offline"), qos=1, retain=True
            )
            with contextlib.suppress(RuntimeError, ValueError):
                info.wait_for_publish(2.0)
        self._client.disconnect()
        self._client.loop_stop()

    @property
    def centre(self) -> CentreKey:
        """The key batches are sealed to: the one new readings are sealed to, which changes
        when the centre rotates its key."""
        return self._centre_key()

    def set_alarm(self, alarm: str | None) -> None:
        """Tell the centre (retained status) that the outbox is filling up, or no longer is."""
        self.alarm = alarm
        self._publish_online()

    def set_care_plan_version(self, version: int | None) -> None:
        """Tell the centre (retained status) which care plan the hub now holds."""
        self.care_plan_version = version
        self._publish_online()

    def _publish_online(self) -> None:
        # Not connected: the status of the next connect says it.
        if self.ready.is_set():
            status = self._status("online")
            self._client.publish(status_topic(self.config.hub_id), status, qos=1, retain=True)

    # paho thread -> asyncio loop
    def _hand_over(self, event: BrokerEvent) -> None:
        self._loop.call_soon_threadsafe(self._events.put_nowait, event)

    def _on_paho_thread(self, callback: Callable[P, None]) -> Callable[P, None]:
        """A callback paho runs on its thread: whatever it raises goes to the loop (and stops
        the daemon), where paho would log it and end its thread, the hub then silently
        without a broker."""

        @functools.wraps(callback)
        def guarded(*args: P.args, **kwargs: P.kwargs) -> None:
            try:
                callback(*args, **kwargs)
            except Exception as exc:
                self._hand_over(CallbackFailed(callback.__name__, exc))

        return guarded

    def _on_connect(
        self, client: mqtt.Client, _u: object, _f: object, reason: object, _p: object
    ) -> None:
        log.info("broker connection: %s", reason)
        if getattr(reason, "is_failure", False):
            self.broker_problem = f"the broker refused the connection: {reason}"
        else:
            hub_id = self.config.hub_id
            # "online" is said from the loop once subscribed (take_broker_events), where the
            # alarm and the care plan version change: said here, an alarm raised between this
            # and `ready` was in neither status (tests/test_outbox_alarm.py).
            client.subscribe([(ack_topic(hub_id), 1), (downlink_topic(hub_id, "+"), 1)])

    def _on_connect_fail(self, *_: object) -> None:
        self.broker_problem = broker_unreachable(self.config.mqtt.host, self.config.mqtt.port)

    def _on_subscribe(
        self, _c: object, _u: object, _mid: object, reasons: Sequence[object], _p: object
    ) -> None:
        self.broker_problem = refused_subscriptions(reasons)
        self._hand_over(Subscribed())

    def _on_disconnect(
        self, _c: object, _u: object, _f: object, reason: object, _p: object
    ) -> None:
        log.warning("broker connection lost: %s", reason)
        self.broker_problem = lost_because(reason, self.config.mqtt.host, self.config.mqtt.port)
        self._new_will(self._client)  # before paho reconnects, on this same thread
        self._hand_over(Lost())

    def _on_message(self, _c: object, _u: object, msg: mqtt.MQTTMessage) -> None:
        if msg.topic == ack_topic(self.config.hub_id):
            self._hand_over(AckArrived(bytes(msg.payload)))
        else:
            self._hand_over(DocumentArrived(msg.topic, bytes(msg.payload)))

    # on the loop, in the daemon's task group
    async def take_broker_events(self) -> None:
        """Connection news and acks, in the order paho saw them; a callback's failure on
        paho's thread is raised here."""
        while True:
            event = await self._events.get()
            if isinstance(event, Subscribed):
                self.ready.set()
                self._publish_online()
            elif isinstance(event, Lost):
                self._lost()
            elif isinstance(event, AckArrived):
                self._handle_ack(event.payload)
            elif isinstance(event, DocumentArrived):
                self._documents.put_nowait(event)
            else:
                raise UplinkFailure(
                    f"the MQTT {event.callback} callback failed on paho's thread: {event.error!r}"
                ) from event.error

    async def take_documents(self) -> None:
        """Care plans, messages and keys from the centre, handed to `on_downlink` one by one."""
        while True:
            document = await self._documents.get()
            self.on_downlink(document.topic, document.payload)

    def _lost(self) -> None:
        # Whatever was in flight may never be acknowledged: send it again after reconnecting
        # (the centre stores each sequence number once).
        self.ready.clear()
        self.delivery.lost()

    def _handle_ack(self, payload: bytes) -> None:
        try:
            ack = open_ack(payload, self.centre_verify, self.config.hub_id)
        except EnvelopeError as exc:
            log.error("rejected acknowledgement: %s", exc)
            return
        try:
            result = self.delivery.acknowledged(ack, now_utc())
        except StoreError as exc:
            # Not recorded: the readings go out again and the centre, holding them, acks again.
            log.error("acknowledgement not recorded: %s", exc)
            return
        if result is None:
            return
        self.last_ack_at = ack.centre_time
        settled = result.settled
        log.info("centre acknowledged batch %s: %d newly synced", ack.batch_id, settled.synced)
        for old, new in settled.renumbered.items():
            log.warning(
                "the centre holds another reading under sequence number %d (this hub's "
                "counter went back); the reading is sent again as %d",
                old,
                new,
            )
        if result.in_flight:
            self.clock_offset_s = clock_offset_s(
                result.sent.sent_at, datetime.now(UTC), datetime.fromisoformat(ack.centre_time)
            )
        self.wake.set()  # a slot of the window is free
        self.on_synced()

    async def send_outbox(self) -> None:
        """Send the outbox, up to `sync.window` batches awaiting their acks at once (the last
        slot kept for urgent items), until the centre has acknowledged every item."""
        sync = self.config.sync
        delivery = self.delivery
        while True:
            await self.ready.wait()
            # From here to the wait below nothing else runs on the loop: a reading stored or an
            # ack arriving after this line sets `wake` again, so no news is missed.
            self.wake.clear()
            for batch_id, sent in delivery.expire(self._loop.time()):
                log.warning(
                    "no acknowledgement for batch %s (%d items) within %.0f s; its "
                    "items go out again",
                    batch_id,
                    len(sent.seqs),
                    sync.ack_timeout_s,
                )
            wait_s = delivery.until_next_deadline(self._loop.time())
            if delivery.full():
                await _until(self.wake, wait_s)  # an ack frees a slot
                continue
            items, more = delivery.unsent(sync.batch_max, sync.batch_max_bytes)
            if delivery.urgent_only():
                # The slot kept for urgent items: they go alone (urgent ones come first), so
                # that the routine backlog does not ride in it.
                items = [item for item in items if item.priority == URGENT]
            if not items:
                await _until(self.wake, min(5.0, wait_s))
                continue
            fill_s = batch_wait_s(items, more, sync.batch_max_age_s, datetime.now(UTC))
            if fill_s > 0:
                await _until(self.wake, min(fill_s, wait_s))  # an urgent reading goes at once
                continue
            await self._send(items)

    async def _send(self, items: list[OutboxItem]) -> None:
        segments = self.store.segments({item.segment_id for item in items})
        header, envelope = build_batch(
            self.config.hub_id, items, segments, self.hub_key, self.centre, now_utc()
        )
        info = self._client.publish(batch_topic(self.config.hub_id), envelope, qos=1)
        if info.rc != mqtt.MQTT_ERR_SUCCESS:
            # Not connected (any more): give the connection callbacks their turn, then retry.
            log.warning("publish of batch %s failed (rc=%s); retrying", header.batch_id, info.rc)
            await asyncio.sleep(1.0)
            return
        self.delivery.sent(
            header.batch_id,
            items,
            datetime.now(UTC),
            self._loop.time(),
        )
        log.debug("sent batch %s: %d items, %d bytes", header.batch_id, len(items), len(envelope))
        await asyncio.sleep(0)  # acks, disconnects and the socket's requests run between sends
