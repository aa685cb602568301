"""Text that reaches the patient's terminal: no control characters (pure; no I/O, no Textual).

A nurse's message, a questionnaire's texts and a care plan's phone number are written to the
patient's terminal by the screen. A control character in them is a command to the terminal, not
a letter: ESC [ ? 1000 l turns off mouse reporting (the touchscreen no longer takes taps),
ESC ] 2 ; ... sets the window title, and a C1 control (U+0080-U+009F) is the same command in one
code point on some terminals. Textual passes ESC through as it is (it strips only BEL, BS, VT,
FF and CR), so:

- the hub refuses such text where it comes in (`unprintable_in`, raised as UnprintableText by
  the care plan's PatientMessage and the questionnaire reader), and the centre's forms say it
  before anything is sent;
- the screen shows every text through `printable`, which replaces what is left (from an older
  hub's store, or a field no check knows of) with U+FFFD, so nothing reaches the terminal.

A newline is a line of the text and is kept; a tab is a space to a reader and is taken (shown as
a space). A browser sends a textarea's newlines as CR LF, so CR LF is read as a newline; a CR
alone moves the terminal's cursor back over the line, and is refused like the others.
"""

from __future__ import annotations

import re
import unicodedata

from hub.errors import HubError

# C0 but newline and tab, DEL, C1.
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")
REPLACEMENT = "\N{REPLACEMENT CHARACTER}"
# Names for the ones a technician is likely to meet (unicodedata has no names for controls).
_NAMES = {
    0x00: "NUL",
    0x07: "BEL",
    0x08: "BS",
    0x0B: "VT",
    0x0C: "FF",
    0x0D: "CR",
    0x1B: "ESC",
    0x7F: "DEL",
    0x9B: "CSI",
    0x9D: "OSC",
}


class UnprintableText(HubError, ValueError):
    """A text for the patient's screen holds a control character: where, which, and at which
    place, so the sender can find and remove it."""


def normal_newlines(text: str) -> str:
    """CR LF (a browser's textarea) as the newline it means."""
    return text.replace("\r\n", "\n")


def first_control(text: str) -> tuple[int, str] | None:
    """Where the first control character of `text` is (counted from 1, after CR LF is made a
    newline) and its code as U+001B; None if there is none (newline and tab are allowed)."""
    found = _CONTROL.search(normal_newlines(text))
    if found is None:
        return None
    return found.start() + 1, f"U+{ord(found.group()):04X}"


def unprintable_in(text: str) -> str | None:
    """The first control character of `text`, named and placed for a person, e.g.
    "ESC (U+001B) at character 5"; None if none."""
    found = first_control(text)
    if found is None:
        return None
    place, code = found
    character = normal_newlines(text)[place - 1]
    name = _NAMES.get(ord(character)) or unicodedata.name(character, "control character")
    return f"{name} ({code}) at character {place}"


def check_printable(text: str, what: str) -> str:
    """`text` with its newlines made plain, or UnprintableText naming `what` and the character."""
    bad = unprintable_in(text)
    if bad is not None:
        raise UnprintableText(
            f"{what} holds a control character, {bad}: it would be a command to the patient's "
            "terminal, not text. Remove it (type the text again without pasting it) and send again"
        )
    return normal_newlines(text)


def printable(text: str) -> str:
    """`text` as the screen may write it: newlines kept, a tab as a space, CR LF as a newline,
    every other control character as U+FFFD (it is not shown as a command, and a reader sees
    that something was there)."""
    return _CONTROL.sub(REPLACEMENT, normal_newlines(text).replace("\t", " "))
