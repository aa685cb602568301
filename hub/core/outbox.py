"""What waits in the hub's outbox and travels in a batch, as plain data: a reading sealed under a
segment key, and that key sealed to the centre. The store keeps them (hub/store.py); the wire
format seals and sends them (hub/wire/sealing.py, hub/wire/batch.py)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class SealedSegment:
    """A segment key as it is stored and sent: sealed to the centre's key, never in clear."""

    segment_id: str
    centre_key_id: str
    suite: str
    sealed_key: bytes


@dataclass(frozen=True)
class SealedItem:
    """One reading sealed under a segment key: only the centre can open it."""

    seq: int
    segment_id: str
    sealed: bytes


@dataclass(frozen=True)
class OutboxItem(SealedItem):
    """A sealed reading as it waits to be sent, in its lane."""

    priority: int
    stored_at: str
