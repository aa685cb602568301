"""A full disk under the running hub daemon: a real (small) tmpfs holds the hub's state, a
filler file takes the last byte, readings keep arriving from the emulated cuff."""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from hub import ipc
from hub.config import load_config
from testbed.home import SimulatedHome
from testbed.peripherals.cuff import EmulatedCuff
from tests.conftest import eventually, hub_log, pair, readings


@pytest.fixture
def small_disk_home(short_tmp: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[SimulatedHome]:
    state = short_tmp / "hub"
    state.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(state)],
        capture_output=True,
        text=True,
    )
    if mounted.returncode != 0:
        pytest.skip(f"needs permission to mount a small tmpfs: {mounted.stderr.strip()}")
    try:
        home = SimulatedHome(short_tmp)
        for key, value in home.bluetooth.env.items():
            monkeypatch.setenv(key, value)
        try:
            yield home
        finally:
            home.stop()
    finally:
        subprocess.run(["umount", "-l", str(state)], check=False)


def fill(directory: Path) -> Path:
    """Write a filler file until the filesystem refuses another byte."""
    filler = directory / "filler"
    with open(filler, "wb", buffering=0) as out:
        for size in (1 << 16, 4096, 1):
            with contextlib.suppress(OSError):
                while True:
                    out.write(b"\0" * size)
    return filler


def status(home: SimulatedHome) -> dict[str, Any]:
    return ipc.request_blocking(load_config(home.hub_config).socket_path, "status")


async def test_full_disk_keeps_readings_in_memory_and_stores_them_when_space_returns(
    small_disk_home: SimulatedHome,
) -> None:
    home = small_disk_home
    cuff = EmulatedCuff()
    await cuff.start()
    home.start_hub()
    try:
        await pair(home, cuff)
        cuff.measure(121, 80, 60)
        before = await readings(home, 1)
        await eventually(lambda: home.hub_devices()[0]["last_connected_at"], what="session end")
        filler = fill(load_config(home.hub_config).state_dir)

        cuff.measure(135, 85, 70)  # arrives while nothing more can be written
        problem = await eventually(
            lambda: status(home)["store_problem"], what="the hub to report the full disk"
        )
        assert "the disk is full" in problem
        assert "the disk is full" in hub_log(home)
        assert next(p for p in home.processes if p.name == "hub").alive()
        assert [r["seq"] for r in home.hub_readings()] == [1]  # still readable, unchanged

        filler.unlink()  # space returns
        rows = await readings(home, 2)
        await eventually(lambda: status(home)["store_problem"] is None, what="the problem to clear")
    finally:
        await cuff.stop()
    assert rows[0] == {**before[0], "synced": rows[0]["synced"], "synced_at": rows[0]["synced_at"]}
    assert [r["values"]["systolic"] for r in rows] == [121.0, 135.0]
    await asyncio.sleep(0)
    db = sqlite3.connect(f"file:{load_config(home.hub_config).db_path}?mode=ro", uri=True)
    assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    db.close()
