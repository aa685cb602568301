"""A questionnaire the patient's screen cannot show whole is refused where it is read.

A long question text (or many, or long, answer options) pushed the answer buttons off the kiosk's
50x15 screen: the patient could only cancel, every day. hub.questionnaire.model's SCREEN_ limits
are what one question screen holds at 50x15 (the size that binds; 80x24 and 100x30 hold more):
here a table of the reader's refusals, and pilot tests that at exactly the limits every answer
button, the keypad, OK and 'skip' are whole on screen with their labels, and the whole question
text is drawn, in nb, nn and en at 50x15, 80x24 and 100x30. The texts are Norwegian-like words
up to 20 letters, the kind that wrap worst: raising a limit by one makes the pilot test fail.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from textual.app import App
from textual.geometry import Region
from textual.widgets import Button

from hub.core.care_plan import CarePlan
from hub.questionnaire import SHIPPED_LANGUAGES, load_shipped
from hub.questionnaire.model import (
    SCREEN_ANSWER_BUTTONS,
    SCREEN_LINE_CHARS,
    SCREEN_OPTION_CHARS,
    SCREEN_TEXT_CHARS,
    SCREEN_TEXT_CHARS_KEYPAD_SKIP,
    QuestionnaireError,
    parse_questionnaire,
)
from hub.ui.app import PatientScreenApp
from tests.ui_support import FakeDaemon, shown, tap, wait_until

SIZES = {"kiosk": (50, 15), "80x24": (80, 24), "touchscreen": (100, 30)}
# Words that wrap worst of those measured (the longest a Norwegian question has).
TEXT_WORDS = "oppfølgingstjenesten hjertesviktpoliklinikken "
LABEL_WORDS = "Har du brukt anfallsmedisinen oftere enn vanlig? "


def filled(length: int, words: str) -> str:
    """A text of exactly `length` characters, not ending in a space."""
    text = (words * (length // len(words) + 2))[:length]
    return text if not text.endswith(" ") else text[:-1] + "x"


def options(count: int, length: int = 10) -> list[dict[str, Any]]:
    return [
        {"valueCoding": {"code": f"c{n}", "display": filled(length, LABEL_WORDS)}}
        for n in range(count)
    ]


def questionnaire(*items: dict[str, Any]) -> dict[str, Any]:
    return {
        "resourceType": "Questionnaire",
        "url": "urn:example:fit",
        "status": "active",
        "item": [{"linkId": f"q{n}", **item} for n, item in enumerate(items)],
    }


def choice(text: str, count: int, required: bool = True, length: int = 10) -> dict[str, Any]:
    return {
        "type": "choice",
        "text": text,
        "required": required,
        "answerOption": options(count, length),
    }


def of_type(kind: str, text: str, required: bool = True) -> dict[str, Any]:
    return {"type": kind, "text": text, "required": required}


TEXT = filled(SCREEN_TEXT_CHARS, TEXT_WORDS)
OVER = filled(SCREEN_TEXT_CHARS + 1, TEXT_WORDS)
SKIP_TEXT = filled(SCREEN_TEXT_CHARS_KEYPAD_SKIP, TEXT_WORDS)
# Each line break counts as a line's SCREEN_LINE_CHARS: "Linje\n" as 5 + 48.
LINES = "Linje\n" * 2 + filled(SCREEN_TEXT_CHARS - 2 * (5 + SCREEN_LINE_CHARS), TEXT_WORDS)

# (what, the items, None if taken or the start of the refusal and a part of it)
CASES: list[tuple[str, dict[str, Any], tuple[str, str] | None]] = [
    ("choice text at the limit", choice(TEXT, SCREEN_ANSWER_BUTTONS), None),
    (
        "choice text one over",
        choice(OVER, 2),
        ("item[0] (q0) text is 141 characters long", "shows at most 140 above its answers"),
    ),
    ("boolean text at the limit", of_type("boolean", TEXT, False), None),
    ("boolean text one over", of_type("boolean", OVER), ("item[0] (q0) text is 141", "140")),
    ("integer text at the limit", of_type("integer", TEXT), None),
    ("integer text one over", of_type("integer", OVER), ("item[0] (q0) text is 141", "140")),
    ("display text at the limit", of_type("display", TEXT, False), None),
    ("display text one over", of_type("display", OVER, False), ("item[0] (q0) text", "140")),
    ("string text at the limit", of_type("string", TEXT, False), None),
    ("string text one over", of_type("string", OVER, False), ("item[0] (q0) text", "140")),
    ("the prefix counts", {**of_type("boolean", TEXT), "prefix": "1"}, ("item[0] (q0)", "142")),
    ("line breaks at the limit", of_type("boolean", LINES), None),
    (
        "a line break counts as a line",
        of_type("boolean", LINES + "x"),
        ("item[0] (q0) text is 141", "a line break counts as 48: it ends its line"),
    ),
    ("optional number at the limit", of_type("decimal", SKIP_TEXT, False), None),
    (
        "optional number one over",
        of_type("decimal", filled(SCREEN_TEXT_CHARS_KEYPAD_SKIP + 1, TEXT_WORDS), False),
        ("item[0] (q0) text is 49 characters", "optional number question"),
    ),
    ("required choice, buttons at the limit", choice("?", SCREEN_ANSWER_BUTTONS), None),
    (
        "required choice, one option over",
        choice("?", SCREEN_ANSWER_BUTTONS + 1),
        ("item[0] (q0): 7 answer options make 7 answer buttons", "room for 6. Give fewer"),
    ),
    ("optional choice, buttons at the limit", choice("?", SCREEN_ANSWER_BUTTONS - 1, False), None),
    (
        "optional choice, its skip button one over",
        choice("?", SCREEN_ANSWER_BUTTONS, False),
        ("item[0] (q0): 6 answer options and 'skip'", "or make the question required"),
    ),
    ("option label at the limit", choice("?", 2, length=SCREEN_OPTION_CHARS), None),
    (
        "option label one over",
        choice("?", 2, length=SCREEN_OPTION_CHARS + 1),
        ("item[0] (q0) answer option 1 is 35 characters", "shows at most 34"),
    ),
    (
        "the built-in value set's labels are the screen's own",
        {
            "type": "choice",
            "text": TEXT,
            "required": True,
            "answerValueSet": "http://hl7.org/fhir/ValueSet/yesnodontknow",
        },
        None,
    ),
]


@pytest.mark.parametrize("what,item,refused", CASES, ids=[c[0] for c in CASES])
def test_the_reader_takes_what_fits_and_refuses_one_over(
    what: str, item: dict[str, Any], refused: tuple[str, str] | None
) -> None:
    given = questionnaire(item)
    if refused is None:
        parse_questionnaire(given)
        return
    with pytest.raises(QuestionnaireError) as error:
        parse_questionnaire(given)
    said = str(error.value)
    assert said.startswith(refused[0]) and refused[1] in said, said


def test_a_nested_item_is_named_where_it_stands() -> None:
    given = questionnaire({"type": "group", "text": "Pusten", "item": [choice(OVER, 2)]})
    given["item"][0]["item"][0]["linkId"] = "inner"
    with pytest.raises(QuestionnaireError, match=r"^item\[0\]\.item\[0\] \(inner\) text is 141"):
        parse_questionnaire(given)


@pytest.mark.parametrize("language", SHIPPED_LANGUAGES)
@pytest.mark.parametrize("name", ["copd-daily", "heart-failure-daily"])
def test_every_shipped_questionnaire_fits(name: str, language: str) -> None:
    load_shipped(name, language)  # parsed with every check


def test_the_care_plan_editor_refuses_what_does_not_fit() -> None:
    from centre.care_plan_form import EditorInput, ScheduleRow, check_plan

    def upload(q: dict[str, Any]) -> object:
        return check_plan(
            EditorInput(
                schedule=(ScheduleRow("questionnaire", ("08:00",)),),
                uploaded_questionnaire=json.dumps(q),
            )
        )

    assert isinstance(upload(questionnaire(choice(TEXT, SCREEN_ANSWER_BUTTONS))), CarePlan)
    assert not isinstance(upload(questionnaire(choice(OVER, 2))), CarePlan)


# --- the screen at the limits ----------------------------------------------------------------

# Each kind of question at the limits, and the tap that answers it. The options' labels and
# the optional choice's buttons are at their limits together with the text.
AT_THE_LIMITS: list[tuple[dict[str, Any], tuple[str, ...]]] = [
    (choice(TEXT, SCREEN_ANSWER_BUTTONS, length=SCREEN_OPTION_CHARS), ("#option-0",)),
    (choice(TEXT, SCREEN_ANSWER_BUTTONS - 1, False, SCREEN_OPTION_CHARS), ("#q-skip",)),
    (of_type("boolean", TEXT, False), ("#answer-yes",)),
    (of_type("integer", TEXT), ("#key-1", "#q-number-ok")),
    (of_type("decimal", TEXT), ("#key-1", "#q-number-ok")),
    (of_type("integer", SKIP_TEXT, False), ("#q-skip",)),
    (of_type("display", TEXT, False), ("#q-display-ok",)),
    (of_type("string", TEXT, False), ("#q-display-ok",)),
]


def drawn(button: Button) -> str:
    """The words a button shows on screen, lines joined by a space."""
    region = button.region
    lines = button.render_lines(Region(0, 0, region.width, region.height))
    return " ".join(word for line in lines for word in line.text.split())


def cut_off(app: App[Any], size: tuple[int, int]) -> list[str]:
    """What of the question on screen is not whole: buttons (and labels), the text."""
    width, height = size
    screen, cut = app.screen, []
    for button in screen.query(Button):
        if not button.display or not button.visible or button.disabled:
            continue  # a disabled button here is drawn as nothing: 'back' on the first question
        where = screen.find_widget(button)
        whole = where.region.area > 0 and where.clip.contains_region(where.region)
        if not whole or where.region.bottom > height or where.region.right > width:
            cut.append(f"{button.id} at {where.region} is cut off by {where.clip}")
        elif drawn(button) != " ".join(str(button.label).split()):
            cut.append(f"{button.id} shows {drawn(button)!r} of {str(button.label)!r}")
    text = screen.query_one("#q-text")
    where = screen.find_widget(text)
    if (
        not where.clip.contains_region(where.region)
        or text.virtual_size.height > where.region.height
    ):
        cut.append(f"the question text at {where.region} is cut off by {where.clip}")
    return cut


@pytest.mark.parametrize("language", SHIPPED_LANGUAGES)
@pytest.mark.parametrize("size", SIZES)
async def test_at_the_limits_every_answer_is_whole_on_screen(
    daemon: FakeDaemon, sock_path: Any, size: str, language: str
) -> None:
    items = [item for item, _ in AT_THE_LIMITS]
    daemon.status["care_plan"] = {"questionnaire": questionnaire(*items)}
    await daemon.start()
    app = PatientScreenApp(sock_path, language, poll_interval=0.05)
    async with app.run_test(size=SIZES[size]) as pilot:
        await tap(pilot, "#next-action")
        for n, (item, taps) in enumerate(AT_THE_LIMITS):
            said, first = item["text"], taps[0]
            await wait_until(pilot, lambda s=said: s in shown(app, "#q-text"), f"q{n}")  # type: ignore[misc]
            await wait_until(pilot, lambda f=first: bool(shown(app, f)), first)  # type: ignore[misc]
            await pilot.pause(0.1)  # laid out
            assert cut_off(app, SIZES[size]) == [], (size, language, n, item["type"])
            for selector in taps:
                await tap(pilot, selector)
        await wait_until(pilot, lambda: bool(daemon.answers), "the answers sent")
