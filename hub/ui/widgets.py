"""Widgets the patient's screens share: plain text, and a reading in large digits."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from textual.app import ComposeResult, RenderResult
from textual.containers import Horizontal, Vertical
from textual.content import Content
from textual.geometry import Size
from textual.visual import VisualType
from textual.widgets import Digits, Static

from hub.core.printable import printable
from hub.core.screen_text import glued_lines
from hub.ui.present import ReadingView
from hub.ui.trend_chart import trend_rows

NO_BREAK = "\N{NO-BREAK SPACE}"


class Text(Static):
    """A Static that never interprets markup: text from the daemon is shown as it is, but for
    control characters, which are replaced (an ESC would be a command to the terminal). A
    no-break space holds its words together on one line."""

    def __init__(self, content: str = "", **kwargs: Any) -> None:
        super().__init__(printable(content), markup=False, **kwargs)

    def update(self, content: VisualType = "", *, layout: bool = True) -> None:
        super().update(printable(content) if isinstance(content, str) else content, layout=layout)

    def _glued(self, width: int) -> Content | None:
        visual = self.visual
        if isinstance(visual, Content) and NO_BREAK in visual.plain:
            return Content(glued_lines(visual.plain, width))
        return None

    def render(self) -> RenderResult:
        glued = self._glued(self.content_size.width)
        return glued if glued is not None else super().render()

    def get_content_height(self, container: Size, viewport: Size, width: int) -> int:
        glued = self._glued(width)
        if glued is None:
            return super().get_content_height(container, viewport, width)
        return len(glued.plain.split("\n"))


class ReadingCard(Vertical):
    """One kind of measurement: title, big digits, when it was measured and whether it was sent."""

    def __init__(self, view: ReadingView) -> None:
        super().__init__(id=f"{view.slug}-card", classes="card")
        self._view = view

    def compose(self) -> ComposeResult:
        slug = self._view.slug
        yield Text(id=f"{slug}-title", classes="card-title")
        with Horizontal(id=f"{slug}-row", classes="value-row"):
            yield Digits(id=f"{slug}-value", classes="value")
            yield Text(id=f"{slug}-unit", classes="unit")
            yield Text(id=f"{slug}-pulse-label", classes="pulse-label")
            yield Digits(id=f"{slug}-pulse", classes="value")
            yield Text(id=f"{slug}-pulse-unit", classes="unit")
        yield Text(id=f"{slug}-flag", classes="flag")
        yield Text(id=f"{slug}-note", classes="note")
        yield Text(id=f"{slug}-time", classes="time")
        yield Text(id=f"{slug}-sync", classes="sync-state")
        # Last: at 50x15 a card with something to say has no room left for it (patient.tcss).
        yield Text(id=f"{slug}-trend", classes="trend")
        yield Text(id=f"{slug}-trend-label", classes="trend-label")

    def on_mount(self) -> None:
        self._render_view()

    def show(self, view: ReadingView) -> None:
        if view != self._view:
            self._view = view
            self._render_view()

    def _render_view(self) -> None:
        view, slug = self._view, self._view.slug
        self.query_one(f"#{slug}-title", Text).update(view.title)
        self.query_one(f"#{slug}-row").display = view.value is not None or view.pulse is not None
        self._set_digits(f"#{slug}-value", view.value)
        self.query_one(f"#{slug}-value").set_class(bool(view.flag), "flagged")
        self._set_text(f"#{slug}-flag", view.flag)
        self._set_text(f"#{slug}-trend-label", view.trend_label)
        self._set_text(f"#{slug}-unit", view.unit if view.value is not None else "")
        self._set_text(f"#{slug}-pulse-label", view.pulse_label if view.pulse else "")
        self._set_digits(f"#{slug}-pulse", view.pulse)
        self._set_text(f"#{slug}-pulse-unit", view.pulse_unit if view.pulse else "")
        said = "\n".join(n for n in (view.note, view.pulse_note) if n)
        self._set_text(f"#{slug}-note", said)
        self.set_class(bool(said), "has-note")
        self._set_text(f"#{slug}-time", view.measured)
        # One point is no trend.
        chart = trend_rows(view.trend, view.trend_limit) if len(view.trend) >= 2 else ()
        self._set_text(f"#{slug}-trend", "\n".join(chart))
        sync = self.query_one(f"#{slug}-sync", Text)
        sync.update(view.sync)
        sync.set_class(view.synced, "synced").set_class(not view.synced, "waiting")

    def _set_digits(self, selector: str, value: str | None) -> None:
        digits = self.query_one(selector, Digits)
        digits.update(printable(value or ""))  # Digits writes a character it has no glyph for
        digits.display = value is not None

    def _set_text(self, selector: str, text: str) -> None:
        widget = self.query_one(selector, Text)
        widget.update(text)
        # A class, not `display`: set on the widget it would overrule the stylesheet's rules
        # for what a small screen leaves out (patient.tcss, the trend at 50x15).
        widget.set_class(not text, "empty")


async def show_result(box: Vertical, result: ReadingView | None) -> None:
    """The reading a device session stored, as one card in `box` without its trend (home has
    the trend); the card kept and updated while the kind stays the same, so it does not blink."""
    box.display = result is not None
    if result is None:
        await box.remove_children()
        return
    result = replace(result, trend=())
    cards = list(box.query(ReadingCard))
    if cards and cards[0].id == f"{result.slug}-card":
        cards[0].show(result)
    else:
        await box.remove_children()
        await box.mount(ReadingCard(result))
