"""Who may pair and forget devices over the hub's socket (hub/core/technician_unlock.py): the rule
as a table, and a model of the daemon's state (unlocks per uid, time, ops) run against the real
request handling (hub.requests.SocketOps, a stand-in hub) with its invariant after every step.

The same against real peers of a real socket (SO_PEERCRED of another uid) and the real daemon:
tests/test_socket_peer.py.
"""

from __future__ import annotations

import asyncio
import hashlib
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from hub.core.technician_pin import PinHash
from hub.core.technician_unlock import (
    BY_UNLOCK,
    ROOT_UID,
    UNLOCK_S,
    Unlocks,
    after_lock,
    after_unlock,
    decide,
    unlocked_for,
)
from hub.ipc import Peer
from hub.requests import SocketOps
from hub.ui.technician import IDLE_S

DAEMON = 990  # the daemon's own uid in these tests
SCREEN, OTHER = 1001, 1002
T0 = 10_000.0
PIN = "739146"
CUFF = "00:BB:00:00:00:02"


def test_the_unlock_lasts_no_longer_than_the_screens_technician_mode() -> None:
    assert 0 < UNLOCK_S <= IDLE_S


NONE = Unlocks()
SCREEN_UNLOCKED = after_unlock(NONE, SCREEN, T0)

# (unlocks, op, uid, seconds after T0, allowed?, words in the refusal or the reason)
TABLE: list[tuple[Unlocks, str, int | None, float, bool, str]] = [
    # Not behind the PIN: anyone in the socket's group.
    (NONE, "status", SCREEN, 0, True, "not behind"),
    (NONE, "devices", None, 0, True, "not behind"),
    (NONE, "technician_unlock", OTHER, 0, True, "not behind"),
    # Root and the daemon's own user: always.
    (NONE, "pair", ROOT_UID, 0, True, "root"),
    (NONE, "forget", ROOT_UID, 0, True, "root"),
    (NONE, "pair", DAEMON, 0, True, "daemon"),
    (NONE, "forget", DAEMON, 0, True, "daemon"),
    # Anyone else: only under its own unlock, for UNLOCK_S.
    (NONE, "pair", SCREEN, 0, False, "pairing needs the technician PIN on the screen, or root"),
    (NONE, "forget", SCREEN, 0, False, "forgetting a device needs the technician PIN"),
    (NONE, "pair", None, 0, False, "could not tell which user asked"),
    (SCREEN_UNLOCKED, "pair", SCREEN, 0, True, BY_UNLOCK),
    (SCREEN_UNLOCKED, "forget", SCREEN, UNLOCK_S - 0.001, True, BY_UNLOCK),
    (SCREEN_UNLOCKED, "pair", SCREEN, UNLOCK_S, False, "in the last 5 minutes"),
    (SCREEN_UNLOCKED, "pair", SCREEN, 10 * UNLOCK_S, False, "sudo hub pair"),
    (SCREEN_UNLOCKED, "pair", OTHER, 0, False, "user 1002 has typed no technician PIN"),
    (SCREEN_UNLOCKED, "forget", None, 0, False, "could not tell"),
    (after_lock(SCREEN_UNLOCKED, SCREEN, T0 + 1), "pair", SCREEN, 2, False, "needs the"),
    (after_lock(SCREEN_UNLOCKED, OTHER, T0 + 1), "pair", SCREEN, 2, True, BY_UNLOCK),
]


@pytest.mark.parametrize(("unlocks", "op", "uid", "after", "allowed", "words"), TABLE)
def test_the_rule(
    unlocks: Unlocks, op: str, uid: int | None, after: float, allowed: bool, words: str
) -> None:
    verdict = decide(unlocks, op, uid, DAEMON, T0 + after)
    assert verdict.allowed is allowed
    assert words in verdict.why
    if not allowed:
        assert verdict.why.startswith(("pairing needs", "forgetting a device needs"))
        assert uid is None or unlocked_for(verdict.unlocks, uid, T0 + after) == 0
    elif verdict.why == BY_UNLOCK:
        assert uid is not None
        # Refreshed: UNLOCK_S from this op.
        assert unlocked_for(verdict.unlocks, uid, T0 + after) == pytest.approx(UNLOCK_S)
    else:
        assert verdict.unlocks == unlocks


def test_the_state_forgets_what_has_run_out() -> None:
    unlocks = after_unlock(after_unlock(NONE, SCREEN, T0), OTHER, T0 + 100)
    assert set(after_unlock(unlocks, 3, T0 + UNLOCK_S).until) == {OTHER, 3}
    assert not after_lock(unlocks, OTHER, T0 + UNLOCK_S).until


# --- a model of the daemon's state, against the real request handling ----------------------


def weak_hash(pin: str) -> PinHash:
    """The PIN's hash with scrypt at its cheapest: the model tries many PINs (the real cost is
    tests/test_technician_mode_logic.py's)."""
    salt = b"s" * 16
    return PinHash(salt, hashlib.scrypt(pin.encode(), salt=salt, n=2, r=1, p=1, dklen=32), 2, 1, 1)


@dataclass
class StandIn:
    """What SocketOps.pair and .forget use of the daemon: a watcher that pairs whatever is
    asked, and a store of paired addresses."""

    paired: set[str] = field(default_factory=set)

    async def pair(self, address: str | None, passkey: int | None, _: float) -> Any:
        address = address or CUFF
        self.paired.add(address)
        return SimpleNamespace(
            to_json=lambda: {
                "address": address,
                "profile": "blood_pressure",
                "name": None,
                "paired_at": "2026-12-03T10:00:00+00:00",
                "bonded": True,
                "last_connected_at": None,
                "clock_set_at": None,
                "battery_level": None,
            }
        )

    def save_device(self, _: Any) -> None:
        pass

    def forget_device(self, address: str) -> bool:
        known = address in self.paired
        self.paired.discard(address)
        return known

    async def forget(self, _: str) -> None:
        pass


def stand_in_ops(clock: list[float]) -> tuple[SocketOps, StandIn]:
    devices = StandIn()
    hub = SimpleNamespace(
        config=SimpleNamespace(technician_pin=SimpleNamespace(kept=weak_hash(PIN))),
        watcher=devices,
        store=devices,
        health_wanted=asyncio.Event(),
    )
    ops = SocketOps(hub)  # type: ignore[arg-type]
    ops.daemon_uid = DAEMON
    ops.monotonic = lambda: clock[0]
    return ops, devices


UIDS = st.sampled_from([ROOT_UID, DAEMON, SCREEN, OTHER, 1003])


class PeerMachine(RuleBasedStateMachine):
    """Peers of several uids unlock (right and wrong PINs), lock, pair and forget while time
    passes. The model keeps, per uid, when its unlock last began or was refreshed, and only
    after the daemon said `unlocked`."""

    def __init__(self) -> None:
        super().__init__()
        self.loop = asyncio.new_event_loop()
        self.clock = [T0]
        self.ops, self.devices = stand_in_ops(self.clock)
        self.granted: dict[int, float] = {}  # uid: its last right PIN or op it allowed
        self.violations: list[str] = []

    def teardown(self) -> None:
        self.loop.close()

    def ask(self, uid: int, req: dict[str, Any]) -> dict[str, Any]:
        answer = self.loop.run_until_complete(self.ops.handle(req, Peer(4242, uid, 0)))
        return answer.model_dump(mode="json")

    @rule(seconds=st.floats(0, 2 * UNLOCK_S))
    def time_passes(self, seconds: float) -> None:
        self.clock[0] += seconds

    @rule(uid=UIDS, right=st.booleans())
    def unlock(self, uid: int, right: bool) -> None:
        answer = self.ask(uid, {"op": "technician_unlock", "pin": PIN if right else "000000"})
        assert answer["ok"] is True
        if not right:
            assert answer["unlocked"] is False  # a wrong PIN never unlocks
        if answer["unlocked"]:
            self.granted[uid] = self.clock[0]

    @rule(uid=UIDS)
    def lock(self, uid: int) -> None:
        answer = self.ask(uid, {"op": "technician_lock"})
        assert answer["was_unlocked"] is (
            uid in self.granted and self.clock[0] - self.granted[uid] < UNLOCK_S
        )
        self.granted.pop(uid, None)

    @rule(uid=UIDS, op=st.sampled_from(["pair", "forget"]))
    def change_devices(self, uid: int, op: str) -> None:
        before = set(self.devices.paired)
        req = {"op": "pair"} if op == "pair" else {"op": "forget", "address": CUFF}
        answer = self.ask(uid, req)
        now = self.clock[0]
        privileged = uid in (ROOT_UID, DAEMON)
        within = uid in self.granted and now - self.granted[uid] < UNLOCK_S
        refused = answer.get("error_kind") == "needs_technician"
        if refused:
            assert self.devices.paired == before, "refused, yet the devices changed"
            assert "needs the technician PIN on the screen, or root" in answer["error"]
        elif not privileged and not within:
            self.violations.append(f"uid {uid} did {op} at {now} without a live unlock")
        # The model: allowed exactly when privileged or within its own unlock.
        assert refused is not (privileged or within), (uid, op, now, self.granted, answer)
        if within and not privileged:
            self.granted[uid] = now  # each allowed op keeps the unlock

    @invariant()
    def only_within_its_own_unlock(self) -> None:
        """A peer that is neither root nor the daemon changed the devices only within
        UNLOCK_S of its own right PIN (or of its last op that unlock allowed)."""
        assert not self.violations, self.violations


PeerMachine.TestCase.settings = settings(max_examples=150, stateful_step_count=40, deadline=None)
TestPeerMachine = PeerMachine.TestCase
