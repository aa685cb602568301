"""How fast the patient's screen comes up, and how much memory it takes.

    .venv/bin/python bench/ui_start.py [--runs 5]

Starts `python -m hub.ui.app`-equivalent (the real PatientScreenApp, as `hub ui` runs it) in a
real pseudo-terminal of 100x30 and times from process start to the first frame that shows the
screen's title; then reads the process's peak RSS. Baseline in the same run: a bare Textual app
with one Static, started the same way. Targets (issue 5): <= 1.5 s and <= 80 MB.
"""

from __future__ import annotations

import argparse
import fcntl
import os
import select
import signal
import statistics
import struct
import sys
import tempfile
import termios
import time
from pathlib import Path

APP = """
import sys
from pathlib import Path
from hub.ui.app import run
run(Path(sys.argv[1]), "nb")
"""
BARE = """
from textual.app import App
from textual.widgets import Static
class Bare(App):
    def compose(self):
        yield Static("Mine målinger")
Bare().run()
"""
TITLE = "Mine målinger".encode()


def start_and_time(code: str, socket_path: Path) -> tuple[float, float]:
    """Seconds to the first frame showing the title, and peak RSS in MB."""
    pid, fd = os.forkpty()
    if pid == 0:  # the child: the app in the pseudo-terminal
        os.execv(sys.executable, [sys.executable, "-c", code, str(socket_path)])
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", 30, 100, 0, 0))
    start = time.perf_counter()
    seen = b""
    try:
        while TITLE not in seen:
            if time.perf_counter() - start > 30:
                raise SystemExit("the screen did not paint within 30 s")
            ready, _, _ = select.select([fd], [], [], 0.5)
            if ready:
                seen = (seen + os.read(fd, 65536))[-65536:]
        painted = time.perf_counter() - start
        time.sleep(1.0)  # let it settle: the first status poll, the reading cards
        rss = peak_rss_mb(pid)
    finally:
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
        os.close(fd)
    return painted, rss


def peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    socket_path = Path(tempfile.mkdtemp(prefix="ui-bench-", dir="/tmp")) / "hub.sock"
    results: dict[str, list[tuple[float, float]]] = {"bare": [], "patient screen": []}
    for _ in range(args.runs):  # interleaved, so both see the same machine load
        results["bare"].append(start_and_time(BARE, socket_path))
        results["patient screen"].append(start_and_time(APP, socket_path))
    medians = {}
    for name, runs in results.items():
        seconds = statistics.median(r[0] for r in runs)
        rss = statistics.median(r[1] for r in runs)
        medians[name] = seconds
        print(
            f"{name:<16} first paint {seconds:5.2f} s   peak RSS {rss:5.1f} MB   "
            f"(median of {len(runs)})"
        )
    print(
        f"ratio patient screen / bare Textual app: "
        f"{medians['patient screen'] / medians['bare']:.2f}"
    )
    print("targets: first paint <= 1.5 s, RSS <= 80 MB (daemon not running: the screen says so)")


if __name__ == "__main__":
    main()
