"""A screen of its own for one thing to read and one or two answers: a message from the nurse,
how to measure, "do you want to stop?", "shall the nurse call you?".

Its buttons sit in the band just above the bottom band, where home shows only a reading (see
hub/ui/patient.tcss, "Bands"): a second tap of the finger that closed it lands on nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.screen import Screen

from hub.ui.touch import TouchButton
from hub.ui.widgets import Text


class NoticeScreen(Screen[str | None]):
    """Dismissed with the id of the button pressed (None: Escape on a technician's keyboard)."""

    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "leave", show=False)]

    def __init__(
        self, title: str, text: str, buttons: Sequence[tuple[str, str]], *, name: str
    ) -> None:
        # A name, not an id: the next notice may come while this one is closing (DuplicateIds).
        super().__init__(name=name, classes="notice")
        self.heading = title
        self.text = text
        self.buttons = tuple(buttons)  # (id, label), the safe choice first

    def compose(self) -> ComposeResult:
        with Vertical(classes="n-body"):
            yield Text(self.heading, id="notice-title", classes="n-title")
            yield Text(self.text, id="notice-text", classes="n-text")
        with Horizontal(classes="closing-band"):
            for button_id, label in self.buttons:
                yield TouchButton(label, id=button_id, classes="n-choice")
        yield Text("", classes="bottom-band")

    def on_button_pressed(self, event: TouchButton.Pressed) -> None:
        event.stop()
        self.dismiss(event.button.id)

    def action_leave(self) -> None:
        self.dismiss(None)
