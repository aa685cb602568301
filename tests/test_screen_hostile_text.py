"""Text from data on the patient's screen is shown as written and is never a command.

A nurse's message and a questionnaire uploaded at the centre reach the patient's terminal. An ESC
in them was written to it as it was ("Hei!\\x1b[?1000l" turned off mouse reporting: the kiosk's
touchscreen went dead), and an option "Ja [/]" was Textual markup (the screen crashed building
the question), "Bedre [ikke verre]" showed as "Bedre ". Here: the hub and the centre refuse
control characters where such text comes in (hub/core/printable.py), the screen replaces any
left (hub.ui.widgets.Text, hub.ui.touch.TouchButton) and shows every text plainly
(hub/ui/plain.py), for the shipped questionnaires and hostile ones, down to the bytes written to
a real terminal.
"""

from __future__ import annotations

import dataclasses
import fcntl
import json
import os
import pty
import select
import struct
import subprocess
import sys
import tempfile
import termios
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from hub.core.care_plan import CarePlan, PatientMessage
from hub.core.printable import REPLACEMENT, first_control, printable, unprintable_in
from hub.questionnaire import SHIPPED, SHIPPED_LANGUAGES, load_shipped
from hub.questionnaire.model import Item, Questionnaire, QuestionnaireError, parse_questionnaire
from hub.ui.app import PatientScreenApp
from hub.ui.flow import Walk
from hub.ui.questionnaire_screen import FOR_THE_CALL, QuestionnaireScreen
from tests.ui_support import FakeDaemon, shown, tap, wait_until

SIZE = (100, 30)
ROOT = Path(__file__).resolve().parent.parent
ESC_MESSAGE = "Hei!\x1b[?1000l\x1b[?1006l\x1b]2;PWNED\x1b\\ Ring oss."
# Markup to Textual, words to the patient: each must show as written and answer as written.
HOSTILE_OPTIONS = [
    "Ja [/]",
    "Bedre [ikke verre]",
    "[@click=app.quit]Ja, mye bedre[/]",
    "[b]fet[/b] og [red]rød[/]",
    "\\[escaped\\]",
    "Lang tekst [med] mye tekst i seg",  # near the longest an answer button takes (34)
]


# --- printable: what the screen writes -------------------------------------------------------


@pytest.mark.parametrize(
    "given,shown_as,control",
    [
        ("Hei, Kari!", "Hei, Kari!", None),
        ("to\nlinjer", "to\nlinjer", None),
        ("to\r\nlinjer", "to\nlinjer", None),  # a browser's textarea
        ("tab\there", "tab here", None),
        ("Bedre [ikke verre]", "Bedre [ikke verre]", None),  # markup is not a control
        (
            "æøå ÆØÅ \N{EN DASH} «» \N{NO-BREAK SPACE}",
            "æøå ÆØÅ \N{EN DASH} «» \N{NO-BREAK SPACE}",
            None,
        ),
        ("Hei!\x1b[?1000l", f"Hei!{REPLACEMENT}[?1000l", (5, "U+001B")),
        ("\x1b]2;PWNED\x1b\\", f"{REPLACEMENT}]2;PWNED{REPLACEMENT}\\", (1, "U+001B")),
        ("a\rb", f"a{REPLACEMENT}b", (2, "U+000D")),  # CR alone returns the cursor
        ("a\x00b", f"a{REPLACEMENT}b", (2, "U+0000")),
        ("a\x07b", f"a{REPLACEMENT}b", (2, "U+0007")),
        ("a\x7fb", f"a{REPLACEMENT}b", (2, "U+007F")),
        ("a\x9b31mb", f"a{REPLACEMENT}31mb", (2, "U+009B")),  # C1 CSI
        ("a\x85b", f"a{REPLACEMENT}b", (2, "U+0085")),
        ("\x0b\x0c", REPLACEMENT * 2, (1, "U+000B")),
        ("x\r\n\x1b", f"x\n{REPLACEMENT}", (3, "U+001B")),  # counted after CR LF is a newline
    ],
)
def test_printable(given: str, shown_as: str, control: tuple[int, str] | None) -> None:
    assert printable(given) == shown_as
    assert first_control(given) == control
    assert first_control(printable(given)) is None


def test_a_refusal_names_the_character_and_where() -> None:
    assert unprintable_in("Hei!\x1b[") == "ESC (U+001B) at character 5"
    assert unprintable_in("ok\nok") is None


# --- the hub refuses where the text comes in -------------------------------------------------


@pytest.mark.parametrize("text", [ESC_MESSAGE, "a\x9bb", "a\rb", "a\x00b", "\x7f"])
def test_the_hub_refuses_a_message_with_a_control_character(text: str) -> None:
    with pytest.raises(ValidationError, match=r"control character, .* \(U\+00"):
        PatientMessage(text=text)


def test_the_hub_takes_lines_and_brackets_in_a_message() -> None:
    assert PatientMessage(text="Hei!\r\nRing oss [i dag].\tTakk").text == (
        "Hei!\nRing oss [i dag].\tTakk"
    )


def questionnaire(
    options: list[str], text: str = "Hvordan er pusten?", **extra: Any
) -> dict[str, Any]:
    return {
        "resourceType": "Questionnaire",
        "url": "urn:example:hostile-text",
        "status": "active",
        "item": [
            {
                "linkId": "q1",
                "type": "choice",
                "text": text,
                "required": True,
                "answerOption": [{"valueString": o} for o in options],
                **extra,
            },
            {"linkId": "end", "type": "display", "text": "Takk [for svaret]."},
        ],
    }


@pytest.mark.parametrize(
    "q,where",
    [
        (questionnaire(["Ja", "Nei\x1b[?1000l"]), "item[0] (q1) answer option 2"),
        (questionnaire(["Ja"], text="Pusten?\x1b]2;x\x07"), "item[0] (q1) text"),
        (questionnaire(["Ja"], prefix="1\x9b"), "item[0] (q1) text"),
        (
            questionnaire([], answerOption=[{"valueCoding": {"code": "y", "display": "J\x1ba"}}]),
            "item[0] (q1) answer option 1",
        ),
        ({**questionnaire(["Ja"]), "title": "Daglig\x00"}, "the title"),
    ],
)
def test_the_questionnaire_reader_refuses_control_characters(q: dict[str, Any], where: str) -> None:
    with pytest.raises(QuestionnaireError, match="control character") as refused:
        parse_questionnaire(q)
    assert str(refused.value).startswith(where), str(refused.value)
    assert "upload the questionnaire again" in str(refused.value)


def test_the_questionnaire_reader_takes_brackets() -> None:
    parsed = parse_questionnaire(questionnaire(HOSTILE_OPTIONS, text="Pusten [i dag]?"))
    assert [o.label for o in parsed.by_link_id["q1"].options] == HOSTILE_OPTIONS


def test_the_care_plan_editor_refuses_a_control_character_and_takes_brackets() -> None:
    from centre.care_plan_form import EditorInput, ScheduleRow, check_plan

    def upload(q: dict[str, Any]) -> object:
        return check_plan(
            EditorInput(
                schedule=(ScheduleRow("questionnaire", ("08:00",)),),
                uploaded_questionnaire=json.dumps(q),
            )
        )

    assert not isinstance(upload(questionnaire(["Ja", "Nei\x1b[?1000l"])), CarePlan)
    assert isinstance(upload(questionnaire(HOSTILE_OPTIONS)), CarePlan)


# --- the centre's message form ---------------------------------------------------------------


@pytest.mark.parametrize(
    "language,said",
    [
        ("en", "Character 5 of the message is a control character (U+001B)"),
        ("nb", "Tegn 5 i meldingen er et kontrolltegn (U+001B)"),
        ("nn", "Teikn 5 i meldinga er eit kontrollteikn (U+001B)"),
    ],
)
def test_the_message_form_refuses_escape_sequences(language: str, said: str) -> None:
    from django.utils import translation

    from centre.web.views.patient import MessageForm

    with translation.override(language):
        form = MessageForm({"text": ESC_MESSAGE})
        assert not form.is_valid()
        assert said in form.errors["text"][0], form.errors


def test_the_message_form_takes_lines_as_a_browser_sends_them() -> None:
    from centre.web.views.patient import MessageForm

    form = MessageForm({"text": "Hei!\r\nRing oss [i morgen].\r\n"})
    assert form.is_valid(), form.errors
    assert form.cleaned_data["text"] == "Hei!\nRing oss [i morgen]."
    PatientMessage(text=form.cleaned_data["text"])  # and the hub takes it


# --- the screen ------------------------------------------------------------------------------


def all_enabled(items: tuple[Item, ...]) -> tuple[Item, ...]:
    """Every item asked whatever the answers: each one is shown once by the walk."""
    return tuple(dataclasses.replace(i, enable_when=(), items=all_enabled(i.items)) for i in items)


def every_item(q: Questionnaire) -> Questionnaire:
    items = all_enabled(q.items)
    found: dict[str, Item] = {}

    def index(given: tuple[Item, ...]) -> None:
        for i in given:
            found[i.link_id] = i
            index(i.items)

    index(items)
    return dataclasses.replace(q, items=items, by_link_id=found)


def on_top(app: PatientScreenApp, screen: QuestionnaireScreen) -> Callable[[], bool]:
    return lambda: app.screen is screen


async def show_every_item(app: PatientScreenApp, pilot: Any, q: Questionnaire) -> int:
    """Each item of `q` on the questionnaire screen: its text and its options exactly as
    written. The number of items shown."""
    walk, count = Walk(every_item(q)), 0
    while (item := walk.current) is not None:
        screen = QuestionnaireScreen(walk, app.catalogue, app.socket_path)
        await app.push_screen(screen)
        await wait_until(pilot, on_top(app, screen), f"item {item.link_id}")
        said = f"{item.label}\n\n{app.catalogue.translate('q.for_the_call')}"
        expected = said if item.type in FOR_THE_CALL else item.label
        assert shown(app, "#q-text") == expected
        for n, option in enumerate(item.options if item.type == "choice" else ()):
            label = app.catalogue.translate(option.label_key) if option.label_key else option.label
            assert shown(app, f"#option-{n}") == label, (item.link_id, n)
        await app.pop_screen()
        walk, count = walk.step(1), count + 1
    return count


@pytest.mark.parametrize("language", SHIPPED_LANGUAGES)
async def test_every_shipped_questionnaire_shows_its_texts_as_written(
    daemon: FakeDaemon, sock_path: Any, language: str
) -> None:
    await daemon.start()
    app = PatientScreenApp(sock_path, language, poll_interval=0.05)
    async with app.run_test(size=SIZE) as pilot:
        for name in SHIPPED:
            q = load_shipped(name, language)
            assert await show_every_item(app, pilot, q) == len(
                [i for i in every_item(q).by_link_id.values() if i.type != "group"]
            )
        assert app.is_running


async def test_hostile_options_show_as_written_and_answer_as_written(
    daemon: FakeDaemon, sock_path: Any
) -> None:
    daemon.status["care_plan"] = {"questionnaire": questionnaire(HOSTILE_OPTIONS)}
    await daemon.start()
    app = PatientScreenApp(sock_path, "nb", poll_interval=0.05)
    async with app.run_test(size=SIZE) as pilot:
        await wait_until(
            pilot, lambda: shown(app, "#next-action") == "Svar på dagens spørsmål", "q"
        )
        await tap(pilot, "#next-action")
        await wait_until(pilot, lambda: bool(shown(app, "#option-0")), "the options")
        for n, option in enumerate(HOSTILE_OPTIONS):
            assert shown(app, f"#option-{n}") == option
        await tap(pilot, "#option-2")  # [@click=app.quit]: a tap answers, it quits nothing
        await wait_until(pilot, lambda: shown(app, "#q-text") == "Takk [for svaret].", "the end")
        assert app.is_running
        await tap(pilot, "#q-display-ok")
        await wait_until(pilot, lambda: bool(daemon.answers), "the answers sent")
    (answer,) = daemon.answers[0]["item"][0]["answer"]
    assert answer == {"valueString": HOSTILE_OPTIONS[2]}


async def test_a_huge_question_text_is_shown_whole(daemon: FakeDaemon, sock_path: Any) -> None:
    """The reader refuses it (it does not fit the screen: tests/test_questionnaire_fit.py); one
    made past the reader (an older hub's store) is still shown as written, markup and all."""
    big = "Hvordan er pusten [i dag]? [/] " + "Svar ærlig. " * 300
    with pytest.raises(QuestionnaireError, match="characters long"):
        parse_questionnaire(questionnaire(["Ja [/]", "Nei"], text=big))
    q = parse_questionnaire(questionnaire(["Ja [/]", "Nei"]))
    huge = dataclasses.replace(q.by_link_id["q1"], text=big)
    q = dataclasses.replace(q, items=(huge, *q.items[1:]), by_link_id={**q.by_link_id, "q1": huge})
    await daemon.start()
    app = PatientScreenApp(sock_path, "nb", poll_interval=0.05)
    async with app.run_test(size=SIZE) as pilot:
        await app.push_screen(QuestionnaireScreen(Walk(q), app.catalogue, sock_path))
        await wait_until(pilot, lambda: shown(app, "#q-text") == big, "the question")
        assert shown(app, "#option-0") == "Ja [/]"
        assert app.is_running


async def test_control_characters_past_every_check_are_not_written(
    daemon: FakeDaemon, sock_path: Any
) -> None:
    """A questionnaire made past the reader (a bug, an older hub's store): the screen still
    writes no control character, and the nurse's message with ESC shows without it."""
    q = parse_questionnaire(questionnaire(["Ja", "Nei"]))
    item = q.by_link_id["q1"]
    options = (dataclasses.replace(item.options[0], value="Ja\x1b[?1000l"), item.options[1])
    bad = dataclasses.replace(item, text="Pusten?\x1b]2;x\x07", options=options)
    q = dataclasses.replace(q, items=(bad,), by_link_id={"q1": bad})
    daemon.status["messages"] = [{"version": 1, "text": ESC_MESSAGE, "read_at": None}]
    await daemon.start()
    app = PatientScreenApp(sock_path, "nb", poll_interval=0.05)
    async with app.run_test(size=SIZE) as pilot:
        await wait_until(pilot, lambda: "Ring oss." in shown(app, "#notice-text"), "the message")
        assert shown(app, "#notice-text") == printable(ESC_MESSAGE)
        await app.push_screen(QuestionnaireScreen(Walk(q), app.catalogue, sock_path))
        await wait_until(pilot, lambda: bool(shown(app, "#option-0")), "the question")
        assert shown(app, "#q-text") == f"Pusten?{REPLACEMENT}]2;x{REPLACEMENT}"
        assert shown(app, "#option-0") == f"Ja{REPLACEMENT}[?1000l"


def test_a_questionnaire_with_a_control_character_is_not_asked() -> None:
    from hub.ui.flow import QuestionnaireError as FlowError
    from hub.ui.flow import questionnaire_for

    plan = {"questionnaire": questionnaire(["Ja", "Nei\x1b[?1000l"])}
    with pytest.raises(FlowError, match="answer option 2 holds a control character, ESC"):
        questionnaire_for(CarePlan.model_validate(plan), "nb")


# --- the bytes on a real terminal ------------------------------------------------------------

DAEMON = """
import asyncio, sys
from pathlib import Path
from tests.ui_support import FakeDaemon

async def main():
    fake = FakeDaemon(Path(sys.argv[1]))
    fake.status["messages"] = [{"version": 1, "text": sys.argv[2], "read_at": None}]
    await fake.start()
    await asyncio.sleep(3600)

asyncio.run(main())
"""
SCREEN = """
import sys
from pathlib import Path
from hub.ui.app import run

run(Path(sys.argv[1]), "nb")
"""


def read_until(fd: int, wanted: bytes, within_s: float) -> bytes:
    out, deadline = b"", time.monotonic() + within_s
    while wanted not in out and time.monotonic() < deadline:
        ready, _, _ = select.select([fd], [], [], 0.2)
        if ready:
            try:
                out += os.read(fd, 65536)
            except OSError:
                break
    return out


def test_a_message_with_escape_codes_writes_none_to_the_terminal() -> None:
    """The real screen in a pseudo-terminal: the message is drawn, its ESC sequences are not."""
    folder = Path(tempfile.mkdtemp(prefix="esc-", dir="/tmp"))
    sock = folder / "hub.sock"
    env = {**os.environ, "PYTHONPATH": str(ROOT), "TERM": "xterm-256color"}
    env.update(COLUMNS="100", LINES="30")
    fake = subprocess.Popen([sys.executable, "-c", DAEMON, str(sock), ESC_MESSAGE], env=env)
    screen: subprocess.Popen[bytes] | None = None
    main, side = pty.openpty()
    try:
        deadline = time.monotonic() + 30
        while not sock.exists() and time.monotonic() < deadline and fake.poll() is None:
            time.sleep(0.05)
        assert sock.exists(), "the stand-in daemon did not start"
        fcntl.ioctl(side, termios.TIOCSWINSZ, struct.pack("HHHH", 30, 100, 0, 0))
        screen = subprocess.Popen(
            [sys.executable, "-c", SCREEN, str(sock)],
            stdin=side,
            stdout=side,
            stderr=side,
            env=env,
            start_new_session=True,
        )
        out = read_until(main, b"Ring oss.", 60)
    finally:
        for process in (screen, fake):
            if process is not None:
                process.kill()
                process.wait()
        os.close(main)
        os.close(side)
    assert b"PWNED" in out and b"Ring oss." in out, f"the message was not drawn: {out[-400:]!r}"
    assert b"\x1b]2;PWNED" not in out, "the message set the terminal's title"
    assert b"Hei!\x1b[?1000l" not in out, "the message turned off the touchscreen's taps"
    assert "Hei!\N{REPLACEMENT CHARACTER}[?1000l".encode() in out
