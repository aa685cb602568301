"""What home leads with (hub/ui/home.py): the next thing to do, how things stand, where
"Ring meg" stands; and the words the patient reads. Tables of cases over plain data."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import polib
import pytest

from hub.local_protocol import CallState
from hub.ui.home import GIVE_WAY, QUESTIONNAIRE, call_line, next_action, page_after, standing
from hub.ui.i18n import LANGUAGES, Catalogue
from hub.ui.today import TaskView
from tests.ui_support import status_of

NB = Catalogue("nb")
NOW = datetime(2026, 11, 22, 9, 30, tzinfo=UTC)  # 10.30 in Oslo
LATE = timedelta(hours=2)  # due since 08.30


def task(kind: str, state: str, ago: timedelta = timedelta(minutes=5)) -> TaskView:
    return TaskView(kind, state, f"{kind} {state}", NOW - ago)


@pytest.mark.parametrize(
    ("tasks", "has_questionnaire", "resumable", "expected"),
    [
        # The first measurement due, in the plan's order, before the questions.
        (
            [task("questionnaire", "due"), task("weight", "due"), task("spo2", "due")],
            True,
            False,
            ("weight", "Vei deg nå"),
        ),
        (
            [task("blood_pressure", "done"), task("spo2", "due")],
            True,
            False,
            ("spo2", "Mål oksygenmetningen nå"),
        ),
        # Nothing to measure: the questions; left earlier today: go on with them.
        (
            [task("weight", "done"), task("questionnaire", "due")],
            True,
            False,
            (QUESTIONNAIRE, "Svar på dagens spørsmål"),
        ),
        ([task("weight", "done")], True, True, (QUESTIONNAIRE, "Fortsett på dagens spørsmål")),
        ([task("weight", "later")], True, False, (QUESTIONNAIRE, "Svar på dagens spørsmål")),
        # Answered today, or no questionnaire: nothing to do.
        ([task("questionnaire", "done")], True, False, None),
        ([task("weight", "done")], False, False, None),
        ([], False, False, None),
        # A kind without words of its own still says "measure now".
        ([task("ecg", "due")], False, False, ("ecg", "Mål nå")),
        # Measurements due for half an hour without coming (a lost meter) give way to the
        # questions; one due for less still comes first; with the questions answered (or none)
        # the measurement is the next thing again.
        (
            [task("spo2", "due", LATE), task("questionnaire", "later")],
            True,
            False,
            (QUESTIONNAIRE, "Svar på dagens spørsmål"),
        ),
        (
            [task("spo2", "due", LATE), task("weight", "due")],
            True,
            False,
            ("spo2", "Mål oksygenmetningen nå"),
        ),
        ([task("spo2", "due", LATE)], True, True, (QUESTIONNAIRE, "Fortsett på dagens spørsmål")),
        (
            [task("spo2", "due", LATE), task("questionnaire", "done")],
            True,
            False,
            ("spo2", "Mål oksygenmetningen nå"),
        ),
        ([task("spo2", "due", LATE)], False, False, ("spo2", "Mål oksygenmetningen nå")),
        (
            [task("spo2", "due", GIVE_WAY - timedelta(seconds=1))],
            True,
            False,
            ("spo2", "Mål oksygenmetningen nå"),
        ),
        ([task("spo2", "due", GIVE_WAY)], True, False, (QUESTIONNAIRE, "Svar på dagens spørsmål")),
    ],
)
def test_next_action(
    tasks: list[TaskView], has_questionnaire: bool, resumable: bool, expected: Any
) -> None:
    action = next_action(tasks, has_questionnaire, resumable, NB, NOW)
    assert (None if action is None else (action.kind, action.label)) == expected


READING = {
    "kind": "weight",
    "values": {"weight": 80.0},
    "synced": True,
    "synced_at": "2026-11-22T09:20:00+00:00",
}


@pytest.mark.parametrize(
    ("fields", "daemon_ok", "text", "warning"),
    [
        ({}, False, "Målestasjonen svarer ikke. Målingene dine er trygge. Vi prøver igjen …", True),
        (None, None, "Kobler til målestasjonen …", False),
        ({"outbox_alarm": "near_full"}, True, "Målingene dine har ikke kommet fram", True),
        (
            {"readings": [{**READING, "synced": False, "synced_at": None}]},
            True,
            "Sender målingene",
            False,
        ),
        (
            {"pending": 2, "broker_connected": False, "readings": [READING]},
            True,
            "Målingene er trygt lagret her og sendes når nettet er tilbake.",
            False,
        ),
        ({"readings": [READING]}, True, "Alt er sendt til oppfølgingstjenesten kl. 10.20.", False),
        # Only the hub's own health report waits: nothing of hers does (issue 15).
        (
            {"pending": 1, "patient_pending": 0, "broker_connected": False, "readings": [READING]},
            True,
            "Alt er sendt til oppfølgingstjenesten kl. 10.20.",
            False,
        ),
        ({}, True, "Ingen målinger ennå", False),
    ],
)
def test_how_things_stand_is_the_sentence_that_matters_most(
    fields: dict[str, Any] | None, daemon_ok: bool | None, text: str, warning: bool
) -> None:
    status = None if fields is None else status_of(fields)
    said = standing(status, daemon_ok, NOW, NB)
    assert said.text.startswith(text) and said.warning is warning


def call(**fields: Any) -> CallState:
    return CallState(request_id="r-0000001", **fields)


@pytest.mark.parametrize(
    ("state", "phone", "text"),
    [
        (CallState(), None, ""),
        # Stored on the measuring station only: never "the nurse has been told".
        (
            call(state="asked", asked_at="2026-11-22T09:29:00.000+00:00"),
            None,
            "Du ba om å bli ringt kl. 10.29. Beskjeden sendes når målestasjonen får nett.",
        ),
        (
            call(state="asked", asked_at="2026-11-22T09:29:00.000+00:00"),
            "55\N{NO-BREAK SPACE}00",
            "Du ba om å bli ringt kl. 10.29. Beskjeden sendes når målestasjonen får nett. "
            "Haster det, ring 55\N{NO-BREAK SPACE}00.",
        ),
        (
            call(state="asked", asked_at="2026-11-22T09:29:00.000+00:00", delivered=True),
            None,
            "Du ba om å bli ringt kl. 10.29. Sykepleieren har fått beskjed.",
        ),
        # Asked more than 12 h ago and never answered: no longer said.
        (call(state="asked", asked_at="2026-11-21T20:00:00.000+00:00", delivered=True), None, ""),
        (
            call(
                state="acknowledged",
                asked_at="2026-11-22T09:00:00.000+00:00",
                acknowledged_at="2026-11-22T09:10:00.000+00:00",
                delivered=True,
            ),
            None,
            "Sykepleieren ringer deg snart.",
        ),
        # Answered more than 2 h ago: not news.
        (
            call(
                state="acknowledged",
                asked_at="2026-11-22T06:00:00.000+00:00",
                acknowledged_at="2026-11-22T07:00:00.000+00:00",
                delivered=True,
            ),
            None,
            "",
        ),
    ],
)
def test_where_ring_meg_stands(state: CallState, phone: str | None, text: str) -> None:
    assert call_line(state, NOW, NB, phone) == text


@pytest.mark.parametrize(
    ("phone", "text"),
    [
        (None, "Du ba om å bli ringt kl. 10.29. Beskjeden er på vei til sykepleieren."),
        (
            "55\N{NO-BREAK SPACE}00",
            "Du ba om å bli ringt kl. 10.29. Beskjeden er på vei til sykepleieren. "
            "Haster det, ring 55\N{NO-BREAK SPACE}00.",
        ),
    ],
)
def test_a_request_not_yet_delivered_while_online_is_on_its_way(
    phone: str | None, text: str
) -> None:
    """Online, "sent when the measuring station is online" would be untrue; still not "the
    nurse has been told" before the centre holds it."""
    asked = call(state="asked", asked_at="2026-11-22T09:29:00.000+00:00")
    assert call_line(asked, NOW, NB, phone, online=True) == text
    delivered = call(state="asked", asked_at="2026-11-22T09:29:00.000+00:00", delivered=True)
    assert call_line(delivered, NOW, NB, phone, online=True).endswith("har fått beskjed.")


@pytest.mark.parametrize(
    ("current", "by", "expected"),
    [
        ("today", 1, "bp"),
        ("bp", 1, "weight"),
        ("weight", 1, "weight"),
        ("today", -1, "today"),
        ("gone", 1, "today"),
        (None, 1, "today"),
    ],
)
def test_paging_stays_in_range(current: str | None, by: int, expected: str) -> None:
    assert page_after(["today", "bp", "weight"], current, by) == expected
    assert page_after([], current, by) is None


@pytest.mark.parametrize("language", LANGUAGES)
def test_the_patient_reads_maalestasjonen_never_hub(language: str) -> None:
    from importlib import resources

    path = resources.files("hub.ui").joinpath("locale", language, "LC_MESSAGES", "patient.po")
    entries = [e for e in polib.pofile(path.read_text("utf-8")) if e.msgstr]
    # Technician mode (tech.*, behind the PIN) speaks the technician's words: `hub pair`,
    # `hub set-technician-pin`, "the hub" as docs/operations.md says. The patient reads none.
    texts = [e.msgstr for e in entries if not e.msgid.startswith("tech.")]
    assert texts and len(texts) < len(entries)
    assert not [t for t in texts if "hub" in t.lower()], "a word a patient does not use"


def test_a_sent_reading_says_when_in_oslo_time() -> None:
    later = NOW + timedelta(hours=1)
    status = status_of({"readings": [READING]})
    assert (
        standing(status, True, later, NB).text == "Alt er sendt til oppfølgingstjenesten kl. 10.20."
    )
