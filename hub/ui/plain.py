"""Text from data as the screen shows it: plain, never markup, never a terminal command.

A questionnaire's option "Ja [/]" made as a Button label is Textual markup (a closing tag with
nothing open: MarkupError, the screen stops), "Bedre [ikke verre]" loses its brackets' words,
and "[@click=app.quit]Ja[/]" quits the screen when tapped. A nurse's message with ESC in it is
written to the terminal as a command (hub/core/printable.py). So every text that can come from
data (nurse's messages, questionnaire texts and options, device names, units, phone numbers) is
made Content from plain text, with its control characters replaced, before a widget gets it.
"""

from __future__ import annotations

from textual.content import Content

from hub.core.printable import printable


def plain(text: str) -> Content:
    """`text` as Content, shown as written: brackets are brackets, controls are U+FFFD."""
    return Content(printable(text))
