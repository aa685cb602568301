"""`centre serve`: the ingest worker. paho's loop runs in this thread, so does the store."""

from __future__ import annotations

import logging
import signal
from types import FrameType

import paho.mqtt.client as mqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from centre.config import CentreConfig
from centre.ingest import Ingest
from centre.keyring import Keyring
from centre.store import CentreStore
from hub.keys import load_signing_key
from hub.sync.tls import client_context, mqtt_client

log = logging.getLogger(__name__)


SESSION_EXPIRY_S = 7 * 24 * 3600


def serve(config: CentreConfig, worker: int = 1) -> None:
    """Run ingest worker number `worker` (each worker of a centre needs its own number)."""
    ingest = Ingest(
        CentreStore(config.db_path),
        Keyring(config.keyring_dir),
        load_signing_key(config.signing_key_path),
    )
    subscription = f"$share/{config.share_group}/dho/v1/hub/+/batch"
    # A client id of its own per worker: workers share the load through the shared subscription.
    # The id is stable and the session persistent, so batches that arrive while a worker
    # restarts wait for it at the broker.
    client = mqtt_client(f"{config.ingest_name}-{worker}", client_context(
        config.ca_cert_path, config.ingest_cert_path, config.ingest_key_path))

    def on_connect(c: mqtt.Client, _u: object, _f: object, reason: object, _p: object) -> None:
        log.info("centre connected to broker: %s; subscribing %s", reason, subscription)
        c.subscribe(subscription, qos=1)

    def on_message(c: mqtt.Client, _u: object, msg: mqtt.MQTTMessage) -> None:
        reply = ingest.handle(msg.topic, bytes(msg.payload))
        if reply is not None:
            c.publish(reply.topic, reply.payload, qos=1)

    client.on_connect = on_connect
    client.on_message = on_message
    client.reconnect_delay_set(1, 30)

    def stop(_sig: int, _frame: FrameType | None) -> None:
        client.disconnect()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    props = Properties(PacketTypes.CONNECT)
    props.SessionExpiryInterval = SESSION_EXPIRY_S
    client.connect_async(config.mqtt.host, config.mqtt.port, config.mqtt.keepalive_s,
                         clean_start=False, properties=props)
    log.info("centre %s worker %d serving on %s:%d", config.centre_id, worker, config.mqtt.host,
             config.mqtt.port)
    client.loop_forever(retry_first_connection=True)
