"""The technician's PIN for the touchscreen (issue 15): its form, its salted hash, and the
lockout after wrong tries. Pure: the daemon holds the hash and the lockout and asks these.

The hub keeps only a salted scrypt hash of the PIN (hub.toml `[technician_pin]`, a salt per
hub). A PIN is 6 to 12 ASCII digits: on the screen's keypad, anything else cannot be typed. Six
digits are a million PINs; five wrong tries lock the screen's way in for five minutes, so
guessing at the screen takes years. The count and the lock outlive a restart of the daemon (it
keeps them in its store, as KeptLockout): pulling the plug gives no fresh tries. Whoever reads
hub.toml can try every PIN offline against the hash (scrypt makes each try cost memory and
time): give every hub a PIN of its own.
"""

from __future__ import annotations

import hashlib
import hmac
import math
import secrets
from dataclasses import dataclass, replace

from hub.errors import HubError

PIN_LENGTHS = range(6, 13)  # 6 to 12 digits
PIN_PATTERN = r"^[0-9]{6,12}$"
MAX_FAILURES = 5  # wrong PINs in a row, then the way in is locked
LOCK_S = 300.0  # for five minutes

# scrypt's cost: 16 MiB and about 0.05 s of CPU a try on a PC (a few times that on a Pi).
SCRYPT_N = 2**14
SCRYPT_R = 8
SCRYPT_P = 1
SALT_BYTES = 16
DIGEST_BYTES = 32


class PinRefused(HubError, ValueError):
    """Text that cannot be a technician PIN, in words."""


def check_pin_text(text: str) -> str:
    """`text` if it is a PIN (6 to 12 ASCII digits), else PinRefused saying what a PIN is.
    The text itself is never repeated: it may be the PIN, mistyped by one digit."""
    # ASCII only: str.isdigit takes other scripts' digits, which the keypad cannot type.
    if not all("0" <= c <= "9" for c in text):
        raise PinRefused("a technician PIN is digits only (0-9)")
    if len(text) not in PIN_LENGTHS:
        raise PinRefused(
            f"a technician PIN is {PIN_LENGTHS.start} to {PIN_LENGTHS.stop - 1} digits, "
            f"not {len(text)}"
        )
    return text


@dataclass(frozen=True)
class PinHash:
    """What the hub keeps of its PIN: scrypt(pin, salt) and scrypt's parameters."""

    salt: bytes
    digest: bytes
    n: int = SCRYPT_N
    r: int = SCRYPT_R
    p: int = SCRYPT_P


def _scrypt(pin: str, salt: bytes, n: int, r: int, p: int) -> bytes:
    # maxmem: n * r * 128 bytes, and room for OpenSSL's own (its default is 32 MiB).
    return hashlib.scrypt(
        pin.encode("ascii"),
        salt=salt,
        n=n,
        r=r,
        p=p,
        maxmem=2 * 128 * n * r + 2**20,
        dklen=DIGEST_BYTES,
    )


def hash_pin(pin: str, salt: bytes | None = None) -> PinHash:
    """The hash of a PIN (checked first), with a new random salt unless one is given."""
    check_pin_text(pin)
    salt = secrets.token_bytes(SALT_BYTES) if salt is None else salt
    return PinHash(salt, _scrypt(pin, salt, SCRYPT_N, SCRYPT_R, SCRYPT_P))


def pin_matches(pin: str, kept: PinHash) -> bool:
    """Whether `pin` is the PIN `kept` is the hash of; text that is no PIN never is."""
    try:
        check_pin_text(pin)
    except PinRefused:
        return False
    return hmac.compare_digest(_scrypt(pin, kept.salt, kept.n, kept.r, kept.p), kept.digest)


# --- the lockout ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Lockout:
    """Wrong PINs in a row, and until when (monotonic seconds) the way in is locked.

    Invariants: `failures` is below MAX_FAILURES while not locked; locked only with
    MAX_FAILURES failures, for at most LOCK_S from the try that locked it."""

    failures: int = 0
    locked_until: float | None = None


def locked_for(lock: Lockout, now: float) -> float:
    """Seconds the way in stays locked (0: a PIN may be tried)."""
    if lock.locked_until is None:
        return 0.0
    return max(0.0, lock.locked_until - now)


def settled(lock: Lockout, now: float) -> Lockout:
    """The lockout at `now`: a lock that has run out is lifted, with a fresh count of tries."""
    if lock.locked_until is not None and now >= lock.locked_until:
        return Lockout()
    return lock


def tries_left(lock: Lockout, now: float) -> int:
    lock = settled(lock, now)
    return 0 if lock.locked_until is not None else MAX_FAILURES - lock.failures


def after_try(lock: Lockout, now: float, right: bool) -> Lockout:
    """The lockout after a PIN was checked at `now`. A try while locked changes nothing (the
    caller must not even check the PIN then: a right PIN must not be told apart)."""
    lock = settled(lock, now)
    if lock.locked_until is not None:
        return lock
    if right:
        return Lockout()
    failures = lock.failures + 1
    if failures >= MAX_FAILURES:
        return replace(lock, failures=MAX_FAILURES, locked_until=now + LOCK_S)
    return replace(lock, failures=failures)


# --- the lockout across restarts -------------------------------------------------------------


@dataclass(frozen=True)
class KeptLockout:
    """The lockout as the daemon keeps it in its store, to outlive a restart: a monotonic clock
    starts again at each boot, so the lock's end is kept by the wall clock (Unix seconds).
    Without it, pulling the plug gave 5 fresh tries per boot (issue 15 review)."""

    failures: int = 0
    locked_until: float | None = None


def to_kept(lock: Lockout, now: float, wall: float) -> KeptLockout:
    """What to keep of `lock` at monotonic `now`, wall clock `wall`."""
    lock = settled(lock, now)
    if lock.locked_until is None:
        return KeptLockout(lock.failures)
    return KeptLockout(lock.failures, wall + locked_for(lock, now))


def from_kept(kept: KeptLockout, now: float, wall: float) -> Lockout:
    """The lockout a starting daemon holds from what was kept: the wrong tries in a row, and
    the lock for what is left of it by the wall clock. Never locked for more than LOCK_S from
    now (a clock that ran ahead when the lock was kept must not shut the technician out for
    longer); a kept state that breaks the rules locks for LOCK_S (the safe side)."""
    failures = kept.failures if 0 <= kept.failures <= MAX_FAILURES else MAX_FAILURES
    until = kept.locked_until
    if until is None:
        if failures >= MAX_FAILURES:
            return Lockout(MAX_FAILURES, now + LOCK_S)
        return Lockout(failures)
    left = until - wall if math.isfinite(until) else LOCK_S
    if left <= 0:
        return Lockout()  # the lock ran out while the daemon was down: a fresh count
    return Lockout(MAX_FAILURES, now + min(left, LOCK_S))
