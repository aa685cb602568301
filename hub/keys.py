"""Key files: PEM (PKCS#8) private keys written owner-only, public keys as base64 of raw bytes."""

from __future__ import annotations

import base64
import os
from pathlib import Path

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    NoEncryption,
    PrivateFormat,
    PublicFormat,
    load_pem_private_key,
)

from hub.errors import HubError

PrivateKey = Ed25519PrivateKey | X25519PrivateKey


class KeyFileError(HubError, ValueError):
    """A key file or key text that cannot be used, with the path and what to do."""


def write_private_key(path: Path, key: PrivateKey) -> None:
    """Write `key` to a new file readable by its owner only; never overwrite an identity."""
    write_secret(path, key.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption()))


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


def _load_private_key(path: Path) -> object:
    try:
        return load_pem_private_key(path.read_bytes(), password=None)
    except (OSError, ValueError) as exc:
        raise KeyFileError(f"cannot read private key {path}: {exc}") from exc


def load_signing_key(path: Path) -> Ed25519PrivateKey:
    key = _load_private_key(path)
    if not isinstance(key, Ed25519PrivateKey):
        raise KeyFileError(f"{path} holds a {type(key).__name__}, expected an Ed25519 key")
    return key


def record_digest_key(hub_key: Ed25519PrivateKey) -> bytes:
    """The secret the hub's record digests are keyed with, derived from its signing key: no
    file of its own, and a hub enrolled anew (new key) cannot match an earlier patient's."""
    raw = hub_key.private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption())
    return HKDF(
        algorithm=hashes.SHA256(), length=32, salt=None, info=b"no.dho.hub/v1/record-digest"
    ).derive(raw)


def load_encryption_key(path: Path) -> X25519PrivateKey:
    key = _load_private_key(path)
    if not isinstance(key, X25519PrivateKey):
        raise KeyFileError(f"{path} holds a {type(key).__name__}, expected an X25519 key")
    return key


def public_text(key: Ed25519PublicKey | X25519PublicKey) -> str:
    return base64.b64encode(key.public_bytes(Encoding.Raw, PublicFormat.Raw)).decode()


def _raw32(text: str, what: str) -> bytes:
    try:
        raw = base64.b64decode(text, validate=True)
    except ValueError as exc:
        raise KeyFileError(f"{what} is not base64: {exc}") from exc
    if len(raw) != 32:
        raise KeyFileError(f"{what} must be 32 bytes, got {len(raw)}")
    return raw


def ed25519_public(text: str, what: str = "signing public key") -> Ed25519PublicKey:
    return Ed25519PublicKey.from_public_bytes(_raw32(text, what))


def x25519_public(text: str, what: str = "encryption public key") -> X25519PublicKey:
    return X25519PublicKey.from_public_bytes(_raw32(text, what))
