"""Key files: PEM (PKCS#8) private keys written owner-only and read back; the public keys' text form
is hub/wire/public_keys.py."""

from __future__ import annotations

from pathlib import Path

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    NoEncryption,
    PrivateFormat,
    load_pem_private_key,
)

from hub.files import write_secret
from hub.wire.public_keys import KeyFileError

PrivateKey = Ed25519PrivateKey | X25519PrivateKey


def write_private_key(path: Path, key: PrivateKey) -> None:
    """Write `key` to a new file readable by its owner only; never overwrite an identity."""
    write_secret(path, key.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption()))


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
