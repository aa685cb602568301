"""What the centre sends a hub: care plans, messages for the patient, new centre keys.

Every document is signed by the centre and numbered: `version` grows by one or more with each
document of its type for this hub. The hub takes a document only if the signature is the
centre's, it names this hub, and its version is newer than the one it holds; anything else is
refused and logged, and changes nothing. Wire format (docs/protocol.md):

    ed25519_signature(64) || canonical_json({"v": 1, "type": ..., "hub_id": ..., "version": n,
                                             "issued_at": ..., "content": {...}})

Pure functions and models; no I/O.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Literal

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from hub.keys import KeyFileError
from hub.sync.envelope import EnvelopeError, canonical_json, open_signed
from hub.sync.suites import centre_key

DOWNLINK_CONTEXT = b"no.dho.centre/v1/downlink\x00"
VERSION = 1
DocType = Literal["care_plan", "message", "centre_key"]
TOPIC = re.compile(r"^dho/v1/hub/([a-z0-9][a-z0-9-]{2,62})/down/(care_plan|message|centre_key)$")


class AlreadyHeld(EnvelopeError):
    """The same document again (a retained copy on reconnect): nothing to do."""


def downlink_topic(hub_id: str, doc_type: str) -> str:
    return f"dho/v1/hub/{hub_id}/down/{doc_type}"


class _Frozen(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Limit(_Frozen):
    """A value outside [min, max] makes the reading urgent: it goes to the centre at once."""

    min: float | None = None
    max: float | None = None


class ScheduledMeasurement(_Frozen):
    kind: str
    times: tuple[str, ...] = Field(default=(), description="local times, HH:MM")


class CarePlan(_Frozen):
    schedule: tuple[ScheduledMeasurement, ...] = ()
    # kind -> value name -> limits, e.g. {"blood_pressure": {"systolic": {"max": 180}}}
    thresholds: dict[str, dict[str, Limit]] = {}
    questionnaire: dict[str, Any] | None = None  # a FHIR Questionnaire (issue 5)
    centre_phone: str | None = None


class PatientMessage(_Frozen):
    text: str = Field(min_length=1, max_length=2000)


class CentreKeyNotice(_Frozen):
    encryption_key: str
    encryption_suite: str

    @model_validator(mode="after")
    def _usable(self) -> CentreKeyNotice:
        # A key the hub cannot seal to must be refused before it is kept, not at the next start.
        try:
            centre_key(self.encryption_suite, self.encryption_key)
        except KeyFileError as exc:
            raise ValueError(str(exc)) from exc
        return self


CONTENT: dict[str, type[_Frozen]] = {
    "care_plan": CarePlan, "message": PatientMessage, "centre_key": CentreKeyNotice}


@dataclass(frozen=True)
class Document:
    doc_type: str
    hub_id: str
    version: int
    issued_at: str
    content: Any  # CarePlan | PatientMessage | CentreKeyNotice

    def body(self) -> bytes:
        return canonical_json({
            "v": VERSION, "type": self.doc_type, "hub_id": self.hub_id,
            "version": self.version, "issued_at": self.issued_at,
            "content": self.content.model_dump(mode="json", exclude_none=True),
        })


def sign_document(doc: Document, centre_key: Ed25519PrivateKey) -> bytes:
    body = doc.body()
    return centre_key.sign(DOWNLINK_CONTEXT + body) + body


def open_document(message: bytes, centre_verify: Ed25519PublicKey, hub_id: str,
                  held_version: int) -> Document:
    """The document, if the hub must take it; EnvelopeError saying why not otherwise."""
    obj = open_signed(message, centre_verify, DOWNLINK_CONTEXT, "downlink document")
    try:
        doc_type = str(obj["type"])
        if doc_type not in CONTENT:
            raise EnvelopeError(f"unknown downlink document type {doc_type!r}")
        doc = Document(doc_type, str(obj["hub_id"]), int(obj["version"]), str(obj["issued_at"]),
                       CONTENT[doc_type].model_validate(obj["content"]))
    except (ValueError, KeyError, TypeError, ValidationError) as exc:
        if isinstance(exc, EnvelopeError):
            raise
        raise EnvelopeError(f"downlink document is malformed: {exc}") from exc
    if doc.hub_id != hub_id:
        raise EnvelopeError(f"{doc_type} is for hub {doc.hub_id}, not {hub_id}")
    if doc.version == held_version:
        raise AlreadyHeld(f"{doc_type} version {doc.version} is held already")
    if doc.version < held_version:
        raise EnvelopeError(
            f"{doc_type} version {doc.version} is not newer than the one held ({held_version})")
    return doc


def outside_limits(kind: str, values: dict[str, Any], plan: CarePlan | None) -> tuple[str, ...]:
    """Which of a reading's values the care plan says need a nurse now, as problem codes."""
    if plan is None:
        return ()
    problems = []
    for name, limit in plan.thresholds.get(kind, {}).items():
        value = values.get(name)
        if not isinstance(value, int | float) or isinstance(value, bool):
            continue  # absent, or a special value (already a failed reading)
        if limit.min is not None and value < limit.min:
            problems.append(f"{name}_below_care_plan")
        if limit.max is not None and value > limit.max:
            problems.append(f"{name}_above_care_plan")
    return tuple(problems)
