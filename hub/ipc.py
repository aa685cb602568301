"""The local socket between the hub daemon (sole database owner) and its clients (the TUI).

Protocol: a Unix stream socket; the client sends one JSON object on one line, the daemon
answers with one JSON object on one line and closes. See docs/protocol.md ("Local socket").
Whoever can open the socket is trusted to ask, not to be well-formed: every connection gets one
answer, a slow or idle one is cut off, and the number of connections is capped. Who asked (the
kernel's SO_PEERCRED: the client's pid, uid and gid when it connected) is read here, once per
connection, and given to the handler with the request as plain data (Peer); the ops that change
the hub's devices need more than the socket's group (hub/core/technician_unlock.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import socket
import struct
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel
from pydantic_core import PydanticSerializationError

from hub.errors import HubError
from hub.local_protocol import (
    A,
    ErrorKind,
    Refusal,
    Request,
    UnreadableAnswer,
    read_answer,
)
from hub.wire import strict
from hub.wire.strict import WireError

log = logging.getLogger(__name__)
# The socket carries any JSON object; hub.requests answers with the models of hub.local_protocol.
Reply = BaseModel | dict[str, Any]
Handler = Callable[[dict[str, Any], "Peer | None"], Awaitable[Reply]]
MAX_REQUEST = 64 * 1024
MAX_DEPTH = 64  # a questionnaire's nested groups stay far below this
MAX_ANSWER = 256 * 1024 * 1024  # a technician's full listing of a long-offline hub
# The patient screen holds one long-poll "live" request and a "status" at a time; a technician's
# tools a few more. The cap stays far below the file limit (1024 by default under systemd).
MAX_CLIENTS = 32
READ_TIMEOUT_S = 5.0  # clients send their line at once; an idle connection is cut off
WRITE_TIMEOUT_S = 60.0  # a client that does not read its answer is cut off


@dataclass(frozen=True)
class Peer:
    """The credentials of a client of the socket, as the kernel saw them when it connected
    (its effective uid and gid): not anything the client says."""

    pid: int
    uid: int
    gid: int


_UCRED = struct.Struct("3i")  # struct ucred: pid, uid, gid


def peer_credentials(sock: Any) -> Peer | None:
    """SO_PEERCRED of a connected Unix socket; None if it has none (not a Unix socket)."""
    try:
        raw = sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, _UCRED.size)
        pid, uid, gid = _UCRED.unpack(raw)
    except (OSError, AttributeError, struct.error, TypeError) as exc:
        log.warning("no peer credentials on the hub socket: %s", exc)
        return None
    return Peer(pid, uid, gid)


class BadRequest(HubError, ValueError):
    """A request line the daemon cannot read, and why."""


class DaemonUnavailable(HubError, ConnectionError):
    """The hub daemon is not running or does not answer on its socket."""


async def ask(socket_path: Path, req: Request, model: type[A]) -> A | Refusal:
    """Send one request to the daemon and read its answer as `model` (or the refusal it is).

    DaemonUnavailable if it does not answer, or answers what this contract cannot read; the
    caller bounds the wait (`asyncio.timeout`)."""
    try:
        reader, writer = await asyncio.open_unix_connection(str(socket_path), limit=MAX_ANSWER)
        try:
            writer.write(_encode(req.wire()))
            await writer.drain()
            line = await reader.readline()
        finally:
            writer.close()
    except OSError as exc:
        raise DaemonUnavailable(f"hub daemon not answering on {socket_path}: {exc}") from exc
    return _read(model, _decode(line, socket_path), socket_path)


def ask_blocking(socket_path: Path, req: Request, model: type[A], timeout_s: float) -> A | Refusal:
    """`ask` for callers without an event loop (technician tools)."""
    return _read(model, _exchange(socket_path, _encode(req.wire()), timeout_s), socket_path)


def request_blocking(
    socket_path: Path, op: str, timeout: float = 3.0, **args: Any
) -> dict[str, Any]:
    """Any request, answer as decoded JSON (test harness, benches: also wrong ones)."""
    return _exchange(socket_path, _encode({"op": op, **args}), timeout)


def _exchange(socket_path: Path, line: bytes, timeout_s: float) -> dict[str, Any]:
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.settimeout(timeout_s)
            sock.connect(str(socket_path))
            sock.sendall(line)
            with sock.makefile("rb") as answer:
                got = answer.readline(MAX_ANSWER)
    except OSError as exc:
        raise DaemonUnavailable(f"hub daemon not answering on {socket_path}: {exc}") from exc
    return _decode(got, socket_path)


def _read(model: type[A], answer: object, socket_path: Path) -> A | Refusal:
    try:
        return read_answer(model, answer)
    except UnreadableAnswer as exc:
        raise DaemonUnavailable(f"hub daemon on {socket_path} answered unreadably: {exc}") from None


def _encode(req: dict[str, Any]) -> bytes:
    return json.dumps(req).encode() + b"\n"


def _decode(line: bytes, socket_path: Path) -> dict[str, Any]:
    if not line:
        raise DaemonUnavailable(f"hub daemon closed {socket_path} without answering")
    try:
        answer = json.loads(line)
    except ValueError as exc:  # also cut short: no complete line within MAX_ANSWER
        raise DaemonUnavailable(f"hub daemon on {socket_path} answered no JSON: {exc}") from None
    if not isinstance(answer, dict):
        raise DaemonUnavailable(f"hub daemon on {socket_path} answered no JSON object")
    return answer


def refusal(kind: ErrorKind, error: str) -> Refusal:
    """The answer to a request the socket could not hand to the daemon, or that failed there."""
    return Refusal(error=error, error_kind=kind)


def parse_request(line: bytes) -> dict[str, Any]:
    """One request line as a JSON object of finite numbers, valid text and bounded depth."""
    try:
        req = strict.load(line, "the request", MAX_DEPTH)
    except WireError as exc:
        raise BadRequest(str(exc)) from None
    if not isinstance(req, dict):
        raise BadRequest(f"the request must be a JSON object, not {type(req).__name__}")
    return req


async def serve(
    socket_path: Path,
    handler: Handler,
    *,
    max_clients: int = MAX_CLIENTS,
    read_timeout: float = READ_TIMEOUT_S,
) -> asyncio.Server:
    """Serve requests on `socket_path` (owner and group) until the returned server is closed.

    Every connection gets exactly one answer line: the handler's, or a refusal (busy, too slow,
    unreadable request, or the handler failed), and is then closed."""
    # Two metadata calls on the socket's own directory (tmpfs under systemd), made in the loop:
    # a worker thread would import concurrent.futures only now, after the daemon may have
    # dropped the privileges it needs to read it (tests/test_units.py).
    with contextlib.suppress(FileNotFoundError):
        os.unlink(socket_path)
    clients = _Clients(max_clients)
    last = _LastAnswer()

    async def on_client(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        admitted = clients.admit()
        asker = peer_credentials(writer.get_extra_info("socket"))
        answer: Reply | None = None
        try:
            answer = (
                await _answer(reader, handler, asker, read_timeout) if admitted else _busy(clients)
            )
            await _send(writer, last.encode(answer))
        except asyncio.CancelledError:  # the daemon is stopping: say so, and no traceback
            if answer is None:
                writer.write(_encode_answer(STOPPING))
                writer.close()
        finally:
            if admitted:
                clients.leave()

    server = await asyncio.start_unix_server(on_client, path=str(socket_path), limit=MAX_REQUEST)
    os.chmod(socket_path, 0o660)
    return server


class _Clients:
    """How many connections are open; a cap well below the process's file limit, so that
    idle connections cannot starve the daemon of file descriptors."""

    def __init__(self, cap: int) -> None:
        self.cap, self.open, self.full = cap, 0, False

    def admit(self) -> bool:
        if self.open >= self.cap:
            if not self.full:  # once per crowd, not once per refused connection
                log.warning(
                    "%d clients on the hub socket: refusing more until some leave", self.open
                )
            self.full = True
            return False
        self.open += 1
        return True

    def leave(self) -> None:
        self.open -= 1
        if self.full and self.open < self.cap // 2:
            log.info("hub socket has room again (%d clients)", self.open)
            self.full = False


STOPPING = refusal("stopping", "the hub daemon is stopping; ask again in a moment")


def _busy(clients: _Clients) -> Refusal:
    return refusal(
        "busy",
        f"the hub is busy: {clients.cap} clients are connected to its socket; "
        "try again in a few seconds",
    )


async def _answer(
    reader: asyncio.StreamReader, handler: Handler, asker: Peer | None, read_timeout: float
) -> Reply:
    """Read one request line and let the handler answer it (told who asked: None if the kernel
    would not say, and then the ops behind the technician PIN are refused); any failure becomes
    a refusal."""
    op: object = None
    try:
        line = await _read_line(reader, read_timeout)
        req = parse_request(line)
        op = req.get("op")
        return await handler(req, asker)
    except BadRequest as exc:
        log.warning("refused a request on the hub socket: %s", exc)
        return refusal("bad_request", f"bad request: {exc}")
    except Exception as exc:  # the daemon stays up whatever one request does
        name = type(exc).__name__
        log.exception("request %.40r failed: %s", op, name)
        return refusal(
            "internal",
            f"the hub daemon failed on this request ({name}); the hub's log has the details",
        )


async def _read_line(reader: asyncio.StreamReader, read_timeout: float) -> bytes:
    try:
        async with asyncio.timeout(read_timeout):
            return await reader.readuntil(b"\n")
    except TimeoutError:
        raise BadRequest(f"no complete request line within {read_timeout:g} s") from None
    except asyncio.LimitOverrunError:
        # Not read on: the rest of a huge line is dropped with the connection.
        raise BadRequest(f"the request is larger than {MAX_REQUEST // 1024} KiB") from None
    except asyncio.IncompleteReadError:
        raise BadRequest("the connection ended before the request line did") from None


def _encode_answer(answer: Reply) -> bytes:
    try:
        if isinstance(answer, BaseModel):
            return answer.model_dump_json().encode() + b"\n"
        return json.dumps(answer).encode() + b"\n"
    except (TypeError, ValueError, PydanticSerializationError) as exc:
        log.error("answer could not be encoded: %s: %s", type(exc).__name__, exc)
        return _encode_answer(CANNOT_ENCODE)


class _LastAnswer:
    """The last model answer and its encoding. The screen's every-second `status` is the same
    (frozen) model while nothing it shows changed (hub.requests keeps it), so its 50 KiB of JSON
    are encoded once, not every second. Held here, the model cannot be freed and its id reused
    by another."""

    def __init__(self) -> None:
        self.answer: BaseModel | None = None
        self.line = b""

    def encode(self, answer: Reply) -> bytes:
        if not isinstance(answer, BaseModel):
            return _encode_answer(answer)  # a dict may change between two answers
        if answer is not self.answer:
            self.answer, self.line = answer, _encode_answer(answer)
        return self.line


CANNOT_ENCODE = refusal(
    "internal", "the hub daemon could not encode its answer; the hub's log has the details"
)


async def _send(writer: asyncio.StreamWriter, line: bytes) -> None:
    try:
        async with asyncio.timeout(WRITE_TIMEOUT_S):
            writer.write(line)
            writer.close()  # once the answer is out
            await writer.wait_closed()
    except (OSError, TimeoutError):
        writer.transport.abort()  # a client that does not read its answer gives up its place
