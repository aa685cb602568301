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
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from centre.config import CentreConfig
from centre.errors import CentreError
from centre.store import CentreStore
from hub.wire.pki import Identity, Revoked, revocation_list

REVOKED_HUBS = "revoked-hubs"
"""The file beside each copy of the CRL naming the hubs revoked now, one id a line."""

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


def write_crl(config: CentreConfig, ca: Identity) -> tuple[Path, ...]:
    """Write the CRL naming every certificate revoked so far to each copy, and the hubs revoked
    now beside it (REVOKED_HUBS); returns the CRLs' paths."""
    pem, hubs = _revoked(config)
    crl = revocation_list(ca, pem)
    names = "".join(f"{hub_id}\n" for hub_id in hubs).encode()
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
    add_broker_crl(config, path)
    centre_copy = centre_crl_path(config)
    hubs = centre_copy.with_name(REVOKED_HUBS)
    if centre_copy.exists() and hubs.exists():
        _replace(path, centre_copy.read_bytes())
        _replace(path.with_name(REVOKED_HUBS), hubs.read_bytes())
    else:  # a centre set up before revocation (or the list of revoked hubs) existed
        write_crl(config, ca)


def _replace(path: Path, data: bytes) -> None:
    """Write a public file whole or not at all: a broker must never read half a CRL."""
    path.parent.mkdir(parents=True, exist_ok=True)
    new = path.with_name(f".{path.name}.new")
    fd = os.open(new, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    with os.fdopen(fd, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.chmod(new, 0o644)
    os.replace(new, path)


def revoke_hub(config: CentreConfig, ca: Identity, hub_id: str) -> Revocation:
    """Refuse the hub's batches from now on and put its certificate on the CRL. It comes back
    only through `centre enrol`, under a new certificate."""
    try:
        serial = CentreStore(config.database_url).revoke(hub_id)
    except KeyError as exc:
        raise RevocationError(
            f"hub {hub_id} is not enrolled at this centre: check the hub id"
        ) from exc
    return Revocation(hub_id, serial, write_crl(config, ca))
