"""The care-plan editor's check: what the nurse typed, against what the hub knows, becomes the
hub's CarePlan or a list of problems. Pure (no Django; the forms are centre/web/care_plan_forms.py).

What the hub knows is read from the hub's own tables, so the editor cannot drift from it:
- the kinds a plan can schedule are the kinds the hub's device profiles make
  (hub/devices/profiles.py) that it has plausibility ranges for (hub/core/plausibility.py), and
  the questionnaire;
- the values a limit can be set on are those ranges' measured values (not the scale's profile
  settings height and BMI, which are typed in, not measured), in the ranges' units, which are
  the units outside_limits compares in (hub/core/care_plan.py); glucose is shown in mmol/L,
  as Norway reads it, and kept in the hub's mol/L;
- a limit outside a value's plausible range can never fire (a reading there fails as a device
  fault), so it is refused as a typo;
- an uploaded questionnaire must pass the hub's own reader (hub/questionnaire/model.py) within
  the downlink's size and depth (hub/wire/documents.py), and the finished plan must pass the
  check the hub applies to a care plan on the wire (check_sendable).

Limits on a kind the plan does not schedule are allowed: the hub applies limits to every
reading of that kind, and a patient may measure without being asked (weight when she feels
swollen). Nothing here raises for bad input: every problem comes back as data.
"""

from __future__ import annotations

import functools
import json
import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from enum import StrEnum
from importlib import resources
from typing import Any

from pydantic import ValidationError

from hub.core.care_plan import CarePlan, Limit, ScheduledMeasurement
from hub.core.plausibility import RANGES, Range
from hub.devices.profiles import PROFILES
from hub.questionnaire import SHIPPED, load_shipped
from hub.questionnaire.model import parse_questionnaire
from hub.wire import documents
from hub.wire.envelope import EnvelopeError
from hub.wire.strict import WireError, load

# The schedule's name for "answer the questionnaire" (hub/ui/today.py's READING_KIND; the centre
# may not import the patient screen, so tests/test_care_plan_form.py checks it is the same).
QUESTIONNAIRE_TASK = "questionnaire"

# Shown to the nurse in another unit than the hub keeps: the range's unit -> (the nurse's unit,
# the power of ten from the hub's to hers). Exact in decimal, so a plan survives the editor.
EDITOR_UNITS: dict[str, tuple[str, int]] = {"mol/L": ("mmol/L", 3)}

MAX_TIMES = 24  # one an hour is more than any plan asks of a patient
MAX_NUMBER_TEXT = 32  # characters in a limit as typed
MAX_PHONE_TEXT = 32
# An uploaded questionnaire, in bytes: the shipped ones are about 6 kB; with its text escaped
# at worst 3x, a plan with one stays far inside the hub's document limit (MAX_DOCUMENT).
MAX_QUESTIONNAIRE_BYTES = 256 * 1024
# The questionnaire sits two levels down in the signed body ({"content": {"questionnaire": ..}}).
MAX_QUESTIONNAIRE_DEPTH = documents.MAX_DEPTH - 2
MAX_PARAM_TEXT = 40  # what a problem quotes of the input: enough to recognise, never all


@dataclass(frozen=True)
class ValueSpec:
    """A value a limit can be set on, in the unit the nurse types."""

    kind: str
    name: str
    unit: str
    low: Decimal  # the plausible range, in `unit`
    high: Decimal
    scale: int  # the nurse's unit is the hub's times 10**scale


def _decimal(number: float) -> Decimal:
    return Decimal(repr(float(number)))


def _spec(kind: str, name: str, r: Range) -> ValueSpec:
    unit, scale = EDITOR_UNITS.get(r.unit, (r.unit, 0))
    return ValueSpec(
        kind, name, unit, _decimal(r.low).scaleb(scale), _decimal(r.high).scaleb(scale), scale
    )


MEASURED_KINDS: tuple[str, ...] = tuple(
    dict.fromkeys(kind for p in PROFILES for kind in p.kinds.values() if kind in RANGES)
)
SCHEDULE_KINDS: tuple[str, ...] = (*MEASURED_KINDS, QUESTIONNAIRE_TASK)
# The questionnaire's total score (the hub's engine puts it on the answers): an upper limit
# only, over which the centre's triage shows the answers red (centre/triage.py).
SCORE_SPEC = ValueSpec(QUESTIONNAIRE_TASK, "score", "", Decimal(-1000), Decimal(1000), 0)
LIMIT_VALUES: dict[str, dict[str, ValueSpec]] = {
    **{
        kind: {name: _spec(kind, name, r) for name, r in RANGES[kind].items() if r.fails}
        for kind in MEASURED_KINDS
    },
    QUESTIONNAIRE_TASK: {"score": SCORE_SPEC},
}


@functools.cache  # the files ship with the hub package and do not change while it runs
def shipped_questionnaire(name: str) -> dict[str, Any]:
    """A shipped questionnaire as the plan carries it: its bokmål JSON (a hub shows the shipped
    version in the patient's language, found by its url)."""
    load_shipped(name, "nb")  # QuestionnaireError for a name that is not shipped
    text = resources.files("hub.questionnaire").joinpath("data", f"{name}.nb.json").read_text()
    loaded: dict[str, Any] = json.loads(text)
    return loaded


SHIPPED_URLS: dict[str, str] = {load_shipped(name, "nb").url: name for name in SHIPPED}


class Code(StrEnum):
    NO_KIND = "no_kind"
    UNKNOWN_KIND = "unknown_kind"
    KIND_TWICE = "kind_twice"
    NO_TIMES = "no_times"
    TOO_MANY_TIMES = "too_many_times"
    BAD_TIME = "bad_time"
    TIME_TWICE = "time_twice"
    QUESTIONNAIRE_NOT_CHOSEN = "questionnaire_not_chosen"
    NO_VALUE = "no_value"
    UNKNOWN_VALUE = "unknown_value"
    LIMIT_TWICE = "limit_twice"
    LIMIT_EMPTY = "limit_empty"
    NOT_A_NUMBER = "not_a_number"
    NOT_FINITE = "not_finite"
    IMPLAUSIBLE = "implausible"
    MIN_ABOVE_MAX = "min_above_max"
    SCORE_UPPER_ONLY = "score_upper_only"
    UNKNOWN_QUESTIONNAIRE = "unknown_questionnaire"
    QUESTIONNAIRE_TWICE = "questionnaire_twice"
    QUESTIONNAIRE_TOO_LARGE = "questionnaire_too_large"
    QUESTIONNAIRE_TOO_DEEP = "questionnaire_too_deep"
    QUESTIONNAIRE_MALFORMED = "questionnaire_malformed"
    QUESTIONNAIRE_REFUSED = "questionnaire_refused"
    QUESTIONNAIRE_SHIPPED_URL = "questionnaire_shipped_url"
    BAD_PHONE = "bad_phone"
    NOT_SENDABLE = "not_sendable"


Param = str | int


@dataclass(frozen=True)
class Problem:
    """What is wrong and where: `path` names the editor's field, e.g. ("schedule", 0, "times",
    1) or ("limits", 2, "max"); `params` fill the message the form shows for `code`."""

    path: tuple[str | int, ...]
    code: Code
    params: Mapping[str, Param] = field(default_factory=dict, hash=False)


@dataclass(frozen=True)
class ScheduleRow:
    kind: str
    times: tuple[str, ...]


@dataclass(frozen=True)
class LimitRow:
    kind: str
    value: str
    min: str = ""  # as typed; "" is no limit on that side
    max: str = ""


@dataclass(frozen=True)
class EditorInput:
    schedule: tuple[ScheduleRow, ...] = ()
    limits: tuple[LimitRow, ...] = ()
    shipped_questionnaire: str = ""  # a name in SHIPPED, or ""
    uploaded_questionnaire: str | bytes = ""  # a FHIR Questionnaire as JSON, or ""
    centre_phone: str = ""


def _quote(text: object) -> str:
    shown = str(text)
    return shown if len(shown) <= MAX_PARAM_TEXT else shown[: MAX_PARAM_TEXT - 1] + "…"


# --- times -------------------------------------------------------------------------------

_TIME = re.compile(r"([01]?[0-9]|2[0-3])[:.]([0-5][0-9])", re.ASCII)
_TIME_SEPARATORS = re.compile(r"[\s,;]+")


def split_times(text: str) -> tuple[str, ...]:
    """The times in a text field as typed: "08:00, 20:00" or "8.00 20.00"."""
    return tuple(part for part in _TIME_SEPARATORS.split(text) if part)


def normal_time(text: str) -> str | None:
    """HH:MM for a time of day 00:00-23:59 written H:MM, HH:MM or HH.MM; None otherwise."""
    match = _TIME.fullmatch(text.strip())
    return None if match is None else f"{int(match.group(1)):02d}:{match.group(2)}"


def _schedule_row(
    n: int, row: ScheduleRow, seen: set[str]
) -> tuple[ScheduledMeasurement | None, list[Problem]]:
    problems: list[Problem] = []
    kind = row.kind.strip()
    if not kind:
        problems.append(Problem(("schedule", n, "kind"), Code.NO_KIND))
    elif kind not in SCHEDULE_KINDS:
        problems.append(Problem(("schedule", n, "kind"), Code.UNKNOWN_KIND, {"kind": _quote(kind)}))
    elif kind in seen:
        problems.append(Problem(("schedule", n, "kind"), Code.KIND_TWICE, {"kind": kind}))
    seen.add(kind)
    if not row.times:
        problems.append(Problem(("schedule", n, "times"), Code.NO_TIMES))
    elif len(row.times) > MAX_TIMES:
        problems.append(Problem(("schedule", n, "times"), Code.TOO_MANY_TIMES, {"max": MAX_TIMES}))
        return None, problems
    times: list[str] = []
    for m, text in enumerate(row.times):
        time = normal_time(text)
        where = ("schedule", n, "times", m)
        if time is None:
            problems.append(Problem(where, Code.BAD_TIME, {"time": _quote(text)}))
        elif time in times:
            problems.append(Problem(where, Code.TIME_TWICE, {"time": time}))
        else:
            times.append(time)
    if problems:
        return None, problems
    return ScheduledMeasurement(kind=kind, times=tuple(sorted(times))), []


# --- limits ------------------------------------------------------------------------------

_NUMBER = re.compile(r"[+-]?([0-9]+([.,][0-9]*)?|[.,][0-9]+)([eE][+-]?[0-9]+)?", re.ASCII)
_NOT_FINITE = frozenset({"nan", "snan", "inf", "infinity"})


def _bound(where: tuple[str | int, ...], text: str, spec: ValueSpec) -> Decimal | Problem | None:
    """A limit as typed, in the nurse's unit; None for none."""
    text = text.strip()
    if not text:
        return None
    if len(text) > MAX_NUMBER_TEXT or not _NUMBER.fullmatch(text):
        if text.lower().lstrip("+-") in _NOT_FINITE:
            return Problem(where, Code.NOT_FINITE, {"text": _quote(text)})
        return Problem(where, Code.NOT_A_NUMBER, {"text": _quote(text)})
    number = Decimal(text.replace(",", "."))  # the pattern admits nothing Decimal refuses
    if not spec.low <= number <= spec.high:
        return Problem(
            where,
            Code.IMPLAUSIBLE,
            {
                "text": _quote(text),
                "low": _plain(spec.low),
                "high": _plain(spec.high),
                "unit": spec.unit,
            },
        )
    return number


def _plain(number: Decimal) -> str:
    """A decimal without exponent or trailing zeros: 180, 37.5, 0.01."""
    return format(number.normalize(), "f")


def _limit_row(
    n: int, row: LimitRow, seen: set[tuple[str, str]]
) -> tuple[Limit | None, list[Problem]]:
    kind, name = row.kind.strip(), row.value.strip()
    values = LIMIT_VALUES.get(kind)
    if not kind:
        return None, [Problem(("limits", n, "kind"), Code.NO_KIND)]
    if values is None:
        return None, [Problem(("limits", n, "kind"), Code.UNKNOWN_KIND, {"kind": _quote(kind)})]
    spec = values.get(name)
    if not name:
        return None, [Problem(("limits", n, "value"), Code.NO_VALUE, {"kind": kind})]
    if spec is None:
        params: dict[str, Param] = {"kind": kind, "value": _quote(name)}
        return None, [Problem(("limits", n, "value"), Code.UNKNOWN_VALUE, params)]
    if (kind, name) in seen:
        return None, [
            Problem(("limits", n, "value"), Code.LIMIT_TWICE, {"kind": kind, "value": name})
        ]
    seen.add((kind, name))
    if spec is SCORE_SPEC and row.min.strip():
        return None, [Problem(("limits", n, "min"), Code.SCORE_UPPER_ONLY)]
    low = _bound(("limits", n, "min"), row.min, spec)
    high = _bound(("limits", n, "max"), row.max, spec)
    problems = [p for p in (low, high) if isinstance(p, Problem)]
    if problems:
        return None, problems
    assert not isinstance(low, Problem) and not isinstance(high, Problem)  # for mypy
    if low is None and high is None:
        return None, [Problem(("limits", n, "min"), Code.LIMIT_EMPTY)]
    if low is not None and high is not None and low > high:
        return None, [
            Problem(
                ("limits", n, "min"), Code.MIN_ABOVE_MAX, {"min": _plain(low), "max": _plain(high)}
            )
        ]
    return Limit(min=_hub_number(low, spec), max=_hub_number(high, spec)), []


def _hub_number(number: Decimal | None, spec: ValueSpec) -> float | None:
    """The nurse's number in the hub's unit: scaled in decimal, so it is exact."""
    return None if number is None else float(number.scaleb(-spec.scale))


def limit_text(number: float | None, spec: ValueSpec | None) -> str:
    """A limit the hub holds, as the editor shows it in the nurse's unit ("" for none)."""
    if number is None:
        return ""
    if not math.isfinite(number):
        return str(number)  # cannot be in a plan the hub took; shown so the check refuses it
    return _plain(_decimal(number).scaleb(0 if spec is None else spec.scale))


# --- questionnaire -----------------------------------------------------------------------

_WHERE_UPLOADED = ("questionnaire", "uploaded")


def _questionnaire(
    shipped: str, uploaded: str | bytes
) -> tuple[dict[str, Any] | None, list[Problem]]:
    shipped = shipped.strip()
    # Whitespace only is nothing uploaded; the size is that of what came (a file read up to
    # one byte over the limit must not shrink under it).
    given = uploaded.strip() if isinstance(uploaded, str) else uploaded.strip(b" \t\r\n")
    if shipped and given:
        return None, [Problem(("questionnaire", "shipped"), Code.QUESTIONNAIRE_TWICE)]
    if shipped:
        if shipped not in SHIPPED:
            params: dict[str, Param] = {"name": _quote(shipped)}
            return None, [Problem(("questionnaire", "shipped"), Code.UNKNOWN_QUESTIONNAIRE, params)]
        return shipped_questionnaire(shipped), []
    if not given:
        return None, []
    return _uploaded(uploaded)


def _uploaded(given: str | bytes) -> tuple[dict[str, Any] | None, list[Problem]]:
    limit: dict[str, Param] = {"max_kb": MAX_QUESTIONNAIRE_BYTES // 1024}
    if len(given) > MAX_QUESTIONNAIRE_BYTES:  # a character is at least a byte: no need to encode
        return None, [Problem(_WHERE_UPLOADED, Code.QUESTIONNAIRE_TOO_LARGE, limit)]
    try:
        raw = given.encode() if isinstance(given, str) else given
    except UnicodeEncodeError:
        reason: dict[str, Param] = {"reason": "not text (a lone surrogate)"}
        return None, [Problem(_WHERE_UPLOADED, Code.QUESTIONNAIRE_MALFORMED, reason)]
    if len(raw) > MAX_QUESTIONNAIRE_BYTES:
        return None, [Problem(_WHERE_UPLOADED, Code.QUESTIONNAIRE_TOO_LARGE, limit)]
    try:
        obj = load(raw, "the questionnaire", MAX_QUESTIONNAIRE_DEPTH)
    except WireError as exc:
        if "nested deeper" in str(exc):
            depth: dict[str, Param] = {"max_depth": MAX_QUESTIONNAIRE_DEPTH}
            return None, [Problem(_WHERE_UPLOADED, Code.QUESTIONNAIRE_TOO_DEEP, depth)]
        reason = {"reason": str(exc)[:200]}
        return None, [Problem(_WHERE_UPLOADED, Code.QUESTIONNAIRE_MALFORMED, reason)]
    try:
        parsed = parse_questionnaire(obj)
    except Exception as exc:
        # The hub's reader says QuestionnaireError for what it refuses, but some malformed
        # JSON (an item type that is a list, a ValueSet compose that is not an object) makes
        # it raise TypeError or AttributeError: either way the hub cannot ask it.
        reason = {"reason": str(exc)[:200] or type(exc).__name__}
        return None, [Problem(_WHERE_UPLOADED, Code.QUESTIONNAIRE_REFUSED, reason)]
    if parsed.url in SHIPPED_URLS:
        # A hub shows the shipped questionnaire of that url, not this one.
        params: dict[str, Param] = {"url": _quote(parsed.url), "name": SHIPPED_URLS[parsed.url]}
        return None, [Problem(_WHERE_UPLOADED, Code.QUESTIONNAIRE_SHIPPED_URL, params)]
    assert isinstance(obj, dict)  # parse_questionnaire refuses anything else
    return obj, []


# --- phone -------------------------------------------------------------------------------

_PHONE = re.compile(r"(?:\+47|0047)?([2-9][0-9]{7})", re.ASCII)


def normal_phone(text: str) -> str | None:
    """A Norwegian number as "+47 55 00 00 00": 8 digits (the first 2-9: 0 and 1 start
    service codes), optionally after +47 or 0047, spaces anywhere; None otherwise."""
    if len(text) > MAX_PHONE_TEXT:
        return None
    match = _PHONE.fullmatch(re.sub(r"[ \u00a0]", "", text))
    if match is None:
        return None
    digits = match.group(1)
    return "+47 " + " ".join(digits[i : i + 2] for i in range(0, 8, 2))


# --- the plan ----------------------------------------------------------------------------


def check_plan(given: EditorInput) -> CarePlan | tuple[Problem, ...]:
    """The care plan the editor's input makes, or every problem with it."""
    problems: list[Problem] = []
    schedule: list[ScheduledMeasurement] = []
    kinds: set[str] = set()
    for n, row in enumerate(given.schedule):
        entry, found = _schedule_row(n, row, kinds)
        problems += found
        if entry is not None:
            schedule.append(entry)
    thresholds: dict[str, dict[str, Limit]] = {}
    seen: set[tuple[str, str]] = set()
    for n, limit_row in enumerate(given.limits):
        limit, found = _limit_row(n, limit_row, seen)
        problems += found
        if limit is not None:
            thresholds.setdefault(limit_row.kind.strip(), {})[limit_row.value.strip()] = limit
    questionnaire, found = _questionnaire(given.shipped_questionnaire, given.uploaded_questionnaire)
    problems += found
    if QUESTIONNAIRE_TASK in kinds and questionnaire is None and not found:
        where = ("schedule", _row_of(given.schedule, QUESTIONNAIRE_TASK), "kind")
        problems.append(Problem(where, Code.QUESTIONNAIRE_NOT_CHOSEN))
    phone = None
    if given.centre_phone.strip():
        phone = normal_phone(given.centre_phone)
        if phone is None:
            params: dict[str, Param] = {"phone": _quote(given.centre_phone.strip())}
            problems.append(Problem(("centre_phone",), Code.BAD_PHONE, params))
    if problems:
        return tuple(problems)
    return _sendable(tuple(schedule), thresholds, questionnaire, phone)


def _row_of(rows: Iterable[ScheduleRow], kind: str) -> int:
    return next(n for n, row in enumerate(rows) if row.kind.strip() == kind)


def _sendable(
    schedule: tuple[ScheduledMeasurement, ...],
    thresholds: dict[str, dict[str, Limit]],
    questionnaire: dict[str, Any] | None,
    phone: str | None,
) -> CarePlan | tuple[Problem, ...]:
    """The plan, if the hub's own check of a care plan on the wire takes it (it should: this
    is the last guard, so nothing the editor lets through is refused by a hub)."""
    try:
        plan = CarePlan(
            schedule=schedule,
            thresholds=thresholds,
            questionnaire=questionnaire,
            centre_phone=phone,
        )
        documents.check_sendable(
            documents.Document("care_plan", "editor-check", 1, "1970-01-01T00:00:00+00:00", plan)
        )
    except (ValidationError, EnvelopeError) as exc:
        return (Problem(("plan",), Code.NOT_SENDABLE, {"reason": str(exc)[:200]}),)
    return plan


# --- the other way -----------------------------------------------------------------------


def initial_values(plan: CarePlan) -> EditorInput:
    """What the editor shows for the plan a hub holds: the same input check_plan takes, so an
    unchanged form gives the same plan back."""
    schedule = tuple(ScheduleRow(entry.kind, tuple(entry.times)) for entry in plan.schedule)
    limits = tuple(
        LimitRow(
            kind,
            name,
            limit_text(limit.min, LIMIT_VALUES.get(kind, {}).get(name)),
            limit_text(limit.max, LIMIT_VALUES.get(kind, {}).get(name)),
        )
        for kind, values in plan.thresholds.items()
        for name, limit in values.items()
    )
    shipped, uploaded = "", ""
    if plan.questionnaire is not None:
        url = plan.questionnaire.get("url")
        if isinstance(url, str) and url in SHIPPED_URLS:
            shipped = SHIPPED_URLS[url]
        else:
            uploaded = json.dumps(plan.questionnaire, ensure_ascii=False, indent=2)
    return EditorInput(schedule, limits, shipped, uploaded, plan.centre_phone or "")
