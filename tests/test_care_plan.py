"""Downlink through the real broker: care plans and messages reach the hub signed and
versioned, forged and replayed ones are refused, readings beyond the plan's limits go out at
once, and the centre's key rotates without losing a reading sealed to the old one."""

from __future__ import annotations

import asyncio
import json
import queue
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from centre.downlink import issue
from hub.devices.blood_pressure import build_blood_pressure_measurement
from hub.devices.sim.cuff import EmulatedCuff
from hub.sync.downlink import CarePlan, Document, downlink_topic, sign_document
from hub.testbed.home import SimulatedHome
from hub.testbed.outage import fill_outbox
from tests.conftest import eventually, pair
from tests.test_faults import assert_exactly_once, centre_rows, drained

PLAN = {"thresholds": {"blood_pressure": {"systolic": {"min": 90, "max": 160}}},
        "schedule": [{"kind": "blood_pressure", "times": ["08:00", "20:00"]}],
        "centre_phone": "+47 55 00 00 00"}


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
    home: SimulatedHome, short_tmp: Path,
) -> None:
    # Routine readings wait up to 10 minutes to fill a batch; an urgent one does not wait.
    home.configure_hub(sync={"batch_max_age_s": 600.0})
    home.start_centre()
    home.start_hub()
    assert send_care_plan(home, PLAN, short_tmp)["version"] == 1
    status = await eventually(lambda: (s := home.hub_status())["care_plan_version"] == 1 and s,
                              what="the care plan at the hub")
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
        rows = await eventually(lambda: len(r := home.centre_readings()) >= 2 and r,
                                what="the urgent reading (and the one waiting) at the centre")
    finally:
        await cuff.stop()
    by_systolic = {r["values"]["systolic"]: r for r in rows}
    assert by_systolic[178.0]["outcome"] == "flagged"
    assert by_systolic[178.0]["problems"] == ["systolic_above_care_plan"]
    assert by_systolic[128.0]["outcome"] == "ok"


async def test_forged_and_replayed_care_plans_are_refused(
    home: SimulatedHome, short_tmp: Path,
) -> None:
    home.start_centre()
    home.start_hub()
    topic = downlink_topic(home.hub_id, "care_plan")
    first = issue(home.centre, home.hub_id, "care_plan", PLAN)  # recorded and signed, not sent
    send_care_plan(home, {**PLAN, "centre_phone": "+47 22 22 22 22"}, short_tmp)  # version 2
    await eventually(lambda: home.hub_status()["care_plan_version"] == 2, what="version 2")

    # Someone with access to the broker sends a plan with no limits, signed with their own key.
    forged = Document("care_plan", home.hub_id, 99, "2026-11-22T10:00:00.000+00:00",
                      CarePlan(centre_phone="+47 99 99 99 99"))
    publish_as_centre(home, topic, sign_document(forged, Ed25519PrivateKey.generate()))
    status = await eventually(lambda: (s := home.hub_status())["downlink_refused"] and s,
                              what="the forged plan to be refused")
    assert "not signed by the centre" in status["downlink_refused"]
    # The genuine but older version 1, replayed.
    publish_as_centre(home, topic, first.payload)
    status = await eventually(
        lambda: "not newer" in ((s := home.hub_status())["downlink_refused"] or "") and s,
        what="the replayed plan to be refused")
    assert status["care_plan_version"] == 2
    assert status["care_plan"]["centre_phone"] == "+47 22 22 22 22"


async def test_a_message_for_the_patient_arrives(home: SimulatedHome) -> None:
    home.start_centre()
    home.start_hub()
    result = home.centre_cli("send-message", home.hub_id, "Husk å ta blodtrykket i kveld.")
    assert result.returncode == 0, result.stderr
    status = await eventually(lambda: (s := home.hub_status())["messages"] and s,
                              what="the message at the hub")
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
    await eventually(lambda: home.hub_status()["centre_key_id"] == new_key,
                     what="the hub to take the new centre key")
    home.start_centre()
    assert_exactly_once(await drained(home, n), n)
    assert centre_rows(home)[-1][0] == n
