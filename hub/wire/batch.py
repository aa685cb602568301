"""A batch: outbox items (each sealed at rest) and the segment keys they need, in an envelope.

Body (canonical JSON, inside the signed and sealed envelope):

    {"items": [{"seq": 17, "segment": "<uuid>", "sealed": "<base64>"}, ...],
     "segments": [{"segment": "<uuid>", "centre_key_id": "...", "suite": "x25519",
                   "sealed_key": "<base64>"}, ...]}

Pure functions; no I/O.
"""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Annotated, Any, Literal

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305
from pydantic import AfterValidator, Field, ValidationError, ValidationInfo, create_model

from hub.core.call_request import KIND as CALL_KIND
from hub.core.call_request import CallRequestValues
from hub.core.canonical import canonical_json
from hub.core.outbox import SealedItem, SealedSegment
from hub.core.problems import first_problem
from hub.core.reading import WIRE_FIELDS
from hub.wire import strict
from hub.wire.envelope import (
    KEY_ID,
    MAX_ITEMS,
    UUID,
    BatchHeader,
    EnvelopeError,
    Seq,
    open_envelope,
    seal_envelope,
)
from hub.wire.sealing import ITEM_DEPTH, open_item_with, open_segment, read_item
from hub.wire.strict import MAX_INT, Stamp
from hub.wire.suites import CentreKey, CentreKeyPair

MAX_RAW_HEX = 2 * 128 * 1024  # a questionnaire response is at most 64 KiB (docs/protocol.md)
MAX_SEALED_ITEM = 1024 * 1024  # base64 of one sealed item, far beyond any real reading


@dataclass(frozen=True)
class OpenedBatch:
    header: BatchHeader
    items: list[dict[str, Any]]
    refused: dict[int, str]  # seq -> why that item cannot be stored
    values_json: list[str] = field(default_factory=list)
    """Each item's values as json.dumps writes them (what the centre stores), in the items'
    order: made by the check of their size, so the store need not make it again."""


def build_batch(
    hub_id: str,
    items: Sequence[SealedItem],
    segments: Sequence[SealedSegment],
    hub_key: Ed25519PrivateKey,
    centre: CentreKey,
    created_at: str,
) -> tuple[BatchHeader, bytes]:
    seqs = [item.seq for item in items]
    header = BatchHeader(
        hub_id=hub_id,
        batch_id=str(uuid.uuid4()),
        seq_first=min(seqs),
        seq_last=max(seqs),
        count=len(items),
        key_id=centre.key_id,
        created_at=created_at,
        suite=centre.suite,
    )
    return header, seal_envelope(header, batch_body(items, segments), hub_key, centre)


def batch_body(items: Sequence[SealedItem], segments: Sequence[SealedSegment]) -> bytes:
    return canonical_json(
        {
            "items": [
                {
                    "seq": i.seq,
                    "segment": i.segment_id,
                    "sealed": base64.b64encode(i.sealed).decode(),
                }
                for i in items
            ],
            "segments": [
                {
                    "segment": s.segment_id,
                    "centre_key_id": s.centre_key_id,
                    "suite": s.suite,
                    "sealed_key": base64.b64encode(s.sealed_key).decode(),
                }
                for s in segments
            ],
        }
    )


def open_batch(
    envelope: bytes,
    keyring: dict[str, CentreKeyPair],
    hub_verify_key: Ed25519PublicKey,
) -> OpenedBatch:
    """Open, verify and unseal a batch. Raises EnvelopeError saying why the whole batch must be
    rejected (envelope, signature, body, header mismatch, a segment key that does not open: all
    things a sender can put right and send again). An item that cannot be used is refused on
    its own, with its reason in `refused`, so one bad item never blocks the readings after it."""
    header, body = open_envelope(envelope, keyring, hub_verify_key)
    what = "signed batch body"
    parsed = strict.parse(
        _BodySchema, strict.load(body, what, 3, EnvelopeError), what, EnvelopeError
    )
    _check_header(header, [i.seq for i in parsed.items])
    named = {i.segment for i in parsed.items}
    if len(parsed.segments) > len(parsed.items):
        raise EnvelopeError("signed batch body is malformed: more segment keys than items")
    keys = {
        s.segment: open_segment(header.hub_id, seg, _private(keyring, seg))
        for s in parsed.segments
        if s.segment in named
        for seg in [
            SealedSegment(
                s.segment, s.centre_key_id, s.suite, _b64(s.sealed_key, f"segment {s.segment}")
            )
        ]
    }
    ciphers = {segment: ChaCha20Poly1305(key) for segment, key in keys.items()}
    items: list[dict[str, Any]] = []
    texts: list[str] = []
    refused: dict[int, str] = {}
    for entry in parsed.items:
        try:
            item, text = _open_one(header.hub_id, entry, ciphers)
        except EnvelopeError as exc:
            refused[entry.seq] = str(exc)
        else:
            items.append(item)
            texts.append(text)
    return OpenedBatch(header, items, refused, texts)


def _open_one(
    hub_id: str, entry: _BodyItem, ciphers: dict[str, ChaCha20Poly1305]
) -> tuple[dict[str, Any], str]:
    """The item, and its values as json.dumps writes them; `ciphers`: each segment key's."""
    if entry.segment not in ciphers:
        raise EnvelopeError(f"item {entry.seq} names segment {entry.segment}, not in the batch")
    plain = open_item_with(
        ciphers[entry.segment],
        hub_id,
        entry.segment,
        entry.seq,
        _b64(entry.sealed, f"item {entry.seq}"),
    )
    made: dict[str, str] = {}  # _bounded_values leaves the values' JSON here
    item = _plain_item(plain, entry.seq, made)
    if item is None:  # the strict way decides: it refuses saying why, or takes it
        made.clear()
        item = strict.parse(
            WireItem,
            read_item(plain, entry.seq),
            f"item {entry.seq}",
            EnvelopeError,
            context=made,
        ).model_dump()
    if item["kind"] == CALL_KIND:
        # A call request is acted on by a nurse: its values must be exactly what the hub
        # sends (hub/core/call_request.py), or it is refused alone, saying why.
        try:
            CallRequestValues.model_validate(item["values"])
        except ValidationError as exc:
            raise EnvelopeError(
                f"item {entry.seq} is not valid: values.{first_problem(exc, '(top)')}"
            ) from None
    return item, made[_VALUES_JSON]


def _plain_item(
    plain: bytes, seq: int, context: dict[str, str] | None = None
) -> dict[str, Any] | None:
    """The item, read and checked in one step, when that step can vouch for it; None when the
    strict way (strict.load, then WireItem) must decide. It is the same item either way: what
    the one step takes, the strict way takes, and the same (tests/test_wire_item_fast.py).
    A third faster than the strict way for an ordinary reading (bench/ingest.py)."""
    # Nesting: no deeper than the brackets. Lone surrogates: pydantic's parser refuses them.
    if plain.count(b"{") + plain.count(b"[") > ITEM_DEPTH or b"\\u" in plain:
        return None
    try:
        taken = WireItem.model_validate_json(plain, context=context)
    except ValidationError:
        return None
    # Its fields as validated, not model_dump's copy (a tenth of the item's checks): parsed
    # from this text, they are the model's own, and it is dropped here. The same values of
    # the same types (tests/test_wire_item_fast.py).
    item: dict[str, Any] = taken.__dict__
    if item["seq"] != seq or _colons_and_numbers(item) != plain.count(b":"):
        return None
    return item


def _colons_and_numbers(item: dict[str, Any]) -> int:
    """The colons the item's JSON holds if no key in it is said twice; -1 for a number the
    strict way refuses, or might. Pydantic's parser takes NaN, 1e999 (infinite) and integers
    of any length, and a float field makes a float of 2**70: all left to the strict way, which
    refuses a bad number also under a key said again, where another value replaces it. The
    count tells such a text: without \\u escapes, a colon in the text is one in a string or
    one after a key, so a key said again (and the text of its value) gives more colons.

    Walked without a stack: the item's texts and numbers in one pass over its values, and
    over those of an object among them (a reading's values: numbers, mostly), an empty list
    (its problems, mostly) passed by; what nests deeper by `_nested` (the same count,
    tests/test_wire_item_fast.py)."""
    texts = [*item]  # keys, then the texts among the values: their colons counted at once
    nested = len(item)
    for node in item.values():
        kind = type(node)  # parsed JSON: exactly these types
        if kind is str:
            texts.append(node)
        elif kind is float:
            if not abs(node) < MAX_INT:  # also NaN
                return -1
        elif kind is int:
            if abs(node) > MAX_INT:
                return -1
        elif kind is dict:
            texts.extend(node)  # its keys, each with its colon
            nested += len(node)
            for inner in node.values():
                kind = type(inner)
                if kind is str:
                    texts.append(inner)
                elif kind is float:
                    if not abs(inner) < MAX_INT:
                        return -1
                elif kind is int:
                    if abs(inner) > MAX_INT:
                        return -1
                elif kind is dict or kind is list:
                    deeper = _nested(inner)
                    if deeper < 0:
                        return -1
                    nested += deeper
        elif kind is list and node:
            deeper = _nested(node)
            if deeper < 0:
                return -1
            nested += deeper
    return "".join(texts).count(":") + nested


def _nested(value: dict[str, Any] | list[Any]) -> int:
    """`_colons_and_numbers` of a list or object inside the item, walked by stack."""
    colons = 0
    stack: list[Any] = [value]
    pop, push = stack.pop, stack.extend
    while stack:
        node = pop()
        kind = type(node)
        if kind is str:
            colons += node.count(":")
        elif kind is dict:
            colons += len(node) + "".join(node).count(":")
            push(node.values())
        elif kind is list:
            push(node)
        elif kind is float:
            if not abs(node) < MAX_INT:  # also NaN
                return -1
        elif kind is int and abs(node) > MAX_INT:
            return -1
    return colons


def _check_header(header: BatchHeader, seqs: list[int]) -> None:
    if len(seqs) != header.count or len(set(seqs)) != len(seqs):
        raise EnvelopeError("batch item count does not match its header")
    if min(seqs) != header.seq_first or max(seqs) != header.seq_last:
        raise EnvelopeError("batch sequence numbers do not match its header")


class _BodyItem(strict.Schema):
    seq: Seq
    segment: Annotated[str, Field(pattern=UUID)]
    sealed: Annotated[str, Field(max_length=MAX_SEALED_ITEM)]


class _BodySegment(strict.Schema):
    segment: Annotated[str, Field(pattern=UUID)]
    centre_key_id: Annotated[str, Field(pattern=KEY_ID)]
    suite: Literal["x25519", "mlkem768-x25519"]
    sealed_key: Annotated[str, Field(max_length=4096)]


class _BodySchema(strict.Schema):
    items: Annotated[list[_BodyItem], Field(min_length=1, max_length=MAX_ITEMS)]
    segments: Annotated[list[_BodySegment], Field(max_length=MAX_ITEMS)]


# Printable ASCII: what the hub writes there (addresses, UUIDs, sources, ISO times, codes); never
# a NUL, which PostgreSQL cannot store in text and which refused a whole batch there.
Text = Annotated[str, Field(pattern=r"^[\x20-\x7e]{1,64}$")]
MAX_VALUES = 80 * 1024  # a reading's values as JSON: a questionnaire response is at most 64 KiB
# json.dumps(...) and json.dumps(..., ensure_ascii=False), without making an encoder each time
_stored_json = json.JSONEncoder().encode
_as_json = json.JSONEncoder(ensure_ascii=False).encode
_VALUES_JSON = "values_json"  # where _bounded_values leaves the text, in a validation's context


def _bounded_values(values: dict[str, Any], info: ValidationInfo) -> dict[str, Any]:
    """At most MAX_VALUES bytes of UTF-8 JSON. The text the centre stores (json.dumps's, all
    ASCII) is the same text when it holds no \\u escape (nothing beyond ASCII, no DEL, no
    control character but those with a short escape, which both write alike): then its
    length is the size; else the size is measured on the UTF-8 text. The stored text is left
    in the validation's context, if there is one."""
    text = _stored_json(values)
    size = len(text) if "\\u" not in text else len(_as_json(values).encode())
    if size > MAX_VALUES:
        raise ValueError(f"values take {size} bytes as JSON, more than {MAX_VALUES}")
    if isinstance(info.context, dict):
        info.context[_VALUES_JSON] = text
    return values


Seconds = float  # finite (strict.load): a device clock may be centuries off


# What the centre accepts for each field of a reading on the wire. The fields themselves come from
# hub/core/reading.py's READING_FIELDS: a field added there without a type here stops the import.
_ITEM_TYPES: dict[str, Any] = {
    "seq": Seq,
    "kind": Annotated[str, Field(pattern=r"^[a-z0-9_]{1,64}$")],
    "characteristic": Text,
    "device_address": Text,
    "device_time": Annotated[str, Field(pattern=r"^[\x20-\x7e]{1,40}$")] | None,
    "measured_at": Stamp,
    "time_source": Literal["device", "device_corrected", "hub_received"],
    "clock_correction_s": Seconds | None,
    "hub_clock_synced": bool,
    "hub_clock_offset_s": Seconds | None,
    "received_at": Stamp,
    "outcome": Literal["ok", "flagged", "failed"],
    "problems": Annotated[
        list[Annotated[str, Field(pattern=r"^[\x20-\x7e]{1,128}$")]], Field(max_length=64)
    ],
    "raw_hex": Annotated[str, Field(pattern=r"^(?:[0-9a-f]{2})*$", max_length=MAX_RAW_HEX)],
    "values": Annotated[dict[str, Any], AfterValidator(_bounded_values)],
}
if set(_ITEM_TYPES) != {f.name for f in WIRE_FIELDS}:
    raise TypeError(
        f"hub/wire/batch.py: wire types {sorted(_ITEM_TYPES)} do not match the reading's wire "
        f"fields {[f.name for f in WIRE_FIELDS]} (hub/core/reading.py)"
    )

_item_fields: dict[str, Any] = {f.name: (_ITEM_TYPES[f.name], ...) for f in WIRE_FIELDS}
WireItem = create_model("WireItem", __base__=strict.Schema, **_item_fields)
"""One reading as the centre receives it (docs/protocol.md, "Items sealed at rest")."""


def _b64(text: str, what: str) -> bytes:
    try:
        return base64.b64decode(text, validate=True)
    except ValueError:
        raise EnvelopeError(f"signed batch body is malformed: {what} is not base64") from None


def _private(keyring: dict[str, CentreKeyPair], segment: SealedSegment) -> Any:
    pair = keyring.get(segment.centre_key_id)
    if pair is None:
        raise EnvelopeError(
            f"segment {segment.segment_id} is sealed to unknown centre key id "
            f"{segment.centre_key_id}: was a retired centre key deleted too early?"
        )
    if pair.public.suite != segment.suite:
        raise EnvelopeError(f"centre key {segment.centre_key_id} is not a {segment.suite} key")
    return pair.private
