"""Starting and stopping helper processes, and waiting for them to be ready."""

from __future__ import annotations

import contextlib
import os
import random
import shutil
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


# Every Process started by this Python process and not yet stopped or killed: what `stop_all`
# ends when the program that started them (the demo) is told to stop.
_running: list[Process] = []

# An environment variable every child of a demo carries (its value: the demo's work folder), so
# that whatever escaped its process group is still found and ended: a child started in the
# instant a signal came, a grandchild in a session of its own, children of a demo SIGKILLed.
RUN_MARKER = "DHO_TESTBED_RUN"


class Process:
    """A child process in its own session (so its own process group), its output in a log file."""

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
        _running.append(self)

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

    def signal_group(self, signum: int) -> None:
        """`signum` to the process and whatever it started in its group."""
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.popen.pid, signum)

    def kill(self) -> None:
        """SIGKILL, as a power cut or a crash would."""
        self.signal_group(signal.SIGKILL)
        self.popen.wait()
        _forget(self)

    def stop(self, timeout: float = 10.0) -> None:
        if self.alive():
            self.signal_group(signal.SIGTERM)
            try:
                self.popen.wait(timeout)
            except subprocess.TimeoutExpired:
                self.kill()
        self._log.close()
        _forget(self)


def _forget(process: Process) -> None:
    with contextlib.suppress(ValueError):
        _running.remove(process)


def stop_all(
    grace: float = 5.0,
    hurry: Callable[[], bool] = lambda: False,
    only: Sequence[Process] | None = None,
) -> None:
    """Stop every Process started here and not yet stopped (or `only` those of them), all at
    once: SIGTERM to each one's group, then SIGKILL to the groups of those still running after
    `grace` seconds, or as soon as `hurry()` says so (a second Ctrl-C). At once, so that a
    child ignoring SIGTERM neither keeps the others waiting their turn nor outlives the demo."""
    processes = [p for p in _running if only is None or p in only]
    for process in processes:
        process.signal_group(signal.SIGTERM)
    deadline = time.monotonic() + grace
    while any(p.alive() for p in processes) and time.monotonic() < deadline and not hurry():
        time.sleep(0.05)
    for process in processes:
        process.kill()  # also the group's members the leader left behind
        process._log.close()


def carrying(marker: str) -> list[int]:
    """The pids of the processes (other than this one) whose environment has RUN_MARKER set to
    `marker`. A zombie's environment reads empty: only processes still running count."""
    needle = f"{RUN_MARKER}={marker}".encode()
    found = []
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            environ = Path(entry.path, "environ").read_bytes()
        except OSError:  # gone already, or not ours to read
            continue
        if needle in environ.split(b"\0"):
            found.append(int(entry.name))
    return found


def end_carrying(marker: str, grace: float = 2.0) -> list[int]:
    """SIGTERM, then after `grace` seconds SIGKILL, every process carrying `marker`; return the
    pids that were still there to end. The environment is read again before each signal, so a
    pid reused meanwhile by another program is not signalled."""
    found = carrying(marker)
    for pid in found:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + grace
    while carrying(marker) and time.monotonic() < deadline:
        time.sleep(0.05)
    for pid in carrying(marker):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + 2.0  # SIGKILL takes a moment to be done
    while carrying(marker) and time.monotonic() < deadline:
        time.sleep(0.05)
    return found


def watch(workdir: Path, keep: bool) -> None:
    """The demo's watchdog: wait until standard input closes (the demo has ended, however: even
    SIGKILL closes its end of the pipe), then end what still carries the demo's marker and
    remove its work folder (unless `keep`). Signals from the demo's terminal are not for it."""
    for signum in (signal.SIGHUP, signal.SIGINT):
        signal.signal(signum, signal.SIG_IGN)
    while os.read(0, 4096):
        pass
    end_carrying(str(workdir))
    if not keep:
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":  # python -m testbed.processes watch WORKDIR [--keep]
    import sys

    if sys.argv[1:2] == ["watch"] and len(sys.argv) in (3, 4):
        watch(Path(sys.argv[2]), keep=sys.argv[3:] == ["--keep"])
    else:
        sys.exit("usage: python -m testbed.processes watch WORKDIR [--keep]")
