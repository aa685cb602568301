"""The outbox is read from the sender's cursor (hub/sync/delivery.py), not from its start with
the whole window in flight skipped: checked against the full read on every step of the delivery
model (tests/test_delivery_model.py), and by the work SQLite does."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from hypothesis import HealthCheck, settings
from hypothesis.stateful import invariant

from hub.core.outbox import OutboxItem
from hub.core.reading import URGENT
from hub.wire.envelope import Ack
from tests.test_delivery_model import EXAMPLES, HUB_ID, TOPIC, DeliveryProtocol


class CursorAgreesWithFullRead(DeliveryProtocol):
    """Every step of the delivery model (sends, acks lost, duplicated and late, timeouts, link
    drops, restarts, lost writes, renumbering, refusals): what the cursor reads is what a read
    of the whole outbox, skipping everything in flight, would give."""

    @invariant()
    def the_cursor_reads_what_a_full_read_gives(self) -> None:
        full_skip = self.delivery.skip()
        for limit, max_bytes in ((1, 1 << 20), (3, 1 << 20), (50, 1 << 20), (50, 1)):
            assert self.delivery.unsent(limit, max_bytes) == self.store.outbox(
                limit, max_bytes, full_skip
            )


CursorAgreesWithFullRead.TestCase.settings = settings(
    max_examples=max(50, EXAMPLES // 2),
    stateful_step_count=60,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
test_the_cursor_agrees_with_a_full_read = CursorAgreesWithFullRead.TestCase


@pytest.fixture
def m() -> Iterator[DeliveryProtocol]:
    machine = DeliveryProtocol()
    yield machine
    machine.teardown()


def vm_steps(m: DeliveryProtocol, read: object) -> int:
    """SQLite virtual-machine instructions a read takes: the work, without a clock."""
    steps = 0

    def count() -> int:
        nonlocal steps
        steps += 1
        return 0

    m.store.db.conn.set_progress_handler(count, 1)
    try:
        assert callable(read)
        read()
    finally:
        m.store.db.conn.set_progress_handler(None, 1)
    return steps


def send(m: DeliveryProtocol, items: list[OutboxItem], batch_id: str) -> None:
    m.delivery.sent(batch_id, items, datetime.now(UTC), m.now)


def test_a_full_window_in_flight_is_not_read_again(m: DeliveryProtocol) -> None:
    m.delivery.window = 8
    for _ in range(8 * 50 + 60):
        m.readings_arrive(False, 1)
    for n in range(7):
        items, more = m.delivery.unsent(50, 1 << 20)
        assert len(items) == 50 and more
        send(m, items, f"b{n}")
    cursor = vm_steps(m, lambda: m.delivery.unsent(50, 1 << 20))
    full = vm_steps(m, lambda: m.store.outbox(50, 1 << 20, m.delivery.skip()))
    items, _ = m.delivery.unsent(50, 1 << 20)
    assert [i.seq for i in items] == list(range(351, 401))
    # The full read walks the 350 items in flight first; the cursor starts past them.
    assert cursor * 4 < full, (cursor, full)


def test_an_urgent_reading_after_the_cursor_moved_on_goes_first(m: DeliveryProtocol) -> None:
    m.readings_arrive(True, 1)
    for _ in range(5):
        m.readings_arrive(False, 1)
    items, _ = m.delivery.unsent(3, 1 << 20)
    assert [(i.seq, i.priority) for i in items][:1] == [(1, URGENT)]
    send(m, items, "first")
    m.readings_arrive(True, 1)  # seq 7, urgent: its lane's cursor is at 1
    items, _ = m.delivery.unsent(10, 1 << 20)
    assert [i.seq for i in items] == [7, 4, 5, 6]


def test_a_timed_out_batch_goes_out_again_before_later_ones(m: DeliveryProtocol) -> None:
    for _ in range(6):
        m.readings_arrive(False, 1)
    first, _ = m.delivery.unsent(2, 1 << 20)
    send(m, first, "first")
    m.now += 5
    second, _ = m.delivery.unsent(2, 1 << 20)
    send(m, second, "second")
    m.now += 6  # the first batch's ack is overdue, the second's not yet
    assert [b for b, _ in m.delivery.expire(m.now)] == ["first"]
    items, _ = m.delivery.unsent(10, 1 << 20)
    assert [i.seq for i in items] == [1, 2, 5, 6]  # 3 and 4 are still in flight


def test_items_an_ack_says_nothing_of_are_read_again(m: DeliveryProtocol) -> None:
    """The centre's acks name every item of a batch; one that did not (a centre of another
    make) must not leave the rest behind the cursor for ever."""
    for _ in range(4):
        m.readings_arrive(False, 1)
    m.hub_sends_a_batch(3)
    (batch_id,) = m.delivery.in_flight
    m.centre.handle(TOPIC, m.to_centre.pop())  # the centre holds 1..3; its own ack is lost
    partial = Ack(HUB_ID, batch_id, ((1, 1),), (), (), 3, 3, "2026-11-22T09:00:00.000+00:00")
    m.delivery.acknowledged(partial, "2026-11-22T09:00:00.000+00:00")
    items, _ = m.delivery.unsent(10, 1 << 20)
    assert [i.seq for i in items] == [2, 3, 4]
