"""Who may change the hub's devices over its local socket (`pair`, `forget`). Pure: the daemon
holds the state and the clock and asks these.

Whoever is in the socket's group may open hub.sock: the patient screen's user, and any process
that user runs. Pairing a rogue device, or forgetting the patient's cuff, changes whose
readings reach the centre, so these ops need more than the group. They are allowed to

- root (uid 0: `sudo hub pair`, as docs/operations.md tells technicians) and the daemon's own
  user: both can read the hub's keys and config anyway;
- any other user only while it holds a technician unlock: a right technician PIN
  (`technician_unlock`, with its lockout, hub/core/technician_pin.py) sent by that same user
  less than UNLOCK_S ago. Each op the unlock allows keeps it UNLOCK_S more; `technician_lock`
  (the screen leaving technician mode) ends it at once.

The unlock belongs to the uid that typed the PIN (the kernel's SO_PEERCRED, not anything the
client says): one user's PIN opens nothing for another. Time is monotonic seconds.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

# The screen's technician mode leaves by itself after this long without a touch
# (hub/ui/technician.py IDLE_S): the daemon's unlock lasts no longer.
UNLOCK_S = 300.0
ROOT_UID = 0
BY_UNLOCK = "the technician unlock"  # the reason an op was allowed to a user holding one

# The ops behind the unlock: what each does, in words, and how root does it instead.
GUARDED: Mapping[str, tuple[str, str]] = MappingProxyType(
    {
        "pair": ("pairing", "sudo hub pair"),
        "forget": ("forgetting a device", "sudo hub forget ADDRESS"),
    }
)


@dataclass(frozen=True)
class Unlocks:
    """Until when (monotonic seconds) each uid holds a technician unlock.

    Invariant: a uid is here only after a right PIN from it, until at most UNLOCK_S after that
    PIN or after the last op the unlock allowed it."""

    until: Mapping[int, float] = field(default_factory=lambda: MappingProxyType({}))


def unlocked_for(unlocks: Unlocks, uid: int, now: float) -> float:
    """Seconds `uid`'s unlock still lasts (0: it holds none)."""
    return max(0.0, unlocks.until.get(uid, now) - now)


def _with(unlocks: Unlocks, now: float, uid: int | None = None, until: float = 0.0) -> Unlocks:
    """`unlocks` without what has run out at `now`; and `uid`'s unlock, if given, until
    `until` (at or before `now`: gone)."""
    kept = {u: t for u, t in unlocks.until.items() if t > now and u != uid}
    if uid is not None and until > now:
        kept[uid] = until
    return Unlocks(MappingProxyType(kept))


def after_unlock(unlocks: Unlocks, uid: int, now: float) -> Unlocks:
    """`uid` sent the right PIN at `now`: it holds an unlock for UNLOCK_S."""
    return _with(unlocks, now, uid, now + UNLOCK_S)


def after_lock(unlocks: Unlocks, uid: int, now: float) -> Unlocks:
    """`uid` left technician mode: its unlock ends now (the others' are untouched)."""
    return _with(unlocks, now, uid, now)


@dataclass(frozen=True)
class Verdict:
    """Whether `op` may run for this peer, the unlocks after it (refreshed by an op the unlock
    allowed), and why: for a refusal, the words to answer with."""

    allowed: bool
    unlocks: Unlocks
    why: str


def decide(unlocks: Unlocks, op: str, uid: int | None, daemon_uid: int, now: float) -> Verdict:
    """May the peer `uid` (None: the socket could not tell) run `op` at `now`?"""
    if op not in GUARDED:
        return Verdict(True, unlocks, "not behind the technician PIN")
    if uid == ROOT_UID:
        return Verdict(True, unlocks, "root")
    if uid is not None and uid == daemon_uid:
        return Verdict(True, unlocks, "the daemon's own user")
    what, how = GUARDED[op]
    needs = f"{what} needs the technician PIN on the screen, or root: {how}"
    if uid is None:
        return Verdict(False, unlocks, f"{needs} (the hub could not tell which user asked)")
    if unlocked_for(unlocks, uid, now) <= 0:
        minutes = round(UNLOCK_S / 60)
        return Verdict(
            False,
            _with(unlocks, now),
            f"{needs} (user {uid} has typed no technician PIN in the last {minutes} minutes: "
            "open technician mode with the PIN, or leave it and type the PIN again)",
        )
    return Verdict(True, after_unlock(unlocks, uid, now), BY_UNLOCK)
