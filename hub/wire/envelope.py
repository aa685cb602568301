"""Batch envelopes: signed by the hub (Ed25519), then sealed to the centre (HPKE, RFC 9180).

Pure functions over bytes and keys; no I/O. Wire format (docs/protocol.md):

    b"DHO1" || uint32_be(len(header)) || header || hpke_enc || ciphertext

`header` is canonical JSON (sorted keys, no spaces) that travels in clear for routing, and is
bound into the HPKE key schedule as `info`, so changing one byte of it makes the open fail.
The sealed plaintext is `ed25519_signature(64) || body`; the signature covers the header too,
so a valid body cannot be replayed under another header. What the body holds is
`hub/wire/batch.py`'s business.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any

from cryptography.exceptions import InvalidSignature, InvalidTag
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from pydantic import Field

from hub.core.canonical import canonical_json
from hub.wire import strict
from hub.wire.strict import MAX_SEQ, Stamp, WireError
from hub.wire.suites import SUITES, CentreKey, CentreKeyPair, suite_for
from hub.wire.topics import HUB_ID_PATTERN

MAGIC = b"DHO1"
VERSION = 2  # 2: acks name exactly the sequence numbers the centre holds (docs/protocol.md)
INFO_CONTEXT = b"no.dho.hub/v1/batch\x00"
SIGNATURE_CONTEXT = b"no.dho.hub/v1/batch-signature\x00"
ACK_CONTEXT = b"no.dho.hub/v1/ack-signature\x00"
MAX_HEADER = 4096
MAX_ITEMS = 10_000  # per batch; a hub sends at most sync.batch_max (200 by default)
UUID = r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$"
KEY_ID = r"^[0-9a-f]{16}$"
Seq = Annotated[int, Field(ge=1, le=MAX_SEQ)]


class EnvelopeError(WireError):
    """A batch or acknowledgement that must not be trusted, with the reason in plain words."""


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
        return canonical_json(
            {
                "v": VERSION,
                "suite": self.suite,
                "hub_id": self.hub_id,
                "batch_id": self.batch_id,
                "seq_first": self.seq_first,
                "seq_last": self.seq_last,
                "count": self.count,
                "key_id": self.key_id,
                "created_at": self.created_at,
            }
        )

    @classmethod
    def from_bytes(cls, raw: bytes) -> BatchHeader:
        obj = strict.load(raw, "batch header", 1, EnvelopeError)
        if not isinstance(obj, dict):
            raise EnvelopeError("batch header is not valid: not a JSON object")
        if obj.get("v") != VERSION or obj.get("suite") not in SUITES:
            raise EnvelopeError(
                f"unsupported envelope version/suite {repr(obj.get('v'))[:20]}/"
                f"{repr(obj.get('suite'))[:40]} (this software speaks version {VERSION})"
            )
        fields = strict.parse(_HeaderSchema, obj, "batch header", EnvelopeError)
        header = cls(
            hub_id=fields.hub_id,
            batch_id=fields.batch_id,
            seq_first=fields.seq_first,
            seq_last=fields.seq_last,
            key_id=fields.key_id,
            created_at=fields.created_at,
            count=fields.count,
            suite=fields.suite,
        )
        if (
            header.seq_first > header.seq_last
            or header.count > header.seq_last - header.seq_first + 1
        ):
            raise EnvelopeError(
                "batch header is not valid: its sequence range cannot hold its count"
            )
        if header.to_bytes() != raw:
            raise EnvelopeError("batch header is not in canonical form")
        return header


class _HeaderSchema(strict.Schema):
    v: int
    suite: str
    hub_id: Annotated[str, Field(pattern=HUB_ID_PATTERN)]
    batch_id: Annotated[str, Field(pattern=UUID)]
    seq_first: Seq
    seq_last: Seq
    count: Annotated[int, Field(ge=1, le=MAX_ITEMS)]
    key_id: Annotated[str, Field(pattern=KEY_ID)]
    created_at: Stamp


def seal_envelope(
    header: BatchHeader, body: bytes, hub_key: Ed25519PrivateKey, centre: CentreKey
) -> bytes:
    """Sign the body under the header with the hub key, then seal to the centre."""
    if (header.key_id, header.suite) != (centre.key_id, centre.suite):
        raise EnvelopeError("the header names another centre key than the one sealed to")
    header_bytes = header.to_bytes()
    signature = hub_key.sign(SIGNATURE_CONTEXT + header_bytes + b"\x00" + body)
    sealed = suite_for(centre.suite).encrypt(
        signature + body, centre.public_key, info=INFO_CONTEXT + header_bytes
    )
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
        plaintext = suite_for(header.suite).decrypt(
            sealed, pair.private, info=INFO_CONTEXT + header_bytes
        )
    except (InvalidTag, ValueError) as exc:
        raise EnvelopeError("envelope does not open: tampered, or header altered") from exc
    signature, body = plaintext[:64], plaintext[64:]
    try:
        hub_verify_key.verify(signature, SIGNATURE_CONTEXT + header_bytes + b"\x00" + body)
    except InvalidSignature as exc:
        raise EnvelopeError(f"batch is not signed by the key enrolled for {header.hub_id}") from exc
    return header, body


SeqRanges = tuple[tuple[int, int], ...]


@dataclass(frozen=True)
class Ack:
    """The centre's signed statement of what it holds after a batch.

    `held`: the batch's sequence numbers whose reading the centre now holds (stored now, stored
    before under that number, or under another). `refused`: the batch's items the centre cannot
    store (unreadable, or not as the protocol says); the hub sets them aside. `conflicts`: the
    batch's sequence numbers under which the centre already holds a *different* reading (the
    hub's counter went back: a lost write, a restored card); the hub renumbers those.
    `highest_held`: the highest sequence number the centre holds for this hub, so a hub whose
    counter went back moves past it. `highest_contiguous`: every 1..n is held (for the
    technician; the hub deletes nothing on it, since after a lost write a number below it may
    name another reading on the hub)."""

    hub_id: str
    batch_id: str
    held: SeqRanges
    conflicts: SeqRanges
    refused: SeqRanges
    highest_held: int
    highest_contiguous: int
    centre_time: str

    def to_bytes(self) -> bytes:
        return canonical_json(
            {
                "v": VERSION,
                "hub_id": self.hub_id,
                "batch_id": self.batch_id,
                "held": [list(r) for r in self.held],
                "conflicts": [list(r) for r in self.conflicts],
                "refused": [list(r) for r in self.refused],
                "highest_held": self.highest_held,
                "highest_contiguous": self.highest_contiguous,
                "centre_time": self.centre_time,
            }
        )

    def holds(self, seq: int) -> bool:
        return in_ranges(seq, self.held)

    def conflicts_with(self, seq: int) -> bool:
        return in_ranges(seq, self.conflicts)

    def refuses(self, seq: int) -> bool:
        return in_ranges(seq, self.refused)


def in_ranges(seq: int, ranges: SeqRanges) -> bool:
    return any(first <= seq <= last for first, last in ranges)


def to_ranges(seqs: Iterable[int]) -> SeqRanges:
    """Sorted, merged inclusive ranges: {1, 2, 3, 7} -> ((1, 3), (7, 7))."""
    ranges: list[tuple[int, int]] = []
    for seq in sorted(set(seqs)):
        if ranges and seq == ranges[-1][1] + 1:
            ranges[-1] = (ranges[-1][0], seq)
        else:
            ranges.append((seq, seq))
    return tuple(ranges)


Range = Annotated[list[Seq], Field(min_length=2, max_length=2)]  # [first, last]


class _AckSchema(strict.Schema):
    v: int
    hub_id: Annotated[str, Field(pattern=HUB_ID_PATTERN)]
    batch_id: Annotated[str, Field(pattern=UUID)]
    held: Annotated[list[Range], Field(max_length=MAX_ITEMS)]
    conflicts: Annotated[list[Range], Field(max_length=MAX_ITEMS)]
    refused: Annotated[list[Range], Field(max_length=MAX_ITEMS)]
    highest_held: Annotated[int, Field(ge=0, le=MAX_SEQ)]
    highest_contiguous: Annotated[int, Field(ge=0, le=MAX_SEQ)]
    centre_time: Stamp


def sign_ack(ack: Ack, centre_signing_key: Ed25519PrivateKey) -> bytes:
    body = ack.to_bytes()
    return centre_signing_key.sign(ACK_CONTEXT + body) + body


def open_signed(
    message: bytes, centre_verify_key: Ed25519PublicKey, context: bytes, what: str, version: int
) -> dict[str, Any]:
    """The JSON object of a message the centre signed (64-byte signature, then the body) under
    `context`, in `version`; EnvelopeError naming `what` otherwise."""
    signature, body = message[:64], message[64:]
    try:
        centre_verify_key.verify(signature, context + body)
    except InvalidSignature as exc:
        raise EnvelopeError(f"{what} is not signed by the centre") from exc
    return read_object(body, what, version)


def read_object(
    body: bytes, what: str, version: int, max_depth: int = strict.MAX_DEPTH
) -> dict[str, Any]:
    """The JSON object of a message from the centre, read strictly, in `version`;
    EnvelopeError naming `what` otherwise."""
    try:
        obj = strict.load(body, what, max_depth)
    except WireError as exc:
        raise EnvelopeError(f"{what} is malformed: {exc}") from None
    if not isinstance(obj, dict):
        raise EnvelopeError(f"{what} is malformed: not a JSON object")
    if obj.get("v") != version:
        raise EnvelopeError(
            f"{what} version {repr(obj.get('v'))[:20]} is not understood "
            f"(this hub speaks {version}): update the hub software"
        )
    return obj


def open_ack(message: bytes, centre_verify_key: Ed25519PublicKey, hub_id: str) -> Ack:
    obj = open_signed(message, centre_verify_key, ACK_CONTEXT, "acknowledgement", VERSION)
    fields = strict.parse(_AckSchema, obj, "acknowledgement", EnvelopeError)
    try:
        datetime.fromisoformat(fields.centre_time)
    except ValueError as exc:
        raise EnvelopeError(f"acknowledgement is not valid: centre_time: {exc}") from None
    if any(first > last for first, last in (*fields.held, *fields.conflicts, *fields.refused)):
        raise EnvelopeError("acknowledgement ranges are impossible: a range ends before it starts")
    if fields.hub_id != hub_id:
        raise EnvelopeError(f"acknowledgement is for hub {fields.hub_id}, not {hub_id}")
    return Ack(
        hub_id=fields.hub_id,
        batch_id=fields.batch_id,
        held=tuple((r[0], r[1]) for r in fields.held),
        conflicts=tuple((r[0], r[1]) for r in fields.conflicts),
        refused=tuple((r[0], r[1]) for r in fields.refused),
        highest_held=fields.highest_held,
        highest_contiguous=fields.highest_contiguous,
        centre_time=fields.centre_time,
    )


def clock_offset_s(sent_at: datetime, acked_at: datetime, centre_time: datetime) -> float:
    """How far the hub's clock is behind the centre's, in seconds (negative: ahead).

    The centre stamped its ack somewhere between the hub's publish and the ack's arrival; the
    midpoint is the best guess, wrong by at most half the round trip. (A Raspberry Pi has no
    real-time clock: after a power cut without network its clock may be days behind.)
    """
    midpoint = sent_at + (acked_at - sent_at) / 2
    return (centre_time - midpoint).total_seconds()
