"""The hub's health facts, gathered: the thin shell around hub/core/health.py. It asks the
package metadata, the state folder's filesystem and the kernel's clock; what the daemon knows
(its start, the last ack's clock offset, the outbox, the paired devices) is handed in. Nothing
here decides anything: `health_report` does."""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Sequence
from importlib import metadata
from pathlib import Path

from hub.clock import ClockSource, hub_clock_synchronised
from hub.core.health import HealthFacts
from hub.core.reading import KnownDevice

log = logging.getLogger(__name__)

PACKAGE = "dho-hub"


def software_version() -> str:
    """The installed hub package's version ("unknown" when run from a tree not installed)."""
    try:
        return metadata.version(PACKAGE)
    except metadata.PackageNotFoundError:
        return "unknown"


def disk_space(folder: Path) -> tuple[int | None, int | None]:
    """(free, total) bytes of the filesystem holding `folder`, as an unprivileged user may
    write (f_bavail, as `df` shows it); (None, None) if it cannot be asked."""
    try:
        stat = os.statvfs(folder)
    except OSError as exc:
        log.warning("cannot ask the filesystem of %s for its free space: %s", folder, exc)
        return None, None
    return stat.f_bavail * stat.f_frsize, stat.f_blocks * stat.f_frsize


def gather(
    *,
    started: float,
    state_dir: Path,
    clock_source: ClockSource,
    clock_offset_s: float | None,
    outbox_pending: int,
    outbox_alarm: str | None,
    devices: Sequence[KnownDevice],
) -> HealthFacts:
    """The facts now. `started`: time.monotonic() when the daemon started (its uptime, not the
    machine's: the monotonic clock does not jump with NTP)."""
    free, total = disk_space(state_dir)
    return HealthFacts(
        software_version=software_version(),
        uptime_s=time.monotonic() - started,
        disk_free_bytes=free,
        disk_total_bytes=total,
        clock_synced=hub_clock_synchronised(clock_source),
        clock_offset_s=clock_offset_s,
        outbox_pending=outbox_pending,
        outbox_alarm=outbox_alarm,
        devices=tuple(devices),
    )
