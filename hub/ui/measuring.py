"""What the measuring screen shows, from the daemon's `live` answer: pure, without Textual.

A device connects: "getting the measurement from the blood pressure monitor". It sends
in-progress values: the cuff pressure in large digits and what to do meanwhile (sit still). Its
result is stored: the result in large digits with the care plan's advice and what to do about a
failed or disturbed measurement. The patient closes it with one button; it also goes away by
itself a while after the device has gone.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any, Literal

from hub.devices.profiles import BY_NAME
from hub.local_protocol import LiveSession, StatusAnswer, StatusReading
from hub.ui.i18n import Catalogue
from hub.ui.present import (
    DETAIL_KINDS,
    ReadingView,
    centre_phone,
    format_number,
    measured_number,
    parse_time,
    present_reading,
)

# How long a result stays up after the device has gone, if nobody closes it.
RESULT_SHOWN = timedelta(minutes=2)

Phase = Literal["connecting", "progress", "result", "not_finished"]


@dataclass(frozen=True)
class MeasuringView:
    key: str  # the session shown; the screen is closed for this key when the patient is done
    title: str
    phase: Phase
    hint: str  # what is happening, or what to do meanwhile
    progress: str | None  # digits of the in-progress value, e.g. the cuff pressure
    progress_unit: str
    result: ReadingView | None  # the newest reading this session stored
    seen: int = 0  # results the session had stored: closed at this many, it comes back with more


def _kind(profile: str) -> str:
    found = BY_NAME.get(profile)
    return next(iter(found.kinds.values())) if found is not None else "unknown"


def _ended_long_ago(session: LiveSession, now: datetime) -> bool:
    ended = parse_time(session.ended_at)
    return ended is not None and now - ended > RESULT_SHOWN


def _shown_results(session: LiveSession) -> list[StatusReading]:
    return [r for r in session.results if r.kind not in DETAIL_KINDS]


def session_to_show(
    sessions: Sequence[LiveSession],
    closed: Mapping[str, int],
    now: datetime,
    held: Iterable[str] = (),
    showing: str | None = None,
) -> LiveSession | None:
    """The session the measuring screen should show now, or None (the screen goes away).

    The one on screen while it is still worth showing: a result is never swapped for another
    under the patient's finger; the next waits until she closes this one. Otherwise the newest
    one that is connected, or that ended recently having measured something. `closed` maps a
    session the patient closed to the results it had then: one that stores a result after she
    closed it (she pressed OK while the cuff was still pumping) comes back with the result. A
    device that connected with nothing new is not worth a screen. A session `held` back while
    the patient answered the questionnaire is shown however long ago it ended: the patient has
    not seen its result yet.
    """
    held = set(held)
    worth = [s for s in sessions if _worth_showing(s, closed, now, held)]
    current = next((s for s in worth if s.key == showing), None)
    return current or (worth[-1] if worth else None)


def _worth_showing(
    session: LiveSession, closed: Mapping[str, int], now: datetime, held: set[str]
) -> bool:
    results = len(_shown_results(session))
    if session.key in closed and results <= closed[session.key]:
        return False
    if session.ended_at is None:
        return True
    measured = results or session.progress
    return bool(measured) and (session.key in held or not _ended_long_ago(session, now))


def needs_nurse_now(session: LiveSession) -> bool:
    """A result beyond the care plan's limits: told at once, even during the questionnaire."""
    return any(
        problem.endswith(("_above_care_plan", "_below_care_plan"))
        for reading in _shown_results(session)
        for problem in reading.problems
    )


def _progress_digits(progress: Mapping[str, Any] | None, cat: Catalogue) -> tuple[str | None, str]:
    if progress is None:
        return None, ""
    pressure = measured_number(progress.get("cuff_pressure"))
    if pressure is not None:
        unit = progress.get("unit")
        decimals = 1 if unit == "kPa" else 0
        return format_number(pressure, cat, decimals), unit if isinstance(unit, str) else ""
    temperature = measured_number(progress.get("temperature"))
    if temperature is not None:
        return format_number(temperature, cat, 1), "°F" if progress.get("unit") == "F" else "°C"
    return None, ""


def _fresher(result: StatusReading, readings: Sequence[StatusReading]) -> StatusReading:
    """The status answer's copy of the same reading, which knows whether it has been sent."""
    return next((r for r in readings if r.seq == result.seq), result)


def measuring_view(
    session: LiveSession, status: StatusAnswer | None, now: datetime, cat: Catalogue
) -> MeasuringView:
    profile = session.profile
    kind = _kind(profile)
    device_key = f"device.{profile}" if cat.has(f"device.{profile}") else "device.unknown"
    title_key = f"kind.{kind}" if cat.has(f"kind.{kind}") else "kind.unknown"
    base = MeasuringView(
        key=session.key,
        title=cat.translate(title_key),
        phase="connecting",
        hint=cat.translate("measuring.connecting", device=cat.translate(device_key)),
        progress=None,
        progress_unit="",
        result=None,
    )
    results = _shown_results(session)
    if results:
        newest = results[-1]
        hint = "measuring.failed" if newest.outcome == "failed" else "measuring.saved"
        return replace(
            base,
            phase="result",
            hint=cat.translate(hint),
            result=_result_view(newest, status, now, cat),
            seen=len(results),
        )
    digits, unit = _progress_digits(session.progress, cat)
    if session.ended_at is not None:
        return replace(base, phase="not_finished", hint=cat.translate("measuring.not_finished"))
    if digits is not None:
        hint_key = f"measuring.progress.{kind}"
        hint = cat.translate(hint_key if cat.has(hint_key) else "measuring.progress")
        return replace(base, phase="progress", hint=hint, progress=digits, progress_unit=unit)
    return base


def _result_view(
    result: StatusReading, status: StatusAnswer | None, now: datetime, cat: Catalogue
) -> ReadingView:
    reading = result if status is None else _fresher(result, status.readings)
    # Before the first status: just stored, and said to be on its way (the hub is usually online).
    online = status is None or status.broker_connected
    return present_reading(
        reading, now, cat, phone=centre_phone(status), advice=True, online=online
    )
