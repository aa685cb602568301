"""Through a real Mosquitto, a running centre refuses forged batches, logs why, stores nothing."""

from __future__ import annotations

from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from hub.config import HubConfig, load_config
from hub.core.reading import StoredReading
from hub.keys import load_signing_key
from hub.wire.batch import build_batch
from hub.wire.topics import batch_topic
from testbed.home import SimulatedHome
from tests.conftest import eventually
from tests.test_envelope import seal_items

READING = StoredReading(
    seq=1,
    kind="blood_pressure",
    characteristic="00002a35-0000-1000-8000-00805f9b34fb",
    device_address="00:BB:00:00:00:02",
    device_time="2026-11-22T10:40:00",
    received_at="2026-11-22T10:40:01.000+00:00",
    raw_hex="1e80005200610000",
    values={"systolic": 128.0},
    stored_at="2026-11-22T10:40:01.002+00:00",
    synced_at=None,
    measured_at="2026-11-22T09:40:00+00:00",
    time_source="device",
    clock_correction_s=None,
    hub_clock_synced=True,
    outcome="ok",
    problems=(),
    hub_clock_offset_s=None,
)


def build_envelope(
    config: HubConfig, readings: list[StoredReading], hub_key: Ed25519PrivateKey
) -> tuple[object, bytes]:
    """A batch as the hub's store and uplink make it: each reading sealed, then the batch."""
    sealed = seal_items([r.to_wire() for r in readings], config.hub_id, config.centre.encryption)
    return build_batch(
        config.hub_id, *sealed, hub_key, config.centre.encryption, "2026-11-22T10:40:02.000+00:00"
    )


def publish(home: SimulatedHome, topic: str, payload: bytes) -> None:
    """Publish as the hub whose topic it is: the broker lets nobody else (test_broker_acl.py),
    so these are what a hub that is compromised or misbehaving could send."""
    client = home.mqtt_client(topic.split("/")[3])
    client.loop_start()
    info = client.publish(topic, payload, qos=1)
    info.wait_for_publish(10)
    client.disconnect()
    client.loop_stop()


async def test_tampered_foreign_and_unknown_batches_are_rejected(home: SimulatedHome) -> None:
    centre = home.start_centre()
    config = load_config(home.hub_config)
    hub_key = load_signing_key(config.signing_key_path)
    await eventually(lambda: "subscribing" in centre.tail(), what="the centre to subscribe")
    topic = batch_topic(config.hub_id)

    _, good = build_envelope(config, [READING], hub_key)
    tampered = bytearray(good)
    tampered[-5] ^= 0x40
    _, unknown_signer = build_envelope(config, [READING], Ed25519PrivateKey.generate())
    stranger = config.model_copy(update={"hub_id": "hub-stranger"})
    _, unenrolled = build_envelope(stranger, [READING], Ed25519PrivateKey.generate())

    publish(home, topic, bytes(tampered))
    publish(home, topic, unknown_signer)
    publish(home, batch_topic("hub-stranger"), unenrolled)
    publish(home, batch_topic("hub-stranger"), good)  # a real batch replayed on another topic
    publish(home, topic, b"not an envelope at all")

    rejections = await eventually(
        lambda: len(r := home.centre_rejections()) >= 5 and r, what="five rejections"
    )
    reasons = [r["reason"] for r in rejections]
    assert "does not open" in reasons[0]
    assert f"not signed by the key enrolled for {config.hub_id}" in reasons[1]
    assert "hub-stranger is not enrolled" in reasons[2]
    assert f"names hub {config.hub_id} but came on hub-stranger's topic" in reasons[3]
    assert "bad magic" in reasons[4]
    assert home.centre_readings() == []
    log = centre.tail(60)
    assert log.count("rejected message on") == 5

    publish(home, topic, good)  # the genuine batch is still accepted afterwards
    rows = await eventually(lambda: home.centre_readings(), what="the genuine batch")
    assert [(r["hub_id"], r["seq"]) for r in rows] == [(config.hub_id, 1)]


def test_reused_sequence_number_is_named_as_a_conflict_and_nothing_overwritten(
    tmp_path: Path,
) -> None:
    from centre.store import CentreStore

    store = CentreStore(tmp_path / "centre.sqlite", migrate=True)
    store.enrol("hub-0001", "a signing key")
    first = READING.to_wire()
    assert store.store_batch("hub-0001", "b-1", [first]).held == (1,)
    again = store.store_batch("hub-0001", "b-2", [first])  # the same reading re-sent: fine
    assert (again.new, again.held, again.conflicts) == (0, (1,), ())
    other = {**first, "raw_hex": "1e90005a006a0000", "received_at": "2026-12-01T08:00:00+00:00"}
    second = {**first, "seq": 2, "raw_hex": "1e81005200610000"}
    conflict = store.store_batch("hub-0001", "b-3", [other, second])
    assert (conflict.new, conflict.held, conflict.conflicts) == (1, (2,), (1,))
    assert store.readings()[0]["received_at"] == first["received_at"]  # what it held stays
    assert store.highest_held("hub-0001") == 2
