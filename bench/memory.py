"""What the benches read of a daemon's memory, and the environment the unit gives it.

RSS counts every page the process has mapped in, shared libraries included; PSS divides shared
pages among the processes that map them (on a hub: the daemon and the patient screen, both
Python); USS is what the process alone holds (what killing it would free). All three from
/proc/<pid>/smaps_rollup, in MiB.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path

UNIT = Path(__file__).resolve().parent.parent / "systemd" / "dho-hub.service"


def unit_environment(unit: Path = UNIT) -> dict[str, str]:
    """The Environment= settings of the hub's systemd unit (MALLOC_ARENA_MAX among them), so
    that the daemon a bench starts runs as the installed one does."""
    env = {}
    for line in unit.read_text().splitlines():
        if line.startswith("Environment="):
            for assignment in line.removeprefix("Environment=").split():
                name, _, value = assignment.partition("=")
                env[name] = value
    return env


@dataclass(frozen=True)
class Memory:
    rss: float
    pss: float
    uss: float

    def __str__(self) -> str:
        return f"RSS {self.rss:5.1f}  PSS {self.pss:5.1f}  USS {self.uss:5.1f} MiB"


def memory(pid: int) -> Memory:
    kib: dict[str, int] = {}
    for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines()[1:]:
        name, _, rest = line.partition(":")
        kib[name] = int(rest.split()[0])
    uss = kib["Private_Clean"] + kib["Private_Dirty"]
    return Memory(kib["Rss"] / 1024, kib["Pss"] / 1024, uss / 1024)


def peak_rss(pid: int) -> float:
    """The kernel's own high-water mark of RSS (VmHWM), in MiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


class PeakSampler:
    """The highest PSS and USS seen while it runs (sampled every `every_s`; the kernel keeps a
    peak of RSS only)."""

    def __init__(self, pid: int, every_s: float = 0.5) -> None:
        self.pid, self.every_s = pid, every_s
        self.pss = self.uss = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="memory sampler", daemon=True)

    def __enter__(self) -> PeakSampler:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        while not self._stop.wait(self.every_s):
            try:
                now = memory(self.pid)
            except OSError:  # the process ended
                return
            self.pss, self.uss = max(self.pss, now.pss), max(self.uss, now.uss)
