"""The daemon's housekeeping deletes plaintext past the screen's window when it starts (and then
once an hour: the delete reads every reading kept); sealed copies wait for the centre."""

from __future__ import annotations

import sqlite3

from hub.config import load_config
from testbed.home import SimulatedHome
from testbed.outage import fill_outbox
from tests.conftest import eventually


async def test_old_plaintext_is_deleted_at_start_and_its_sealed_copy_still_goes_out(
    home: SimulatedHome,
) -> None:
    fill_outbox(home.hub_config, 3)
    path = load_config(home.hub_config).db_path
    with sqlite3.connect(path) as db:  # reading 1 was stored long ago, past any window
        db.execute("UPDATE readings SET stored_at = '2000-01-01T00:00:00.000+00:00' WHERE seq = 1")
    home.start_hub()
    await eventually(
        lambda: [r["seq"] for r in home.hub_readings()] == [2, 3], what="reading 1's plaintext gone"
    )
    assert home.hub_status()["pending"] == 3, "its sealed copy still waits for the centre"
    home.start_centre()
    await eventually(lambda: home.hub_status()["pending"] == 0, what="all three delivered")
