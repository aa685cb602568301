"""How the daemon's status answer becomes the words and digits on the patient's screen.

Pure functions without Textual, so the rules that matter to the patient (a failed measurement is
never shown as a number, whether the device sent none or the hub found it impossible; times are
Norwegian wall-clock times) are tested without a terminal.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from hub.local_protocol import HistoryEntry, StatusAnswer, StatusReading
from hub.ui.i18n import Catalogue

OSLO = ZoneInfo("Europe/Oslo")
# IEEE 11073 special values the device decoders pass through as strings: no measurement was made.
FAILED_VALUES = frozenset({"NaN", "NRes", "+INF", "-INF", "Reserved"})
# A device clock this far ahead of the hub's receipt time is wrong rather than early.
MAX_CLOCK_AHEAD = timedelta(minutes=5)
# Devices whose clock was never set report dates around 2000; such a time would mislead.
EARLIEST_PLAUSIBLE = datetime(2020, 1, 1, tzinfo=UTC)
# Kinds that are no measurement of their own: a glucose record's meal and medication context
# (detail of another reading), the patient's questionnaire answers and message receipts (shown
# as done tasks), and the hub's health reports (the technician's; the daemon leaves them out of
# `status`). No card of their own.
DETAIL_KINDS = frozenset(
    {"glucose_context", "questionnaire_response", "message_receipt", "call_request", "hub_health"}
)
# Short, readable widget-id prefixes for the kinds we know; others get a sanitised kind name.
SLUGS = {"blood_pressure": "bp"}


@dataclass(frozen=True)
class ReadingView:
    """Everything one reading card shows, already translated."""

    kind: str
    slug: str  # stable prefix for the card's widget ids, e.g. "bp" -> #bp-value
    title: str
    value: str | None  # text for the big digits; None when there is no number to show
    unit: str
    note: str  # shown instead of the digits (failed measurement, kind without digits)
    pulse: str | None
    pulse_label: str
    pulse_unit: str
    pulse_note: str  # e.g. "the pulse could not be measured"; "" when nothing to say
    measured: str  # "Målt kl. 10.40"; "" when the reading carries no usable time
    sync: str
    synced: bool
    trend: tuple[float, ...] = ()  # the last 14 days, one value a day: a sparkline
    flag: str = ""  # "▲ Over grensen": beyond the care plan's limits, in words and a symbol
    trend_label: str = ""  # "Siste 14 dager": what the trend shows, and its limit if any
    trend_limit: float | None = None  # the care plan's limit, drawn across the trend

    @property
    def failed(self) -> bool:
        return self.value is None


@dataclass(frozen=True)
class StatusView:
    readings: tuple[ReadingView, ...]
    pending: int
    alarm: str = ""  # the outbox is filling up: readings are not getting through; "" if not


def measured_number(value: object) -> float | None:
    """The value as a finite number, or None when it is missing or not a real measurement."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if math.isfinite(value) else None


def is_failed(value: object) -> bool:
    """True for a value that is present but is no number: NaN, NRes, +INF, -INF, Reserved, junk."""
    return value is not None and measured_number(value) is None


def format_number(value: float, cat: Catalogue, decimals: int = 0) -> str:
    """Round half up (as people do, unlike round()) and use the language's decimal separator."""
    scaled = math.floor(value * 10**decimals + 0.5)
    if decimals == 0:
        return str(scaled)
    sign = "-" if scaled < 0 else ""
    whole, frac = divmod(abs(scaled), 10**decimals)
    return f"{sign}{whole}{cat.translate('number.decimal')}{frac:0{decimals}d}"


def parse_time(text: object) -> datetime | None:
    """An ISO 8601 time as an aware datetime; a naive one is taken as Norwegian wall-clock time,
    because the hub sets the devices' clocks to local time."""
    if not isinstance(text, str):
        return None
    try:
        moment = datetime.fromisoformat(text)
        moment = moment.replace(tzinfo=OSLO) if moment.tzinfo is None else moment
        moment.astimezone(UTC).astimezone(OSLO)  # year 9999 at -14:00 is past datetime's end
    except (ValueError, OverflowError):
        return None
    return moment


def measured_at(reading: StatusReading) -> datetime | None:
    """When the patient measured: the daemon's ``measured_at`` (its clock rules, including a
    correction of the device clock, see docs/devices.md); for a reading without one, the
    device's time if plausible, else when the hub received it."""
    decided = parse_time(reading.measured_at)
    if decided is not None:
        return decided
    received = parse_time(reading.received_at)
    device = parse_time(reading.device_time)
    if device is None or device < EARLIEST_PLAUSIBLE:
        return received
    if received is not None and device > received + MAX_CLOCK_AHEAD:
        return received
    return device


def format_clock(moment: datetime, cat: Catalogue) -> str:
    """Oslo wall-clock time: "10.40" in bokmål, "10:40" in English."""
    local = moment.astimezone(OSLO)
    return cat.translate("time", hour=local.hour, minute=local.minute)


def format_when(moment: datetime, now: datetime, cat: Catalogue) -> str:
    """When, relative to `now` in Oslo: "kl. 10.40", "i går kl. 10.40", "20. november kl. 10.40"."""
    local = moment.astimezone(OSLO)
    today = now.astimezone(OSLO).date()
    time = format_clock(moment, cat)
    if local.date() == today:
        return cat.translate("when.today", time=time)
    if local.date() == today - timedelta(days=1):
        return cat.translate("when.yesterday", time=time)
    month = cat.translate(f"month.{local.month}")
    key = "when.date" if local.year == today.year else "when.date_year"
    return cat.translate(key, day=local.day, month=month, year=local.year, time=time)


def slug_for(kind: str) -> str:
    """A widget-id prefix for `kind` that is valid in Textual ids and never starts with a digit."""
    if kind in SLUGS:
        return SLUGS[kind]
    return "kind-" + (re.sub(r"[^a-z0-9]+", "-", kind.lower()).strip("-") or "unknown")


def sync_text(reading: StatusReading, now: datetime, cat: Catalogue, online: bool) -> str:
    """Whether the reading has reached the centre; not yet: on its way now, when the hub is
    online, or waiting for the network (both safely stored)."""
    if not reading.synced:
        return cat.translate("sync.stored" if online else "sync.waiting")
    synced_at = parse_time(reading.synced_at)
    if synced_at is None:
        return cat.translate("sync.sent_untimed")
    return cat.translate("sync.sent", when=format_when(synced_at, now, cat))


def _blood_pressure(values: Mapping[str, Any], cat: Catalogue) -> tuple[str | None, str, str]:
    """(digits, unit, note) for a blood pressure measurement."""
    systolic = measured_number(values.get("systolic"))
    diastolic = measured_number(values.get("diastolic"))
    unit = values.get("unit")
    unit = unit if isinstance(unit, str) and unit else cat.translate("unit.mmhg")
    if systolic is None or diastolic is None:
        return None, unit, cat.translate("reading.failed")
    decimals = 1 if unit == "kPa" else 0  # 1 kPa is 7.5 mmHg: whole kPa would hide too much
    digits = f"{format_number(systolic, cat, decimals)}/{format_number(diastolic, cat, decimals)}"
    return digits, unit, ""


def _number_rule(field: str, decimals: int, unit_of: Any, scale: Any = None) -> Any:
    """A display rule for a kind shown as one number: (digits, unit, note)."""

    def rule(values: Mapping[str, Any], cat: Catalogue) -> tuple[str | None, str, str]:
        unit = unit_of(values)
        number = measured_number(values.get(field))
        if number is None or values.get("measurement_unsuccessful") is True:
            return None, unit, cat.translate("reading.failed")
        if scale is not None:
            number = scale(number, values)
        return format_number(number, cat, decimals), unit, ""

    return rule


def _mmol_per_l(value: float, values: Mapping[str, Any]) -> float:
    """Glucose as Norway reads it: mol/L x 1000; kg/L is 100 000 mg/dL over 18.016 (g/mol / 10)."""
    return value * 1000 if values.get("unit") == "mol/L" else value * 100_000 / 18.016


DISPLAY_RULES: dict[str, Any] = {
    "blood_pressure": _blood_pressure,
    "spo2": _number_rule("spo2", 0, lambda v: "%"),
    "weight": _number_rule("weight", 1, lambda v: v.get("unit") or "kg"),
    "body_composition": _number_rule("body_fat_percentage", 1, lambda v: "%"),
    "temperature": _number_rule("temperature", 1, lambda v: "°F" if v.get("unit") == "F" else "°C"),
    "glucose": _number_rule("glucose_concentration", 1, lambda v: "mmol/L", _mmol_per_l),
}


TREND_FIELDS = {
    "blood_pressure": "systolic",
    "spo2": "spo2",
    "weight": "weight",
    "body_composition": "body_fat_percentage",
    "temperature": "temperature",
    "glucose": "glucose_concentration",
}


def trend(
    kind: str, history: Sequence[HistoryEntry], now: datetime, days: int = 14
) -> tuple[float, ...]:
    """The last value of each of the past `days` days (Oslo dates) that had one, oldest first:
    for blood pressure the systolic value."""
    field = TREND_FIELDS.get(kind)
    by_day: dict[Any, float] = {}
    first_day = now.astimezone(OSLO).date() - timedelta(days=days - 1)
    for entry in history:
        if entry.kind != kind or field is None:
            continue
        number = measured_number(entry.values.get(field))
        moment = parse_time(entry.measured_at)
        if number is None or moment is None or moment.astimezone(OSLO).date() < first_day:
            continue
        by_day[moment.astimezone(OSLO).date()] = number  # history comes oldest first
    return tuple(by_day[day] for day in sorted(by_day))


def _pulse(raw: object, cat: Catalogue) -> tuple[str | None, str]:
    """(digits, note) for a pulse rate that may be missing (device did not measure it)."""
    pulse = measured_number(raw)
    if pulse is not None:
        return format_number(pulse, cat), ""
    return None, cat.translate("pulse.failed") if is_failed(raw) else ""


# What the patient can do about a device's complaint (hub.core.outcome's problem codes), in
# the order the advice is given. Codes without advice are for the nurse only.
_FINGER = (
    "sensor_displaced",
    "sensor_unconnected_to_user",
    "sensor_disconnected",
    "poor_signal_detected",
    "inadequate_signal_detected",
    "low_perfusion_detected",
    "erratic_signal_detected",
    "nonpulsatile_signal_detected",
    "questionable_pulse_detected",
    "signal_processing_irregularity_detected",
)
ADVICE: dict[str, str] = {
    "cuff_too_loose": "advice.cuff_loose",
    "improper_measurement_position": "advice.arm_position",
    "body_movement_detected": "advice.keep_still",
    **dict.fromkeys(_FINGER, "advice.finger"),
    "sample_size_insufficient": "advice.more_blood",
    "strip_insertion_error": "advice.strip",
    "strip_type_incorrect": "advice.strip",
    "sensor_malfunction": "advice.device_fault",
    "sensor_malfunctioning": "advice.device_fault",
    "general_device_fault": "advice.device_fault",
    "equipment_malfunction_detected": "advice.device_fault",
    "sensor_read_interrupted": "advice.device_fault",
    "irregular_pulse_detected": "advice.irregular_pulse",
}
_ADVICE_ORDER = {key: n for n, key in enumerate(dict.fromkeys(ADVICE.values()))}


def measurement_advice(problems: object, cat: Catalogue, phone: object = None) -> str:
    """What to do about how the device says the measurement went: one instruction, the first
    in the order above (fix the cuff before sitting still), or "" when there is none."""
    codes = problems if isinstance(problems, list | tuple) else []
    keys = sorted(
        {ADVICE[c] for c in codes if isinstance(c, str) and c in ADVICE},
        key=_ADVICE_ORDER.__getitem__,
    )
    if not keys:
        return ""
    key = keys[0]
    has_phone = isinstance(phone, str) and bool(phone)
    if has_phone and cat.has(f"{key}_phone"):
        return cat.translate(f"{key}_phone", phone=phone)
    return cat.translate(key)


def _measure_again(problems: object) -> bool:
    """The device says the measurement was disturbed: it is measured again before anything
    else is done about its value."""
    codes = problems if isinstance(problems, list | tuple) else []
    return any(
        ADVICE.get(c) not in (None, "advice.irregular_pulse") for c in codes if isinstance(c, str)
    )


def flag_text(problems: object, cat: Catalogue) -> str:
    """A value beyond the care plan's limits said with a word and a symbol, not colour alone."""
    codes = problems if isinstance(problems, list | tuple) else []
    for side in ("above", "below"):
        if any(isinstance(c, str) and c.endswith(f"_{side}_care_plan") for c in codes):
            return cat.translate(f"flag.{side}")
    return ""


def limit_advice(problems: object, phone: object, cat: Catalogue) -> str:
    """What to do about a value beyond the care plan's limits, in plain words ("" if none)."""
    codes = problems if isinstance(problems, list) else []
    for side in ("above", "below"):
        if any(isinstance(c, str) and c.endswith(f"_{side}_care_plan") for c in codes):
            if isinstance(phone, str) and phone:
                return cat.translate(f"limit.{side}_phone", phone=phone)
            return cat.translate(f"limit.{side}")
    return ""


def present_reading(
    reading: StatusReading,
    now: datetime,
    cat: Catalogue,
    history: Sequence[HistoryEntry] = (),
    phone: str | None = None,
    advice: bool = False,
    limit: float | None = None,
    online: bool = False,
) -> ReadingView:
    """One reading's card. ``advice``: also say what to do about the device's complaints
    (measure again ...), which is for the moment of measuring, not for later. ``limit``: the
    care plan's limit of the value the trend draws, marked on it. ``online``: the hub is
    connected to the centre, so a reading not yet sent is on its way now."""
    kind, values = reading.kind, reading.values
    rule = DISPLAY_RULES.get(kind)
    failed = reading.outcome == "failed"  # the hub's verdict, whatever the digits say
    if rule is not None:
        value, unit, note = rule(values, cat)
        if failed:
            value, note = None, cat.translate("reading.failed")
        problems = reading.problems
        # Never two instructions at once: a disturbed measurement is measured again first; a
        # value beyond the limits is then called about (and "nothing to do" is not said).
        redo = advice and _measure_again(problems)
        call = "" if redo else limit_advice(problems, phone, cat)
        told = measurement_advice(problems, cat, phone) if advice and not call else ""
        note = "\n".join(n for n in (note or call, told) if n)
        flag = flag_text(problems, cat)
    else:
        # No display rules for this kind yet: say that it arrived rather than guess at fields.
        value, unit, note, flag = None, "", cat.translate("reading.received"), ""
    title_key = f"kind.{kind}" if cat.has(f"kind.{kind}") else "kind.unknown"
    pulse, pulse_note = _pulse(values.get("pulse_rate"), cat)
    if failed:
        pulse = None  # a failed reading shows no number, not even its pulse
    moment = measured_at(reading)
    return ReadingView(
        kind=kind,
        slug=slug_for(kind),
        title=cat.translate(title_key),
        value=value,
        unit=unit,
        note=note,
        pulse=pulse,
        pulse_label=cat.translate("pulse.label"),
        pulse_unit=cat.translate("pulse.unit"),
        pulse_note=pulse_note,
        measured=cat.translate("measured", when=format_when(moment, now, cat)) if moment else "",
        sync=sync_text(reading, now, cat, online),
        synced=reading.synced,
        trend=(days := trend(kind, history, now)),
        flag="" if failed else flag,
        trend_label=_trend_label(kind, limit, cat) if len(days) >= 2 else "",
        trend_limit=limit,
    )


def _trend_label(kind: str, limit: float | None, cat: Catalogue) -> str:
    if limit is None:
        return cat.translate("trend.label", days=14)
    decimals = 1 if kind in ("weight", "temperature", "glucose", "body_composition") else 0
    shown = format_number(limit, cat, decimals)
    return cat.translate("trend.label_limit", days=14, limit=shown)


def trend_limit(status: StatusAnswer, kind: str) -> float | None:
    """The care plan's limit of the value the trend draws: its maximum, else its minimum."""
    plan, field = status.care_plan, TREND_FIELDS.get(kind)
    if plan is None or field is None:
        return None
    found = plan.thresholds.get(kind, {}).get(field)
    if found is None:
        return None
    return found.max if found.max is not None else found.min


def centre_phone(status: StatusAnswer | None) -> str | None:
    """The number the care plan gives the patient to call, if any, never broken across lines."""
    plan = None if status is None else status.care_plan
    phone = None if plan is None else plan.centre_phone
    return None if phone is None else phone.replace(" ", "\N{NO-BREAK SPACE}")


def present_status(status: StatusAnswer, now: datetime, cat: Catalogue) -> StatusView:
    """The screen's content for one status answer: one card per kind of measurement."""
    views: dict[str, ReadingView] = {}
    phone = centre_phone(status)
    for reading in status.readings:
        if reading.kind in DETAIL_KINDS:
            continue
        limit = trend_limit(status, reading.kind)
        view = present_reading(
            reading, now, cat, status.history, phone, limit=limit, online=status.broker_connected
        )
        # The daemon sends the newest first; one card per kind keeps widget ids unique.
        views.setdefault(view.slug, view)
    return StatusView(
        readings=tuple(views.values()), pending=status.pending, alarm=alarm_text(status, cat)
    )


def alarm_text(status: StatusAnswer, cat: Catalogue) -> str:
    """What the patient is told when the hub's outbox fills up (nothing is lost, but nobody at
    the centre is seeing the measurements): with the centre's number if the care plan has it."""
    if not status.outbox_alarm:
        return ""
    phone = centre_phone(status)
    if phone:
        return cat.translate("outbox.alarm_phone", phone=phone)
    return cat.translate("outbox.alarm")
