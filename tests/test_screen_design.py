"""The patient screen's rules for eyes and fingers, checked on the drawn screens at the kiosk's
50x15 and at 80x24 and 100x30 (issue 14, docs/kiosk.md):

- no trap: a tap just after the screen changed is not taken (hub.ui.touch), and a button that
  closes a screen never sits where home has a button;
- meaning without colour and a contrast of at least 7:1 for every text;
- "Ring meg" asks first, reaches the daemon once, and the nurse's answer shows.
"""

from __future__ import annotations

import copy
from collections.abc import Awaitable, Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from textual.app import App
from textual.geometry import Region
from textual.pilot import Pilot
from textual.widget import Widget
from textual.widgets import Button, Digits, Static

from hub.core.screen_text import glued_lines
from hub.local_protocol import Refusal
from hub.ui.app import PatientScreenApp
from hub.ui.home import GIVE_WAY
from hub.ui.measuring_screen import MeasuringScreen
from hub.ui.touch import TAP_PAUSE_S, TapPause
from tests.test_questionnaire_screen import with_plan
from tests.test_snapshots import HOME_STATUS, NOW, SIZES, at, reading, session
from tests.ui_support import FakeDaemon, shown, tap, wait_until

NBSP = "\N{NO-BREAK SPACE}"  # a phone number is never broken across lines


def center(region: Region) -> tuple[int, int]:
    x, y = region.center
    return int(x), int(y)


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_a_tap_is_taken_only_once_the_pause_after_a_change_is_over() -> None:
    clock = FakeClock()
    pause = TapPause(clock)
    assert pause.taking_taps(), "a screen that has not changed takes taps"
    pause.screen_changed()
    for later, taken in (
        (0.0, False),
        (0.3, False),
        (TAP_PAUSE_S - 0.01, False),
        (TAP_PAUSE_S, True),
        (2.0, True),
    ):
        clock.now = 100.0 + later
        assert pause.taking_taps() is taken, later


async def test_a_double_tap_answers_one_question_not_two(
    daemon: FakeDaemon, sock_path: Path
) -> None:
    with_plan(daemon, "urn:dho:questionnaire:heart-failure-daily")
    await daemon.start()
    app = PatientScreenApp(sock_path, "en", poll_interval=0.05)
    async with app.run_test(size=SIZES["kiosk"]) as pilot:
        await tap(pilot, "#next-action")
        # A shaking finger: "No", and the same place again 0.25 s later, which on the next
        # question is one of its answers.
        await wait_until(pilot, lambda: "lying flat" in shown(app, "#q-text"), "question 1")
        await pilot.pause(0.1)
        clock = FakeClock()  # the pause counted on a clock of the test's: a busy machine is slow
        app.tap_pause = TapPause(clock)
        finger = center(app.screen.query_one("#answer-no").region)
        await tap(pilot, "#answer-no")
        assert "ankles" in shown(app, "#q-text")
        clock.now += 0.25
        under = app.screen.get_widget_at(*finger)[0]
        assert str(under.id).startswith("option-"), "the second tap lands on an answer"
        await pilot.click(offset=finger)
        await pilot.pause(0.1)
        walk = app.screen.walk  # type: ignore[attr-defined]
        assert "ankles" in shown(app, "#q-text"), "the second tap of a double tap is not taken"
        assert walk.number == 2 and "ankles" not in walk.answers
        # A tap after the pause is taken.
        clock.now += TAP_PAUSE_S
        await tap(pilot, f"#{under.id}")
        await wait_until(pilot, lambda: app.screen.walk.number == 3, "question 3")  # type: ignore[attr-defined]


async def test_a_double_tap_on_a_result_does_not_open_anything_on_home(
    daemon: FakeDaemon, sock_path: Path
) -> None:
    """The layout holds this by itself (home has no button where OK was); that the tap pause
    holds a second tap is test_a_double_tap_answers_one_question_not_two."""
    await to_home(daemon)
    app = PatientScreenApp(sock_path, "nb", poll_interval=0.05, clock=lambda: NOW)
    async with app.run_test(size=SIZES["kiosk"]) as pilot:
        await wait_until(pilot, lambda: bool(shown(app, "#next-action")), "home")
        await daemon.set_live([session(results=(RESULT,))])
        await wait_until(pilot, lambda: bool(shown(app, "#m-done")), "the result")
        await pilot.pause(0.1)
        finger = center(app.screen.query_one("#m-done").region)
        await tap(pilot, "#m-done")
        # The second tap of the finger, just after home came back, at the same place.
        await wait_until(pilot, lambda: not isinstance(app.screen, MeasuringScreen), "home")
        await pilot.click(offset=finger)
        await pilot.pause(TAP_PAUSE_S)
        assert len(app.screen_stack) == 1, "nothing opened"


RESULT = reading(
    "blood_pressure",
    {"systolic": 171.0, "diastolic": 96.0, "unit": "mmHg", "pulse_rate": 81.0},
    0.5,
    outcome="flagged",
    problems=["systolic_above_care_plan"],
)


async def to_home(daemon: FakeDaemon) -> None:
    """A daemon with the snapshots' home, its message already read."""
    daemon.status = copy.deepcopy(HOME_STATUS)
    daemon.status["messages"][0]["read_at"] = at(30)
    await daemon.start()


def home_buttons(app: App[Any]) -> dict[str, Region]:
    home = app.screen_stack[0]
    return {
        str(b.id): b.region
        for b in home.query(Button)
        if b.display and b.visible and b.region.area > 0
    }


Opening = Callable[[Pilot[None], FakeDaemon], Awaitable[None]]


async def open_measuring(pilot: Pilot[None], daemon: FakeDaemon) -> None:
    await daemon.set_live([session(results=(RESULT,))])
    app = pilot.app
    await wait_until(  # the result shown and laid out: on a loaded machine that takes a while
        pilot,
        lambda: (
            isinstance(app.screen, MeasuringScreen)
            and bool(shown(app, "#m-done"))
            and app.screen.query_one("#m-done").region.area > 0
        ),
        "the result",
    )


async def open_howto(pilot: Pilot[None], daemon: FakeDaemon) -> None:
    await tap(pilot, "#next-action")


async def open_call(pilot: Pilot[None], daemon: FakeDaemon) -> None:
    await tap(pilot, "#call-me")


async def open_stop(pilot: Pilot[None], daemon: FakeDaemon) -> None:
    daemon.status["care_plan"]["schedule"] = []  # nothing to measure: the questionnaire leads
    await wait_until(pilot, lambda: "spørsmål" in shown(pilot.app, "#next-action"), "the button")
    await tap(pilot, "#next-action")
    await tap(pilot, "#q-cancel")


async def open_thanks(pilot: Pilot[None], daemon: FakeDaemon) -> None:
    daemon.status["care_plan"]["schedule"] = []
    await wait_until(pilot, lambda: "spørsmål" in shown(pilot.app, "#next-action"), "the button")
    await tap(pilot, "#next-action")
    await tap(pilot, "#option-1", "pusten")
    while not shown(pilot.app, "#q-done"):
        for choice in ("#answer-no", "#q-display-ok", "#q-skip"):
            if shown(pilot.app, choice):
                await tap(pilot, choice)
                break
        else:
            await pilot.pause(0.05)


# Each screen that goes back to home, and the buttons that take it there.
CLOSING: dict[str, tuple[Opening, tuple[str, ...]]] = {
    "measuring": (open_measuring, ("#m-done",)),
    "howto": (open_howto, ("#howto-back",)),
    "call": (open_call, ("#call-no", "#call-yes")),
    "stop": (open_stop, ("#stop-yes",)),
    "thanks": (open_thanks, ("#q-done",)),
}


@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("screen", CLOSING)
async def test_a_closing_button_never_sits_on_a_button_of_home(
    daemon: FakeDaemon, sock_path: Path, size: str, screen: str
) -> None:
    opening, closing = CLOSING[screen]
    await to_home(daemon)
    app = PatientScreenApp(sock_path, "nb", poll_interval=0.05, clock=lambda: NOW)
    async with app.run_test(size=SIZES[size]) as pilot:
        await wait_until(pilot, lambda: bool(shown(app, "#next-action")), "home")
        await pilot.pause(0.1)
        home = home_buttons(app)
        assert {"next-action", "call-me", "lang-toggle", "page-next"} <= set(home)
        await opening(pilot, daemon)
        for selector in closing:
            await wait_until(pilot, lambda s=selector: bool(shown(app, s)), selector)  # type: ignore[misc]
            await pilot.pause(0.1)
            region = app.screen.query_one(selector).region
            for name, under in home.items():
                assert not region.overlaps(under), f"{selector} at {region} lies on home's #{name}"


KINDS = ("weight", "blood_pressure", "spo2", "temperature", "glucose", "body_composition")


def crowd(status: dict[str, Any], due: int) -> None:
    """Home with `due` kinds due, readings waiting for the net, a call request not yet
    delivered (three lines of words in some languages)."""
    kinds = KINDS[:due]
    status["care_plan"]["schedule"] = [{"kind": k, "times": ["10:15"]} for k in kinds] + [
        {"kind": "questionnaire", "times": ["09:00"]}
    ]
    status["readings"] = [{**r, "synced": False, "synced_at": None} for r in status["readings"]]
    status["pending"], status["broker_connected"] = 3, False
    status["call_request"] = {
        "state": "asked",
        "request_id": "r1234567",
        "asked_at": at(5),
        "delivered": False,
    }


@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("language", ["nb", "nn", "en"])
@pytest.mark.parametrize("due", [1, 2, 3, 6])
async def test_a_crowded_home_keeps_the_closing_band_free(
    daemon: FakeDaemon, sock_path: Path, size: str, language: str, due: int
) -> None:
    """However many words home has, its buttons are the next action at the top and the footer
    at the bottom: the closing band (where every closing button sits) never holds one."""
    await to_home(daemon)
    crowd(daemon.status, due)
    app = PatientScreenApp(sock_path, language, poll_interval=0.05, clock=lambda: NOW)
    async with app.run_test(size=SIZES[size]) as pilot:
        await wait_until(pilot, lambda: bool(shown(app, "#call-state")), "home, crowded")
        await pilot.pause(0.1)
        home = home_buttons(app)
        height = SIZES[size][1]
        band = 2 if height < 20 else 3  # the closing and bottom bands' rows (patient.tcss)
        closing = Region(0, height - 2 * band, SIZES[size][0], band)
        assert {"next-action", "call-me", "lang-toggle"} <= set(home)
        for name, region in home.items():
            assert not region.overlaps(closing), f"home's #{name} at {region} is in the band"


@pytest.mark.parametrize(
    ("text", "width", "lines"),
    [
        ("ring 55\u00a000\u00a000\u00a000.", 12, ["ring", "55\u00a000\u00a000\u00a000."]),
        ("a b\n\nc", 10, ["a b", "", "c"]),
        ("", 5, [""]),
        ("abcdefghij", 4, ["abcd", "efgh", "ij"]),  # a word longer than the line is cut
    ],
)
def test_lines_break_at_ordinary_spaces_only(text: str, width: int, lines: list[str]) -> None:
    assert glued_lines(text, width).split("\n") == lines


@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("language", ["nb", "nn", "en"])
async def test_a_phone_number_is_never_broken_across_lines(
    daemon: FakeDaemon, sock_path: Path, size: str, language: str
) -> None:
    """A number split as "55" and "00 00 00" is dialled wrong: the drawn lines hold it whole."""
    await to_home(daemon)
    crowd(daemon.status, 1)
    app = PatientScreenApp(sock_path, language, poll_interval=0.05, clock=lambda: NOW)
    async with app.run_test(size=SIZES[size]) as pilot:
        await wait_until(pilot, lambda: bool(shown(app, "#call-state")), "the call line")
        await pilot.pause(0.1)
        widget = app.screen.query_one("#call-state", Widget)
        drawn = [widget.render_line(y).text for y in range(widget.size.height)]
        assert any("55 00 00 00" in line.replace("\u00a0", " ") for line in drawn), drawn


def luminance(red: int, green: int, blue: int) -> float:
    """WCAG 2 relative luminance of an sRGB colour."""

    def channel(value: int) -> float:
        c = value / 255
        return c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4

    return 0.2126 * channel(red) + 0.7152 * channel(green) + 0.0722 * channel(blue)


def contrast(fg: tuple[int, int, int], bg: tuple[int, int, int]) -> float:
    light, dark = sorted((luminance(*fg), luminance(*bg)), reverse=True)
    return (light + 0.05) / (dark + 0.05)


def test_the_contrast_measure_is_wcags() -> None:
    assert contrast((255, 255, 255), (0, 0, 0)) == pytest.approx(21.0)
    assert contrast((0, 0, 0), (0, 0, 0)) == pytest.approx(1.0)
    assert contrast((0x76, 0x76, 0x76), (255, 255, 255)) == pytest.approx(4.54, abs=0.01)


def texts_drawn(app: App[Any]) -> list[Widget]:
    """The texts, digits and buttons on screen now, drawn and not empty."""
    found: list[Widget] = []
    for widget in app.screen.query("*"):
        if not isinstance(widget, Static | Button | Digits) or widget.region.area == 0:
            continue
        if widget.visible and (shown(app, f"#{widget.id}") if widget.id else True):
            found.append(widget)
    return found


SCREENS_TO_READ: dict[str, Opening] = {
    "home": lambda pilot, daemon: pilot.pause(0),
    "measuring": open_measuring,
    "howto": open_howto,
    "call": open_call,
}


@pytest.mark.parametrize("screen", SCREENS_TO_READ)
async def test_every_text_has_a_contrast_of_at_least_seven(
    daemon: FakeDaemon, sock_path: Path, screen: str
) -> None:
    await to_home(daemon)
    app = PatientScreenApp(sock_path, "nb", poll_interval=0.05, clock=lambda: NOW)
    async with app.run_test(size=SIZES["kiosk"]) as pilot:
        await wait_until(pilot, lambda: bool(shown(app, "#next-action")), "home")
        await SCREENS_TO_READ[screen](pilot, daemon)
        await pilot.pause(0.5)
        checked = 0
        for widget in texts_drawn(app):
            _, _, background, color = widget.colors
            bg = background.rgb
            fg = (background + color).rgb  # a colour with alpha, as drawn on its background
            ratio = contrast(fg, bg)
            assert ratio >= 7, f"#{widget.id} {fg} on {bg}: {ratio:.1f}:1"
            checked += 1
        assert checked >= 3, "the screen shows texts to check"


@pytest.mark.parametrize("readings", [0, 3])
async def test_a_pager_with_nowhere_to_go_is_hidden_and_ring_meg_never_moves(
    daemon: FakeDaemon, sock_path: Path, readings: int
) -> None:
    """◀ on the first page and ▶ on the last are not drawn and take no tap; their places are
    kept, so "Ring meg" is in the same place with one page or many."""
    await to_home(daemon)
    daemon.status["readings"] = daemon.status["readings"][:readings]
    app = PatientScreenApp(sock_path, "nb", poll_interval=0.05, clock=lambda: NOW)
    async with app.run_test(size=SIZES["kiosk"]) as pilot:
        await wait_until(pilot, lambda: bool(shown(app, "#next-action")), "home")
        await pilot.pause(0.1)
        assert app.screen.query_one("#call-me").region == Region(16, 13, 22, 2)
        for _ in range(readings + 1):
            prev, nxt = (app.screen.query_one(s, Button) for s in ("#page-prev", "#page-next"))
            first, last = app._page == app._pages[0], app._page == app._pages[-1]
            assert prev.visible is not first and prev.disabled is first
            assert nxt.visible is not last and nxt.disabled is last
            if last:
                break
            page = app._page
            await tap(pilot, "#page-next")
            await wait_until(pilot, lambda p=page: app._page != p, "the next page")  # type: ignore[misc]
        assert app._page == app._pages[-1], "every page reached"
        assert app.screen.query_one("#call-me").region == Region(16, 13, 22, 2)


async def test_home_changing_under_a_message_does_not_hold_back_its_tap(
    daemon: FakeDaemon, sock_path: Path
) -> None:
    """The next action changing on home, hidden under the nurse's message, is no change under
    the patient's finger: her tap on "Jeg har lest meldingen" is taken (it was ignored)."""
    daemon.status = copy.deepcopy(HOME_STATUS)
    await daemon.start()
    app = PatientScreenApp(sock_path, "nb", poll_interval=0.05, clock=lambda: NOW)
    async with app.run_test(size=SIZES["kiosk"]) as pilot:
        await wait_until(pilot, lambda: bool(shown(app, "#message-read")), "the message")
        await pilot.pause(TAP_PAUSE_S)
        before = app._next
        daemon.status["care_plan"]["schedule"] = []  # nothing to measure: the questions lead
        await wait_until(pilot, lambda: app._next != before, "home's next action changed")
        assert app.tap_pause.taking_taps()
        await tap(pilot, "#message-read")
        await wait_until(pilot, lambda: daemon.status["messages"][0]["read_at"], "read")


async def test_a_value_beyond_the_limits_is_said_in_words_not_only_in_colour(
    daemon: FakeDaemon, sock_path: Path
) -> None:
    await to_home(daemon)
    app = PatientScreenApp(sock_path, "nb", poll_interval=0.05, clock=lambda: NOW)
    async with app.run_test(size=SIZES["kiosk"]) as pilot:
        while not shown(app, "#bp-value"):
            await tap(pilot, "#page-next")
        assert shown(app, "#bp-flag") == "\N{BLACK UP-POINTING TRIANGLE} Over grensen"
        assert "høyere enn grensen" in shown(app, "#bp-note")


async def test_ring_meg_asks_first_then_reaches_the_daemon_once_and_the_answer_shows(
    daemon: FakeDaemon, sock_path: Path
) -> None:
    await to_home(daemon)
    daemon.clock = lambda: NOW - timedelta(minutes=1)
    app = PatientScreenApp(sock_path, "nb", poll_interval=0.05, clock=lambda: NOW)
    async with app.run_test(size=SIZES["kiosk"]) as pilot:
        await wait_until(pilot, lambda: bool(shown(app, "#next-action")), "home")
        await tap(pilot, "#call-me")
        assert shown(app, "#notice-text") == "Vil du at sykepleieren skal ringe deg?"
        await tap(pilot, "#call-no")
        await wait_until(pilot, lambda: len(app.screen_stack) == 1, "home")
        assert daemon.call_requests == [], "no is no"
        await tap(pilot, "#call-me")
        await tap(pilot, "#call-yes")
        await wait_until(
            pilot,
            lambda: shown(app, "#call-state").startswith("Du ba om å bli ringt kl. 10.29"),
            "the request noted on home",
        )
        assert len(daemon.call_requests) == 1
        # The nurse answers at the centre; the daemon's status says so.
        daemon.status["call_request"] = {
            **daemon.status["call_request"],
            "state": "acknowledged",
            "acknowledged_at": NOW.isoformat(),
        }
        await wait_until(
            pilot, lambda: shown(app, "#notice-text") == "Sykepleieren ringer deg snart.", "answer"
        )
        await tap(pilot, "#call-answer-ok")
        await wait_until(
            pilot, lambda: shown(app, "#call-state") == "Sykepleieren ringer deg snart.", "home"
        )
        await pilot.pause(0.3)
        assert len(app.screen_stack) == 1, "the answer is put on screen once"


async def test_a_call_request_the_daemon_cannot_take_says_so_with_the_number(
    daemon: FakeDaemon, sock_path: Path
) -> None:
    await to_home(daemon)
    daemon.call_reply = Refusal(error="the disk is full")
    app = PatientScreenApp(sock_path, "nb", poll_interval=0.05, clock=lambda: NOW)
    async with app.run_test(size=SIZES["kiosk"]) as pilot:
        await wait_until(pilot, lambda: bool(shown(app, "#next-action")), "home")
        await tap(pilot, "#call-me")
        await tap(pilot, "#call-yes")
        await wait_until(
            pilot,
            lambda: "55 00 00 00".replace(" ", NBSP) in shown(app, "#notice-text"),
            "the failure, with whom to call",
        )
        assert "kunne ikke sendes" in shown(app, "#notice-text")
        assert shown(app, "#call-state") == ""


@pytest.mark.parametrize(
    "asked_at", ["9999-12-31T23:59:59-14:00", "0001-01-01T00:00:00+14:00", "not a time", ""]
)
def test_a_call_time_past_the_calendar_says_nothing_rather_than_crash(asked_at: str) -> None:
    from hub.local_protocol import CallState
    from hub.ui.home import call_line
    from hub.ui.i18n import Catalogue

    call = CallState.model_construct(state="asked", request_id="r" * 8, asked_at=asked_at)
    assert call_line(call, NOW, Catalogue("nb")) == ""


async def test_a_measurement_that_does_not_come_gives_way_to_the_questions(
    daemon: FakeDaemon, sock_path: Path
) -> None:
    """A lost or broken meter must not keep the patient from the day's questions: half an hour
    after the measurement fell due (hub/ui/home.py GIVE_WAY) the questions are the next thing,
    with the measurement still on today's list."""
    await to_home(daemon)
    clock = [NOW]
    app = PatientScreenApp(sock_path, "nb", poll_interval=0.05, clock=lambda: clock[0])
    async with app.run_test(size=SIZES["kiosk"]) as pilot:
        await wait_until(
            pilot, lambda: shown(app, "#next-action") == "Mål oksygenmetningen nå", "home"
        )
        clock[0] = NOW + GIVE_WAY
        await wait_until(
            pilot, lambda: shown(app, "#next-action") == "Svar på dagens spørsmål", "the questions"
        )
        assert shown(app, "#tasks-due").startswith("Nå: Mål oksygenmetningen")
        await tap(pilot, "#next-action")
        await wait_until(pilot, lambda: "Hvordan er pusten" in shown(app, "#q-text"), "question 1")
        assert app.screen.query_one("#q-back").disabled, "nothing to go back to"
