"""Which batches await the centre's acknowledgement, and what an acknowledgement settles.

The rule that keeps every reading: the hub deletes an item only when the centre's signed ack
for a batch *this daemon run sent* says the centre holds that item's sequence number with the
reading the batch carried. Nothing else deletes: not a sequence range, not the centre's
contiguous watermark (after a lost write a number below it may name another reading on the
hub), not an ack for a batch the hub does not remember (its items simply go out again and the
centre, holding them, says so again). No I/O but the store's; no clock of its own.

The outbox is read from a cursor: per lane, the sequence number up to which every item still
waiting is in flight. A send advances it; an item that goes back into play (its batch timed out,
the link dropped, its ack did not settle it) moves it back. So a full window in flight (up to
`window` x `batch_max` items) is not read again, and skipped, on every send.

Routine batches take at most `window` - 1 slots; the last is kept for a batch of urgent items,
which therefore goes out at once even behind a routine backlog. Only when every slot is in
flight (urgent batches in the kept one, or `window` 1) does an urgent item wait: for the first
ack or ack timeout, after which it goes first.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from hub.core.outbox import OutboxItem
from hub.store import ReadingStore, Settled
from hub.wire.envelope import Ack

log = logging.getLogger(__name__)
REMEMBERED = 256  # batches whose late ack still counts after they timed out or the link dropped


@dataclass(frozen=True)
class Sent:
    seqs: frozenset[int]
    sent_at: datetime
    deadline: float  # monotonic time
    lanes: Mapping[int, int]  # seq -> its outbox lane (priority)


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
        # lane -> seq: every item of the lane up to it that still waits is in flight.
        self._cursor: dict[int, int] = {}

    def full(self) -> bool:
        """Every slot of the window is in flight, the one kept for urgent items too."""
        return len(self.in_flight) >= self.window

    def urgent_only(self) -> bool:
        """Only the last slot of the window is free: it is kept for urgent items, so that a
        window filled by a routine backlog never holds back a reading outside the care plan's
        limits (with `window` 1 there is no slot to keep: then `full` says it all)."""
        return len(self.in_flight) >= max(1, self.window - 1)

    def skip(self) -> frozenset[int]:
        """Items in flight: not put into another batch until their ack or timeout."""
        return frozenset().union(*(s.seqs for s in self.in_flight.values()))

    def unsent(self, limit: int, max_bytes: int) -> tuple[list[OutboxItem], bool]:
        """The next items to send (ReadingStore.outbox's rules), none of them in flight, read
        from the cursor: only items in flight past it (after a timeout) are read and skipped."""
        past = frozenset(
            seq
            for sent in self.in_flight.values()
            for seq, lane in sent.lanes.items()
            if seq > self._cursor.get(lane, -1)
        )
        return self.store.outbox(limit, max_bytes, past, dict(self._cursor))

    def sent(
        self, batch_id: str, items: Sequence[OutboxItem], sent_at: datetime, now: float
    ) -> None:
        """A batch of items, as `unsent` gave them, went out: they are in flight."""
        lanes = {item.seq: item.priority for item in items}
        sent = Sent(frozenset(lanes), sent_at, now + self.ack_timeout_s, lanes)
        self.in_flight[batch_id] = self._sent[batch_id] = sent
        for seq, lane in lanes.items():
            self._cursor[lane] = max(seq, self._cursor.get(lane, -1))
        while len(self._sent) > REMEMBERED:
            self._sent.popitem(last=False)

    def _back_in_play(self, sent: Sent, seqs: Iterable[int]) -> None:
        """Items of a batch no longer in flight that may still wait: the cursor goes back
        before them, so the next read finds them."""
        for seq in seqs:
            lane = sent.lanes[seq]
            if seq <= self._cursor.get(lane, -1):
                self._cursor[lane] = seq - 1

    def expire(self, now: float) -> list[tuple[str, Sent]]:
        """Batches whose ack is overdue: their items may go out again."""
        overdue = [(b, s) for b, s in self.in_flight.items() if now >= s.deadline]
        for batch_id, sent in overdue:
            del self.in_flight[batch_id]
            self._back_in_play(sent, sent.seqs)
        return overdue

    def lost(self) -> None:
        """The connection dropped: send everything again after reconnecting."""
        self.in_flight.clear()
        self._cursor.clear()

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
        in_flight = self.in_flight.pop(ack.batch_id, None) is not None
        if in_flight:
            # Held items are deleted, conflicting ones renumbered, refused ones set aside: any
            # other (an ack that says nothing of it) still waits and goes out again.
            self._back_in_play(sent, sent.seqs - _settled_by(held, conflicts, refused))
        return AckResult(settled, sent, in_flight)


def _settled_by(*groups: Collection[int]) -> frozenset[int]:
    return frozenset().union(*groups)
