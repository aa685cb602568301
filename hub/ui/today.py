"""Today on the patient's screen: the care plan's tasks with what is done, and the centre's
newest message (pure; no Textual).

Each scheduled kind is one line. Its day is cut into slots around the plan's times (a slot runs
from halfway after the previous time to halfway before the next); a slot is done once a reading
of that kind was measured in it or later. The first slot that has begun and is not done is due
now: the reminder, shown first and highlighted, until the measurement arrives.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, time

from hub.local_protocol import StatusAnswer
from hub.ui.i18n import Catalogue
from hub.ui.present import OSLO, format_clock, measured_at

# The schedule's kinds as the readings name them; the questionnaire is answered, not measured.
READING_KIND = {"questionnaire": "questionnaire_response"}
STATE_ORDER = {"due": 0, "later": 1, "done": 2}


@dataclass(frozen=True)
class TaskView:
    kind: str
    state: str  # "due", "later" or "done"
    text: str
    at: datetime | None = None  # today's time of the slot shown (due since, or later at)


@dataclass(frozen=True)
class MessageView:
    version: int
    text: str
    read: bool


def _times(raw: Sequence[str]) -> list[time]:
    found = []
    for text in raw:
        try:
            hour, minute = (int(part) for part in text.split(":"))
            found.append(time(hour, minute))
        except ValueError:
            continue  # a malformed time in the plan: that slot is not shown
    return sorted(found)


def _slot_starts(day: datetime, times: list[time]) -> list[datetime]:
    moments = [datetime.combine(day.date(), t, OSLO) for t in times]
    starts = [datetime.combine(day.date(), time(0, 0), OSLO)]
    starts += [a + (b - a) / 2 for a, b in itertools.pairwise(moments)]
    return starts


def task_state(
    times: list[time], last_done: datetime | None, now: datetime
) -> tuple[str, time | None]:
    """("due"|"later"|"done", the time to show) for one kind today."""
    local_now = now.astimezone(OSLO)
    starts = _slot_starts(local_now, times)
    for slot_time, start in zip(times, starts, strict=True):
        if last_done is not None and last_done.astimezone(OSLO) >= start:
            continue
        moment = datetime.combine(local_now.date(), slot_time, OSLO)
        return ("due" if moment <= local_now else "later"), slot_time
    return "done", None


def tasks_view(status: StatusAnswer, now: datetime, cat: Catalogue) -> tuple[TaskView, ...]:
    schedule = () if status.care_plan is None else status.care_plan.schedule
    latest: dict[str, datetime] = {}
    for reading in status.readings:
        moment = measured_at(reading)
        if moment is not None and reading.outcome != "failed":
            latest[reading.kind] = max(moment, latest.get(reading.kind, moment))
    views = []
    for entry in schedule:
        times = _times(entry.times)
        if not times:
            continue
        kind = entry.kind
        state, slot = task_state(times, latest.get(READING_KIND.get(kind, kind)), now)
        name = cat.translate(f"task.{kind}" if cat.has(f"task.{kind}") else "kind.unknown")
        at = datetime.combine(now.astimezone(OSLO).date(), slot, OSLO) if slot else None
        when = format_clock(at, cat) if at else ""
        text = cat.translate(f"task.{state}", task=name, when=when)
        views.append(TaskView(kind, state, text, at))
    return tuple(sorted(views, key=lambda v: STATE_ORDER[v.state]))


def newest_message(status: StatusAnswer) -> MessageView | None:
    """The newest message from the centre; the screen shows it until the patient has read it."""
    for message in status.messages:  # newest first
        return MessageView(message.version, message.text, message.read_at is not None)
    return None
