"""How text falls into lines on the patient's screen, and how much of a message it shows whole.

Pure, so that the centre can say before sending that a message is too long for her screen
(centre/web/views/patient.py MessageForm) by the same rule the screen draws it with
(hub/ui/widgets.py Text).
"""

from __future__ import annotations

import textwrap

# The kiosk's 50x15 cells (docs/kiosk.md) less the screens' padding of one cell each side.
SCREEN_COLUMNS = 48
# A message's own screen at 50x15: its title on the first row, the closing band and the bottom
# band on the last four (hub/ui/notice_screen.py); ten rows are left for the words
# (tests/test_message_fits.py::test_the_longest_message_is_drawn_whole_at_50x15).
MESSAGE_ROWS = 10


def glued_lines(text: str, width: int) -> str:
    """`text` broken into lines of at most `width` characters at ordinary spaces only.

    Textual (like Rich, Textualize/rich#4196) breaks lines at a no-break space, so a phone
    number written "55 00 00 00" with them came out as "55" on one line and "00 00 00" on the
    next. textwrap counts only ASCII whitespace as a place to break.
    """
    lines: list[str] = []
    for paragraph in text.split("\n"):
        lines += textwrap.wrap(paragraph, max(width, 1), break_on_hyphens=False) or [""]
    return "\n".join(lines)


def message_rows(text: str) -> int:
    """The rows a message takes on the kiosk's screen."""
    return len(glued_lines(text, SCREEN_COLUMNS).split("\n"))
