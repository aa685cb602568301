"""A JSON object that gives a key twice is refused at every boundary the hub and the centre read
from outside, saying which key: Python's json keeps the last, so `{"request_id":"a",
"request_id":"b"}` is one thing to whatever read the first and another to us. All of them read
through hub.wire.strict.load: the hub's local socket, batches (header, body, items), acks and
downlink documents (care plans among them), hub status, the questionnaire uploaded at the
centre, the care plan file `centre send-care-plan` reads, and the enrolment bundle. The socket
server keeps answering after refusing one."""

from __future__ import annotations

import argparse
import asyncio
import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from centre.care_plan_form import Code, EditorInput, ScheduleRow, check_plan
from centre.cli import _send_care_plan
from hub.config import ConfigError
from hub.core.canonical import canonical_json
from hub.core.care_plan import CarePlan
from hub.ipc import BadRequest, parse_request
from hub.wire import strict
from hub.wire.batch import _plain_item
from hub.wire.documents import Document, open_document, seal_document
from hub.wire.enrolment import BundleError, open_bundle
from hub.wire.envelope import BatchHeader, EnvelopeError, read_object
from hub.wire.hub_key import new_hub_key
from hub.wire.sealing import read_item
from hub.wire.status import StatusError, read_status
from tests.test_envelope import item
from tests.ui_support import FakeDaemon

TWICE = "twice in one object"


# --- the loader ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "key"),
    [
        (b'{"a":1,"a":1}', "a"),  # even the same value: which one was meant is not the point
        (b'{"a":1,"b":2,"a":3}', "a"),
        (b'{"x":{"k":1,"k":2}}', "k"),
        (b'[1,{"y":[{"z":null,"z":null}]}]', "z"),
        (b'{"a":1,"\\u0061":2}', "a"),  # the same key, once escaped
        (b'{"":1,"":2}', ""),
        (b'{"\\u00e6":1,"\xc3\xa6":2}', "\\xe6"),
        (b'{"' + b"k" * 500 + b'":1,"' + b"k" * 500 + b'":2}', "kkk..."),
    ],
)
def test_strict_load_refuses_a_key_given_twice_saying_which(raw: bytes, key: str) -> None:
    with pytest.raises(strict.WireError, match=TWICE) as refused:
        strict.load(raw, "the message")
    message = str(refused.value)
    assert message.startswith("the message: the key ") and key in message
    assert len(message) < 200  # a hostile key is cut short
    with pytest.raises(strict.KeyTwice, match=TWICE):  # the hook alone, for lenient readers
        json.loads(raw, object_pairs_hook=strict.unique_keys)


def test_keys_that_only_look_alike_are_taken() -> None:
    taken = strict.load(b'{"a":1,"A":2,"a ":3,"b":{"a":4},"c":[{"a":5},{"a":6}]}', "x")
    assert taken == {"a": 1, "A": 2, "a ": 3, "b": {"a": 4}, "c": [{"a": 5}, {"a": 6}]}


@pytest.mark.parametrize(
    ("raw", "why"),
    [
        (b'{"a":NaN,"a":1}', "NaN is not a number"),  # a value is read before its object ends
        (b'{"a":1,"a":1e999}', "out of range"),
        (b'{"a":"\\ud800","a":1}', TWICE),  # the object's keys before its texts
    ],
)
def test_a_key_twice_with_another_fault_is_refused_for_one_of_them(raw: bytes, why: str) -> None:
    with pytest.raises(strict.WireError, match=why):
        strict.load(raw, "x")


@given(
    st.recursive(
        st.none() | st.booleans() | st.integers(-(2**40), 2**40) | st.text(max_size=5),
        lambda inner: (
            st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=3), inner, max_size=4)
        ),
        max_leaves=20,
    ),
    st.data(),
)
def test_any_object_with_a_key_said_again_is_refused_and_without_is_taken(
    value: Any, data: st.DataObject
) -> None:
    """Taken as it was written when no key repeats; refused when one object, anywhere in it,
    repeats one of its keys."""
    text = json.dumps(value)
    if "\\ud" not in text.lower():  # lone surrogates are refused for their own reason
        assert strict.load(text.encode(), "x") == value
    objects = [node for node in _objects(value) if node]
    if not objects:
        return
    chosen = data.draw(st.sampled_from(objects))
    key = data.draw(st.sampled_from(sorted(chosen)))
    with pytest.raises(strict.WireError, match=TWICE):
        strict.load(_dumped_twice(value, chosen, key).encode(), "x")


def _objects(value: Any) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    stack = [value]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            found.append(node)
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)
    return found


def _dumped_twice(value: Any, chosen: dict[str, Any], key: str) -> str:
    """`value` as JSON with `chosen[key]` written twice (`chosen` found by identity)."""
    if isinstance(value, list):
        return "[" + ",".join(_dumped_twice(v, chosen, key) for v in value) + "]"
    if isinstance(value, dict):
        members = [
            f"{json.dumps(k)}:{_dumped_twice(v, chosen, key)}"
            for k, v in value.items()
            for _ in range(2 if value is chosen and k == key else 1)
        ]
        return "{" + ",".join(members) + "}"
    return json.dumps(value)


# --- the hub's local socket ---------------------------------------------------------------


@pytest.mark.parametrize(
    "line",
    [
        b'{"op":"call_me","request_id":"abcdefgh","request_id":"zzzzzzzz"}\n',
        b'{"op":"status","op":"call_me","request_id":"abcdefgh"}\n',
        b'{"op":"answer","values":{"q1":1,"q1":2}}\n',
    ],
)
def test_a_socket_request_with_a_key_twice_is_a_bad_request(line: bytes) -> None:
    with pytest.raises(BadRequest, match=TWICE):
        parse_request(line)


async def _ask(path: Path, line: bytes) -> dict[str, Any]:
    reader, writer = await asyncio.open_unix_connection(str(path))
    writer.write(line)
    await writer.drain()
    try:
        got = await asyncio.wait_for(reader.readline(), 30)
    finally:
        writer.close()
    answer: dict[str, Any] = json.loads(got)
    return answer


async def test_the_socket_refuses_a_key_twice_and_keeps_answering(
    daemon: FakeDaemon, sock_path: Path
) -> None:
    await daemon.start()
    for line in (
        b'{"op":"call_me","request_id":"abcdefgh","request_id":"zzzzzzzz"}\n',
        b'{"op":"call_me","request_id":"abcdefgh","x":{"y":1,"y":2}}\n',
    ):
        answer = await _ask(sock_path, line)
        assert answer["ok"] is False and TWICE in answer["error"], answer
        good = await _ask(sock_path, b'{"op":"call_me","request_id":"good-0001"}\n')
        assert good["ok"] is True, good
    assert daemon.call_requests == ["good-0001", "good-0001"]


# --- MQTT payloads ------------------------------------------------------------------------


def test_a_batch_header_with_a_key_twice_is_refused() -> None:
    raw = (
        b'{"v":1,"suite":"x25519","hub_id":"hub-0001","hub_id":"hub-0002","batch_id":"b",'
        b'"seq_first":1,"seq_last":1,"count":1,"key_id":"k","created_at":"c"}'
    )
    with pytest.raises(EnvelopeError, match=TWICE):
        BatchHeader.from_bytes(raw)


@pytest.mark.parametrize(
    "plain",
    [
        canonical_json(item(7, 128.0))[:-1] + b',"outcome":"ok"}',
        canonical_json(item(7, 128.0)).replace(
            b'"values":{"systolic":128.0}', b'"values":{"systolic":128.0,"systolic":300.0}'
        ),
    ],
)
def test_an_item_with_a_key_twice_is_refused_both_ways(plain: bytes) -> None:
    """The one-step reading hands it to the strict way, which refuses it (never last wins)."""
    assert _plain_item(plain, 7) is None
    with pytest.raises(EnvelopeError, match=TWICE):
        read_item(plain, 7)


def test_an_ack_or_document_body_with_a_key_twice_is_refused() -> None:
    with pytest.raises(EnvelopeError, match=TWICE):
        read_object(b'{"v":2,"hub_id":"hub-0001","hub_id":"hub-0002"}', "ack", 2)


class _PlanTwice(Document):
    """A care plan whose signed body gives its phone number twice (the centre's signature is
    good: the refusal is the reader's, not the signature's)."""

    def body(self) -> bytes:
        return (
            super()
            .body()
            .replace(
                b'"centre_phone":"+47 55 00 00 00"',
                b'"centre_phone":"+47 55 00 00 00","centre_phone":"+47 99 99 99 99"',
            )
        )


def test_a_care_plan_document_with_a_key_twice_is_refused_by_the_hub() -> None:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    centre = Ed25519PrivateKey.generate()
    hub = new_hub_key("x25519")[1]
    plan = CarePlan(centre_phone="+47 55 00 00 00")
    doc = _PlanTwice("care_plan", "hub-0001", 3, "2026-11-22T10:00:00.000+00:00", plan)
    assert b'"centre_phone":"+47 99' in doc.body()
    sealed = seal_document(doc, centre, hub.public)
    with pytest.raises(EnvelopeError, match="the key 'centre_phone' is given twice"):
        open_document(sealed, centre.public_key(), hub, "hub-0001", "care_plan", 0)


def test_a_hub_status_with_a_key_twice_is_refused() -> None:
    raw = b'{"hub_id":"hub-0001","hub_id":"hub-0002","state":"online"}'
    with pytest.raises(StatusError, match=TWICE):
        read_status(raw, "hub-0001")


# --- the centre ---------------------------------------------------------------------------


def test_a_questionnaire_uploaded_with_a_key_twice_is_refused_by_the_care_plan_editor() -> None:
    item_ = '{"linkId":"q1","type":"integer","type":"string","text":"Hvor mange?"}'
    uploaded = (
        '{"resourceType":"Questionnaire","url":"urn:test:twice","status":"active",'
        f'"item":[{item_}]}}'
    )
    plan = check_plan(
        EditorInput(
            schedule=(ScheduleRow("questionnaire", ("08:00",)),),
            uploaded_questionnaire=uploaded,
        )
    )
    assert not isinstance(plan, CarePlan)
    (problem,) = [p for p in plan if p.code == Code.QUESTIONNAIRE_MALFORMED]
    assert "the key 'type' is given twice" in str(problem.params["reason"])


def test_send_care_plan_refuses_a_file_with_a_key_twice(tmp_path: Path) -> None:
    file = tmp_path / "plan.json"
    file.write_text('{"centre_phone":"+47 55 00 00 00","centre_phone":"+47 99 99 99 99"}')
    args = argparse.Namespace(file=file, config=tmp_path / "none.toml", hub_id="hub-0001")
    with pytest.raises(ConfigError, match="the key 'centre_phone' is given twice"):
        _send_care_plan(args)


def test_an_enrolment_bundle_with_a_key_twice_is_refused() -> None:
    raw = b'{"bundle":{"v":2},"signature":"AAAA","signature":"BBBB"}'
    with pytest.raises(BundleError, match=r"not an enrolment bundle: .*'signature' is given twice"):
        open_bundle(raw)
