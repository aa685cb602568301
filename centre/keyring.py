"""The centre's encryption keys: one current key that hubs seal to, and older ones kept so that
readings sealed before a rotation still open.

Files: `<state_dir>/keys/encryption/<key_id>.json` (0600), one per key, and `current`, naming the
current key id. A key file holds the suite and the private key material (PKCS#8 PEM for X25519,
the 64-byte ML-KEM seed in base64 for the hybrid).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from hub.core.reading import now_utc
from hub.files import write_secret
from hub.wire.hub_key import load_hub_key, new_key_record
from hub.wire.public_keys import KeyFileError
from hub.wire.suites import CentreKeyPair


def create_key(folder: Path, suite: str, make_current: bool = True) -> CentreKeyPair:
    record, pair = new_key_record(suite)
    record["created_at"] = now_utc()
    write_secret(folder / f"{pair.public.key_id}.json", json.dumps(record, indent=2).encode())
    if make_current:
        _set_current(folder, pair.public.key_id)
    return pair


def _set_current(folder: Path, key_id: str) -> None:
    tmp = folder / "current.tmp"
    tmp.write_text(key_id + "\n")
    os.replace(tmp, folder / "current")  # atomic: serve never sees a half-written name


def _load(path: Path) -> CentreKeyPair:
    """A key file of the same format as the hub's own key (hub/wire/hub_key.py)."""
    what = f"centre encryption key {path}"
    try:
        text = path.read_text()
    except OSError as exc:
        raise KeyFileError(f"{what} cannot be read: {exc}") from exc
    pair = load_hub_key(text, what)
    if path.stem != pair.public.key_id:
        raise KeyFileError(f"{path} does not hold the key its name says")
    return pair


def load_keyring(folder: Path) -> dict[str, CentreKeyPair]:
    """Every key the centre can open with, by key id."""
    pairs = [_load(path) for path in sorted(folder.glob("*.json"))]
    if not pairs:
        raise KeyFileError(f"no centre encryption keys in {folder}: run `centre init` first")
    return {pair.public.key_id: pair for pair in pairs}


def current_key(folder: Path) -> CentreKeyPair:
    try:
        key_id = (folder / "current").read_text().strip()
    except OSError as exc:
        raise KeyFileError(f"no current centre encryption key in {folder}: {exc}") from exc
    return _load(folder / f"{key_id}.json")


class Keyring:
    """The keys on disk, read again when a rotation has changed them (serve keeps running)."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self._stamp: tuple[int, ...] = ()
        self._keys: dict[str, CentreKeyPair] = {}

    def keys(self) -> dict[str, CentreKeyPair]:
        try:
            stamp = tuple(p.stat().st_mtime_ns for p in sorted(self.folder.iterdir()))
        except OSError as exc:
            raise KeyFileError(f"cannot read centre keys in {self.folder}: {exc}") from exc
        if stamp != self._stamp:
            self._keys, self._stamp = load_keyring(self.folder), stamp
        return self._keys
