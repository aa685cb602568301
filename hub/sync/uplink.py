"""Uplink to the follow-up centre: sealed batches out over MQTT v5, signed acks back.

paho runs its network loop in its own thread; every callback is handed to the asyncio loop,
so the store is only ever touched from the daemon's single thread.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from datetime import UTC, datetime

import paho.mqtt.client as mqtt
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from hub.config import HubConfig
from hub.core.reading import URGENT, now_utc
from hub.keys import ed25519_public
from hub.mqtt import client_context, mqtt_client
from hub.store import OutboxItem, ReadingStore, StoreError
from hub.sync.delivery import Delivery
from hub.wire.batch import build_batch
from hub.wire.envelope import EnvelopeError, canonical_json, clock_offset_s, open_ack
from hub.wire.suites import CentreKey
from hub.wire.topics import (
    SESSION_EXPIRY_S,
    ack_topic,
    batch_topic,
    downlink_topic,
    status_topic,
)

log = logging.getLogger(__name__)


def status_payload(hub_id: str, state: str, alarm: str | None = None) -> bytes:
    """Retained presence: "online" on connect; "offline" when the hub stops, or, as its will,
    when the broker loses it (power cut, crash, network gone). `alarm` says the outbox is
    filling up ("near_full", "over_budget")."""
    return canonical_json(
        {"v": 1, "hub_id": hub_id, "state": state, "at": now_utc(), "alarm": alarm}
    )


def batch_is_due(items: list[OutboxItem], more: bool, max_age_s: float, now: datetime) -> bool:
    """Send now if anything is urgent, the batch is full, or its oldest item has waited long
    enough; otherwise let it fill (fewer, larger messages save power and airtime)."""
    if more or any(item.priority == URGENT for item in items):
        return True
    oldest = datetime.fromisoformat(min(item.stored_at for item in items))
    waited = (now - oldest).total_seconds()
    return waited >= max_age_s or waited < 0  # < 0: the clock was set back; do not wait on it


class Uplink:
    def __init__(
        self,
        config: HubConfig,
        store: ReadingStore,
        hub_key: Ed25519PrivateKey,
        centre_key: Callable[[], CentreKey],
        on_synced: Callable[[], None] = lambda: None,
        on_downlink: Callable[[str, bytes], None] = lambda _t, _p: None,
    ) -> None:
        self.config = config
        self.store = store
        self.hub_key = hub_key
        self._centre_key = centre_key
        self.on_synced = on_synced
        self.on_downlink = on_downlink
        self.centre_verify = ed25519_public(config.centre.signing_key)
        self.wake = asyncio.Event()
        self.ready = asyncio.Event()  # connected and subscribed to our ack topic
        self._acked = asyncio.Event()
        sync = config.sync
        self.delivery = Delivery(store, sync.window, sync.ack_timeout_s)
        self.alarm: str | None = None
        self.last_ack_at: str | None = None
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
        client.on_connect = self._on_connect
        client.on_subscribe = self._on_subscribe
        client.on_disconnect = self._on_disconnect
        client.on_message = self._on_message
        client.reconnect_delay_set(1, 30)
        hub_id = self.config.hub_id
        client.will_set(status_topic(hub_id), status_payload(hub_id, "offline"), qos=1, retain=True)
        return client

    def start(self) -> None:
        props = Properties(PacketTypes.CONNECT)
        props.SessionExpiryInterval = SESSION_EXPIRY_S
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
                status_topic(hub_id), status_payload(hub_id, "offline"), qos=1, retain=True
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
        if self.ready.is_set():
            hub_id = self.config.hub_id
            self._client.publish(
                status_topic(hub_id), status_payload(hub_id, "online", alarm), qos=1, retain=True
            )

    # paho thread -> asyncio loop
    def _on_connect(
        self, client: mqtt.Client, _u: object, _f: object, reason: object, _p: object
    ) -> None:
        log.info("broker connection: %s", reason)
        if not getattr(reason, "is_failure", False):
            hub_id = self.config.hub_id
            client.publish(
                status_topic(hub_id),
                status_payload(hub_id, "online", self.alarm),
                qos=1,
                retain=True,
            )
            client.subscribe([(ack_topic(hub_id), 1), (downlink_topic(hub_id, "+"), 1)])

    def _on_subscribe(self, *_: object) -> None:
        self._loop.call_soon_threadsafe(self.ready.set)

    def _on_disconnect(
        self, _c: object, _u: object, _f: object, reason: object, _p: object
    ) -> None:
        log.warning("broker connection lost: %s", reason)
        self._loop.call_soon_threadsafe(self._lost)

    def _lost(self) -> None:
        # Whatever was in flight may never be acknowledged: send it again after reconnecting
        # (the centre stores each sequence number once).
        self.ready.clear()
        self.delivery.lost()

    def _on_message(self, _c: object, _u: object, msg: mqtt.MQTTMessage) -> None:
        if msg.topic == ack_topic(self.config.hub_id):
            self._loop.call_soon_threadsafe(self._handle_ack, bytes(msg.payload))
        else:
            self._loop.call_soon_threadsafe(self.on_downlink, msg.topic, bytes(msg.payload))

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
        self._acked.set()
        self.on_synced()

    async def run(self) -> None:
        """Send the outbox, up to `sync.window` batches awaiting their acks at once, until the
        centre has acknowledged every item."""
        sync = self.config.sync
        delivery = self.delivery
        while True:
            await self.ready.wait()
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
                self._acked.clear()
                await self._wait(self._acked, wait_s)
                continue
            items, more = delivery.unsent(sync.batch_max, sync.batch_max_bytes)
            if not items:
                self.wake.clear()
                await self._wait(self.wake, min(5.0, wait_s))
                continue
            if not batch_is_due(items, more, sync.batch_max_age_s, datetime.now(UTC)):
                self.wake.clear()
                await self._wait(self.wake, min(sync.batch_max_age_s, wait_s))
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

    @staticmethod
    async def _wait(event: asyncio.Event, timeout: float) -> bool:
        try:
            await asyncio.wait_for(event.wait(), timeout)
        except TimeoutError:
            return False
        return True
