"""Batch envelopes: signed by the hub (Ed25519), then sealed to the centre (HPKE, RFC 9180).

Pure functions over bytes and keys; no I/O. Wire format (docs/protocol.md):

    b"DHO1" || uint32_be(len(header)) || header || hpke_enc || ciphertext

`header` is canonical JSON (sorted keys, no spaces) that travels in clear for routing, and is
bound into the HPKE key schedule as `info`, so changing one byte of it makes the open fail.
The sealed plaintext is `ed25519_signature(64) || body`; the signature covers the header too,
so a valid body cannot be replayed under another header. What the body holds is
`hub/sync/batch.py`'s business.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from cryptography.exceptions import InvalidSignature, InvalidTag
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from hub.sync.suites import SUITES, CentreKey, CentreKeyPair, suite_for

MAGIC = b"DHO1"
VERSION = 1
INFO_CONTEXT = b"no.dho.hub/v1/batch\x00"
SIGNATURE_CONTEXT = b"no.dho.hub/v1/batch-signature\x00"
ACK_CONTEXT = b"no.dho.hub/v1/ack-signature\x00"
MAX_HEADER = 4096
ITEM_FIELDS = frozenset(
    {
        "seq",
        "kind",
        "characteristic",
        "device_address",
        "device_time",
        "measured_at",
        "time_source",
        "clock_correction_s",
        "hub_clock_synced",
        "hub_clock_offset_s",
        "received_at",
        "outcome",
        "problems",
        "raw_hex",
        "values",
    }
)


class EnvelopeError(ValueError):
    """A batch or acknowledgement that must not be trusted, with the reason in plain words."""


def canonical_json(obj: Any) -> bytes:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


@dataclass(frozen=True)
class BatchHeader:
    hub_id: str
    batch_id: str
    seq_first: int
    seq_last: int
    key_id: str
    created_at: str
    count: int
    suite: str = "x25519"

    def to_bytes(self) -> bytes:
        return canonical_json({
            "v": VERSION, "suite": self.suite, "hub_id": self.hub_id, "batch_id": self.batch_id,
            "seq_first": self.seq_first, "seq_last": self.seq_last, "count": self.count,
            "key_id": self.key_id, "created_at": self.created_at,
        })

    @classmethod
    def from_bytes(cls, raw: bytes) -> BatchHeader:
        try:
            obj = json.loads(raw)
            if obj.get("v") != VERSION or obj.get("suite") not in SUITES:
                raise EnvelopeError(
                    f"unsupported envelope version/suite {obj.get('v')!r}/{obj.get('suite')!r}")
            header = cls(
                hub_id=str(obj["hub_id"]), batch_id=str(obj["batch_id"]),
                seq_first=int(obj["seq_first"]), seq_last=int(obj["seq_last"]),
                key_id=str(obj["key_id"]), created_at=str(obj["created_at"]),
                count=int(obj["count"]), suite=str(obj["suite"]),
            )
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            if isinstance(exc, EnvelopeError):
                raise
            raise EnvelopeError(f"batch header is not valid: {exc}") from exc
        if header.to_bytes() != raw:
            raise EnvelopeError("batch header is not in canonical form")
        return header


def seal_envelope(
    header: BatchHeader, body: bytes, hub_key: Ed25519PrivateKey, centre: CentreKey
) -> bytes:
    """Sign the body under the header with the hub key, then seal to the centre."""
    if (header.key_id, header.suite) != (centre.key_id, centre.suite):
        raise EnvelopeError("the header names another centre key than the one sealed to")
    header_bytes = header.to_bytes()
    signature = hub_key.sign(SIGNATURE_CONTEXT + header_bytes + b"\x00" + body)
    sealed = suite_for(centre.suite).encrypt(signature + body, centre.public_key,
                                             info=INFO_CONTEXT + header_bytes)
    return MAGIC + len(header_bytes).to_bytes(4, "big") + header_bytes + sealed


def read_header(envelope: bytes) -> tuple[BatchHeader, bytes]:
    """The clear header of an envelope (unauthenticated until `open_envelope` succeeds)."""
    if len(envelope) < 8 or envelope[:4] != MAGIC:
        raise EnvelopeError("not a hub batch envelope (bad magic)")
    size = int.from_bytes(envelope[4:8], "big")
    if size > MAX_HEADER or len(envelope) < 8 + size:
        raise EnvelopeError(f"envelope header length {size} does not fit the message")
    return BatchHeader.from_bytes(envelope[8 : 8 + size]), envelope[8 + size :]


def open_envelope(
    envelope: bytes,
    keyring: dict[str, CentreKeyPair],
    hub_verify_key: Ed25519PublicKey,
) -> tuple[BatchHeader, bytes]:
    """Open and verify the outer layer; returns the header and the signed body."""
    header, sealed = read_header(envelope)
    header_bytes = header.to_bytes()
    pair = keyring.get(header.key_id)
    if pair is None:
        raise EnvelopeError(f"sealed to unknown centre key id {header.key_id}")
    if pair.public.suite != header.suite:
        raise EnvelopeError(f"centre key {header.key_id} is not a {header.suite} key")
    try:
        plaintext = suite_for(header.suite).decrypt(sealed, pair.private,
                                                    info=INFO_CONTEXT + header_bytes)
    except (InvalidTag, ValueError) as exc:
        raise EnvelopeError("envelope does not open: tampered, or header altered") from exc
    signature, body = plaintext[:64], plaintext[64:]
    try:
        hub_verify_key.verify(signature, SIGNATURE_CONTEXT + header_bytes + b"\x00" + body)
    except InvalidSignature as exc:
        raise EnvelopeError(f"batch is not signed by the key enrolled for {header.hub_id}") from exc
    return header, body


@dataclass(frozen=True)
class Ack:
    """The centre's signed statement that it has stored a batch."""

    hub_id: str
    batch_id: str
    seq_first: int
    seq_last: int
    highest_contiguous: int
    centre_time: str

    def to_bytes(self) -> bytes:
        return canonical_json({
            "v": VERSION, "hub_id": self.hub_id, "batch_id": self.batch_id,
            "seq_first": self.seq_first, "seq_last": self.seq_last,
            "highest_contiguous": self.highest_contiguous, "centre_time": self.centre_time,
        })


def sign_ack(ack: Ack, centre_signing_key: Ed25519PrivateKey) -> bytes:
    body = ack.to_bytes()
    return centre_signing_key.sign(ACK_CONTEXT + body) + body


def open_signed(message: bytes, centre_verify_key: Ed25519PublicKey, context: bytes,
                what: str) -> dict[str, Any]:
    """The JSON object of a message the centre signed (64-byte signature, then the body) under
    `context`, in a version this hub speaks; EnvelopeError naming `what` otherwise."""
    signature, body = message[:64], message[64:]
    try:
        centre_verify_key.verify(signature, context + body)
    except InvalidSignature as exc:
        raise EnvelopeError(f"{what} is not signed by the centre") from exc
    try:
        obj = json.loads(body)
    except ValueError as exc:
        raise EnvelopeError(f"{what} is malformed: {exc}") from exc
    if not isinstance(obj, dict):
        raise EnvelopeError(f"{what} is malformed: not a JSON object")
    if obj.get("v") != VERSION:
        raise EnvelopeError(f"{what} version {obj.get('v')!r} is not understood (this hub "
                            f"speaks {VERSION}): update the hub software")
    return obj


def open_ack(message: bytes, centre_verify_key: Ed25519PublicKey, hub_id: str) -> Ack:
    obj = open_signed(message, centre_verify_key, ACK_CONTEXT, "acknowledgement")
    try:
        ack = Ack(
            hub_id=str(obj["hub_id"]), batch_id=str(obj["batch_id"]),
            seq_first=int(obj["seq_first"]), seq_last=int(obj["seq_last"]),
            highest_contiguous=int(obj["highest_contiguous"]),
            centre_time=str(obj["centre_time"]),
        )
    except (ValueError, KeyError, TypeError) as exc:
        raise EnvelopeError(f"acknowledgement is malformed: {exc}") from exc
    if ack.hub_id != hub_id:
        raise EnvelopeError(f"acknowledgement is for hub {ack.hub_id}, not {hub_id}")
    if not (1 <= ack.seq_first <= ack.seq_last and ack.highest_contiguous >= 0):
        raise EnvelopeError(
            f"acknowledgement ranges are impossible: seq {ack.seq_first}..{ack.seq_last}, "
            f"highest contiguous {ack.highest_contiguous}"
        )
    return ack


def clock_offset_s(sent_at: datetime, acked_at: datetime, centre_time: datetime) -> float:
    """How far the hub's clock is behind the centre's, in seconds (negative: ahead).

    The centre stamped its ack somewhere between the hub's publish and the ack's arrival; the
    midpoint is the best guess, wrong by at most half the round trip. (A Raspberry Pi has no
    real-time clock: after a power cut without network its clock may be days behind.)
    """
    midpoint = sent_at + (acked_at - sent_at) / 2
    return (centre_time - midpoint).total_seconds()


def acknowledged_ranges(ack: Ack, already_through: int = 0) -> list[tuple[int, int]]:
    """The sequence ranges an ack proves the centre holds: the batch, and 1..highest contiguous.

    The second covers batches whose own ack was lost, so they are not sent again. What the hub
    has marked before (1..`already_through`) is left out, so a long drain stays linear.
    """
    ranges = [(ack.seq_first, ack.seq_last)]
    if ack.highest_contiguous > already_through:
        ranges.append((already_through + 1, ack.highest_contiguous))
    return ranges
