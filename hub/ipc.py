"""The local socket between the hub daemon (sole database owner) and its clients (the TUI).

Protocol: a Unix stream socket; the client sends one JSON object on one line, the daemon
answers with one JSON object on one line and closes. See docs/architecture.md.
"""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

Handler = Callable[[dict[str, Any]], Awaitable[dict[str, Any]]]
MAX_REQUEST = 64 * 1024
MAX_ANSWER = 256 * 1024 * 1024  # a technician's full listing of a long-offline hub


class DaemonUnavailable(ConnectionError):
    """The hub daemon is not running or does not answer on its socket."""


async def request(socket_path: Path, op: str, timeout: float = 3.0, **args: Any) -> dict[str, Any]:
    """Send one request to the daemon and return its answer."""
    try:
        async with asyncio.timeout(timeout):
            reader, writer = await asyncio.open_unix_connection(
                str(socket_path), limit=MAX_ANSWER)
            try:
                writer.write(_encode(op, args))
                await writer.drain()
                line = await reader.readline()
            finally:
                writer.close()
    except (OSError, TimeoutError) as exc:
        raise DaemonUnavailable(f"hub daemon not answering on {socket_path}: {exc}") from exc
    return _decode(line, socket_path)


def request_blocking(
    socket_path: Path, op: str, timeout: float = 3.0, **args: Any
) -> dict[str, Any]:
    """`request` for callers without an event loop (technician tools, test harness)."""
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.settimeout(timeout)
            sock.connect(str(socket_path))
            sock.sendall(_encode(op, args))
            with sock.makefile("rb") as answer:
                line = answer.readline(MAX_ANSWER)
    except OSError as exc:
        raise DaemonUnavailable(f"hub daemon not answering on {socket_path}: {exc}") from exc
    return _decode(line, socket_path)


def _encode(op: str, args: dict[str, Any]) -> bytes:
    return json.dumps({"op": op, **args}).encode() + b"\n"


def _decode(line: bytes, socket_path: Path) -> dict[str, Any]:
    if not line:
        raise DaemonUnavailable(f"hub daemon closed {socket_path} without answering")
    answer: dict[str, Any] = json.loads(line)
    return answer


async def serve(socket_path: Path, handler: Handler) -> asyncio.Server:
    """Serve requests on `socket_path` (owner and group) until the returned server is closed."""
    socket_path.unlink(missing_ok=True)

    async def on_client(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            line = await reader.readuntil(b"\n")
            req = json.loads(line[:MAX_REQUEST])
            if not isinstance(req, dict):
                raise ValueError("request must be a JSON object")
            answer = await handler(req)
        except (ValueError, asyncio.IncompleteReadError, asyncio.LimitOverrunError) as exc:
            answer = {"ok": False, "error": f"bad request: {exc}"}
        try:
            writer.write(json.dumps(answer).encode() + b"\n")
            await writer.drain()
        except ConnectionError:
            pass
        finally:
            writer.close()

    server = await asyncio.start_unix_server(on_client, path=str(socket_path))
    socket_path.chmod(0o660)
    return server
