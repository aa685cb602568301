"""A routine reading waits for its batch to fill at most `sync.batch_max_age_s` after its own
arrival: readings that come after it do not start the wait again (issue 12)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hub.core.outbox import OutboxItem
from hub.core.reading import ROUTINE, URGENT
from hub.sync.uplink import batch_wait_s

T0 = datetime(2026, 11, 22, 8, 0, tzinfo=UTC)


def item(seq: int, after_s: float, priority: int = ROUTINE) -> OutboxItem:
    stored = (T0 + timedelta(seconds=after_s)).isoformat(timespec="milliseconds")
    return OutboxItem(seq, "segment", b"sealed", priority, stored)


def at(after_s: float) -> datetime:
    return T0 + timedelta(seconds=after_s)


def test_a_later_arrival_does_not_restart_the_oldest_readings_wait() -> None:
    assert batch_wait_s([item(1, 0.0)], False, 2.0, at(0.0)) == 2.0
    # A second reading 1.5 s later wakes the sender: the first has 0.5 s left, not 2 s again.
    assert batch_wait_s([item(1, 0.0), item(2, 1.5)], False, 2.0, at(1.5)) == 0.5
    # Readings every 1.5 s for ever: the first still goes 2 s after it came.
    stream = [item(n, 1.5 * (n - 1)) for n in range(1, 30)]
    assert batch_wait_s(stream, False, 2.0, at(2.0)) == 0.0


def test_urgent_full_or_a_clock_set_back_go_at_once() -> None:
    assert batch_wait_s([item(1, 0.0), item(2, 0.0, URGENT)], False, 600.0, at(0.0)) == 0.0
    assert batch_wait_s([item(1, 0.0)], True, 600.0, at(0.0)) == 0.0  # the batch is full
    assert batch_wait_s([item(1, 10.0)], False, 600.0, at(0.0)) == 0.0  # stored "later"
    assert batch_wait_s([item(1, 0.0)], False, 0.0, at(0.0)) == 0.0
