"""Technician mode on the touchscreen (issue 15): what its screens say, pure, without Textual.

A technician in a home without a keyboard pairs and forgets devices and takes a test
measurement from the patient's screen. The way in is one a patient does not stumble on: five
taps within a few seconds on the sentence under the top band (not a button: a patient taps
buttons), then the technician PIN on the keypad, checked by the daemon (op
`technician_unlock`, which keeps the lockout). Technician mode leaves by its own button, and by
itself after IDLE_S without a touch, so a hub is never left open in it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime

from hub.core.technician_pin import PIN_LENGTHS
from hub.core.technician_unlock import UNLOCK_S
from hub.local_protocol import Device, LiveSession, TechnicianUnlockAnswer
from hub.ui.i18n import Catalogue
from hub.ui.keypad import DIGITS, ERASE
from hub.ui.present import format_when, parse_time

KNOCKS = 5  # taps on the sentence under the top band ...
KNOCK_WINDOW_S = 4.0  # ... within this many seconds ask for the PIN
# Technician mode leaves by itself after this long without a touch: as long as the daemon's
# unlock lasts (hub/core/technician_unlock.py), never longer.
IDLE_S = UNLOCK_S
PASSKEY_DIGITS = 6  # a device's pairing passkey: exactly six digits, as `hub pair --passkey`
PAIR_SCAN_S = 60.0  # how long pairing looks for the device, as `hub pair`'s default


def knocked(taps: Sequence[float], now: float) -> tuple[tuple[float, ...], bool]:
    """The taps still inside the window after one at `now`, and whether they open the PIN
    screen (then the count starts again)."""
    recent = (*(t for t in taps if 0 <= now - t < KNOCK_WINDOW_S), now)
    if len(recent) >= KNOCKS:
        return (), True
    return recent, False


def idle_for(last_touch: float, now: float) -> bool:
    """Whether technician mode has gone untouched long enough to leave by itself."""
    return now - last_touch >= IDLE_S


@dataclass(frozen=True)
class DigitEntry:
    """Digits typed on the technician's keypad: the PIN (6 to 12) or a passkey (6)."""

    most: int
    typed: str = ""

    def press(self, key: str) -> DigitEntry:
        if key == ERASE:
            return replace(self, typed=self.typed[:-1])
        if key in DIGITS and len(self.typed) < self.most:
            return replace(self, typed=self.typed + key)
        return self

    def shown(self, hidden: bool) -> str:
        """What the screen shows of it: a dot a digit for the PIN, the digits of a passkey."""
        return "\N{BLACK CIRCLE}" * len(self.typed) if hidden else self.typed


def pin_entry() -> DigitEntry:
    return DigitEntry(most=PIN_LENGTHS.stop - 1)


def pin_ready(entry: DigitEntry) -> bool:
    return len(entry.typed) in PIN_LENGTHS


def passkey_entry() -> DigitEntry:
    return DigitEntry(most=PASSKEY_DIGITS)


def passkey_ready(entry: DigitEntry) -> bool:
    """Pairing may start with no passkey (most devices) or with all six digits."""
    return len(entry.typed) in (0, PASSKEY_DIGITS)


def unlock_said(answer: TechnicianUnlockAnswer, cat: Catalogue) -> str:
    """What the PIN screen says after a try that did not open technician mode."""
    if answer.locked_for_s > 0 or answer.tries_left == 0:
        minutes = max(1, round(answer.locked_for_s / 60 + 0.49))
        return cat.translate("tech.pin.locked", minutes=minutes)
    return cat.translate("tech.pin.wrong", tries=answer.tries_left)


def device_name(device: Device, cat: Catalogue) -> str:
    """Its own name if it has one, else what kind of device it is."""
    if device.name:
        return device.name
    key = f"device.{device.profile}"
    return cat.translate(key if cat.has(key) else "device.unknown")


def device_lines(device: Device, now: datetime, cat: Catalogue) -> list[str]:
    """A paired device as the technician needs it: name, address, battery, last connection."""
    battery = (
        cat.translate("tech.device.battery", level=device.battery_level)
        if device.battery_level is not None
        else cat.translate("tech.device.battery_unknown")
    )
    last = parse_time(device.last_connected_at)
    connected = (
        cat.translate("tech.device.last", when=format_when(last, now, cat))
        if last is not None
        else cat.translate("tech.device.never")
    )
    return [
        device_name(device, cat),
        cat.translate("tech.device.address", address=device.address),
        f"{battery} \N{MIDDLE DOT} {connected}",
    ]


def clock_sentence(device: Device, hub_clock_synced: bool, now: datetime, cat: Catalogue) -> str:
    """Whether pairing set the device's clock, and if not why: `hub pair`'s sentence, in the
    screen's language."""
    set_at = parse_time(device.clock_set_at)
    if set_at is not None:
        return cat.translate("tech.clock.set", when=format_when(set_at, now, cat))
    if not hub_clock_synced:
        return cat.translate("tech.clock.hub_unsynced")
    return cat.translate("tech.clock.none")


def paired_said(device: Device, hub_clock_synced: bool, now: datetime, cat: Catalogue) -> str:
    paired = cat.translate("tech.pair.done", name=device_name(device, cat), address=device.address)
    return f"{paired}\n{clock_sentence(device, hub_clock_synced, now, cat)}"


def session_under_test(
    sessions: Sequence[LiveSession], before: frozenset[str]
) -> LiveSession | None:
    """The session a test measurement shows: the newest that began after the test screen
    opened (`before`: the sessions the daemon held then)."""
    fresh = [s for s in sessions if s.key not in before]
    return fresh[-1] if fresh else None


def stored_said(session: LiveSession, cat: Catalogue) -> str:
    """A test measurement is a normal reading: said so, with its number, once it is stored."""
    if not session.results:
        return ""
    return cat.translate("tech.test.stored", seq=session.results[-1].seq)
