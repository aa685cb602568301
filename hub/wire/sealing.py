"""Readings sealed at rest, the moment they are stored: only the centre can open them.

A reading is encrypted (ChaCha20-Poly1305) under a *segment key*, a random 256-bit key that
lives only in the daemon's memory. The segment key itself is sealed to the centre's public key
with HPKE (RFC 9180) and stored beside the items; the hub cannot open it again. A thief holding
the SD card therefore holds ciphertext only (apart from the patient screen's short plaintext
window, see docs/security.md). One HPKE operation per segment instead of one per reading keeps
the centre fast enough to drain a long outage (bench/drain.py).

Nonce: the item's sequence number (unique per hub, so per key). Associated data: hub id,
segment id and sequence number, so an item cannot be moved to another hub or position.
Pure functions over bytes and keys; no I/O.
"""

from __future__ import annotations

import functools
import os
import uuid
from dataclasses import dataclass
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305

from hub.core.canonical import canonical_json
from hub.core.outbox import SealedSegment
from hub.wire import strict
from hub.wire.envelope import EnvelopeError
from hub.wire.suites import CentreKey, CentrePrivateKey, suite_for

SEGMENT_INFO = b"no.dho.hub/v1/segment-key\x00"
ITEM_AD = b"no.dho.hub/v1/item\x00"
KEY_BYTES = 32
# Deeper than anything the hub stores: the local socket takes requests 64 deep (a questionnaire
# answer inside one), and the item adds its own levels. One rule on both sides, so the centre
# never refuses an item the hub accepted (tests/test_centre_hostile.py).
ITEM_DEPTH = 72


@dataclass(frozen=True)
class Segment(SealedSegment):
    """A segment key as the hub holds it: sealed to the centre (what is stored and sent) and,
    in memory only, the key itself."""

    key: bytes

    def public(self) -> SealedSegment:
        return SealedSegment(self.segment_id, self.centre_key_id, self.suite, self.sealed_key)


def _segment_info(hub_id: str, segment_id: str) -> bytes:
    return SEGMENT_INFO + canonical_json({"hub_id": hub_id, "segment": segment_id})


def new_segment(hub_id: str, centre: CentreKey) -> Segment:
    segment_id = str(uuid.uuid4())
    key = os.urandom(KEY_BYTES)
    sealed = suite_for(centre.suite).encrypt(
        key, centre.public_key, info=_segment_info(hub_id, segment_id)
    )
    return Segment(segment_id, centre.key_id, centre.suite, sealed, key)


def open_segment(hub_id: str, segment: SealedSegment, private: CentrePrivateKey) -> bytes:
    """The segment key, for the centre holding the private key it was sealed to."""
    try:
        key = suite_for(segment.suite).decrypt(
            segment.sealed_key, private, info=_segment_info(hub_id, segment.segment_id)
        )
    except Exception as exc:  # cryptography raises InvalidTag or ValueError, by suite
        raise EnvelopeError(
            f"segment key {segment.segment_id} does not open: tampered, or sealed for another hub"
        ) from exc
    if len(key) != KEY_BYTES:
        raise EnvelopeError(f"segment key {segment.segment_id} has the wrong length")
    return key


def _nonce(seq: int) -> bytes:
    return bytes(4) + seq.to_bytes(8, "big")


def _item_ad(hub_id: str, segment_id: str, seq: int) -> bytes:
    """ITEM_AD || canonical_json({"hub_id", "segment", "seq"}), built from a cached prefix
    (a drain opens hundreds of thousands of items)."""
    return _ad_prefix(hub_id, segment_id) + b"%d}" % seq


@functools.lru_cache(maxsize=64)
def _ad_prefix(hub_id: str, segment_id: str) -> bytes:
    whole = canonical_json({"hub_id": hub_id, "segment": segment_id, "seq": 0})
    assert whole.endswith(b'"seq":0}')
    return ITEM_AD + whole[: -len(b"0}")]


def seal_item(segment: Segment, hub_id: str, seq: int, item: dict[str, Any]) -> bytes:
    return ChaCha20Poly1305(segment.key).encrypt(
        _nonce(seq), canonical_json(item), _item_ad(hub_id, segment.segment_id, seq)
    )


def open_item(key: bytes, hub_id: str, segment_id: str, seq: int, sealed: bytes) -> dict[str, Any]:
    return read_item(open_item_bytes(key, hub_id, segment_id, seq, sealed), seq)


def open_item_bytes(key: bytes, hub_id: str, segment_id: str, seq: int, sealed: bytes) -> bytes:
    """The item's JSON, as the hub sealed it: not read yet."""
    return open_item_with(ChaCha20Poly1305(key), hub_id, segment_id, seq, sealed)


def open_item_with(
    cipher: ChaCha20Poly1305, hub_id: str, segment_id: str, seq: int, sealed: bytes
) -> bytes:
    """`open_item_bytes` with the segment key's cipher made once for all its items (making it
    cost half the decryption of a reading, bench/ingest.py)."""
    try:
        return cipher.decrypt(_nonce(seq), sealed, _item_ad(hub_id, segment_id, seq))
    except InvalidTag as exc:
        raise EnvelopeError(f"item {seq} does not open: tampered, or moved") from exc


def read_item(plain: bytes, seq: int) -> dict[str, Any]:
    """The JSON object of an opened item, read strictly, that says it is item `seq`."""
    item = strict.load(plain, f"item {seq}", ITEM_DEPTH, EnvelopeError)
    if not isinstance(item, dict):
        raise EnvelopeError(f"item {seq} is not a JSON object")
    if item.get("seq") != seq:
        raise EnvelopeError(f"item sealed as {seq} says it is {item.get('seq')!r}")
    return item


class ItemSealer:
    """The daemon's sealing state: the current segment, replaced after `segment_items` items or
    when the centre key changes. Its key is never written anywhere."""

    def __init__(self, hub_id: str, centre: CentreKey, segment_items: int = 10_000) -> None:
        self.hub_id = hub_id
        self.centre = centre
        self.segment_items = segment_items
        self._segment: Segment | None = None
        self._used = 0

    @property
    def current_segment_id(self) -> str:
        return self._segment.segment_id if self._segment else ""

    def seal(self, seq: int, item: dict[str, Any]) -> tuple[Segment, bytes]:
        segment = self._segment
        if (
            segment is None
            or self._used >= self.segment_items
            or segment.centre_key_id != self.centre.key_id
        ):
            segment = self._segment = new_segment(self.hub_id, self.centre)
            self._used = 0
        self._used += 1
        return segment, seal_item(segment, self.hub_id, seq, item)
