"""Downlink through the real broker: care plans and messages reach the hub signed, sealed and
versioned; forged, replayed and moved ones are refused; what the broker sees of them is
ciphertext; a kept document that no longer validates never stops the hub from starting;
readings beyond the plan's limits go out at once, and the centre's key rotates without losing a
reading sealed to the old one."""

from __future__ import annotations

import asyncio
import json
import queue
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from centre.config import load_centre_config
from centre.downlink import hub_encryption_key, issue
from centre.store import CentreStore
from hub.config import load_config
from hub.core.care_plan import CarePlan
from hub.devices.blood_pressure import build_blood_pressure_measurement
from hub.store import ReadingStore
from hub.technician.provision import provision
from hub.wire.documents import Document, seal_document
from hub.wire.topics import downlink_topic
from testbed.home import SimulatedHome
from testbed.outage import fill_outbox
from testbed.peripherals.cuff import EmulatedCuff
from tests.conftest import centre_sql, eventually, hub_log, pair
from tests.test_faults import assert_exactly_once, centre_rows, drained

PLAN = {
    "thresholds": {"blood_pressure": {"systolic": {"min": 90, "max": 160}}},
    "schedule": [{"kind": "blood_pressure", "times": ["08:00", "20:00"]}],
    "centre_phone": "+47 55 00 00 00",
}


def send_care_plan(home: SimulatedHome, plan: dict[str, Any], tmp: Path) -> dict[str, Any]:
    path = tmp / "plan.json"
    path.write_text(json.dumps(plan))
    result = home.centre_cli("send-care-plan", home.hub_id, str(path))
    assert result.returncode == 0, result.stderr
    sent: dict[str, Any] = json.loads(result.stdout)
    return sent


def publish_as_centre(home: SimulatedHome, topic: str, payload: bytes) -> None:
    """Publish with the centre's broker identity: what a broker operator (or anyone who stole
    that certificate) could do. Only the centre's signing key makes a document count."""
    client = home.mqtt_client(home.centre.ingest_name, client_id="operator", centre_side=True)
    acked: queue.Queue[int] = queue.Queue()
    client.on_publish = lambda _c, _u, _m, reason, _p: acked.put(reason.value)
    client.loop_start()
    client.publish(topic, payload, qos=1)
    assert acked.get(timeout=10) < 128
    client.loop_stop()
    client.disconnect()


async def test_care_plan_reaches_the_hub_and_readings_beyond_it_go_out_at_once(
    home: SimulatedHome,
    short_tmp: Path,
) -> None:
    # Routine readings wait up to 10 minutes to fill a batch; an urgent one does not wait.
    home.configure_hub(sync={"batch_max_age_s": 600.0})
    home.start_centre()
    home.start_hub()
    assert send_care_plan(home, PLAN, short_tmp)["version"] == 1
    status = await eventually(
        lambda: (s := home.hub_status())["care_plan_version"] == 1 and s,
        what="the care plan at the hub",
    )
    assert status["care_plan"]["centre_phone"] == "+47 55 00 00 00"
    assert status["care_plan"]["thresholds"]["blood_pressure"]["systolic"]["max"] == 160
    cuff = EmulatedCuff()
    await cuff.start()
    try:
        await pair(home, cuff)
        cuff.take_measurement(build_blood_pressure_measurement(128, 82, 97))
        await eventually(lambda: home.hub_status()["pending"] == 1, what="the routine reading")
        await asyncio.sleep(3)
        assert centre_rows(home) == [], "a routine reading waits for its batch to fill"
        cuff.take_measurement(build_blood_pressure_measurement(178, 96, 123))
        rows = await eventually(
            lambda: len(r := home.centre_readings()) >= 2 and r,
            what="the urgent reading (and the one waiting) at the centre",
        )
    finally:
        await cuff.stop()
    by_systolic = {r["values"]["systolic"]: r for r in rows}
    assert by_systolic[178.0]["outcome"] == "flagged"
    assert by_systolic[178.0]["problems"] == ["systolic_above_care_plan"]
    assert by_systolic[128.0]["outcome"] == "ok"


async def test_forged_and_replayed_care_plans_are_refused(
    home: SimulatedHome,
    short_tmp: Path,
) -> None:
    home.start_centre()
    home.start_hub()
    topic = downlink_topic(home.hub_id, "care_plan")
    first = issue(home.centre, home.hub_id, "care_plan", PLAN)  # recorded and signed, not sent
    send_care_plan(home, {**PLAN, "centre_phone": "+47 22 22 22 22"}, short_tmp)  # version 2
    await eventually(lambda: home.hub_status()["care_plan_version"] == 2, what="version 2")

    # Someone with access to the broker sends a plan with no limits, signed with their own key.
    forged = Document(
        "care_plan",
        home.hub_id,
        99,
        "2026-11-22T10:00:00.000+00:00",
        CarePlan(centre_phone="+47 99 99 99 99"),
    )
    hub_public = hub_encryption_key(CentreStore(home.centre.database_url), home.hub_id)
    publish_as_centre(home, topic, seal_document(forged, Ed25519PrivateKey.generate(), hub_public))
    status = await eventually(
        lambda: (s := home.hub_status())["downlink_refused"] and s,
        what="the forged plan to be refused",
    )
    assert "not signed by the centre" in status["downlink_refused"]
    # The genuine but older version 1, replayed.
    publish_as_centre(home, topic, first.payload)
    status = await eventually(
        lambda: "not newer" in ((s := home.hub_status())["downlink_refused"] or "") and s,
        what="the replayed plan to be refused",
    )
    assert status["care_plan_version"] == 2
    assert status["care_plan"]["centre_phone"] == "+47 22 22 22 22"


async def test_a_message_for_the_patient_arrives(home: SimulatedHome) -> None:
    home.start_centre()
    home.start_hub()
    result = home.centre_cli("send-message", home.hub_id, "Husk å ta blodtrykket i kveld.")
    assert result.returncode == 0, result.stderr
    status = await eventually(
        lambda: (s := home.hub_status())["messages"] and s, what="the message at the hub"
    )
    assert status["messages"][0]["text"] == "Husk å ta blodtrykket i kveld."
    assert status["messages"][0]["read_at"] is None
    refused = home.centre_cli("send-message", "hub-nobody", "hei")
    assert refused.returncode == 2 and "not enrolled" in refused.stderr
    # The patient reads it (pressing twice): the centre gets one receipt.
    for _ in range(2):
        assert home.ask_hub("message_read", version=1) == {"ok": True, "version": 1}
    assert home.ask_hub("message_read", version=7)["error"] == "there is no message 7"
    assert home.hub_status()["messages"][0]["read_at"] is not None
    rows = await eventually(lambda: (r := home.centre_readings()) and r, what="the receipt")
    (receipt,) = rows
    assert receipt["kind"] == "message_receipt" and receipt["values"]["message_version"] == 1


async def test_key_rotation_loses_no_reading_sealed_to_the_old_key(home: SimulatedHome) -> None:
    n = 3_000
    fill_outbox(home.hub_config, n)  # sealed to the first centre key
    home.start_hub()  # the centre is down: batches go out and wait for acks that do not come
    old_key = home.hub_status()["centre_key_id"]
    result = home.centre_cli("rotate-key", "--suite", "mlkem768-x25519")
    assert result.returncode == 0, result.stderr
    new_key = json.loads(result.stdout)["key_id"]
    assert new_key != old_key and json.loads(result.stdout)["hubs_told"] == 1
    await eventually(
        lambda: home.hub_status()["centre_key_id"] == new_key,
        what="the hub to take the new centre key",
    )
    home.start_centre()
    assert_exactly_once(await drained(home, n), n)
    assert centre_rows(home)[-1][0] == n


async def test_a_message_republished_on_the_care_plan_topic_is_refused_and_the_hub_restarts(
    home: SimulatedHome,
    short_tmp: Path,
) -> None:
    """Finding 3: a genuine message, republished by the broker operator as the care plan."""
    home.start_centre()
    hub = home.start_hub()
    send_care_plan(home, PLAN, short_tmp)
    await eventually(lambda: home.hub_status()["care_plan_version"] == 1, what="the care plan")
    message = issue(home.centre, home.hub_id, "message", {"text": "Husk å veie deg."})
    publish_as_centre(home, downlink_topic(home.hub_id, "care_plan"), message.payload)
    status = await eventually(
        lambda: (s := home.hub_status())["downlink_refused"] and s,
        what="the moved message to be refused",
    )
    assert "care_plan does not open" in status["downlink_refused"]
    assert status["care_plan_version"] == 1 and status["messages"] == []
    assert status["care_plan"]["centre_phone"] == "+47 55 00 00 00"
    hub.stop()
    home.start_hub()  # the retained copy is still the genuine plan: the hub starts and holds it
    status = home.hub_status()
    assert status["care_plan_version"] == 1 and status["downlink_refused"] is None


async def test_a_kept_document_that_no_longer_validates_is_set_aside_and_the_hub_starts(
    home: SimulatedHome,
    short_tmp: Path,
) -> None:
    """What finding 3 left in a hub's store (a message kept as care plan version 3), and a
    centre key notice that no longer parses: the real daemon starts, reports both, and takes
    the centre's genuine care plan version 3; older versions stay refused."""
    config = load_config(home.hub_config)
    store = ReadingStore(config.db_path)
    store.save_document(
        "care_plan", 3, "2026-11-22T10:00:00.000+00:00", {"text": "Husk å veie deg."}
    )
    store.save_document(
        "centre_key",
        1,
        "2026-11-22T10:00:00.000+00:00",
        {"encryption_key": "AAAA", "encryption_suite": "x25519"},
    )
    store.close()
    home.start_centre()
    home.start_hub()
    status = home.hub_status()
    assert status["care_plan"] is None and status["care_plan_version"] == 0
    assert "set aside" in status["downlink_refused"]
    log = hub_log(home)
    assert "care_plan version 3 held by this hub was set aside" in log
    assert "centre_key version 1 held by this hub was set aside" in log
    assert status["centre_key_id"] == config.centre.encryption.key_id  # the provisioned key
    old = [
        issue(home.centre, home.hub_id, "care_plan", {**PLAN, "centre_phone": f"+47 {n}"})
        for n in (1, 2)
    ]
    send_care_plan(home, PLAN, short_tmp)  # version 3
    status = await eventually(
        lambda: (s := home.hub_status())["care_plan_version"] == 3 and s,
        what="the genuine care plan version 3",
    )
    assert status["care_plan"]["centre_phone"] == "+47 55 00 00 00"
    publish_as_centre(home, downlink_topic(home.hub_id, "care_plan"), old[0].payload)
    await eventually(
        lambda: "not newer" in (home.hub_status()["downlink_refused"] or ""),
        what="the replayed version 1 to be refused",
    )
    assert home.hub_status()["care_plan_version"] == 3


async def test_the_broker_sees_no_care_plan_or_message_content(
    home: SimulatedHome,
    short_tmp: Path,
) -> None:
    """Finding 4: a client holding this hub's certificate (stolen, or the broker operator's
    view of the payload) gets only ciphertext; the hub itself reads both."""
    home.start_centre()
    thief = home.mqtt_client(home.hub_id)
    got: queue.Queue[tuple[str, bytes]] = queue.Queue()
    thief.on_message = lambda _c, _u, m: got.put((m.topic, bytes(m.payload)))
    thief.subscribe(f"dho/v1/hub/{home.hub_id}/down/#", qos=1)
    thief.loop_start()
    try:
        send_care_plan(home, {**PLAN, "centre_phone": "+47 91 23 45 67"}, short_tmp)
        result = home.centre_cli("send-message", home.hub_id, "Blodtrykket ditt var fint i dag.")
        assert result.returncode == 0, result.stderr
        seen = dict(got.get(timeout=20) for _ in range(2))
    finally:
        thief.loop_stop()
        thief.disconnect()
    assert set(seen) == {downlink_topic(home.hub_id, t) for t in ("care_plan", "message")}
    for payload in seen.values():
        for secret in (
            "+47 91 23 45 67",
            "Blodtrykket",
            "systolic",
            "thresholds",
            "centre_phone",
            home.hub_id,
            '"version"',
        ):
            assert secret.encode() not in payload, secret
    home.start_hub()  # the retained plan reaches the hub, which alone can open it
    status = await eventually(
        lambda: (s := home.hub_status())["care_plan_version"] == 1 and s,
        what="the care plan at the hub",
    )
    assert status["care_plan"]["centre_phone"] == "+47 91 23 45 67"


async def test_a_hub_enrolled_before_sealing_is_sent_nothing_and_still_starts(
    home: SimulatedHome,
    short_tmp: Path,
) -> None:
    """A hub from before this change has no encryption key: the centre refuses to send it
    anything with words saying to enrol it again (a key rotation still reaches the other
    hubs), and the hub runs and says the same."""
    store = CentreStore(load_centre_config(home.centre_config).database_url)
    centre_sql(store, "UPDATE hubs SET encryption_key = NULL, encryption_suite = NULL")
    refused = home.centre_cli("send-message", home.hub_id, "hei")
    assert refused.returncode == 2 and "has no encryption key" in refused.stderr
    assert f"centre enrol {home.hub_id}" in refused.stderr and "Traceback" not in refused.stderr
    other = home.centre_cli("enrol", "hub-sim-0002", "--out", str(short_tmp / "other.bundle"))
    assert other.returncode == 0, other.stderr
    rotated = home.centre_cli("rotate-key")
    assert rotated.returncode == 0, rotated.stderr
    assert json.loads(rotated.stdout)["hubs_told"] == 1
    assert f"hub {home.hub_id} not told of the new key" in rotated.stderr
    load_config(home.hub_config).encryption_key_path.unlink()
    home.start_centre()
    home.start_hub()
    status = home.hub_status()
    assert "enrol this hub again" in status["downlink_refused"]
    await eventually(
        lambda: home.hub_status()["broker_connected"],
        what="the hub, without downlink, still connected for its readings",
    )


async def test_a_hub_enrolled_before_sealing_is_enrolled_again_and_keeps_its_readings(
    home: SimulatedHome,
    short_tmp: Path,
) -> None:
    """The upgrade path docs/operations.md gives: enrol again, move the keys and config aside,
    provision into the same state directory. Readings before and after reach the centre once
    each, and the care plan then arrives sealed."""
    centre_sql(
        CentreStore(home.centre.database_url),
        "UPDATE hubs SET encryption_key = NULL, encryption_suite = NULL",
    )
    config = load_config(home.hub_config)
    config.encryption_key_path.unlink()
    fill_outbox(home.hub_config, 20)
    home.start_centre()
    hub = home.start_hub()
    assert_exactly_once(await drained(home, 20), 20)
    hub.stop()
    bundle = short_tmp / "again.bundle"
    result = home.centre_cli("enrol", home.hub_id, "--out", str(bundle), "--replace")
    assert result.returncode == 0, result.stderr
    keys = config.signing_key_path.parent
    keys.rename(keys.with_name("keys.old"))
    home.hub_config.rename(home.hub_config.with_name("hub.toml.old"))
    provision(
        home.hub_config,
        bundle,
        config.state_dir,
        expected_centre=json.loads(result.stdout)["centre_fingerprint"],
        clock_source="assume_synchronised",
    )
    fill_outbox(home.hub_config, 10, first=20)  # numbered on from 21 in the same store
    home.start_hub()
    assert home.hub_status()["downlink_refused"] is None
    send_care_plan(home, PLAN, short_tmp)
    await eventually(lambda: home.hub_status()["care_plan_version"] == 1, what="the care plan")
    assert [seq for seq, _ in await drained(home, 30)] == list(range(1, 31))


def test_a_care_plan_the_hub_would_refuse_is_not_numbered_or_sent(
    home: SimulatedHome,
    short_tmp: Path,
) -> None:
    path = short_tmp / "nan.json"
    path.write_text('{"thresholds": {"weight": {"weight": {"max": NaN}}}}')
    refused = home.centre_cli("send-care-plan", home.hub_id, str(path))
    assert refused.returncode == 2 and "the hub would refuse it" in refused.stderr
    assert send_care_plan(home, PLAN, short_tmp)["version"] == 1  # no version was spent
