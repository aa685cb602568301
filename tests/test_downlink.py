"""Care plans, messages and key notices from the centre: signed, for this hub, newer than what
it holds, or refused; and a care plan's limits make a reading urgent (pure functions)."""

from __future__ import annotations

import json

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from hub.daemon import to_reading
from hub.devices.blood_pressure import build_blood_pressure_measurement
from hub.store import ROUTINE, URGENT
from hub.sync.downlink import (
    DOWNLINK_CONTEXT,
    AlreadyHeld,
    CarePlan,
    Document,
    Limit,
    PatientMessage,
    open_document,
    outside_limits,
    sign_document,
)
from hub.sync.envelope import EnvelopeError, canonical_json
from tests.test_to_reading import OSLO, STAMP, value

CENTRE = Ed25519PrivateKey.generate()
PLAN = CarePlan(thresholds={"blood_pressure": {"systolic": Limit(min=90, max=160)},
                            "pulse_oximeter": {"spo2": Limit(min=92)}},
                centre_phone="+47 55 00 00 00")


def doc(version: int = 3, hub_id: str = "hub-0001", content: object = PLAN,
        doc_type: str = "care_plan") -> Document:
    return Document(doc_type, hub_id, version, "2026-11-22T10:00:00.000+00:00", content)


def test_a_signed_newer_care_plan_for_this_hub_is_taken() -> None:
    opened = open_document(sign_document(doc(), CENTRE), CENTRE.public_key(), "hub-0001", 2)
    assert opened == doc()
    message = doc(doc_type="message", content=PatientMessage(text="Husk å veie deg i morgen."))
    assert open_document(sign_document(message, CENTRE), CENTRE.public_key(), "hub-0001",
                         0).content.text == "Husk å veie deg i morgen."


def test_forged_foreign_and_older_documents_are_refused() -> None:
    with pytest.raises(EnvelopeError, match="not signed by the centre"):
        open_document(sign_document(doc(), Ed25519PrivateKey.generate()), CENTRE.public_key(),
                      "hub-0001", 0)
    tampered = bytearray(sign_document(doc(), CENTRE))
    tampered[-10] ^= 0x01
    with pytest.raises(EnvelopeError, match="not signed by the centre"):
        open_document(bytes(tampered), CENTRE.public_key(), "hub-0001", 0)
    with pytest.raises(EnvelopeError, match="is for hub hub-0002, not hub-0001"):
        open_document(sign_document(doc(hub_id="hub-0002"), CENTRE), CENTRE.public_key(),
                      "hub-0001", 0)
    with pytest.raises(EnvelopeError, match="version 3 is not newer than the one held \\(5\\)"):
        open_document(sign_document(doc(), CENTRE), CENTRE.public_key(), "hub-0001", 5)
    with pytest.raises(AlreadyHeld):
        open_document(sign_document(doc(), CENTRE), CENTRE.public_key(), "hub-0001", 3)
    with pytest.raises(EnvelopeError):
        open_document(b"short", CENTRE.public_key(), "hub-0001", 0)


def _signed(body: dict[str, object]) -> bytes:
    raw = canonical_json(body)
    return CENTRE.sign(DOWNLINK_CONTEXT + raw) + raw


@pytest.mark.parametrize(("change", "expected"), [
    ({"type": "firmware"}, "unknown downlink document type 'firmware'"),
    ({"v": 2}, "version 2 is not understood"),
    ({"content": {"thresholds": {"blood_pressure": {"systolic": {"max": "high"}}}}},
     "malformed"),
    ({"content": {"colour": "red"}}, "malformed"),
    ({"version": "three"}, "malformed"),
    ({"type": "centre_key", "content": {"encryption_key": "AAAA", "encryption_suite": "x25519"}},
     "must be 32 bytes"),
    ({"type": "centre_key",
      "content": {"encryption_key": "A" * 43 + "=", "encryption_suite": "rsa"}},
     "unknown encryption suite"),
])
def test_signed_but_malformed_documents_are_refused(change: dict[str, object],
                                                    expected: str) -> None:
    body = {**json.loads(doc().body()), **change}
    with pytest.raises(EnvelopeError, match=expected):
        open_document(_signed(body), CENTRE.public_key(), "hub-0001", 0)


def test_limits_name_what_is_outside_them() -> None:
    assert outside_limits("blood_pressure", {"systolic": 171.0}, PLAN) == (
        "systolic_above_care_plan",)
    assert outside_limits("blood_pressure", {"systolic": 85.0}, PLAN) == (
        "systolic_below_care_plan",)
    assert outside_limits("blood_pressure", {"systolic": 120.0}, PLAN) == ()
    assert outside_limits("blood_pressure", {"systolic": "NaN"}, PLAN) == ()  # failed already
    assert outside_limits("weight", {"weight": 200.0}, PLAN) == ()  # no limits for weight
    assert outside_limits("blood_pressure", {"systolic": 171.0}, None) == ()


def test_a_reading_beyond_the_care_plan_is_flagged_and_urgent() -> None:
    high = value(build_blood_pressure_measurement(175, 95, 120, timestamp=STAMP))
    reading = to_reading(high, OSLO, plan=PLAN)
    assert reading is not None
    assert (reading.outcome, reading.priority) == ("flagged", URGENT)
    assert reading.problems == ("systolic_above_care_plan",)
    normal = to_reading(value(build_blood_pressure_measurement(128, 82, 97, timestamp=STAMP)),
                        OSLO, plan=PLAN)
    assert normal is not None and (normal.outcome, normal.priority) == ("ok", ROUTINE)
    no_plan = to_reading(high, OSLO)
    assert no_plan is not None and no_plan.priority == ROUTINE
