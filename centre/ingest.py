"""Turning one MQTT message from a hub into stored readings and a signed acknowledgement."""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from centre.keyring import Keyring
from centre.store import CentreStore, ReplayedBatch, SequenceConflict, now_utc
from hub.keys import KeyFileError, ed25519_public
from hub.sync.batch import open_batch
from hub.sync.envelope import Ack, EnvelopeError, read_header, sign_ack
from hub.sync.suites import CentreKeyPair
from hub.sync.uplink import ack_topic

log = logging.getLogger(__name__)
BATCH_TOPIC = re.compile(r"^dho/v1/hub/([a-z0-9][a-z0-9-]{2,62})/batch$")


@dataclass(frozen=True)
class Reply:
    topic: str
    payload: bytes


class Ingest:
    def __init__(
        self,
        store: CentreStore,
        keyring: Keyring | dict[str, CentreKeyPair],
        signing_key: Ed25519PrivateKey,
    ) -> None:
        self.store = store
        self.keyring = keyring
        self.signing_key = signing_key

    def handle(self, topic: str, payload: bytes) -> Reply | None:
        """Store a batch and return the ack to publish, or log and record why it was refused."""
        hub_id = None
        try:
            match = BATCH_TOPIC.match(topic)
            if match is None:
                raise EnvelopeError(f"message on unexpected topic {topic}")
            hub_id = match.group(1)
            header, _ = read_header(payload)
            if header.hub_id != hub_id:
                raise EnvelopeError(f"batch names hub {header.hub_id} but came on {hub_id}'s topic")
            # Revocation (`centre revoke`): the store gives a revoked hub no signing key; say why.
            if self.store.is_revoked(hub_id):
                raise EnvelopeError(f"hub {hub_id} is revoked at this centre (centre revoke): its "
                                    "batches are refused until it is enrolled again")
            enrolled = self.store.hub_signing_key(hub_id)
            if enrolled is None:
                raise EnvelopeError(f"hub {hub_id} is not enrolled at this centre")
            keys = self.keyring if isinstance(self.keyring, dict) else self.keyring.keys()
            batch = open_batch(payload, keys, ed25519_public(enrolled))
            new = self.store.store_batch(hub_id, header.batch_id, batch.items)
        except (EnvelopeError, KeyFileError, SequenceConflict, ReplayedBatch) as exc:
            log.error("rejected message on %s: %s", topic, exc)
            self.store.reject(topic, hub_id, str(exc))
            return None
        log.info("stored batch %s from %s: seq %d..%d, %d new of %d", header.batch_id, hub_id,
                 header.seq_first, header.seq_last, new, header.count)
        ack = Ack(
            hub_id=hub_id, batch_id=header.batch_id, seq_first=header.seq_first,
            seq_last=header.seq_last, highest_contiguous=self.store.highest_contiguous(hub_id),
            centre_time=now_utc(),
        )
        return Reply(ack_topic(hub_id), sign_ack(ack, self.signing_key))
