"""What the home screen leads with (pure; no Textual): the next thing to do as one large button,
then how things stand in one sentence, then the readings one page at a time.

One instruction at a time: the next action is the first measurement due now in the care plan's
order, and the questionnaire only when no measurement is due (it asks how the day has been, so it
comes after the measurements of the morning), or when the measurements have been due for
GIVE_WAY without coming: a lost or broken meter must not keep the patient from the questions.
The measurement stays on today's list, and a meter that sends it later is taken as always.

How things stand is the one sentence that matters most: the measuring station not answering,
then readings not getting through, then what is waiting, then that everything has been sent.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from hub.local_protocol import CallState, StatusAnswer
from hub.ui.i18n import Catalogue
from hub.ui.present import alarm_text, format_when, parse_time
from hub.ui.today import TaskView

# How long home says "the nurse is calling you" after she said so, and "you asked to be called"
# while no one has answered (the daemon takes a new request after 12 h, hub.core.call_request).
CALL_ANSWER_SHOWN = timedelta(hours=2)
CALL_ASKED_SHOWN = timedelta(hours=12)
# A measurement due this long gives way to the questions: long enough to fetch the cuff and
# measure (a few minutes), short enough that a missing meter does not cost the morning.
GIVE_WAY = timedelta(minutes=30)
QUESTIONNAIRE = "questionnaire"
TODAY_PAGE = "today"  # the page listing today's tasks, before the readings' pages


@dataclass(frozen=True)
class NextAction:
    kind: str  # QUESTIONNAIRE, or the kind of measurement
    label: str


@dataclass(frozen=True)
class Standing:
    text: str
    warning: bool  # shown black on yellow: something the patient should know now


def next_action(
    tasks: Sequence[TaskView],
    has_questionnaire: bool,
    resumable: bool,
    cat: Catalogue,
    now: datetime,
) -> NextAction | None:
    """The one thing to do now, or None when nothing is due and nothing is left to answer."""
    due = [t for t in tasks if t.state == "due" and t.kind != QUESTIONNAIRE]
    questions = _questions(tasks, has_questionnaire, resumable, cat)
    waiting = all(t.at is not None and now - t.at >= GIVE_WAY for t in due)
    if due and not (questions and waiting):
        key = f"next.{due[0].kind}"
        return NextAction(due[0].kind, cat.translate(key if cat.has(key) else "next.measure"))
    return questions


def _questions(
    tasks: Sequence[TaskView], has_questionnaire: bool, resumable: bool, cat: Catalogue
) -> NextAction | None:
    if not has_questionnaire:
        return None
    if resumable:
        return NextAction(QUESTIONNAIRE, cat.translate("next.questionnaire_resume"))
    if any(t.kind == QUESTIONNAIRE and t.state == "done" for t in tasks):
        return None
    return NextAction(QUESTIONNAIRE, cat.translate("q.start"))


def standing(
    status: StatusAnswer | None, daemon_ok: bool | None, now: datetime, cat: Catalogue
) -> Standing:
    """How things stand, in one sentence."""
    if daemon_ok is False:
        return Standing(cat.translate("daemon.down"), warning=True)
    if status is None:
        return Standing(cat.translate("daemon.connecting"), warning=False)
    alarm = alarm_text(status, cat)
    if alarm:
        return Standing(alarm, warning=True)
    own = status.pending if status.patient_pending is None else status.patient_pending
    if own > 0 or any(not r.synced for r in status.readings):
        key = "standing.sending" if status.broker_connected else "standing.waiting"
        return Standing(cat.translate(key), warning=False)
    sent = [t for r in status.readings if (t := parse_time(r.synced_at)) is not None]
    if sent:
        return Standing(
            cat.translate("standing.sent", when=format_when(max(sent), now, cat)), False
        )
    return Standing(cat.translate("readings.none"), warning=False)


def page_after(pages: Sequence[str], current: str | None, by: int) -> str | None:
    """The page `by` steps from `current`, staying in range; the first page if it is gone."""
    if not pages:
        return None
    if current not in pages:
        return pages[0]
    return pages[max(0, min(len(pages) - 1, pages.index(current) + by))]


def call_line(
    call: CallState,
    now: datetime,
    cat: Catalogue,
    phone: str | None = None,
    online: bool = False,
) -> str:
    """Where the patient's "Ring meg" stands, in one sentence ("" when there is nothing to say).
    "The nurse has been told" only once the centre holds the request: until then it is on its
    way (the hub `online`) or waits on the measuring station, and an urgent matter is a call."""
    if call.state == "acknowledged":
        answered = parse_time(call.acknowledged_at)
        if answered is not None and now - answered <= CALL_ANSWER_SHOWN:
            return cat.translate("call.acknowledged")
        return ""
    asked = parse_time(call.asked_at)
    if call.state != "asked" or asked is None or now - asked > CALL_ASKED_SHOWN:
        return ""
    when = format_when(asked, now, cat)
    if call.delivered:
        return cat.translate("call.asked", when=when)
    key = "call.sending" if online else "call.waiting"
    if phone:
        return cat.translate(f"{key}_phone", when=when, phone=phone)
    return cat.translate(key, when=when)
