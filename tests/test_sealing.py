"""Readings sealed at rest: only the centre opens them, they cannot be moved, and the keys
they were sealed to may rotate (also to the post-quantum hybrid) without losing any."""

from __future__ import annotations

import dataclasses

import pytest
from cryptography.hazmat.primitives.asymmetric import mlkem
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from hub.wire.batch import batch_body, build_batch, open_batch
from hub.wire.envelope import EnvelopeError, seal_envelope
from hub.wire.sealing import ItemSealer, open_item, open_segment
from hub.wire.suites import centre_key, hybrid_pair
from tests.test_envelope import (
    CENTRE,
    CREATED,
    HUB_KEY,
    ITEMS,
    header,
    item,
    open_,
    opened_and_refused,
    seal_items,
)

HYBRID = hybrid_pair(mlkem.MLKEM768PrivateKey.generate(), X25519PrivateKey.generate())


def test_sealed_items_say_nothing_and_open_only_at_the_centre() -> None:
    sealed_items, (segment,) = seal_items(ITEMS)
    for s in sealed_items:
        assert b"systolic" not in s.sealed and b"blood" not in s.sealed
    key = open_segment("hub-0001", segment, CENTRE.private)
    assert open_item(key, "hub-0001", segment.segment_id, 7, sealed_items[0].sealed) == ITEMS[0]


def test_an_item_moved_to_another_place_does_not_open() -> None:
    sealed_items, segments = seal_items(ITEMS)
    swapped = [dataclasses.replace(sealed_items[0], sealed=sealed_items[1].sealed), sealed_items[1]]
    opened, refused = opened_and_refused(
        seal_envelope(header(), batch_body(swapped, segments), HUB_KEY, CENTRE.public)
    )
    assert opened == [8] and "item 7 does not open" in refused[7]


def test_a_tampered_item_inside_a_validly_signed_batch_is_refused_and_never_used() -> None:
    """Refused on its own (issue 11 review): one item that cannot be used must not block the
    readings after it; the hub is told and sets it aside."""
    sealed_items, segments = seal_items(ITEMS)
    flipped = bytearray(sealed_items[1].sealed)
    flipped[3] ^= 0x01
    broken = [sealed_items[0], dataclasses.replace(sealed_items[1], sealed=bytes(flipped))]
    opened, refused = opened_and_refused(
        seal_envelope(header(), batch_body(broken, segments), HUB_KEY, CENTRE.public)
    )
    assert opened == [7] and "item 8 does not open" in refused[8]


def test_another_hubs_segment_does_not_open_under_this_hub() -> None:
    sealed_items, segments = seal_items(ITEMS, hub_id="hub-0002")
    with pytest.raises(EnvelopeError, match="does not open: tampered, or sealed for another hub"):
        open_(seal_envelope(header(), batch_body(sealed_items, segments), HUB_KEY, CENTRE.public))


def test_an_item_whose_segment_is_missing_is_refused() -> None:
    sealed_items, _ = seal_items(ITEMS)
    opened, refused = opened_and_refused(
        seal_envelope(header(), batch_body(sealed_items, []), HUB_KEY, CENTRE.public)
    )
    assert opened == [] and all("not in the batch" in refused[s] for s in (7, 8))


def test_the_sealer_starts_a_new_segment_after_its_quota_and_on_a_new_centre_key() -> None:
    sealer = ItemSealer("hub-0001", CENTRE.public, segment_items=2)
    ids = [sealer.seal(n, item(n, 120.0))[0].segment_id for n in (1, 2, 3)]
    assert ids[0] == ids[1] != ids[2]
    sealer.centre = HYBRID.public
    segment, _ = sealer.seal(4, item(4, 120.0))
    assert segment.segment_id != ids[2] and segment.suite == "mlkem768-x25519"


def test_hybrid_post_quantum_suite_round_trip() -> None:
    hybrid_key = centre_key("mlkem768-x25519", HYBRID.public.text)
    assert hybrid_key.key_id == HYBRID.public.key_id and len(hybrid_key.raw) == 1184 + 32
    sealed_items, segments = seal_items(ITEMS, centre=HYBRID.public)
    h, envelope = build_batch("hub-0001", sealed_items, segments, HUB_KEY, HYBRID.public, CREATED)
    assert h.suite == "mlkem768-x25519"
    assert open_batch(envelope, {HYBRID.public.key_id: HYBRID}, HUB_KEY.public_key()).items == ITEMS


def test_rotation_items_sealed_to_the_old_key_open_in_a_batch_sealed_to_the_new() -> None:
    # Items stored before the rotation stay sealed to the old key in the outbox; the batch that
    # finally carries them is sealed to the new one. The centre keeps both keys.
    old_items, old_segments = seal_items([item(1, 120.0)], centre=CENTRE.public)
    new_items, new_segments = seal_items([item(2, 121.0)], centre=HYBRID.public)
    _, envelope = build_batch(
        "hub-0001",
        [*old_items, *new_items],
        old_segments + new_segments,
        HUB_KEY,
        HYBRID.public,
        CREATED,
    )
    both = {CENTRE.public.key_id: CENTRE, HYBRID.public.key_id: HYBRID}
    assert [i["seq"] for i in open_batch(envelope, both, HUB_KEY.public_key()).items] == [1, 2]
    # Retiring the old key too early makes the batch unopenable, and says why.
    with pytest.raises(EnvelopeError, match="retired centre key deleted too early"):
        open_batch(envelope, {HYBRID.public.key_id: HYBRID}, HUB_KEY.public_key())


def test_suite_mismatch_between_key_and_segment_is_rejected() -> None:
    sealed_items, (segment,) = seal_items(ITEMS)
    lying = dataclasses.replace(segment, suite="mlkem768-x25519")
    with pytest.raises(EnvelopeError, match="is not a mlkem768-x25519 key"):
        open_(seal_envelope(header(), batch_body(sealed_items, [lying]), HUB_KEY, CENTRE.public))


@pytest.mark.parametrize(
    ("suite", "text", "expected"),
    [
        ("x25519", "AAAA", "must be 32 bytes"),
        ("mlkem768-x25519", "A" * 44, "must be 1216 bytes"),
        ("rot13", "AAAA", "unknown encryption suite"),
        ("x25519", "!!", "not base64"),
    ],
)
def test_bad_centre_keys_say_what_is_wrong(suite: str, text: str, expected: str) -> None:
    from hub.wire.public_keys import KeyFileError

    with pytest.raises(KeyFileError, match=expected):
        centre_key(suite, text)


def test_item_associated_data_is_the_canonical_json_of_its_place() -> None:
    from hub.core.canonical import canonical_json
    from hub.wire.sealing import ITEM_AD, _item_ad

    for seq in (1, 17, 2**40):
        assert _item_ad("hub-0001", "seg-ø", seq) == ITEM_AD + canonical_json(
            {"hub_id": "hub-0001", "segment": "seg-ø", "seq": seq}
        )
