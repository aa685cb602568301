"""The measuring screen: pushed over whatever the patient was doing when a device connects,
closed with one large button (or by itself a while after the device has gone)."""

from __future__ import annotations

from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.screen import Screen
from textual.widgets import Digits

from hub.ui.measuring import MeasuringView
from hub.ui.touch import TouchButton, changed_under_the_finger
from hub.ui.widgets import Text, show_result


def _hint_classes(view: MeasuringView) -> str:
    return "warning" if view.phase == "not_finished" else ""


class MeasuringScreen(Screen[tuple[str, int]]):
    """Dismissed with the key of the session shown and the results it showed, so that it is
    not shown again unless it stores another."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "done", show=False),  # technicians at a keyboard
    ]

    def __init__(self, view: MeasuringView, done_label: str) -> None:
        super().__init__()  # no fixed id: the next one may come while this one is closing
        self.view = view
        self.done_label = done_label

    def compose(self) -> ComposeResult:
        view = self.view  # drawn with its content: no blank frame before on_mount
        with Vertical(id="m-body"):
            yield Text(view.title, id="m-title")
            yield Text(view.hint, id="m-hint", classes=_hint_classes(view))
            with Horizontal(id="m-progress-row"):
                yield Digits(view.progress or "", id="m-progress")
                yield Text(view.progress_unit, id="m-progress-unit", classes="unit")
            with Vertical(id="m-result"):
                pass
        # In the closing band, where home shows only a reading (patient.tcss, "Bands").
        with Horizontal(classes="closing-band"):
            yield TouchButton(self.done_label, id="m-done")
        yield Text("", classes="bottom-band")

    async def on_mount(self) -> None:
        await self._render_view()

    async def show(self, view: MeasuringView, done_label: str) -> None:
        if (view, done_label) != (self.view, self.done_label):
            if view.key != self.view.key or view.seen != self.view.seen:
                changed_under_the_finger(self.app)  # another result: a new screen to her
            self.view, self.done_label = view, done_label
            await self._render_view()

    async def _render_view(self) -> None:
        view = self.view
        self.query_one("#m-title", Text).update(view.title)
        self.query_one("#m-hint", Text).update(view.hint)
        self.query_one("#m-hint").set_classes(_hint_classes(view))
        self.query_one("#m-progress", Digits).update(view.progress or "")
        self.query_one("#m-progress-unit", Text).update(view.progress_unit)
        self.query_one("#m-progress-row").display = view.progress is not None
        self.query_one("#m-done", TouchButton).label = self.done_label
        await show_result(self.query_one("#m-result", Vertical), self.view.result)

    def on_button_pressed(self, event: TouchButton.Pressed) -> None:
        if event.button.id == "m-done":
            event.stop()
            self.action_done()

    def action_done(self) -> None:
        self.dismiss((self.view.key, self.view.seen))
