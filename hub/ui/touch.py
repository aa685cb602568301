"""Taps on the touchscreen: after what is on screen changes, taps are ignored for a moment.

A shaking finger taps twice. Textual's Button already ignores a second press of the same button
for 0.2 s, but when the first tap changes the screen the second lands on whatever the next screen
has there: "OK" on a result became "Svar på dagens spørsmål" on home, and "Ja" answered the next
question too. So every screen change (a screen shown, a question or page replaced) starts a pause
during which no button takes a tap.

TAP_PAUSE_S is 0.5 s: the time two taps may be apart and still count as one double-click in the
desktops' defaults (GTK's gtk-double-click-time 400 ms, Windows 500 ms), so the second tap of a
double tap falls inside it; a person who has read the new screen and means to tap again takes
longer than that (tests/test_screen_design.py shows both).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

from textual import events
from textual.content import Content, ContentText
from textual.widgets import Button

from hub.ui.plain import plain

log = logging.getLogger(__name__)

TAP_PAUSE_S = 0.5


class TapPause:
    """When taps are taken again after the screen last changed."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self._changed_at = -TAP_PAUSE_S
        self.ignored = 0  # taps ignored so far: a tap that changed nothing says why in the log

    def screen_changed(self) -> None:
        self._changed_at = self.clock()

    def taking_taps(self) -> bool:
        return self.clock() - self._changed_at >= TAP_PAUSE_S

    def ignore(self, button: str | None) -> None:
        self.ignored += 1
        log.info("tap on %s ignored: the screen changed just before", button)


def changed_under_the_finger(app: object) -> None:
    """A screen's words or buttons were replaced in place: start its app's tap pause, as a new
    screen does (an app without one, a test's, has nothing to start)."""
    pause = getattr(app, "tap_pause", None)
    if isinstance(pause, TapPause):
        pause.screen_changed()


class TouchButton(Button):
    """A Button that ignores a tap while its app's TapPause says the screen just changed.

    A key press (a technician's keyboard) is not a tap and is taken at once. A label given as
    text is shown as written, never read as markup (hub/ui/plain.py): labels come from data.
    """

    def __init__(self, label: ContentText | None = None, *args: Any, **kwargs: Any) -> None:
        # Button.__init__ sets the label without validate_label: make it plain here too.
        super().__init__(plain(label) if isinstance(label, str) else label, *args, **kwargs)

    def validate_label(self, label: ContentText) -> Content:
        return plain(label) if isinstance(label, str) else super().validate_label(label)

    async def _on_click(self, event: events.Click) -> None:
        # Textual calls Button._on_click after this one unless the default is prevented.
        pause = getattr(self.app, "tap_pause", None)
        if isinstance(pause, TapPause) and not pause.taking_taps():
            event.prevent_default()
            event.stop()
            pause.ignore(self.id)
