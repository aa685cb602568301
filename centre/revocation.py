"""Shutting a hub out: its certificate goes on the centre CA's revocation list (CRL), which the
broker checks at every TLS handshake, and the centre refuses its batches.

The CRL is rewritten from the centre store on every change (`centre revoke`, and `centre enrol`
of an id enrolled before, which revokes the certificate it replaces), to the centre's own copy
and to every broker directory `centre broker-config` wrote. The broker reads it when it starts
and on SIGHUP; a connection it already has stays open until the broker restarts
(tests/test_revocation.py), so the operator restarts it: `RESTART_BROKER`.

Beside each copy lies the list of the hubs revoked now, by id (`REVOKED_HUBS`): the broker's
plugin (centre/dho_subscribe_acl.c) rereads it within a second, refuses everything such a hub
asks and disconnects it, without a reload. A revoked hub is shut out at once, from the web page
as from the command line; a superseded certificate (the hub enrolled again) needs the reload.

Every writer (a web request, another worker process, the command line) reads the revoked set and
writes both files inside one lock (`revocation_lock`, an flock on a file in the state
directory), so the last files written are always the database's latest state: without it, an
enrolment that read before a revocation could write its older list last, and the revoked hub
would be on neither list. The lock holds for the processes of one host (SQLite or PostgreSQL);
a centre whose web and command line run on several hosts needs one host to do all writing
(docs/operations.md). The list's first line is a new generation comment at every write, so the
plugin sees every change even when the file's inode, size and timestamps come out the same.
"""

from __future__ import annotations

import fcntl
import os
import secrets
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from centre.config import CentreConfig
from centre.errors import CentreError
from centre.store import CentreStore
from hub.wire.pki import Identity, Revoked, revocation_list

REVOKED_HUBS = "revoked-hubs"
"""The file beside each copy of the CRL naming the hubs revoked now, one id a line, after a first
line that starts with '#' (a generation, new at every write; readers skip such lines)."""

LOCK = "revocation.lock"
"""In the state directory: held while the revoked set is read and the lists are written."""

RESTART_BROKER = "systemctl restart mosquitto"
"""What the operator runs after a revocation (a reload, SIGHUP, re-reads the CRL for new
connections but leaves a revoked hub that is connected already in place)."""


class RevocationError(CentreError, ValueError):
    """A hub cannot be revoked as asked; says what to do."""


@dataclass(frozen=True)
class Revocation:
    hub_id: str
    serial: str | None  # None: the hub was enrolled before serials were recorded
    crl_paths: tuple[Path, ...]
    changed: bool = True  # False: the hub was revoked already (run twice); nothing was revoked
    # Every revocation list named the hub before this run: the broker was told by an earlier
    # one. False after an earlier run that could not write a list (RevocationError said to run
    # it again): then this run is the one that tells the broker, and the restart is still due.
    listed_before: bool = False


def centre_crl_path(config: CentreConfig) -> Path:
    return config.state_dir / "keys" / "ca.crl"


def _broker_record(config: CentreConfig) -> Path:
    """The CRL paths of the brokers `centre broker-config` configured, one a line."""
    return config.state_dir / "broker-crl-paths"


def crl_paths(config: CentreConfig) -> tuple[Path, ...]:
    try:
        brokers = _broker_record(config).read_text().splitlines()
    except FileNotFoundError:
        brokers = []
    return tuple(dict.fromkeys([centre_crl_path(config), *(Path(p) for p in brokers if p)]))


def add_broker_crl(config: CentreConfig, path: Path) -> None:
    """Remember a broker's CRL file, so that every later change is written there too."""
    if path in crl_paths(config):
        return
    with _broker_record(config).open("a") as f:
        f.write(f"{path}\n")


@contextmanager
def revocation_lock(config: CentreConfig) -> Iterator[None]:
    """Hold the centre's revocation lock (across processes and threads of this host: each call
    opens the file anew, and flock locks belong to the open file). Not reentrant."""
    config.state_dir.mkdir(parents=True, exist_ok=True)
    # Read-only and public: root (`centre broker-config`) may be the one to create it, and the
    # centre's user must still be able to open it; it holds nothing.
    fd = os.open(config.state_dir / LOCK, os.O_RDONLY | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # releases the lock


def read_revoked_hubs(path: Path) -> list[str]:
    """The hub ids in a REVOKED_HUBS file (its '#' lines skipped)."""
    lines = path.read_text().splitlines()
    return [line for line in lines if line and not line.startswith("#")]


def write_crl(config: CentreConfig, ca: Identity) -> tuple[Path, ...]:
    """Write the CRL naming every certificate revoked so far to each copy, and the hubs revoked
    now beside it (REVOKED_HUBS); returns the CRLs' paths."""
    with revocation_lock(config):
        return write_crl_locked(config, ca)


def write_crl_locked(config: CentreConfig, ca: Identity) -> tuple[Path, ...]:
    pem, hubs = _revoked(config)  # read inside the lock: no older snapshot can be written last
    crl = revocation_list(ca, pem)
    generation = f"# generation {time.time_ns()} {secrets.token_hex(4)}\n"
    names = (generation + "".join(f"{hub_id}\n" for hub_id in hubs)).encode()
    paths = crl_paths(config)
    for path in paths:
        try:
            _replace(path, crl)
            _replace(path.with_name(REVOKED_HUBS), names)
        except OSError as exc:
            raise RevocationError(
                f"cannot write the revocation list {path}: {exc}. The centre's record is "
                "changed already; give the centre's user write access to that directory (or "
                "remove the line from broker-crl-paths in the state directory), then run "
                "`centre revoke` for the hub again"
            ) from exc
    return paths


def _revoked(config: CentreConfig) -> tuple[list[Revoked], list[str]]:
    """The certificates revoked so far, and the hubs revoked now."""
    store = CentreStore(config.database_url)
    try:
        certificates = [
            Revoked(serial, datetime.fromisoformat(at))
            for serial, at in store.revoked_certificates()
        ]
        return certificates, store.revoked_hubs()
    finally:
        store.close()  # leave no -wal/-shm behind owned by whoever ran this (root)


def copy_to_broker(config: CentreConfig, ca: Identity, path: Path) -> None:
    """Give a broker the centre's current CRL at `path`, and every later one. The centre's own
    copy is copied when there is one: `broker-config` runs as root and so keeps out of the
    centre's database, whose files must stay the centre user's."""
    with revocation_lock(config):  # no writer between the copy's read and its write
        add_broker_crl(config, path)
        centre_copy = centre_crl_path(config)
        hubs = centre_copy.with_name(REVOKED_HUBS)
        if centre_copy.exists() and hubs.exists():
            _replace(path, centre_copy.read_bytes())
            _replace(path.with_name(REVOKED_HUBS), hubs.read_bytes())
        else:  # a centre set up before revocation (or the list of revoked hubs) existed
            write_crl_locked(config, ca)


def _replace(path: Path, data: bytes) -> None:
    """Write a public file whole or not at all: a broker must never read half a CRL. The
    temporary file's name is this write's own, so that no two writers share one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, new = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".new")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(new, 0o644)
        os.replace(new, path)
    except BaseException:
        Path(new).unlink(missing_ok=True)
        raise


def revoke_hub(config: CentreConfig, ca: Identity, hub_id: str) -> Revocation:
    """Refuse the hub's batches from now on and put its certificate on the CRL. It comes back
    only through `centre enrol`, under a new certificate."""
    with revocation_lock(config):  # one state of the database for enrolments and the lists
        store = CentreStore(config.database_url)
        already = store.is_revoked(hub_id)  # inside the lock: every revoke_hub and enrol takes it
        try:
            serial = store.revoke(hub_id)  # revoked already: keeps its first time, changes nothing
        except KeyError as exc:
            raise RevocationError(
                f"hub {hub_id} is not enrolled at this centre: check the hub id"
            ) from exc
        listed = already and listed_everywhere(config, hub_id)
        # The lists are written even when nothing changed: a run that failed to write one asked
        # for this run, and writing the same state again is harmless.
        paths = write_crl_locked(config, ca)
        return Revocation(hub_id, serial, paths, changed=not already, listed_before=listed)


def listed_everywhere(config: CentreConfig, hub_id: str) -> bool:
    """Whether every copy of the list of revoked hubs names the hub now."""
    for path in crl_paths(config):
        try:
            if hub_id not in read_revoked_hubs(path.with_name(REVOKED_HUBS)):
                return False
        except OSError:  # missing or unreadable: it cannot have told its broker
            return False
    return True
