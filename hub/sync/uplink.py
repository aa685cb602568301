"""Uplink to the follow-up centre: sealed batches out over MQTT v5, signed acks back.

paho runs its network loop in its own thread; every callback is handed to the asyncio loop,
so the store is only ever touched from the daemon's single thread.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import Callable
from datetime import UTC, datetime

import paho.mqtt.client as mqtt
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from hub.config import HubConfig
from hub.keys import ed25519_public, x25519_public
from hub.store import ReadingStore, StoredReading, StoreError, now_utc
from hub.sync.envelope import (
    BatchHeader,
    EnvelopeError,
    acknowledged_ranges,
    canonical_json,
    clock_offset_s,
    key_id,
    open_ack,
    seal_batch,
)
from hub.sync.tls import client_context, mqtt_client

log = logging.getLogger(__name__)
SESSION_EXPIRY_S = 7 * 24 * 3600


def batch_topic(hub_id: str) -> str:
    return f"dho/v1/hub/{hub_id}/batch"


def ack_topic(hub_id: str) -> str:
    return f"dho/v1/hub/{hub_id}/ack"


def status_topic(hub_id: str) -> str:
    return f"dho/v1/hub/{hub_id}/status"


def status_payload(hub_id: str, state: str) -> bytes:
    """Retained presence: "online" on connect; "offline" when the hub stops, or, as its will,
    when the broker loses it (power cut, crash, network gone)."""
    return canonical_json({"v": 1, "hub_id": hub_id, "state": state, "at": now_utc()})


def build_envelope(
    config: HubConfig, readings: list[StoredReading], hub_key: Ed25519PrivateKey
) -> tuple[BatchHeader, bytes]:
    centre_key = x25519_public(config.centre.encryption_key)
    header = BatchHeader(
        hub_id=config.hub_id, batch_id=str(uuid.uuid4()),
        seq_first=readings[0].seq, seq_last=readings[-1].seq, count=len(readings),
        key_id=key_id(centre_key), created_at=now_utc(),
    )
    items = [r.to_wire() for r in readings]
    return header, seal_batch(header, items, hub_key, centre_key)


class Uplink:
    def __init__(
        self,
        config: HubConfig,
        store: ReadingStore,
        hub_key: Ed25519PrivateKey,
        on_synced: Callable[[], None] = lambda: None,
    ) -> None:
        self.config = config
        self.store = store
        self.hub_key = hub_key
        self.on_synced = on_synced
        self.centre_verify = ed25519_public(config.centre.signing_key)
        self.wake = asyncio.Event()
        self.ready = asyncio.Event()  # connected and subscribed to our ack topic
        self._acked = asyncio.Event()
        self._awaiting: str | None = None
        self._sent_at: datetime | None = None
        self.last_ack_at: str | None = None
        # Centre clock minus hub clock, from the last ack of the batch in flight; None until then.
        self.clock_offset_s: float | None = None
        self._loop = asyncio.get_running_loop()
        self._client = self._make_client()

    def _make_client(self) -> mqtt.Client:
        config = self.config
        client = mqtt_client(config.hub_id, client_context(
            config.mqtt_ca_path, config.mqtt_cert_path, config.mqtt_key_path))
        client.on_connect = self._on_connect
        client.on_subscribe = self._on_subscribe
        client.on_disconnect = self._on_disconnect
        client.on_message = self._on_message
        client.reconnect_delay_set(1, 30)
        hub_id = self.config.hub_id
        client.will_set(status_topic(hub_id), status_payload(hub_id, "offline"), qos=1,
                        retain=True)
        return client

    def start(self) -> None:
        props = Properties(PacketTypes.CONNECT)
        props.SessionExpiryInterval = SESSION_EXPIRY_S
        mqtt_cfg = self.config.mqtt
        self._client.connect_async(mqtt_cfg.host, mqtt_cfg.port, mqtt_cfg.keepalive_s,
                                   clean_start=False, properties=props)
        self._client.loop_start()

    def stop(self) -> None:
        # A clean disconnect does not send the will: say "offline" ourselves.
        hub_id = self.config.hub_id
        if self.ready.is_set():
            info = self._client.publish(status_topic(hub_id), status_payload(hub_id, "offline"),
                                        qos=1, retain=True)
            with contextlib.suppress(RuntimeError, ValueError):
                info.wait_for_publish(2.0)
        self._client.disconnect()
        self._client.loop_stop()

    # paho thread -> asyncio loop
    def _on_connect(self, client: mqtt.Client, _u: object, _f: object, reason: object,
                    _p: object) -> None:
        log.info("broker connection: %s", reason)
        if not getattr(reason, "is_failure", False):
            hub_id = self.config.hub_id
            client.publish(status_topic(hub_id), status_payload(hub_id, "online"), qos=1,
                           retain=True)
            client.subscribe(ack_topic(hub_id), qos=1)

    def _on_subscribe(self, *_: object) -> None:
        self._loop.call_soon_threadsafe(self.ready.set)

    def _on_disconnect(self, _c: object, _u: object, _f: object, reason: object,
                       _p: object) -> None:
        log.warning("broker connection lost: %s", reason)
        self._loop.call_soon_threadsafe(self.ready.clear)

    def _on_message(self, _c: object, _u: object, msg: mqtt.MQTTMessage) -> None:
        self._loop.call_soon_threadsafe(self._handle_ack, bytes(msg.payload))

    def _handle_ack(self, payload: bytes) -> None:
        try:
            ack = open_ack(payload, self.centre_verify, self.config.hub_id)
        except EnvelopeError as exc:
            log.error("rejected acknowledgement: %s", exc)
            return
        at = now_utc()
        try:
            changed = sum(self.store.mark_synced(first, last, at)
                          for first, last in acknowledged_ranges(ack))
        except StoreError as exc:
            # Not marked: the readings go out again and the centre, holding them, acks again.
            log.error("acknowledgement not recorded: %s", exc)
            return
        self.last_ack_at = ack.centre_time
        log.info("centre acknowledged seq %d..%d (%d newly synced)",
                 ack.seq_first, ack.seq_last, changed)
        if ack.batch_id == self._awaiting:
            if self._sent_at is not None:
                self.clock_offset_s = clock_offset_s(
                    self._sent_at, datetime.now(UTC), datetime.fromisoformat(ack.centre_time)
                )
            self._acked.set()
        self.on_synced()

    async def run(self) -> None:
        """Send the oldest unsynced readings until the centre has acknowledged all of them."""
        while True:
            await self.ready.wait()
            readings = self.store.unsynced(self.config.sync.batch_max)
            if not readings:
                self.wake.clear()
                await self._wait(self.wake, 5.0)
                continue
            await self._send(readings)

    async def _send(self, readings: list[StoredReading]) -> None:
        header, envelope = build_envelope(self.config, readings, self.hub_key)
        self._awaiting = header.batch_id
        self._sent_at = datetime.now(UTC)
        self._acked.clear()
        info = self._client.publish(batch_topic(self.config.hub_id), envelope, qos=1)
        if info.rc != mqtt.MQTT_ERR_SUCCESS:
            log.warning("publish of batch %s failed (rc=%s); retrying", header.batch_id, info.rc)
            await asyncio.sleep(1.0)
            return
        if not await self._wait(self._acked, self.config.sync.ack_timeout_s):
            log.warning("no acknowledgement for batch %s (seq %d..%d) within %.0f s; resending",
                        header.batch_id, header.seq_first, header.seq_last,
                        self.config.sync.ack_timeout_s)

    @staticmethod
    async def _wait(event: asyncio.Event, timeout: float) -> bool:
        try:
            await asyncio.wait_for(event.wait(), timeout)
        except TimeoutError:
            return False
        return True
