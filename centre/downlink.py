"""Sending hubs what the centre decides: care plans, messages for the patient, new keys.

Each document is numbered in the centre's store, signed with the centre's signing key, sealed
to the hub's own encryption key (recorded at `centre enrol`) and published with QoS 1 through
the centre workers' listener. A hub enrolled before downlink sealing has no encryption key: it
is sent nothing until it is enrolled again. Care plans and key notices are
retained (the newest is what a hub must hold, even if it connects next week); messages wait in
the hub's persistent session.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from typing import Any

from centre.config import CentreConfig
from centre.errors import CentreError
from centre.keyring import create_key
from centre.store import CentreStore, now_utc
from hub.keys import load_signing_key
from hub.mqtt import client_context, mqtt_client
from hub.wire.documents import CONTENT, Document, check_sendable, seal_document
from hub.wire.envelope import EnvelopeError
from hub.wire.public_keys import KeyFileError
from hub.wire.suites import CentreKey, centre_key
from hub.wire.topics import downlink_topic

log = logging.getLogger(__name__)
RETAINED = {"care_plan", "centre_key"}


class DownlinkError(CentreError, RuntimeError):
    """A document could not be made or delivered to the broker; says what to check."""


@dataclass(frozen=True)
class Outgoing:
    topic: str
    payload: bytes
    retain: bool
    version: int


def issue(
    config: CentreConfig,
    hub_id: str,
    doc_type: str,
    content: dict[str, Any],
    store: CentreStore | None = None,
) -> Outgoing:
    """Check, number, record and sign one document for one hub."""
    store = store or CentreStore(config.database_url)
    if store.hub_signing_key(hub_id) is None:
        raise DownlinkError(f"hub {hub_id} is not enrolled at this centre")
    hub_key = hub_encryption_key(store, hub_id)
    model = CONTENT[doc_type].model_validate(content)  # refuse what a hub would refuse
    issued_at = now_utc()
    try:
        check_sendable(Document(doc_type, hub_id, 1, issued_at, model))
    except EnvelopeError as exc:
        raise DownlinkError(f"not sent, the hub would refuse it: {exc}") from exc
    version = store.record_document(
        hub_id, doc_type, issued_at, model.model_dump(mode="json", exclude_none=True)
    )
    doc = Document(doc_type, hub_id, version, issued_at, model)
    payload = seal_document(doc, load_signing_key(config.signing_key_path), hub_key)
    return Outgoing(downlink_topic(hub_id, doc_type), payload, doc_type in RETAINED, version)


def hub_encryption_key(store: CentreStore, hub_id: str) -> CentreKey:
    """The key a hub's documents are sealed to; DownlinkError if the hub has none."""
    recorded = store.hub_encryption_key(hub_id)
    if recorded is None:
        raise DownlinkError(
            f"hub {hub_id} has no encryption key (it was enrolled before care plans and messages "
            f"were sealed): nothing can be sent to it. Run `centre enrol {hub_id}` and "
            "`hub provision` on the hub with the new bundle"
        )
    try:
        return centre_key(*recorded, what=f"hub {hub_id}'s encryption key")
    except KeyFileError as exc:
        raise DownlinkError(f"{exc}: enrol hub {hub_id} again") from exc


def publish(config: CentreConfig, messages: list[Outgoing], timeout_s: float = 30.0) -> None:
    """Hand the documents to the broker (QoS 1: returns once the broker has them all)."""
    client = mqtt_client(
        f"{config.ingest_name}-downlink",
        client_context(config.ca_cert_path, config.ingest_cert_path, config.ingest_key_path),
    )
    connected = threading.Event()
    client.on_connect = lambda *_: connected.set()
    try:
        client.connect(config.mqtt.host, config.mqtt.port)
    except OSError as exc:
        raise DownlinkError(
            f"cannot reach the broker at {config.mqtt.host}:{config.mqtt.port}: {exc}"
        ) from exc
    client.loop_start()
    try:
        if not connected.wait(timeout_s):
            raise DownlinkError("the broker did not accept the centre's connection")
        infos = [client.publish(m.topic, m.payload, qos=1, retain=m.retain) for m in messages]
        for info in infos:
            info.wait_for_publish(timeout_s)
            if not info.is_published():
                raise DownlinkError("the broker did not acknowledge a document in time")
    finally:
        client.disconnect()
        client.loop_stop()


def rotate_key(config: CentreConfig, suite: str) -> tuple[str, list[Outgoing]]:
    """Make a new current encryption key and tell every enrolled hub. Old keys are kept: items
    sealed to them before the hubs heard of the new one still have to open."""
    pair = create_key(config.keyring_dir, suite)
    content = {"encryption_key": pair.public.text, "encryption_suite": pair.public.suite}
    store = CentreStore(config.database_url)
    notices = []
    for hub in store.enrolled_hubs():
        try:
            notices.append(issue(config, hub, "centre_key", content, store))
        except DownlinkError as exc:  # one hub without a key must not hold back the others
            log.error("hub %s not told of the new key: %s", hub, exc)
    return pair.public.key_id, notices
