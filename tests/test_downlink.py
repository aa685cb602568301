"""Care plans, messages and key notices from the centre: signed, sealed to this hub under the
topic they came on, for this hub and this type, newer than what it holds, or refused; and a care
plan's limits make a reading urgent (pure functions)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from hub.core.canonical import canonical_json
from hub.core.care_plan import CarePlan, Limit, PatientMessage, outside_limits
from hub.core.pipeline import to_reading
from hub.core.reading import ROUTINE, URGENT
from hub.devices.blood_pressure import build_blood_pressure_measurement
from hub.wire.documents import (
    MAGIC,
    SIGNATURE_CONTEXT,
    AlreadyHeld,
    Document,
    check_sendable,
    open_document,
    seal_document,
    sign_document,
    stored_document,
)
from hub.wire.envelope import EnvelopeError
from hub.wire.hub_key import HubKeyPair, load_hub_key, new_hub_key
from hub.wire.suites import suite_for
from tests.test_to_reading import OSLO, STAMP, value

CENTRE = Ed25519PrivateKey.generate()
HUB_RECORD, HUB = new_hub_key("x25519")
OTHER_HUB = new_hub_key("x25519")[1]
PQ_HUB = new_hub_key("mlkem768-x25519")[1]
PLAN = CarePlan(
    thresholds={
        "blood_pressure": {"systolic": Limit(min=90, max=160)},
        "pulse_oximeter": {"spo2": Limit(min=92)},
    },
    centre_phone="+47 55 00 00 00",
)
MESSAGE = PatientMessage(text="Husk å veie deg i morgen.")


def doc(
    version: int = 3, hub_id: str = "hub-0001", content: object = PLAN, doc_type: str = "care_plan"
) -> Document:
    return Document(doc_type, hub_id, version, "2026-11-22T10:00:00.000+00:00", content)


def sealed(d: Document, hub: HubKeyPair = HUB, signer: Ed25519PrivateKey = CENTRE) -> bytes:
    return seal_document(d, signer, hub.public)


def opened(
    payload: bytes,
    doc_type: str = "care_plan",
    held: int = 0,
    hub: HubKeyPair = HUB,
    hub_id: str = "hub-0001",
) -> Document:
    return open_document(payload, CENTRE.public_key(), hub, hub_id, doc_type, held)


def test_a_sealed_signed_newer_care_plan_for_this_hub_is_taken() -> None:
    assert opened(sealed(doc()), held=2) == doc()
    message = doc(doc_type="message", content=MESSAGE)
    assert opened(sealed(message), "message").content.text == "Husk å veie deg i morgen."
    # The post-quantum hybrid suite, when the centre chose it at enrolment.
    assert opened(sealed(doc(), PQ_HUB), hub=PQ_HUB) == doc()
    # The key record a hub keeps loads back to the same key.
    assert load_hub_key(HUB_RECORD).public.raw == HUB.public.raw


def test_content_is_not_in_the_bytes_on_the_wire() -> None:
    """Finding 4: what the broker (or a stolen hub certificate) sees says nothing of the plan
    or the message."""
    for d in (doc(), doc(doc_type="message", content=MESSAGE)):
        payload = sealed(d)
        for secret in (
            b"+47 55 00 00 00",
            b"veie deg",
            b"systolic",
            b"hub-0001",
            b"care_plan",
            b'"version"',
        ):
            assert secret not in payload


def _resealed(
    body: Any, doc_type: str = "care_plan", hub_id: str = "hub-0001", raw: bytes | None = None
) -> bytes:
    """A body signed by the centre and sealed to HUB for `doc_type`'s topic on `hub_id`: what
    only the holder of the centre's signing key could send."""
    data = canonical_json(body) if raw is None else raw
    signed = CENTRE.sign(SIGNATURE_CONTEXT + data) + data
    info = b"no.dho.centre/v2/downlink\x00" + canonical_json(
        {"hub_id": hub_id, "key_id": HUB.public.key_id, "type": doc_type}
    )
    return (
        MAGIC
        + HUB.public.key_id.encode()
        + suite_for("x25519").encrypt(signed, HUB.public.public_key, info=info)
    )


def _flipped(payload: bytes, at: int) -> bytes:
    changed = bytearray(payload)
    changed[at] ^= 0x01
    return bytes(changed)


GOOD = json.loads(doc().body())
GOOD_BYTES = canonical_json(GOOD)
MESSAGE_BODY = json.loads(doc(doc_type="message", content=MESSAGE).body())


def case(
    payload: bytes,
    expected: str,
    doc_type: str = "care_plan",
    held: int = 0,
    hub: HubKeyPair = HUB,
    *,
    id: str,
) -> Any:
    return pytest.param(payload, doc_type, held, hub, expected, id=id)


REFUSED = [
    # Finding 3: a genuine message republished on the care plan topic.
    case(sealed(doc(doc_type="message", content=MESSAGE)), "does not open", id="message-on-plan"),
    # Even sealed for the care plan topic, the signed body says what it is.
    case(
        _resealed(MESSAGE_BODY),
        "a 'message' document came on the care_plan topic",
        id="body-type-not-topic",
    ),
    # Moved between hubs: another hub's document, or this hub's opened by another.
    case(
        sealed(doc(hub_id="hub-0002"), OTHER_HUB),
        "sealed to hub encryption key",
        id="other-hubs-key",
    ),
    case(sealed(doc()), "sealed to hub encryption key", hub=OTHER_HUB, id="opened-by-other-hub"),
    case(_resealed(GOOD, hub_id="hub-0002"), "does not open", id="sealed-for-other-hub-topic"),
    case(
        _resealed({**GOOD, "hub_id": "hub-0002"}),
        "is for hub hub-0002, not hub-0001",
        id="body-names-other-hub",
    ),
    # Replays: the same version is held already, an older one is refused.
    case(sealed(doc()), "AlreadyHeld", held=3, id="same-version"),
    case(
        sealed(doc()),
        "version 3 is not newer than the one held \\(5\\)",
        held=5,
        id="older-version",
    ),
    # Forged; tampered anywhere.
    case(
        sealed(doc(), signer=Ed25519PrivateKey.generate()), "not signed by the centre", id="forged"
    ),
    case(_flipped(sealed(doc()), -10), "does not open", id="tampered-ciphertext"),
    case(_flipped(sealed(doc()), 30), "does not open", id="tampered-encapsulation"),
    case(_flipped(sealed(doc()), 5), "sealed to hub encryption key", id="tampered-key-id"),
    # Old and odd formats.
    case(
        sign_document(doc(), CENTRE),
        "version 1 document \\(signed, not sealed\\)",
        id="v1-signed-only",
    ),
    case(b"short", "not a sealed downlink document", id="short"),
    case(b"", "not a sealed downlink document", id="empty"),
    case(MAGIC + b"x" * (2 * 1024 * 1024), "more than a document may be", id="huge-payload"),
    case(
        sealed(doc()),
        "unknown downlink document type 'firmware'",
        doc_type="firmware",
        id="unknown-topic-type",
    ),
    # Signed and sealed by the centre, but wrong inside.
    case(_resealed({**GOOD, "v": 1}), "version 1 is not understood", id="body-v1"),
    case(_resealed({**GOOD, "v": 3}), "version 3 is not understood", id="body-v3"),
    case(
        _resealed({**GOOD, "type": "firmware"}),
        "a 'firmware' document came on the care_plan topic",
        id="unknown-body-type",
    ),
    *[
        case(_resealed({**GOOD, "version": v}), "version must be a whole number", id=f"version-{v}")
        for v in ("three", True, 0, -1, 2**53 + 1, 3.0, None)
    ],
    case(_resealed({**GOOD, "version": 2**63}), "out of range", id="version-2**63"),
    case(_resealed({**GOOD, "hub_id": ["hub-0001"]}), "must be text", id="hub-id-list"),
    case(_resealed({**GOOD, "issued_at": None}), "must be text", id="issued-at-null"),
    case(_resealed([GOOD]), "not a JSON object", id="body-list"),
    case(_resealed({**GOOD, "content": {"colour": "red"}}), "malformed", id="unknown-field"),
    case(_resealed({**GOOD, "content": [1]}), "malformed", id="content-list"),
    case(
        _resealed(
            {**GOOD, "content": {"thresholds": {"blood_pressure": {"systolic": {"max": "high"}}}}}
        ),
        "malformed",
        id="limit-not-a-number",
    ),
    # Huge, deep, non-finite, not text.
    case(
        _resealed({}, raw=GOOD_BYTES[:-1] + b',"pad":"' + b"x" * 1_100_000 + b'"}'),
        "more than a document may be",
        id="huge-body",
    ),
    case(_resealed({}, raw=b"[" * 5000 + b"]" * 5000), "malformed", id="deep-5000"),
    case(
        _resealed(
            {**GOOD, "content": {"questionnaire": {"item": json.loads("[" * 40 + "]" * 40)}}}
        ),
        "nested deeper than",
        id="deep-questionnaire",
    ),
    case(
        _resealed({}, raw=GOOD_BYTES.replace(b'"max":160', b'"max":Infinity')),
        "malformed",
        id="infinity",
    ),
    case(
        _resealed({}, raw=GOOD_BYTES.replace(b'"max":160', b'"max":1e999')),
        "out of range",
        id="1e999",
    ),
    case(_resealed({}, raw=GOOD_BYTES.replace(b'"max":160', b'"max":NaN')), "malformed", id="nan"),
    case(
        _resealed({}, raw=GOOD_BYTES.replace(b'"version":3', b'"version":' + b"9" * 5000)),
        "malformed",
        id="5000-digit-version",
    ),
    case(
        _resealed({}, raw=GOOD_BYTES.replace(b'"+47', b'"\\ud800+47')),
        "malformed",
        id="lone-surrogate",
    ),
    case(_resealed({}, raw=b"\xff\xfe not json"), "malformed", id="not-utf8"),
    case(
        _resealed({**MESSAGE_BODY, "content": {"text": "x" * 2001}}, doc_type="message"),
        "malformed",
        doc_type="message",
        id="message-too-long",
    ),
    case(
        _resealed({**MESSAGE_BODY, "content": {"text": 42}}, doc_type="message"),
        "malformed",
        doc_type="message",
        id="message-not-text",
    ),
    case(
        _resealed(
            {
                **GOOD,
                "type": "centre_key",
                "content": {"encryption_key": "AAAA", "encryption_suite": "x25519"},
            },
            doc_type="centre_key",
        ),
        "must be 32 bytes",
        doc_type="centre_key",
        id="short-centre-key",
    ),
    case(
        _resealed(
            {
                **GOOD,
                "type": "centre_key",
                "content": {"encryption_key": "A" * 43 + "=", "encryption_suite": "rsa"},
            },
            doc_type="centre_key",
        ),
        "unknown encryption suite",
        doc_type="centre_key",
        id="unknown-suite",
    ),
]


@pytest.mark.parametrize(("payload", "doc_type", "held", "hub", "expected"), REFUSED)
def test_what_the_hub_refuses(
    payload: bytes, doc_type: str, held: int, hub: HubKeyPair, expected: str
) -> None:
    if expected == "AlreadyHeld":
        with pytest.raises(AlreadyHeld):
            opened(payload, doc_type, held, hub)
        return
    with pytest.raises(EnvelopeError, match=expected):
        opened(payload, doc_type, held, hub)


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (CarePlan(thresholds={"weight": {"weight": Limit(max=float("nan"))}}), "malformed"),
        (CarePlan(thresholds={"weight": {"weight": Limit(max=float("inf"))}}), "malformed"),
        (CarePlan(questionnaire={"item": json.loads("[" * 40 + "]" * 40)}), "nested deeper than"),
        (CarePlan(questionnaire={"text": "x" * 1_100_000}), "more than a document may be"),
        (CarePlan(questionnaire={"text": "hei \ud800"}), "malformed"),
    ],
)
def test_the_centre_refuses_to_send_what_the_hub_would_refuse(
    content: CarePlan, expected: str
) -> None:
    with pytest.raises(EnvelopeError, match=expected):
        check_sendable(doc(content=content))
    check_sendable(doc())  # a good one passes


def test_a_stored_document_is_checked_again() -> None:
    assert stored_document("care_plan", PLAN.model_dump(mode="json")) == PLAN
    with pytest.raises(ValueError, match="stored care_plan no longer validates"):
        stored_document("care_plan", {"text": "Husk å veie deg i morgen."})


def test_limits_name_what_is_outside_them() -> None:
    assert outside_limits("blood_pressure", {"systolic": 171.0}, PLAN) == (
        "systolic_above_care_plan",
    )
    assert outside_limits("blood_pressure", {"systolic": 85.0}, PLAN) == (
        "systolic_below_care_plan",
    )
    assert outside_limits("blood_pressure", {"systolic": 120.0}, PLAN) == ()
    assert outside_limits("blood_pressure", {"systolic": "NaN"}, PLAN) == ()  # failed already
    assert outside_limits("weight", {"weight": 200.0}, PLAN) == ()  # no limits for weight
    assert outside_limits("blood_pressure", {"systolic": 171.0}, None) == ()


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        ({"systolic": 17.1, "unit": "kPa"}, ()),  # 128 mmHg: fine, not "below 90"
        ({"systolic": 22.9, "unit": "kPa"}, ("systolic_above_care_plan",)),  # 172 mmHg
        ({"systolic": 11.2, "unit": "kPa"}, ("systolic_below_care_plan",)),  # 84 mmHg
        ({"systolic": 171.0, "unit": "mmHg"}, ("systolic_above_care_plan",)),
    ],
)
def test_limits_are_in_mmhg_whatever_unit_the_cuff_sends(
    values: dict[str, object],
    expected: tuple[str, ...],
) -> None:
    assert outside_limits("blood_pressure", values, PLAN) == expected


def test_a_reading_beyond_the_care_plan_is_flagged_and_urgent() -> None:
    high = value(build_blood_pressure_measurement(175, 95, 120, timestamp=STAMP))
    reading = to_reading(high, OSLO, plan=PLAN)
    assert reading is not None
    assert (reading.outcome, reading.priority) == ("flagged", URGENT)
    assert reading.problems == ("systolic_above_care_plan",)
    normal = to_reading(
        value(build_blood_pressure_measurement(128, 82, 97, timestamp=STAMP)), OSLO, plan=PLAN
    )
    assert normal is not None and (normal.outcome, normal.priority) == ("ok", ROUTINE)
    no_plan = to_reading(high, OSLO)
    assert no_plan is not None and no_plan.priority == ROUTINE
