"""The outbox's disk budget: near it, the hub raises an alarm in its log, its status (the
patient screen) and its retained MQTT status (the centre); it drops nothing, and the alarm
clears once the centre has the readings."""

from __future__ import annotations

import json
import queue
from typing import Any

from hub.core.pipeline import outbox_alarm
from hub.wire.topics import status_topic
from testbed.home import SimulatedHome
from testbed.outage import fill_outbox
from tests.conftest import eventually
from tests.test_faults import assert_exactly_once, drained


def test_alarm_levels() -> None:
    mb = 1024 * 1024
    assert outbox_alarm(0, 256) is None
    assert outbox_alarm(int(0.79 * 256 * mb), 256) is None
    assert outbox_alarm(int(0.8 * 256 * mb) + 1, 256) == "near_full"
    assert outbox_alarm(256 * mb, 256) == "over_budget"


async def test_a_full_outbox_raises_the_alarm_everywhere_and_loses_nothing(
    home: SimulatedHome,
) -> None:
    n = 200  # about 120 KB sealed, against a 0.05 MB budget
    home.configure_hub(sync={"outbox_budget_mb": 0.05})
    fill_outbox(home.hub_config, n)
    seen: queue.Queue[dict[str, Any]] = queue.Queue()
    watcher = home.mqtt_client(home.centre.ingest_name, client_id="dashboard", centre_side=True)
    watcher.on_message = lambda _c, _u, msg: seen.put(json.loads(msg.payload))
    watcher.subscribe(status_topic(home.hub_id), qos=1)
    watcher.loop_start()
    try:
        hub = home.start_hub()  # the centre is down: nothing is acknowledged
        status = await eventually(
            lambda: (s := home.hub_status())["outbox_alarm"] and s,
            what="the outbox alarm in the hub's status",
        )
        assert status["outbox_alarm"] == "over_budget" and status["pending"] == n

        def centre_told(alarm: str | None) -> bool:
            while not seen.empty():
                update = seen.get()
                if update["state"] == "online" and update["alarm"] == alarm:
                    return True
            return False

        await eventually(lambda: centre_told("over_budget"), what="the centre to be told")
        assert "outbox over_budget" in hub.tail(80)
        home.start_centre()
        assert_exactly_once(await drained(home, n), n)
        await eventually(
            lambda: home.hub_status()["outbox_alarm"] is None, what="the alarm to clear"
        )
        await eventually(lambda: centre_told(None), what="the centre to hear it cleared")
    finally:
        watcher.loop_stop()
        watcher.disconnect()
