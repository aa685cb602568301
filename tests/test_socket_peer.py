"""`pair` and `forget` behind the technician PIN on the hub's socket, against real peers: clients
running as other uids (a process of the socket's group that is not root: the patient screen's
user, or anything it runs), whose uid the daemon reads from the kernel (SO_PEERCRED).

As root, each peer is a child process started with another uid and the socket's group
(`subprocess.run(user=..., group=..., extra_groups=...)`): no user account is needed for a uid.
Without root there is no second uid to be, and these tests are skipped.

The rule alone, and a model of its state: tests/test_socket_peer_rule.py.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import shutil
import stat
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from hub import ipc
from hub.config import load_config
from hub.core.technician_unlock import UNLOCK_S
from testbed.bluetooth import DEVICE_ADAPTERS
from testbed.home import SimulatedHome
from testbed.peripherals.cuff import EmulatedCuff
from tests.conftest import devices, hub_log
from tests.test_socket_peer_rule import CUFF as STAND_IN_CUFF
from tests.test_socket_peer_rule import PIN as STAND_IN_PIN
from tests.test_socket_peer_rule import stand_in_ops
from tests.test_technician_mode import PIN, screen_app, set_pin, tap_to, unlock
from tests.ui_support import wait_until

# The peers' interpreter: one that any uid may run (this venv's may live under /root).
PEER_PYTHON = "/usr/bin/python3"
pytestmark = [
    pytest.mark.skipif(
        os.geteuid() != 0,
        reason="needs root: a peer of another uid is a child started with that uid (setuid)",
    ),
    pytest.mark.skipif(
        not os.access(PEER_PYTHON, os.X_OK), reason=f"no {PEER_PYTHON} for the other uids"
    ),
]

SCREEN_UID, OTHER_UID = 61_001, 61_002  # no account needed: the kernel reports the uid
CUFF = DEVICE_ADAPTERS["hci1"]

# The peer: one request per connection, as the protocol has it; stdlib only (-I -S), so the
# other uid needs nothing of this checkout.
CHILD = """
import socket, sys
for line in sys.argv[2:]:
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.settimeout(150)
        s.connect(sys.argv[1])
        s.sendall(line.encode() + b"\\n")
        print(s.makefile("rb").readline().decode().strip(), flush=True)
"""


def as_uid(uid: int, socket_path: Path, *requests: dict[str, Any]) -> list[dict[str, Any]]:
    """Send `requests` (each on its own connection, in order) as a process of `uid` in the
    socket's group; the answers."""
    group = os.stat(socket_path).st_gid
    done = subprocess.run(
        [PEER_PYTHON, "-I", "-S", "-c", CHILD, str(socket_path), *map(json.dumps, requests)],
        user=uid,
        group=group,
        extra_groups=[group],
        capture_output=True,
        text=True,
        timeout=300,
        cwd="/",
        env={"PATH": "/usr/bin:/bin"},
    )
    assert done.returncode == 0, done.stderr
    return [json.loads(line) for line in done.stdout.splitlines()]


def open_the_way(socket_path: Path, top: Path) -> None:
    """Let other uids reach the socket: search (not list) on its directories up to `top`."""
    for directory in (socket_path.parent, *socket_path.parent.parents):
        directory.chmod(stat.S_IMODE(directory.stat().st_mode) | 0o711)
        if directory == top:
            break


@pytest.fixture
def open_dir() -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix="dho-peer-", dir="/tmp"))
    path.chmod(0o711)
    yield path
    shutil.rmtree(path, ignore_errors=True)


def refused(answer: dict[str, Any]) -> bool:
    return answer.get("ok") is False and answer.get("error_kind") == "needs_technician"


# --- the socket reads who asked ------------------------------------------------------------


async def test_the_socket_tells_the_handler_the_peers_uid_from_the_kernel(open_dir: Path) -> None:
    sock = open_dir / "hub.sock"

    async def who(req: dict[str, Any], peer: ipc.Peer | None) -> dict[str, Any]:
        assert peer is not None
        return {"ok": True, "uid": peer.uid, "gid": peer.gid, "said": req.get("uid")}

    server = await ipc.serve(sock, who)
    try:
        # What the client says of itself counts for nothing.
        (child,) = await asyncio.to_thread(as_uid, SCREEN_UID, sock, {"op": "x", "uid": 0})
        assert child == {"ok": True, "uid": SCREEN_UID, "gid": 0, "said": 0}
        mine = await asyncio.to_thread(ipc.request_blocking, sock, "x")
        assert mine["uid"] == os.geteuid() == 0
    finally:
        server.close()
        await server.wait_closed()


# --- the daemon's request handling over a real socket, its clock in the test's hands -------


async def test_pair_and_forget_from_another_uid_need_its_own_recent_unlock(
    open_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    clock = [1000.0]
    ops, stand_in = stand_in_ops(clock)
    ops.daemon_uid = 61_999  # the daemon's own user: neither peer here
    sock = open_dir / "hub.sock"
    server = await ipc.serve(sock, ops.handle)
    pair = {"op": "pair", "scan_s": 1}
    forget = {"op": "forget", "address": STAND_IN_CUFF}

    async def ask(uid: int, *requests: dict[str, Any]) -> list[dict[str, Any]]:
        return await asyncio.to_thread(as_uid, uid, sock, *requests)

    try:
        # No unlock: refused in words, nothing paired.
        (answer,) = await ask(SCREEN_UID, pair)
        assert refused(answer), answer
        assert answer["error"].startswith(
            "pairing needs the technician PIN on the screen, or root: sudo hub pair"
        )
        assert not stand_in.paired
        # A wrong PIN changes nothing.
        wrong, answer = await ask(SCREEN_UID, {"op": "technician_unlock", "pin": "000000"}, pair)
        assert wrong["unlocked"] is False and refused(answer), answer
        assert not stand_in.paired
        # The right PIN, then pair: as the screen's technician mode does.
        right, answer = await ask(
            SCREEN_UID, {"op": "technician_unlock", "pin": STAND_IN_PIN}, pair
        )
        assert right["unlocked"] is True and answer["ok"] is True, answer
        assert stand_in.paired == {STAND_IN_CUFF}
        # Another uid of the same group gets nothing of it.
        (answer,) = await ask(OTHER_UID, forget)
        assert refused(answer) and "forgetting a device needs" in answer["error"], answer
        assert stand_in.paired == {STAND_IN_CUFF}
        # The unlock runs out UNLOCK_S after the last op it allowed.
        clock[0] += UNLOCK_S - 1
        (answer,) = await ask(SCREEN_UID, forget)
        assert answer["ok"] is True and not stand_in.paired, answer
        clock[0] += UNLOCK_S - 1
        (answer,) = await ask(SCREEN_UID, pair)
        assert answer["ok"] is True, answer  # kept by the forget
        clock[0] += UNLOCK_S
        (answer,) = await ask(SCREEN_UID, forget)
        assert refused(answer) and "in the last 5 minutes" in answer["error"], answer
        assert stand_in.paired == {STAND_IN_CUFF}
        # Leaving technician mode locks at once.
        _, locked, answer = await ask(
            SCREEN_UID,
            {"op": "technician_unlock", "pin": STAND_IN_PIN},
            {"op": "technician_lock"},
            forget,
        )
        assert locked == {"ok": True, "was_unlocked": True} and refused(answer), answer
        assert stand_in.paired == {STAND_IN_CUFF}
        # Root needs no PIN (`sudo hub forget`), and the daemon answers on as ever.
        answer = await asyncio.to_thread(
            ipc.request_blocking, sock, "forget", 3.0, address=STAND_IN_CUFF
        )
        assert answer["ok"] is True and not stand_in.paired, answer
    finally:
        server.close()
        await server.wait_closed()
    refusals = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any(f"refused pair on the hub socket to uid {SCREEN_UID}" in m for m in refusals)
    assert any(f"refused forget on the hub socket to uid {OTHER_UID}" in m for m in refusals)
    assert not any(STAND_IN_PIN in r.getMessage() for r in caplog.records)


# --- the real daemon, a real cuff on BlueZoo ------------------------------------------------


async def test_the_daemon_pairs_for_another_uid_only_after_its_pin(home: SimulatedHome) -> None:
    set_pin(home)
    home.start_hub()
    sock = load_config(home.hub_config).socket_path
    open_the_way(sock, home.workdir)
    cuff = EmulatedCuff()
    await cuff.start()  # advertising, not yet paired: what pairing mode is to the hub
    pair = {"op": "pair", "address": CUFF, "scan_s": 60}

    async def ask(uid: int, *requests: dict[str, Any]) -> list[dict[str, Any]]:
        return await asyncio.to_thread(as_uid, uid, sock, *requests)

    try:
        (answer,) = await ask(SCREEN_UID, pair)
        assert refused(answer) and "sudo hub pair" in answer["error"], answer
        wrong, answer = await ask(SCREEN_UID, {"op": "technician_unlock", "pin": "000000"}, pair)
        assert wrong["unlocked"] is False and refused(answer), answer
        assert devices(home) == []
        # Another uid's right PIN opens nothing for this one.
        (right,) = await ask(OTHER_UID, {"op": "technician_unlock", "pin": PIN})
        assert right["unlocked"] is True
        (answer,) = await ask(SCREEN_UID, pair)
        assert refused(answer), answer
        assert devices(home) == []
        # Its own right PIN: the screen's way, and the cuff is paired.
        right, answer = await ask(SCREEN_UID, {"op": "technician_unlock", "pin": PIN}, pair)
        assert right["unlocked"] is True and answer["ok"] is True, answer
        assert [d["address"] for d in devices(home)] == [CUFF]
        # Another uid that left technician mode cannot unpair the patient's cuff.
        locked, answer = await ask(
            OTHER_UID, {"op": "technician_lock"}, {"op": "forget", "address": CUFF}
        )
        assert locked["was_unlocked"] is True and refused(answer), answer
        assert [d["address"] for d in devices(home)] == [CUFF]
        # Root, as docs/operations.md tells technicians: `sudo hub forget`, no PIN.
        done = await asyncio.to_thread(home.hub_cli, "forget", CUFF)
        assert done.returncode == 0, done.stderr
        assert devices(home) == []
        assert (await asyncio.to_thread(home.ask_hub, "status"))["ok"] is True
    finally:
        await cuff.stop()
    log = hub_log(home)
    assert f"refused pair on the hub socket to uid {SCREEN_UID}" in log
    assert f"refused forget on the hub socket to uid {OTHER_UID}" in log
    assert PIN not in log


# --- the screen locks again when technician mode is left ------------------------------------


async def test_leaving_technician_mode_on_the_screen_ends_the_unlock(home: SimulatedHome) -> None:
    """The screen (here the test's own uid) unlocks with the PIN on its keypad; leaving
    technician mode by its button sends `technician_lock`, which the daemon logs."""
    set_pin(home)
    home.start_hub()
    app = screen_app(home)
    async with app.run_test(size=(50, 15)) as pilot:
        await unlock(pilot)
        await tap_to(pilot, "#tech-leave", lambda: len(app.screen_stack) == 1, "home")
        await wait_until(
            pilot,
            lambda: "pair and forget locked again for uid 0" in hub_log(home),
            "the daemon locked again",
        )
    assert "pair and forget unlocked for uid 0" in hub_log(home)
