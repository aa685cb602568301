"""However the demo is stopped, nothing it started is left behind: closing its terminal (SIGHUP),
`kill` (SIGTERM), Ctrl-C (SIGINT), with the patient screen or `--headless`, and even SIGKILL (its
watchdog then cleans up). Every process the demo started (its descendants, found in /proc when
it is up) is gone afterwards, and its work folder with the keys is removed.

Real processes: the demo with one emulated device (`--devices cuff`), as a user would start it.
The waits below are limits for a slow shared machine, not speed requirements."""

from __future__ import annotations

import contextlib
import os
import re
import select
import shutil
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from testbed.processes import wait_until

REPO = Path(__file__).resolve().parent.parent
DEMO = [sys.executable, "-m", "testbed.demo", "--quick", "--devices", "cuff"]
UP_WITHIN = 120.0  # seconds for the whole home to start, pairing included, on a busy machine
GONE_WITHIN = 45.0  # the demo's grace (5 s) plus its SIGKILL sweep, with room to spare

Identity = tuple[int, str]  # a pid and its start time: a pid reused later is not the same


def _stat(pid: int) -> list[str] | None:
    """Fields of /proc/PID/stat after the command name (state first), or None if gone."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return text[text.rindex(")") + 2 :].split()


def _running(identity: Identity) -> bool:
    pid, started = identity
    fields = _stat(pid)
    # A zombie has ended; only its parent's wait (or init's) is missing.
    return fields is not None and fields[0] != "Z" and fields[19] == started


def _descendants(root: int) -> set[Identity]:
    """The running processes below `root`, its children's children included, found by walking
    parent pids in /proc (children in sessions of their own are still its descendants)."""
    children: dict[int, list[int]] = {}
    started: dict[int, str] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit() and (fields := _stat(int(entry))) is not None and fields[0] != "Z":
            children.setdefault(int(fields[1]), []).append(int(entry))
            started[int(entry)] = fields[19]
    found: set[Identity] = set()
    todo = [root]
    while todo:
        for child in children.get(todo.pop(), []):
            found.add((child, started[child]))
            todo.append(child)
    return found


class Output:
    """What the demo writes, gathered by a thread so that it never blocks on a full pipe."""

    def __init__(self, fd: int) -> None:
        self.text = ""
        self._fd = fd
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        while not self._done.is_set():
            if not select.select([self._fd], [], [], 0.1)[0]:
                continue
            try:
                chunk = os.read(self._fd, 65536)
            except OSError:  # a pty's master reads EIO once the demo's side is closed
                return
            if not chunk:
                return
            self.text += chunk.decode(errors="replace")

    def stop(self) -> None:
        """Stop reading: a thread inside read() would hold the terminal open after close()."""
        self._done.set()
        self._thread.join()

    def workdir(self) -> Path:
        match = re.search(r"Starting a simulated home in (\S+) ", self.text)
        assert match, self.text
        return Path(match.group(1))


class Started:
    """What a test started, ended and removed here whatever the outcome: a demo that leaks
    (what these tests are there to catch) leaves nothing on the machine after the test."""

    def __init__(self) -> None:
        self.demos: list[subprocess.Popen[bytes]] = []
        self.processes: set[Identity] = set()
        self.workdirs: list[Path] = []

    def up(self, demo: subprocess.Popen[bytes], workdir: Path) -> set[Identity]:
        """The demo is up: its processes now, to check on (and end) once it is stopped."""
        self.workdirs.append(workdir)
        found = _descendants(demo.pid)
        self.processes |= found
        return found

    def end(self) -> None:
        for demo in self.demos:
            self.processes |= _descendants(demo.pid)
        for pid, started in self.processes:
            if _running((pid, started)):
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.kill(pid, signal.SIGKILL)
        for demo in self.demos:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(demo.pid, signal.SIGKILL)
            demo.wait()
        for workdir in self.workdirs:
            shutil.rmtree(workdir, ignore_errors=True)


@pytest.fixture
def cleanup() -> Iterator[Started]:
    started = Started()
    yield started
    started.end()


def _headless(cleanup: Started, *args: str) -> tuple[subprocess.Popen[bytes], Output]:
    """The headless demo in a session of its own (as from a terminal of its own), once it
    prints readings: everything started."""
    read_end, write_end = os.pipe()
    demo = subprocess.Popen(
        [*DEMO, "--headless", *args],
        cwd=REPO,
        stdin=subprocess.DEVNULL,
        stdout=write_end,
        stderr=write_end,
        start_new_session=True,
    )
    os.close(write_end)
    cleanup.demos.append(demo)
    output = Output(read_end)
    wait_until(
        lambda: "Headless demo" in output.text or demo.poll() is not None,
        UP_WITHIN,
        "the demo to be up",
        interval=0.2,
    )
    assert demo.poll() is None, output.text
    return demo, output


def _assert_all_gone(
    demo: subprocess.Popen[bytes],
    started: set[Identity],
    workdir: Path,
    output: Output,
    keep: bool = False,
) -> None:
    demo.wait(GONE_WITHIN)
    # The watchdog ends as soon as it has found nothing left: give it its moment too.
    wait_until(
        lambda: not any(_running(p) for p in started) and workdir.exists() == keep,
        GONE_WITHIN,
        "the demo's processes to end and its work folder to go",
        interval=0.2,
    )
    assert not [p for p in started if _running(p)], output.text
    assert workdir.exists() == keep


@pytest.mark.parametrize(
    "signum", [signal.SIGHUP, signal.SIGTERM, signal.SIGINT], ids=lambda s: s.name
)
def test_a_signal_stops_everything_the_headless_demo_started(
    signum: signal.Signals, cleanup: Started
) -> None:
    demo, output = _headless(cleanup)
    workdir = output.workdir()
    started = cleanup.up(demo, workdir)
    # dbus-daemon, BlueZoo, Mosquitto, the centre's ingest and web, the hub, the cuff
    assert len(started) >= 7, started
    assert (workdir / "hub" / "bundle.json").exists()  # the keys the demo must not leave
    os.kill(demo.pid, signum)
    _assert_all_gone(demo, started, workdir, output)
    assert "Stopped." in output.text


def test_a_second_signal_during_shutdown_still_leaves_nothing(
    cleanup: Started,
) -> None:
    demo, output = _headless(cleanup)
    workdir = output.workdir()
    started = cleanup.up(demo, workdir)
    os.kill(demo.pid, signal.SIGTERM)
    wait_until(lambda: "Stopping" in output.text, GONE_WITHIN, "the demo to begin stopping")
    os.kill(demo.pid, signal.SIGINT)  # an impatient second Ctrl-C
    os.kill(demo.pid, signal.SIGHUP)
    _assert_all_gone(demo, started, workdir, output)


@pytest.mark.parametrize("signum", [signal.SIGHUP, signal.SIGKILL], ids=lambda s: s.name)
def test_keep_keeps_the_work_folder_and_nothing_running(
    signum: signal.Signals, cleanup: Started
) -> None:
    demo, output = _headless(cleanup, "--keep")
    workdir = output.workdir()
    started = cleanup.up(demo, workdir)
    os.kill(demo.pid, signum)
    _assert_all_gone(demo, started, workdir, output, keep=True)
    assert (workdir / "logs" / "hub.log").exists()


def test_a_sigkilled_demo_is_cleaned_up_by_its_watchdog(
    cleanup: Started,
) -> None:
    demo, output = _headless(cleanup)
    workdir = output.workdir()
    started = cleanup.up(demo, workdir)
    os.kill(demo.pid, signal.SIGKILL)
    _assert_all_gone(demo, started, workdir, output)


@pytest.mark.parametrize("how", ["close the terminal", "SIGTERM", "Ctrl-C key"])
def test_the_demo_with_the_patient_screen_stops_everything(how: str, cleanup: Started) -> None:
    """The screen owns the terminal (raw mode: Ctrl-C is a key, not SIGINT). Closing the
    terminal is its pty's master closed: the kernel sends SIGHUP to the demo, which leads the
    terminal's session as it would under a shell."""
    master, slave = os.openpty()
    demo = subprocess.Popen(
        DEMO,
        cwd=REPO,
        stdin=slave,
        stdout=slave,
        stderr=slave,
        # A session with the pty as its controlling terminal, as a terminal window gives.
        preexec_fn=lambda: os.login_tty(slave),
        env={**os.environ, "TERM": "xterm-256color", "COLUMNS": "80", "LINES": "24"},
    )
    os.close(slave)
    cleanup.demos.append(demo)
    output = Output(master)
    wait_until(
        lambda: "second factor" in output.text and "\x1b[?1049h" in output.text,
        UP_WITHIN,
        "the patient screen to open",
        interval=0.2,
    )
    workdir = output.workdir()
    started = cleanup.up(demo, workdir)
    assert len(started) >= 7, started
    if how == "close the terminal":
        output.stop()
        os.close(master)
    elif how == "SIGTERM":
        os.kill(demo.pid, signal.SIGTERM)
    else:
        os.write(master, b"\x03")
    _assert_all_gone(demo, started, workdir, output)
    if how != "close the terminal":
        assert "\x1b[?1049l" in output.text  # the screen gave the terminal back
        output.stop()
        os.close(master)
