"""The broker `centre broker-config` writes, run as a real Mosquitto: each hub is confined to its
own topics, known by its certificate alone, and cannot take over another hub's session."""

from __future__ import annotations

import os
import queue
import ssl
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.reasoncodes import ReasonCode

from centre.admin import init_centre
from hub.wire.topics import ack_topic, batch_topic, status_topic
from testbed.home import SimulatedHome
from tests.conftest import eventually

NOT_AUTHORISED = 135
GRANTED_QOS_1 = 1


def puback(client: mqtt.Client, topic: str) -> int:
    """Publish at QoS 1 and return the broker's PUBACK reason code."""
    codes: queue.Queue[int] = queue.Queue()
    client.on_publish = lambda _c, _u, _mid, reason, _p: codes.put(reason.value)
    client.loop_start()
    client.publish(topic, b"payload", qos=1)
    return codes.get(timeout=10)


@pytest.fixture
def hub_a(home: SimulatedHome) -> Any:
    client = home.mqtt_client("hub-aaaa")
    yield client
    client.loop_stop()
    client.disconnect()


def test_hub_may_publish_its_own_batches_but_not_another_hubs(
    home: SimulatedHome, hub_a: mqtt.Client
) -> None:
    assert puback(hub_a, batch_topic("hub-aaaa")) < 128
    assert puback(hub_a, batch_topic("hub-bbbb")) == NOT_AUTHORISED
    assert puback(hub_a, status_topic("hub-bbbb")) == NOT_AUTHORISED
    # Nor may it forge the centre's side: acks and downlink.
    assert puback(hub_a, ack_topic("hub-aaaa")) == NOT_AUTHORISED
    assert puback(hub_a, "dho/v1/hub/hub-aaaa/down/care_plan") == NOT_AUTHORISED


def received(client: mqtt.Client, *topics: str) -> queue.Queue[str]:
    """Subscribe and collect the topics of what arrives."""
    seen: queue.Queue[str] = queue.Queue()
    client.on_message = lambda _c, _u, msg: seen.put(msg.topic)
    subscribed = threading.Event()
    client.on_subscribe = lambda *_: subscribed.set()
    client.loop_start()
    for topic in topics:
        subscribed.clear()
        client.subscribe(topic, qos=1)
        assert subscribed.wait(10)
    return seen


def suback(client: mqtt.Client, topic: str) -> int:
    """Subscribe at QoS 1 and return the broker's SUBACK reason code (MQTT v5)."""
    codes: queue.Queue[int] = queue.Queue()
    client.on_subscribe = lambda _c, _u, _mid, reasons, _p: codes.put(reasons[0].value)
    client.loop_start()
    client.subscribe(topic, qos=1)
    return codes.get(timeout=10)


# Finding 6 of issue 11: Mosquitto's ACL file grants every subscription, and a hub that joined
# the ingest workers' shared subscription was handed its turn of every hub's batches, which
# the read ACL then dropped. The plugin `centre broker-config` builds refuses such subscriptions.
FORBIDDEN_TO_HUB_AAAA = (
    "$share/ingest/dho/v1/hub/+/batch",
    "$share/other/dho/v1/hub/+/batch",
    "$share/ingest/dho/v1/hub/hub-bbbb/batch",
    "$share/x/dho/v1/hub/hub-bbbb/ack",
    "$share/x/dho/v1/hub/hub-aaaa/ack",  # its own acks, but through a share: no
    "#",
    "+/#",
    "dho/#",
    "$SYS/#",
    "dho/v1/hub/+/batch",
    "dho/v1/hub/+/ack",
    "dho/v1/hub/+/down/#",
    "dho/v1/hub/hub-bbbb/down/#",
    "dho/v1/hub/hub-bbbb/down/care_plan",
    "dho/v1/hub/hub-bbbb/ack",
    "dho/v1/hub/hub-aaaa/#",
    "dho/v1/hub/hub-aaaa/batch",
    "dho/v1/hub/hub-aaaa/status",
)


def test_a_hub_may_subscribe_only_to_its_own_acks_and_downlink(
    home: SimulatedHome, hub_a: mqtt.Client
) -> None:
    codes = {topic: suback(hub_a, topic) for topic in FORBIDDEN_TO_HUB_AAAA}
    assert codes == dict.fromkeys(FORBIDDEN_TO_HUB_AAAA, NOT_AUTHORISED)
    # And nothing arrives through them: another hub's traffic, both ways.
    seen: queue.Queue[str] = queue.Queue()
    hub_a.on_message = lambda _c, _u, msg: seen.put(msg.topic)
    hub_b = home.mqtt_client("hub-bbbb")
    centre = home.mqtt_client(home.centre.ingest_name, centre_side=True)
    try:
        for topic in (batch_topic("hub-bbbb"), status_topic("hub-bbbb")):
            assert puback(hub_b, topic) < 128
        for topic in (ack_topic("hub-bbbb"), "dho/v1/hub/hub-bbbb/down/care_plan"):
            assert puback(centre, topic) < 128
        with pytest.raises(queue.Empty):
            seen.get(timeout=1.0)
    finally:
        for client in (hub_b, centre):
            client.loop_stop()
            client.disconnect()
    # What the hub daemon subscribes to (hub/sync/uplink.py), and its whole downlink.
    own = ("dho/v1/hub/hub-aaaa/ack", "dho/v1/hub/hub-aaaa/down/+", "dho/v1/hub/hub-aaaa/down/#")
    assert {topic: suback(hub_a, topic) for topic in own} == dict.fromkeys(own, GRANTED_QOS_1)
    assert hub_a.is_connected()


async def test_a_hub_cannot_take_a_share_of_every_hubs_batches(
    home: SimulatedHome, hub_a: mqtt.Client
) -> None:
    home.start_centre()
    hub_b = home.mqtt_client("hub-bbbb")
    try:
        # The real ingest worker is subscribed once a probe reaches it (a refused non-batch).
        await eventually(
            lambda: puback(hub_b, batch_topic("hub-bbbb")) < 128 and home.centre_rejections(),
            what="the centre to take batches",
        )
        taken = len(home.centre_rejections())
        group = home.centre.share_group
        joined = suback(hub_a, f"$share/{group}/dho/v1/hub/+/batch")
        spy = received(hub_a, f"$share/{group}/dho/v1/hub/hub-bbbb/batch")
        sent = 40
        for _ in range(sent):
            assert puback(hub_b, batch_topic("hub-bbbb")) < 128
        # Every one reaches the centre (recorded, as refused non-batches): none went to hub-aaaa.
        await eventually(
            lambda: len(home.centre_rejections()) >= taken + sent,
            what=f"all {sent} messages at the centre",
        )
        with pytest.raises(queue.Empty):
            spy.get(timeout=1.0)
        assert joined == NOT_AUTHORISED
    finally:
        hub_b.loop_stop()
        hub_b.disconnect()


def test_hub_cannot_read_another_hubs_downlink_acks_or_batches(
    home: SimulatedHome, hub_a: mqtt.Client
) -> None:
    # The subscriptions are refused (test above); and were one granted, Mosquitto would still
    # apply the read ACL to each message it delivers: what counts is what arrives.
    spy = received(
        hub_a, "dho/v1/hub/hub-bbbb/down/#", ack_topic("hub-bbbb"), "dho/v1/hub/+/batch", "#"
    )
    hub_b = home.mqtt_client("hub-bbbb")
    centre = home.mqtt_client(home.centre.ingest_name, centre_side=True)
    try:
        own = received(hub_b, "dho/v1/hub/hub-bbbb/down/#", ack_topic("hub-bbbb"))
        for topic in ("dho/v1/hub/hub-bbbb/down/care_plan", ack_topic("hub-bbbb")):
            assert puback(centre, topic) < 128
        assert puback(hub_b, batch_topic("hub-bbbb")) < 128
        assert sorted(own.get(timeout=10) for _ in range(2)) == [
            ack_topic("hub-bbbb"),
            "dho/v1/hub/hub-bbbb/down/care_plan",
        ]
        with pytest.raises(queue.Empty):
            spy.get(timeout=1.0)
    finally:
        for client in (hub_b, centre):
            client.loop_stop()
            client.disconnect()


def test_a_hub_cannot_take_over_another_hubs_session(home: SimulatedHome) -> None:
    victim = home.mqtt_client("hub-aaaa")
    dropped = threading.Event()
    victim.on_disconnect = lambda *_: dropped.set()
    victim.loop_start()
    # hub-bbbb asks for hub-aaaa's client id: the broker gives it its certificate's name.
    intruder = home.mqtt_client("hub-bbbb", client_id="hub-aaaa")
    try:
        assert puback(intruder, batch_topic("hub-bbbb")) < 128
        assert puback(intruder, batch_topic("hub-aaaa")) == NOT_AUTHORISED
        assert not dropped.wait(1.0), "the real hub-aaaa was kicked off"
        assert victim.is_connected()
    finally:
        for client in (victim, intruder):
            client.loop_stop()
            client.disconnect()


def never_connects(client: mqtt.Client, port: int) -> None:
    connected: queue.Queue[ReasonCode] = queue.Queue()
    client.on_connect = lambda _c, _u, _f, reason, _p: connected.put(reason)
    try:
        client.connect("127.0.0.1", port)
    except (ssl.SSLError, OSError):
        return  # refused during the handshake
    client.loop_start()
    try:
        with pytest.raises(queue.Empty):
            connected.get(timeout=2)
    finally:
        client.loop_stop()


def test_a_client_without_a_certificate_is_refused(home: SimulatedHome) -> None:
    context = ssl.create_default_context(cafile=str(home.centre.ca_cert_path))
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="no-cert", protocol=mqtt.MQTTv5)
    client.tls_set_context(context)
    never_connects(client, home.broker.port)
    assert "no-cert" not in home.broker_log()


def test_plain_tcp_is_not_spoken(home: SimulatedHome) -> None:
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="plain", protocol=mqtt.MQTTv5)
    never_connects(client, home.broker.port)


@pytest.mark.filterwarnings("ignore:ssl.TLSVersion.TLSv1_1 is deprecated:DeprecationWarning")
def test_tls_older_than_1_2_is_refused(home: SimulatedHome) -> None:
    context = ssl.create_default_context(cafile=str(home.centre.ca_cert_path))
    context.minimum_version = context.maximum_version = ssl.TLSVersion.TLSv1_1
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="old", protocol=mqtt.MQTTv5)
    client.tls_set_context(context)
    never_connects(client, home.broker.port)


def test_a_hub_certificate_gets_nothing_on_the_centres_listener(home: SimulatedHome) -> None:
    # The centre's listener lets its ingest workers read every hub's batches; a hub there is
    # a user with no ACL lines at all.
    client = home.mqtt_client("hub-aaaa", centre_side=True)
    try:
        for topic in (
            f"$share/{home.centre.share_group}/dho/v1/hub/+/batch",
            "#",
            "dho/v1/hub/+/batch",
            "dho/v1/hub/hub-aaaa/ack",
        ):
            assert suback(client, topic) == NOT_AUTHORISED, topic
        spy = received(client, "dho/v1/hub/+/batch", "#")
        assert puback(client, ack_topic("hub-aaaa")) == NOT_AUTHORISED
        hub_b = home.mqtt_client("hub-bbbb")
        assert puback(hub_b, batch_topic("hub-bbbb")) < 128
        hub_b.loop_stop()
        hub_b.disconnect()
        with pytest.raises(queue.Empty):
            spy.get(timeout=1.0)
    finally:
        client.loop_stop()
        client.disconnect()


async def test_the_hub_daemon_connects_with_its_certificate(home: SimulatedHome) -> None:
    home.start_hub()
    await eventually(
        lambda: (
            "New client connected" in home.broker_log() and "u'hub-sim-0001'" in home.broker_log()
        ),
        what="the hub to connect under its certificate name",
    )


def test_broker_config_without_a_compiler_says_what_to_install(tmp_path: Path) -> None:
    init_centre(tmp_path / "centre.toml", tmp_path / "state", "127.0.0.1", 8884, "127.0.0.1", 8883)
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "centre.cli",
            "--config",
            str(tmp_path / "centre.toml"),
            "broker-config",
            "--out",
            str(tmp_path / "broker"),
        ],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "PATH": str(tmp_path)},
    )
    assert result.returncode == 2
    assert "gcc, mosquitto-dev and libmosquitto-dev" in result.stderr
    assert not (tmp_path / "broker" / "mosquitto.conf").exists()
