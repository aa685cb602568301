"""The questionnaire on the touchscreen: one question per screen, every answer a large button.

Numbers are typed on a large keypad (hub/ui/keypad.py) and checked against the question's
bounds before OK takes them. Free text needs a keyboard the patient does not have: such a
question is left for the nurse to ask on the phone. Cancelling asks first and keeps the answers
for later today (the app holds them). At the end the answers go to the daemon (`answer` on
hub.sock), which stores and sends them; if it cannot, the screen keeps them and offers to try
again.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.screen import Screen
from textual.widgets import Digits

from hub.ipc import DaemonUnavailable, ask
from hub.local_protocol import AnswerRequest, AnswerStored
from hub.questionnaire.engine import AnswerInvalid
from hub.questionnaire.model import Item
from hub.ui.flow import Walk, keypad_answer, keypad_bounds
from hub.ui.i18n import Catalogue
from hub.ui.keypad import COMMA, DIGITS, ERASE, NumberEntry, typed_again
from hub.ui.notice_screen import NoticeScreen
from hub.ui.touch import TouchButton, changed_under_the_finger
from hub.ui.widgets import Text

log = logging.getLogger(__name__)

SEND_WITHIN_S = 5.0  # then the patient is offered to try again
NUMBER_TYPES = ("integer", "decimal")
FOR_THE_CALL = ("string", "date")  # typed answers: the nurse asks them on the phone
KEY_ROWS = (DIGITS[:6], (*DIGITS[6:], COMMA, ERASE))  # 1-6 / 7-9, 0, comma, erase
KEY_LABELS = {COMMA: ",", ERASE: "\N{ERASE TO THE LEFT}"}
KEY_IDS = {COMMA: "key-comma", ERASE: "key-erase"}


def key_id(key: str) -> str:
    return KEY_IDS.get(key, f"key-{key}")


@dataclass(frozen=True)
class Unsent:
    """Answers finished but not taken by the daemon: sent again as they were, with the same
    id, so that one the daemon did store after all is stored once."""

    response_id: str
    response: dict[str, Any]


class QuestionnaireScreen(Screen[bool]):
    """Dismissed with True once the daemon has the answers, False if the patient stops or
    leaves answers the daemon did not take for later (the app keeps `walk`, with the answers
    so far, and `unsent`, for later today)."""

    def __init__(
        self, walk: Walk, catalogue: Catalogue, socket_path: Path, unsent: Unsent | None = None
    ) -> None:
        # No fixed id: the next one may be opened while this one is closing (DuplicateIds).
        super().__init__(name="questionnaire")
        self.walk = walk
        self.catalogue = catalogue
        self.socket_path = socket_path
        self.entry: NumberEntry | None = None  # the number being typed, on a number question
        # One id per filling-in: a re-send is stored once.
        self.response_id = unsent.response_id if unsent else str(uuid.uuid4())
        self.outcome: str | None = None  # "sending", "sent", "failed" once finished
        # Made once; a retry sends the same.
        self.response: dict[str, Any] | None = unsent.response if unsent else None

    @property
    def unsent(self) -> Unsent | None:
        if self.response is None or self.outcome == "sent":
            return None
        return Unsent(self.response_id, self.response)

    async def on_mount(self) -> None:
        if self.walk.finished and self.outcome is None:
            await self._send()  # back to answers left unsent: send them, nothing to answer

    def t(self, key: str, **params: object) -> str:
        return self.catalogue.translate(key, **params)

    def compose(self) -> ComposeResult:
        item = None if self.outcome is not None else self.walk.current
        with Vertical(id="q-body"):
            yield Text(self._progress(), id="q-progress")
            yield Text(self._text(item), id="q-text")
            keypad = item is not None and item.type in NUMBER_TYPES
            # Answers two by two, so that five of them fit at 50x15; the keypad in rows.
            with Vertical(id="q-answers", classes="" if keypad else "two-by-two"):
                if item is not None:
                    yield from self._answers(item)
        if self.outcome in ("sent", "failed"):
            # In the closing band, where home shows only a reading (patient.tcss, "Bands").
            with Horizontal(classes="closing-band"):
                if self.outcome == "sent":
                    yield TouchButton(self.t("q.done"), id="q-done", classes="answer")
                else:  # home, the answers kept for later; or try again now
                    yield TouchButton(self.t("q.later"), id="q-later", classes="answer")
                    yield TouchButton(self.t("q.retry"), id="q-retry", classes="answer")
            yield Text("", classes="bottom-band")
        elif self.outcome is None:
            with Horizontal(id="q-footer"):
                back = TouchButton(self.t("q.back"), id="q-back", classes="nav")
                back.disabled = not self.walk.trail  # nothing before the first question
                yield back
                yield TouchButton(self.t("q.cancel"), id="q-cancel", classes="nav")

    def _progress(self) -> str:
        walk, item = self.walk, self.walk.current
        if walk.finished or self.outcome is not None or item is None or not item.is_question:
            return ""  # advice is not a question: it is neither numbered nor counted
        by_id = walk.questionnaire.by_link_id
        asked = sum(1 for link_id in walk.trail if (i := by_id.get(link_id)) and i.is_question)
        if walk.total is None:  # answers may still open or close questions: no total
            return self.t("q.number", n=asked + 1)
        return self.t("q.number_of", n=asked + 1, total=walk.total)

    def _text(self, item: Item | None) -> str:
        if self.outcome is not None:
            return self.t(f"q.{self.outcome}")
        if item is not None and item.type in FOR_THE_CALL:
            return f"{item.label}\n\n{self.t('q.for_the_call')}"
        return item.label if item is not None else ""

    def _answers(self, item: Item) -> ComposeResult:
        if item.type == "boolean":
            yield TouchButton(self.t("q.yes"), id="answer-yes", classes="answer")
            yield TouchButton(self.t("q.no"), id="answer-no", classes="answer")
        elif item.type == "choice":
            for n, option in enumerate(item.options):
                label = self.t(option.label_key) if option.label_key else option.label
                yield TouchButton(label, id=f"option-{n}", classes="answer")
        elif item.type in NUMBER_TYPES:
            yield from self._keypad(item)
        else:  # display, or a question for the nurse's call
            yield TouchButton(self.t("q.ok"), id="q-display-ok", classes="answer")
        if item.is_question and not item.required and item.type not in FOR_THE_CALL:
            yield TouchButton(self.t("q.skip"), id="q-skip", classes="answer")

    def _keypad(self, item: Item) -> ComposeResult:
        given = self.walk.answers.get(item.link_id)
        number = float(given) if isinstance(given, int | float) else None
        self.entry = typed_again(keypad_bounds(item), number)
        with Horizontal(id="q-number-row"):
            yield Digits(self.entry.typed, id="q-number")
            yield Text("", id="q-number-message")
            yield TouchButton(self.t("q.ok"), id="q-number-ok", classes="ok")
        for keys in KEY_ROWS:
            with Horizontal(classes="key-row"):
                for key in keys:
                    button = TouchButton(KEY_LABELS.get(key, key), id=key_id(key), classes="key")
                    # A whole number takes no comma: the key is not there to be tapped.
                    button.disabled = key == COMMA and self.entry.bounds.decimals == 0
                    yield button

    async def on_button_pressed(self, event: TouchButton.Pressed) -> None:
        event.stop()
        pressed = event.button.id or ""
        item = self.walk.current
        if pressed.startswith("key-") and self.entry is not None:
            key = next(k for k in (*DIGITS, COMMA, ERASE) if key_id(k) == pressed)
            self._show_entry(self.entry.press(key))
        elif pressed == "q-cancel":
            await self._ask_to_stop()
        elif pressed == "q-done":
            self.dismiss(True)
        elif pressed == "q-later":
            self.dismiss(False)
        elif pressed == "q-retry":
            await self._send()
        else:
            await self._advance(pressed, item)

    def _show_entry(self, entry: NumberEntry, message: str = "") -> None:
        self.entry = entry
        self.query_one("#q-number", Digits).update(entry.typed)
        note = self.query_one("#q-number-message", Text)
        note.update(message)
        note.set_class(bool(message), "warning")

    def _refusal(self, entry: NumberEntry) -> str:
        """Why OK does not take the number typed, in words, or "" when it does."""
        verdict = entry.verdict
        if verdict == "ok":
            return ""
        if verdict == "empty":
            return self.t("keypad.empty")
        least, most = (self._number(b) for b in (entry.bounds.least, entry.bounds.most))
        return self.t(f"keypad.{verdict}", least=least, most=most)

    def _number(self, value: object) -> str:
        return str(value).replace(".", self.t("number.decimal"))

    async def _ask_to_stop(self) -> None:
        cat = self.catalogue
        choices = [
            ("stop-no", cat.translate("q.stop_no")),
            ("stop-yes", cat.translate("q.stop_yes")),
        ]
        notice = NoticeScreen(
            cat.translate("q.stop_title"), cat.translate("q.stop_ask"), choices, name="stop"
        )

        def chosen(choice: str | None) -> None:
            if choice == "stop-yes":
                self.dismiss(False)

        await self.app.push_screen(notice, chosen)

    async def _advance(self, pressed: str, item: Item | None) -> None:
        if pressed == "q-back":
            self.walk = self.walk.step(-1)
        elif item is not None and (value := self._value(pressed, item)) is not _NOTHING:
            try:
                self.walk = self.walk.answer(value)
            except AnswerInvalid as exc:
                # The keypad and the questionnaire's rules disagree: say so, stay on the question.
                log.error("answer to %s refused: %s", item.link_id, exc)
                self.notify(self.t("q.refused"), severity="warning")
                return
        else:
            return
        if self.walk.finished:
            missing = [m for m in self.walk.missing if not self._for_the_call(m)]
            if missing:  # a required question was skipped by going back and forth
                self.notify(self.t("q.missing"))
                self.walk = self.walk.go_to(missing[0])
            else:
                await self._send()
                return
        await self._show_next()

    def _for_the_call(self, link_id: str) -> bool:
        item = next((i for i in self.walk.items if i.link_id == link_id), None)
        return item is not None and item.type in FOR_THE_CALL

    async def _show_next(self) -> None:
        await self.recompose()
        changed_under_the_finger(self.app)  # a new question under the same finger

    def _value(self, pressed: str, item: Item) -> Any:
        if pressed in ("answer-yes", "answer-no"):
            return pressed == "answer-yes"
        if pressed.startswith("option-"):
            return item.options[int(pressed.removeprefix("option-"))].value
        if pressed == "q-number-ok" and self.entry is not None:
            refusal = self._refusal(self.entry)
            if refusal:
                self._show_entry(self.entry, refusal)
                return _NOTHING
            typed = self.entry.value
            return _NOTHING if typed is None else keypad_answer(item, typed)
        if pressed in ("q-display-ok", "q-skip"):
            return None
        return _NOTHING

    async def _send(self) -> None:
        self.outcome = "sending"
        await self._show_next()
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
        await self._show_next()


_NOTHING = object()
