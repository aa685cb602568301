"""Issue 11, findings 1 and 2: no message stops the centre, and no reading is lost when an urgent
reading meets a backlog.

Every hostile message is one the broker would accept from a hub certificate the centre issued
(and, for the inner layers, signed with that hub's own key): each ends in a logged, recorded
refusal, nothing stored, and the next good batch is stored. First in process against a real
SQLite file (one case each, quick), then through the real broker in the middle of a drain, and
with the centre killed (-9) mid-drain.
"""

from __future__ import annotations

import asyncio
import base64
import functools
import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305

from centre.ingest import GROUPED, Ingest
from centre.store import CentreStore
from hub.config import load_config
from hub.core.outbox import SealedSegment
from hub.core.reading import URGENT, NewReading
from hub.keys import load_signing_key
from hub.store import ReadingStore
from hub.wire import sealing
from hub.wire.envelope import MAGIC, BatchHeader, open_ack, seal_envelope
from hub.wire.public_keys import public_text
from hub.wire.sealing import ItemSealer, new_segment
from hub.wire.suites import CentreKey
from hub.wire.topics import batch_topic
from testbed.home import SimulatedHome
from testbed.outage import fill_outbox
from tests.conftest import centre_sql, eventually
from tests.test_centre_rejects import publish
from tests.test_envelope import CENTRE, CENTRE_SIGNING, HUB_KEY, item
from tests.test_faults import assert_exactly_once, centre_rows, drained

HUB = "hub-0001"
TOPIC = batch_topic(HUB)
BATCH_ID = "00000000-0000-4000-8000-0000000000aa"


def frame(header: bytes, rest: bytes = b"\x00" * 48) -> bytes:
    return MAGIC + len(header).to_bytes(4, "big") + header + rest


def raw_header(**changes: Any) -> bytes:
    fields: dict[str, Any] = {
        "batch_id": BATCH_ID,
        "count": 1,
        "created_at": "2026-11-22T10:00:00.000+00:00",
        "hub_id": HUB,
        "key_id": CENTRE.public.key_id,
        "seq_first": 1,
        "seq_last": 1,
        "suite": "x25519",
        "v": 2,
    }
    fields.update(changes)
    return json.dumps(fields, sort_keys=True, separators=(",", ":")).encode()


def signed(
    body: bytes,
    hub_id: str = HUB,
    centre: CentreKey = CENTRE.public,
    count: int = 1,
    seq: int = 1,
    batch_id: str = BATCH_ID,
) -> bytes:
    """A body of the test's choosing, signed with the hub's real key and sealed as the hub
    would: what a stolen hub, or a buggy one, can make the centre open."""
    header = BatchHeader(
        hub_id=hub_id,
        batch_id=batch_id,
        seq_first=seq,
        seq_last=seq,
        key_id=centre.key_id,
        created_at="2026-11-22T10:00:00.000+00:00",
        count=count,
        suite=centre.suite,
    )
    return seal_envelope(header, body, HUB_KEY, centre)


def sealed_item(plaintext: bytes, seq: int = 1, hub_id: str = HUB) -> bytes:
    """An item whose sealed plaintext is exactly `plaintext` (JSON the hub would never write)."""
    segment = new_segment(hub_id, CENTRE.public)
    blob = ChaCha20Poly1305(segment.key).encrypt(
        sealing._nonce(seq), plaintext, sealing._item_ad(hub_id, segment.segment_id, seq)
    )
    return signed(_body(seq, segment.public(), blob), hub_id)


def _body(seq: int, segment: SealedSegment, blob: bytes) -> bytes:
    return json.dumps(
        {
            "items": [
                {
                    "seq": seq,
                    "segment": segment.segment_id,
                    "sealed": base64.b64encode(blob).decode(),
                }
            ],
            "segments": [
                {
                    "segment": segment.segment_id,
                    "centre_key_id": segment.centre_key_id,
                    "suite": segment.suite,
                    "sealed_key": base64.b64encode(segment.sealed_key).decode(),
                }
            ],
        },
        sort_keys=True,
        separators=(",", ":"),
    ).encode()


def item_json(**changes: Any) -> bytes:
    return json.dumps({**item(1, 128.0), **changes}).encode()


DEEP = b"[" * 5000 + b"]" * 5000

# (name, the message, what the recorded reason says)
HOSTILE: list[tuple[str, bytes, str]] = [
    ("header of 4000 [", frame(b"[" * 4000), "nested deeper than"),
    (
        "header seq Infinity",
        frame(raw_header(seq_first="Infinity").replace(b'"Infinity"', b"Infinity")),
        "not a number",
    ),
    (
        "header seq 1e999",
        frame(raw_header().replace(b'"seq_first":1', b'"seq_first":1e999')),
        "out of range",
    ),
    (
        "header seq NaN",
        frame(raw_header().replace(b'"seq_last":1', b'"seq_last":NaN')),
        "not a number",
    ),
    ("header seq -1", frame(raw_header(seq_first=-1)), "seq_first"),
    ("header seq 2**63", frame(raw_header(seq_last=2**63)), "out of range"),
    ("header seq 2**53", frame(raw_header(seq_last=2**53)), "seq_last"),
    (
        "header seq of 400 digits",
        frame(raw_header().replace(b'"seq_last":1', b'"seq_last":' + b"9" * 400)),
        "out of range",
    ),
    ("header seq as text", frame(raw_header(seq_first="1")), "seq_first"),
    ("header count true", frame(raw_header(count=True)), "count"),
    ("header lone surrogate", frame(raw_header(created_at="\ud800" * 12)), "lone surrogate"),
    (
        "header invalid UTF-8",
        frame(raw_header().replace(b"2026-11-22", b"\xff\xfe-11-22")),
        "not UTF-8",
    ),
    ("header extra field", frame(raw_header(extra="x")), "extra"),
    ("header value nested", frame(raw_header(hub_id=[HUB])), "nested"),
    ("header is a list", frame(b"[1,2]"), "not a JSON object"),
    ("header version 1", frame(raw_header(v=1)), "unsupported envelope version"),
    ("header count beyond its range", frame(raw_header(count=5)), "cannot hold its count"),
    ("header length beyond the message", MAGIC + (4000).to_bytes(4, "big") + b"{}", "does not fit"),
    ("body nested 5000 deep", signed(DEEP), "nested deeper than"),
    ("body is a list", signed(b"[]"), "signed batch body is not valid"),
    ("body items not a list", signed(b'{"items":7,"segments":[]}'), "items"),
    ("body item is a JSON list", signed(b'{"items":[[1,2]],"segments":[]}'), "items.0"),
    (
        "body seq -1",
        signed(b'{"items":[{"seq":-1,"segment":"x","sealed":""}],"segments":[]}'),
        "items.0.seq",
    ),
    (
        "body seq 2**63",
        signed(
            json.dumps(
                {"items": [{"seq": 2**63, "segment": "x", "sealed": ""}], "segments": []}
            ).encode()
        ),
        "out of range",
    ),
    ("body 1e999", signed(b'{"items":[{"seq":1e999}],"segments":[]}'), "out of range"),
    (
        "item names no segment",
        signed(
            json.dumps(
                {
                    "items": [
                        {
                            "seq": 1,
                            "segment": "00000000-0000-4000-8000-000000000001",
                            "sealed": "%%%",
                        }
                    ],
                    "segments": [],
                }
            ).encode()
        ),
        "not in the batch",
    ),
    (
        "item not base64",
        signed(
            _body(1, new_segment(HUB, CENTRE.public).public(), b"x").replace(
                b'"sealed":"eA=="', b'"sealed":"%%%"'
            )
        ),
        "not base64",
    ),
    ("item kind is a list", sealed_item(item_json(kind=["blood_pressure"])), "kind"),
    (
        "item lone surrogate",
        sealed_item(item_json(kind="x").replace(b'"x"', b'"\\ud800"')),
        "lone surrogate",
    ),
    (
        "item values nested 5000 deep",
        sealed_item(item_json(values=None).replace(b'"values": null', b'"values": ' + DEEP)),
        "nested deeper than",
    ),
    ("item values NaN", sealed_item(item_json(values={"systolic": float("nan")})), "not a number"),
    ("item values 1e999", sealed_item(item_json().replace(b"128.0", b"1e999")), "out of range"),
    ("item is a JSON list", sealed_item(b"[1, 2, 3]"), "not a JSON object"),
    ("item seq -1 inside", sealed_item(item_json(seq=-1)), "says it is"),
    ("item raw_hex not hex", sealed_item(item_json(raw_hex="zz")), "raw_hex"),
    ("item outcome unknown", sealed_item(item_json(outcome="fine")), "outcome"),
    ("item unknown field", sealed_item(item_json(extra=1)), "extra"),
    (
        "item seconds as text",
        sealed_item(item_json(clock_correction_s="1e300")),
        "clock_correction_s",
    ),
    ("item problems huge", sealed_item(item_json(problems=["x" * 200])), "problems"),
]


@pytest.fixture
def ingest(tmp_path: Path) -> Ingest:
    store = CentreStore(tmp_path / "centre.sqlite", migrate=True)
    store.enrol(HUB, public_text(HUB_KEY.public_key()))
    return Ingest(store, {CENTRE.public.key_id: CENTRE}, CENTRE_SIGNING)


def good_batch(seq: int) -> bytes:
    sealer = ItemSealer(HUB, CENTRE.public)
    segment, blob = sealer.seal(seq, item(seq, 128.0))
    return signed(
        _body(seq, segment.public(), blob), seq=seq, batch_id="00000000-0000-4000-8000-0000000000bb"
    )


@pytest.mark.parametrize(("name", "message", "reason"), HOSTILE, ids=[h[0] for h in HOSTILE])
def test_a_hostile_message_is_refused_recorded_and_the_next_batch_stored(
    ingest: Ingest,
    name: str,
    message: bytes,
    reason: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    reply = ingest.handle(TOPIC, message)
    if name.startswith("item"):
        # An item the centre cannot store is refused on its own, and the hub is told so (it
        # sets the item aside): one bad item must never block the readings after it.
        assert reply is not None
        ack = open_ack(reply.payload, CENTRE_SIGNING.public_key(), HUB)
        assert (ack.refused, ack.held, ack.conflicts) == (((1, 1),), (), ())
    else:
        assert reply is None
    (rejection,) = ingest.store.rejections()
    assert reason.lower() in rejection["reason"].lower(), rejection["reason"]
    assert rejection["hub_id"] == HUB
    assert "rejected message on" in caplog.text
    assert ingest.store.readings() == []
    assert ingest.handle(TOPIC, good_batch(1)) is not None  # the worker goes on
    assert [r["seq"] for r in ingest.store.readings()] == [1]


def test_a_failure_nobody_foresaw_is_refused_and_recorded_not_raised(
    ingest: Ingest,
    caplog: pytest.LogCaptureFixture,
) -> None:
    centre_sql(ingest.store, "DROP TABLE batches")  # the store breaks under the worker
    assert ingest.handle(TOPIC, good_batch(1)) is None
    (rejection,) = ingest.store.rejections()
    assert "could not process this message (OperationalError" in rejection["reason"]
    assert "Traceback" in caplog.text  # the operator gets the whole story in the log


@pytest.mark.parametrize(
    "topic",
    [
        "dho/v1/hub/HUB/batch",
        "dho/v1/hub/hub-0001/batch/x",
        "dho/v1/hub/\ud800x/batch",
        "x" * 70000,
    ],
)
def test_a_message_on_a_wrong_topic_is_refused_and_recorded(ingest: Ingest, topic: str) -> None:
    assert ingest.handle(topic, good_batch(1)) is None
    (rejection,) = ingest.store.rejections()
    assert "unexpected topic" in rejection["reason"] and len(rejection["topic"]) <= 500


# -- through the real broker ------------------------------------------------------------------


async def test_poisoned_messages_in_the_middle_of_a_drain_stop_nothing(
    home: SimulatedHome,
) -> None:
    n = 3_000
    config = load_config(home.hub_config)
    fill_outbox(home.hub_config, n)
    centre = home.start_centre()
    home.start_hub()
    await eventually(
        lambda: len(centre_rows(home)) >= 400, within=120, what="the drain to be under way"
    )
    hub_key = load_signing_key(config.signing_key_path)
    poisons = hostile_for(config.hub_id, hub_key, config.centre.encryption)
    topic = batch_topic(config.hub_id)
    for payload in poisons:
        publish(home, topic, payload)
    assert_exactly_once(await drained(home, n), n)
    await eventually(
        lambda: len(home.centre_rejections()) >= len(poisons),
        within=60,
        what="every poisoned message refused",
    )
    await asyncio.sleep(3)  # a message that crashed the worker would now come round again
    assert centre.alive(), centre.tail(40)
    assert len(home.centre_rejections()) == len(poisons), "refused once each, not redelivered"
    assert "Traceback" not in centre.tail(2000)


def hostile_for(hub_id: str, hub_key: Ed25519PrivateKey, centre: CentreKey) -> list[bytes]:
    """A few of the worst, made for the testbed's hub with its real key."""
    header = BatchHeader(
        hub_id=hub_id,
        batch_id=BATCH_ID,
        seq_first=1,
        seq_last=1,
        key_id=centre.key_id,
        created_at="2026-11-22T10:00:00.000+00:00",
        count=1,
        suite=centre.suite,
    )
    clear = json.loads(header.to_bytes())
    return [
        frame(b"[" * 4000),
        frame(json.dumps({**clear, "seq_first": 10**400}).encode()),
        seal_envelope(header, DEEP, hub_key, centre),
        seal_envelope(header, b'{"items":[[1]],"segments":[]}', hub_key, centre),
    ]


async def test_an_urgent_reading_meeting_a_backlog_loses_nothing(home: SimulatedHome) -> None:
    """Finding 1: a first batch with the urgent reading and the oldest routine ones has a gap in
    its numbers; the centre's ack must not let the hub delete what lies in the gap."""
    n = 2_500
    fill_outbox(home.hub_config, n)
    config = load_config(home.hub_config)
    store = ReadingStore(config.db_path, sealer=ItemSealer(config.hub_id, config.centre.encryption))
    urgent = store.add(
        NewReading(
            kind="blood_pressure",
            characteristic="00002a35-0000-1000-8000-00805f9b34fb",
            device_address="00:BB:00:00:00:02",
            device_time=None,
            received_at="2026-11-22T11:00:00.000+00:00",
            raw_hex="1eb4006e00",
            values={"systolic": 180.0},
            outcome="flagged",
            problems=("systolic_above_care_plan",),
            priority=URGENT,
        )
    )
    store.close()
    assert urgent == n + 1
    home.start_centre()
    home.start_hub()
    rows = await drained(home, n + 1)
    assert_exactly_once(rows, n + 1)


async def test_a_backlog_waiting_at_the_broker_is_stored_in_groups_and_poisons_refused_alone(
    home: SimulatedHome,
) -> None:
    """The worker's grouped path (centre/serve.py): batches that wait at the broker, poisoned
    ones among them, are stored a group per transaction; each reading once, each poison
    refused once, and the others of its group stored all the same."""
    n = 3_000
    config = load_config(home.hub_config)
    centre = home.start_centre(taking_batches=True)  # its session, kept at the broker
    centre.stop()
    seen: list[str] = []
    observer = home.mqtt_client(home.centre.ingest_name, "observer", centre_side=True)
    observer.on_message = lambda _c, _u, msg: seen.append(msg.topic)
    observer.subscribe(batch_topic(config.hub_id), qos=1)
    observer.loop_start()
    fill_outbox(home.hub_config, n)
    home.start_hub()
    hub_key = load_signing_key(config.signing_key_path)
    poisons = hostile_for(config.hub_id, hub_key, config.centre.encryption)
    topic = batch_topic(config.hub_id)
    try:
        # The hub's window of batches waits at the broker for the worker, poisons among them.
        await eventually(lambda: len(seen) >= 3, within=120, what="the hub to send batches")
        for payload in poisons:
            publish(home, topic, payload)
        await eventually(lambda: len(seen) >= 7, within=120, what="the hub's window sent")
    finally:
        observer.loop_stop()
        observer.disconnect()
    centre = home.start_centre()
    assert_exactly_once(await drained(home, n), n)
    await eventually(
        lambda: len(home.centre_rejections()) >= len(poisons),
        within=60,
        what="every poisoned message refused",
    )
    assert centre.alive(), centre.tail(40)
    assert len(home.centre_rejections()) == len(poisons), "refused once each, not redelivered"
    log = centre.log_path.read_text(errors="replace")
    assert GROUPED in log, "the backlog was stored a group per transaction"
    assert "Traceback" not in log


def centre_holds_at_least(home: SimulatedHome, count: int) -> bool:
    return len(centre_rows(home)) >= count


async def test_the_centre_killed_mid_drain_loses_and_doubles_nothing(
    home: SimulatedHome,
) -> None:
    n = 6_000
    fill_outbox(home.hub_config, n)
    home.start_hub()
    for round_ in range(3):
        centre = home.start_centre()
        await eventually(
            functools.partial(centre_holds_at_least, home, 1000 * (round_ + 1)),
            within=120,
            what="the drain to move on",
        )
        centre.kill()  # SIGKILL mid-batch: no PUBACK, a transaction perhaps half written
    centre = home.start_centre()
    assert_exactly_once(await drained(home, n), n)
    # The workers found the hub's window waiting: they were killed in the middle of groups.
    assert GROUPED in centre.log_path.read_text(errors="replace")
    path = home.centre_state / "centre.sqlite"
    with sqlite3.connect(path) as db:
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
