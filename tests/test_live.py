"""The measuring screen's state, as pure functions: sessions start, progress, store, end."""

from __future__ import annotations

import asyncio

from hub.core.live import (
    KEEP_RESULTS,
    KEEP_SESSIONS,
    Live,
    LiveBoard,
    progressed,
    result_stored,
    session_ended,
    session_started,
)

CUFF, OXIMETER = "00:BB:00:00:00:02", "00:BB:00:00:00:03"
T0, T1, T2 = (
    "2026-11-22T10:00:00.000+00:00",
    "2026-11-22T10:00:30.000+00:00",
    "2026-11-22T10:01:00.000+00:00",
)


def test_a_session_follows_progress_and_results_until_it_ends() -> None:
    live = session_started(Live(), CUFF, "blood_pressure", T0)
    live = progressed(
        live,
        CUFF,
        {
            "type": "intermediate_cuff_pressure",
            "cuff_pressure": 150.0,
            "unit": "mmHg",
            "timestamp": None,
        },
    )
    live = result_stored(live, CUFF, {"kind": "blood_pressure", "seq": 7})
    (session,) = live.sessions
    assert session.progress == {"cuff_pressure": 150.0, "unit": "mmHg"}  # only what is shown
    assert session.progress_count == 1 and session.ended_at is None
    assert session.results == ({"kind": "blood_pressure", "seq": 7},)
    live = session_ended(live, CUFF, T1)
    assert live.sessions[0].ended_at == T1
    assert live.to_json()[0]["key"] == f"{CUFF}@{T0}"


def test_values_of_a_device_without_an_open_session_change_nothing() -> None:
    live = session_ended(session_started(Live(), CUFF, "blood_pressure", T0), CUFF, T1)
    assert progressed(live, CUFF, {"cuff_pressure": 90.0}) == live
    assert result_stored(live, CUFF, {"seq": 1}) == live
    assert session_ended(live, CUFF, T2) == live
    assert progressed(live, OXIMETER, {"cuff_pressure": 90.0}) == live


def test_two_devices_at_once_keep_their_own_sessions() -> None:
    live = session_started(Live(), CUFF, "blood_pressure", T0)
    live = session_started(live, OXIMETER, "pulse_oximeter", T1)
    live = result_stored(live, OXIMETER, {"kind": "spo2", "seq": 1})
    live = progressed(live, CUFF, {"cuff_pressure": 120.0})
    cuff, oximeter = live.sessions
    assert cuff.progress == {"cuff_pressure": 120.0} and cuff.results == ()
    assert oximeter.results == ({"kind": "spo2", "seq": 1},) and oximeter.progress is None


def test_a_session_that_never_ended_is_closed_by_the_next_one() -> None:
    live = session_started(Live(), CUFF, "blood_pressure", T0)
    live = session_started(live, CUFF, "blood_pressure", T1)
    first, second = live.sessions
    assert first.ended_at == T1 and second.ended_at is None


def test_memory_stays_bounded() -> None:
    live = Live()
    for minute in range(KEEP_SESSIONS + 5):
        at = f"2026-11-22T10:{minute:02d}:00.000+00:00"
        live = session_started(live, OXIMETER, "pulse_oximeter", at)
        for seq in range(KEEP_RESULTS + 10):
            live = result_stored(live, OXIMETER, {"seq": seq})
    assert len(live.sessions) == KEEP_SESSIONS + 1  # the ones ended, and the open one
    assert [r["seq"] for r in live.sessions[-1].results] == list(range(10, KEEP_RESULTS + 10))


async def test_the_board_answers_a_waiting_screen_when_something_changes() -> None:
    board = LiveBoard()
    now = await board.newer_than(None, None, 0)
    waiting = asyncio.create_task(board.newer_than(now["boot"], now["version"], 30))
    await asyncio.sleep(0.05)
    assert not waiting.done(), "nothing changed yet: the screen's request is held"
    await board.apply(session_started, CUFF, "blood_pressure", T0)
    answer = await asyncio.wait_for(waiting, 5)
    assert answer["version"] == now["version"] + 1
    assert answer["sessions"][0]["device_address"] == CUFF


async def test_the_board_does_not_count_a_change_that_changes_nothing() -> None:
    board = LiveBoard()
    await board.apply(progressed, CUFF, {"cuff_pressure": 1.0})  # no session: no change
    assert board.version == 0
