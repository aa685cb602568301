"""The local socket's contract (hub/local_protocol.py) on its own: the daemon's router answers
exactly its ops, every request model refuses what is not its arguments in words, an answer that
does not follow the contract is unreadable (never half-read), and docs/protocol.md's socket
section names exactly the ops and fields the models have."""

from __future__ import annotations

import re
import typing
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel

from hub.core.care_plan import CarePlan
from hub.local_protocol import (
    OPS,
    AnswerStored,
    LiveAnswer,
    Refusal,
    RequestRefused,
    StatusAnswer,
    UnreadableAnswer,
    parse,
    read_answer,
)
from hub.requests import ROUTES
from tests.ui_support import BASE_STATUS

DOC = Path(__file__).parent.parent / "docs" / "protocol.md"


def test_the_daemon_answers_every_op_of_the_contract_and_no_other() -> None:
    assert ROUTES.keys() == OPS.keys()
    for op, route in ROUTES.items():
        assert route.request is OPS[op].request and route.request.op == op


# --- requests: hostile arguments -------------------------------------------------------------

# A value of the wrong type for each kind of argument (strict: "1" is not 1, true is not 1).
WRONG: dict[str, list[object]] = {
    "address": [5, True, ["00:BB:00:00:00:02"], {"a": 1}, "00:BB:00:00:00", "x" * 70_000],
    "passkey": ["123456", True, 1.5, [1], -1, 1_000_000, 2**63],
    "scan_s": ["60", True, [60], 0, -1, 601, {"s": 1}],
    "response": [5, "x", [], True, 1.5],
    "version": ["3", 1.5, True, [3], {"v": 3}],
    "boot": [5, True, ["a"], {"b": 1}, "x" * 65],
    "wait_s": ["1", True, [1], -0.5],
    "request_id": [5, True, None, ["a" * 10], "short", "x" * 65, "with space 1", "æøå12345"],
    "pin": [
        123456,
        True,
        None,
        "12345",
        "1234567890123",
        "12a456",
        "١٢٣٤٥٦",
        " 123456",
        "123456\n",
        ["1"],
    ],
}
REQUIRED = {
    "address": "forget",
    "response": "answer",
    "version": "message_read",
    "request_id": "call_me",
    "pin": "technician_unlock",
}


def _cases() -> list[tuple[str, str, object]]:
    cases = []
    for op, spec in OPS.items():
        for field in spec.request.model_fields:
            cases += [(op, field, bad) for bad in WRONG[field]]
    return cases


@pytest.mark.parametrize(("op", "field", "bad"), _cases())
def test_a_wrong_argument_is_refused_in_words_naming_it(op: str, field: str, bad: object) -> None:
    model = OPS[op].request
    args: dict[str, object] = {"response": {"resourceType": "QuestionnaireResponse"}}
    args = {k: v for k, v in args.items() if k in model.model_fields}
    if "address" in model.model_fields and op == "forget":
        args["address"] = "00:BB:00:00:00:02"
    if "version" in model.model_fields and op == "message_read":
        args["version"] = 3
    args[field] = bad
    with pytest.raises(RequestRefused) as refused:
        parse(model, args)
    said = str(refused.value)
    assert field in said or "device" in said or "message" in said or "FHIR" in said, said
    assert len(said) < 200  # a huge value is not echoed back


OWN_ARGUMENTS: dict[str, dict[str, object]] = {
    "forget": {"address": "00:BB:00:00:00:02"},
    "message_read": {"version": 1},
    "answer": {"response": {}},
    "call_me": {"request_id": "6f1c2d0e-8a4b-4c57-9b1e-2f0d3c4a5b6e"},
    "technician_unlock": {"pin": "123456"},
}


@pytest.mark.parametrize("op", OPS)
@pytest.mark.parametrize("extra", ["x", "op2", "Address", "\u00e9" * 5000, ""])
def test_an_argument_the_op_does_not_take_is_refused(op: str, extra: str) -> None:
    model = OPS[op].request
    args = dict(OWN_ARGUMENTS.get(op, {}))
    parse(model, args)  # the op's own arguments are fine
    with pytest.raises(RequestRefused, match=f"^{op} takes no argument") as refused:
        parse(model, {**args, extra: 1})
    assert len(str(refused.value)) < 300


@pytest.mark.parametrize(("field", "op"), REQUIRED.items())
def test_a_missing_argument_is_refused_in_words(field: str, op: str) -> None:
    with pytest.raises(RequestRefused):
        parse(OPS[op].request, {})
    with pytest.raises(RequestRefused):
        parse(OPS[op].request, {field: None})


def test_a_request_goes_on_the_wire_as_op_and_arguments() -> None:
    live = OPS["live"].request.model_validate({"boot": "b", "version": 2, "wait_s": 20.0})
    assert live.wire() == {"op": "live", "boot": "b", "version": 2, "wait_s": 20.0}
    assert OPS["status"].request().wire() == {"op": "status"}


# --- answers ---------------------------------------------------------------------------------


def test_an_op_refusal_carries_no_error_kind_and_a_socket_refusal_does() -> None:
    assert Refusal(error="no").model_dump(mode="json") == {"ok": False, "error": "no"}
    busy = Refusal(error="full", error_kind="busy").model_dump(mode="json")
    assert busy == {"ok": False, "error": "full", "error_kind": "busy"}
    assert read_answer(StatusAnswer, {"ok": False, "error": "locked"}) == Refusal(error="locked")


def _status(**changes: Any) -> dict[str, Any]:
    return {**BASE_STATUS.model_dump(mode="json"), **changes}


@pytest.mark.parametrize(
    "answer",
    [
        None,
        [],
        "ok",
        {},
        {"ok": True},
        {"ok": "true"},
        {"ok": False},  # a refusal without words
        {"ok": False, "error": 5},
        {"ok": False, "error": "x", "error_kind": "panic"},
        _status(pending="3"),
        _status(pending=None),
        _status(readings=[{"kind": "weight"}]),
        _status(readings="none"),
        _status(hub_id=["hub-0001"]),
        _status(care_plan={"schedule": "daily"}),
        _status(messages=[{"version": 1}]),
        _status(renamed_field=1),
        _status(history=[{"kind": "weight", "measured_at": "t", "values": []}]),
    ],
)
def test_an_answer_that_breaks_the_contract_is_unreadable_not_half_read(answer: object) -> None:
    with pytest.raises(UnreadableAnswer):
        read_answer(StatusAnswer, answer)


def test_answers_read_back_as_they_were_built() -> None:
    assert read_answer(StatusAnswer, BASE_STATUS.model_dump(mode="json")) == BASE_STATUS
    stored = AnswerStored(seq=None, stored_before=True)
    assert read_answer(AnswerStored, stored.model_dump(mode="json")) == stored
    live = LiveAnswer(boot="b", version=0, sessions=[])
    assert read_answer(LiveAnswer, live.model_dump(mode="json")) == live


# --- docs/protocol.md ------------------------------------------------------------------------


def _socket_section() -> str:
    text = DOC.read_text()
    start = text.index("## Local socket")
    end = text.find("\n## ", start + 1)
    return text[start : end if end != -1 else len(text)]


def _models_in(annotation: object) -> list[type[BaseModel]]:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    return [m for arg in typing.get_args(annotation) for m in _models_in(arg)]


def contract_fields() -> set[str]:
    """Every field of every request and answer, nested models included (the care plan's
    content is the downlink's, documented there)."""
    seen: set[type[BaseModel]] = set()
    todo: list[type[BaseModel]] = [Refusal]
    for spec in OPS.values():
        todo += [spec.request, spec.answer]
    fields: set[str] = set()
    while todo:
        model = todo.pop()
        if model in seen or model is CarePlan:
            continue
        seen.add(model)
        for name, info in model.model_fields.items():
            fields.add(name)
            todo += _models_in(info.annotation)
    return fields


# Words in backticks in the section that are neither an op nor a field: values, files, settings.
NOT_FIELDS = {
    "hub.sock",
    "hub readings",
    "hub devices",
    "hub pair",
    "hub forget",
    "sync.outbox_budget_mb",
    "sync.plaintext_days",
    "near_full",
    "over_budget",
    "bad_request",
    "busy",
    "internal",
    "stopping",
    "error_kind",
    "NaN",
    "Infinity",
    "resourceType",
    "id",
    "questionnaire",
    "status",
    "authored",
    "item",
    "seq",
    "address@started_at",
    "true",
    "false",
    "null",
    "centre_time",  # the ack's field (above)
    "call_ack",  # the downlink document that answers a call request (above)
    # Device values: free-form, per device (docs/devices.md).
    "type",
    "systolic",
    "unit",
    "cuff_pressure",
    "temperature",
}


def doc_names() -> tuple[set[str], set[str]]:
    """(ops, field-like names) the socket section of docs/protocol.md mentions."""
    section = _socket_section()
    ops = set(re.findall(r'\{"op": "(\w+)"', section))
    keys = set(re.findall(r'"(\w+)":', section))
    ticked = set(re.findall(r"`([a-z_][a-z0-9_]*)`", section))
    return ops, (keys | ticked) - {"op"}


def test_the_doc_describes_every_op_and_no_other() -> None:
    ops, _ = doc_names()
    assert ops == OPS.keys(), f"ops in the doc, not in the contract: {ops - OPS.keys()}; " + (
        f"in the contract, not in the doc: {OPS.keys() - ops}"
    )


def test_the_doc_names_every_field_of_the_contract_and_no_other() -> None:
    _, named = doc_names()
    fields = contract_fields()
    allowed = fields | NOT_FIELDS | OPS.keys()
    assert not named - allowed, f"the doc names fields the contract lacks: {named - allowed}"
    assert not fields - named, f"fields the doc does not name: {sorted(fields - named)}"
