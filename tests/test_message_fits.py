"""A message from the nurse is read whole on the patient's screen: the centre refuses one that
takes more rows than her message screen shows at 50x15 (the web's form and `centre
send-message`), by the rule the screen draws it with (hub/core/screen_text.py), and the longest
it lets through is drawn whole on the kiosk's screen."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
from django.utils import translation
from textual.widget import Widget

from centre.cli import main
from hub.core.screen_text import MESSAGE_ROWS, SCREEN_COLUMNS, message_rows
from hub.ui.app import PatientScreenApp
from tests.test_snapshots import HOME_STATUS, NOW
from tests.ui_support import FakeDaemon, shown, wait_until


def rows_of(word: str, rows: int) -> str:
    """A message of `word`s filling exactly `rows` rows of the kiosk's screen."""
    line = " ".join([word] * max(1, (SCREEN_COLUMNS + 1) // (len(word) + 1)))
    return "\n".join([line] * rows)


LONGEST = {
    "long words": rows_of("oppfølgingstjenesten", MESSAGE_ROWS),
    "short words": rows_of("å", MESSAGE_ROWS),
    "one paragraph": " ".join(["blodtrykket"] * 200)[: SCREEN_COLUMNS * MESSAGE_ROWS - 60],
    "blank lines": "Hei!\n\n" + rows_of("husk", MESSAGE_ROWS - 2),
}


def test_the_cases_are_the_longest_the_centre_lets_through() -> None:
    for name, text in LONGEST.items():
        assert message_rows(text) <= MESSAGE_ROWS, name
        assert message_rows(text + "\nmer") > MESSAGE_ROWS or name == "one paragraph", name
    assert message_rows(LONGEST["long words"]) == MESSAGE_ROWS


@pytest.mark.parametrize("case", LONGEST)
@pytest.mark.parametrize("language", ["nb", "en"])
async def test_the_longest_message_is_drawn_whole_at_50x15(
    daemon: FakeDaemon, sock_path: Path, case: str, language: str
) -> None:
    daemon.status = copy.deepcopy(HOME_STATUS)
    daemon.status["messages"][0]["text"] = LONGEST[case]
    await daemon.start()
    app = PatientScreenApp(sock_path, language, poll_interval=0.05, clock=lambda: NOW)
    async with app.run_test(size=(50, 15)) as pilot:
        await wait_until(pilot, lambda: bool(shown(app, "#notice-text")), "the message")
        await pilot.pause(0.1)
        text = app.screen.query_one("#notice-text", Widget)
        body = app.screen.query_one(".n-body", Widget).region
        button = app.screen.query_one("#message-read", Widget).region
        drawn = [text.render_line(y).text.rstrip() for y in range(text.size.height)]
        assert text.region.bottom <= body.bottom <= button.y, (text.region, body, button)
        assert text.size.height == text.virtual_size.height, "every row of it shown"
        assert drawn[-1].endswith(LONGEST[case].split()[-1]), drawn


@pytest.mark.parametrize(
    ("language", "said"),
    [
        ("en", "The message takes 11 lines on the patient's screen, which shows 10 whole"),
        ("nb", "Meldingen tar 11 linjer på pasientens skjerm, som viser 10 hele"),
        ("nn", "Meldinga tek 11 linjer på skjermen til pasienten, som viser 10 heile"),
    ],
)
def test_the_message_form_refuses_a_message_longer_than_her_screen(
    language: str, said: str
) -> None:
    from centre.web.views.patient import MessageForm

    too_long = LONGEST["long words"] + "\nmer"
    with translation.override(language):
        form = MessageForm({"text": too_long})
        assert not form.is_valid()
        assert said in form.errors["text"][0], form.errors
        assert MessageForm({"text": LONGEST["long words"]}).is_valid()


def test_centre_send_message_refuses_it_before_anything_is_sent(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    too_long = LONGEST["long words"] + "\nmer"
    config = tmp_path / "absent.toml"  # refused before the config is read: nothing is sent
    assert main(["--config", str(config), "send-message", "hub-0001", too_long]) == 2
    assert "takes 11 lines on the patient's screen" in capsys.readouterr().err
