"""Which batches await the centre's acknowledgement, and what an acknowledgement settles.

The rule that keeps every reading: the hub deletes an item only when the centre's signed ack
for a batch *this daemon run sent* says the centre holds that item's sequence number with the
reading the batch carried. Nothing else deletes: not a sequence range, not the centre's
contiguous watermark (after a lost write a number below it may name another reading on the
hub), not an ack for a batch the hub does not remember (its items simply go out again and the
centre, holding them, says so again). No I/O but the store's; no clock of its own.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from dataclasses import dataclass
from datetime import datetime

from hub.store import ReadingStore, Settled
from hub.wire.envelope import Ack

log = logging.getLogger(__name__)
REMEMBERED = 256  # batches whose late ack still counts after they timed out or the link dropped


@dataclass(frozen=True)
class Sent:
    seqs: frozenset[int]
    sent_at: datetime
    deadline: float  # monotonic time


@dataclass(frozen=True)
class AckResult:
    settled: Settled
    sent: Sent
    in_flight: bool  # still awaited (not timed out or lost with the connection)


class Delivery:
    def __init__(self, store: ReadingStore, window: int, ack_timeout_s: float) -> None:
        self.store = store
        self.window = window
        self.ack_timeout_s = ack_timeout_s
        self.in_flight: dict[str, Sent] = {}
        self._sent: OrderedDict[str, Sent] = OrderedDict()

    def full(self) -> bool:
        return len(self.in_flight) >= self.window

    def skip(self) -> frozenset[int]:
        """Items in flight: not put into another batch until their ack or timeout."""
        return frozenset().union(*(s.seqs for s in self.in_flight.values()))

    def sent(self, batch_id: str, seqs: frozenset[int], sent_at: datetime, now: float) -> None:
        sent = Sent(seqs, sent_at, now + self.ack_timeout_s)
        self.in_flight[batch_id] = self._sent[batch_id] = sent
        while len(self._sent) > REMEMBERED:
            self._sent.popitem(last=False)

    def expire(self, now: float) -> list[tuple[str, Sent]]:
        """Batches whose ack is overdue: their items may go out again."""
        overdue = [(b, s) for b, s in self.in_flight.items() if now >= s.deadline]
        for batch_id, _ in overdue:
            del self.in_flight[batch_id]
        return overdue

    def lost(self) -> None:
        """The connection dropped: send everything again after reconnecting."""
        self.in_flight.clear()

    def until_next_deadline(self, now: float) -> float:
        if not self.in_flight:
            return self.ack_timeout_s
        return max(0.05, min(s.deadline for s in self.in_flight.values()) - now)

    def acknowledged(self, ack: Ack, at: str) -> AckResult | None:
        """Settle what the ack says of a batch this run sent; None for any other batch.
        Raises StoreError if the store cannot record it (the items then simply go out again)."""
        sent = self._sent.get(ack.batch_id)
        if sent is None:
            log.info(
                "acknowledgement for batch %s, which this hub does not remember sending; "
                "its items go out again if they are still waiting",
                ack.batch_id,
            )
            return None
        held = [seq for seq in sent.seqs if ack.holds(seq)]
        conflicts = [seq for seq in sent.seqs if ack.conflicts_with(seq)]
        refused = [seq for seq in sent.seqs if ack.refuses(seq)]
        if refused:
            log.error(
                "the centre cannot store reading(s) %s (see its rejections); kept on the "
                "hub and not sent again",
                ", ".join(map(str, sorted(refused)[:10])),
            )
        settled = self.store.settle(held, conflicts, ack.highest_held, at, refused)
        del self._sent[ack.batch_id]
        return AckResult(settled, sent, self.in_flight.pop(ack.batch_id, None) is not None)
