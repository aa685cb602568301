"""Ring meg, hub side, after the attacker review: a stored request is not a delivered one (the
screen must not say the nurse has been told while the item waits on the hub), a hub clock that
ran ahead cannot keep an old request "latest", and the status' times are checked instants.
The real daemon and broker: tests/test_call_me_end_to_end.py."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from hub.core.call_request import KIND, CallRequest, decide, to_call_reading
from hub.core.reading import now_utc
from hub.local_protocol import StatusAnswer, UnreadableAnswer, read_answer
from hub.requests import call_state
from hub.store import ReadingStore
from hub.wire.sealing import ItemSealer
from tests.test_call_request import ID
from tests.test_delivery_model import new_reading
from tests.test_envelope import CENTRE
from tests.ui_support import BASE_STATUS


def test_a_request_is_delivered_once_the_centre_acknowledges_its_batch(tmp_path: Path) -> None:
    """Stored is not told: while its item waits on the hub (offline, say) the screen must not
    say the nurse has been told. Delivered once the centre acknowledges the batch carrying it,
    also under the number it was renumbered to; other readings' acks do not count."""
    store = ReadingStore(tmp_path / "hub.sqlite", sealer=ItemSealer("hub-0001", CENTRE.public))
    call, _ = store.ask_call(ID, to_call_reading(ID, now_utc()))
    assert not call.delivered
    routine = store.add(new_reading(1, urgent=False))
    assert routine is not None
    store.settle([routine], [], routine, "2026-12-03T09:01:00.000+00:00")
    latest = store.latest_call()
    assert latest is not None and not latest.delivered and not call_state(latest).delivered
    # The centre held another reading under the request's number: it is renumbered, unsent.
    (item_seq,) = [r.seq for r in store.all() if r.kind == KIND]
    renumbered = store.settle([], [item_seq], item_seq, "2026-12-03T09:02:00.000+00:00")
    new_seq = renumbered.renumbered[item_seq]
    assert not store.latest_call().delivered  # type: ignore[union-attr]
    store.settle([new_seq], [], new_seq, "2026-12-03T09:03:00.000+00:00")
    delivered = store.latest_call()
    assert delivered is not None and delivered.delivered_at == "2026-12-03T09:03:00.000+00:00"
    assert call_state(delivered).delivered and call_state(delivered).state == "asked"
    # A repeated ack keeps the first time.
    store.settle([new_seq], [], new_seq, "2026-12-03T09:09:00.000+00:00")
    assert store.latest_call() == delivered
    store.close()


def test_a_store_from_before_delivery_was_kept_learns_it_from_its_readings(
    tmp_path: Path,
) -> None:
    """Upgrading (store version 10 to 11): a request whose item the centre already
    acknowledged reads as delivered, an unacknowledged one does not."""
    path = tmp_path / "hub.sqlite"
    store = ReadingStore(path, sealer=ItemSealer("hub-0001", CENTRE.public))
    store.ask_call(ID, to_call_reading(ID, now_utc()))
    (seq,) = [r.seq for r in store.all()]
    store.settle([seq], [], seq, "2026-12-03T09:03:00.000+00:00")
    store.save_document("call_ack", 1, "2026-12-03T09:05:00.000+00:00", {"request_id": ID})
    store.ask_call("later-request", to_call_reading("later-request", now_utc()))
    store.close()
    with sqlite3.connect(path) as conn:  # as a hub from before wrote it
        conn.execute("ALTER TABLE call_requests DROP COLUMN delivered_at")
        conn.execute("PRAGMA user_version = 10")
    conn.close()
    reopened = ReadingStore(path)
    delivered = reopened._call("WHERE request_id = ?", [ID])
    assert delivered is not None and delivered.delivered_at == "2026-12-03T09:03:00.000+00:00"
    latest = reopened.latest_call()
    assert latest is not None and latest.request_id == "later-request" and not latest.delivered
    reopened.close()


def test_a_request_asked_while_the_clock_ran_ahead_holds_nothing_back(tmp_path: Path) -> None:
    """The hub's clock ran a day ahead when she asked, and NTP put it right since: that
    request must neither stay open (blocking her new one for a day and a half) nor stay the
    newest (after its answer, every tap stored a new urgent item while the screen showed the
    old one)."""
    now = datetime.now(UTC)
    ahead = CallRequest("future-request-1", (now + timedelta(days=1)).isoformat())
    assert decide("now-request-01", ahead, None, now) == "store"
    just_asked = CallRequest("just-asked-01", now.isoformat())
    assert decide("now-request-01", just_asked, None, now) == "open"

    store = ReadingStore(tmp_path / "hub.sqlite")
    store.ask_call(ahead.request_id, to_call_reading(ahead.request_id, ahead.asked_at))
    call, stored = store.ask_call("now-request-01", to_call_reading("now-request-01", now_utc()))
    assert stored and call.request_id == "now-request-01"
    store.save_document("call_ack", 1, now_utc(), {"request_id": ahead.request_id})
    latest = store.latest_call()
    assert latest is not None and latest.request_id == "now-request-01"
    assert latest.state == "asked"
    for n in range(3):  # taps while hers is open store nothing
        tap = f"tap-number-{n:04d}"
        assert store.ask_call(tap, to_call_reading(tap, now_utc())) == (latest, False)
    assert [r.values["request_id"] for r in store.all()] == [ahead.request_id, "now-request-01"]
    store.close()


@pytest.mark.parametrize(
    "call",
    [
        {"state": "asked", "request_id": ID, "asked_at": "9999-12-31T23:59:59-14:00"},
        {"state": "asked", "request_id": ID, "asked_at": "2026-12-03T09:00:00"},  # no offset
        {"state": "asked", "request_id": ID, "asked_at": "yesterday"},
        {"state": "acknowledged", "request_id": ID, "acknowledged_at": "0001-01-01T00:00:00Z"},
        {"state": "asked", "request_id": "no good id"},
    ],
)
def test_a_status_with_times_the_screen_cannot_show_is_unreadable(call: dict[str, Any]) -> None:
    """The screen formats these times; a hostile or broken one is refused with the status it
    came in (which the screen treats as a daemon it cannot read), never formatted."""
    with pytest.raises(UnreadableAnswer):
        read_answer(StatusAnswer, {**BASE_STATUS.model_dump(mode="json"), "call_request": call})


def test_a_nurses_answer_with_a_time_no_screen_can_show_leaves_the_time_out(
    tmp_path: Path,
) -> None:
    """A call_ack's issued_at is the centre's word: one beyond the calendar the screen shows
    must not fail every status the daemon answers; the answer stands, its time is left out."""
    store = ReadingStore(tmp_path / "hub.sqlite")
    store.ask_call(ID, to_call_reading(ID, now_utc()))
    store.save_document("call_ack", 1, "9999-12-31T23:59:59-14:00", {"request_id": ID})
    state = call_state(store.latest_call())
    assert (state.state, state.acknowledged_at, state.delivered) == ("acknowledged", None, True)
    assert state.asked_at is not None
    status = BASE_STATUS.model_copy(update={"call_request": state})
    assert read_answer(StatusAnswer, status.model_dump(mode="json")) == status
    store.close()
