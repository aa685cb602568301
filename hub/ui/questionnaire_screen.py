"""The questionnaire on the touchscreen: one question per screen, every answer a large button.

Numbers are set with minus and plus buttons (no keyboard); free text is optional and may be
skipped. At the end the answers go to the daemon (`answer` on hub.sock), which stores and sends
them; if it cannot, the screen keeps them and offers to try again.
"""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.screen import Screen
from textual.widgets import Button, Digits, Input, Static

from hub.ipc import DaemonUnavailable, ask
from hub.local_protocol import AnswerRequest, AnswerStored
from hub.questionnaire.model import Item
from hub.ui.flow import Walk
from hub.ui.i18n import Catalogue

STEPS = {"integer": 1, "decimal": 0.1}
SEND_WITHIN_S = 5.0  # then the patient is offered to try again
MINUS = "\N{MINUS SIGN}"  # wider than a hyphen: easier to see on the button


class QuestionnaireScreen(Screen[bool]):
    """Dismissed with True once the daemon has the answers, False if the patient cancels."""

    def __init__(self, walk: Walk, catalogue: Catalogue, socket_path: Path) -> None:
        super().__init__(id="questionnaire")
        self.walk = walk
        self.catalogue = catalogue
        self.socket_path = socket_path
        self.number: float = 0
        self.response_id = str(uuid.uuid4())  # one per filling-in: a re-send is stored once
        self.outcome: str | None = None  # "sending", "sent", "failed" once finished
        self.response: dict[str, Any] | None = None  # made once; a retry sends the same

    def t(self, key: str, **params: object) -> str:
        return self.catalogue.translate(key, **params)

    def compose(self) -> ComposeResult:
        item = self.walk.current
        with Vertical(id="q-body"):
            yield Static(self._progress(), id="q-progress", markup=False)
            yield Static(self._text(item), id="q-text", markup=False)
            with Vertical(id="q-answers"):
                yield from self._answers(item)
        with Horizontal(id="q-footer"):
            if self.outcome is None:
                yield Button(self.t("q.back"), id="q-back", classes="nav")
                yield Button(self.t("q.cancel"), id="q-cancel", classes="nav")

    def _progress(self) -> str:
        if self.walk.finished:
            return ""
        n, total = self.walk.position
        return self.t("q.progress", n=n, total=total)

    def _text(self, item: Item | None) -> str:
        if self.outcome is not None:
            return self.t(f"q.{self.outcome}")
        return item.label if item is not None else ""

    def _answers(self, item: Item | None) -> ComposeResult:
        if self.outcome == "sent":
            yield Button(self.t("q.done"), id="q-done", classes="answer")
        elif self.outcome == "failed":
            yield Button(self.t("q.retry"), id="q-retry", classes="answer")
        elif item is None or self.outcome is not None:
            return
        elif item.type == "boolean":
            yield Button(self.t("q.yes"), id="answer-yes", classes="answer")
            yield Button(self.t("q.no"), id="answer-no", classes="answer")
        elif item.type == "choice":
            for n, option in enumerate(item.options):
                label = self.t(option.label_key) if option.label_key else option.label
                yield Button(label, id=f"option-{n}", classes="answer")
        elif item.type in STEPS:
            self.number = self._start_number(item)
            with Horizontal(id="q-number-row"):
                yield Button(MINUS, id="q-minus", classes="step")
                yield Digits(self._number_text(item), id="q-number")
                yield Button("+", id="q-plus", classes="step")
            yield Button(self.t("q.ok"), id="q-number-ok", classes="answer")
        elif item.type in ("string", "date"):
            yield Input(placeholder=self.t("q.type_here"), id="q-input")
            yield Button(self.t("q.ok"), id="q-text-ok", classes="answer")
        else:  # display
            yield Button(self.t("q.ok"), id="q-display-ok", classes="answer")
        if item is not None and item.is_question and not item.required:
            yield Button(self.t("q.skip"), id="q-skip", classes="answer")

    def _start_number(self, item: Item) -> float:
        given = self.walk.answers.get(item.link_id)
        return float(given) if isinstance(given, int | float) else 0

    def _number_text(self, item: Item) -> str:
        if item.type == "integer":
            return str(int(self.number))
        return f"{self.number:.1f}".replace(".", self.t("number.decimal"))

    async def on_button_pressed(self, event: Button.Pressed) -> None:
        pressed = event.button.id or ""
        item = self.walk.current
        if pressed in ("q-minus", "q-plus") and item is not None:
            step = STEPS[item.type] * (1 if pressed == "q-plus" else -1)
            self.number = max(0, round(self.number + step, 1))
            self.query_one("#q-number", Digits).update(self._number_text(item))
            return
        if pressed == "q-cancel":
            self.dismiss(False)
            return
        if pressed == "q-done":
            self.dismiss(True)
            return
        if pressed == "q-retry":
            await self._send()
            return
        await self._advance(pressed, item)

    async def _advance(self, pressed: str, item: Item | None) -> None:
        if pressed == "q-back":
            self.walk = self.walk.step(-1)
        elif item is not None and (value := self._value(pressed, item)) is not _NOTHING:
            self.walk = self.walk.answer(value)
        else:
            return
        if self.walk.finished:
            missing = self.walk.missing
            if missing:  # a required question was skipped by going back and forth
                self.notify(self.t("q.missing"))
                self.walk = Walk(self.walk.questionnaire, self.walk.answers, missing[0])
            else:
                await self._send()
                return
        await self.recompose()

    def _value(self, pressed: str, item: Item) -> Any:
        if pressed in ("answer-yes", "answer-no"):
            return pressed == "answer-yes"
        if pressed.startswith("option-"):
            return item.options[int(pressed.removeprefix("option-"))].value
        if pressed == "q-number-ok":
            return int(self.number) if item.type == "integer" else self.number
        if pressed == "q-text-ok":
            text = self.query_one("#q-input", Input).value.strip()
            return text or None
        if pressed in ("q-display-ok", "q-skip"):
            return None
        return _NOTHING

    async def _send(self) -> None:
        self.outcome = "sending"
        await self.recompose()
        if self.response is None:
            self.response = self.walk.response(
                self.response_id, datetime.now(UTC).astimezone().isoformat(timespec="seconds")
            )
        try:
            async with asyncio.timeout(SEND_WITHIN_S):
                answer = await ask(
                    self.socket_path, AnswerRequest(response=self.response), AnswerStored
                )
            self.outcome = "sent" if isinstance(answer, AnswerStored) else "failed"
        except (DaemonUnavailable, TimeoutError):
            self.outcome = "failed"
        await self.recompose()


_NOTHING = object()
