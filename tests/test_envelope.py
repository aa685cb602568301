"""Batch envelopes and acknowledgements: pure functions, byte-level tampering."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from hub.core.canonical import canonical_json
from hub.core.outbox import SealedItem, SealedSegment
from hub.wire.batch import batch_body, build_batch, open_batch
from hub.wire.envelope import (
    ACK_CONTEXT,
    Ack,
    BatchHeader,
    EnvelopeError,
    clock_offset_s,
    open_ack,
    read_header,
    seal_envelope,
    sign_ack,
    to_ranges,
)
from hub.wire.sealing import ItemSealer
from hub.wire.suites import CentreKey, CentreKeyPair, x25519_pair

HUB_KEY = Ed25519PrivateKey.generate()
CENTRE = x25519_pair(X25519PrivateKey.generate())
CENTRE_SIGNING = Ed25519PrivateKey.generate()
CREATED = "2026-11-22T10:00:00.000+00:00"
BATCH_ID = "6f1c2d0e-8a4b-4c57-9b1e-2f0d3c4a5b6e"


def item(seq: int, systolic: float) -> dict[str, object]:
    return {
        "seq": seq,
        "kind": "blood_pressure",
        "characteristic": "2a35",
        "device_address": "00:BB:00:00:00:02",
        "device_time": None,
        "received_at": "2026-11-22T10:00:00.000+00:00",
        "raw_hex": f"{seq:08x}",
        "values": {"systolic": systolic},
        "measured_at": "2026-11-22T10:00:00+00:00",
        "time_source": "hub_received",
        "clock_correction_s": None,
        "hub_clock_synced": True,
        "hub_clock_offset_s": -0.25,
        "outcome": "ok",
        "problems": [],
    }


ITEMS = [item(7, 128.0), item(8, 131.0)]


def seal_items(
    items: list[dict[str, Any]], hub_id: str = "hub-0001", centre: CentreKey = CENTRE.public
) -> tuple[list[SealedItem], list[SealedSegment]]:
    """Items as the hub's store seals them when it stores them."""
    sealer = ItemSealer(hub_id, centre)
    sealed_items, segments = [], {}
    for it in items:
        segment, blob = sealer.seal(int(it["seq"]), it)
        sealed_items.append(SealedItem(int(it["seq"]), segment.segment_id, blob))
        segments[segment.segment_id] = segment.public()
    return sealed_items, list(segments.values())


def header(**changes: object) -> BatchHeader:
    fields: dict[str, object] = dict(
        hub_id="hub-0001",
        batch_id=BATCH_ID,
        seq_first=7,
        seq_last=8,
        count=2,
        key_id=CENTRE.public.key_id,
        created_at=CREATED,
    )
    fields.update(changes)
    return BatchHeader(**fields)  # type: ignore[arg-type]


def sealed(
    h: BatchHeader | None = None,
    items: list[dict[str, object]] | None = None,
    hub_key: Ed25519PrivateKey = HUB_KEY,
) -> bytes:
    """A batch under a header of the test's choosing (build_batch makes its own)."""
    h = h or header()
    body = batch_body(*seal_items(items if items is not None else ITEMS, h.hub_id))
    return seal_envelope(h, body, hub_key, CENTRE.public)


def open_(
    envelope: bytes, keyring: dict[str, CentreKeyPair] | None = None
) -> list[dict[str, object]]:
    return open_batch(
        envelope, keyring or {CENTRE.public.key_id: CENTRE}, HUB_KEY.public_key()
    ).items


def opened_and_refused(envelope: bytes) -> tuple[list[int], dict[int, str]]:
    """Which items open, and which are refused on their own (with why)."""
    batch = open_batch(envelope, {CENTRE.public.key_id: CENTRE}, HUB_KEY.public_key())
    return [int(i["seq"]) for i in batch.items], batch.refused


def test_round_trip() -> None:
    assert open_(sealed()) == ITEMS
    header_, envelope = build_batch("hub-0001", *seal_items(ITEMS), HUB_KEY, CENTRE.public, CREATED)
    assert (header_.seq_first, header_.seq_last, header_.count) == (7, 8, 2)
    assert open_(envelope) == ITEMS


def test_header_travels_in_clear_but_body_does_not() -> None:
    envelope = sealed()
    h, _ = read_header(envelope)
    assert h == header()
    assert b"systolic" not in envelope and b"128" not in envelope


@pytest.mark.parametrize("offset", [0, 31, 32, 100, -1])  # HPKE enc, ciphertext, tag
def test_any_flipped_sealed_byte_is_rejected(offset: int) -> None:
    envelope = bytearray(sealed())
    sealed_start = 8 + int.from_bytes(envelope[4:8], "big")
    envelope[offset if offset < 0 else sealed_start + offset] ^= 0x01
    with pytest.raises(EnvelopeError, match="does not open"):
        open_(bytes(envelope))


def test_altered_header_is_rejected() -> None:
    envelope = sealed()
    forged = envelope.replace(b'"seq_last":8', b'"seq_last":9')
    assert forged != envelope
    with pytest.raises(EnvelopeError):
        open_(forged)


def test_batch_signed_by_another_key_is_rejected() -> None:
    with pytest.raises(EnvelopeError, match="not signed by the key enrolled for hub-0001"):
        open_(sealed(hub_key=Ed25519PrivateKey.generate()))


def test_sealed_to_another_centre_key_is_rejected() -> None:
    other = x25519_pair(X25519PrivateKey.generate())
    with pytest.raises(EnvelopeError, match="another centre key"):
        seal_envelope(header(), b"{}", HUB_KEY, other.public)
    # A forger who rewrites the key id: the ciphertext was made for another key.
    envelope = seal_envelope(header(key_id=other.public.key_id), b"{}", HUB_KEY, other.public)
    envelope = envelope.replace(other.public.key_id.encode(), CENTRE.public.key_id.encode())
    with pytest.raises(EnvelopeError, match="does not open"):
        open_(envelope)


def test_unknown_key_id_is_rejected() -> None:
    with pytest.raises(EnvelopeError, match="unknown centre key id"):
        open_(sealed(), keyring={"0000000000000000": CENTRE})


def test_items_must_match_header() -> None:
    with pytest.raises(EnvelopeError, match="count"):
        open_(sealed(items=ITEMS[:1]))
    with pytest.raises(EnvelopeError, match="sequence numbers"):
        open_(sealed(header(seq_first=6)))


@pytest.mark.parametrize(
    "garbage",
    [
        b"",
        b"DHO1",
        b"XXXX\x00\x00\x00\x02{}",
        b"DHO1\xff\xff\xff\xff",
        b"DHO1\x00\x00\x00\x02{}",
        b"DHO1\x00\x00\x00\x04null",
    ],
)
def test_garbage_is_an_envelope_error(garbage: bytes) -> None:
    with pytest.raises(EnvelopeError):
        open_(garbage)


def test_item_missing_a_field_is_refused_alone_not_crashing() -> None:
    broken = [item(7, 128.0), {k: v for k, v in item(8, 131.0).items() if k != "raw_hex"}]
    opened, refused = opened_and_refused(sealed(items=broken))
    assert opened == [7]
    assert "item 8 is not valid: raw_hex: Field required" in refused[8]


def test_non_canonical_header_is_rejected() -> None:
    envelope = sealed()
    h, rest = read_header(envelope)
    spaced = h.to_bytes().replace(b",", b", ")
    forged = b"DHO1" + len(spaced).to_bytes(4, "big") + spaced + rest
    with pytest.raises(EnvelopeError, match="canonical"):
        open_(forged)


ACK = Ack(
    hub_id="hub-0001",
    batch_id=BATCH_ID,
    held=((7, 8),),
    conflicts=(),
    refused=(),
    highest_held=8,
    highest_contiguous=8,
    centre_time="2026-11-22T10:00:01.000+00:00",
)


def test_ack_round_trip() -> None:
    assert open_ack(sign_ack(ACK, CENTRE_SIGNING), CENTRE_SIGNING.public_key(), "hub-0001") == ACK


def test_forged_ack_is_rejected() -> None:
    forged = sign_ack(ACK, Ed25519PrivateKey.generate())
    with pytest.raises(EnvelopeError, match="not signed by the centre"):
        open_ack(forged, CENTRE_SIGNING.public_key(), "hub-0001")
    tampered = bytearray(sign_ack(ACK, CENTRE_SIGNING))
    tampered[-3] ^= 0x01
    with pytest.raises(EnvelopeError):
        open_ack(bytes(tampered), CENTRE_SIGNING.public_key(), "hub-0001")


def test_ack_for_another_hub_is_rejected() -> None:
    with pytest.raises(EnvelopeError, match="not hub-0002"):
        open_ack(sign_ack(ACK, CENTRE_SIGNING), CENTRE_SIGNING.public_key(), "hub-0002")


def _signed_body(body: dict[str, object]) -> bytes:
    raw = canonical_json(body)
    return CENTRE_SIGNING.sign(ACK_CONTEXT + raw) + raw


def test_ack_of_an_unknown_version_is_rejected() -> None:
    body = json.loads(ACK.to_bytes())
    body["v"] = 99
    with pytest.raises(EnvelopeError, match="version 99 is not understood"):
        open_ack(_signed_body(body), CENTRE_SIGNING.public_key(), "hub-0001")


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"held": [[0, 8]]}, "greater than or equal to 1"),
        ({"held": [[9, 7]]}, "impossible"),
        ({"conflicts": [[3]]}, "at least 2 items"),
        ({"refused": [[4, 3]]}, "impossible"),
        ({"held": [[1, 2**53]]}, "less than or equal to"),
        ({"highest_contiguous": -1}, "greater than or equal to 0"),
        ({"highest_held": "8"}, "valid integer"),
        ({"held": "1-8"}, "valid list"),
        ({"centre_time": "yesterday!"}, "centre_time"),
        ({"batch_id": "b-1"}, "batch_id"),
        ({"extra": 1}, "Extra inputs"),
    ],
)
def test_ack_that_is_not_exactly_as_specified_is_rejected(
    change: dict[str, object], reason: str
) -> None:
    body = {**json.loads(ACK.to_bytes()), **change}
    with pytest.raises(EnvelopeError, match=reason):
        open_ack(_signed_body(body), CENTRE_SIGNING.public_key(), "hub-0001")


def test_ack_names_exactly_the_sequence_numbers_held() -> None:
    assert to_ranges([]) == ()
    assert to_ranges([8, 7, 1, 2, 3, 3, 12]) == ((1, 3), (7, 8), (12, 12))
    gap = Ack(
        hub_id="hub-0001",
        batch_id=BATCH_ID,
        held=((20, 20), (1000, 1000)),
        conflicts=((21, 21),),
        refused=((22, 22),),
        highest_held=1000,
        highest_contiguous=20,
        centre_time="2026-11-22T10:00:02.000+00:00",
    )
    # Finding 1 of issue 11: an ack for seqs 20 and 1000 says nothing of 21..999.
    assert [s for s in (19, 20, 21, 500, 999, 1000, 1001) if gap.holds(s)] == [20, 1000]
    assert [s for s in (20, 21, 22) if gap.conflicts_with(s)] == [21]
    assert [s for s in (20, 21, 22) if gap.refuses(s)] == [22]


def test_clock_offset_is_taken_at_the_round_trips_midpoint() -> None:
    sent = datetime(2026, 11, 22, 10, 0, 0, tzinfo=UTC)
    acked = sent + timedelta(milliseconds=200)
    # The centre stamped 10:00:00.100 by its clock; the hub's midpoint is the same: no offset.
    assert clock_offset_s(sent, acked, sent + timedelta(milliseconds=100)) == 0.0
    # A hub that booted without network, 3 days behind the centre.
    assert clock_offset_s(sent, acked, sent + timedelta(days=3, milliseconds=100)) == 259200.0
    assert clock_offset_s(sent, acked, sent - timedelta(seconds=5)) == -5.1
