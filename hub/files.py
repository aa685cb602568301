"""Files only their owner may read: keys, bundles, databases of health data. Written once and
synced, with the mode set whatever the umask."""

from __future__ import annotations

import os
from pathlib import Path


def write_secret(path: Path, data: bytes, mode: int = 0o600) -> None:
    """Write a new file with `mode` (owner-only by default), synced; never overwrite one."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    with os.fdopen(fd, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.chmod(path, mode)  # the umask must not widen or narrow it


def private_file(path: Path) -> None:
    """Make `path` (created empty if missing) readable by its owner alone, whatever the umask:
    a database, whose -wal and -shm files SQLite then creates with the same mode."""
    fd = os.open(path, os.O_CREAT | os.O_RDWR, 0o600)
    try:
        os.fchmod(fd, 0o600)
    finally:
        os.close(fd)


def sync_dir(directory: Path) -> None:
    """Make the names created, renamed or removed in `directory` last through a power cut."""
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
