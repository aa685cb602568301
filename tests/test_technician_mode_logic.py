"""Technician mode's pure rules (issue 15): what a PIN is, its salted hash, the lockout after
wrong tries, kept across restarts (a state machine: a hypothesis stateful test holds its
invariants after every step),
the taps that ask for the PIN, the keypad's entries, and what the screens say.

The daemon, the screens and the command that sets the PIN: tests/test_technician_mode.py."""

from __future__ import annotations

import io
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule
from pydantic import ValidationError

from hub.cli import main
from hub.config import TechnicianPin, load_config
from hub.core.technician_pin import (
    LOCK_S,
    MAX_FAILURES,
    SALT_BYTES,
    KeptLockout,
    Lockout,
    PinHash,
    PinRefused,
    after_try,
    check_pin_text,
    from_kept,
    hash_pin,
    locked_for,
    pin_matches,
    settled,
    to_kept,
    tries_left,
)
from hub.local_protocol import Device, TechnicianUnlockAnswer
from hub.ui.i18n import Catalogue
from hub.ui.keypad import ERASE
from hub.ui.technician import (
    IDLE_S,
    KNOCK_WINDOW_S,
    KNOCKS,
    clock_sentence,
    device_lines,
    idle_for,
    knocked,
    passkey_entry,
    passkey_ready,
    pin_entry,
    pin_ready,
    unlock_said,
)
from tests.conftest import provisioned_hub

NB, EN = Catalogue("nb"), Catalogue("en")
NOW = datetime(2026, 12, 3, 10, 0, tzinfo=UTC)

# --- what a PIN is -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "refusal"),
    [
        ("123456", None),
        ("012345", None),  # a leading zero is a digit like any other
        ("000000000000", None),  # twelve
        ("12345", "6 to 12 digits, not 5"),
        ("1234567890123", "6 to 12 digits, not 13"),
        ("", "6 to 12 digits, not 0"),
        ("12a456", "digits only"),
        ("١٢٣٤٥٦", "digits only"),  # Arabic-Indic digits: isdigit() says yes, the keypad no
        (" 123456", "digits only"),
        ("123456\n", "digits only"),
        ("12 3456", "digits only"),
    ],
)
def test_what_a_pin_is(text: str, refusal: str | None) -> None:
    if refusal is None:
        assert check_pin_text(text) == text
        return
    with pytest.raises(PinRefused, match=refusal) as refused:
        check_pin_text(text)
    assert text.strip() not in str(refused.value) or not text.strip()  # never echoed


def test_the_hash_is_salted_and_only_the_pin_matches() -> None:
    kept = hash_pin("739146")
    assert len(kept.salt) == SALT_BYTES and kept.digest
    assert pin_matches("739146", kept)
    for wrong in ("739147", "7391460", "073914", "", "739146 ", "abcdef", "٧٣٩١٤٦"):
        assert not pin_matches(wrong, kept), wrong
    # Two hubs with the same PIN keep different hashes (a salt each).
    assert hash_pin("739146").digest != kept.digest
    # The same salt gives the same hash: the check is deterministic.
    assert hash_pin("739146", kept.salt) == kept


def test_a_hash_with_other_parameters_is_checked_with_them() -> None:
    import hashlib

    salt = b"s" * 16
    digest = hashlib.scrypt(b"123456", salt=salt, n=2**15, r=8, p=1, maxmem=2**26, dklen=32)
    assert pin_matches("123456", PinHash(salt, digest, n=2**15))
    assert not pin_matches("123456", PinHash(salt, digest))  # n=2**14: another hash


def test_the_config_keeps_the_hash_and_gives_it_back() -> None:
    kept = hash_pin("739146")
    table = TechnicianPin.of(kept)
    assert "739146" not in table.model_dump_json()
    assert table.kept == kept


@pytest.mark.parametrize(
    "change",
    [
        {"salt": "zz" * 16},  # not hex
        {"salt": "ab"},  # too short
        {"hash": "ab" * 31},  # not 32 bytes
        {"hash": "AB" * 32},  # upper case: not what the command writes
        {"n": 3000},  # not a power of two
        {"n": 2**10},  # too cheap
        {"n": 2**18},  # 256 MiB a try: more than a Pi should give
        {"r": 0},
        {"p": 0},
        {"pin": "123456"},  # the PIN itself has no place in the config
    ],
)
def test_a_config_table_that_is_not_a_hash_is_refused(change: dict[str, object]) -> None:
    fields = {**TechnicianPin.of(hash_pin("739146")).model_dump(), **change}
    with pytest.raises(ValidationError):
        TechnicianPin.model_validate(fields)


# --- the lockout ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("tries", "failures", "locked_until", "left"),
    [
        # (seconds since start, right?) in order
        ([], 0, None, 5),
        ([(0, False)], 1, None, 4),
        ([(0, False), (1, False), (2, True)], 0, None, 5),  # the right PIN clears the count
        ([(t, False) for t in range(4)], 4, None, 1),
        ([(t, False) for t in range(5)], 5, 4 + LOCK_S, 0),  # the fifth locks
        ([*((t, False) for t in range(5)), (10, True)], 5, 4 + LOCK_S, 0),  # right, but locked
        ([*((t, False) for t in range(5)), (4 + LOCK_S, False)], 1, None, 4),  # lock over
        ([*((t, False) for t in range(5)), (4 + LOCK_S, True)], 0, None, 5),
        ([*((t, False) for t in range(5)), (4 + LOCK_S - 0.1, True)], 5, 4 + LOCK_S, 0),
    ],
)
def test_the_lockout(
    tries: list[tuple[float, bool]], failures: int, locked_until: float | None, left: int
) -> None:
    lock, now = Lockout(), 0.0
    for now, right in tries:
        lock = after_try(lock, now, right)
    assert (lock.failures, lock.locked_until) == (failures, locked_until)
    assert tries_left(lock, now) == left


def test_a_lock_runs_out_by_itself() -> None:
    lock = Lockout(MAX_FAILURES, 100.0 + LOCK_S)
    assert locked_for(lock, 100.0) == LOCK_S
    assert locked_for(lock, 100.0 + LOCK_S - 1) == 1.0
    assert settled(lock, 100.0 + LOCK_S) == Lockout()
    assert tries_left(lock, 100.0 + LOCK_S) == MAX_FAILURES


@pytest.mark.parametrize(
    ("kept", "lock"),
    [
        (KeptLockout(), Lockout()),
        (KeptLockout(3), Lockout(3)),
        (KeptLockout(MAX_FAILURES, 2000.0 + 120), Lockout(MAX_FAILURES, 10.0 + 120)),
        (KeptLockout(MAX_FAILURES, 2000.0), Lockout()),  # ran out while the daemon was down
        # Kept while the wall clock ran a day ahead: never more than LOCK_S from now.
        (KeptLockout(MAX_FAILURES, 2000.0 + 86400), Lockout(MAX_FAILURES, 10.0 + LOCK_S)),
        # Kept states that break the rules lock for LOCK_S (the safe side).
        (KeptLockout(MAX_FAILURES), Lockout(MAX_FAILURES, 10.0 + LOCK_S)),
        (KeptLockout(-1), Lockout(MAX_FAILURES, 10.0 + LOCK_S)),
        (KeptLockout(99), Lockout(MAX_FAILURES, 10.0 + LOCK_S)),
        (KeptLockout(2, float("nan")), Lockout(MAX_FAILURES, 10.0 + LOCK_S)),
    ],
)
def test_a_kept_lockout_as_a_starting_daemon_holds_it(kept: KeptLockout, lock: Lockout) -> None:
    """At monotonic 10.0 (a fresh boot), wall clock 2000.0."""
    assert from_kept(kept, 10.0, 2000.0) == lock


class LockoutMachine(RuleBasedStateMachine):
    """Tries, right and wrong, at times going forward, and restarts of the daemon (the lockout
    kept by the wall clock, the monotonic clock starting again at each boot): the lockout
    against a plain model (the wrong tries in a row since the last right one or lock, and the
    end of the lock), which a restart does not change."""

    def __init__(self) -> None:
        super().__init__()
        self.lock = Lockout()
        self.now = 0.0  # the daemon's monotonic clock
        self.wall_ahead = 1_800_000_000.0  # the wall clock, less the monotonic clock
        self.model_wrong = 0
        self.model_until: float | None = None

    def _model_locked(self) -> bool:
        return self.model_until is not None and self.now < self.model_until

    @rule(dt=st.floats(min_value=0, max_value=2 * LOCK_S, allow_nan=False))
    def time_passes(self, dt: float) -> None:
        self.now += dt
        if self.model_until is not None and self.now >= self.model_until:
            self.model_wrong, self.model_until = 0, None

    @rule(
        down=st.floats(min_value=0, max_value=2 * LOCK_S, allow_nan=False),
        boot=st.floats(min_value=0, max_value=1e6, allow_nan=False),
    )
    def a_restart(self, down: float, boot: float) -> None:
        """The plug pulled for `down` seconds; the new daemon's monotonic clock reads `boot`."""
        kept = to_kept(self.lock, self.now, self.now + self.wall_ahead)
        wall = self.now + self.wall_ahead + down
        self.time_passes(down)  # the model: only time passed
        shift = boot - self.now
        self.now, self.wall_ahead = boot, wall - boot
        self.lock = from_kept(kept, self.now, wall)
        if self.model_until is not None:
            self.model_until += shift
        # Through the wall clock and back, the lock's end moves by a rounding at most (so a
        # lock ending just now may be ended or not); the model then takes the lock's own end,
        # so that no later boundary is decided by that rounding.
        ends = [
            self.now if end is None else end for end in (self.model_until, self.lock.locked_until)
        ]
        assert abs(ends[0] - ends[1]) <= 1e-6, "a restart moved or lifted the lock"
        if (self.lock.locked_until is None) != (self.model_until is None):
            self.model_wrong = 0 if self.lock.locked_until is None else MAX_FAILURES
        self.model_until = self.lock.locked_until

    @rule(right=st.booleans())
    def a_try(self, right: bool) -> None:
        before = settled(self.lock, self.now)
        self.lock = after_try(self.lock, self.now, right)
        if self._model_locked():
            assert self.lock == before, "a try while locked changes nothing"
            return
        if right:
            self.model_wrong = 0
        else:
            self.model_wrong += 1
            if self.model_wrong == MAX_FAILURES:
                self.model_until = self.now + LOCK_S

    @precondition(lambda self: not self._model_locked())
    @rule()
    def right_unlocks_when_not_locked(self) -> None:
        assert tries_left(self.lock, self.now) > 0
        self.lock = after_try(self.lock, self.now, True)
        self.model_wrong = 0
        assert self.lock == Lockout()

    @invariant()
    def agrees_with_the_model(self) -> None:
        now, lock = self.now, self.lock
        assert (locked_for(lock, now) > 0) == self._model_locked()
        if self._model_locked():
            assert tries_left(lock, now) == 0
        else:
            assert tries_left(lock, now) == MAX_FAILURES - self.model_wrong

    @invariant()
    def never_locked_for_more_than_the_lock(self) -> None:
        assert 0 <= locked_for(self.lock, self.now) <= LOCK_S
        if self.lock.locked_until is None:
            assert 0 <= self.lock.failures < MAX_FAILURES
        else:
            assert self.lock.failures == MAX_FAILURES


LockoutMachine.TestCase.settings = settings(max_examples=200, stateful_step_count=40)
TestLockout = LockoutMachine.TestCase


# --- the way in, the keypad, the words -----------------------------------------------------


@pytest.mark.parametrize(
    ("taps", "opens"),
    [
        ([0.0] * KNOCKS, True),
        ([0.0, 0.5, 1.0, 1.5, 2.0], True),
        ([0.0, 0.5, 1.0, 1.5], False),  # four
        ([0.0, 1.0, 2.0, 3.0, KNOCK_WINDOW_S], False),  # the first has left the window
        ([0.0, 10.0, 10.5, 11.0, 11.5, 12.0], True),  # an old tap does not count against
        ([0.0, 5.0, 10.0, 15.0, 20.0, 25.0], False),  # a patient tapping now and then
    ],
)
def test_five_quick_taps_ask_for_the_pin(taps: list[float], opens: bool) -> None:
    kept: tuple[float, ...] = ()
    opened = False
    for at in taps:
        kept, opened = knocked(kept, at)
    assert opened is opens
    if opened:
        assert kept == ()  # five more for the next time


def test_technician_mode_leaves_after_five_minutes_without_a_touch() -> None:
    assert not idle_for(100.0, 100.0 + IDLE_S - 0.1)
    assert idle_for(100.0, 100.0 + IDLE_S)


def test_the_pin_and_passkey_entries() -> None:
    entry = pin_entry()
    for key in "7391":
        entry = entry.press(key)
    assert not pin_ready(entry) and entry.shown(hidden=True) == "\N{BLACK CIRCLE}" * 4
    for key in "46":
        entry = entry.press(key)
    assert pin_ready(entry) and entry.typed == "739146"
    for key in "1234567":
        entry = entry.press(key)
    assert entry.typed == "739146123456"  # twelve at most
    assert entry.press(",").typed == entry.typed and entry.press("x").typed == entry.typed
    assert entry.press(ERASE).typed == "73914612345"
    passkey = passkey_entry()
    assert passkey_ready(passkey)  # no passkey: most devices
    for key in "0123456":
        passkey = passkey.press(key)
        assert passkey_ready(passkey) == (len(passkey.typed) in (0, 6))
    assert passkey.typed == "012345" and passkey.shown(hidden=False) == "012345"


@pytest.mark.parametrize(
    ("answer", "nb", "en"),
    [
        ((False, 4, 0.0), "Feil kode. Forsøk igjen: 4.", "Wrong PIN. Tries left: 4."),
        ((False, 0, 300.0), "Prøv igjen om 5 min.", "Try again in 5 min."),
        ((False, 0, 61.0), "Prøv igjen om 2 min.", "Try again in 2 min."),
        ((False, 0, 0.5), "Prøv igjen om 1 min.", "Try again in 1 min."),
    ],
)
def test_what_the_pin_screen_says(answer: tuple[bool, int, float], nb: str, en: str) -> None:
    unlocked, left, locked = answer
    said = TechnicianUnlockAnswer(unlocked=unlocked, tries_left=left, locked_for_s=locked)
    assert nb in unlock_said(said, NB)
    assert en in unlock_said(said, EN)


def device(**changes: object) -> Device:
    fields: dict[str, object] = {
        "address": "00:BB:00:00:00:02",
        "profile": "blood_pressure",
        "name": "DHO sim BP cuff",
        "paired_at": "2026-12-01T09:00:00+00:00",
        "bonded": True,
        "last_connected_at": "2026-12-03T09:40:00+00:00",
        "clock_set_at": "2026-12-03T09:40:00+00:00",
        "battery_level": 85,
    }
    return Device.model_validate({**fields, **changes})


def test_a_device_as_the_technician_sees_it() -> None:
    assert device_lines(device(), NOW, NB) == [
        "DHO sim BP cuff",
        "Adresse 00:BB:00:00:00:02",
        "Batteri 85 % \N{MIDDLE DOT} sist tilkoblet kl. 10.40",
    ]
    bare = device(name=None, battery_level=None, last_connected_at=None)
    assert device_lines(bare, NOW, EN) == [
        "the blood pressure monitor",
        "Address 00:BB:00:00:00:02",
        "Battery unknown \N{MIDDLE DOT} not connected yet",
    ]


@pytest.mark.parametrize(
    ("clock_set_at", "synced", "words"),
    [
        ("2026-12-03T09:40:00+00:00", True, "The device's clock was set to the hub's time at"),
        (None, False, "NOT set: the hub's own clock is not synchronised"),
        (None, True, "was not set: it has no clock the hub may set"),
    ],
)
def test_the_device_clock_sentence_is_hub_pairs(
    clock_set_at: str | None, synced: bool, words: str
) -> None:
    assert words in clock_sentence(device(clock_set_at=clock_set_at), synced, NOW, EN)


# --- hub set-technician-pin ----------------------------------------------------------------


@pytest.fixture
def hub_toml(short_tmp: Path) -> Path:
    return provisioned_hub(short_tmp, "hub-pin-0001")


def set_pin(config: Path, typed: str, monkeypatch: pytest.MonkeyPatch, *more: str) -> int:
    monkeypatch.setattr(sys, "stdin", io.StringIO(typed))
    return main(["--config", str(config), "set-technician-pin", *more])


def test_set_technician_pin_keeps_only_a_salted_hash_and_the_comments(
    hub_toml: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    hub_toml.write_text("# the technician's note\n" + hub_toml.read_text())
    assert load_config(hub_toml).technician_pin is None
    assert set_pin(hub_toml, "739146\n", monkeypatch) == 0
    text = hub_toml.read_text()
    assert "739146" not in text and "# the technician's note" in text
    kept = load_config(hub_toml).technician_pin
    assert kept is not None and pin_matches("739146", kept.kept)
    assert "739146" not in capsys.readouterr().err
    # Again: replaced, one table, a new salt.
    assert set_pin(hub_toml, "55511122\n", monkeypatch) == 0
    again = load_config(hub_toml).technician_pin
    assert again is not None and again.salt != kept.salt
    assert hub_toml.read_text().count("[technician_pin]") == 1
    assert pin_matches("55511122", again.kept) and not pin_matches("739146", again.kept)
    assert set_pin(hub_toml, "", monkeypatch, "--remove") == 0
    assert load_config(hub_toml).technician_pin is None
    assert "# the technician's note" in hub_toml.read_text()


@pytest.mark.parametrize("typed", ["12345\n", "1234567890123\n", "12a456\n", "\n", "١٢٣٤٥٦\n"])
def test_set_technician_pin_refuses_what_is_no_pin_and_changes_nothing(
    hub_toml: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    typed: str,
) -> None:
    before = hub_toml.read_bytes()
    assert set_pin(hub_toml, typed, monkeypatch) == 2
    said = capsys.readouterr().err
    assert "a technician PIN is" in said
    if typed.strip():
        assert typed.strip() not in said  # a mistyped PIN is not repeated
    assert hub_toml.read_bytes() == before


async def test_a_pairing_refused_for_an_expired_unlock_says_to_type_the_pin_again() -> None:
    """The daemon's `needs_technician` refusal (its 5 minutes ran out, hub/core/
    technician_unlock.py) is told in the screen's language with what to do; any other refusal
    stays the daemon's own sentence."""
    from hub.local_protocol import PairAnswer, PairRequest, Refusal
    from hub.ui.technician_screen import Technician

    def technician(refusal: Refusal) -> Technician:
        async def ask(*_: object) -> Refusal:
            return refusal

        return Technician(
            catalogue=NB,
            ask=ask,
            now=lambda: datetime.now(UTC),
            hub_clock_synced=lambda: True,
            touched=lambda: None,
            status=lambda: None,
            live=lambda: [],
        )

    expired = Refusal(error="pairing needs the technician PIN", error_kind="needs_technician")
    said = await technician(expired).asked(PairRequest(passkey=None, scan_s=1.0), PairAnswer, 1)
    assert said == NB.translate("tech.pin.again") and "teknikerkoden" in said
    other = Refusal(error="no device found within 60 s")
    assert (
        await technician(other).asked(PairRequest(passkey=None, scan_s=1.0), PairAnswer, 1)
        == other.error
    )
