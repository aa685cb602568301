"""A batch: outbox items (each sealed at rest) and the segment keys they need, in an envelope.

Body (canonical JSON, inside the signed and sealed envelope):

    {"items": [{"seq": 17, "segment": "<uuid>", "sealed": "<base64>"}, ...],
     "segments": [{"segment": "<uuid>", "centre_key_id": "...", "suite": "x25519",
                   "sealed_key": "<base64>"}, ...]}

Pure functions; no I/O.
"""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from hub.sync.envelope import (
    ITEM_FIELDS,
    BatchHeader,
    EnvelopeError,
    canonical_json,
    open_envelope,
    seal_envelope,
)
from hub.sync.sealing import SealedSegment, open_item, open_segment
from hub.sync.suites import CentreKey, CentreKeyPair


@dataclass(frozen=True)
class SealedItem:
    seq: int
    segment_id: str
    sealed: bytes


@dataclass(frozen=True)
class OpenedBatch:
    header: BatchHeader
    items: list[dict[str, Any]]


def build_batch(
    hub_id: str,
    items: Sequence[SealedItem],
    segments: Sequence[SealedSegment],
    hub_key: Ed25519PrivateKey,
    centre: CentreKey,
    created_at: str,
) -> tuple[BatchHeader, bytes]:
    seqs = [item.seq for item in items]
    header = BatchHeader(
        hub_id=hub_id, batch_id=str(uuid.uuid4()), seq_first=min(seqs), seq_last=max(seqs),
        count=len(items), key_id=centre.key_id, created_at=created_at, suite=centre.suite,
    )
    return header, seal_envelope(header, batch_body(items, segments), hub_key, centre)


def batch_body(items: Sequence[SealedItem], segments: Sequence[SealedSegment]) -> bytes:
    return canonical_json({
        "items": [{"seq": i.seq, "segment": i.segment_id,
                   "sealed": base64.b64encode(i.sealed).decode()} for i in items],
        "segments": [{"segment": s.segment_id, "centre_key_id": s.centre_key_id,
                      "suite": s.suite, "sealed_key": base64.b64encode(s.sealed_key).decode()}
                     for s in segments],
    })


def open_batch(
    envelope: bytes,
    keyring: dict[str, CentreKeyPair],
    hub_verify_key: Ed25519PublicKey,
) -> OpenedBatch:
    """Open, verify and unseal a batch. Raises EnvelopeError saying why it must be rejected:
    nothing of a batch is used unless all of it opens."""
    header, body = open_envelope(envelope, keyring, hub_verify_key)
    try:
        obj = json.loads(body)
        segments = {s["segment"]: SealedSegment(
            str(s["segment"]), str(s["centre_key_id"]), str(s["suite"]),
            base64.b64decode(s["sealed_key"], validate=True)) for s in obj["segments"]}
        sealed = [SealedItem(int(i["seq"]), str(i["segment"]),
                             base64.b64decode(i["sealed"], validate=True)) for i in obj["items"]]
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise EnvelopeError(f"signed batch body is malformed: {exc}") from exc
    keys = {sid: open_segment(header.hub_id, seg, _private(keyring, seg))
            for sid, seg in segments.items()}
    items = []
    for item in sealed:
        if item.segment_id not in keys:
            raise EnvelopeError(
                f"item {item.seq} names segment {item.segment_id}, not in the batch")
        items.append(open_item(keys[item.segment_id], header.hub_id, item.segment_id, item.seq,
                               item.sealed))
    return OpenedBatch(header, _checked_items(header, items))


def _private(keyring: dict[str, CentreKeyPair], segment: SealedSegment) -> Any:
    pair = keyring.get(segment.centre_key_id)
    if pair is None:
        raise EnvelopeError(
            f"segment {segment.segment_id} is sealed to unknown centre key id "
            f"{segment.centre_key_id}: was a retired centre key deleted too early?")
    if pair.public.suite != segment.suite:
        raise EnvelopeError(f"centre key {segment.centre_key_id} is not a {segment.suite} key")
    return pair.private


def _checked_items(header: BatchHeader, items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    try:
        seqs = [int(item["seq"]) for item in items]
        for item in items:
            missing = ITEM_FIELDS - item.keys()
            if missing:
                raise KeyError(f"item {item['seq']} lacks {', '.join(sorted(missing))}")
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise EnvelopeError(f"signed batch body is malformed: {exc}") from exc
    if len(seqs) != header.count or len(set(seqs)) != len(seqs):
        raise EnvelopeError("batch item count does not match its header")
    if seqs and (min(seqs) != header.seq_first or max(seqs) != header.seq_last):
        raise EnvelopeError("batch sequence numbers do not match its header")
    return items
