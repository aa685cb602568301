"""The local socket (`hub.sock`) against a hostile or broken client: idle and half-sent
connections, a crowd of them, and every kind of malformed request. Each connection gets exactly
one answer line and is closed; the daemon stays up and keeps answering.

First against the real `ipc.serve` on a real Unix socket with a handler that echoes (or fails),
then against the real hub daemon (`hub run`, with BlueZoo and Mosquitto from the simulated home).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import resource
import socket
import threading
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from hub import ipc
from hub.config import load_config
from hub.local_protocol import Refusal, StatusAnswer, StatusRequest
from testbed.home import SimulatedHome
from tests.conftest import eventually, hub_log
from tests.ui_support import BASE_STATUS

CROWD = 1100  # more idle connections than the default file limit of a systemd service (1024)
PATIENT_S = 120.0  # generous limits for a loaded machine; nothing here is a timed assertion

# (what is sent, what the refusal says): each is one request line, or a line that never ends.
MALFORMED: list[tuple[str, bytes, str]] = [
    ("not json", b"hello daemon\n", "not JSON"),
    ("empty line", b"\n", "not JSON"),
    ("truncated object", b'{"op": "status"\n', "not JSON"),
    ("a list", b'["status"]\n', "must be a JSON object, not list"),
    ("a string", b'"status"\n', "must be a JSON object, not str"),
    ("null", b"null\n", "must be a JSON object, not NoneType"),
    ("20 000 deep list", b"[" * 20_000 + b"\n", "nested deeper than 64"),
    (
        "12 000 deep object",
        b'{"op": "status", "x": ' + b'{"a":' * 12_000 + b"\n",
        "nested deeper than 64",
    ),
    (
        "100 deep, complete",
        b'{"op": "status", "x": ' + b"[" * 100 + b"]" * 100 + b"}\n",
        "nested deeper than 64",
    ),
    ("invalid UTF-8", b'{"op": "st\xff\xfeatus"}\n', "not UTF-8"),
    ("lone surrogate", b'{"op": "forget", "address": "\\ud800"}\n', "lone surrogate"),
    ("lone surrogate key", b'{"op": "status", "\\udfff": 1}\n', "lone surrogate"),
    ("NaN", b'{"op": "live", "wait_s": NaN}\n', "NaN is not a number"),
    ("Infinity", b'{"op": "pair", "scan_s": Infinity}\n', "Infinity is not a number"),
    ("-Infinity", b'{"op": "live", "wait_s": -Infinity}\n', "-Infinity is not a number"),
    ("1e999", b'{"op": "pair", "scan_s": 1e999}\n', "out of range"),
    ("2**64", b'{"op": "message_read", "version": 18446744073709551616}\n', "out of range"),
    ("5 000 digits", b'{"op": "message_read", "version": ' + b"9" * 5000 + b"}\n", "not JSON"),
    ("over 64 KiB", b'{"op": "status", "x": "' + b"a" * 70_000 + b'"}\n', "larger than 64 KiB"),
    ("4 MiB, no newline", b"a" * (4 * 1024 * 1024), "larger than 64 KiB"),
    ("ends before newline", b'{"op": "status"}', "ended before the request line"),
]


# --- a client, as hostile as needed (blocking sockets in threads: the server may share our loop)


def _send_quietly(sock: socket.socket, data: bytes, end: bool) -> None:
    with contextlib.suppress(OSError):  # the daemon may close before it has read everything
        sock.sendall(data)
        if end:
            sock.shutdown(socket.SHUT_WR)


def _read_to_end(sock: socket.socket) -> bytes:
    received = b""
    with contextlib.suppress(ConnectionResetError):
        while chunk := sock.recv(65536):
            received += chunk
    return received


def exchange(path: Path, data: bytes, end: bool = False) -> list[bytes]:
    """Send `data` (`end`: then close our side) and return every line the daemon sent before
    it closed the connection."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(PATIENT_S)
        sock.connect(str(path))
        sender = threading.Thread(target=_send_quietly, args=(sock, data, end), daemon=True)
        sender.start()
        received = _read_to_end(sock)
        sender.join(PATIENT_S)
    return received.splitlines()


def one_answer(path: Path, data: bytes, end: bool = False) -> dict[str, Any]:
    lines = exchange(path, data, end)
    assert len(lines) == 1, f"expected exactly one answer line, got {lines!r}"
    answer: dict[str, Any] = json.loads(lines[0])
    return answer


def request_line(req: dict[str, Any]) -> bytes:
    return json.dumps(req).encode() + b"\n"


def connect(path: Path) -> socket.socket:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.settimeout(PATIENT_S)
    deadline = time.monotonic() + PATIENT_S
    while True:
        try:
            sock.connect(str(path))
            return sock
        except (BlockingIOError, ConnectionRefusedError, FileNotFoundError):
            # The listen backlog is full until the daemon accepts, or it is not listening yet.
            if time.monotonic() > deadline:
                raise
            time.sleep(0.01)


def open_idle(path: Path, n: int) -> list[socket.socket]:
    """`n` connections that never send anything."""
    return [connect(path) for _ in range(n)]


def answers_of(crowd: list[socket.socket]) -> list[dict[str, Any]]:
    """What each idle connection was told before it was closed (exactly one line each)."""
    answers = []
    for sock in crowd:
        lines = _read_to_end(sock).splitlines()
        sock.close()
        assert len(lines) == 1, f"expected exactly one answer line, got {lines!r}"
        answers.append(json.loads(lines[0]))
    return answers


async def served(path: Path, op: str = "status") -> dict[str, Any]:
    """Ask until the socket has room (a busy refusal is an answer too, but not this one)."""

    def ask() -> dict[str, Any] | None:
        try:
            answer = ipc.request_blocking(path, op, timeout=10)
        except ipc.DaemonUnavailable:
            return None
        return None if answer.get("error_kind") == "busy" else answer

    answer: dict[str, Any] = await eventually(ask, PATIENT_S, f"{op} to be answered")
    return answer


@pytest.fixture
def files_for_a_crowd() -> Iterator[None]:
    """The crowd needs ~1 100 client sockets in this test process: raise the soft file limit
    (test process only) if it is lower; the daemon's own limit is left as it is."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = 4 * CROWD if hard == resource.RLIM_INFINITY else min(hard, 4 * CROWD)
    if soft != resource.RLIM_INFINITY and soft < wanted:
        resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))
    if wanted < 2 * CROWD:
        pytest.skip(f"the hard file limit {hard} is too low for {CROWD} client sockets")
    yield
    resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


# --- the socket itself: ipc.serve with a handler that echoes, or fails


class Echo:
    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []

    async def __call__(self, req: dict[str, Any], _asker: ipc.Peer | None) -> dict[str, Any]:
        self.requests.append(req)
        if req.get("op") == "fail":
            raise KeyError("a bug in a handler")
        if req.get("op") == "unencodable":
            return {"ok": True, "value": object()}
        if req.get("op") == "big":  # more than the socket buffers hold
            return {"ok": True, "blob": "x" * 1024 * 1024}
        return {"ok": True, "echo": req}


@pytest.fixture
async def echo_server(sock_path: Path) -> AsyncIterator[Echo]:
    echo = Echo()
    server = await ipc.serve(sock_path, echo)
    yield echo
    server.close()
    await server.wait_closed()


@pytest.mark.parametrize(
    ("data", "expected"), [(d, e) for _, d, e in MALFORMED], ids=[name for name, _, _ in MALFORMED]
)
async def test_a_malformed_request_gets_one_refusal_and_the_handler_never_sees_it(
    echo_server: Echo, sock_path: Path, data: bytes, expected: str
) -> None:
    answer = await asyncio.to_thread(one_answer, sock_path, data, True)
    assert answer["ok"] is False and answer["error_kind"] == "bad_request"
    assert expected in answer["error"], answer
    assert echo_server.requests == []
    assert (await served(sock_path))["ok"] is True


async def test_a_failing_handler_is_answered_with_its_type_and_logged(
    echo_server: Echo, sock_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="hub.ipc"):
        failed = await asyncio.to_thread(one_answer, sock_path, request_line({"op": "fail"}))
        unencodable = await asyncio.to_thread(
            one_answer, sock_path, request_line({"op": "unencodable"})
        )
    assert failed["ok"] is False and failed["error_kind"] == "internal"
    assert "KeyError" in failed["error"] and "log" in failed["error"]
    assert unencodable["ok"] is False and unencodable["error_kind"] == "internal"
    assert "KeyError" in caplog.text and "'fail'" in caplog.text
    assert "TypeError" in caplog.text  # the answer that could not be encoded
    assert (await served(sock_path))["ok"] is True


async def test_a_slow_client_is_answered_and_cut_off(
    echo_server: Echo, sock_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="hub.ipc"):
        # Slowloris: half a line, then nothing (the connection stays open on our side).
        half = await asyncio.to_thread(one_answer, sock_path, b'{"op": "sta')
        silent = await asyncio.to_thread(one_answer, sock_path, b"")
    for answer in (half, silent):
        assert answer["ok"] is False and answer["error_kind"] == "bad_request"
        assert f"no complete request line within {ipc.READ_TIMEOUT_S:g} s" in answer["error"]
    assert "no complete request line" in caplog.text
    assert echo_server.requests == []


async def test_clients_over_the_cap_are_told_at_once_and_served_when_room(
    echo_server: Echo, sock_path: Path
) -> None:
    holding = await asyncio.to_thread(open_idle, sock_path, ipc.MAX_CLIENTS)
    try:
        # Whatever the crowd, the next client hears why at once (the crowd is still idle).
        busy = await asyncio.to_thread(one_answer, sock_path, request_line({"op": "status"}))
        assert busy["ok"] is False and busy["error_kind"] == "busy"
        assert "busy" in busy["error"] and "try again" in busy["error"]
        # The read timeout frees the places: then status is answered.
        assert (await served(sock_path))["ok"] is True
    finally:
        told = await asyncio.to_thread(answers_of, holding)
    assert all("no complete request line" in a["error"] for a in told)


async def test_a_crowd_of_idle_connections_does_not_starve_the_socket(
    files_for_a_crowd: None, echo_server: Echo, sock_path: Path
) -> None:
    crowd = await asyncio.to_thread(open_idle, sock_path, CROWD)
    try:
        assert (await served(sock_path))["ok"] is True
    finally:
        told = await asyncio.to_thread(answers_of, crowd)
    assert all(a["ok"] is False for a in told)
    assert {a["error_kind"] for a in told} <= {"busy", "bad_request"}
    assert sum(a["error_kind"] == "busy" for a in told) > 0


async def test_a_long_request_being_handled_does_not_count_against_the_read_timeout(
    sock_path: Path,
) -> None:
    async def slow(req: dict[str, Any], _asker: ipc.Peer | None) -> dict[str, Any]:
        await asyncio.sleep(2 * ipc.READ_TIMEOUT_S)  # as a "live" long poll or a "pair" scan
        return {"ok": True}

    server = await ipc.serve(sock_path, slow)
    try:
        answer = await asyncio.to_thread(one_answer, sock_path, request_line({"op": "live"}))
    finally:
        server.close()
    assert answer == {"ok": True}


async def test_a_client_that_does_not_read_its_answer_gives_up_its_place(
    echo_server: Echo, sock_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(ipc, "WRITE_TIMEOUT_S", 1.0)  # 60 s in the daemon; the same code path

    def ask_and_never_read() -> list[socket.socket]:
        crowd = open_idle(sock_path, ipc.MAX_CLIENTS)
        for sock in crowd:
            sock.sendall(request_line({"op": "big"}))
        return crowd

    crowd = await asyncio.to_thread(ask_and_never_read)
    try:
        assert (await served(sock_path))["ok"] is True
    finally:
        for sock in crowd:
            sock.close()


async def test_an_answer_that_breaks_the_contract_is_a_daemon_not_answering(
    sock_path: Path,
) -> None:
    replies: list[dict[str, Any]] = [
        {"ok": True, "echo": {"op": "status"}},  # JSON, but no status answer
        {**BASE_STATUS.model_dump(mode="json"), "pending": "3"},
        {"ok": False, "error": "the store is locked"},  # a refusal is an answer
        BASE_STATUS.model_dump(mode="json"),
    ]

    async def answer(req: dict[str, Any], _asker: ipc.Peer | None) -> dict[str, Any]:
        return replies.pop(0)

    server = await ipc.serve(sock_path, answer)
    try:
        with pytest.raises(ipc.DaemonUnavailable, match="answered unreadably: StatusAnswer"):
            await ipc.ask(sock_path, StatusRequest(), StatusAnswer)
        with pytest.raises(ipc.DaemonUnavailable, match="answered unreadably: StatusAnswer"):
            await asyncio.to_thread(ipc.ask_blocking, sock_path, StatusRequest(), StatusAnswer, 10)
        refused = await ipc.ask(sock_path, StatusRequest(), StatusAnswer)
        assert refused == Refusal(error="the store is locked")
        assert await ipc.ask(sock_path, StatusRequest(), StatusAnswer) == BASE_STATUS
    finally:
        server.close()
        await server.wait_closed()


def test_a_request_in_progress_when_the_daemon_stops_is_told_so(sock_path: Path) -> None:
    handling, stop = threading.Event(), threading.Event()

    async def hold(req: dict[str, Any], _asker: ipc.Peer | None) -> dict[str, Any]:
        handling.set()
        await asyncio.sleep(3600)  # a long poll
        return {"ok": True}

    async def daemon() -> None:  # as `hub run`: serve until told to stop, then leave asyncio.run
        server = await ipc.serve(sock_path, hold)
        await asyncio.to_thread(stop.wait)
        server.close()

    runner = threading.Thread(target=asyncio.run, args=(daemon(),))
    runner.start()
    try:
        with connect(sock_path) as client:
            client.sendall(request_line({"op": "live"}))
            assert handling.wait(PATIENT_S)
            stop.set()
            lines = _read_to_end(client).splitlines()
    finally:
        stop.set()
        runner.join(PATIENT_S)
    assert [json.loads(line)["error_kind"] for line in lines] == ["stopping"]
    assert "stopping" in json.loads(lines[0])["error"]


# --- the real hub daemon


def socket_of(home: SimulatedHome) -> Path:
    return load_config(home.hub_config).socket_path


NOT_RESPONSES: list[dict[str, object]] = [
    {},
    {"response": 5},
    {"response": "x"},
    {"response": []},
    {"response": None},
    {"response": {"resourceType": 5}},
]

# (request, what the refusal says): wrong types and ranges for every argument of every op.
WRONG_ARGUMENTS: list[tuple[dict[str, Any], str]] = [
    *[
        ({"op": "pair", "scan_s": bad}, "scan_s is how long to look for the device")
        for bad in ([1], "60", True, -1, 0, 601, {"s": 1})
    ],
    *[
        ({"op": "pair", "passkey": bad}, "the passkey is the 6 digits the device shows")
        for bad in ("123456", 1_000_000, -1, True, 1.5, [123456])
    ],
    *[
        ({"op": "pair", "address": bad}, "which device? (address, like 00:BB:00:00:00:02)")
        for bad in (5, "zz", "00:BB:00:00:00:0G", ["00:BB:00:00:00:02"], "")
    ],
    *[
        ({"op": "forget", **bad}, "which device? (address, like 00:BB:00:00:00:02)")
        for bad in (
            {},
            {"address": None},
            {"address": 5},
            {"address": "nope"},
            {"address": ["00:BB:00:00:00:02"]},
            {"address": "x" * 60_000},
        )
    ],
    ({"op": "forget", "address": "00:bb:00:00:00:99"}, "00:BB:00:00:00:99 is not a device of"),
    *[
        ({"op": "message_read", **bad}, "which message? (version)")
        for bad in (
            {},
            {"version": "1"},
            {"version": 1.5},
            {"version": True},
            {"version": None},
            {"version": [1]},
        )
    ],
    ({"op": "message_read", "version": -3}, "there is no message -3"),
    *[
        ({"op": "live", "wait_s": bad}, "wait_s is how long to wait for news")
        for bad in ("x", -1, True, [1], None)
    ],
    *[
        ({"op": "live", "boot": bad}, "boot is the text an earlier live answer gave")
        for bad in (5, ["a"], "x" * 65, True)
    ],
    *[
        ({"op": "live", "version": bad}, "version is the whole number an earlier live answer")
        for bad in ("3", 1.5, True, [3])
    ],
    *[({"op": "answer", **bad}, "not a FHIR QuestionnaireResponse") for bad in NOT_RESPONSES],
    (
        {"op": "answer", "response": {"resourceType": "QuestionnaireResponse", "id": 5}},
        "QuestionnaireResponse.id is missing",
    ),
    *[({"op": bad}, "unknown op") for bad in (5, None, [1], {"op": "status"}, "STATUS")],
    ({}, "unknown op None"),
    ({"op": "x" * 60_000}, "unknown op 'xxx"),
    # An argument the op does not take is refused before anything is done (a pair with one
    # scans nothing; a forget with one forgets nothing).
    *[
        ({**req, extra: 1}, f"{req['op']} takes no argument")
        for req in (
            {"op": "status"},
            {"op": "readings"},
            {"op": "devices"},
            {"op": "pair", "scan_s": 1},
            {"op": "forget", "address": "00:BB:00:00:00:02"},
            {"op": "answer", "response": {"resourceType": "QuestionnaireResponse"}},
            {"op": "message_read", "version": 1},
            {"op": "live", "wait_s": 0},
        )
        for extra in ("x", "Version", "y" * 30_000)
    ],
]


async def test_the_daemon_answers_every_hostile_request_and_stays_up(
    home: SimulatedHome, files_for_a_crowd: None
) -> None:
    hub = home.start_hub()
    path = socket_of(home)

    for name, data, expected in MALFORMED:
        answer = await asyncio.to_thread(one_answer, path, data, True)
        assert answer["ok"] is False and expected in answer["error"], (name, answer)
    for req, expected in WRONG_ARGUMENTS:
        answer = await asyncio.to_thread(one_answer, path, request_line(req))
        assert answer["ok"] is False and expected in answer["error"], (str(req)[:200], answer)
        assert "error_kind" not in answer and len(answer["error"]) < 300  # no echo of a huge one
    half = await asyncio.to_thread(one_answer, path, b'{"op": "pair", "scan_s": ')
    assert "no complete request line" in half["error"]

    # A crowd holds idle connections: status is still answered (the cap keeps the daemon's
    # files, the read timeout frees the places), and each idle client was told why.
    crowd = await asyncio.to_thread(open_idle, path, CROWD)
    try:
        status = await served(path)
    finally:
        told = await asyncio.to_thread(answers_of, crowd)
    assert status["ok"] is True and status["hub_id"] == home.hub_id
    assert all(a["ok"] is False and a["error_kind"] in {"busy", "bad_request"} for a in told)

    hub.check_alive()
    assert (await served(path))["ok"] is True
    assert (await served(path, "devices"))["devices"] == []
    log = hub_log(home)
    assert "refused a request on the hub socket: the request is nested deeper" in log
    assert "refusing more until some leave" in log
    assert "Too many open files" not in log


async def test_a_second_pairing_is_refused_at_once_not_queued(home: SimulatedHome) -> None:
    """Queued pairings would hold the radio (and every measurement) for as long as they all
    search; the screen's group can reach the socket (outside review of issue 12)."""
    home.start_hub()
    path = socket_of(home)
    first = asyncio.create_task(
        asyncio.to_thread(one_answer, path, request_line({"op": "pair", "scan_s": 6}))
    )
    await asyncio.sleep(1.5)  # the first is searching (nothing is in pairing mode)
    assert not first.done()
    second = await asyncio.to_thread(one_answer, path, request_line({"op": "pair", "scan_s": 6}))
    assert second["ok"] is False and "another device is being paired now" in second["error"]
    assert not first.done()  # refused while the first still searches: not queued behind it
    answer = await first
    assert answer["ok"] is False  # nothing to pair with: the first ends on its own
    after = await asyncio.to_thread(one_answer, path, request_line({"op": "pair", "scan_s": 1}))
    assert "another device" not in after["error"]  # free again once the first is done
