"""Starting and stopping helper processes, and waiting for them to be ready."""

from __future__ import annotations

import contextlib
import os
import random
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Sequence
from pathlib import Path


class TestbedError(RuntimeError):
    """A simulated-home component did not start; says which and where its log is."""


LISTEN_PORTS_FROM = 10_000
_handed_out: set[int] = set()


def free_port() -> int:
    """A port for a server of the testbed to listen on, free now. Below the kernel's ephemeral
    range: a port the kernel picked there (bind to 0) could become an outgoing connection's
    source port before the server bound it (CI: mosquitto's "Address already in use"). Each
    pytest-xdist worker takes from a slice of its own, and no port is handed out twice."""
    first, end = _slice()
    if end <= first:  # an ephemeral range reaching down near LISTEN_PORTS_FROM: the kernel picks
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            s.bind(("127.0.0.1", 0))
            picked: int = s.getsockname()[1]
            return picked
    for port in random.sample(range(first, end), end - first):
        if port in _handed_out:
            continue
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
        _handed_out.add(port)
        return port
    raise TestbedError(f"no free port left in {first}..{end - 1}")


def _slice() -> tuple[int, int]:
    """This process's ports: below the ephemeral range, a slice per xdist worker (gw0 ...)."""
    try:
        ephemeral = int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        ephemeral = 32_768
    worker = os.environ.get("PYTEST_XDIST_WORKER", "gw0").removeprefix("gw")
    number = int(worker) if worker.isdigit() else 0
    size = max(200, (ephemeral - LISTEN_PORTS_FROM) // 16)
    first = LISTEN_PORTS_FROM + (number % 16) * size
    return first, min(first + size, ephemeral)


def port_open(port: int) -> bool:
    with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
        return True
    return False


def wait_until(
    check: Callable[[], bool], timeout: float, what: str, interval: float = 0.05
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(interval)
    raise TestbedError(f"timed out after {timeout:.0f} s waiting for {what}")


class Process:
    """A child process in its own process group, with its output in a log file."""

    def __init__(
        self, name: str, argv: Sequence[str], log_path: Path, env: dict[str, str] | None = None
    ) -> None:
        self.name = name
        self.log_path = log_path
        log_path.parent.mkdir(parents=True, exist_ok=True)
        self._log = open(log_path, "ab")  # noqa: SIM115 - lives as long as the process
        self.popen = subprocess.Popen(
            list(argv),
            stdout=self._log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env={**os.environ, **(env or {})},
            start_new_session=True,
        )

    @property
    def pid(self) -> int:
        return self.popen.pid

    def alive(self) -> bool:
        return self.popen.poll() is None

    def check_alive(self) -> None:
        if not self.alive():
            raise TestbedError(
                f"{self.name} exited with {self.popen.returncode}; "
                f"log: {self.log_path}\n{self.tail()}"
            )

    def tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def kill(self) -> None:
        """SIGKILL, as a power cut or a crash would."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.popen.pid, signal.SIGKILL)
        self.popen.wait()

    def stop(self, timeout: float = 10.0) -> None:
        if self.alive():
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.popen.pid, signal.SIGTERM)
            try:
                self.popen.wait(timeout)
            except subprocess.TimeoutExpired:
                self.kill()
        self._log.close()
