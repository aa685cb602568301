"""The local socket's contract (`hub.sock`): every op's request and answer as strict models.

The daemon (hub.requests) reads requests with these models and builds its answers from them; the
patient screen and the technician tools send requests with them and read the answers with them;
the screen's test stand-in builds its answers from them; docs/protocol.md is checked against
them (tests/test_local_protocol.py). Pure: pydantic and the functional core only, so the screen
imports it without the store or Bluetooth.

`hub.ipc` has already made sure a request is a JSON object of finite numbers and valid text;
the request models say which arguments each op takes, of which type and range, and a refusal
says in words which argument is wrong.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any, ClassVar, Literal, TypeVar

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SerializerFunctionWrapHandler,
    StringConstraints,
    ValidationError,
    model_serializer,
)

from hub.core.call_request import CallStateName, RequestId
from hub.core.care_plan import CarePlan
from hub.core.problems import first_problem
from hub.core.technician_pin import PIN_PATTERN
from hub.errors import HubError
from hub.wire.strict import Stamp

PAIR_SCAN_MAX_S = 600.0  # ten minutes of looking for a device in pairing mode is plenty

Address = Annotated[str, StringConstraints(pattern=r"^[0-9A-Fa-f]{2}(:[0-9A-Fa-f]{2}){5}$")]
Seconds = Annotated[float, Field(allow_inf_nan=False)]


class RequestRefused(HubError):
    """An argument of a request has the wrong type or is out of range, in words."""


class UnreadableAnswer(HubError):
    """An answer from the daemon that does not follow this contract, in words."""


# --- requests ------------------------------------------------------------------------------


class Request(BaseModel):
    """The arguments of one op; on the wire `{"op": <op>, **arguments}`."""

    # Strict: "1" is not 1, true is not 1; an argument the op does not take is refused.
    model_config = ConfigDict(frozen=True, strict=True, extra="forbid")
    op: ClassVar[str]

    def wire(self) -> dict[str, Any]:
        return {"op": self.op, **self.model_dump(mode="json")}


ADDRESS_PROBLEM = "which device? (address, like 00:BB:00:00:00:02)"


class StatusRequest(Request):
    op = "status"


class ReadingsRequest(Request):
    op = "readings"


class DevicesRequest(Request):
    op = "devices"


class PairRequest(Request):
    op = "pair"
    address: Address | None = None
    passkey: int | None = Field(None, ge=0, le=999_999)
    scan_s: Seconds | None = Field(None, gt=0, le=PAIR_SCAN_MAX_S)


class ForgetRequest(Request):
    op = "forget"
    address: Address


class AnswerRequest(Request):
    op = "answer"
    # Checked field by field by hub.core.answers (which says what is wrong with it).
    response: dict[str, Any]


class MessageReadRequest(Request):
    op = "message_read"
    version: int


class CallMeRequest(Request):
    """Ring meg ("call me"): the patient asks to be called. The screen chooses `request_id` (a
    UUID, say) for each tap it means as a new request and sends the same id again when it
    retries."""

    op = "call_me"
    request_id: RequestId


class LiveRequest(Request):
    op = "live"
    boot: str | None = Field(None, max_length=64)
    version: int | None = None
    wait_s: Seconds = Field(0.0, ge=0)


class TechnicianUnlockRequest(Request):
    """The touchscreen's technician PIN, checked by the daemon against the hash in its config,
    with the lockout after wrong tries (hub/core/technician_pin.py). Never logged."""

    op = "technician_unlock"
    pin: Annotated[str, StringConstraints(pattern=PIN_PATTERN)]


class TechnicianLockRequest(Request):
    """The screen left technician mode: the unlock its PIN gave its user ends now."""

    op = "technician_lock"


# What to say when an argument is wrong, per op.
PROBLEMS: dict[type[Request], dict[str, str]] = {
    PairRequest: {
        "address": ADDRESS_PROBLEM,
        "passkey": "the passkey is the 6 digits the device shows",
        "scan_s": f"scan_s is how long to look for the device: seconds, above 0 and at most "
        f"{PAIR_SCAN_MAX_S:.0f}",
    },
    ForgetRequest: {"address": ADDRESS_PROBLEM},
    AnswerRequest: {
        "response": "not a FHIR QuestionnaireResponse (response must be a JSON object)"
    },
    MessageReadRequest: {"version": "which message? (version)"},
    CallMeRequest: {
        "request_id": "request_id is the screen's id for this request: 8 to 64 letters, "
        "digits, - or _"
    },
    # The text sent is never repeated: it may be the PIN, mistyped by one digit.
    TechnicianUnlockRequest: {"pin": "pin is the technician PIN: 6 to 12 digits (0-9)"},
    LiveRequest: {
        "boot": "boot is the text an earlier live answer gave, or null",
        "version": "version is the whole number an earlier live answer gave, or null",
        "wait_s": "wait_s is how long to wait for news: seconds, 0 or more",
    },
}

R = TypeVar("R", bound=Request)


def parse(model: type[R], args: dict[str, object]) -> R:
    """The request's arguments (without "op") as `model`, or RequestRefused naming the first
    wrong one."""
    try:
        return model.model_validate(args)
    except ValidationError as exc:
        error = exc.errors()[0]
        field = str(error["loc"][0]) if error["loc"] else ""
        if error["type"] == "extra_forbidden":
            taken = ", ".join(model.model_fields) or "none"
            raise RequestRefused(
                f"{model.op} takes no argument {field[:40]!r} (its arguments: {taken})"
            ) from None
        problem = PROBLEMS.get(model, {}).get(field, f"{field} is not valid")
        raise RequestRefused(problem) from None


# --- answers -------------------------------------------------------------------------------


class _Strict(BaseModel):
    # An answer carries exactly the fields written here: a field the daemon renames or adds
    # without this contract knowing fails where the answer is built, not on the patient's screen.
    model_config = ConfigDict(frozen=True, strict=True, extra="forbid")


class Answer(_Strict):
    ok: Literal[True] = True


# needs_technician: `pair` or `forget` from a user that is neither root nor the daemon's and
# holds no technician unlock (hub/core/technician_unlock.py); nothing was done.
ErrorKind = Literal["bad_request", "busy", "internal", "stopping", "needs_technician"]


class Refusal(_Strict):
    """`{"ok": false, "error": ...}`: an op refused, in words. The socket's own refusals (the
    request never reached an op) also say which kind (`error_kind`); an op's carry none."""

    ok: Literal[False] = False
    error: str
    error_kind: ErrorKind | None = None

    @model_serializer(mode="wrap")
    def _without_empty_kind(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        fields: dict[str, Any] = handler(self)
        if fields.get("error_kind") is None:
            fields.pop("error_kind", None)
        return fields


class StatusReading(_Strict):
    """A stored reading as the screen sees it (no raw bytes, no store internals)."""

    kind: str
    seq: int
    device_time: str | None
    measured_at: str
    time_source: str
    received_at: str
    outcome: str
    problems: list[str]
    values: dict[str, Any]
    synced: bool
    synced_at: str | None


class HistoryEntry(_Strict):
    kind: str
    measured_at: str
    values: dict[str, Any]


class Message(_Strict):
    """A message from the centre to the patient."""

    version: int
    text: str
    issued_at: str
    received_at: str
    read_at: str | None


class CallState(_Strict):
    """The patient's newest call request, for the screen: "none" (never asked), "asked" (at
    `asked_at`, hub time; not yet answered) or "acknowledged" (a nurse said she is calling, at
    `acknowledged_at`, the centre's time). An acknowledged request stays the newest until the
    patient asks again: how long to show "the nurse is calling you" is the screen's choice."""

    state: CallStateName = "none"
    request_id: RequestId | None = None
    # Checked instants (an offset, a year the screen can show): "9999-12-31T23:59:59-14:00"
    # is refused here, not left to crash the screen's time formatting.
    asked_at: Stamp | None = None
    acknowledged_at: Stamp | None = None
    # Whether the centre holds the request (it acknowledged the batch carrying it). Until then
    # it waits on the hub (offline, say) and the screen must not say the nurse has been told.
    # A daemon from before it leaves it out: False, the cautious reading.
    delivered: bool = False


class StatusAnswer(Answer):
    hub_id: str
    readings: list[StatusReading]  # the latest of each kind, newest first
    pending: int
    broker_connected: bool
    # `pending` less the hub's own health report waiting: what the patient's screen counts.
    patient_pending: int | None = None
    last_ack_at: str | None
    hub_clock_offset_s: float | None
    store_problem: str | None
    outbox_alarm: str | None  # "near_full" (80 % of the outbox budget) or "over_budget"
    care_plan: CarePlan | None
    care_plan_version: int
    messages: list[Message]  # the newest 20, newest first
    centre_key_id: str
    downlink_refused: str | None
    history: list[HistoryEntry]  # oldest first
    waiting_in_memory: int
    call_request: CallState = CallState()  # "Ring meg"; a daemon that has none: "none"
    outbox_bytes: int | None = None  # sealed bytes waiting, as last measured (each minute)
    broker_problem: str | None = None  # why the broker connection is down or refused


class StoredReading(_Strict):
    """Every field of a stored reading (what `hub readings --json` prints)."""

    seq: int
    kind: str
    characteristic: str
    device_address: str
    device_time: str | None
    measured_at: str
    time_source: str
    clock_correction_s: float | None
    hub_clock_synced: bool
    hub_clock_offset_s: float | None
    received_at: str
    outcome: str
    problems: list[str]
    raw_hex: str
    values: dict[str, Any]
    stored_at: str
    synced: bool
    synced_at: str | None


class ReadingsAnswer(Answer):
    readings: list[StoredReading]  # in seq order


class Device(_Strict):
    address: str
    profile: str
    name: str | None
    paired_at: str
    bonded: bool
    last_connected_at: str | None
    clock_set_at: str | None
    battery_level: int | None


class DevicesAnswer(Answer):
    devices: list[Device]


class PairAnswer(Answer):
    device: Device


class ForgetAnswer(Answer):
    address: str


class AnswerStored(Answer):
    seq: int | None  # null: stored before (the same response id)
    stored_before: bool


class MessageReadAnswer(Answer):
    version: int


class CallMeAnswer(Answer):
    call_request: CallState  # the request now open (this one, or one asked before)
    stored_before: bool  # true: nothing new was stored (the same request, or one still open)


class LiveSession(_Strict):
    key: str  # address@started_at
    device_address: str
    profile: str
    started_at: str
    ended_at: str | None  # null while connected
    progress: dict[str, Any] | None  # the newest in-progress value, e.g. the cuff pressure
    progress_count: int
    results: list[StatusReading]  # stored in this session, newest last


class LiveAnswer(Answer):
    boot: str
    version: int
    sessions: list[LiveSession]  # oldest first


class TechnicianUnlockAnswer(Answer):
    """Whether the PIN was right; if not, how many tries are left before the lockout, or (0
    tries left) for how many seconds more no PIN is checked at all."""

    unlocked: bool
    tries_left: int
    locked_for_s: float


class TechnicianLockAnswer(Answer):
    """Whether the sender held an unlock until now (false: it held none, or it had run out)."""

    was_unlocked: bool


# --- the ops -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Op:
    request: type[Request]
    answer: type[Answer]


OPS: dict[str, Op] = {
    op.request.op: op
    for op in (
        Op(StatusRequest, StatusAnswer),
        Op(ReadingsRequest, ReadingsAnswer),
        Op(DevicesRequest, DevicesAnswer),
        Op(PairRequest, PairAnswer),
        Op(ForgetRequest, ForgetAnswer),
        Op(AnswerRequest, AnswerStored),
        Op(MessageReadRequest, MessageReadAnswer),
        Op(CallMeRequest, CallMeAnswer),
        Op(LiveRequest, LiveAnswer),
        Op(TechnicianUnlockRequest, TechnicianUnlockAnswer),
        Op(TechnicianLockRequest, TechnicianLockAnswer),
    )
}

A = TypeVar("A", bound=Answer)


def read_answer(model: type[A], raw: object) -> A | Refusal:
    """A decoded answer line as `model` (or the refusal it is), or UnreadableAnswer saying
    what does not fit."""
    try:
        if isinstance(raw, dict) and raw.get("ok") is False:
            return Refusal.model_validate(raw)
        return model.model_validate(raw)
    except ValidationError as exc:
        raise UnreadableAnswer(f"{model.__name__}: {first_problem(exc, 'the answer')}") from None
