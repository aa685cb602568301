"""The patient's screen: pure presentation rules, then the Textual app against a real socket."""

from __future__ import annotations

import string
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError
from textual.widgets import Button

from hub.local_protocol import HistoryEntry, StatusReading
from hub.ui import i18n
from hub.ui.app import PatientScreenApp, run
from hub.ui.i18n import Catalogue, load_messages, other_language, translate
from hub.ui.present import (
    FAILED_VALUES,
    OSLO,
    format_clock,
    format_when,
    is_failed,
    measured_at,
    present_reading,
    present_status,
    slug_for,
)
from tests.ui_support import FakeDaemon, reading_of, shown, status_of, tap, wait_until

NB = Catalogue("nb")
EN = Catalogue("en")
# 2026-11-22 is winter time in Oslo (UTC+1).
NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
# The en dash is the typography we want on screen.
WAITING_NB = "Venter på nett – målingen er trygt lagret"  # noqa: RUF001
STORED_NB = "Lagret – sendes til oppfølgingstjenesten nå"  # noqa: RUF001
WAITING_EN = "Waiting for the network – the measurement is safely stored"  # noqa: RUF001


NBSP = "\N{NO-BREAK SPACE}"  # a phone number is never broken across lines


def bp_reading(**changes: Any) -> dict[str, Any]:
    """A blood pressure reading as the daemon sends it; `changes` override fields or values."""
    reading: dict[str, Any] = {
        "kind": "blood_pressure",
        "seq": 12,
        "device_time": None,
        "received_at": "2026-11-22T10:40:03+00:00",
        "values": {
            "type": "blood_pressure_measurement",
            "systolic": 128.0,
            "diastolic": 82.0,
            "mean_arterial_pressure": 97.0,
            "unit": "mmHg",
            "pulse_rate": 70.0,
            "measurement_status": None,
            "timestamp": None,
            "user_id": 1,
        },
        "synced": False,
        "synced_at": None,
    }
    for key, value in changes.items():
        if key in reading["values"]:
            reading["values"][key] = value
        else:
            reading[key] = value
    return reading


def bp(**changes: Any) -> StatusReading:
    """`bp_reading` as the screen reads it."""
    return reading_of(bp_reading(**changes))


# --- catalogues ---------------------------------------------------------------------------------


def placeholders(template: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(template) if name}


@pytest.mark.parametrize("language", ["nn", "en"])
def test_catalogues_have_the_same_keys(language: str) -> None:
    assert set(load_messages(language)) == set(load_messages("nb"))


@pytest.mark.parametrize("language", ["nn", "en"])
def test_catalogues_use_the_same_placeholders(language: str) -> None:
    nb, other = load_messages("nb"), load_messages(language)
    for key in nb:
        assert placeholders(nb[key]) == placeholders(other[key]), key


def test_nynorsk_is_its_own_language() -> None:
    nn = Catalogue("nn")
    assert nn.translate("app.title") == "Målingane mine"
    assert nn.translate("next.weight") == "Veg deg no"
    assert nn.translate("sync.waiting") != Catalogue("nb").translate("sync.waiting")


def test_missing_key_in_english_falls_back_to_bokmaal(monkeypatch: pytest.MonkeyPatch) -> None:
    real = load_messages
    fake = {"nb": real("nb"), "en": {k: v for k, v in real("en").items() if k != "readings.none"}}
    monkeypatch.setattr(i18n, "load_messages", fake.__getitem__)
    cat = Catalogue("en")
    assert cat.translate("readings.none") == "Ingen målinger ennå"
    assert cat.translate("app.title") == "My measurements"


def test_unknown_key_shows_the_key_instead_of_crashing() -> None:
    assert NB.translate("no.such.key") == "no.such.key"


def test_unknown_language_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown language"):
        Catalogue("de")


def test_translate_and_language_toggle() -> None:
    assert translate("readings.none") == "Ingen målinger ennå"
    assert translate("measured", language="en", when="at 10:40") == "Measured at 10:40"
    assert other_language("nb") == "nn"
    assert other_language("nn") == "en"
    assert other_language("en") == "nb"


# --- failed values ------------------------------------------------------------------------------


@pytest.mark.parametrize("value", [*sorted(FAILED_VALUES), float("nan"), float("inf"), "junk"])
def test_special_values_are_failed(value: object) -> None:
    assert is_failed(value)


@pytest.mark.parametrize("value", [None, 0, 70, 128.0])
def test_numbers_and_absence_are_not_failed(value: object) -> None:
    assert not is_failed(value)


def test_a_bool_is_not_a_measurement() -> None:
    assert is_failed(True)


# --- blood pressure -----------------------------------------------------------------------------


def test_blood_pressure_in_norwegian() -> None:
    view = present_reading(bp(), NOW, NB)
    assert (view.slug, view.title, view.value, view.unit) == ("bp", "Blodtrykk", "128/82", "mmHg")
    assert (view.pulse_label, view.pulse, view.pulse_note) == ("Puls", "70", "")
    assert view.note == ""
    assert view.measured == "Målt kl. 11.40"  # 10:40 UTC is 11.40 in Oslo in November
    assert view.sync == WAITING_NB
    assert not view.synced


def test_blood_pressure_in_english() -> None:
    view = present_reading(bp(), NOW, EN)
    assert (view.title, view.value, view.pulse_label) == ("Blood pressure", "128/82", "Pulse")
    assert view.measured == "Measured at 11:40"
    assert view.sync == WAITING_EN


def test_synced_reading_says_when_it_was_sent() -> None:
    reading = bp(synced=True, synced_at="2026-11-22T10:42:05+00:00")
    assert present_reading(reading, NOW, NB).sync == "Sendt til oppfølgingstjenesten kl. 11.42"
    assert present_reading(reading, NOW, EN).sync == "Sent to the follow-up service at 11:42"
    assert present_reading(reading, NOW, NB).synced


def test_synced_without_time_still_says_sent() -> None:
    view = present_reading(bp(synced=True, synced_at=None), NOW, NB)
    assert view.sync == "Sendt til oppfølgingstjenesten"


@pytest.mark.parametrize("field", ["systolic", "diastolic"])
@pytest.mark.parametrize("special", sorted(FAILED_VALUES))
def test_failed_pressure_is_never_shown_as_a_number(field: str, special: str) -> None:
    view = present_reading(bp(**{field: special}), NOW, NB)
    assert view.failed
    assert view.value is None
    assert view.note == "Målingen mislyktes. Prøv å måle på nytt."
    assert special not in repr(view)


@pytest.mark.parametrize("special", sorted(FAILED_VALUES))
def test_failed_pulse_is_said_in_words(special: str) -> None:
    view = present_reading(bp(pulse_rate=special), NOW, EN)
    assert view.value == "128/82"
    assert view.pulse is None
    assert view.pulse_note == "The pulse could not be measured"


def test_absent_pulse_is_simply_not_shown() -> None:
    view = present_reading(bp(pulse_rate=None), NOW, NB)
    assert (view.pulse, view.pulse_note) == (None, "")


def test_values_round_half_up() -> None:
    view = present_reading(bp(systolic=127.5, diastolic=81.4, pulse_rate=69.5), NOW, NB)
    assert (view.value, view.pulse) == ("128/81", "70")


def test_kpa_keeps_one_decimal_with_the_languages_separator() -> None:
    reading = bp(systolic=17.1, diastolic=10.94, unit="kPa")
    assert present_reading(reading, NOW, NB).value == "17,1/10,9"
    assert present_reading(reading, NOW, EN).value == "17.1/10.9"


# --- times --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("utc", "oslo"),
    [
        # Spring forward on 2026-03-29 at 01:00 UTC: 02.00 CET becomes 03.00 CEST.
        ("2026-03-29T00:30:00+00:00", "01.30"),
        ("2026-03-29T01:30:00+00:00", "03.30"),
        # Fall back on 2026-10-25 at 01:00 UTC: 03.00 CEST becomes 02.00 CET, 02.30 happens twice.
        ("2026-10-25T00:30:00+00:00", "02.30"),
        ("2026-10-25T01:30:00+00:00", "02.30"),
        ("2026-07-01T22:15:00+00:00", "00.15"),
        ("2026-12-31T23:59:00+00:00", "00.59"),
    ],
)
def test_oslo_clock_across_dst(utc: str, oslo: str) -> None:
    assert format_clock(datetime.fromisoformat(utc), NB) == oslo
    assert format_clock(datetime.fromisoformat(utc), EN) == oslo.replace(".", ":")


def test_when_today_yesterday_and_earlier() -> None:
    now = datetime(2026, 3, 29, 10, 0, tzinfo=UTC)
    today = datetime(2026, 3, 29, 6, 5, tzinfo=UTC)
    # 22:30 UTC on the 28th is already the 28th at 23.30 in Oslo (still winter time).
    yesterday = datetime(2026, 3, 28, 22, 30, tzinfo=UTC)
    earlier = datetime(2026, 3, 20, 8, 0, tzinfo=UTC)
    last_year = datetime(2025, 12, 24, 17, 0, tzinfo=UTC)
    assert format_when(today, now, NB) == "kl. 08.05"
    assert format_when(yesterday, now, NB) == "i går kl. 23.30"
    assert format_when(earlier, now, NB) == "20. mars kl. 09.00"
    assert format_when(last_year, now, NB) == "24. desember 2025 kl. 18.00"
    assert format_when(today, now, EN) == "at 08:05"
    assert format_when(yesterday, now, EN) == "yesterday at 23:30"
    assert format_when(earlier, now, EN) == "on 20 March at 09:00"


def test_midnight_in_oslo_decides_today_not_utc() -> None:
    now = datetime(2026, 11, 22, 23, 30, tzinfo=UTC)  # already the 23rd in Oslo
    assert format_when(now - timedelta(minutes=20), now, NB) == "kl. 00.10"
    assert format_when(now - timedelta(hours=2), now, NB) == "i går kl. 22.30"


def test_naive_device_time_is_norwegian_wall_clock() -> None:
    reading = bp(device_time="2026-11-22T11:38:00")
    assert measured_at(reading) == datetime(2026, 11, 22, 11, 38, tzinfo=OSLO)
    assert present_reading(reading, NOW, NB).measured == "Målt kl. 11.38"


@pytest.mark.parametrize("device_time", ["2000-01-01T00:05:00", "2026-11-22T15:00:00", "nonsense"])
def test_implausible_device_time_falls_back_to_receipt(device_time: str) -> None:
    reading = bp(device_time=device_time)
    assert measured_at(reading) == datetime(2026, 11, 22, 10, 40, 3, tzinfo=UTC)


def test_daemons_measured_at_wins_over_the_device_stamp() -> None:
    # The cuff's clock had reset to 2000; the daemon corrected the stamp at connect.
    reading = bp(device_time="2000-01-01T00:05:00", measured_at="2026-11-22T10:38:00+00:00")
    assert measured_at(reading) == datetime(2026, 11, 22, 10, 38, tzinfo=UTC)
    assert present_reading(reading, NOW, NB).measured == "Målt kl. 11.38"


def test_glucose_context_is_detail_not_a_card_of_its_own() -> None:
    status = {
        "readings": [
            {
                "kind": "glucose_context",
                "seq": 3,
                "received_at": "2026-11-22T10:40:03+00:00",
                "values": {"type": "glucose_measurement_context", "meal": "preprandial"},
            },
            {
                "kind": "glucose",
                "seq": 2,
                "received_at": "2026-11-22T10:40:03+00:00",
                "values": {"type": "glucose_measurement", "glucose_concentration": 0.00105},
            },
        ],
        "pending": 0,
    }
    view = present_status(status_of(status), NOW, NB)
    assert [r.kind for r in view.readings] == ["glucose"]
    assert view.readings[0].title == "Blodsukker"


def test_reading_without_any_time_has_no_time_line() -> None:
    assert present_reading(bp(received_at=""), NOW, NB).measured == ""


# --- whole status -------------------------------------------------------------------------------


def test_status_shows_one_card_per_kind_newest_first() -> None:
    status = status_of(
        {
            "pending": 3,
            "readings": [
                bp_reading(),
                bp_reading(systolic=200.0),  # an older one of the same kind
                {
                    "kind": "9 weird kind!",
                    "received_at": "2026-11-22T09:00:00+00:00",
                    "synced": True,
                },
            ],
        }
    )
    view = present_status(status, NOW, NB)
    assert [r.slug for r in view.readings] == ["bp", "kind-9-weird-kind"]
    assert view.readings[0].value == "128/82"
    other = view.readings[1]
    assert (other.title, other.value, other.note) == ("Måling", None, "Måling mottatt")
    assert view.pending == 3


@pytest.mark.parametrize(
    "changes",
    [
        {"readings": [bp_reading(), "junk"]},
        {"readings": [{**bp_reading(), "kind": None}]},
        {"readings": [{**bp_reading(), "seq": "12"}]},  # strict: "12" is not 12
        {"readings": [{**bp_reading(), "colour": "red"}]},  # a field the contract lacks
        {"readings": None},
        {"pending": "x"},
        {"pending": True},
        {"messages": [{"version": "2", "text": "Ny"}]},
        {"care_plan": {"schedule": 5}},
        {"history": [{"kind": "weight"}]},
    ],
)
def test_a_malformed_status_is_refused_whole_not_shown_in_part(changes: dict[str, Any]) -> None:
    # The screen shows such an answer as "the hub is not answering" (below, on the screen).
    with pytest.raises(ValidationError):
        status_of(changes)


def test_status_without_readings() -> None:
    assert present_status(status_of({}), NOW, NB).readings == ()
    assert present_status(status_of({}), NOW, NB).pending == 0


def test_a_filling_outbox_is_told_to_the_patient_with_the_centres_number() -> None:
    assert present_status(status_of({"outbox_alarm": None}), NOW, NB).alarm == ""
    plain = present_status(status_of({"outbox_alarm": "near_full"}), NOW, NB).alarm
    assert "trygt lagret" in plain and "Ring oppfølgingstjenesten" in plain
    with_phone = present_status(
        status_of(
            {"outbox_alarm": "over_budget", "care_plan": {"centre_phone": "+47 55 00 00 00"}}
        ),
        NOW,
        EN,
    )
    assert (
        "on +47 55 00 00 00".replace(" 55", NBSP + "55").replace(" 00", NBSP + "00")
        in with_phone.alarm
        and "safely stored" in with_phone.alarm
    )


def test_slugs_are_valid_widget_ids() -> None:
    assert slug_for("blood_pressure") == "bp"
    assert slug_for("weight_scale") == "kind-weight-scale"
    assert slug_for("!!!") == "kind-unknown"


# --- the app against a real unix socket ---------------------------------------------------------


def oslo_hhmm(moment: datetime, sep: str = ".") -> str:
    return moment.astimezone(OSLO).strftime(f"%H{sep}%M")


async def test_shows_waiting_then_sent(daemon: FakeDaemon, sock_path: Path) -> None:
    received = datetime.now(UTC) - timedelta(minutes=2)
    daemon.status["readings"] = [bp_reading(received_at=received.isoformat())]
    daemon.status["broker_connected"] = False
    await daemon.start()
    app = PatientScreenApp(sock_path, poll_interval=0.1)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_until(pilot, lambda: shown(app, "#bp-value") == "128/82", "the blood pressure")
        assert shown(app, "#bp-unit") == "mmHg"
        assert (shown(app, "#bp-pulse-label"), shown(app, "#bp-pulse")) == ("Puls", "70")
        assert shown(app, "#bp-time") == f"Målt kl. {oslo_hhmm(received)}"
        assert shown(app, "#bp-sync") == WAITING_NB
        # Online again: on its way now, as the sentence above says, not "waiting for the net".
        daemon.status["broker_connected"] = True
        await wait_until(
            pilot,
            lambda: shown(app, "#bp-sync") == STORED_NB,
            "on its way",
        )
        assert "svarer ikke" not in shown(app, "#standing")
        assert shown(app, "#no-readings") == ""

        synced_at = datetime.now(UTC)
        daemon.status["readings"] = [
            bp_reading(
                received_at=received.isoformat(), synced=True, synced_at=synced_at.isoformat()
            )
        ]
        expected = f"Sendt til oppfølgingstjenesten kl. {oslo_hhmm(synced_at)}"
        await wait_until(pilot, lambda: shown(app, "#bp-sync") == expected, "the sent message")
        assert app.query_one("#bp-sync").has_class("synced")


async def test_no_readings_yet(daemon: FakeDaemon, sock_path: Path) -> None:
    await daemon.start()
    app = PatientScreenApp(sock_path, poll_interval=0.1)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_until(
            pilot,
            lambda: (
                shown(app, "#standing") == "Ingen målinger ennå"
                and shown(app, "#no-readings") == "Når du har målt, vises resultatet her."
            ),
            "the calm message, said once",
        )
        assert not app.query("#bp-card")


async def test_daemon_down_then_recovers(daemon: FakeDaemon, sock_path: Path) -> None:
    daemon.status["readings"] = [bp_reading(received_at=datetime.now(UTC).isoformat())]
    app = PatientScreenApp(sock_path, poll_interval=0.1)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_until(
            pilot,
            lambda: "Målestasjonen svarer ikke" in shown(app, "#standing"),
            "the down message",
        )
        assert "Målingene dine er trygge" in shown(app, "#standing")
        # We do not know yet whether there are readings, so we do not claim there are none.
        assert shown(app, "#no-readings") == ""

        await daemon.start()
        await wait_until(pilot, lambda: shown(app, "#bp-value") == "128/82", "the reading")
        await wait_until(
            pilot, lambda: "svarer ikke" not in shown(app, "#standing"), "the banner to go"
        )

        # Down again: say so, and keep showing the last reading rather than an empty screen.
        await daemon.stop()
        await wait_until(
            pilot,
            lambda: "Målestasjonen svarer ikke" in shown(app, "#standing"),
            "the down message",
        )
        assert shown(app, "#bp-value") == "128/82"


async def test_refusing_daemon_counts_as_not_answering(daemon: FakeDaemon, sock_path: Path) -> None:
    daemon.status = {"ok": False, "error": "database locked"}
    await daemon.start()
    app = PatientScreenApp(sock_path, poll_interval=0.1)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_until(
            pilot,
            lambda: "Målestasjonen svarer ikke" in shown(app, "#standing"),
            "the down message",
        )


@pytest.mark.parametrize(
    "broken",
    [
        {"readings": [{"kind": 5}]},
        {"pending": "3"},
        {"hub_id": None},
        {"renamed_field": 1},  # a daemon newer or older than this screen
    ],
)
async def test_a_malformed_status_answer_is_the_hub_not_answering(
    daemon: FakeDaemon, sock_path: Path, broken: dict[str, Any]
) -> None:
    good = bp_reading(received_at=datetime.now(UTC).isoformat())
    daemon.status["readings"] = [good]
    await daemon.start()
    app = PatientScreenApp(sock_path, poll_interval=0.1)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_until(pilot, lambda: shown(app, "#bp-value") == "128/82", "the reading")
        # The daemon's answer breaks the contract: sent raw, past the stand-in's models.
        daemon.status_reply = {**status_of({"readings": [good]}).model_dump(mode="json"), **broken}
        await wait_until(
            pilot,
            lambda: "Målestasjonen svarer ikke" in shown(app, "#standing"),
            "the down message",
        )
        assert shown(app, "#bp-value") == "128/82"  # the last good answer stays
        assert app.is_running
        daemon.status_reply = None
        await wait_until(
            pilot, lambda: "svarer ikke" not in shown(app, "#standing"), "the banner to go"
        )


async def test_failed_measurement_on_screen(daemon: FakeDaemon, sock_path: Path) -> None:
    daemon.status["readings"] = [
        bp_reading(systolic="NRes", pulse_rate="NaN", received_at=datetime.now(UTC).isoformat())
    ]
    await daemon.start()
    app = PatientScreenApp(sock_path, poll_interval=0.1)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_until(pilot, lambda: "mislyktes" in shown(app, "#bp-note"), "the failure note")
        assert "Pulsen kunne ikke måles" in shown(app, "#bp-note")
        assert shown(app, "#bp-value") == ""
        assert shown(app, "#bp-pulse") == ""


async def test_language_toggle(daemon: FakeDaemon, sock_path: Path) -> None:
    synced_at = datetime.now(UTC)
    daemon.status["readings"] = [
        bp_reading(received_at=synced_at.isoformat(), synced=True, synced_at=synced_at.isoformat())
    ]
    await daemon.start()
    app = PatientScreenApp(sock_path, poll_interval=0.1)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_until(pilot, lambda: shown(app, "#bp-title") == "Blodtrykk", "the reading")
        button = app.query_one("#lang-toggle", Button)
        assert str(button.label) == "Nynorsk"  # the button names the language it switches to
        assert button.size.height >= 3  # a touch target an unsteady finger can hit

        await tap(pilot, "#lang-toggle")
        await wait_until(pilot, lambda: app.title == "Målingane mine", "nynorsk")
        assert shown(app, "#bp-sync").startswith("Sendt til oppfølgingstenesta kl. ")
        assert str(button.label) == "English"
        await wait_until(pilot, lambda: not button.has_class("-active"), "the button to be ready")
        await tap(pilot, "#lang-toggle")
        await wait_until(pilot, lambda: shown(app, "#bp-title") == "Blood pressure", "English")
        assert (
            shown(app, "#bp-sync")
            == f"Sent to the follow-up service at {oslo_hhmm(synced_at, ':')}"
        )
        assert shown(app, "#bp-pulse-label") == "Pulse"
        assert app.title == "My measurements"
        assert str(button.label) == "Bokmål"

        # A pressed button ignores taps for a moment (which also absorbs a trembling double tap).
        await wait_until(pilot, lambda: not button.has_class("-active"), "the button to be ready")
        await tap(pilot, "#lang-toggle")
        await wait_until(pilot, lambda: shown(app, "#bp-title") == "Blodtrykk", "bokmål again")
        assert shown(app, "#bp-sync").startswith("Sendt til oppfølgingstjenesten kl. ")


async def test_starts_in_english_when_asked(daemon: FakeDaemon, sock_path: Path) -> None:
    await daemon.start()
    app = PatientScreenApp(sock_path, language="en", poll_interval=0.1)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_until(pilot, lambda: "No measurements yet" in shown(app, "#standing"), "English")


def test_run_starts_the_app(monkeypatch: pytest.MonkeyPatch, sock_path: Path) -> None:
    started: list[PatientScreenApp] = []
    monkeypatch.setattr(PatientScreenApp, "run", lambda self: started.append(self))
    run(sock_path, "en")
    assert [(a.socket_path, a.language) for a in started] == [(sock_path, "en")]


@pytest.mark.parametrize(
    ("kind", "values", "digits", "unit"),
    [
        ("spo2", {"spo2": 96.0, "pulse_rate": 71.0}, "96", "%"),
        ("weight", {"weight": 75.35, "unit": "kg"}, "75,4", "kg"),
        ("weight", {"weight": 166.0, "unit": "lb"}, "166,0", "lb"),
        ("body_composition", {"body_fat_percentage": 23.4}, "23,4", "%"),
        ("temperature", {"temperature": 37.85, "unit": "C"}, "37,9", "°C"),
        ("glucose", {"glucose_concentration": 0.0055, "unit": "mol/L"}, "5,5", "mmol/L"),
        ("glucose", {"glucose_concentration": 0.00099, "unit": "kg/L"}, "5,5", "mmol/L"),
    ],
)
def test_every_measured_kind_shows_its_number(
    kind: str, values: dict[str, Any], digits: str, unit: str
) -> None:
    view = present_reading(
        reading_of({"kind": kind, "values": values, "received_at": "2026-11-22T11:00:00+00:00"}),
        NOW,
        NB,
    )
    assert (view.value, view.unit, view.note) == (digits, unit, "")


@pytest.mark.parametrize(
    ("kind", "values"),
    [
        ("spo2", {"spo2": "NaN"}),
        ("weight", {"weight": 70.0, "measurement_unsuccessful": True}),
        ("temperature", {"temperature": "NRes", "unit": "C"}),
        ("glucose", {"unit": "mol/L"}),
    ],
)
def test_a_failed_measurement_of_any_kind_is_never_a_number(
    kind: str, values: dict[str, Any]
) -> None:
    view = present_reading(reading_of({"kind": kind, "values": values}), NOW, NB)
    assert view.value is None and view.note == "Målingen mislyktes. Prøv å måle på nytt."


def test_trend_keeps_the_last_value_of_each_of_fourteen_days() -> None:
    from hub.ui.present import trend

    def entry(day: int, hour: int, systolic: object, kind: str = "blood_pressure") -> HistoryEntry:
        return HistoryEntry(
            kind=kind,
            measured_at=f"2026-11-{day:02d}T{hour:02d}:00:00+00:00",
            values={"systolic": systolic},
        )

    history = [
        entry(5, 8, 190.0),  # 18 days before NOW: outside the 14
        entry(9, 8, 150.0),
        entry(20, 7, 140.0),
        entry(20, 19, 135.0),
        entry(21, 8, "NaN"),
        entry(22, 8, 130.0),
        entry(22, 9, 999.0, "weight"),
    ]
    assert trend("blood_pressure", history, NOW) == (150.0, 135.0, 130.0)
    assert trend("weight", history, NOW) == ()  # no weight field in these values
    assert trend("blood_pressure", [], NOW) == ()
    view = present_reading(bp(), NOW, NB, history)
    assert view.trend == (150.0, 135.0, 130.0)


def test_a_value_beyond_the_care_plan_says_what_to_do_with_the_centres_number() -> None:
    high = bp_reading(systolic=178.0)
    high["outcome"], high["problems"] = "flagged", ["systolic_above_care_plan"]
    view = present_status(
        status_of({"readings": [high], "care_plan": {"centre_phone": "+47 55 00 00 00"}}), NOW, NB
    ).readings[0]
    assert view.value == "178/82"
    assert view.note == (
        "Verdien er høyere enn grensen i planen din. Ring oppfølgingstjenesten på "
        + "+47 55 00 00 00.".replace(" ", NBSP)
    )
    low = {"kind": "spo2", "values": {"spo2": 88.0}, "problems": ["spo2_below_care_plan"]}
    assert present_reading(reading_of(low), NOW, EN).note == (
        "This is lower than the limit in your plan. Call the follow-up service."
    )
    assert present_reading(bp(), NOW, NB, phone="+47 1").note == ""
