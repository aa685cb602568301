"""`hub wipe`: erase a hub between patients, so it can be provisioned for the next one.

The order is the point. The hub's secrets go first (its private keys: signing, encryption,
TLS), then the reading store (with its -wal and -shm), the logs in the state folder and the
config, and last the Bluetooth bonds of the devices the store listed as paired.

Every file is overwritten before it is unlinked. On an SD card or other flash that is NOT a
guarantee: the card's controller writes the new bytes elsewhere and the old blocks linger until
it reuses them. That is why the keys go first: what was sealed with them (the outbox, sealed to
the centre; the keyed record digests) cannot be opened without them. The rest of the store,
though, is NOT encrypted at rest: plaintext readings kept for the screen (`plaintext_days`),
questionnaire answers and the centre's messages are plain SQLite pages, and on flash an old
block of them may survive the overwrite. Only encrypting the store with a key kept apart
would make erasing that key enough (docs/operations.md, "Reusing a hub for another patient").
"""

from __future__ import annotations

import asyncio
import errno
import fcntl
import os
import socket
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from hub.config import HubConfig
from hub.errors import HubError
from hub.files import sync_dir

STORE_SUFFIXES = ("", "-wal", "-shm", "-journal")
LOG_NAMES = ("ui.log",)  # and their rotations, ui.log.1 ...
# SQLite keeps a shared lock on this byte of the -shm file for as long as a connection has
# the store open (os_unix.c: UNIX_SHM_DMS = (22 + 8) * 4 + 8).
_SHM_DMS_BYTE = 128


class WipeRefused(HubError, RuntimeError):
    """The hub cannot be wiped now (its daemon runs, or the technician did not confirm)."""


@dataclass
class WipeResult:
    hub_id: str
    secrets: list[Path] = field(default_factory=list)
    data: list[Path] = field(default_factory=list)
    bonds_removed: list[str] = field(default_factory=list)
    bonds_kept: list[tuple[str, str]] = field(default_factory=list)  # address, why
    left: list[Path] = field(default_factory=list)  # in the state folder, not the hub's
    devices_unknown: bool = False  # the store could not be read: which bonds to remove?

    @property
    def complete(self) -> bool:
        return not self.bonds_kept and not self.left and not self.devices_unknown


def refuse_if_running(config: HubConfig) -> None:
    """The daemon is the only writer of its store: never erase under it."""
    stop = (
        "it is the only writer of its database, so nothing was erased. Stop it first: "
        "systemctl stop dho-hub-ui dho-hub"
    )
    if _socket_answers(config.socket_path):
        raise WipeRefused(f"the hub daemon is running (it listens on {config.socket_path}): {stop}")
    if _store_in_use(config.db_path):
        raise WipeRefused(f"a process has the hub's store {config.db_path} open: {stop}")


def _socket_answers(path: Path) -> bool:
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(2.0)
        try:
            sock.connect(str(path))
        except (FileNotFoundError, ConnectionRefusedError):
            return False  # no socket, or one a stopped daemon left behind
        except OSError as exc:
            raise WipeRefused(
                f"cannot tell whether the hub daemon runs ({path}: {exc.strerror}); "
                "run `hub wipe` as root with the daemon stopped"
            ) from None
    return True


def _store_in_use(db_path: Path) -> bool:
    """A daemon still starting (store open, socket not yet) holds SQLite's lock on the -shm."""
    shm = db_path.with_name(db_path.name + "-shm")
    try:
        fd = os.open(shm, os.O_RDWR)
    except FileNotFoundError:
        return False
    except OSError as exc:  # the lock needs write access: another user's store
        raise WipeRefused(
            f"cannot tell whether a process has the store open ({shm}: {exc.strerror}); "
            "run `hub wipe` as root with the daemon stopped"
        ) from None
    try:
        fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB, 1, _SHM_DMS_BYTE)
    except OSError as exc:
        if exc.errno in (errno.EACCES, errno.EAGAIN):
            return True
        raise
    else:
        fcntl.lockf(fd, fcntl.LOCK_UN, 1, _SHM_DMS_BYTE)
        return False
    finally:
        os.close(fd)


def paired_devices(db_path: Path) -> list[str] | None:
    """The addresses the store lists as paired, read before the store is erased; None when
    the store cannot be read."""
    if not db_path.exists():
        return []
    from hub.store import ReadingStore, StoreError

    try:
        store = ReadingStore(db_path, readonly=True)
    except StoreError:
        return None  # a damaged store must not keep the patient's data from being erased
    try:
        return [d.address for d in store.devices()]
    except (StoreError, sqlite3.Error):
        return None
    finally:
        store.close()


def secret_files(config: HubConfig) -> list[Path]:
    keys = config.signing_key_path.parent
    return sorted(p for p in keys.rglob("*") if p.is_file()) if keys.is_dir() else []


def data_files(config: HubConfig) -> list[Path]:
    """The store with its companions, the logs, a socket left behind: what the hub writes."""
    state = config.state_dir
    found = [config.db_path.with_name(config.db_path.name + s) for s in STORE_SUFFIXES]
    for name in LOG_NAMES:
        found += [state / name, *sorted(state.glob(f"{name}.*"))]
    found.append(state / "hub.sock")
    return [p for p in found if p.exists() or p.is_symlink()]


def erase(path: Path, *, random: bool) -> None:
    """Overwrite the whole file (random bytes for secrets), sync, then unlink it. A socket or
    symlink is only unlinked. On flash the overwrite may land elsewhere: see the module doc."""
    if path.is_file() and not path.is_symlink():
        size = path.stat().st_size
        with path.open("r+b") as f:
            left = size
            while left > 0:
                n = min(left, 1 << 20)
                f.write(os.urandom(n) if random else bytes(n))
                left -= n
            f.flush()
            os.fsync(f.fileno())
    path.unlink()


def wipe(config: HubConfig, config_path: Path) -> WipeResult:
    """Erase the hub (its daemon stopped): keys, store, logs and config; then its bonds."""
    refuse_if_running(config)
    result = WipeResult(config.hub_id)
    devices = paired_devices(config.db_path)
    result.devices_unknown = devices is None
    for path in secret_files(config):  # first: without them nothing sealed can be opened
        erase(path, random=True)
        result.secrets.append(path)
    keys = config.signing_key_path.parent
    for folder in _folders_deepest_first(keys):
        folder.rmdir()
    for path in data_files(config):
        erase(path, random=False)
        result.data.append(path)
    if config.state_dir.is_dir():
        sync_dir(config.state_dir)
        result.left = sorted(config.state_dir.iterdir())
    result.bonds_removed, result.bonds_kept = remove_bonds(config.bluetooth.adapter, devices or [])
    # The config last (it names the state folder: an interrupted wipe can be run again); it
    # holds only public keys, and `hub provision` refuses to write over it.
    if config_path.exists():
        erase(config_path, random=False)
        result.data.append(config_path)
    return result


def _folders_deepest_first(top: Path) -> Iterator[Path]:
    if not top.is_dir():
        return
    yield from sorted((p for p in top.rglob("*") if p.is_dir()), key=lambda p: -len(p.parts))
    yield top


def remove_bonds(adapter: str, addresses: list[str]) -> tuple[list[str], list[tuple[str, str]]]:
    """BlueZ's Adapter1.RemoveDevice for each device, as `hub forget` does (agent.remove_bond).
    A device BlueZ does not know has no bond left: that counts as removed."""
    if not addresses:
        return [], []
    return asyncio.run(_remove_bonds(adapter, addresses))


async def _remove_bonds(
    adapter: str, addresses: list[str]
) -> tuple[list[str], list[tuple[str, str]]]:
    from dbus_fast import BusType
    from dbus_fast.aio import MessageBus

    from hub.devices.ble.agent import AgentError, remove_bond

    try:
        bus = await MessageBus(bus_type=BusType.SYSTEM).connect()
    except (OSError, ValueError) as exc:
        return [], [(a, f"cannot reach BlueZ on the system bus: {exc}") for a in addresses]
    removed: list[str] = []
    kept: list[tuple[str, str]] = []
    try:
        for address in addresses:
            try:
                await remove_bond(bus, adapter, address)
            except AgentError as exc:
                if "DoesNotExist" not in str(exc):
                    kept.append((address, str(exc)))
                    continue
            removed.append(address)
    finally:
        bus.disconnect()
    return removed, kept
