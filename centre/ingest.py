"""Turning one MQTT message from a hub into stored readings and a signed acknowledgement, or
into what the centre records of the hub's status (centre/presence.py).

`handle` never raises: whatever arrives, it ends in an ack or in a rejection that is logged
and recorded, and the worker goes on with the next message (a message that crashed the worker
would be redelivered by the broker, and crash it again, for every hub).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from centre.keyring import Keyring
from centre.store import CentreStore, ReplayedBatch, RevokedHub, StoredBatch, UnknownHub, now_utc
from hub.wire.batch import open_batch
from hub.wire.envelope import Ack, EnvelopeError, read_header, sign_ack, to_ranges
from hub.wire.public_keys import KeyFileError, ed25519_public
from hub.wire.status import StatusError, read_status
from hub.wire.suites import CentreKeyPair
from hub.wire.topics import BATCH_TOPIC, STATUS_TOPIC, ack_topic

log = logging.getLogger(__name__)
MAX_REASON = 500  # characters of a refusal kept: the reason may quote what the sender sent


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

    def handle(self, topic: str, payload: bytes, *, retained: bool = False) -> Reply | None:
        """Store a batch and return the ack to publish, or record a hub's status (`retained`:
        a retained copy handed over on subscribing); or log and record why it was refused.
        Never raises."""
        hub_id: str | None = None
        try:
            status = STATUS_TOPIC.match(topic)
            if status is not None:
                hub_id = status.group(1)
                self._record_status(hub_id, payload, retained)
                return None
            match = BATCH_TOPIC.match(topic)
            if match is None:
                raise EnvelopeError(f"message on unexpected topic {topic[:200]}")
            hub_id = match.group(1)
            return self._store(topic, hub_id, payload)
        except (EnvelopeError, KeyFileError, ReplayedBatch, StatusError) as exc:
            self._refuse(topic, hub_id, str(exc))
        except Exception as exc:  # anything unforeseen: refused and recorded, never fatal
            log.exception("unexpected failure on a message on %s", topic[:200])
            self._refuse(
                topic,
                hub_id,
                f"the centre could not process this message ({type(exc).__name__}: {exc})",
            )
        return None

    def _store(self, topic: str, hub_id: str, payload: bytes) -> Reply:
        header, _ = read_header(payload)
        if header.hub_id != hub_id:
            raise EnvelopeError(f"batch names hub {header.hub_id} but came on {hub_id}'s topic")
        enrolled = self.store.batch_signing_key(hub_id)
        if enrolled is None:
            raise EnvelopeError(f"hub {hub_id} is not enrolled at this centre")
        signing_key, revoked = enrolled
        if revoked:  # `centre revoke`: refused, saying why
            raise EnvelopeError(
                f"hub {hub_id} is revoked at this centre (centre revoke): its "
                "batches are refused until it is enrolled again"
            )
        keys = self.keyring if isinstance(self.keyring, dict) else self.keyring.keys()
        batch = open_batch(payload, keys, ed25519_public(signing_key))
        stored = self.store.store_batch(hub_id, header.batch_id, batch.items)
        log.info(
            "stored batch %s from %s: %d items, %d new",
            header.batch_id,
            hub_id,
            header.count,
            stored.new,
        )
        if stored.conflicts:
            self._refuse(topic, hub_id, _conflict_reason(hub_id, stored))
        for seq, reason in list(batch.refused.items())[:10]:  # the rest share the same cause
            self._refuse(
                topic,
                hub_id,
                f"item {seq} of batch {header.batch_id} refused, the hub sets it aside: {reason}",
            )
        ack = Ack(
            hub_id=hub_id,
            batch_id=header.batch_id,
            held=to_ranges(stored.held),
            conflicts=to_ranges(stored.conflicts),
            refused=to_ranges(batch.refused),
            highest_held=self.store.highest_held(hub_id),
            highest_contiguous=self.store.highest_contiguous(hub_id),
            centre_time=now_utc(),
        )
        return Reply(ack_topic(hub_id), sign_ack(ack, self.signing_key))

    def _record_status(self, hub_id: str, payload: bytes, retained: bool) -> None:
        status = read_status(payload, hub_id)
        try:
            changed = self.store.record_status(hub_id, status, live=not retained)
        except (UnknownHub, RevokedHub) as exc:
            raise StatusError(f"status refused: {exc}") from None
        if changed:
            log.info(
                "hub %s is %s (at %s), holds care plan %s, outbox alarm %s",
                hub_id,
                status.state,
                status.at,
                status.care_plan_version,
                status.alarm,
            )

    def _refuse(self, topic: str, hub_id: str | None, reason: str) -> None:
        reason = _printable(reason)
        log.error("rejected message on %s: %s", _printable(topic)[:200], reason)
        try:
            self.store.reject(_printable(topic), hub_id, reason)
        except Exception:  # the refusal is logged; a store that cannot note it must not stop us
            log.exception("could not record the rejection")


def _conflict_reason(hub_id: str, stored: StoredBatch) -> str:
    first = ", ".join(str(s) for s in stored.conflicts[:10])
    return (
        f"hub {hub_id} sent a different reading under sequence number(s) {first}"
        f"{' ...' if len(stored.conflicts) > 10 else ''}, which the centre already holds: "
        "its counter went back (a lost write, a restored SD card). The centre keeps what it "
        "has; the hub renumbers these readings and sends them again"
    )


def _printable(text: str) -> str:
    """Text that can be logged and stored whatever it holds (lone surrogates, control bytes)."""
    clean = text.encode("utf-8", "backslashreplace").decode("utf-8")
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in clean)[:MAX_REASON]
