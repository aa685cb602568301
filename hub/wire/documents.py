"""What the centre sends a hub: care plans, messages for the patient, new centre keys, and the
nurse's answer to a call request.

Every document is signed by the centre, numbered, and sealed to the hub: `version` grows by one
or more with each document of its type for this hub. The hub takes a document only if it opens
with the hub's own encryption key under the topic it came on, the signature is the centre's,
its body names this hub and the topic's document type, and its version is newer than the one it
holds; anything else is refused and logged, and changes nothing. Wire format, version 2
(docs/protocol.md "Downlink"):

    b"DHD2" || key_id(16 ascii hex) || hpke_enc || ciphertext
    info      = "no.dho.centre/v2/downlink\0" || canonical_json({"hub_id", "key_id", "type"})
    plaintext = ed25519_signature(64) || body
    body      = canonical_json({"v": 2, "type": ..., "hub_id": ..., "version": n,
                                "issued_at": ..., "content": {...}})

Sign-then-seal, as the uplink: the broker operator sees the topic and the size, never the
content; a document sealed for one hub's topic does not open on another's or under another type.
Pure functions and models; no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from cryptography.exceptions import InvalidSignature, InvalidTag
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from pydantic import BaseModel, ConfigDict, ValidationError, model_validator

from hub.core.call_request import CallAcknowledged
from hub.core.canonical import canonical_json
from hub.core.care_plan import CarePlan, PatientMessage
from hub.wire.envelope import EnvelopeError, read_object
from hub.wire.public_keys import KeyFileError
from hub.wire.suites import CentreKey, CentreKeyPair, centre_key, suite_for

MAGIC = b"DHD2"
VERSION = 2
SIGNATURE_CONTEXT = b"no.dho.centre/v2/downlink-signature\x00"
SEAL_INFO = b"no.dho.centre/v2/downlink\x00"
KEY_ID_BYTES = 16
MAX_DOCUMENT = 1024 * 1024  # a care plan with its questionnaire is tens of kilobytes
MAX_DEPTH = 32  # a FHIR questionnaire nests a handful of levels
MAX_VERSION = 2**53  # what every JSON reader keeps exact


class AlreadyHeld(EnvelopeError):
    """The same document again (a retained copy on reconnect): nothing to do."""


class _Frozen(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


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


CONTENT: dict[str, type[BaseModel]] = {
    "care_plan": CarePlan,
    "message": PatientMessage,
    "centre_key": CentreKeyNotice,
    "call_ack": CallAcknowledged,  # a nurse is calling the patient about her request
}


@dataclass(frozen=True)
class Document:
    doc_type: str
    hub_id: str
    version: int
    issued_at: str
    content: Any  # CarePlan | PatientMessage | CentreKeyNotice

    def body(self) -> bytes:
        return canonical_json(
            {
                "v": VERSION,
                "type": self.doc_type,
                "hub_id": self.hub_id,
                "version": self.version,
                "issued_at": self.issued_at,
                "content": self.content.model_dump(mode="json", exclude_none=True),
            }
        )


def sign_document(doc: Document, centre_key: Ed25519PrivateKey) -> bytes:
    """The inner layer: the centre's signature, then the body."""
    body = doc.body()
    return centre_key.sign(SIGNATURE_CONTEXT + body) + body


def _info(hub_id: str, doc_type: str, key_id: str) -> bytes:
    return SEAL_INFO + canonical_json({"hub_id": hub_id, "key_id": key_id, "type": doc_type})


def seal_document(doc: Document, centre_key: Ed25519PrivateKey, hub_key: CentreKey) -> bytes:
    """Sign, then seal to the hub's encryption key under the document's topic."""
    info = _info(doc.hub_id, doc.doc_type, hub_key.key_id)
    sealed = suite_for(hub_key.suite).encrypt(
        sign_document(doc, centre_key), hub_key.public_key, info=info
    )
    return MAGIC + hub_key.key_id.encode() + sealed


def open_document(
    message: bytes,
    centre_verify: Ed25519PublicKey,
    hub_key: CentreKeyPair,
    hub_id: str,
    doc_type: str,
    held_version: int,
) -> Document:
    """The document that came on this hub's `doc_type` topic, if the hub must take it;
    EnvelopeError saying why not otherwise."""
    if doc_type not in CONTENT:
        raise EnvelopeError(f"unknown downlink document type {doc_type!r}")
    signed = _unseal(message, hub_key, hub_id, doc_type)
    signature, body = signed[:64], signed[64:]
    try:
        centre_verify.verify(signature, SIGNATURE_CONTEXT + body)
    except InvalidSignature as exc:
        raise EnvelopeError(f"{doc_type} is not signed by the centre") from exc
    doc = _document(_strict_json(body, doc_type), doc_type)
    if doc.hub_id != hub_id:
        raise EnvelopeError(f"{doc_type} is for hub {doc.hub_id}, not {hub_id}")
    if doc.version == held_version:
        raise AlreadyHeld(f"{doc_type} version {doc.version} is held already")
    if doc.version < held_version:
        raise EnvelopeError(
            f"{doc_type} version {doc.version} is not newer than the one held ({held_version})"
        )
    return doc


def _unseal(message: bytes, hub_key: CentreKeyPair, hub_id: str, doc_type: str) -> bytes:
    if message[: len(MAGIC)] != MAGIC:
        if len(message) > 64 and message[64:65] == b"{":
            raise EnvelopeError(
                f"{doc_type} is a version 1 document (signed, not sealed): this hub takes only "
                "sealed version 2 documents; update the centre software and send it again"
            )
        raise EnvelopeError(f"{doc_type} is not a sealed downlink document")
    if len(message) > MAX_DOCUMENT + 4096:
        raise EnvelopeError(f"{doc_type} is {len(message)} bytes, more than a document may be")
    start = len(MAGIC)
    key_id = message[start : start + KEY_ID_BYTES].decode("ascii", "replace")
    if key_id != hub_key.public.key_id:
        raise EnvelopeError(
            f"{doc_type} is sealed to hub encryption key {key_id!r}, not this hub's "
            f"{hub_key.public.key_id}: meant for another hub, or for this hub before it was "
            "enrolled again"
        )
    try:
        return suite_for(hub_key.public.suite).decrypt(
            message[start + KEY_ID_BYTES :], hub_key.private, info=_info(hub_id, doc_type, key_id)
        )
    except (InvalidTag, ValueError) as exc:
        raise EnvelopeError(
            f"{doc_type} does not open: altered, or sealed for another hub's "
            "or another document type's topic"
        ) from exc


def _strict_json(body: bytes, doc_type: str) -> dict[str, Any]:
    """The signed body as a JSON object: bounded in size and depth, finite numbers, valid text."""
    if len(body) > MAX_DOCUMENT:
        raise EnvelopeError(f"{doc_type} is {len(body)} bytes, more than a document may be")
    return read_object(body, doc_type, VERSION, MAX_DEPTH)


def _document(obj: dict[str, Any], doc_type: str) -> Document:
    """The body's fields, typed; its type must be the topic's."""
    body_type, hub_id, version = obj.get("type"), obj.get("hub_id"), obj.get("version")
    if body_type != doc_type:
        raise EnvelopeError(f"a {body_type!r} document came on the {doc_type} topic: refused")
    if not isinstance(hub_id, str) or not isinstance(obj.get("issued_at"), str):
        raise EnvelopeError(f"{doc_type} is malformed: hub_id and issued_at must be text")
    if (
        not isinstance(version, int)
        or isinstance(version, bool)
        or not (1 <= version <= MAX_VERSION)
    ):
        raise EnvelopeError(
            f"{doc_type} is malformed: version must be a whole number from 1 "
            f"to {MAX_VERSION}, not {str(version)[:40]}"
        )
    try:
        content = CONTENT[doc_type].model_validate(obj.get("content"))
    except (ValidationError, ValueError, RecursionError) as exc:
        raise EnvelopeError(f"{doc_type} is malformed: {str(exc)[:300]}") from exc
    return Document(doc_type, hub_id, version, obj["issued_at"], content)


def check_sendable(doc: Document) -> None:
    """Refuse, with EnvelopeError, what the hub would refuse (a NaN limit, a questionnaire
    nested too deep or too big, text that is not valid): the centre checks before it numbers a
    document, so no version is spent on one that no hub takes."""
    try:
        body = doc.body()
    except ValueError as exc:  # a lone surrogate does not encode
        raise EnvelopeError(f"{doc.doc_type} is malformed: {str(exc)[:200]}") from exc
    _document(_strict_json(body, doc.doc_type), doc.doc_type)


def stored_document(doc_type: str, content: object) -> BaseModel:
    """A document the hub kept, read back at start: ValueError if it no longer validates."""
    try:
        return CONTENT[doc_type].model_validate(content)
    except ValidationError as exc:
        raise ValueError(f"stored {doc_type} no longer validates: {str(exc)[:300]}") from exc
