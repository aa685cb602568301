"""Online/offline presence through a real Mosquitto: a retained status, and the broker's will
when the hub dies without a word."""

from __future__ import annotations

import json
import queue
from typing import Any

import paho.mqtt.client as mqtt

from hub.wire.topics import status_topic
from testbed.home import SimulatedHome
from tests.conftest import eventually


def watch_status(home: SimulatedHome) -> tuple[mqtt.Client, queue.Queue[dict[str, Any]]]:
    seen: queue.Queue[dict[str, Any]] = queue.Queue()
    # The centre's side sees every hub's presence (its ACL allows reading status topics).
    client = home.mqtt_client(
        home.centre.ingest_name, client_id="nurse-dashboard", centre_side=True
    )
    client.on_message = lambda _c, _u, msg: seen.put(json.loads(msg.payload))
    client.subscribe(status_topic(home.hub_id), qos=1)
    client.loop_start()
    return client, seen


async def next_state(seen: queue.Queue[dict[str, Any]], state: str) -> dict[str, Any]:
    def arrived() -> dict[str, Any] | None:
        while not seen.empty():
            status = seen.get()
            if status["state"] == state:
                return status
        return None

    found: dict[str, Any] = await eventually(arrived, what=f"the hub to be {state}")
    return found


async def test_hub_is_online_and_the_broker_says_offline_when_it_dies(
    home: SimulatedHome,
) -> None:
    hub = home.start_hub()
    client, seen = watch_status(home)
    try:
        online = await next_state(seen, "online")
        assert online["hub_id"] == home.hub_id and online["v"] == 1
        hub.kill()  # kill -9: the hub says nothing; the broker publishes its will
        offline = await next_state(seen, "offline")
        assert offline["hub_id"] == home.hub_id
        home.start_hub()
        await next_state(seen, "online")
    finally:
        client.loop_stop()
        client.disconnect()
    # Retained: a dashboard connecting later learns the state at once.
    late, late_seen = watch_status(home)
    try:
        assert (await next_state(late_seen, "online"))["hub_id"] == home.hub_id
    finally:
        late.loop_stop()
        late.disconnect()


async def test_hub_stopping_cleanly_says_offline_itself(home: SimulatedHome) -> None:
    hub = home.start_hub()
    client, seen = watch_status(home)
    try:
        await next_state(seen, "online")
        hub.stop()  # SIGTERM: a clean disconnect, which does not trigger the will
        await next_state(seen, "offline")
    finally:
        client.loop_stop()
        client.disconnect()
