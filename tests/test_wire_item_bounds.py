"""What an item may hold on the wire (hub/wire/batch.py WireItem, hub/wire/envelope.py Stamp),
after the attacker review of issue 13: each case is refused alone (the rest of the batch is
stored) or taken, never a batch the centre cannot store."""

from __future__ import annotations

import re
from typing import Any

import pytest

from hub.wire.batch import MAX_VALUES
from tests.test_envelope import header, item, opened_and_refused, sealed


def one(**changes: Any) -> dict[str, Any]:
    it: dict[str, Any] = {**item(7, 128.0), **changes}
    return it


@pytest.mark.parametrize(
    ("changes", "why"),
    [
        ({"measured_at": "9999-12-31T23:30:00+00:00"}, "outside 1900-2200"),
        ({"received_at": "9999-12-31T23:30:00-01:00"}, "measured_at|received_at"),
        ({"measured_at": "1899-12-31T23:00:00+00:00"}, "outside 1900-2200"),
        ({"measured_at": "2026-11-22T10:00:00"}, "offset"),
        ({"device_address": "00:BB:00:00:00:02\x00"}, "device_address"),
        ({"characteristic": "2a35\n"}, "characteristic"),
        ({"device_time": "2026-11-22T10:00\x00"}, "device_time"),
        ({"problems": ["x\x00"]}, "problems"),
        ({"values": {"text": "x" * MAX_VALUES}}, "more than"),
    ],
)
def test_an_item_the_centre_could_not_store_or_show_is_refused_alone(
    changes: dict[str, Any], why: str
) -> None:
    good = one()
    bad = one(seq=8, **changes)
    opened, refused = opened_and_refused(
        sealed(header(seq_first=7, seq_last=8, count=2), [good, bad])
    )
    assert opened == [7]
    assert list(refused) == [8]
    assert re.search(why, refused[8]), refused[8]


@pytest.mark.parametrize(
    "changes",
    [
        {"measured_at": "1970-01-01T00:00:00+00:00"},  # a device clock reset, still a time
        {"measured_at": "2199-12-31T22:00:00-01:00"},
        {"values": {"text": "æøå" * 13_000}},  # 78 kB: a long questionnaire answer
        {"device_time": None},
    ],
)
def test_what_a_hub_may_send_is_taken(changes: dict[str, Any]) -> None:
    opened, refused = opened_and_refused(sealed(header(), [one(**changes), one(seq=8)]))
    assert (opened, refused) == ([7, 8], {})
